"""PC1 condition selection (tigramite's ``run_pc_stable``), one batch of tests per iteration.

For every target j, the candidate parents start as all (i, -tau), tau_min' <= tau <= tau_max
(tau_min' = max(1, tau_min)), variable-major as tigramite lists them. Iteration ``d`` tests
each remaining parent given the first ``d`` other parents (``max_combinations=1``: the first
lexicographic combination), drops those with p > pc_alpha, and re-sorts the rest by their
smallest |val| so far (stable, strongest first). The tests of one iteration do not depend on
each other, so all targets' tests go to the CI engine as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.linkstatus import as_zmask
from causalstream.models.errors import ParameterError

__all__ = ["PC1Result", "decide_free", "run_pc1", "run_pc1_select", "run_free", "DEFAULT_PC_ALPHAS"]

Node = tuple[int, int]
DEFAULT_PC_ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
"""tigramite's list when pc_alpha is None."""


class CITest(Protocol):
    """What PC1 needs of a CI engine: batched tests and the AIC score."""

    def run_masks(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def aic(self, j: int, parents: list[Node]) -> float: ...


@dataclass
class PC1Result:
    """Parents per target (sorted strongest first) and the PC1 val/p matrices.

    >>> PC1Result(parents={0: []}, val_matrix=np.zeros((1, 1, 2)), p_matrix=np.ones((1, 1, 2))).parents
    {0: []}
    """

    parents: dict[int, list[Node]]
    val_matrix: np.ndarray
    p_matrix: np.ndarray
    pc_alpha: dict[int, float] = field(default_factory=dict)


def _max_dim(max_conds_dim: int | None, n_vars: int, tau_min: int, tau_max: int) -> int:
    if max_conds_dim is None:
        return n_vars * (tau_max - tau_min + 1)
    if max_conds_dim < 0:
        raise ParameterError("PC1", f"max_conds_dim must be >= 0, got {max_conds_dim}")
    return max_conds_dim


def run_pc1(ci: CITest, n_vars: int, tau_min: int, tau_max: int, pc_alpha: float,
            max_conds_dim: int | None = None, links: LinkAssumptions | None = None,
            values: bool = True) -> PC1Result:
    """Lagged parents of every variable at one pc_alpha (within ``links``, if given).

    ``values=False``: the parents only (what PCMCI's MCI step needs): each test is asked
    whether p <= pc_alpha (the engine's ``run_decide``, if it has one, spares the p-values),
    and val_matrix / p_matrix come back empty (shape (0, 0, 0)).

    With link assumptions (links.py), as tigramite's ``_run_pc_stable_single``: the
    candidates of j are its lagged links in the dict's order; a '-->' link is never tested
    (val 1, p 0), so it stays a parent and conditions the others.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(400, 2))
    >>> X[1:, 1] += 0.8 * X[:-1, 0]
    >>> ci = CovParCorr(LaggedCovariance(2, 400, 2).update_many(X).stats(), 2)
    >>> run_pc1(ci, 2, 1, 1, 0.05).parents[1]
    [(0, -1)]
    """
    lo = max(1, tau_min)
    top = _max_dim(max_conds_dim, n_vars, lo, tau_max)
    cand, cand_col, cand_var, cand_lag = _candidates(n_vars, lo, tau_max)
    n_cand = len(cand)
    order, count, rank, fixed = _initial(cand, n_vars, links)
    # per (target, candidate) state, flat: entry j * n_cand + c
    vmin = np.full(n_vars * n_cand, np.inf)
    pmax = np.full(n_vars * n_cand, 1.0)
    vat = np.zeros(n_vars * n_cand)
    tested = np.zeros(n_vars * n_cand, dtype=bool)
    rank, fixed = rank.ravel(), fixed.ravel()
    dim_total = n_vars * (2 * tau_max + 1)
    for dim in range(top + 1):
        todo = np.flatnonzero(count > dim)
        if len(todo) == 0:
            break
        ct = count[todo]
        jj = np.repeat(todo, ct)
        pos = np.arange(len(jj)) - np.repeat(np.cumsum(ct) - ct, ct)
        cc = order[jj, pos]
        fl = jj * n_cand + cc
        zcols = cand_col[order[jj[:, None], _templates(dim, n_cand)[pos]]]   # [B, dim]: each test's Z
        if values:
            val, pval = run_free(ci, cand_col[cc], jj, as_zmask(zcols, dim_total), fixed[fl])
            upd = ~tested[fl] | (pval > pmax[fl])
            pmax[fl[upd]] = pval[upd]
            vat[fl[upd]] = val[upd]
            tested[fl] = True
            keep = pval <= pc_alpha
        else:
            val, keep = decide_free(ci, cand_col[cc], jj, zcols, fixed[fl], pc_alpha, dim_total)
        vmin[fl] = np.minimum(vmin[fl], np.abs(val))
        # Python's sorted(reverse=True) is stable: ties keep the candidates' first order
        kj, kc, kf = jj[keep], cc[keep], fl[keep]
        ranked = np.lexsort((rank[kf], -vmin[kf], kj))
        kept = np.bincount(kj, minlength=n_vars)
        count[todo] = kept[todo]
        kr = kj[ranked]
        order[kr, np.arange(len(ranked)) - (np.cumsum(kept) - kept)[kr]] = kc[ranked]
    parents = {j: [(cand[c][0], -cand[c][1]) for c in order[j, :count[j]].tolist()] for j in range(n_vars)}
    if not values:
        return PC1Result(parents=parents, val_matrix=np.zeros((0, 0, 0)), p_matrix=np.ones((0, 0, 0)))
    val_matrix = np.zeros((n_vars, n_vars, tau_max + 1))
    p_matrix = np.ones((n_vars, n_vars, tau_max + 1))
    t = np.flatnonzero(tested)
    tj, tc = np.divmod(t, n_cand)
    val_matrix[cand_var[tc], tj, cand_lag[tc]] = vat[t]
    p_matrix[cand_var[tc], tj, cand_lag[tc]] = pmax[t]
    return PC1Result(parents=parents, val_matrix=val_matrix, p_matrix=p_matrix)


def _initial(cand: list[tuple[int, int]], n_vars: int, links: LinkAssumptions | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Initial parent order [N, n_cand] and count per target, tie-break rank, fixed links."""
    n_cand = len(cand)
    fixed = np.zeros((n_vars, n_cand), dtype=bool)
    if links is None:
        order = np.tile(np.arange(n_cand), (n_vars, 1))      # row j: current parents of j, then junk
        return order, np.full(n_vars, n_cand), order.copy(), fixed
    index = {(i, -lag): c for c, (i, lag) in enumerate(cand)}
    order = np.zeros((n_vars, n_cand), dtype=np.intp)
    rank = np.zeros((n_vars, n_cand), dtype=np.intp)
    count = np.zeros(n_vars, dtype=np.intp)
    marks = links.marks
    for j in range(n_vars):
        first = links.lagged_parents(j)
        if any(p not in index for p in first):
            raise ParameterError("PC1", f"link assumptions of {j} name a lag outside PC1's lags")
        cols = np.array([index[p] for p in first], dtype=np.intp)
        order[j, :len(cols)], count[j] = cols, len(cols)
        rank[j, cols] = np.arange(len(cols))
        fixed[j, cols] = [marks[i, j, -lag] == "-->" for i, lag in first]
    return order, count, rank, fixed


def run_free(ci: CITest, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray, fixed: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """A batch of tests in which the fixed links are not tested (val 1, p 0, as tigramite).

    >>> class Half:
    ...     def run_masks(self, cx, cy, zmask): return np.full(len(cx), 0.5), np.full(len(cx), 0.2)
    >>> run_free(Half(), np.arange(3), np.zeros(3, int), np.zeros((3, 4), bool), np.array([False, True, False]))
    (array([0.5, 1. , 0.5]), array([0.2, 0. , 0.2]))
    """
    if not fixed.any():
        return ci.run_masks(cx, cy, zmask)
    val, pval = np.ones(len(cx)), np.zeros(len(cx))
    free = ~fixed
    if free.any():
        val[free], pval[free] = ci.run_masks(cx[free], cy[free], zmask[free])
    return val, pval


def decide_free(ci: CITest, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray, fixed: np.ndarray, alpha: float,
                width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`run_free`'s val and p <= alpha (a fixed link: val 1, kept), by the engine's
    ``run_decide`` where it has one. ``zmask``: a Z mask, or a table of Z columns (an engine
    without run_decide gets it as a mask ``width`` columns wide, linkstatus.as_zmask).

    >>> class Half:
    ...     def run_masks(self, cx, cy, zmask): return np.full(len(cx), 0.5), np.full(len(cx), 0.2)
    >>> decide_free(Half(), np.arange(2), np.zeros(2, int), np.zeros((2, 4), bool), np.array([False, True]), 0.1)
    (array([0.5, 1. ]), array([False,  True]))
    """
    decide = getattr(ci, "run_decide", None)
    if decide is None:
        val, pval = run_free(ci, cx, cy, as_zmask(zmask, width), fixed)
        return val, pval <= alpha
    if not fixed.any():
        return decide(cx, cy, zmask, alpha)
    val, keep = np.ones(len(cx)), np.ones(len(cx), dtype=bool)
    free = ~fixed
    if free.any():
        val[free], keep[free] = decide(cx[free], cy[free], zmask[free], alpha)
    return val, keep


@lru_cache(maxsize=64)
def _candidates(n_vars: int, lo: int, tau_max: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray]:
    """PC1's candidate parents (i, lag) in tigramite's order (variable-major), their embedding
    columns, variables and lags (cached: the same arrays serve every window).

    >>> cand, col, var, lag = _candidates(2, 1, 2); cand, col.tolist()
    ([(0, 1), (0, 2), (1, 1), (1, 2)], [2, 4, 3, 5])
    """
    cand = [(i, lag) for i in range(n_vars) for lag in range(lo, tau_max + 1)]
    arrays = [np.array(a, dtype=np.intp) for a in ([lag * n_vars + i for i, lag in cand], [i for i, _ in cand],
                                                   [lag for _, lag in cand])]
    for a in arrays:
        a.flags.writeable = False
    return cand, arrays[0], arrays[1], arrays[2]


@lru_cache(maxsize=256)
def _templates(dim: int, n_cand: int) -> np.ndarray:
    """Positions of Z in a parent list, for the parent at each position [n_cand, dim].

    The parent at position q < dim is tested given positions 0..dim without q; any later
    parent given positions 0..dim-1 (the first combination, max_combinations=1).

    >>> _templates(2, 4).tolist()
    [[1, 2], [0, 2], [0, 1], [0, 1]]
    """
    out = np.tile(np.arange(dim), (n_cand, 1))
    for q in range(min(dim, n_cand)):
        out[q] = np.delete(np.arange(dim + 1), q)
    out.flags.writeable = False  # cached: the same array serves every window
    return out


def run_pc1_select(ci: CITest, n_vars: int, tau_min: int, tau_max: int, pc_alpha: float | None,
                   max_conds_dim: int | None = None, links: LinkAssumptions | None = None,
                   values: bool = True) -> PC1Result:
    """PC1 at pc_alpha, or (pc_alpha None) per target the alpha of least AIC, as tigramite.

    ``values=False`` (at one pc_alpha): the parents only, as :func:`run_pc1` says.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> ci = CovParCorr(LaggedCovariance(2, 300, 2).update_many(np.random.default_rng(0).normal(size=(300, 2))).stats(), 2)
    >>> sorted(run_pc1_select(ci, 2, 1, 1, None).pc_alpha)
    [0, 1]
    """
    if pc_alpha is not None:
        if not 0.0 <= pc_alpha <= 1.0:
            raise ParameterError("PC1", f"pc_alpha must be in [0, 1], got {pc_alpha}")
        return run_pc1(ci, n_vars, tau_min, tau_max, pc_alpha, max_conds_dim, links, values)
    runs = [run_pc1(ci, n_vars, tau_min, tau_max, a, max_conds_dim, links) for a in DEFAULT_PC_ALPHAS]
    out = PC1Result(parents={}, val_matrix=np.zeros_like(runs[0].val_matrix), p_matrix=np.ones_like(runs[0].p_matrix))
    for j in range(n_vars):
        scores = np.array([ci.aic(j, r.parents[j]) for r in runs])
        best = int(scores.argmin())
        out.parents[j] = runs[best].parents[j]
        out.val_matrix[:, j] = runs[best].val_matrix[:, j]
        out.p_matrix[:, j] = runs[best].p_matrix[:, j]
        out.pc_alpha[j] = DEFAULT_PC_ALPHAS[best]
    return out
