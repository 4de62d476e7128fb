"""The streaming RCoT test (issue 17 part 2): calibration, power, cost, bad input, streaming."""

from __future__ import annotations

import itertools
import json
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.fourier import FourierFeatures
from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.mci import run_mci
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.causal.pc1 import run_pc1_select
from causalstream.models.causal.toys import lagged_links, stationary
from causalstream.models.errors import ParameterError

BENCH = Path(__file__).parent.parent / "bench" / "results" / "causal_rcot.json"
FUNCS = [np.sin, lambda z: z ** 2 / 2, np.abs, lambda z: np.tanh(2 * z), lambda z: np.cos(1.5 * z)]
W = 300


def _independent(T: int, n: int, seed: int) -> np.ndarray:
    """n independent nonlinear autoregressive processes."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(T + 100, n))
    x = np.zeros_like(e)
    b = np.linspace(0.1, 0.5, n)
    for t in range(1, T + 100):
        x[t] = 0.6 * np.tanh(1.5 * x[t - 1]) + b * np.sin(2 * x[t - 1]) + e[t]
    return x[100:]


def _driven(T: int, n_drivers: int, n_children: int, seed: int) -> np.ndarray:
    """Drivers (nonlinear AR) in the first columns; children = sum of nonlinear functions of the drivers at t-1 + noise."""
    rng = np.random.default_rng(seed)
    z = np.zeros((T + 100, n_drivers))
    e = rng.normal(size=z.shape)
    for t in range(1, T + 100):
        z[t] = 0.6 * np.tanh(1.5 * z[t - 1]) + e[t]
    c = rng.normal(size=(T + 100, n_children))
    for k in range(n_children):
        c[1:, k] += sum(FUNCS[(k + 2 * d) % 5](z[:-1, d]) for d in range(n_drivers))
    return np.hstack([z, c])[100:]


def _pvalues(X: np.ndarray, n_cond: int, n_windows: int) -> np.ndarray:
    """p-values of every conditionally independent pair of non-drivers, on disjoint windows.

    Per pair (a, b): a_{t-1} vs b_t and a_t vs b_t, given the drivers' (first n_cond
    columns) past; with no drivers, given the pair's own past (MCI's conditions).
    """
    n = X.shape[1]
    ff = FourierFeatures(n, W, 2, seed=0)
    out = []
    for k in range(n_windows):
        eng = ff.update_many(X[k * W:(k + 1) * W]).engine()
        tests = []
        for a, b in itertools.permutations(range(n_cond, n), 2):
            drv1, drv2 = [(d, -1) for d in range(n_cond)], [(d, -2) for d in range(n_cond)]
            own = [] if n_cond else [(b, -1), (a, -2)]
            tests.append(((a, -1), (b, 0), drv1 + drv2 + own))
            if a < b:
                tests.append(((a, 0), (b, 0), drv1 + ([] if n_cond else [(a, -1), (b, -1)])))
        out.extend(eng.run(tests)[1])
        assert eng.n_degenerate == 0
    return np.array(out)


@pytest.mark.parametrize("setting", ["independent", "one driver", "two drivers"])
def test_false_positive_rate_at_alpha_005_is_calibrated(setting: str) -> None:
    if setting == "independent":
        X, n_cond = _independent(16 * W, 6, seed=1), 0
    else:
        n_cond = 1 if setting == "one driver" else 2
        X = _driven(16 * W, n_cond, 6, seed=2 + n_cond)
    p = _pvalues(X, n_cond, 16)
    assert len(p) >= 500 and np.isfinite(p).all()
    fpr = float(np.mean(p <= 0.05))
    assert 0.03 <= fpr <= 0.07, f"{setting}: FPR {fpr:.3f} over {len(p)} tests"


def test_detects_non_monotone_dependence_that_partial_correlation_misses() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(600, 2))
    X = np.column_stack([z[:, 0], z[:, 1]])
    X[1:, 1] = np.cos(2 * X[:-1, 0]) + 0.5 * rng.normal(size=599)   # even in x: correlation ~0
    eng = FourierFeatures(2, 600, 2, seed=0).update_many(X).engine()
    val, p = eng.run([((0, -1), (1, 0), []), ((1, -1), (0, 0), [])])
    assert p[0] < 1e-6 and p[1] > 0.01
    assert 0 < val[1] < val[0] <= 1
    assert abs(np.corrcoef(X[:-1, 0], X[1:, 1])[0, 1]) < 0.1


def _toy(n: int, tau: int, T: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int, int]]]:
    """bench/causal_nonlinear.py's nonlinear toy model (the same generator and seeds)."""
    data, links = stationary(n, tau, T, seed, funcs="nonlinear", contemp_fraction=0.0, attempts=200)
    return data, lagged_links(links)


