"""ParCorr with test-wise deletion, fast: every test on the rows where its own columns are observed.

A test's rows are those where all of X, Y and Z (at their lags) are observed, so each test
has its own sums. They are not summed test by test: a batch of tests is split by target
(column y) into a part A shared by all tests of that target (the columns every one of them
uses: y and, in PC1 and MCI, y's conditions) and a rest B (x and its shifted parents), and
the sums over the rows m(A) & m(B) of every (A, B) pair come from a few matrix products:
``n = M_A^T M_B``, ``s1``, ``s2`` blocks ``(M_A E_A)^T (M_B E_B)`` and so on, with E the
embedding (0 where missing) and M the masks. Each test then reads its covariance from its
pair's blocks and is solved as in :class:`CovParCorr`. Narrow and wide sets are paired apart
(padding grows the blocks quadratically), the symmetric blocks are summed once (upper
triangle), and a batch that uses few of its (A, B) pairs (PC1's later iterations) is summed
test by test in batched products instead. Equal to tigramite's ParCorr on each test's rows
(tests/test_causal_missing.py); constants are judged over the window.
"""

from __future__ import annotations

import numpy as np

from causalstream.models.causal.lagcov import LaggedCovariance, LagStats
from causalstream.models.causal.linkstatus import TestRows
from causalstream.models.causal.parcorr import RESIDUAL_FLOOR, CovParCorr, Node, t_pvalue

__all__ = ["MaskedParCorr"]

CHUNK = 64
"""B sets per matrix product of the s2 blocks (bounds the memory of the outer products)."""
PAIR_GAIN = 4.0
"""How much cheaper per value the pair products are than the direct sums (their gathers cost)."""
DIRECT_CELLS = 1 << 21
"""Values per chunk of the direct sums (bounds their memory)."""


