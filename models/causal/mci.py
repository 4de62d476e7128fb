"""MCI step of PCMCI (tigramite's ``run_mci``), all tests in one batch.

Link (i, -tau) -> j is tested given the parents of j (without i at -tau) and the parents
of i shifted by -tau: lags reach 2 tau_max, which is why the embedding is 2 tau_max deep.
The graph is read from the (FDR-corrected) p-values before the lag-0 entries are
symmetrised, exactly as tigramite orders it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.pc1 import CITest, Node, run_free
from causalstream.models.causal.postprocess import fdr_bh, string_graph, symmetrize_contemp

__all__ = ["mci_masks", "mci_tests", "run_mci"]


def mci_tests(parents: dict[int, list[Node]], n_vars: int, tau_min: int, tau_max: int,
              max_conds_py: int | None = None, max_conds_px: int | None = None) -> list[tuple[Node, Node, list[Node]]]:
    """The MCI tests (X, Y, Z) in tigramite's order.

    >>> mci_tests({0: [(1, -1)], 1: [(0, -1)]}, 2, 1, 1)[:2]
    [((0, -1), (0, 0), [(1, -1), (1, -2)]), ((1, -1), (0, 0), [(0, -2)])]
    """
    width = n_vars * (tau_max - tau_min + 1)
    py = width if max_conds_py is None else max_conds_py
    px = width if max_conds_px is None else max_conds_px
    tests = []
    for j in range(n_vars):
        conds_y = parents.get(j, [])[:py]
        for i in range(n_vars):
            for tau in range(tau_min, tau_max + 1):
                if i == j and tau == 0:
                    continue
                conds_x = [(k, k_tau - tau) for k, k_tau in parents.get(i, [])[:px]]
                z = [node for node in conds_y if node != (i, -tau)]
                seen = set(z)
                z += [node for node in conds_x if node not in seen]
                tests.append(((i, -tau), (j, 0), z))
    return tests


def mci_masks(parents: dict[int, list[Node]], n_vars: int, tau_min: int, tau_max: int,
              max_conds_py: int | None = None, max_conds_px: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MCI tests as columns: (lag, x, y, Z mask), built with array operations.

    Z = parents of y (less x) united with the parents of x shifted by x's lag: a set, so
    the mask of y's parents OR the mask of x's parents moved right by lag * N columns.

    >>> lag, cx, cy, zm = mci_masks({0: [(1, -1)], 1: [(0, -1)]}, 2, 1, 1)
    >>> cx.tolist(), cy.tolist(), [np.flatnonzero(r).tolist() for r in zm]
    ([2, 3, 2, 3], [0, 0, 1, 1], [[3, 5], [4], [5], [2, 4]])
    """
    width = n_vars * (tau_max - tau_min + 1)
    py = width if max_conds_py is None else max_conds_py
    px = width if max_conds_px is None else max_conds_px
    dim = n_vars * (2 * tau_max + 1)
    my = np.zeros((n_vars, dim), dtype=bool)
    mx = np.zeros((n_vars, dim), dtype=bool)
    for j in range(n_vars):
        for k, (v, lag) in enumerate(parents.get(j, [])):
            my[j, -lag * n_vars + v] = k < py
            mx[j, -lag * n_vars + v] = k < px
    jj, ii, tt, cx = _grid(n_vars, tau_min, tau_max)
    shifted = np.zeros((n_vars, tau_max + 1, dim), dtype=bool)
    for tau in range(tau_min, tau_max + 1):
        shifted[:, tau, tau * n_vars:] = mx[:, :dim - tau * n_vars]
    zmask = my[jj] | shifted[ii, tt]
    zmask[np.arange(len(jj)), cx] = False   # x is never its own condition
    return tt, cx, jj, zmask