def _f1_ours(n: int, tau: int, window: int, n_windows: int) -> float:
    tp = fp = fn = 0
    for w in range(n_windows):
        X, true = _toy(n, tau, window + 100, 100 * w + 7)
        eng = FourierFeatures(n, window, 2 * tau, seed=0).update_many(X[-window:]).engine()
        pc = run_pc1_select(eng, n, 1, tau, 0.05)
        g = run_mci(eng, pc.parents, n, 1, tau, 0.05)["graph"]
        found = {(int(i), int(j), int(lag) + 1) for i, j, lag in zip(*np.nonzero(g[:, :, 1:] == "-->")) if i != j}
        tp, fp, fn = tp + len(found & true), fp + len(found - true), fn + len(true - found)
    return 2 * tp / (2 * tp + fp + fn)


@pytest.mark.parametrize("n, tau", [(3, 1), (5, 1), (5, 2)])
def test_power_on_nonlinear_toys_matches_cmiknn_and_gpdc_from_the_bench(n: int, tau: int) -> None:
    # N=8 is left to the bench (time): there ours is 0.755 vs GPDC's 0.809 at tau_max 1 (2 windows), a miss
    configs = {(c["n"], c["tau_max"], c["window"]): c for c in json.loads(BENCH.read_text())["configs"]}
    toy = configs[(n, tau, W)]["toy"]
    for test in ("cmiknn", "gpdc"):
        ref = toy[test]
        ours = _f1_ours(n, tau, W, ref["windows"])          # the bench's windows, recomputed here
        assert ours == pytest.approx(ref["rcot_same_windows"], abs=1e-12)
        assert ours >= ref["f1"] - 0.03, f"{test}: ours {ours:.3f} vs {ref['f1']:.3f}"


