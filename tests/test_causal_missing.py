"""Missing values: test-wise deletion against an oracle, link statuses, never a silent empty graph.

The oracle (issue 18 item 1): tigramite's own PCMCI / PCMCI+ control flow with a CI test that,
for every test, takes the window's lagged rows t = 2 tau_max .. T-1 in which X, Y and Z at
their lags are all observed, drops constant components as tigramite's ``run_test`` does, and
calls tigramite's ``ParCorr`` / ``RobustParCorr`` ``run_test_raw`` on exactly those rows; a
test with too few rows (df < 1) is answered val 0, p 1. WindowedPCMCI(missing="testwise")
must give the same graphs, val and p (1e-8), for PCMCI and PCMCI+, random and burst
missingness at 0 / 10 / 30 % (50 / 60 %: some tests lack rows), and a variable never observed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.independence_tests_base import CondIndTest
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

sys.path.insert(0, str(Path(__file__).parent))
from causalstream.models.causal import WindowedPCMCI  # noqa: E402
from causalstream.models.errors import ParameterError  # noqa: E402

from causal_toys import assert_same, tigramite_run, toy_data  # noqa: E402

TESTS = {"parcorr": ParCorr, "robustparcorr": RobustParCorr}


class RowsOracle(CondIndTest):
    """A tigramite CI test that runs ``test.run_test_raw`` on each test's own observed rows."""

    def __init__(self, window: np.ndarray, tau_max: int, test: type) -> None:
        super().__init__()
        self.window = window
        self.lag = 2 * tau_max
        self.inner = test()
        self.two_sided = True
        self.residual_based = True
        self.n_eff: dict[tuple[int, int, int], int] = {}

    @property
    def measure(self) -> str:
        return "par_corr"

    def get_dependence_measure(self, array: np.ndarray, xyz: np.ndarray, data_type: object = None) -> float:
        raise AssertionError("not used")

    def column(self, node: tuple[int, int]) -> np.ndarray:
        var, lag = node
        T = len(self.window)
        return self.window[self.lag + lag:T + lag, var]

    def run_test(self, X, Y, Z=None, tau_max=0, cut_off="2xtau_max", alpha_or_thres=None):  # noqa: ANN001, ANN201
        x, y = tuple(X[0]), tuple(Y[0])
        z = [tuple(node) for node in dict.fromkeys(tuple(n) for n in (Z or [])) if tuple(node) not in (x, y)]
        cols = np.column_stack([self.column(x), self.column(y)] + [self.column(node) for node in z])
        rows = cols[np.all(np.isfinite(cols), axis=1)]
        if y[1] == 0:
            self.n_eff[(x[0], y[0], -x[1])] = len(rows)
        keep = rows.std(axis=0) != 0 if len(rows) else np.zeros(cols.shape[1], dtype=bool)
        width = int(keep[2:].sum())
        if len(rows) - 2 - width < 1 or not (keep[0] and keep[1]):
            val, pval = 0.0, 1.0
        else:
            zr = rows[:, 2:][:, keep[2:]]
            val, pval = self.inner.run_test_raw(rows[:, :1], rows[:, 1:2], zr if width else None)
        return (val, pval) if alpha_or_thres is None else (val, pval, bool(pval <= alpha_or_thres))


def oracle(window: np.ndarray, method: str, tau_max: int, test: str = "parcorr", **kwargs: object) -> tuple[dict, dict]:
    ci = RowsOracle(window, tau_max, TESTS[test])
    res = getattr(PCMCI(DataFrame(np.nan_to_num(window)), ci), "run_" + method)(tau_max=tau_max, **kwargs)
    return res, ci.n_eff


