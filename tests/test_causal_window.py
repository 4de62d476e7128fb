"""WindowedPCMCI beyond the plain slide: missing values, constants, long slides, options, batch tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

sys.path.insert(0, str(Path(__file__).parent))
from causal_toys import assert_same, tigramite_run, toy_data  # noqa: E402

from causalstream.models.causal import WindowedPCMCI  # noqa: E402
from causalstream.models.causal.lagcov import LaggedCovariance  # noqa: E402
from causalstream.models.errors import CausalstreamError, ParameterError  # noqa: E402


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_missing_values_match_tigramite_missing_flag_then_leave_no_trace(method: str) -> None:
    n, tau, W = 4, 2, 150
    data, _ = toy_data(n, tau, 420, seed=7)
    dirty = data.copy()
    holes = [(210, 1), (230, 3), (231, 0), (260, 2)]
    for t, v in holes:
        dirty[t, v] = np.nan
    model = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1)
    model.update_many(dirty[:300])
    window = dirty[150:300]
    r = model.results()
    assert r["n_missing"] == 4 and r["n_samples"] == W
    assert r["n_rows"] < W - 2 * tau  # rows touching a NaN left the shared statistics
    assert_same(r, tigramite_run(window, method, tau, missing=True, pc_alpha=0.1))
    model.update_many(dirty[300:420])  # every NaN has left the window
    r = model.results()
    assert r["n_missing"] == 0 and r["n_rows"] == W - 2 * tau
    assert_same(r, tigramite_run(data[420 - W:420], method, tau, pc_alpha=0.1))


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_constant_and_near_constant_variables(method: str) -> None:
    n, tau, W = 4, 2, 160
    data, _ = toy_data(n, tau, 300, seed=11)
    data[:, 1] = 2.5                                     # constant
    data[:, 3] = 5.0 + 1e-3 * data[:, 3]                # near-constant: tiny variance, big offset
    model = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.1).update_many(data)
    r = model.results()
    assert np.isfinite(r["val_matrix"]).all() and np.isfinite(r["p_matrix"]).all()
    assert (r["val_matrix"][1, :, :] == 0).all() and (r["p_matrix"][1, :, 1:] == 1).all()
    assert (r["graph"][1] == "").all() and (r["graph"][:, 1] == "").all()
    assert_same(r, tigramite_run(data[-W:], method, tau, pc_alpha=0.1))


def test_variable_becoming_constant_mid_window() -> None:
    n, tau, W = 3, 2, 150
    data, _ = toy_data(n, tau, 400, seed=5)
    data[300:, 0] = 0.0
    model = WindowedPCMCI(n, W, tau, pc_alpha=0.1).update_many(data[:360])
    assert_same(model.results(), tigramite_run(data[210:360], "pcmci", tau, pc_alpha=0.1))
    model.update_many(data[360:])  # now constant over the whole window
    assert_same(model.results(), tigramite_run(data[-W:], "pcmci", tau, pc_alpha=0.1))


def test_long_slide_keeps_statistics_exact() -> None:
    n, tau, W = 3, 1, 120
    data, _ = toy_data(n, tau, 5000, seed=3)
    data += 50.0 * np.sin(np.arange(5000) / 400.0)[:, None]  # a slow level shift the shift must follow
    lc = LaggedCovariance(n, W, 2 * tau)
    for x in data[:4999]:
        lc.update(x)                       # the last rebuild was 4999 % 120 = 79 updates ago
    fresh = LaggedCovariance(n, W, 2 * tau).update_many(data[4999 - W:4999])
    assert np.abs(lc.stats().cov - fresh.stats().cov).max() <= 1e-9 * np.abs(fresh.stats().cov).max()
    model = WindowedPCMCI(n, W, tau, pc_alpha=0.1).update_many(data)
    assert_same(model.results(), tigramite_run(data[-W:], "pcmci", tau, pc_alpha=0.1))


@pytest.mark.parametrize("window", [6, 90])
def test_lazily_folded_sums_equal_the_window_summed_afresh(window: int) -> None:
    # update() only writes the ring buffer; a read folds in every row that entered or left since
    # (more than the window when the window is short), NaN rows included, at whatever gap
    rng = np.random.default_rng(5)
    data = rng.normal(size=(700, 2)) + 3.0
    data[rng.random(700) < 0.05, 1] = np.nan
    lc = LaggedCovariance(2, window, 2)
    gaps = iter(rng.integers(1, 150, size=700))
    t = 0
    while t < 700:
        step = min(int(next(gaps)), 700 - t)
        lc.update_many(data[t:t + step])
        t += step
        fresh = LaggedCovariance(2, window, 2).update_many(data[max(0, t - window):t])
        a, b = lc.stats(), fresh.stats()
        assert (lc.n_samples, lc.n_missing, lc.n_rows) == (fresh.n_samples, fresh.n_missing, fresh.n_rows)
        assert np.allclose(a.cov, b.cov, rtol=0, atol=1e-10) and np.allclose(a.mean, b.mean, rtol=0, atol=1e-10)
        assert a.dirty.shape == b.dirty.shape and np.array_equal(np.isnan(a.dirty), np.isnan(b.dirty))


def test_before_the_window_fills_and_float32_input() -> None:
    data, _ = toy_data(3, 2, 100, seed=2)
    model = WindowedPCMCI(3, 400, 2, pc_alpha=0.1).update_many(data.astype(np.float32))
    ref = tigramite_run(data.astype(np.float32).astype(np.float64), "pcmci", 2, pc_alpha=0.1)
    r = model.results()
    assert r["n_samples"] == 100 and r["first_index"] == 0 and r["last_index"] == 99
    assert_same(r, ref)
    empty = WindowedPCMCI(3, 400, 2).update_many(data[:4]).results()
    assert (empty["p_matrix"] == 1).all() and (empty["graph"] == "").all()


@pytest.mark.parametrize(("method", "options"), [
    ("pcmci", {"pc_alpha": None}),
    ("pcmciplus", {"pc_alpha": None}),
    ("pcmci", {"pc_alpha": 0.2, "fdr_method": "fdr_bh"}),
    ("pcmciplus", {"pc_alpha": 0.05, "fdr_method": "fdr_bh"}),
    ("pcmci", {"pc_alpha": 0.2, "tau_min": 1, "max_conds_dim": 2}),
    ("pcmci", {"pc_alpha": 0.2, "max_conds_px": 1, "max_conds_py": 2, "alpha_level": 0.01}),
    ("pcmciplus", {"pc_alpha": 0.1, "max_conds_dim": 1}),
])
def test_options_match_tigramite(method: str, options: dict) -> None:
    n, tau, W = 5, 2, 200
    data, _ = toy_data(n, tau, 260, seed=21)
    model = WindowedPCMCI(n, W, tau, method=method, **options).update_many(data)
    if method == "pcmciplus":
        options = {k: v for k, v in options.items() if k != "alpha_level"}
    assert_same(model.results(), tigramite_run(data[-W:], method, tau, **options))


def test_robustparcorr_batch_equals_tigramite() -> None:
    data, _ = toy_data(3, 1, 200, seed=4)
    model = WindowedPCMCI(3, 150, 1, ci_test="robustparcorr", pc_alpha=0.1).update_many(data)
    r = model.results()
    ref = PCMCI(DataFrame(data[-150:]), RobustParCorr()).run_pcmci(tau_max=1, pc_alpha=0.1)
    assert r["ci_test"] == "robustparcorr"
    assert (r["graph"] == ref["graph"]).all()
    assert np.abs(r["val_matrix"] - ref["val_matrix"]).max() <= 1e-12
    assert np.abs(r["p_matrix"] - ref["p_matrix"]).max() <= 1e-12


def test_forgetting_finds_a_strong_link_and_follows_a_change() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    X[1:1500, 1] += 0.9 * X[:1499, 0]          # 0 -> 1 at lag 1, then gone
    model = WindowedPCMCI(2, 200, 1, forgetting=0.99).update_many(X[:1500])
    assert model.results()["graph"][0, 1, 1] == "-->"
    model.update_many(X[1500:])
    r = model.results()
    assert r["graph"][0, 1, 1] == "" and np.isfinite(r["p_matrix"]).all()


@pytest.mark.parametrize("kwargs", [
    {"window": 5}, {"method": "fci"}, {"ci_test": "kernel"}, {"fdr_method": "bonferroni"},
    {"pc_alpha": 1.5}, {"tau_min": 3}, {"var_names": ["a"]}, {"forgetting": 0.99, "ci_test": "robustparcorr"},
    {"forgetting": 1.5},
])
def test_bad_parameters_raise_parameter_error(kwargs: dict) -> None:
    args = {"n_vars": 2, "window": 50, "tau_max": 2} | kwargs
    with pytest.raises(ParameterError) as info:
        WindowedPCMCI(**args)
    msg = str(info.value)
    assert isinstance(info.value, CausalstreamError)
    assert msg.startswith(("WindowedPCMCI: ", "LaggedCovariance: "))


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_explosive_near_collinear_window_gives_no_nan(method: str) -> None:
    rng = np.random.default_rng(9)
    X = np.zeros((400, 3))
    for t in range(1, 400):   # one explosive mode drives all: the window is numerically collinear
        X[t] = 1.06 * X[t - 1].mean() + np.array([1.0, -1.0, 0.5]) * X[t - 1].mean() * 0.01 + rng.normal(size=3)
    r = WindowedPCMCI(3, 300, 2, method=method).update_many(X).results()
    assert np.isfinite(r["val_matrix"]).all() and np.isfinite(r["p_matrix"]).all()


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_contemporaneous_only_tau_max_zero(method: str) -> None:
    data, _ = toy_data(4, 1, 300, seed=3)
    model = WindowedPCMCI(4, 200, 0, method=method, pc_alpha=0.1).update_many(data)
    assert_same(model.results(), tigramite_run(data[-200:], method, 0, pc_alpha=0.1))


def test_batch_engine_passes_missing_values_as_tigramite_missing_flag() -> None:
    data, _ = toy_data(3, 1, 260, seed=8)
    data[230, 1] = np.nan
    r = WindowedPCMCI(3, 200, 1, ci_test="robustparcorr", pc_alpha=0.1).update_many(data).results()
    window = data[-200:]
    frame = DataFrame(np.where(np.isnan(window), 999.0, window), missing_flag=999.0)
    ref = PCMCI(frame, RobustParCorr()).run_pcmci(tau_max=1, pc_alpha=0.1)
    assert r["n_missing"] == 1 and np.isfinite(r["p_matrix"]).all()
    assert (r["graph"] == ref["graph"]).all() and np.abs(r["p_matrix"] - ref["p_matrix"]).max() <= 1e-12
