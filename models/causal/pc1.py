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
from typing import Protocol

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["PC1Result", "run_pc1", "run_pc1_select", "DEFAULT_PC_ALPHAS"]

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
            max_conds_dim: int | None = None) -> PC1Result:
    """Lagged parents of every variable at one pc_alpha.

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
    parents = {j: [(i, -lag) for i in range(n_vars) for lag in range(lo, tau_max + 1)] for j in range(n_vars)}
    val_min: dict[int, dict[Node, float]] = {j: {} for j in range(n_vars)}
    pval_max = {j: dict.fromkeys(parents[j]) for j in range(n_vars)}
    val_at = {j: dict.fromkeys(parents[j]) for j in range(n_vars)}
    for dim in range(top + 1):
        todo = [j for j in range(n_vars) if len(parents[j]) - 1 >= dim]
        if not todo:
            break
        keys = [(j, par) for j in todo for par in parents[j]]
        val, pval = ci.run_masks(*_pc1_masks(parents, todo, dim, n_vars, tau_max))
        dropped: dict[int, list[Node]] = {j: [] for j in todo}
        for (j, par), v, p in zip(keys, val, pval):
            val_min[j][par] = min(abs(v), val_min[j].get(par, float("inf")))
            if pval_max[j][par] is None or p > pval_max[j][par]:
                pval_max[j][par], val_at[j][par] = p, v
            if not p <= pc_alpha:
                dropped[j].append(par)
        for j in todo:
            for par in dropped[j]:
                del val_min[j][par]
            parents[j] = sorted(val_min[j], key=val_min[j].get, reverse=True)
    return PC1Result(parents=parents, val_matrix=_to_matrix(val_at, n_vars, tau_max, 0.0),
                     p_matrix=_to_matrix(pval_max, n_vars, tau_max, 1.0))


def _pc1_masks(parents: dict[int, list[Node]], todo: list[int], dim: int, n_vars: int,
               tau_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of the tests of one iteration: each parent given the first ``dim`` others."""
    cx_all, cy_all, zm_all = [], [], []
    for j in todo:
        cols = np.array([-lag * n_vars + v for v, lag in parents[j]], dtype=np.intp)
        m = len(cols)
        zidx = np.tile(cols[:dim], (m, 1))
        for q in range(min(dim, m)):
            zidx[q] = np.delete(cols[:dim + 1], q)
        zm = np.zeros((m, n_vars * (2 * tau_max + 1)), dtype=bool)
        zm[np.repeat(np.arange(m), dim), zidx.ravel()] = True
        cx_all.append(cols)
        cy_all.append(np.full(m, j, dtype=np.intp))
        zm_all.append(zm)
    return np.concatenate(cx_all), np.concatenate(cy_all), np.concatenate(zm_all)


def _to_matrix(d: dict[int, dict[Node, float | None]], n_vars: int, tau_max: int, default: float) -> np.ndarray:
    m = np.full((n_vars, n_vars, tau_max + 1), default)
    for j, links in d.items():
        for (i, lag), v in links.items():
            m[i, j, -lag] = v
    return m


def run_pc1_select(ci: CITest, n_vars: int, tau_min: int, tau_max: int, pc_alpha: float | None,
                   max_conds_dim: int | None = None) -> PC1Result:
    """PC1 at pc_alpha, or (pc_alpha None) per target the alpha of least AIC, as tigramite.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> ci = CovParCorr(LaggedCovariance(2, 300, 2).update_many(np.random.default_rng(0).normal(size=(300, 2))).stats(), 2)
    >>> sorted(run_pc1_select(ci, 2, 1, 1, None).pc_alpha)
    [0, 1]
    """
    if pc_alpha is not None:
        if not 0.0 <= pc_alpha <= 1.0:
            raise ParameterError("PC1", f"pc_alpha must be in [0, 1], got {pc_alpha}")
        return run_pc1(ci, n_vars, tau_min, tau_max, pc_alpha, max_conds_dim)
    runs = [run_pc1(ci, n_vars, tau_min, tau_max, a, max_conds_dim) for a in DEFAULT_PC_ALPHAS]
    out = PC1Result(parents={}, val_matrix=np.zeros_like(runs[0].val_matrix), p_matrix=np.ones_like(runs[0].p_matrix))
    for j in range(n_vars):
        scores = np.array([ci.aic(j, r.parents[j]) for r in runs])
        best = int(scores.argmin())
        out.parents[j] = runs[best].parents[j]
        out.val_matrix[:, j] = runs[best].val_matrix[:, j]
        out.p_matrix[:, j] = runs[best].p_matrix[:, j]
        out.pc_alpha[j] = DEFAULT_PC_ALPHAS[best]
    return out
