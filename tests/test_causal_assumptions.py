"""link_assumptions (issue 18 item 4): equal to tigramite with the same dict, the rule
compiler (assumptions.py), bad input, and the ``assumed`` matrix."""

from __future__ import annotations

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.assumptions import check_rules
from causalstream.models.causal.assumptions import compile as compile_rules
from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.windowed import WindowedPCMCI
from causalstream.models.errors import ParameterError, RuleError

from causal_toys import assert_same, random_link_assumptions, tigramite_run, toy_data

N, TAU, W, STEP = 4, 2, 400, 60
NAMES = ["robot.v", "robot.w", "h1.v", "h1.a"]
RULES = [{"forbid": "* -- *", "lag": 0, "within": "agent"}, {"forbid": "h*.* -> robot.*"},
         {"require": "robot.v -> h1.v", "lag": 1}, {"order": ["robot.*", "h1.*"]}]
TESTS = {"parcorr": ParCorr, "robustparcorr": RobustParCorr}


def _windows(method: str, ci_test: str, links: dict, seed: int, pc_alpha: float | None = 0.1,
             tau_min: int = 0, fdr_method: str = "none", n_windows: int = 3):
    """(ours, tigramite's) on n_windows sliding windows of one toy stream."""
    X, _ = toy_data(N, TAU, W + STEP * (n_windows - 1), seed=seed,
                    funcs="linear" if ci_test == "parcorr" else "nonlinear")
    m = WindowedPCMCI(N, W, TAU, tau_min=tau_min, method=method, ci_test=ci_test, pc_alpha=pc_alpha,
                      alpha_level=0.05, fdr_method=fdr_method, link_assumptions=links)
    m.update_many(X[:W])
    for k in range(n_windows):
        if k:
            m.update_many(X[W + STEP * (k - 1):W + STEP * k])
        kw = {"alpha_level": 0.05} if method == "pcmci" else {}
        ref = tigramite_run(X[STEP * k:W + STEP * k], method, TAU, test=TESTS[ci_test], tau_min=tau_min,
                            pc_alpha=pc_alpha, link_assumptions=links, fdr_method=fdr_method, **kw)
        yield m.results(), ref


@pytest.mark.parametrize("ci_test", ["parcorr", "robustparcorr"])
@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
@pytest.mark.parametrize("source", ["random", "rules"])
def test_equal_to_tigramite_on_sliding_windows(method: str, ci_test: str, source: str) -> None:
    links = random_link_assumptions(N, 0, TAU, seed=7) if source == "random" else compile_rules(RULES, NAMES, 0, TAU)
    la = LinkAssumptions.check(links, N, 0, TAU)
    for ours, ref in _windows(method, ci_test, links, seed=11):
        assert_same(ours, ref)
        g = ours["graph"]
        assert (g[la.marks == ""] == "").all()                    # forbidden: never a link
        fixed = la.marks == "-->"
        assert (g[fixed] == "-->").all() and (ours["p_matrix"][fixed] == 0).all()


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_equal_with_pc_alpha_none_fdr_and_tau_min(method: str) -> None:
    links = random_link_assumptions(N, 1, TAU, seed=3)
    for ours, ref in _windows(method, "parcorr", links, seed=5, pc_alpha=None, tau_min=1, fdr_method="fdr_bh",
                              n_windows=2):
        assert_same(ours, ref)
    links = random_link_assumptions(N, 0, TAU, seed=4)
    for ours, ref in _windows(method, "parcorr", links, seed=6, pc_alpha=None, n_windows=1):
        assert_same(ours, ref)


def test_assumptions_change_the_answer() -> None:
    """The same window with and without assumptions: a fixed link and a forbidden link decide."""
    X, _ = toy_data(N, TAU, W, seed=11)
    free = WindowedPCMCI(N, W, TAU).update_many(X).results()
    found = np.argwhere(free["graph"][:, :, 1:] == "-->")
    i, j, lag = (int(v) for v in found[0] + [0, 0, 1])
    links = LinkAssumptions.default(N, 0, TAU).links
    del links[j][(i, -lag)]
    absent = [int(v) for v in np.argwhere(free["graph"][:, :, 1:] == "")[0]]
    links[absent[1]][(absent[0], -(absent[2] + 1))] = "-->"
    r = WindowedPCMCI(N, W, TAU, link_assumptions=links).update_many(X).results()
    assert r["graph"][i, j, lag] == "" and r["p_matrix"][i, j, lag] == 1.0
    assert r["graph"][absent[0], absent[1], absent[2] + 1] == "-->"
    assert r["assumed"][i, j, lag] and r["assumed"][absent[0], absent[1], absent[2] + 1]
    assert r["assumed"].sum() == 2 and not free["assumed"].any()
    assert_same(r, tigramite_run(X, "pcmci", TAU, link_assumptions=links, pc_alpha=0.05, alpha_level=0.05))