class MaskedParCorr(CovParCorr):
    """ParCorr tests on each test's own observed rows, batched through shared masks.

    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
    >>> X[rng.random((300, 2)) < 0.2] = np.nan
    >>> ci = MaskedParCorr.from_lagcov(LaggedCovariance(2, 300, 2).update_many(X), 2)
    >>> val, p = ci.run([((0, -1), (1, 0), [(1, -1)])])
    >>> bool(val[0] > 0.5 and p[0] < 1e-10), int(ci.last.n[0]) < 296
    (True, True)
    """

    def __init__(self, stats: LagStats, n_vars: int, embedding: np.ndarray) -> None:
        super().__init__(stats, n_vars)
        observed = np.isfinite(embedding)
        R, D = embedding.shape
        self._E = np.zeros((R, D + 1))            # column D: padding, always observed, always 0
        self._E[:, :D] = np.where(observed, embedding, 0.0)
        self._O = np.ones((R, D + 1), dtype=bool)
        self._O[:, :D] = observed
        self._const = np.append(stats.constant, True)
        self._ET, self._OT = np.ascontiguousarray(self._E.T), np.ascontiguousarray(self._O.T)   # [D + 1, R]

    @classmethod
    def from_lagcov(cls, lagcov: LaggedCovariance, n_vars: int) -> MaskedParCorr:
        """The engine for the window a LaggedCovariance holds now.

        >>> lc = LaggedCovariance(1, 20, 1).update_many(np.arange(20.0)[:, None] % 5)
        >>> MaskedParCorr.from_lagcov(lc, 1).test_one((0, -1), (0, 0), [])[0] < 1
        True
        """
        return cls(lagcov.stats(), n_vars, lagcov.embedding())

    def test_one(self, x: Node, y: Node, z: list[Node]) -> tuple[float, float]:
        """One test (PCMCI+'s phases), as a batch of one.

        >>> lc = LaggedCovariance(2, 50, 0).update_many(np.ones((50, 2)))
        >>> MaskedParCorr.from_lagcov(lc, 2).test_one((0, 0), (1, 0), [])
        (0.0, 1.0)
        """
        val, pval = self.run([(x, y, z)])
        return float(val[0]), float(pval[0])

    def run_masks(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Test X = column cx given Y = column cy and Z = the columns set in zmask, each on its rows.

        >>> lc = LaggedCovariance(1, 30, 2).update_many(np.ones((30, 1)))
        >>> MaskedParCorr.from_lagcov(lc, 1).run_masks(np.array([1]), np.array([0]), np.zeros((1, 3), dtype=bool))
        (array([0.]), array([1.]))
        """
        b, D = len(cx), self._E.shape[1] - 1
        rows = np.arange(b)
        cols = np.zeros((b, D), dtype=bool)
        cols[:, :zmask.shape[1]] = zmask[:, :D]
        cols[rows, cx] = True
        cols[rows, cy] = True
        targets, ta = np.unique(cy, return_inverse=True)
        xs, tb = np.unique(cx, return_inverse=True)
        shared, by_x = _common(cols, ta, len(targets)), _common(cols, tb, len(xs))
        # MCI: every test is its target's part (y, y's parents) and its x's part (x, x's shifted
        # parents); PC1: y with the first conditions, and x. Tests with columns beyond both
        # parts pair their target's part with the rest of their columns instead.
        other = (cols & ~shared[ta] & ~by_x[tb]).any(axis=1)
        n, val, df = np.zeros(b), np.zeros(b), np.zeros(b)
        spanned = np.zeros(b, dtype=bool)
        for sel in (np.flatnonzero(~other), np.flatnonzero(other)):
            if len(sel) == 0:
                continue
            if other[sel[0]]:  # pyright: ignore[reportIndexIssue]
                rest = cols[sel] & ~shared[ta[sel]]
                packed = np.packbits(rest, axis=1)
                _, first, bgroup = np.unique(packed.view(f"V{packed.shape[1]}").ravel(), return_index=True,
                                             return_inverse=True)
                bsets, tbs = rest[first], bgroup.ravel()
            else:
                bsets, tbs = by_x, tb[sel]
            # wide and narrow sets apart (less padding: the s2 blocks grow with the square of it)
            wa, wb = shared.sum(axis=1)[ta[sel]], bsets.sum(axis=1)[tbs]
            band = 2 * (wa > max(1, wa.max() - 2)) + (wb > max(1, wb.max() - 2))
            for g in np.unique(band):
                part, sub = sel[band == g], band == g
                ua, ia = np.unique(ta[part], return_inverse=True)
                ub, ib = np.unique(tbs[sub], return_inverse=True)
                a_idx, b_idx = _padded(shared[ua], D), _padded(bsets[ub], D)
                (nA, ka), (nB, kb) = a_idx.shape, b_idx.shape
                # the pair products sum every (A, B) pair; direct sums only the batch's tests
                if PAIR_GAIN * len(part) * (ka + kb) ** 2 < nA * nB * (ka * ka + ka * kb + kb * kb):
                    n[part], s1, s2, col = self._direct(cols[part])
                else:
                    n[part], s1, s2, col = self._pair_sums(a_idx, b_idx, ia.ravel(), ib.ravel())
                val[part], df[part], spanned[part] = self._solve(n[part], s1, s2, col, cx[part], cy[part])
        return self._finish(val, df, spanned, n, cx, cy)

    def _finish(self, val: np.ndarray, df: np.ndarray, spanned: np.ndarray, n: np.ndarray, cx: np.ndarray,
                cy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p-values; constant X or Y answered val 0, p 1; ``last`` and ``n_degenerate`` kept."""
        live = ~(self._const[cx] | self._const[cy])
        pval = t_pvalue(val, df)
        val[~live], pval[~live], spanned[~live] = 0.0, 1.0, False
        self.last = TestRows(n=np.rint(n).astype(np.int64), df=df, degenerate=spanned)
        self.n_degenerate += int(np.count_nonzero(((val == 0.0) & (pval == 1.0)) | np.isnan(pval)))
        return val, pval

    def _direct(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per test, summed on its own rows (batched matrix products; for batches sparse in their pairs)."""
        col = _padded(cols, self._E.shape[1] - 1)
        b, d = col.shape
        n, s1, s2 = np.empty(b), np.empty((b, d)), np.empty((b, d, d))
        step = max(1, DIRECT_CELLS // (len(self._E) * d))
        for lo in range(0, b, step):
            c = col[lo:lo + step]
            keep = np.asarray(np.all(self._OT[c], axis=1))                  # [b, R]
            f = self._ET[c] * keep[:, None, :]                             # [b, d, R]
            n[lo:lo + step], s1[lo:lo + step] = keep.sum(axis=1), f.sum(axis=2)
            s2[lo:lo + step] = np.einsum("bkr,blr->bkl", f, f)
        return n, s1, s2, col

    def _pair_sums(self, a_idx: np.ndarray, b_idx: np.ndarray, ta: np.ndarray, tb: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per test: rows n, sums s1 [d] and s2 [d, d] over its columns (A part, then B part)."""
        ET, OT = self._ET, self._OT                                 # [D + 1, R], row-major per column
        R = ET.shape[1]
        (nA, ka), (nB, kb) = a_idx.shape, b_idx.shape
        EA, EB = ET[a_idx], ET[b_idx]                               # [n, k, R]
        MA = np.asarray(np.all(OT[a_idx], axis=1), dtype=np.float64)  # [n, R]
        MB = np.asarray(np.all(OT[b_idx], axis=1), dtype=np.float64)
        FA, FB = EA * MA[:, None, :], EB * MB[:, None, :]
        n = (MA @ MB.T)[ta, tb]
        s1a = (FA.reshape(-1, R) @ MB.T).reshape(nA, ka, nB)[ta, :, tb]
        s1b = (FB.reshape(-1, R) @ MA.T).reshape(nB, kb, nA)[tb, :, ta]
        saa = _sym_sums(FA, EA, MB)                                 # [nA, ka, ka, nB]
        sab = (FA.reshape(-1, R) @ FB.reshape(-1, R).T).reshape(nA, ka, nB, kb)
        sbb = np.empty((nB, kb, kb, nA))
        for lo in range(0, nB, CHUNK):
            hi = min(nB, lo + CHUNK)
            sbb[lo:hi] = _sym_sums(FB[lo:hi], EB[lo:hi], MA)
        d = ka + kb
        s2 = np.empty((len(ta), d, d))
        s2[:, :ka, :ka] = saa[ta, :, :, tb]
        s2[:, :ka, ka:] = sab[ta, :, tb, :]
        s2[:, ka:, :ka] = np.swapaxes(s2[:, :ka, ka:], 1, 2)
        s2[:, ka:, ka:] = sbb[tb, :, :, ta]
        return n, np.concatenate([s1a, s1b], axis=1), s2, np.concatenate([a_idx[ta], b_idx[tb]], axis=1)

    def _solve(self, n: np.ndarray, s1: np.ndarray, s2: np.ndarray, col: np.ndarray, cx: np.ndarray,
               cy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Partial correlation of x and y given the rest of each test's columns; df; span degeneracy."""
        b, d = col.shape
        rows = np.arange(b)
        px, py = np.argmax(col == cx[:, None], axis=1), np.argmax(col == cy[:, None], axis=1)
        isz = ~self._const[col]
        earlier = np.tril(np.ones((d, d), dtype=bool), -1)
        isz &= ~((col[:, :, None] == col[:, None, :]) & earlier).any(axis=2)   # a column's repeats
        isz[rows, px] = isz[rows, py] = False
        width = isz.sum(axis=1)
        # order [x, y, Z..., padding]: a stable sort on the key puts them there
        key = np.where(isz, 2, 3)
        key[rows, px], key[rows, py] = 0, 1
        order = np.argsort(key, axis=1, kind="stable")
        pad = np.take_along_axis(key, order, axis=1) == 3
        s2 = s2[rows[:, None, None], order[:, :, None], order[:, None, :]]
        s1 = np.take_along_axis(s1, order, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n[:, None]
            corr = s2                                          # a fresh gather: worked on in place
            corr /= n[:, None, None]
            corr -= mean[:, :, None] * mean[:, None, :]
            live = ~pad
            corr *= live[:, :, None]
            corr *= live[:, None, :]
            scale = 1.0 / np.sqrt(corr.reshape(b, d * d)[:, ::d + 1])
            corr *= scale[:, :, None]
            corr *= scale[:, None, :]
        np.nan_to_num(corr, copy=False)
        diag = corr.reshape(b, d * d)[:, ::d + 1]              # a view: padding is 1 there, 0 elsewhere
        diag[pad] = 1.0
        if d > 2:
            a, r = corr[:, 2:, 2:], corr[:, 2:, :2]
            try:
                sol = np.linalg.solve(a, r)
            except np.linalg.LinAlgError:
                sol = np.linalg.pinv(a) @ r
            m = corr[:, :2, :2] - np.swapaxes(r, 1, 2) @ sol
        else:
            m = corr
        spanned = ~((m[:, 0, 0] > RESIDUAL_FLOOR) & (m[:, 1, 1] > RESIDUAL_FLOOR))
        with np.errstate(invalid="ignore", divide="ignore"):
            val = np.clip(m[:, 0, 1] / np.sqrt(m[:, 0, 0] * m[:, 1, 1]), -1.0, 1.0)
        return np.where(spanned, 0.0, val), n - 2.0 - width, spanned

    def _sub_cov(self, idx: np.ndarray, pad: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Covariance submatrices over each test's own observed rows (for the AIC), one by one."""
        subs, ns = [], []
        for cols in idx:
            keep = self._O[:, cols].all(axis=1)
            e = self._E[keep][:, cols]
            k = max(len(e), 1)
            mean = e.sum(axis=0) / k
            subs.append((e - mean).T @ (e - mean) / k)
            ns.append(float(len(e)))
        return np.array(subs), np.array(ns)


def _sym_sums(F: np.ndarray, E: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Per set s and mask m: sum over rows r of F[s, k, r] E[s, l, r] M[m, r], [S, k, k, n_masks] (symmetric).

    >>> F = np.arange(6.0).reshape(1, 2, 3); _sym_sums(F, F, np.ones((1, 3)))[0, :, :, 0].tolist()
    [[5.0, 14.0], [14.0, 50.0]]
    """
    S, k, R = F.shape
    iu, ju = np.triu_indices(k)
    half = ((F[:, iu] * E[:, ju]).reshape(-1, R) @ M.T).reshape(S, len(iu), len(M))
    out = np.empty((S, k, k, len(M)))
    out[:, iu, ju], out[:, ju, iu] = half, half
    return out


def _common(cols: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """Per group 0..k-1 of tests (every group present): the columns every test of the group uses [k, D]."""
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(k))
    return np.logical_and.reduceat(cols[order], starts, axis=0)


def _padded(sets: np.ndarray, pad: int) -> np.ndarray:
    """Column lists of boolean rows [n, D], padded with column ``pad`` to a common width (>= 1)."""
    width = max(1, int(sets.sum(axis=1).max(initial=0)))
    out = np.full((len(sets), width), pad, dtype=np.intp)
    r, c = np.nonzero(sets)
    pos = np.arange(len(r)) - np.repeat(np.cumsum(sets.sum(axis=1)) - sets.sum(axis=1), sets.sum(axis=1))
    out[r, pos] = c
    return out