def _update_footprint(window: int) -> tuple[int, int]:
    """(numpy calls, peak bytes allocated) of one update on a full window, away from a rebuild."""
    rng = np.random.default_rng(0)
    ff = FourierFeatures(3, window, 2, seed=0).update_many(rng.normal(size=(window + window // 2, 3)))
    x = rng.normal(size=3)
    calls = []

    def count(frame: object, event: str, arg: object) -> None:
        if event == "c_call":
            calls.append(getattr(arg, "__name__", ""))

    sys.setprofile(count)
    ff.update(x)
    sys.setprofile(None)
    tracemalloc.start()
    ff.update(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return len(calls), peak


def test_per_sample_update_work_does_not_depend_on_the_window() -> None:
    small, large = _update_footprint(100), _update_footprint(3000)
    assert small[0] == large[0] > 0
    assert large[1] <= 1.2 * small[1] + 4096
    # the only O(W) step, the rebuild from the buffer (restandardised first if it drifted),
    # runs once per window updates: amortised O((D f)^2) a sample
    ff = FourierFeatures(2, 50, 1)
    calls = []
    rebuild = ff.rebuild

    def counting() -> FourierFeatures:
        calls.extend([] if ff._stale else [1])
        return rebuild()

    ff.rebuild = counting                              # type: ignore[method-assign]
    ff.update_many(np.random.default_rng(1).normal(size=(500, 2)))
    assert len(calls) == 10


def test_streaming_sums_equal_a_rebuild_from_the_buffer_and_nan_rows_are_skipped() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(700, 3)) * [1.0, 5.0, 0.1] + [0.0, 50.0, -3.0]
    X[640, 1] = np.nan
    ff = FourierFeatures(3, 200, 2, seed=2).update_many(X[:670])
    ff._stale = False                         # keep the standardisation: compare the sums alone
    s2 = ff._s2.copy()
    n = ff.n_rows
    ff.rebuild()
    assert np.allclose(ff._s2, s2, atol=1e-8 * np.abs(s2).max())
    assert n == ff.n_rows == 200 - 2 - 3                        # the NaN sample touches 3 rows
    val, p = ff.engine().run([((0, -1), (1, 0), [(2, -2)])])
    assert np.isfinite(val).all() and np.isfinite(p).all()


def test_drift_in_the_standardisation_recomputes_the_features() -> None:
    rng = np.random.default_rng(5)
    ff = FourierFeatures(2, 200, 1).update_many(rng.normal(size=(400, 2)))
    ff.engine()
    before = ff.n_recomputes
    ff.update_many(rng.normal(size=(50, 2)) * 0.02)                # small noise: within the bound
    assert ff.engine() is not None and ff.n_recomputes in (before, before + 1)
    ff.update_many(rng.normal(size=(100, 2)) + 3.0)                # mean moves ~1.5 sd
    k = ff.n_recomputes
    ff.engine()
    assert ff.n_recomputes == k + 1
    mean = ff.samples().mean(axis=0)
    assert np.allclose(ff._mu, mean)


def test_same_seed_same_answers_other_seed_other_features() -> None:
    X = _independent(400, 3, seed=9)
    tests = [((0, -1), (1, 0), [(1, -1)]), ((2, 0), (1, 0), [(0, -1), (0, -2)])]
    a = FourierFeatures(3, 300, 2, seed=4).update_many(X).engine().run(tests)
    b = FourierFeatures(3, 300, 2, seed=4).update_many(X).engine().run(tests)
    c = FourierFeatures(3, 300, 2, seed=5).update_many(X).engine().run(tests)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert FourierFeatures(3, 300, 2, seed=4).settings()["seed"] == 4


@pytest.mark.parametrize("kind", ["constant", "binary", "ties"])
def test_constant_binary_and_tied_variables_give_p1_val0_and_are_counted(kind: str) -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 3))
    X[:, 1] = {"constant": np.full(300, 2.0), "binary": (X[:, 1] > 0) * 1.0,
               "ties": np.where(rng.random(300) < 0.7, 0.0, X[:, 1])}[kind]
    eng = FourierFeatures(3, 300, 2).update_many(X).engine()
    val, p = eng.run([((1, -1), (0, 0), []), ((0, -1), (1, 0), [(2, -1)]), ((0, -1), (2, 0), [(1, -1)])])
    assert val[:2].tolist() == [0.0, 0.0] and p[:2].tolist() == [1.0, 1.0]
    assert eng.n_degenerate == 2 and np.isfinite(p[2]) and 0 < p[2] <= 1


def test_a_window_shorter_than_the_feature_count_gives_p1_val0() -> None:
    X = np.random.default_rng(7).normal(size=(40, 4))
    eng = FourierFeatures(4, 40, 2, n_features=5).update_many(X).engine()     # 38 rows, 6 features a column
    z = [(2, -1), (3, -1), (2, -2), (3, -2)]
    val, p = eng.run([((0, -1), (1, 0), z), ((0, -1), (1, 0), [])])
    assert (val[0], p[0]) == (0.0, 1.0) and eng.n_degenerate == 1 and p[1] < 1


@pytest.mark.parametrize("kwargs", [{"n_features": 0}, {"n_features": -3}, {"bandwidth": 0.0},
                                    {"bandwidth": -1.0}, {"bandwidth": "silverman"}, {"drift_bound": 0}])
def test_bad_settings_are_one_line_parameter_errors(kwargs: dict) -> None:
    with pytest.raises(ParameterError) as err:
        FourierFeatures(2, 100, 2, **kwargs)
    assert "\n" not in str(err.value) and str(err.value).startswith("FourierFeatures:")


def test_pc1_and_mci_run_on_the_engine_and_aic_selection_is_refused() -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(500, 3))
    X[1:, 2] += np.abs(2 * X[:-1, 0]) - 0.8                       # a non-monotone lagged link
    eng = FourierFeatures(3, 500, 2, seed=0).update_many(X).engine()
    pc = run_pc1_select(eng, 3, 1, 1, 0.05)
    res = run_mci(eng, pc.parents, 3, 0, 1, 0.05)
    assert str(res["graph"][0, 2, 1]) == "-->" and res["p_matrix"][0, 2, 1] < 1e-6
    lin = CovParCorr(LaggedCovariance(3, 500, 2).update_many(X).stats(), 3)
    assert lin.run([((0, -1), (2, 0), [])])[1][0] > 0.01         # partial correlation misses it
    with pytest.raises(ParameterError, match="pc_alpha=None"):
        run_pc1_select(eng, 3, 1, 1, None)

def test_windowed_pcmci_with_rcot_equals_the_engine_run_directly() -> None:
    X = _independent(700, 3, seed=10)
    X[1:, 2] += np.abs(2 * X[:-1, 0]) - 0.8
    model = WindowedPCMCI(3, 400, 1, ci_test="rcot", ci_params={"seed": 3}).update_many(X)
    res = model.results()
    ff = FourierFeatures(3, 400, 2, seed=3).update_many(X)
    eng = ff.engine()
    pc = run_pc1_select(eng, 3, 0, 1, 0.05)
    ref = run_mci(eng, pc.parents, 3, 0, 1, 0.05)
    assert (res["graph"] == ref["graph"]).all() and str(res["graph"][0, 2, 1]) == "-->"
    assert np.allclose(res["p_matrix"], ref["p_matrix"]) and np.allclose(res["val_matrix"], ref["val_matrix"])
    assert res["ci_settings"] == ff.settings()
