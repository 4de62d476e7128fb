"""RobustParCorr tests read off the covariance of the window's Gaussian-copula transform.

What tigramite 5.2's RobustParCorr does to one test X _|_ Y | Z: construct_array gives the
array [2 + |Z|, n] over the rows t = 2 tau_max .. T-1 of the window (cut_off '2xtau_max');
constant rows (raw ``std == 0``) are dropped; then ``trafo2normal`` maps every row on its own
to normal scores, ``ndtri(interp(x, sort(x), linspace(1/n, 1, n)))``: a value's score is
``k/n`` with k the number of values <= it (ties all get the largest rank of their block),
and the maximum's 1 becomes ``1 - 1e-5``. After that it is ParCorr: standardise, regress X
and Y on Z by least squares, Pearson correlation of the residuals, Student's t with
``df = n - 2 - |Z|``. The AIC (``pc_alpha=None``) is ParCorr's on the transformed array.

So a row of the test array is one column of the lagged embedding over all of the window's
rows, whatever the test: we transform each embedding column once a refresh and hand the
covariance of the scores to :class:`CovParCorr`. With NaN in the window, tigramite drops per
test the rows where one of the test's own nodes is missing, so the ranks depend on the test:
tests are grouped by the set of rows they keep, and each group gets its own transform
(exact; slower only while NaNs are in the window).

Degenerate tests answer val 0, p 1 and are counted in ``n_degenerate``. Constant X or Y:
tigramite does the same. Too few rows (df < 1): tigramite gives p NaN; graphs agree (NaN is
never <= alpha) but p_matrix does not (its PCMCI+ even reports p 0 for a lag-0 link whose
tests were all NaN). X or Y with the ranks of a combination of Z (identical scores: ties,
tiny windows): tigramite correlates rounding noise, so a graph can differ there. A constant
that is not exactly representable (0.1: numpy's std is 1e-17, not 0) is kept by tigramite,
which then divides by that std and can report links to it; we treat it as constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy.special import ndtri

from causalstream.models.causal.lagcov import LaggedCovariance, LagStats
from causalstream.models.causal.linkstatus import TestRows
from causalstream.models.causal.parcorr import CovParCorr, Node
from causalstream.models.errors import ParameterError

__all__ = ["THRES", "CovRobustParCorr", "lagged_embedding", "normal_scores", "score_stats", "window_scores"]

THRES = 1e-5
"""tigramite's ``trafo2normal`` clip: a uniform score of 1 (the maximum) becomes 1 - THRES."""


@lru_cache(maxsize=32)
def _score_table(n: int) -> np.ndarray:
    """Score of a value with k of the n values <= it, at index k - 1, as trafo2normal computes it
    (cached: a window of n rows asks for the same table at every refresh)."""
    u = np.linspace(1.0 / n, 1.0, n)
    u[u == 1.0] = 1.0 - THRES
    out = ndtri(u)
    out.flags.writeable = False
    return out


def _counts_le(E: np.ndarray) -> np.ndarray:
    """For every entry of E [n, D] (no NaN), how many entries of its column are <= it."""
    n = len(E)
    rows = np.ascontiguousarray(E.T)  # sorting along contiguous rows is ~3x faster
    order = np.argsort(rows, axis=1)
    s = np.take_along_axis(rows, order, axis=1)
    block_end = np.ones(s.shape, dtype=bool)
    block_end[:, :-1] = s[:, 1:] != s[:, :-1]
    # np.interp on a sorted column with ties returns the value at the tie block's last index.
    last = np.where(block_end, np.arange(n), n)
    last = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]
    out = np.empty(rows.shape, dtype=np.intp)
    np.put_along_axis(out, order, last + 1, axis=1)
    return out.T


def normal_scores(E: np.ndarray) -> np.ndarray:
    """tigramite's ``trafo2normal`` of every column of E [n, D] (no NaN), bit for bit.

    >>> normal_scores(np.array([[3.0], [1.0], [1.0], [7.0]])).ravel().round(3)  # ties: rank 2 of 4
    array([0.674, 0.   , 0.   , 4.265])
    """
    E = np.asarray(E, dtype=np.float64)
    if len(E) == 0:
        return np.zeros(E.shape)
    return _score_table(len(E))[_counts_le(E) - 1]


