"""Shared helpers for the causal tests: tigramite toy data and tigramite as the oracle."""

from __future__ import annotations

import numpy as np
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.toys import stationary

MISSING = 999.0


def toy_data(n_vars: int, tau_max: int, T: int, seed: int, noise: str = "gaussian",
             contemp_fraction: float = 0.3, funcs: str = "linear") -> tuple[np.ndarray, dict]:
    """A stationary sample of a random SCM (dependency_funcs [funcs]) from tigramite's toy models, as float64."""
    return stationary(n_vars, tau_max, T, seed, funcs=funcs, contemp_fraction=contemp_fraction, noise=noise,
                      attempts=50)


def tigramite_run(X: np.ndarray, method: str, tau_max: int, missing: bool = False, test: type = ParCorr,
                  **kwargs: object) -> dict:
    """tigramite's run_pcmci / run_pcmciplus with test() (ParCorr) on X (NaN as missing_flag when asked)."""
    if missing:
        frame = DataFrame(np.where(np.isnan(X), MISSING, X), missing_flag=MISSING)
    else:
        frame = DataFrame(X)
    return getattr(PCMCI(frame, test()), "run_" + method)(tau_max=tau_max, **kwargs)


def assert_same(ours: dict, ref: dict, tol: float = 1e-8) -> None:
    """Same graph strings, val and p within tol (NaN where tigramite has NaN)."""
    assert (ours["graph"] == ref["graph"]).all(), f"graphs differ:\n{ours['graph']}\n{ref['graph']}"
    for key in ("val_matrix", "p_matrix"):
        a, b = np.asarray(ours[key]), np.asarray(ref[key])
        assert a.shape == b.shape
        assert (np.isnan(a) == np.isnan(b)).all(), key
        diff = np.nanmax(np.abs(a - b)) if np.isfinite(a).any() else 0.0
        assert diff <= tol, f"{key} differs by {diff}"


def random_link_assumptions(n_vars: int, tau_min: int, tau_max: int, seed: int) -> dict:
    """A valid tigramite link_assumptions dict using every mark (lag-0 arrows follow a random order: no cycle)."""
    rng = np.random.default_rng(seed)
    rank = rng.permutation(n_vars)
    links: dict = {j: {} for j in range(n_vars)}
    for j in range(n_vars):
        for i in range(n_vars):
            for lag in range(tau_min, tau_max + 1):
                if lag == 0 and i >= j:
                    continue
                if lag == 0:
                    src, dst = (i, j) if rank[i] < rank[j] else (j, i)
                    mark = rng.choice(["", "-->", "-?>", "o-o", "o?o", "o?o"])
                    if mark:
                        links[dst][(src, 0)] = str(mark)
                else:
                    mark = rng.choice(["", "-->", "-?>", "-?>", "-?>", "o-o", "<?-"])
                    if mark:
                        links[j][(i, -lag)] = str(mark)
    return links
