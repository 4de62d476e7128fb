"""ParCorr conditional-independence tests computed from the lagged covariance, in batches.

tigramite's ParCorr standardises X, Y, Z, regresses X and Y on Z by least squares and
takes the Pearson correlation of the residuals; the p-value is Student's t with
``df = n - 2 - |Z|``. The same number is the correlation of the residual covariance
``C_xy|Z = C_xy - C_xZ C_ZZ^-1 C_Zy``, so a test costs one small solve on a
covariance submatrix. Tests of equal ``|Z|`` are stacked and solved together.

tigramite's details kept: nodes of Z equal to X or Y are dropped, Z is de-duplicated;
a constant X or Y gives val 0, p 1 (not dependent); constant Z components are dropped
(and so do not count in df); ``|val| == 1`` gives p 0; ``df < 1`` gives p NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from causalstream.models.causal.lagcov import LagStats
from causalstream.models.causal.linkstatus import TestRows, as_zmask
from causalstream.models.causal.pvalues import significant, t_pvalue, t_pvalue_one

__all__ = ["Node", "CovParCorr", "significant", "t_pvalue"]  # the p-values (pvalues.py) where they always were

RESIDUAL_FLOOR = 1e-12
"""Residual variance (in correlation units) below which a test is numerically degenerate."""

Node = tuple[int, int]
"""A lagged variable as tigramite writes it: (variable, -lag)."""


class CovParCorr:
    """Batched partial-correlation tests on a :class:`LagStats` snapshot.

    ``n_degenerate`` counts the tests answered without a finding: val 0 and p 1 (X or Y
    constant, or inside the span of Z), or p NaN (fewer rows than conditions, as tigramite).
    ``last`` (linkstatus.TestRows) holds the rows, df and span degeneracy of the last call's tests.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(300, 1)); X = np.hstack([x, x + 0.1 * rng.normal(size=(300, 1))])
    >>> ci = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), n_vars=2)
    >>> val, p = ci.run([((0, 0), (1, 0), [])])
    >>> bool(val[0] > 0.9 and p[0] < 1e-10)
    True
    """

    def __init__(self, stats: LagStats, n_vars: int) -> None:
        self.stats = stats
        self.n_vars = n_vars
        self.n_degenerate = 0
        self.last: TestRows | None = None
        self._corr: np.ndarray | None = None

    def _padded_corr(self) -> np.ndarray:
        """Correlation matrix of the clean rows, bordered by an identity block for padding.

        Column D + q is a unit-variance dimension uncorrelated with everything, so padding
        a test's Z with such columns leaves its partial correlation unchanged.
        """
        if self._corr is None:
            cov = self.stats.cov
            dim = len(cov)
            d = np.sqrt(np.diag(cov))
            d = np.where(d > 0, d, 1.0)
            ext = np.eye(dim + _pow2(dim))
            ext[:dim, :dim] = cov / np.outer(d, d)
            self._corr = ext
        return self._corr

    def col(self, node: Node) -> int:
        """Embedding column of a node (variable, -lag).

        >>> CovParCorr(None, n_vars=3).col((2, -1))
        5
        """
        return -node[1] * self.n_vars + node[0]

    def clean_z(self, x: Node, y: Node, z: Sequence[Node]) -> list[Node]:
        """Z as tigramite's construct_array leaves it: de-duplicated, without X and Y.

        >>> CovParCorr(None, 2).clean_z((0, -1), (1, 0), [(0, -1), (1, -1), (1, -1)])
        [(1, -1)]
        """
        out: list[Node] = []
        for node in z:
            node = (int(node[0]), int(node[1]))
            if node != x and node != y and node not in out:
                out.append(node)
        return out

    def masks(self, tests: Sequence[tuple[Node, Node, Sequence[Node]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tests as column arrays: x [B], y [B] and a Z mask [B, D].

        >>> cx, cy, zm = CovParCorr(None, 2).masks([((0, -1), (1, 0), [(1, -1)])]); cx, cy, np.flatnonzero(zm[0])
        (array([2]), array([1]), array([3]))
        """
        n = self.n_vars
        cx = np.array([-x[1] * n + x[0] for x, _, _ in tests], dtype=np.intp)
        cy = np.array([-y[1] * n + y[0] for _, y, _ in tests], dtype=np.intp)
        width = max([n] + [-lag * n + v + 1 for _, _, z in tests for v, lag in z])
        zmask = np.zeros((len(tests), max(width, int(cx.max(initial=0)) + 1)), dtype=bool)
        rows = [k for k, (_, _, z) in enumerate(tests) for _ in z]
        cols = [-lag * n + v for _, _, z in tests for v, lag in z]
        zmask[rows, cols] = True
        return cx, cy, zmask

    def run(self, tests: Sequence[tuple[Node, Node, Sequence[Node]]]) -> tuple[np.ndarray, np.ndarray]:
        """Test each (X, Y, Z); returns (val, pval) arrays in the order given.

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> ci = CovParCorr(LaggedCovariance(2, 20, 0).update_many(np.ones((20, 2))).stats(), 2)
        >>> ci.run([((0, 0), (1, 0), [])])
        (array([0.]), array([1.]))
        """
        if len(tests) == 0:
            return np.zeros(0), np.ones(0)
        return self.run_masks(*self.masks(tests))

    def run_masks(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Test X = column cx given Y = column cy and Z = the columns set in zmask, in batches.

        The order of Z does not change a partial correlation, so Z is taken in column order.

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> ci = CovParCorr(LaggedCovariance(1, 30, 2).update_many(np.ones((30, 1))).stats(), 1)
        >>> ci.run_masks(np.array([1]), np.array([0]), np.zeros((1, 3), dtype=bool))
        (array([0.]), array([1.]))
        """
        val, df, live = self._tests(cx, cy, zmask)
        pval = t_pvalue(val, df)
        if live is not None:
            pval[~live] = 1.0
        self.n_degenerate += int(np.count_nonzero(((val == 0.0) & (pval == 1.0)) | np.isnan(pval)))
        return val, pval

    def run_decide(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray, alpha: float
                   ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`run_masks`' val and, for p, only whether p <= alpha (PC1's question): |val| against
        the critical correlation of each df, the exact p near it. ``last`` and ``n_degenerate`` as
        run_masks leaves them. ``zmask`` may also be a table [B, d] of each test's d distinct Z
        columns (PC1's: no mask built and read back).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 2)); X[1:, 1] += 0.3 * X[:-1, 0]
        >>> ci = CovParCorr(LaggedCovariance(2, 200, 2).update_many(X).stats(), 2)
        >>> cx, cy, zm = np.array([2, 3]), np.array([1, 1]), np.zeros((2, 6), bool)
        >>> val, keep = ci.run_decide(cx, cy, zm, 0.05); keep.tolist(), (ci.run_masks(cx, cy, zm)[1] <= 0.05).tolist()
        ([True, False], [True, False])
        """
        if not self._decides() or not 0.0 < alpha < 1.0:   # a subclass's own tests, or every p counts
            val, pval = self.run_masks(cx, cy, as_zmask(zmask, len(self.stats.constant)))
            return val, pval <= alpha
        val, df, _ = self._tests(cx, cy, zmask)
        # p NaN (df < 1) or p 1 (val 0: constant X or Y, or Z spans them): no finding. A constant
        # X or Y has val 0, never at the critical correlation (> 0)
        self.n_degenerate += int(np.count_nonzero((val == 0.0) | ~(df >= 1) | np.isnan(val)))
        return self._decided(val, df), significant(val, df, alpha)

    def _decides(self) -> bool:
        """Whether :meth:`run_decide` may use this class's own batch (not a subclass's run_masks)."""
        return type(self).run_masks is CovParCorr.run_masks

    def _decided(self, val: np.ndarray, df: np.ndarray) -> np.ndarray:
        """The val that run_masks would give for these tests (a subclass may settle some)."""
        return val

    def _tests(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The batch's partial correlations, df and which tests have X and Y not constant (None: all)."""
        const = self.stats.constant
        b, dim = len(cx), len(const)
        if zmask.dtype != np.bool_:   # a table of Z columns
            if not const.any() and not (zmask.shape[1] and ((zmask == cx[:, None]) | (zmask == cy[:, None])).any()):
                return self._tests_table(cx, cy, zmask)
            zmask = as_zmask(zmask, dim)   # constants to drop, or X / Y in Z: the mask's path
        zm = np.zeros((b, dim), dtype=bool)
        zm[:, :zmask.shape[1]] = zmask
        rows = np.arange(b)
        zm[rows, cx] = False
        zm[rows, cy] = False
        live = None
        if const.any():
            zm &= ~const
            live = ~(const[cx] | const[cy])
        width = zm.sum(axis=1)
        # Pad each test's Z to a power of two with identity dimensions (uncorrelated with
        # everything, so the Schur complement is unchanged): few batches, few solves. Each
        # test's Z columns in ascending order, then distinct padding columns (>= dim).
        bucket = _bucket_sizes(dim)[width]
        sizes = np.flatnonzero(np.bincount(bucket if live is None else bucket[live], minlength=1)).tolist()
        ztab = np.zeros((b, 0), dtype=np.intp)
        if sizes and sizes[-1]:
            r, c = zm.nonzero()
            ztab = np.empty((b, sizes[-1]), dtype=np.intp)
            ztab[:] = _columns(dim, sizes[-1])[dim:dim + sizes[-1]]
            ztab[r, np.arange(len(r)) - (np.cumsum(width) - width)[r]] = c
        if len(sizes) == 1 and live is None:   # one batch: every test
            val, n, spanned = self._batch(cx, cy, ztab)
        else:
            val, n = np.zeros(b), np.full(b, float(self.stats.n))
            spanned = np.zeros(b, dtype=bool)
            for size in sizes:
                sel = np.flatnonzero(bucket == size) if live is None else np.flatnonzero(live & (bucket == size))
                val[sel], n[sel], spanned[sel] = self._batch(cx[sel], cy[sel], ztab[sel, :size])
        if len(self.stats.dirty) and live is not None and not live.all():
            n[~live] = self._row_counts(cx[~live], cy[~live], zm[~live])
        df = n - 2.0 - width
        self.last = TestRows(n=np.rint(n).astype(np.int64), df=df, degenerate=spanned)
        return val, df, live

    def _tests_table(self, cx: np.ndarray, cy: np.ndarray, zc: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        """:meth:`_tests` for a table of d distinct Z columns per test, none constant, X or Y: one
        batch, Z ascending and padded as the mask's path pads it (the same submatrices)."""
        dim, d = len(self.stats.constant), zc.shape[1]
        size = int(_bucket_sizes(dim)[d])
        ztab = np.empty((len(cx), size), dtype=np.intp)
        ztab[:, :d] = np.sort(zc, axis=1)
        ztab[:, d:] = _columns(dim, size)[dim + d:dim + size]
        val, n, spanned = self._batch(cx, cy, ztab)
        df = n - 2.0 - d
        self.last = TestRows(n=np.rint(n).astype(np.int64), df=df, degenerate=spanned)
        return val, df, None

    def test_one(self, x: Node, y: Node, z: Sequence[Node]) -> tuple[float, float]:
        """One test, without the batching machinery (PCMCI+'s sequential phases call this).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> rng = np.random.default_rng(1); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
        >>> ci = CovParCorr(LaggedCovariance(2, 300, 1).update_many(X).stats(), 2)
        >>> v, p = ci.test_one((0, 0), (1, 0), [(0, -1)]); bool(v > 0.5 and p < 1e-10)
        True
        """
        if len(self.stats.dirty):
            val, pval = self.run([(x, y, z)])
            return float(val[0]), float(pval[0])
        const = self.stats.constant
        cx, cy = self.col(x), self.col(y)
        cz = [c for c in dict.fromkeys(self.col(node) for node in z) if c != cx and c != cy and not const[c]]
        self.last = TestRows.full(1, self.stats.n, np.array([len(cz)]))
        if const[cx] or const[cy]:
            self.n_degenerate += 1
            return 0.0, 1.0
        idx = np.array([cx, cy] + cz)
        r = self._padded_corr()[idx[:, None], idx]
        if cz:
            b = r[2:, :2]
            r = r[:2, :2] - b.T @ np.linalg.solve(r[2:, 2:], b)
        if not (r[0, 0] > RESIDUAL_FLOOR and r[1, 1] > RESIDUAL_FLOOR):
            self.n_degenerate += 1
            self.last = TestRows.full(1, self.stats.n, np.array([len(cz)]), np.array([True]))
            return 0.0, 1.0
        val = float(min(1.0, max(-1.0, r[0, 1] / np.sqrt(r[0, 0] * r[1, 1]))))
        pval = t_pvalue_one(val, self.stats.n - 2.0 - len(cz))
        self.n_degenerate += int(not np.isfinite(pval))
        return val, pval

    def aic(self, j: int, parents: Sequence[Node]) -> float:
        """tigramite's ParCorr AIC of regressing (j, 0) on its parents: n log(rss) + 2 (|Z| + 1).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> ci = CovParCorr(LaggedCovariance(1, 50, 2).update_many(np.arange(50.0)[:, None] % 7).stats(), 1)
        >>> bool(ci.aic(0, [(0, -1)]) < ci.aic(0, []))
        True
        """
        cy = self.col((j, 0))
        cz = [self.col(node) for node in self.clean_z((j, 0), (j, 0), parents)]
        idx = np.array([[cy, cy] + cz])
        sub, n = self._sub_cov(idx)
        sub, n = sub[0], float(n[0])
        keep = ~self.stats.constant[idx[0]]
        d = np.sqrt(np.where(keep, np.diag(sub), 1.0))
        corr = np.where(np.outer(keep, keep), sub / np.outer(d, d), 0.0)
        if not keep[0]:
            rss = 0.0
        else:
            b = corr[2:, 1]
            rss = n * (1.0 - float(b @ np.linalg.pinv(corr[2:, 2:]) @ b)) if len(b) else n
        with np.errstate(divide="ignore"):
            return float(n * np.log(rss) + 2.0 * (len(cz) + 1))

    def _batch(self, cx: np.ndarray, cy: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Partial correlations of a batch of tests of equal (padded) width, their row counts, and
        which had X or Y inside the span of Z. ``z`` [B, k]: Z's columns, padding columns >= D."""
        k = z.shape[1]
        if len(self.stats.dirty):
            return self._batch_solve(cx, cy, z)
        ext = self._padded_corr()
        flat, w = ext.ravel(), len(ext)
        n = np.full(len(cx), self.stats.n)
        if k == 0:
            m00, m11, m01 = flat[cx * (w + 1)], flat[cy * (w + 1)], flat[cx * w + cy]
        elif k == 1:  # one condition: the solve is a division (in _batch_solve's order of operations)
            zz = z[:, 0]
            czx, czy, czz = flat[zz * w + cx], flat[zz * w + cy], flat[zz * (w + 1)]
            m00 = flat[cx * (w + 1)] - czx * (czx / czz)
            m11 = flat[cy * (w + 1)] - czy * (czy / czz)
            m01 = flat[cx * w + cy] - czx * (czy / czz)
        else:
            # the Cholesky factor of [[ZZ, Zxy], [xyZ, xy]] (Z first) ends in the factor of the
            # Schur complement S = C_xy|Z: S00 = l00^2, S01 = l00 l10, S11 = l10^2 + l11^2
            idx = np.empty((len(cx), k + 2), dtype=np.intp)
            idx[:, :k], idx[:, k], idx[:, k + 1] = z, cx, cy
            corr = ext.take(idx[:, :, None] * len(ext) + idx[:, None, :])
            try:
                low = np.linalg.cholesky(corr)
            except np.linalg.LinAlgError:   # Z (or Z and X or Y) singular: the solve settles it
                return self._batch_solve(cx, cy, z)
            l00, l10, l11 = low[:, k, k], low[:, k + 1, k], low[:, k + 1, k + 1]
            m00, m11, m01 = l00 * l00, l10 * l10 + l11 * l11, l00 * l10
        return self._finish_batch(m00, m11, m01, n)

    @staticmethod
    def _finish_batch(m00: np.ndarray, m11: np.ndarray, m01: np.ndarray, n: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # X or Y (numerically) inside the span of Z: no residual left to correlate; report
        # independence rather than a NaN (tigramite would correlate rounding noise).
        degenerate = ~((m00 > RESIDUAL_FLOOR) & (m11 > RESIDUAL_FLOOR))
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.minimum(np.maximum(m01 / np.sqrt(m00 * m11), -1.0), 1.0)   # np.clip, without its wrappers
        val[degenerate] = 0.0
        return val, n, degenerate

    def _batch_solve(self, cx: np.ndarray, cy: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_batch` by a solve on Z's block: the rows of each test (NaN in the window), one
        condition, or a Z that a Cholesky factor does not take."""
        dim = len(self.stats.constant)
        idx = np.empty((len(cx), z.shape[1] + 2), dtype=np.intp)
        idx[:, 0], idx[:, 1], idx[:, 2:] = cx, cy, z
        pad = idx >= dim
        if len(self.stats.dirty) == 0:
            ext = self._padded_corr()
            corr, n = ext.take(idx[:, :, None] * len(ext) + idx[:, None, :]), np.full(len(idx), self.stats.n)
        else:
            sub, n = self._sub_cov(np.where(pad, 0, idx), pad)
            sub = np.where(pad[:, :, None] | pad[:, None, :], np.eye(idx.shape[1]), sub)
            d = np.sqrt(np.einsum("bii->bi", sub))
            with np.errstate(invalid="ignore", divide="ignore"):   # no rows: NaN, answered as tigramite
                corr = sub / (d[:, :, None] * d[:, None, :])
        if idx.shape[1] == 2:
            m = corr
        elif idx.shape[1] == 3:  # one condition: the solve is a division
            b = corr[:, 2:, :2]
            m = corr[:, :2, :2] - np.swapaxes(b, 1, 2) @ (b / corr[:, 2:, 2:])
        else:
            a, b = corr[:, 2:, 2:], corr[:, 2:, :2]
            try:
                sol = np.linalg.solve(a, b)
            except np.linalg.LinAlgError:
                sol = np.linalg.pinv(a) @ b
            m = corr[:, :2, :2] - np.swapaxes(b, 1, 2) @ sol
        return self._finish_batch(m[:, 0, 0], m[:, 1, 1], m[:, 0, 1], n)

    def _row_counts(self, cx: np.ndarray, cy: np.ndarray, zm: np.ndarray) -> np.ndarray:
        """Rows in which every column of each test (x, y, Z) is observed."""
        cols = zm.copy()
        cols[np.arange(len(cx)), cx] = True
        cols[np.arange(len(cx)), cy] = True
        missing = (~np.isfinite(self.stats.dirty)).astype(np.float64)
        return self.stats.n + np.count_nonzero(missing @ cols.T.astype(np.float64) == 0, axis=0)

    def _sub_cov(self, idx: np.ndarray, pad: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Covariance submatrices [B, d, d] over each test's rows, and the row counts [B].

        With NaN in the window, a test also uses the rows that touch a NaN only outside its
        own columns (tigramite's missing_flag works per test): those rows are added back.
        """
        st = self.stats
        ii, jj = idx[:, :, None], idx[:, None, :]
        if len(st.dirty) == 0:
            return st.cov[ii, jj], np.full(len(idx), st.n)
        rows = st.dirty[:, idx]                              # [m, B, d]
        fin = np.isfinite(rows) if pad is None else np.isfinite(rows) | pad[None]
        ok = np.all(fin, axis=2)                             # [m, B]
        rows = np.where(ok[:, :, None] & np.isfinite(rows), rows, 0.0)
        n = st.n + ok.sum(axis=0)
        s1 = st.s1[idx] + rows.sum(axis=0)
        s2 = st.s2[ii, jj] + np.einsum("mbi,mbj->bij", rows, rows)
        sub = (s2 - s1[:, :, None] * s1[:, None, :] / n[:, None, None]) / n[:, None, None]
        return sub, n


def _pow2(k: np.ndarray | int) -> np.ndarray:
    """Smallest power of two >= k (k >= 1)."""
    return 2 ** np.ceil(np.log2(k)).astype(int)


@lru_cache(maxsize=64)
def _columns(dim: int, top: int) -> np.ndarray:
    """Sort keys of a test's columns: 0..dim-1 (Z), then padding columns dim.., enough for ``top``.

    >>> _columns(3, 4).tolist()
    [0, 1, 2, 3, 4, 5, 6]
    """
    out = np.arange(dim + max(dim, top), dtype=np.intp)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=64)
def _bucket_sizes(dim: int) -> np.ndarray:
    """Padded width of a test by its number of conditions 0..dim: 0, then powers of two."""
    out = np.zeros(dim + 1, dtype=int)
    out[1:] = _pow2(np.arange(1, dim + 1))
    out.flags.writeable = False
    return out
