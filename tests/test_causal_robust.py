"""CovRobustParCorr equals tigramite's RobustParCorr (run_pcmci / run_pcmciplus) on the same window.

Issue 17 part 1: for sliding windows of tigramite's toy models (dependency_funcs 'nonlinear'
and 'linear'; N in {3, 4, 5}, tau_max in {1, 2, 3}), after the window has slid sample by
sample, the graph strings are identical and |val|, |p| differ by <= 1e-8: 40 windows, each
checked with PCMCI and PCMCI+ (and one with pc_alpha=None). Then bad input: constant, binary
and heavily tied variables, missing samples, windows too short for the conditions.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.robust_parcorr import RobustParCorr

sys.path.insert(0, str(Path(__file__).parent))
from causal_toys import MISSING, assert_same, tigramite_run, toy_data  # noqa: E402

from causalstream.models.causal.lagcov import LaggedCovariance  # noqa: E402
from causalstream.models.causal.mci import run_mci  # noqa: E402
from causalstream.models.causal.pc1 import run_pc1_select  # noqa: E402
from causalstream.models.causal.pcmciplus import CovariancePCMCI, run_pcmciplus  # noqa: E402
from causalstream.models.causal.robust import CovRobustParCorr, normal_scores  # noqa: E402
from causalstream.models.errors import ParameterError  # noqa: E402

CONFIGS = [(3, 1, 120), (4, 2, 100), (5, 1, 100), (3, 3, 120)]
CASES = [(funcs, n, tau, W) for funcs in ("nonlinear", "linear") for n, tau, W in CONFIGS]
WINDOWS = 5  # per case: 2 x 4 x 5 = 40 windows, each checked with PCMCI and PCMCI+


def ours(lagcov: LaggedCovariance, method: str, pc_alpha: float | None, alpha_level: float = 0.05,
         ) -> tuple[dict, CovRobustParCorr]:
    """run_pcmci / run_pcmciplus on the robust engine, as WindowedPCMCI calls the ParCorr one."""
    n, tau = lagcov.n_vars, lagcov.max_lag // 2
    engine = CovRobustParCorr.from_lagcov(lagcov, n)
    if method == "pcmciplus":
        return run_pcmciplus(CovariancePCMCI(n, tau), engine, 0, tau, pc_alpha), engine
    pc = run_pc1_select(engine, n, 0, tau, pc_alpha, None)
    return run_mci(engine, pc.parents, n, 0, tau, alpha_level, "none", None, None), engine


def reference(window: np.ndarray, method: str, tau: int, pc_alpha: float | None, **kwargs: object) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tigramite warns on constant input
        return tigramite_run(window, method, tau, test=RobustParCorr, pc_alpha=pc_alpha, **kwargs)


@pytest.mark.parametrize(("funcs", "n_vars", "tau_max", "W"), CASES,
                         ids=[f"{f}-N{n}-tau{t}" for f, n, t, _ in CASES])
def test_sliding_windows_equal_tigramite(funcs: str, n_vars: int, tau_max: int, W: int) -> None:
    seed = 100 * n_vars + 10 * tau_max + (funcs == "linear")
    data, _ = toy_data(n_vars, tau_max, T=W + WINDOWS * 30 + 30, seed=seed, funcs=funcs)
    rng = np.random.default_rng(seed)
    lagcov = LaggedCovariance(n_vars, W, 2 * tau_max)
    end = W + int(rng.integers(5, 30))
    lagcov.update_many(data[:end])
    for k in range(WINDOWS):
        window = data[end - W:end]
        pc_alpha = None if (k == 0 and funcs == "nonlinear" and n_vars == 3) else 0.1
        assert_same(ours(lagcov, "pcmci", pc_alpha)[0], reference(window, "pcmci", tau_max, pc_alpha))
        assert_same(ours(lagcov, "pcmciplus", 0.05)[0], reference(window, "pcmciplus", tau_max, 0.05))
        step = int(rng.integers(1, 30))
        for x in data[end:end + step]:  # one sample at a time: the streaming path
            lagcov.update(x)
        end += step


def test_normal_scores_are_tigramites_trafo2normal_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    n = 301
    E = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), np.round(rng.normal(size=n), 1),
                         np.full(n, 2.0), rng.integers(0, 4, n) * 0.1])
    assert np.array_equal(normal_scores(E), RobustParCorr().trafo2normal(E.T.copy()).T)


def _bad_data(kind: str) -> np.ndarray:
    data, _ = toy_data(4, 2, 330, seed=7, funcs="nonlinear")
    if kind == "constant":
        data[:, 1] = 2.0
    elif kind == "binary":
        data[:, 2] = (data[:, 2] > 0.3).astype(float)
    elif kind == "ties":
        data[:, 0] = np.round(data[:, 0])
        data[:, 3] = np.round(data[:, 3] * 2.0) / 2.0
    elif kind == "constant_early":  # constant in the window's oldest rows only, at some lags
        data[:150, 1] = 0.0
    return data


@pytest.mark.parametrize("kind", ["constant", "binary", "ties", "constant_early"])
@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_bad_input_equals_tigramite(kind: str, method: str) -> None:
    data = _bad_data(kind)
    lagcov = LaggedCovariance(4, 200, 4).update_many(data)
    res, engine = ours(lagcov, method, 0.1)
    assert_same(res, reference(data[-200:], method, 2, 0.1))
    if kind == "constant":
        assert engine.n_degenerate > 0
        assert (res["val_matrix"][1] == 0).all() and (res["p_matrix"][1] == 1).all()


def test_inexact_constant_is_constant_where_tigramite_reads_rounding_noise() -> None:
    data, _ = toy_data(4, 2, 330, seed=7, funcs="nonlinear")
    data[:, 1] = 0.1  # numpy's std of 200 copies is 1.4e-17: tigramite does not see a constant
    res, engine = ours(LaggedCovariance(4, 200, 4).update_many(data), "pcmci", 0.1)
    ref = reference(data[-200:], "pcmci", 2, 0.1)
    assert np.isnan(ref["p_matrix"]).any()
    assert (res["val_matrix"][1] == 0).all() and (res["p_matrix"][1] == 1).all()
    assert (res["graph"][1] == "").all() and (res["graph"][:, 1] == "").all()
    assert engine.n_degenerate > 0 and not np.isnan(res["p_matrix"]).any()


def test_missing_samples_equal_tigramite_per_test_ranks() -> None:
    data, _ = toy_data(4, 2, 320, seed=9, funcs="nonlinear")
    rng = np.random.default_rng(9)
    data[rng.random(data.shape) < 0.02] = np.nan
    lagcov = LaggedCovariance(4, 150, 4).update_many(data[:280])
    for end in (280, 320):
        if end > 280:
            lagcov.update_many(data[end - 40:end])
        for method, pc_alpha in (("pcmci", 0.1 if end == 280 else None), ("pcmciplus", 0.1)):  # None: AIC per row set
            window = data[end - 150:end]
            assert_same(ours(lagcov, method, pc_alpha)[0], reference(window, method, 2, pc_alpha, missing=True))


@pytest.mark.parametrize("missing", [False, True])
def test_aic_equals_tigramites_model_selection_criterion(missing: bool) -> None:
    data, _ = toy_data(4, 2, 260, seed=11, funcs="nonlinear")
    if missing:
        data[np.random.default_rng(11).random(data.shape) < 0.03] = np.nan
    engine = CovRobustParCorr.from_lagcov(LaggedCovariance(4, 200, 4).update_many(data), 4)
    ref = RobustParCorr()
    ref.set_dataframe(DataFrame(np.where(np.isnan(data[-200:]), MISSING, data[-200:]), missing_flag=MISSING))
    for j, parents in [(0, [(0, -1), (1, -2)]), (2, [(3, -1), (2, -1), (0, -2)]), (1, [])]:
        assert engine.aic(j, parents) == pytest.approx(ref.get_model_selection_criterion(j, parents, tau_max=2),
                                                       rel=1e-10)


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_window_too_short_gives_p1_val0_where_tigramite_gives_nan(method: str) -> None:
    data, _ = toy_data(4, 2, 50, seed=5, funcs="nonlinear")
    lagcov = LaggedCovariance(4, 6, 4).update_many(data)  # 2 rows: df < 1 for every test
    res, engine = ours(lagcov, method, 0.1)
    ref = reference(data[-6:], method, 2, 0.1)
    assert (res["graph"] == ref["graph"]).all()
    assert np.isnan(ref["p_matrix"]).any()  # tigramite: p NaN (and PCMCI+ then reports p 0 at lag 0)
    assert (res["p_matrix"] == 1).all() and (res["val_matrix"] == 0).all()
    assert engine.n_degenerate > 0


def test_tied_to_collinearity_is_val0_p1_and_counted() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=300)
    X = np.column_stack([x, np.exp(x), rng.normal(size=300)])  # same ranks: identical scores
    engine = CovRobustParCorr.from_lagcov(LaggedCovariance(3, 300, 0).update_many(X), 3)
    val, p = engine.run([((0, 0), (2, 0), []), ((1, 0), (2, 0), [(0, 0)]), ((0, 0), (1, 0), [])])
    assert val[1] == 0.0 and p[1] == 1.0 and 0.0 < p[0] < 1.0
    assert val[2] == pytest.approx(1.0) and p[2] == 0.0
    assert engine.n_degenerate == 1
    assert engine.test_one((1, 0), (2, 0), [(0, 0)]) == (0.0, 1.0) and engine.n_degenerate == 2


def test_forgetting_is_a_parameter_error() -> None:
    lagcov = LaggedCovariance(2, 50, 2, forgetting=0.99).update_many(np.zeros((60, 2)))
    with pytest.raises(ParameterError, match="sliding window"):
        CovRobustParCorr.from_lagcov(lagcov, 2)
