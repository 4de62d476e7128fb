"""Stationary samples of tigramite's random toy SCMs, the data the tests and benchmarks compare on.

tigramite's ``generate_structural_causal_process`` draws a random model; some draws explode or
are not stationary, so :func:`stationary` tries seeds ``seed + seed_step * k`` until one is
stationary, finite and bounded, and returns the sample as float64 (tigramite's toy data is
float32, which would blur a 1e-8 comparison).

>>> data, links = stationary(3, 2, 200, seed=1)
>>> data.shape, data.dtype
((200, 3), dtype('float64'))
>>> all(lag >= 1 and i != j for i, j, lag in lagged_links(links))
True
"""

from __future__ import annotations

import warnings

import numpy as np
from tigramite.toymodels import structural_causal_processes as _toys

Link = tuple[int, int, int]
"""(source i, target j, lag >= 1)."""


def stationary(n_vars: int, tau_max: int, T: int, seed: int, funcs: str = "linear",
               contemp_fraction: float = 0.3, n_links: int | None = None, noise: str = "gaussian",
               attempts: int = 100, seed_step: int = 1000, bound: float = 100.0) -> tuple[np.ndarray, dict]:
    """A stationary sample [T, n_vars] of a random SCM and its links dict (tigramite's form).

    ``funcs`` is tigramite's dependency function ("linear" or "nonlinear"); ``n_links`` the
    number of cross links (default n_vars + 2; 0 gives independent series, a null model).
    Raises RuntimeError when no draw of ``attempts`` is stationary.

    >>> X, _ = stationary(2, 1, 50, seed=0, n_links=0)
    >>> X.shape
    (50, 2)
    """
    for attempt in range(attempts):
        links, _ = _toys.generate_structural_causal_process(
            N=n_vars, L=n_vars + 2 if n_links is None else n_links, dependency_funcs=[funcs],
            dependency_coeffs=[-0.4, 0.4], auto_coeffs=[0.3, 0.5], contemp_fraction=contemp_fraction,
            max_lag=tau_max, noise_dists=[noise], noise_sigmas=[1.0], seed=seed + seed_step * attempt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, nonstat = _toys.structural_causal_process(links, T=T, seed=seed)
        if not nonstat and np.isfinite(data).all() and np.abs(data).max() < bound:
            return data.astype(np.float64), links
    raise RuntimeError(f"no stationary toy model in {attempts} draws (N={n_vars}, tau_max={tau_max}, seed={seed})")


def lagged_links(links: dict, auto: bool = False) -> set[Link]:
    """The true lagged links (i, j, lag) of a links dict; self links only with ``auto``.

    >>> sorted(lagged_links({0: [((0, -1), 0.5, None)], 1: [((0, -2), 0.4, None), ((0, 0), 0.3, None)]}))
    [(0, 1, 2)]
    """
    return {(i, j, -lag) for j, ls in links.items() for (i, lag), c, _ in ls
            if lag < 0 and c != 0 and (auto or i != j)}
