"""The discovery loop takes what users know: link rules, missing=testwise, lpcmci (issue 18 items 3-4)."""

from __future__ import annotations

import numpy as np
import pytest

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.assumptions import compile as compile_rules
from causalstream.models.causal.loop import DiscoveryLoop
from causalstream.models.errors import ParameterError
from causalstream.nodes.discovery import DiscoveryNode
from causalstream.nodes.testing import MockNode
from causalstream.stream.messages import Features

NAMES = ["robot.v", "h1.v", "h1.d"]
RULES = [{"forbid": "h*.* -> robot.*"}, {"require": "robot.v -> h1.v", "lag": 1}]


def _data(T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    for t in range(1, T):
        X[t, 1] += 0.7 * X[t - 1, 0]
        X[t, 2] += 0.6 * X[t - 1, 1]
    return X


def _last(loop: DiscoveryLoop, X: np.ndarray):
    result = None
    for t, x in enumerate(X):
        step = loop.update(t, NAMES, x)
        if step.refresh is not None:
            result = loop.refresh(step.refresh)
    assert result is not None
    return result


def test_link_rules_equal_the_compiled_dict_in_windowed_pcmci():
    X = _data(200)
    loop = DiscoveryLoop(window=200, tau_max=2, hop=200, min_samples=200,
                         model={"link_rules": RULES, "alpha_level": 0.01})
    got = _last(loop, X).graph
    oracle = WindowedPCMCI(3, 200, 2, var_names=NAMES, alpha_level=0.01,
                           link_assumptions=compile_rules(RULES, NAMES, 0, 2)).update_many(X).results()
    assert np.array_equal(got.marks, oracle["graph"])
    assert got.marks[0, 1, 1] == "-->" and not (got.marks[1:, 0, 1:] == "-->").any()


def test_bad_rules_fail_at_construction_and_unknown_names_at_the_first_sample_without_damage():
    with pytest.raises(ParameterError, match="lag"):
        DiscoveryLoop(window=50, tau_max=2, model={"link_rules": [{"forbid": "a -> b", "lag": 5}]})
    loop = DiscoveryLoop(window=50, tau_max=1, hop=10, min_samples=20, model={"link_rules": [{"forbid": "c.* -> a"}]})
    with pytest.raises(ParameterError, match="matches no variable"):
        loop.update(0, ["a", "b"], np.zeros(2))
    assert loop.names is None and loop.model is None  # refused: the loop is as before


def test_testwise_on_gappy_input_gives_links_not_an_empty_graph():
    X = _data(300, seed=3)
    X[np.random.default_rng(4).random(X.shape) < 0.15] = np.nan  # most lagged rows have a gap
    loop = DiscoveryLoop(window=300, tau_max=1, hop=300, min_samples=300, model={"missing": "testwise"})
    result = _last(loop, X)
    assert result.results["missing"] == "testwise"
    assert result.graph.marks[0, 1, 1] == "-->" and result.graph.marks[1, 2, 1] == "-->"


def test_lpcmci_through_the_loop_equals_windowed_pcmci():
    X = _data(150, seed=5)
    loop = DiscoveryLoop(window=150, tau_max=1, hop=150, min_samples=150, model={"method": "lpcmci"})
    got = _last(loop, X)
    oracle = WindowedPCMCI(3, 150, 1, var_names=NAMES, method="lpcmci").update_many(X).results()
    assert got.results["method"] == "lpcmci"
    assert np.array_equal(got.graph.marks, oracle["graph"])


def test_node_params_take_the_new_fields():
    p = DiscoveryNode.Params(method="lpcmci", missing="testwise", link_rules=RULES, time_budget_ms=50.0)
    assert p.method == "lpcmci" and p.link_rules == RULES


def test_overruns_are_kept_across_snapshots():
    X = _data(120, seed=6)
    loop = DiscoveryLoop(window=60, tau_max=2, hop=20, min_samples=60,
                         model={"method": "lpcmci", "time_budget_ms": 1e-6})
    counts = []
    for t, x in enumerate(X):
        step = loop.update(t, NAMES, x)
        if step.refresh is not None:
            counts.append(loop.refresh(step.refresh).results["overruns"])
    assert counts == list(range(1, len(counts) + 1)) and len(counts) == 4


def test_the_node_counts_overruns_and_refuses_unknown_rule_names_without_crashing():
    X = _data(100, seed=7)
    feed = [Features(stamp_ns=t, names=NAMES, values=x) for t, x in enumerate(X)]
    node = MockNode(DiscoveryNode, params={"window": 60, "hop": 20, "min_samples": 60, "tau_max": 1,
                                           "method": "lpcmci", "time_budget_ms": 1e-6, "threaded": False})
    node.feed("features", *feed).run()
    assert len(node.outputs("causal/graph")) == 3 and node.node.counters["overruns"] == 3
    bad = MockNode(DiscoveryNode, params={"window": 60, "min_samples": 60, "tau_max": 1, "threaded": False,
                                          "link_rules": [{"forbid": "h9.* -> robot.v"}]})
    bad.feed("features", *feed).run()
    assert bad.exit_code == 0 and bad.outputs("causal/graph") == []
    assert bad.node.counters["bad:link_rules"] == 100 and len(bad.outputs("causal/events")) == 1