@lru_cache(maxsize=64)
def _grid(n_vars: int, tau_min: int, tau_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MCI links in tigramite's order (y-major, then x, then lag; no lag-0 self link) as
    y, x, lag and x's column (cached: the same arrays serve every window).

    >>> [a.tolist() for a in _grid(2, 0, 1)]
    [[0, 0, 0, 1, 1, 1], [0, 1, 1, 0, 0, 1], [1, 0, 1, 0, 1, 1], [2, 1, 3, 0, 2, 3]]
    """
    jj, ii, tt = np.meshgrid(np.arange(n_vars), np.arange(n_vars), np.arange(tau_min, tau_max + 1), indexing="ij")
    keep = ~((ii == jj) & (tt == 0))
    out = (jj[keep], ii[keep], tt[keep], tt[keep] * n_vars + ii[keep])
    for a in out:
        a.flags.writeable = False
    return out


def run_mci(ci: CITest, parents: dict[int, list[Node]], n_vars: int, tau_min: int, tau_max: int,
            alpha_level: float = 0.05, fdr_method: str = "none", max_conds_py: int | None = None,
            max_conds_px: int | None = None, links: LinkAssumptions | None = None) -> dict[str, np.ndarray]:
    """MCI val/p matrices and the string graph, as tigramite's ``run_mci`` returns them.

    With link assumptions (links.py), as tigramite: only the candidate links are tested
    (the others keep val 0, p 1), '-->' and 'o-o' links are not tested (val 1, p 0), FDR runs
    over the lagged candidates, and a lag-0 pair takes the values of its '-->' / '-?>' side,
    or (o-o, o?o) of its larger p.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(400, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
    >>> ci = CovParCorr(LaggedCovariance(2, 400, 2).update_many(X).stats(), 2)
    >>> run_mci(ci, {0: [], 1: [(0, -1)]}, 2, 0, 1)["graph"][0, 1].tolist()
    ['', '-->']
    """
    lag, cx, cy, zmask = mci_masks(parents, n_vars, tau_min, tau_max, max_conds_py, max_conds_px)
    if links is None:
        val, pval = ci.run_masks(cx, cy, zmask)
    else:
        keep = links.candidates[cx % n_vars, cy, lag]
        lag, cx, cy, zmask = lag[keep], cx[keep], cy[keep], zmask[keep]
        val, pval = run_free(ci, cx, cy, zmask, links.fixed[cx % n_vars, cy, lag])
    val_matrix = np.zeros((n_vars, n_vars, tau_max + 1))
    p_matrix = np.ones((n_vars, n_vars, tau_max + 1))
    val_matrix[cx % n_vars, cy, lag] = val
    p_matrix[cx % n_vars, cy, lag] = pval
    if links is None:
        p_matrix = fdr_bh(p_matrix, tau_min, fdr_method)
    else:
        lagged = links.candidates.copy()
        lagged[:, :, 0] = False
        p_matrix = _fdr_within(p_matrix, lagged, fdr_method)
    graph = string_graph(p_matrix <= alpha_level)
    if tau_min == 0:
        _symmetrize(p_matrix, val_matrix, links)
    return {"graph": graph, "val_matrix": val_matrix, "p_matrix": p_matrix}


def _fdr_within(p_matrix: np.ndarray, mask: np.ndarray, fdr_method: str) -> np.ndarray:
    """fdr_bh over the p-values in ``mask`` only (tigramite's mask of assumed links)."""
    if fdr_method in (None, "none"):
        return p_matrix
    # fdr_bh corrects the lags >= 1 of its matrix: give it the masked values as lags 1..K
    flat = np.concatenate(([1.0], p_matrix[mask]))[None, None, :]
    q = np.array(p_matrix)
    q[mask] = fdr_bh(flat, 1, fdr_method)[0, 0, 1:]
    return q


def _symmetrize(p_matrix: np.ndarray, val_matrix: np.ndarray, links: LinkAssumptions | None) -> None:
    """tigramite's symmetrize_p_and_val_matrix: directed pairs copy their '-->' side, o-o the larger p."""
    if links is None:
        symmetrize_contemp(p_matrix, val_matrix)
        return
    m = links.marks[:, :, 0]
    for i, j in zip(*np.nonzero((m == "-->") | (m == "-?>"))):
        p_matrix[j, i, 0], val_matrix[j, i, 0] = p_matrix[i, j, 0], val_matrix[i, j, 0]
    symmetrize_contemp(p_matrix, val_matrix, present=(m == "o-o") | (m == "o?o"))