def test_rcot_respects_assumptions() -> None:
    links = compile_rules(RULES, NAMES, 0, TAU)
    la = LinkAssumptions.check(links, N, 0, TAU)
    X, _ = toy_data(N, TAU, W, seed=2, funcs="nonlinear")
    for method in ("pcmci", "pcmciplus"):
        r = WindowedPCMCI(N, W, TAU, method=method, ci_test="rcot", link_assumptions=links).update_many(X).results()
        assert (r["graph"][la.marks == ""] == "").all()
        assert r["graph"][0, 2, 1] == "-->" and r["val_matrix"][0, 2, 1] == 1.0
        assert (r["assumed"] == la.assumed).all()


def test_assumed_matrix() -> None:
    links = compile_rules(RULES, NAMES, 0, TAU)
    a = WindowedPCMCI(N, W, TAU, link_assumptions=links).results()["assumed"]
    assert a[0, 2, 1]                                 # required robot.v -(1)-> h1.v
    assert a[2, 0, 1] and a[3, 1, 2]                  # forbidden h -> robot
    assert a[0, 1, 0] and a[1, 0, 0] and a[2, 3, 0]   # forbidden within an agent at lag 0
    assert not a[0, 2, 0] and not a[0, 2, 2]          # robot.v -> h1.v at lag 0 (-?>) and 2: open
    assert not a[0, 0, 0] and a.dtype == bool and a.shape == (N, N, TAU + 1)


def test_rules_without_rules_are_tigramites_default() -> None:
    pcmci = PCMCI(DataFrame(np.zeros((20, N))), ParCorr())
    for tau_min in (0, 1):
        ref = pcmci._set_link_assumptions(None, tau_min, TAU)
        ours = compile_rules([], NAMES, tau_min, TAU)
        assert ours == ref and [list(r) for r in ours.values()] == [list(r) for r in ref.values()]


def test_rules_compile_the_issue_examples() -> None:
    la = LinkAssumptions.check(compile_rules(RULES, NAMES, 0, TAU), N, 0, TAU).marks
    # no contemporaneous link within an agent
    assert la[0, 1, 0] == la[1, 0, 0] == la[2, 3, 0] == ""
    # robot may drive h1, not the reverse (any lag); at lag 0 only robot -> h1
    assert (la[2:, :2, 1:] == "").all() and (la[:2, 2:, 1:] != "").all()
    assert (la[:2, 2:, 0] == "-?>").all() and (la[2:, :2, 0] == "<?-").all()
    assert la[0, 2, 1] == "-->" and la[1, 3, 2] == "-?>" and la[2, 2, 1] == "-?>"
    order = LinkAssumptions.check(compile_rules([{"order": ["h1.*", "robot.v"]}], NAMES, 0, 1), N, 0, 1).marks
    assert order[2, 0, 0] == "-?>" and order[0, 2, 0] == "<?-" and order[0, 1, 0] == "o?o" and order[0, 2, 1] == "-?>"
    both = compile_rules([{"require": "robot.v -- h1.v", "lag": 0}, {"allow": "h1.v -> robot.v"},
                          {"forbid": "* -> robot.v", "lag": [1, 2]}, {"require": "robot.w <- h1.a", "lag": 2}], NAMES, 0, TAU)
    assert both[2][(0, 0)] == "o-o" and both[1][(3, -2)] == "-->" and (2, -1) in both[0] and (3, -1) not in both[0]


