"""method="lpcmci" equals tigramite's LPCMCI.run_lpcmci on sliding windows of models with hidden variables."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.lpcmci import LPCMCI

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.toys import stationary
from causalstream.models.errors import ParameterError

from causal_toys import assert_same, random_link_assumptions

SLIDE = 25
HIDDEN = 2  # variables generated and then dropped: hidden causes of the observed ones


def hidden_toy(n_obs: int, tau_max: int, T: int, seed: int) -> np.ndarray:
    """A stationary sample of a random SCM over n_obs + 2 variables (contemporaneous links too), the last 2 dropped."""
    data, _ = stationary(n_obs + HIDDEN, tau_max, T, seed, contemp_fraction=0.3)
    return data[:, :n_obs]


def tigramite_lpcmci(window: np.ndarray, test: type, tau_max: int, **kwargs: object) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LPCMCI(DataFrame(window), test()).run_lpcmci(tau_max=tau_max, **kwargs)


def sliding(model: WindowedPCMCI, X: np.ndarray, n_windows: int):
    """The model's results() and its window, every SLIDE samples, updated sample by sample."""
    W = model.window
    model.update_many(X[:W])
    for k in range(n_windows):
        if k:
            model.update_many(X[W + SLIDE * (k - 1):W + SLIDE * k])
        end = W + SLIDE * k
        yield model.results(), X[end - W:end]


@pytest.mark.parametrize(("ci_test", "test", "n_obs", "tau_max", "seed", "n_windows"), [
    ("parcorr", ParCorr, 4, 1, 3, 12),
    ("parcorr", ParCorr, 4, 2, 4, 12),
    ("parcorr", ParCorr, 3, 2, 5, 8),
    ("robustparcorr", RobustParCorr, 4, 1, 6, 6),
])
def test_equals_tigramite_on_sliding_windows(ci_test: str, test: type, n_obs: int, tau_max: int, seed: int,
                                             n_windows: int) -> None:
    """38 windows in all: graph strings equal (PAG marks included), |val|, |p| within 1e-8."""
    X = hidden_toy(n_obs, tau_max, 400 + SLIDE * n_windows, seed)
    model = WindowedPCMCI(n_obs, 300, tau_max, method="lpcmci", ci_test=ci_test, pc_alpha=0.05)
    marks: set[str] = set()
    for ours, window in sliding(model, X, n_windows):
        ref = tigramite_lpcmci(window, test, tau_max, pc_alpha=0.05)
        assert_same(ours, ref)
        marks |= set(ref["graph"].ravel().tolist())
    assert marks - {"", "-->", "<--"}, "the windows never needed a PAG mark: a weak test"


def test_hidden_driver_is_marked_bidirected() -> None:
    """A -> X <- H -> Y <- B, H hidden: PCMCI+ reports a link X - Y, LPCMCI marks it <-> (a hidden common cause)."""
    rng = np.random.default_rng(2)
    A, B, H = rng.normal(size=(3, 1200))
    X = np.zeros((1200, 4))
    X[:, 0], X[:, 1] = A, B
    X[1:, 2] = A[:-1] + H[1:] + 0.5 * rng.normal(size=1199)
    X[1:, 3] = B[:-1] + H[1:] + 0.5 * rng.normal(size=1199)
    lp = WindowedPCMCI(4, 1000, 1, method="lpcmci").update_many(X).results()
    plus = WindowedPCMCI(4, 1000, 1, method="pcmciplus").update_many(X).results()
    assert str(plus["graph"][2, 3, 0]) != ""
    assert str(lp["graph"][2, 3, 0]) == "<->"
    assert str(lp["graph"][0, 2, 1]) == "o->" and str(lp["graph"][1, 3, 1]) == "o->"  # A, B may share hidden causes too
    assert_same(lp, tigramite_lpcmci(X[-1000:], ParCorr, 1, pc_alpha=0.05))


