"""The CI tests reach users through one seam: WindowedPCMCI(ci_test=..., ci_params=...), the
discovery node's parameters, launch files, the CausalGraph message and graph show.

The numerical contracts of each test live beside it (test_causal_robust.py: RobustParCorr
equals tigramite; test_causal_rcot.py: RCoT's calibration and power); these tests check the
wiring: the fast paths are the ones taken, settings travel with every graph, a seeded test
reproduces, degenerate tests are counted, bad settings are one-line errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.citests import TESTS
from causalstream.models.errors import ParameterError
from causalstream.nodes.discovery import DiscoveryNode
from causalstream.nodes.errors import NodeError
from causalstream.nodes.graph_view import summary_line
from causalstream.nodes.launch_file import load_launch
from causalstream.nodes.testing import MockNode
from causalstream.stream.codec import decode_payload, encode_payload
from causalstream.stream.messages import CausalGraph, Features

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["a.x", "b.x", "c.x"]


def _square_link(T: int, seed: int = 0) -> np.ndarray:
    """b_t = a_{t-1}^2 + noise, a uniform (symmetric, bounded): no linear, no monotone part; c is noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    X[:, 0] = rng.uniform(-1.7, 1.7, size=T)
    X[1:, 1] = X[:-1, 0] ** 2 - 1.0 + 0.3 * rng.normal(size=T - 1)
    return X


def test_streaming_tests_are_registered() -> None:
    assert {"parcorr", "robustparcorr", "rcot"} <= set(TESTS)


def test_robustparcorr_takes_the_covariance_path_and_equals_tigramite() -> None:
    X = _square_link(700)
    X[:, 2] = np.exp(X[:, 2])                       # a monotone transform: ranks see through it
    model = WindowedPCMCI(3, 400, 1, ci_test="robustparcorr").update_many(X)
    assert model.test is not None and model.test.name == "robustparcorr"
    ours = model.results()
    ref = PCMCI(DataFrame(X[-400:]), RobustParCorr()).run_pcmci(tau_max=1, pc_alpha=0.05)
    assert (ours["graph"] == ref["graph"]).all()
    assert np.abs(ours["val_matrix"] - ref["val_matrix"]).max() <= 1e-8
    assert np.abs(ours["p_matrix"] - ref["p_matrix"]).max() <= 1e-8


def test_rcot_finds_what_parcorr_cannot_and_says_how() -> None:
    X = _square_link(700)
    linear = WindowedPCMCI(3, 500, 1, alpha_level=0.01).update_many(X).results()
    ranks = WindowedPCMCI(3, 500, 1, alpha_level=0.01, ci_test="robustparcorr").update_many(X).results()
    kernel = WindowedPCMCI(3, 500, 1, alpha_level=0.01, ci_test="rcot", ci_params={"seed": 5}).update_many(X).results()
    assert linear["graph"][0, 1, 1] == "" and ranks["graph"][0, 1, 1] == ""
    assert kernel["graph"][0, 1, 1] == "-->"
    assert kernel["ci_test"] == "rcot" and kernel["ci_settings"]["seed"] == 5
    assert kernel["ci_settings"]["n_features"] >= 1 and "bandwidth" in kernel["ci_settings"]


def test_rcot_is_deterministic_for_a_seed_and_snapshots_are_independent() -> None:
    X = _square_link(500, seed=1)
    a = WindowedPCMCI(3, 300, 1, ci_test="rcot", ci_params={"seed": 2}).update_many(X)
    b = WindowedPCMCI(3, 300, 1, ci_test="rcot", ci_params={"seed": 2}).update_many(X)
    ra, rb = a.results(), b.results()
    assert np.array_equal(ra["p_matrix"], rb["p_matrix"]) and np.array_equal(ra["val_matrix"], rb["val_matrix"])
    other = WindowedPCMCI(3, 300, 1, ci_test="rcot", ci_params={"seed": 3}).update_many(X).results()
    assert not np.array_equal(ra["p_matrix"], other["p_matrix"])
    frozen = a.snapshot()
    a.update_many(_square_link(100, seed=9))
    assert np.array_equal(frozen.results()["p_matrix"], ra["p_matrix"])
    assert not np.array_equal(a.results()["p_matrix"], ra["p_matrix"])


