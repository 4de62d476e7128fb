"""Sufficient statistics of the lagged embedding over a sliding window.

Row ``t`` of the embedding is ``[x_t, x_{t-1}, ..., x_{t-L}]`` (``L = 2 tau_max``), so
column ``lag * N + var`` holds variable ``var`` at lag ``lag``. tigramite's default
cut-off ('2xtau_max') uses exactly the rows whose oldest sample is inside the window:
``n = W - L`` rows. We keep, over the rows that hold no NaN, the count and the sums of
``r - ref`` and ``(r - ref)(r - ref)^T`` (float64, shifted by a per-variable reference
value so that the centring does not cancel), adding the rows that entered and removing
the rows that left: O(D^2) a sample, whatever the window. A sliding window folds its
samples in lazily: ``update`` only writes the ring buffer (``PENDING`` samples of slack
keep the rows that left readable), and the next read of the sums folds every row that
entered or left since in one rank-k update. Every ``window`` updates the sums are rebuilt
from the ring buffer, so rounding never accumulates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["LagStats", "LaggedCovariance", "PENDING"]

PENDING = 64
"""Samples a sliding window takes before it folds them into its sums (its buffer's slack)."""


@dataclass(frozen=True)
class LagStats:
    """A snapshot of the lagged statistics that the CI tests read.

    ``cov`` is over the clean rows; ``dirty`` holds the shifted rows that touch a NaN
    (NaN kept), so a test can add back the rows whose own columns are all finite, as
    tigramite's ``missing_flag`` does per test.

    >>> s = LaggedCovariance(1, 5, 1).update_many(np.arange(5.0)[:, None]).stats()
    >>> s.n, s.cov.shape
    (4.0, (2, 2))
    """

    n: float
    mean: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    cov: np.ndarray
    dirty: np.ndarray
    constant: np.ndarray


class LaggedCovariance:
    """Windowed (or exponentially forgetting) covariance of the lagged embedding.

    >>> lc = LaggedCovariance(n_vars=2, window=50, max_lag=2)
    >>> rng = np.random.default_rng(0)
    >>> _ = lc.update_many(rng.normal(size=(80, 2)))
    >>> lc.n_samples, lc.n_rows, lc.stats().cov.shape
    (50, 48.0, (6, 6))
    """

    def __init__(self, n_vars: int, window: int, max_lag: int, forgetting: float | None = None) -> None:
        if window <= max_lag + 1:
            raise ParameterError("LaggedCovariance", f"window must exceed max_lag + 1 = {max_lag + 1}, got {window}")
        if forgetting is not None and not 0.0 < forgetting < 1.0:
            raise ParameterError("LaggedCovariance", f"forgetting must be in (0, 1), got {forgetting}")
        self.n_vars = n_vars
        self.window = window
        self.max_lag = max_lag
        self.forgetting = forgetting
        self.dim = n_vars * (max_lag + 1)
        self._cap = window + (PENDING if forgetting is None else 0)  # ring slots: the window and the slack
        self._buf = np.zeros((self._cap, n_vars))
        self._miss = np.zeros(self._cap, dtype=bool)  # slot holds a NaN
        self._lags = np.arange(max_lag + 1)
        self.reset()

    def reset(self) -> LaggedCovariance:
        """Forget every sample (a drift restart).

        >>> LaggedCovariance(1, 5, 1).update(np.ones(1)).reset().n_samples
        0
        """
        self._buf[:] = 0.0
        self._miss[:] = False
        self.n_seen = 0
        self.n_samples = 0
        self.n_missing = 0
        self._since_rebuild = 0
        self._set_ref(np.zeros(self.n_vars))
        self._n = 0.0
        self._s1 = np.zeros(self.dim)
        self._s2 = np.zeros((self.dim, self.dim))
        self._synced = (0, 0)  # (first sample, samples seen) of the window the sums hold
        return self

    @property
    def n_rows(self) -> float:
        """Number of clean rows (effective number under forgetting).

        >>> LaggedCovariance(1, 5, 1).n_rows
        0.0
        """
        self._fold()
        return self._n

    def _row(self, t: int) -> np.ndarray | None:
        """Shifted row at time t, or None when it holds a NaN."""
        r = self._buf[(t - self._lags) % self._cap].ravel() - self._ref_row
        return r if np.isfinite(r).all() else None

    def update(self, x: np.ndarray) -> LaggedCovariance:
        """Take one sample [N] (NaN = missing); returns self.

        >>> LaggedCovariance(2, 5, 1).update(np.array([1.0, np.nan])).n_missing
        1
        """
        x = np.asarray(x, dtype=np.float64).reshape(self.n_vars)
        if self.n_samples == 0 and self.n_seen == 0:
            self._set_ref(np.where(np.isfinite(x), x, 0.0))
        if self.n_samples == self.window:  # the oldest sample leaves (a sliding window folds its row out later)
            self.n_missing -= int(self._miss[(self.n_seen - self.window) % self._cap])
            self.n_samples -= 1
        slot = self.n_seen % self._cap
        self._buf[slot] = x
        missing = not np.isfinite(x).all()
        self._miss[slot] = missing
        self.n_missing += missing
        self.n_seen += 1
        self.n_samples += 1
        if self.forgetting is not None:
            self._forget(self.forgetting)
        else:
            self._since_rebuild += 1
            if self._since_rebuild >= self.window:
                self.rebuild()
            elif self.n_seen - self._synced[1] >= PENDING:
                self._fold()
        return self

    def _forget(self, lam: float) -> None:
        """Exponential forgetting: scale the sums by ``lam`` and add the new row (no row leaves)."""
        if self.n_samples <= self.max_lag:
            return
        self._n, self._s1, self._s2 = lam * self._n, lam * self._s1, lam * self._s2
        r = self._row(self.n_seen - 1)
        if r is not None:
            self._n += 1.0
            self._s1 += r
            self._s2 += np.outer(r, r)

    def fold(self) -> LaggedCovariance:
        """Bring the sums up to the window now (reads do it themselves); returns self.

        >>> lc = LaggedCovariance(1, 10, 1).update_many(np.arange(4.0)[:, None])
        >>> lc._synced, lc.fold()._synced
        ((0, 0), (0, 4))
        """
        self._fold()
        return self

    def copy(self) -> LaggedCovariance:
        """An independent copy (its arrays copied, the sums folded first).

        >>> lc = LaggedCovariance(1, 10, 1).update_many(np.arange(4.0)[:, None]); c = lc.copy()
        >>> _ = lc.update(np.ones(1)); c.n_samples, lc.n_samples
        (4, 5)
        """
        self._fold()
        out = copy.copy(self)
        out._buf, out._miss, out._s1, out._s2 = self._buf.copy(), self._miss.copy(), self._s1.copy(), self._s2.copy()
        return out

    def _fold(self) -> None:
        """Bring the sums to the window now: add the rows that entered, remove those that left."""
        start, seen = self.n_seen - self.n_samples, self.n_seen
        old_start, old_seen = self._synced
        if self.forgetting is not None or (start, seen) == (old_start, old_seen):
            return
        L = self.max_lag
        # rows by their newest sample t (row t holds samples t - L..t); the sums hold t in
        # [start + L, seen - 1]
        gone = np.arange(old_start + L, min(old_seen, start + L))
        new = np.arange(max(old_seen, start + L), seen)
        t = np.concatenate([new, gone])
        if len(t):
            rows = self._buf[(t[:, None] - self._lags) % self._cap].reshape(len(t), self.dim) - self._ref_row
            clean = np.isfinite(rows).all(axis=1)
            sign = np.where(np.arange(len(t)) < len(new), 1.0, -1.0)[clean]
            rows = rows[clean]
            self._n += float(sign.sum())
            self._s1 += sign @ rows
            self._s2 += rows.T @ (rows * sign[:, None])
        self._synced = (start, seen)

    def _set_ref(self, ref: np.ndarray) -> None:
        self._ref = ref
        self._ref_row = np.tile(ref, self.max_lag + 1)

    def update_many(self, X: np.ndarray) -> LaggedCovariance:
        """Take a block [T, N] of samples, oldest first; returns self.

        >>> LaggedCovariance(1, 5, 1).update_many(np.zeros((7, 1))).n_samples
        5
        """
        for x in np.asarray(X, dtype=np.float64).reshape(-1, self.n_vars):
            self.update(x)
        return self

    def samples(self) -> np.ndarray:
        """The samples in the window, oldest first, as a copy [n_samples, N].

        >>> LaggedCovariance(1, 3, 1).update_many(np.arange(5.0)[:, None]).samples().ravel()
        array([2., 3., 4.])
        """
        start = self.n_seen - self.n_samples
        idx = (start + np.arange(self.n_samples)) % self._cap
        return self._buf[idx].copy()

    def embedding(self) -> np.ndarray:
        """The shifted lagged rows of the window [n_samples - L, D], NaN kept.

        >>> LaggedCovariance(1, 4, 1).update_many(np.arange(4.0)[:, None]).embedding().shape
        (3, 2)
        """
        s = self.samples() - self._ref
        L, T = self.max_lag, self.n_samples
        if T <= L:
            return np.zeros((0, self.dim))
        return np.concatenate([s[L - lag:T - lag] for lag in range(L + 1)], axis=1)

    def rebuild(self) -> LaggedCovariance:
        """Recompute the sums from the ring buffer around a fresh reference (windowed mode).

        >>> lc = LaggedCovariance(1, 10, 1).update_many(np.arange(6.0)[:, None])
        >>> before = lc.stats().cov.copy(); bool(np.allclose(lc.rebuild().stats().cov, before))
        True
        """
        if self.forgetting is not None:
            return self
        s = self.samples()
        if len(s):
            last = np.array([col[np.isfinite(col)][-1] if np.isfinite(col).any() else 0.0 for col in s.T])
            self._set_ref(last)
        e = self.embedding()
        e = e[np.all(np.isfinite(e), axis=1)]
        self._n = float(len(e))
        self._s1 = e.sum(axis=0)
        self._s2 = e.T @ e
        self._since_rebuild = 0
        self._synced = (self.n_seen - self.n_samples, self.n_seen)
        return self

    def _constant_columns(self, cov: np.ndarray) -> np.ndarray:
        """Columns whose values are all equal over the window's rows (exactly, from the buffer)."""
        raw2 = np.diag(cov) + (self._s1 / max(self._n, 1.0)) ** 2
        var = np.diag(cov)
        cand = np.flatnonzero(var <= 1e-14 * raw2 + 1e-300)
        const = np.zeros(self.dim, dtype=bool)
        if len(cand) == 0:
            return const
        if self.forgetting is not None:
            const[cand] = True
            return const
        s, L = self.samples(), self.max_lag
        for c in cand:
            lag, var_i = divmod(int(c), self.n_vars)
            vals = s[L - lag:self.n_samples - lag, var_i]
            vals = vals[np.isfinite(vals)]
            const[c] = len(vals) == 0 or bool(np.all(vals == vals[0]))
        return const

    def _dirty_rows(self) -> np.ndarray:
        if self.n_missing == 0 or self.forgetting is not None:
            return np.zeros((0, self.dim))
        e = self.embedding()
        return e[~np.all(np.isfinite(e), axis=1)]

    def stats(self) -> LagStats:
        """A snapshot for the CI tests: counts, sums, covariance, dirty rows, constant columns.

        >>> LaggedCovariance(1, 5, 1).update_many(np.ones((5, 1))).stats().constant
        array([ True,  True])
        """
        self._fold()
        n = self._n
        if n > 0:
            cov = (self._s2 - np.outer(self._s1, self._s1) / n) / n
        else:
            cov = np.zeros((self.dim, self.dim))
        mean = self._ref_row + (self._s1 / n if n > 0 else 0.0)
        return LagStats(n=n, mean=mean, s1=self._s1.copy(), s2=self._s2.copy(), cov=cov,
                        dirty=self._dirty_rows(), constant=self._constant_columns(cov))