def test_params_and_link_assumptions_equal_tigramite() -> None:
    X = hidden_toy(4, 2, 600, 7)
    params = {"n_preliminary_iterations": 2, "max_cond_px": 1, "max_p_global": 2, "max_q_global": 3,
              "max_pds_set": 2}
    ours = WindowedPCMCI(4, 500, 2, method="lpcmci", lpcmci_params=params).update_many(X).results()
    assert_same(ours, tigramite_lpcmci(X[-500:], ParCorr, 2, pc_alpha=0.05, **params))
    la = random_link_assumptions(4, 1, 2, seed=3)
    la = {j: {k: v for k, v in links.items() if v in ("-?>", "-->", "")} for j, links in la.items()}
    ours = WindowedPCMCI(4, 500, 2, tau_min=1, method="lpcmci", link_assumptions=la).update_many(X).results()
    ref = tigramite_lpcmci(X[-500:], ParCorr, 2, tau_min=1, pc_alpha=0.05, link_assumptions=la)
    assert_same(ours, ref)
    assert (ours["link_status"] == "assumed").any()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lpcmci_params": {"max_pds": 1}}, "unknown LPCMCI parameter 'max_pds'"),
    ({"lpcmci_params": {"max_p_global": -1}}, "must be an integer >= 0 or inf"),
    ({"pc_alpha": None}, "needs a pc_alpha"),
    ({"fdr_method": "fdr_bh"}, "takes no fdr_method"),
    ({"ci_test": "cmiknn"}, "needs a streaming ci_test"),
    ({"time_budget_ms": 0}, "time_budget_ms must be > 0"),
])
def test_bad_settings_are_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as err:
        WindowedPCMCI(3, 100, 1, method="lpcmci", **kwargs)
    assert "\n" not in str(err.value)


def test_lpcmci_params_need_the_method() -> None:
    with pytest.raises(ParameterError, match="lpcmci_params and time_budget_ms are for method='lpcmci'"):
        WindowedPCMCI(3, 100, 1, lpcmci_params={"max_p_global": 1})
    with pytest.raises(ParameterError, match="are for method='lpcmci'"):
        WindowedPCMCI(3, 100, 1, method="pcmciplus", time_budget_ms=10.0)


def test_short_window_says_insufficient() -> None:
    """A variable never observed: its links are 'insufficient' (test-wise deletion), the graph says why."""
    X = hidden_toy(3, 1, 400, 8)
    X[:, 2] = np.nan
    res = WindowedPCMCI(3, 300, 1, method="lpcmci", missing="testwise").update_many(X).results()
    assert (res["link_status"][2, :2] == "insufficient").all()
    assert res["graph_status"] == "partial" and "observed in 0 of" in res["status_reason"]


def test_refresh_past_its_budget_gives_the_last_complete_graph() -> None:
    """Never a half-done PAG: a refresh past time_budget_ms returns the last complete results, 'stale', counted."""
    X = hidden_toy(4, 1, 700, 9)
    starved = WindowedPCMCI(4, 300, 1, method="lpcmci", time_budget_ms=1e-6).update_many(X[:300])
    first = starved.results()
    assert first["graph_status"] == "stale" and first["overruns"] == 1
    assert (first["graph"] == "").all() and "no complete graph yet" in first["status_reason"]
    model = WindowedPCMCI(4, 300, 1, method="lpcmci", time_budget_ms=1e9).update_many(X[:300])
    complete = model.results()
    assert complete["graph_status"] != "stale" and complete["overruns"] == 0
    model.update_many(X[300:400])
    model.time_budget_ms = 1e-6
    stale = model.results()
    assert stale["graph_status"] == "stale" and stale["overruns"] == 1
    assert (stale["graph"] == complete["graph"]).all() and stale["last_index"] == complete["last_index"] == 299
    assert "past its time budget" in stale["status_reason"] and "samples 0-299" in stale["status_reason"]
    model.time_budget_ms = 1e9  # the stream goes on: the next refresh is complete again, of the new window
    assert model.update_many(X[400:450]).results()["last_index"] == 449
    assert model.overruns == 1