@pytest.mark.parametrize("ci_test", ["parcorr", "robustparcorr", "rcot"])
@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_a_constant_variable_is_counted_never_nan(ci_test: str, method: str) -> None:
    X = _square_link(400)
    X[:, 2] = 1.5
    r = WindowedPCMCI(3, 300, 1, method=method, ci_test=ci_test).update_many(X).results()
    assert np.isfinite(r["val_matrix"]).all() and np.isfinite(r["p_matrix"]).all()
    assert r["n_degenerate"] > 0
    assert (r["graph"][2] == "").all() and (r["graph"][:, 2] == "").all()


@pytest.mark.parametrize(("ci_test", "ci_params", "says"), [
    ("parcorr", {"seed": 1}, "ci_test='parcorr': takes no ci_params"),
    ("cmiknn", {"seed": 1}, "WindowedPCMCI: ci_params are for"),
    ("robustparcorr", {"n_features": 4}, "ci_test='robustparcorr': takes no ci_params"),
    ("rcot", {"features": 4}, "ci_test='rcot': unknown ci_params ['features']"),
    ("rcot", {"n_features": 0}, "FourierFeatures: n_features must be a positive integer"),
    ("rcot", {"bandwidth": -1.0}, "FourierFeatures: bandwidth must be a positive number"),
])
def test_bad_settings_are_one_line_parameter_errors(ci_test: str, ci_params: dict, says: str) -> None:
    with pytest.raises(ParameterError) as info:
        WindowedPCMCI(3, 100, 1, ci_test=ci_test, ci_params=ci_params)
    assert str(info.value).startswith(says) and "\n" not in str(info.value)


def _feed(X: np.ndarray) -> list[Features]:
    return [Features(stamp_ns=k * 1_000_000, names=NAMES, values=x) for k, x in enumerate(X)]


def test_discovery_node_publishes_rcot_graphs_with_their_settings() -> None:
    X = _square_link(300)
    X[:, 2] = 0.0
    params = {"window": 200, "hop": 50, "min_samples": 200, "tau_max": 1, "alpha": 0.01, "threaded": False,
              "ci_test": "rcot", "ci_params": {"n_features": 4, "seed": 7}}
    mock = MockNode(DiscoveryNode, params=params).feed("features", *_feed(X)).run()
    graphs = mock.outputs("causal/graph")
    assert len(graphs) == 3
    g = graphs[-1]
    ref = WindowedPCMCI(3, 200, 1, alpha_level=0.01, ci_test="rcot", ci_params={"n_features": 4, "seed": 7},
                        var_names=NAMES).update_many(X).results()
    assert g.ci_test == "RCoT" and g.ci_settings["seed"] == 7 and g.ci_settings["n_features"] == 4
    assert np.array_equal(np.array(g.graph), ref["graph"]) and np.array_equal(g.p, ref["p_matrix"])
    assert g.n_degenerate == ref["n_degenerate"] > 0 and f"degenerate_tests:{g.n_degenerate}" in g.flags
    again = decode_payload("CausalGraph", encode_payload(g))
    assert isinstance(again, CausalGraph) and again.ci_settings == g.ci_settings
    assert summary_line(g).split("  ")[1].startswith("pcmci/RCoT(n_features=4,seed=7")


def test_discovery_node_refuses_bad_ci_params_in_one_line() -> None:
    with pytest.raises(NodeError, match=r"bad params: .*unknown ci_params \['width'\]"):
        MockNode(DiscoveryNode, params={"ci_test": "rcot", "ci_params": {"width": 3}}).run(duration=0.1)


def test_the_demo_launch_file_takes_the_ci_test_as_an_argument() -> None:
    plan = load_launch(ROOT / "launch" / "demo.yaml", {"ci_test": "rcot"})
    (discovery,) = [n for n in plan.nodes if n.kind == "discovery"]
    assert discovery.params["ci_test"] == "rcot"