@pytest.mark.parametrize("rules, index, field", [
    ([{"forbid": "h9.* -> robot.*"}], 0, "forbid"),
    ([{"forbid": "robot.v -> h1.v"}, {"require": "robot.v => h1.v"}], 1, "require"),
    ([{"forbid": "robot.v -> h1.v", "lags": 1}], 0, "lags"),
    ([{"forbid": "robot.v -> h1.v", "lag": 3}], 0, "lag"),
    ([{"forbid": "robot.v -> h1.v", "within": "person"}], 0, "within"),
    ([{"order": ["robot.*", "h2.*"]}], 0, "order"),
    ([{"forbid": "* -> *", "lag": 1}, {"require": "robot.v -> h1.v", "lag": 1}], 1, "require"),
    ([{"require": "robot.v -> h1.v", "lag": 0}, {"require": "h1.v -> robot.v", "lag": 0}], 1, "require"),
    ([{"forbid": "robot.v", "require": "h1.v -> robot.v"}], 0, "rule"),
    (["forbid robot.v -> h1.v"], 0, "rule"),
])
def test_bad_rules_name_their_index_and_field(rules: list, index: int, field: str) -> None:
    with pytest.raises(RuleError) as err:
        compile_rules(rules, NAMES, 0, TAU)
    assert (err.value.index, err.value.field) == (index, field)
    assert isinstance(err.value, ParameterError) and "\n" not in str(err.value)


@pytest.mark.parametrize("rules, index, field", [
    ([{"forbid": "a -> b"}, {"require": "a => b"}], 1, "require"),
    ([{"forbid": "a -> b", "lags": 1}], 0, "lags"),
    ([{"forbid": "a -> b", "lag": [1, 3]}], 0, "lag"),
    ([{"require": "a -- b"}], 0, "lag"),
    ([{"forbid": "a -> b", "across": "person"}], 0, "across"),
    ([{"order": "a"}], 0, "order"),
    ([{}], 0, "rule"),
])
def test_check_rules_before_the_names_are_known(rules: list, index: int, field: str) -> None:
    check_rules([{"forbid": "h9.* -> robot.*"}, {"order": ["x", "y"]}], 0, TAU)      # patterns: checked later
    with pytest.raises(RuleError) as err:
        check_rules(rules, 0, TAU)
    assert (err.value.index, err.value.field) == (index, field)


def test_rule_cycle_is_refused() -> None:
    rules = [{"require": f"{a} -> {b}", "lag": 0} for a, b in [("robot.v", "h1.v"), ("h1.v", "h1.a"), ("h1.a", "robot.v")]]
    with pytest.raises(RuleError, match="cycle"):
        compile_rules(rules, NAMES, 0, TAU)


BAD_DICTS = {
    "both ways at lag 0": {0: {(1, 0): "-->"}, 1: {(0, 0): "-->"}, 2: {}, 3: {}},
    "unknown mark": {0: {(1, -1): "->"}, 1: {}, 2: {}, 3: {}},
    "lag beyond tau_max": {0: {(1, -3): "-?>"}, 1: {}, 2: {}, 3: {}},
    "positive lag": {0: {(1, 1): "-?>"}, 1: {}, 2: {}, 3: {}},
    "source out of range": {0: {(4, -1): "-?>"}, 1: {}, 2: {}, 3: {}},
    "target out of range": {0: {}, 1: {}, 2: {}, 3: {}, 4: {}},
    "missing target": {0: {}, 1: {}, 2: {}},
    "cycle": {0: {(1, 0): "-->"}, 1: {(2, 0): "-?>"}, 2: {(0, 0): "-->"}, 3: {}},
}


@pytest.mark.parametrize("name", sorted(BAD_DICTS))
def test_bad_dicts_are_one_line_errors_where_tigramite_refuses_too(name: str) -> None:
    links = BAD_DICTS[name]
    with pytest.raises(ParameterError) as err:
        WindowedPCMCI(N, W, TAU, link_assumptions=links)
    assert "\n" not in str(err.value) and str(err.value).startswith("link_assumptions: ")
    with pytest.raises((ValueError, KeyError)):
        PCMCI(DataFrame(np.zeros((20, N))), ParCorr())._set_link_assumptions(links, 0, TAU)


def test_other_bad_input() -> None:
    with pytest.raises(ParameterError, match="lag 0 outside"):
        WindowedPCMCI(N, W, TAU, tau_min=1, link_assumptions={0: {(1, 0): "o?o"}, 1: {}, 2: {}, 3: {}})
    with pytest.raises(ParameterError, match="itself"):
        WindowedPCMCI(N, W, TAU, link_assumptions={0: {(0, 0): "o-o"}, 1: {}, 2: {}, 3: {}})
    with pytest.raises(ParameterError, match="streaming tests"):
        WindowedPCMCI(N, W, TAU, ci_test="gpdc", link_assumptions=LinkAssumptions.default(N, 0, TAU).links)
    with pytest.raises(ParameterError, match="must be a dict"):
        WindowedPCMCI(N, W, TAU, link_assumptions=[("a", "b")])