def window_scores(samples: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores of every lagged column of a NaN-free window [T, N], and which are constant.

    Column (lag, var) holds ``samples[L - lag:T - lag, var]``: the variable's window less L
    samples, so its counts are the whole window's counts less those of the L samples left out
    (one sort a variable instead of one a column). Equal to normal_scores of the embedding.

    >>> x = np.array([[4.0], [1.0], [3.0], [1.0], [2.0]])
    >>> g, const = window_scores(x, 1)
    >>> bool(np.array_equal(g, normal_scores(np.column_stack([x[1:, 0], x[:-1, 0]])))), g[:, 0].round(3)
    (True, array([0.   , 4.265, 0.   , 0.674]))
    """
    T, N = samples.shape
    n = T - max_lag
    if n <= 0:
        return np.zeros((0, N * (max_lag + 1))), np.ones(N * (max_lag + 1), dtype=bool)
    rows, left_out = _lag_rows(T, max_lag)
    kept = samples[rows]                                            # [L + 1, n, N]
    c = _counts_le(samples)[rows] - (samples[left_out][:, :, None, :] <= kept[:, None, :, :]).sum(axis=1)
    counts = c.transpose(1, 0, 2).reshape(n, N * (max_lag + 1))     # column lag * N + var
    return _score_table(n)[counts - 1], np.all(counts == n, axis=0)


@lru_cache(maxsize=32)
def _lag_rows(T: int, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Per lag, the window rows its column holds [L + 1, T - L] and the L it leaves out [L + 1, L].

    >>> [a.tolist() for a in _lag_rows(4, 1)]
    [[[1, 2, 3], [0, 1, 2]], [[0], [3]]]
    """
    L = max_lag
    rows = (L - np.arange(L + 1))[:, None] + np.arange(T - L)
    left = np.array([[*range(L - lag), *range(T - lag, T)] for lag in range(L + 1)], dtype=np.intp).reshape(L + 1, L)
    for a in (rows, left):
        a.flags.writeable = False
    return rows, left


def score_stats(E: np.ndarray) -> LagStats:
    """LagStats of the normal scores of a NaN-free embedding E [n, D] (columns ranked apart).

    ``constant`` marks the columns whose raw values are all equal (so are their scores).

    >>> x = np.arange(6.0)[:, None] - 2.5
    >>> bool(np.array_equal(score_stats(x ** 3).cov, score_stats(x).cov))  # ranks only
    True
    >>> score_stats(np.column_stack([x, np.ones(6)])).constant
    array([False,  True])
    """
    E = np.asarray(E, dtype=np.float64)
    constant = np.all(E == E[0], axis=0) if len(E) else np.ones(E.shape[1], dtype=bool)
    return _scores_to_stats(normal_scores(E), constant)


def _scores_to_stats(g: np.ndarray, constant: np.ndarray) -> LagStats:
    """The covariance snapshot CovParCorr reads, from scores g [n, D]."""
    n, dim = g.shape
    if n == 0:
        zero = np.zeros(dim)
        return LagStats(n=0.0, mean=zero, s1=zero, s2=np.zeros((dim, dim)), cov=np.zeros((dim, dim)),
                        dirty=np.zeros((0, dim)), constant=constant)
    mean = g.mean(axis=0)
    g = g - mean
    g[:, constant] = 0.0
    s2 = g.T @ g
    return LagStats(n=float(n), mean=mean, s1=g.sum(axis=0), s2=s2, cov=s2 / n,
                    dirty=np.zeros((0, dim)), constant=constant)


def lagged_embedding(lagcov: LaggedCovariance) -> np.ndarray:
    """The window's lagged rows [n_samples - L, D] from the raw samples (NaN kept).

    ``LaggedCovariance.embedding()`` is shifted by a reference value, and a shift can round
    two different values to one (a tie tigramite does not see), so ranks are taken here.

    >>> lc = LaggedCovariance(1, 4, 1).update_many(np.arange(6.0)[:, None])
    >>> lagged_embedding(lc)
    array([[3., 2.],
           [4., 3.],
           [5., 4.]])
    """
    s, L, T = lagcov.samples(), lagcov.max_lag, lagcov.n_samples
    if T <= L:
        return np.zeros((0, lagcov.dim))
    return np.concatenate([s[L - lag:T - lag] for lag in range(L + 1)], axis=1)


class CovRobustParCorr(CovParCorr):
    """tigramite's RobustParCorr tests, batched, from the lagged covariance of normal scores.

    Same methods as :class:`CovParCorr` (run_masks, run, test_one, clean_z, col, aic).
    ``n_degenerate`` counts the tests answered val 0, p 1 because X or Y is constant over the
    test's rows, X or Y lies in the span of Z (residual variance < 1e-12), or there are too
    few rows (df < 1).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400); X = np.column_stack([x, np.exp(x) + 0.1 * rng.normal(size=400)])
    >>> ci = CovRobustParCorr.from_lagcov(LaggedCovariance(2, 400, 0).update_many(X), n_vars=2)
    >>> val, p = ci.run([((0, 0), (1, 0), [])]); bool(val[0] > 0.95), ci.n_degenerate
    (True, 0)
    """

    def __init__(self, stats: LagStats, n_vars: int, embedding: np.ndarray | None = None) -> None:
        super().__init__(stats, n_vars)
        self._emb = embedding
        self._groups: dict[bytes, CovParCorr] = {}
        if embedding is not None:
            bad = ~np.isfinite(embedding)
            self._dirty = np.flatnonzero(bad.any(axis=1))
            self._bad = bad[self._dirty].astype(np.float64)

    @classmethod
    def from_embedding(cls, E: np.ndarray, n_vars: int) -> CovRobustParCorr:
        """The engine for a raw lagged embedding E [n, D] (NaN = missing).

        >>> E = np.array([[1.0, 0.0], [2.0, 1.0], [np.nan, 2.0], [4.0, np.nan], [5.0, 4.0]])
        >>> ci = CovRobustParCorr.from_embedding(E, n_vars=1)
        >>> ci.stats.n, ci.run([((0, -1), (0, 0), [])])[0].round(6)
        (3.0, array([1.]))
        """
        E = np.asarray(E, dtype=np.float64)
        clean = np.all(np.isfinite(E), axis=1)
        stats = score_stats(E[clean])
        return cls(stats, n_vars, None if clean.all() else E)

    @classmethod
    def from_lagcov(cls, lagcov: LaggedCovariance, n_vars: int) -> CovRobustParCorr:
        """The engine for the window a LaggedCovariance holds now (windowed mode only).

        >>> lc = LaggedCovariance(1, 30, 2).update_many(np.ones((40, 1)))
        >>> CovRobustParCorr.from_lagcov(lc, 1).test_one((0, 0), (0, -1), [])
        (0.0, 1.0)
        """
        if lagcov.forgetting is not None:
            raise ParameterError("RobustParCorr", "ranks need a sliding window, not forgetting")
        if lagcov.n_missing:
            return cls.from_embedding(lagged_embedding(lagcov), n_vars)
        return cls(_scores_to_stats(*window_scores(lagcov.samples(), lagcov.max_lag)), n_vars)

    def run_masks(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Test X = column cx given Y = column cy and Z = the columns set in zmask, in batches.

        >>> ci = CovRobustParCorr.from_embedding(np.ones((10, 2)), 1)
        >>> ci.run_masks(np.array([1]), np.array([0]), np.zeros((1, 2), dtype=bool)), ci.n_degenerate
        ((array([0.]), array([1.])), 1)
        """
        if self._emb is None:
            return self._settle(*super().run_masks(cx, cy, zmask))
        return self._settle(*self._run_by_rows(cx, cy, zmask))

    def _decides(self) -> bool:
        """run_decide may batch as ParCorr does when the window has no NaN (one rank transform)."""
        return self._emb is None

    def _decided(self, val: np.ndarray, df: np.ndarray) -> np.ndarray:
        """As :meth:`_settle`: a test whose p would be NaN (df < 1) is answered val 0."""
        return np.where(np.isfinite(val) & (df >= 1), val, 0.0)

    def test_one(self, x: Node, y: Node, z: Sequence[Node]) -> tuple[float, float]:
        """One test (PCMCI+'s sequential phases call this).

        >>> rng = np.random.default_rng(1); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0] ** 3
        >>> ci = CovRobustParCorr.from_lagcov(LaggedCovariance(2, 300, 1).update_many(X), 2)
        >>> v, p = ci.test_one((0, 0), (1, 0), [(0, -1)]); bool(v > 0.5 and p < 1e-10)
        True
        """
        if self._emb is None:
            val, pval = super().test_one(x, y, z)
        else:
            v, p = self._run_by_rows(*self.masks([(x, y, self.clean_z(x, y, z))]))
            val, pval = float(v[0]), float(p[0])
        if not (math.isfinite(val) and math.isfinite(pval)):
            val, pval = 0.0, 1.0
        return float(val), float(pval)

    def aic(self, j: int, parents: Sequence[Node]) -> float:
        """tigramite's RobustParCorr AIC of (j, 0) on its parents: ParCorr's, on the scores.

        >>> x = np.zeros(200); e = np.random.default_rng(0).normal(size=200)
        >>> for t in range(1, 200): x[t] = 0.8 * x[t - 1] + e[t]
        >>> ci = CovRobustParCorr.from_lagcov(LaggedCovariance(1, 200, 2).update_many(np.exp(x)[:, None]), 1)
        >>> bool(ci.aic(0, [(0, -1)]) < ci.aic(0, []))
        True
        """
        if self._emb is None:
            return super().aic(j, parents)
        cols = [self.col(node) for node in [(j, 0), *parents]]
        used = np.zeros(self.stats.cov.shape[0], dtype=bool)
        used[cols] = True
        local = np.cumsum(used) - 1
        engine = self._local(self._bad[:, used].sum(axis=1) == 0, used)
        return engine.aic(int(local[cols[0]]), [(0, -int(local[c])) for c in cols[1:]])

    def _run_by_rows(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tests grouped by the rows they keep (tigramite's per-test missing_flag), ranked per group."""
        b, dim = len(cx), self.stats.cov.shape[0]
        zm = np.zeros((b, dim), dtype=bool)
        zm[:, :zmask.shape[1]] = zmask
        cols = zm.copy()
        cols[np.arange(b), cx] = True
        cols[np.arange(b), cy] = True
        keys, group = np.unique(self._bad @ cols.T.astype(np.float64) == 0, axis=1, return_inverse=True)
        val, pval = np.zeros(b), np.ones(b)
        n, df, spanned = np.zeros(b, dtype=np.int64), np.zeros(b), np.zeros(b, dtype=bool)
        for k in range(keys.shape[1]):
            sel = np.flatnonzero(group.ravel() == k)
            used = cols[sel].any(axis=0)
            local = np.cumsum(used) - 1
            engine = self._local(keys[:, k], used)
            before = engine.n_degenerate
            val[sel], pval[sel] = engine.run_masks(local[cx[sel]], local[cy[sel]], zm[np.ix_(sel, used)])
            n[sel], df[sel], spanned[sel] = engine.last.n, engine.last.df, engine.last.degenerate  # pyright: ignore[reportOptionalMemberAccess]
            self.n_degenerate += engine.n_degenerate - before
        self.last = TestRows(n=n, df=df, degenerate=spanned)
        return val, pval

    def _local(self, keep: np.ndarray, used: np.ndarray) -> CovParCorr:
        """A ParCorr engine on the columns ``used`` only, ranked over the clean rows plus the kept
        dirty rows. Its column k is the k-th used column, node (0, -k) (n_vars 1)."""
        key = np.packbits(keep).tobytes() + np.packbits(used).tobytes()
        if key not in self._groups:
            rows = np.ones(len(self._emb), dtype=bool)
            rows[self._dirty[~keep]] = False
            self._groups[key] = CovParCorr(score_stats(self._emb[np.ix_(rows, used)]), n_vars=1)
        return self._groups[key]

    def _settle(self, val: np.ndarray, pval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Answer NaN (df < 1) as val 0, p 1 (ParCorr's count already holds them)."""
        bad = ~(np.isfinite(val) & np.isfinite(pval))
        return np.where(bad, 0.0, val), np.where(bad, 1.0, pval)