def holes(shape: tuple[int, int], rate: float, kind: str, seed: int) -> np.ndarray:
    """A missing mask: each value at random, or bursts (runs of mean length 8) per variable."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.random(shape) < rate
    T, N = shape
    mask = np.zeros(shape, dtype=bool)
    for v in range(N):
        t = int(rng.integers(0, 10))
        while t < T:
            if rng.random() < rate:
                mask[t:t + int(rng.geometric(1 / 8)), v] = True
                t += 8
            else:
                t += int(rng.geometric(1 / 8))
    return mask


CASES = [(method, kind, rate, test) for method in ("pcmci", "pcmciplus") for kind in ("random", "bursts")
         for rate in (0.0, 0.1, 0.3) for test in ("parcorr", "robustparcorr")
         if not (kind == "bursts" and rate == 0.0)]
CASES += [("pcmci", "random", 0.5, "parcorr"), ("pcmciplus", "random", 0.6, "parcorr")]  # some tests lack rows


@pytest.mark.parametrize(("method", "kind", "rate", "test"), CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_testwise_equals_the_rows_oracle(method: str, kind: str, rate: float, test: str) -> None:
    n, tau, W = 4, 2, 150
    seed = 50 if rate >= 0.5 else int(rate * 100) + 7 * (kind == "bursts") + 3 * (test == "robustparcorr")
    data, _ = toy_data(n, tau, W + 60, seed=seed)
    data[holes(data.shape, rate, kind, seed)] = np.nan
    model = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1, ci_test=test, missing="testwise")
    model.update_many(data[:W + 20])
    short = []
    for end in (W + 20, W + 60):
        model.update_many(data[model.cov.n_seen:end])
        r = model.results()
        ref, n_eff = oracle(data[end - W:end], method, tau, test, pc_alpha=0.1)
        assert_same(r, ref)
        assert np.isfinite(r["p_matrix"]).all()
        if method == "pcmci":
            for (i, j, lag), k in n_eff.items():
                if lag:
                    assert r["n_eff"][i, j, lag] == k, (i, j, lag)
            assert r["n_eff"][:, :, 0].T.tolist() == r["n_eff"][:, :, 0].tolist()
        insufficient = r["link_status"] == "insufficient"
        short.append(bool(insufficient.any()))
        assert (r["graph"][insufficient] == "").all() and (r["p_matrix"][insufficient] == 1).all()
        assert (r["graph_status"] == "ok") == (not insufficient.any() and not (r["link_status"] == "deterministic").any())
        if rate == 0.0:
            assert r["graph_status"] == "ok" and (r["n_eff"][r["link_status"] == "tested"] == W - 2 * tau).all()
    assert any(short) or rate < 0.5


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_variable_never_observed_gets_insufficient_links_and_the_others_stay_right(method: str) -> None:
    n, tau, W = 4, 2, 160
    data, _ = toy_data(n, tau, W, seed=31)
    gappy = data.copy()
    gappy[:, 2] = np.nan
    r = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1, missing="testwise").update_many(gappy).results()
    others = [0, 1, 3]
    status = r["link_status"].copy()
    assert status[2, 2, 0] == "untested"
    status[2, 2, 0] = "insufficient"
    assert (status[2] == "insufficient").all() and (status[:, 2] == "insufficient").all()
    assert (status[np.ix_(others, others)] != "insufficient").all()
    ref = tigramite_run(data[:, others], method, tau, pc_alpha=0.1)
    sub = {k: r[k][np.ix_(others, others)] for k in ("graph", "val_matrix", "p_matrix")}
    assert_same(sub, ref)
    assert r["graph_status"] == "partial"
    assert r["status_reason"].startswith("$2$ observed in 0 of 160 samples; ")
    complete = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1).update_many(gappy).results()
    assert complete["graph_status"] == "insufficient" and (complete["graph"] == "").all()
    assert "0 of 156 lagged rows complete" in complete["status_reason"]


def test_complete_mode_is_tigramite_missing_flag_with_statuses() -> None:
    n, tau, W = 4, 2, 150
    data, _ = toy_data(n, tau, W, seed=12)
    data[holes(data.shape, 0.05, "random", 12)] = np.nan
    for method in ("pcmci", "pcmciplus"):
        r = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1).update_many(data).results()
        assert r["n_rows"] >= 3 and r["missing"] == "complete"
        assert_same(r, tigramite_run(data, method, tau, missing=True, pc_alpha=0.1))
        tw = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1, missing="testwise").update_many(data).results()
        assert (tw["n_eff"] == r["n_eff"]).all() and (tw["link_status"] == r["link_status"]).all()
        assert (tw["n_eff"][tw["link_status"] == "tested"] > r["n_rows"]).all()  # more than complete-case rows


def test_deterministic_assumed_and_untested_statuses() -> None:
    rng = np.random.default_rng(4)
    v = np.cumsum(rng.normal(size=400)) * 0.1 + rng.normal(size=400)
    u = np.roll(v, 1) * 0.5 + rng.normal(size=400)
    X = np.column_stack([v, np.r_[0.0, np.diff(v)], u])            # a = v_t - v_{t-1}: deterministic
    links = {0: {(0, -1): "-?>", (2, -1): "-?>"}, 1: {(0, 0): "-?>", (0, -1): "-?>", (1, -1): "-?>"},
             2: {(0, -1): "-->", (2, -1): "-?>"}}
    r = WindowedPCMCI(3, 300, 1, tau_min=0, pc_alpha=0.05, link_assumptions=links).update_many(X).results()
    s = r["link_status"]
    assert s[0, 1, 0] == s[1, 0, 0] == "deterministic"
    assert s[0, 2, 1] == "assumed" and s[2, 2, 0] == "untested" and s[1, 2, 1] == "assumed"
    assert r["graph_status"] == "partial" and "links deterministic" in r["status_reason"]
    lagged = WindowedPCMCI(3, 300, 1, tau_min=1).update_many(X).results()
    assert (lagged["link_status"][:, :, 0] == "untested").all() and (lagged["n_eff"][:, :, 0] == 0).all()


def test_testwise_refuses_what_it_cannot_do() -> None:
    for kwargs in ({"ci_test": "rcot"}, {"ci_test": "cmiknn"}, {"forgetting": 0.99}, {"missing": "pairwise"}):
        with pytest.raises(ParameterError) as info:
            WindowedPCMCI(2, 50, 1, **({"missing": "testwise"} | kwargs))
        assert "\n" not in str(info.value) and str(info.value).startswith("WindowedPCMCI: ")
