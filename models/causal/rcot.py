"""RCoT: a kernel conditional-independence test read off the moments of random Fourier features.

Strobl, Zhang and Visweswaran (2019) approximate KCIT with random Fourier features: regress
the features of X and of Y on those of Z, and test the residual cross-covariance
``C = S_xy - S_xz S_zz^-1 S_zy`` with the statistic ``n ||C||_F^2``. Here every embedding
column (variable, lag) owns a block of ``f`` standardised features (see
:mod:`causalstream.models.causal.fourier`), so a test needs only the feature correlation
matrix of the window: the blocks of X, Y and Z, a ridge solve on ``S_zz`` (batched, Z padded
with identity blocks to a power of two, as :class:`CovParCorr` does) and a Schur complement.

Null: under H0 ``sqrt(n) vec(C)`` is asymptotically normal with covariance
``S_xx|z (x) S_yy|z``, so the statistic is a weighted sum of chi2(1) whose weights are the
products of the eigenvalues of the two residual covariances. Its mean is
``tr S_xx|z tr S_yy|z`` and its variance ``2 ||S_xx|z||_F^2 ||S_yy|z||_F^2``: second moments
only, matched by a gamma (Satterthwaite-Welch). The regression spends ``p = |Z| f + 1``
degrees of freedom, so the residual moments are scaled by ``n / (n - p)`` (their unbiased
estimates) and the statistic is ``(n - p) ||C n / (n - p)||_F^2``; without this the test is
anti-conservative at windows of a few hundred rows.

``val`` is sqrt of the RV coefficient of the residual features,
``||C||_F / sqrt(||S_xx|z||_F ||S_yy|z||_F)`` square-rooted: in [0, 1], comparable across
tests of any |Z|, and with the raw value alone (f = 1) exactly |partial correlation|.

Limits, measured (tests/test_causal_rcot.py): Z's features are per column, so the regression
on Z is additive over Z's columns with ``f`` features each. At the coupling of tigramite's
toy models (a nonlinear function of the drivers of about the noise's size), one and two
common drivers are calibrated. When X and Y are nearly deterministic functions of Z (noise a
third of the signal), ``f`` features per column cannot regress X's features on Z closely
enough and the false-positive rate of X_t _||_ Y_t | Z_{t-1} rises to 0.6-0.7 at W=300
(0.2-0.5 at bandwidth 1), while X_{t-1} _||_ Y_t | Z_{t-1}, Z_{t-2} stays at 0.05; RCoT's own
joint features of Z (100 of them, in a numpy re-implementation) also over-reject there
(0.07-0.28).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincc

from causalstream.models.causal.parcorr import CovParCorr, Node
from causalstream.models.errors import ParameterError

__all__ = ["FeatureStats", "RCoT"]

RIDGE = 1e-6
"""Ridge on the (unit-diagonal) Z-feature correlation block."""
RESIDUAL_FLOOR = 1e-9
"""Residual feature variance (per feature, correlation units) below which X or Y lies in Z's span."""


@dataclass(frozen=True)
class FeatureStats:
    """A snapshot of the windowed feature moments that :class:`RCoT` reads.

    ``cov`` is the covariance of the feature rows [D f, D f] (column (lag, var) owns
    features ``c f .. c f + f - 1``, c = lag N + var); ``constant`` marks embedding columns
    whose variable is constant over the window, ``degenerate`` those whose variable is
    constant, binary or heavily tied.

    >>> FeatureStats(n=10.0, cov=np.eye(4), n_features=2, constant=np.zeros(2, bool), degenerate=np.zeros(2, bool)).dim
    2
    """

    n: float
    cov: np.ndarray
    n_features: int
    constant: np.ndarray
    degenerate: np.ndarray

    @property
    def dim(self) -> int:
        """Number of embedding columns D.

        >>> FeatureStats(1.0, np.eye(6), 3, np.zeros(2, bool), np.zeros(2, bool)).dim
        2
        """
        return len(self.constant)


class RCoT:
    """Batched RCoT tests on a :class:`FeatureStats` snapshot, with :class:`CovParCorr`'s methods.

    ``n_degenerate`` counts the tests answered val 0, p 1 because X or Y is constant, binary
    or heavily tied, because the window has too few rows for the test's features, or
    because X or Y lies in the span of Z.

    >>> from causalstream.models.causal.fourier import FourierFeatures
    >>> rng = np.random.default_rng(0); z = rng.normal(size=400)
    >>> X = np.stack([z, np.cos(2 * z) + 0.3 * rng.normal(size=400)], axis=1)
    >>> eng = FourierFeatures(2, 400, 0, seed=0).update_many(X).engine()
    >>> val, p = eng.run([((0, 0), (1, 0), [])])
    >>> bool(p[0] < 1e-4), eng.n_degenerate
    (True, 0)
    """

    def __init__(self, stats: FeatureStats, n_vars: int, ridge: float = RIDGE) -> None:
        self.stats = stats
        self.n_vars = n_vars
        self.ridge = ridge
        self.n_degenerate = 0
        self._parcorr = CovParCorr(None, n_vars)   # column bookkeeping only
        self._corr: np.ndarray | None = None

    def col(self, node: Node) -> int:
        """Embedding column of a node (variable, -lag).

        >>> RCoT(None, n_vars=3).col((2, -1))
        5
        """
        return self._parcorr.col(node)

    def clean_z(self, x: Node, y: Node, z: Sequence[Node]) -> list[Node]:
        """Z de-duplicated, without X and Y (as tigramite's construct_array leaves it).

        >>> RCoT(None, 2).clean_z((0, -1), (1, 0), [(0, -1), (1, -1), (1, -1)])
        [(1, -1)]
        """
        return self._parcorr.clean_z(x, y, z)

    def run(self, tests: Sequence[tuple[Node, Node, Sequence[Node]]]) -> tuple[np.ndarray, np.ndarray]:
        """Test each (X, Y, Z); returns (val, pval) arrays in the order given.

        >>> from causalstream.models.causal.fourier import FourierFeatures
        >>> eng = FourierFeatures(2, 50, 0).update_many(np.ones((50, 2))).engine()
        >>> eng.run([((0, 0), (1, 0), [])]), eng.n_degenerate
        ((array([0.]), array([1.])), 1)
        """
        if len(tests) == 0:
            return np.zeros(0), np.ones(0)
        return self.run_masks(*self._parcorr.masks(tests))

    def test_one(self, x: Node, y: Node, z: Sequence[Node]) -> tuple[float, float]:
        """One test (PCMCI+'s sequential phases call this).

        >>> from causalstream.models.causal.fourier import FourierFeatures
        >>> rng = np.random.default_rng(1); X = rng.normal(size=(300, 2))
        >>> v, p = FourierFeatures(2, 300, 1).update_many(X).engine().test_one((0, 0), (1, 0), [(0, -1)])
        >>> bool(0 <= v < 0.3 and p > 0.01)
        True
        """
        val, pval = self.run([(x, y, z)])
        return float(val[0]), float(pval[0])

    def aic(self, j: int, parents: Sequence[Node]) -> float:
        """Not available: RCoT has no model-selection score, so pc_alpha=None cannot be served.

        >>> RCoT(None, 1).aic(0, [])
        Traceback (most recent call last):
        ...
        causalstream.models.errors.ParameterError: rcot: pc_alpha=None (AIC selection) is not supported for rcot, give a pc_alpha
        """
        raise ParameterError("rcot", "pc_alpha=None (AIC selection) is not supported for rcot, give a pc_alpha")

    def run_masks(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Test X = column cx given Y = column cy and Z = the columns set in zmask, in batches.

        >>> from causalstream.models.causal.fourier import FourierFeatures
        >>> rng = np.random.default_rng(0); z = rng.normal(size=500)
        >>> X = np.stack([z, np.abs(z) + 0.5 * rng.normal(size=500), np.cos(z) + 0.5 * rng.normal(size=500)], axis=1)
        >>> eng = FourierFeatures(3, 500, 0, seed=1).update_many(X).engine()
        >>> zm = np.zeros((2, 3), bool); zm[1, 0] = True            # test 2: given column 0 (z)
        >>> val, p = eng.run_masks(np.array([1, 1]), np.array([2, 2]), zm)
        >>> bool(p[0] < 1e-6 and p[1] > 0.01)
        True
        """
        st, f = self.stats, self.stats.n_features
        b, dim = len(cx), st.dim
        if zmask.shape[1] >= dim:
            zm = zmask[:, :dim] & ~st.constant
        else:
            zm = np.zeros((b, dim), dtype=bool)
            zm[:, :zmask.shape[1]] = zmask
            zm &= ~st.constant
        rows = np.arange(b)
        zm[rows, cx] = False
        zm[rows, cy] = False
        width = zm.sum(axis=1)
        live = ~(st.degenerate[cx] | st.degenerate[cy]) & (st.n > f * (width + 2) + 2)
        val, pval = np.zeros(b), np.ones(b)
        # Tests of equal width share a batch (no padding: a solve costs (width f)^3, and a
        # power-of-two bucket cost up to 5x more arithmetic than the few extra numpy calls).
        # One sort puts each test's Z columns first, in column order.
        sizes = sorted(set(width[live].tolist()))
        order = np.sort(np.where(zm, np.arange(dim), dim), axis=1) if sizes and sizes[-1] else None
        for size in sizes:
            sel = np.flatnonzero(live & (width == size))
            cols = np.empty((len(sel), size + 2), dtype=np.intp)
            cols[:, 0], cols[:, 1] = cx[sel], cy[sel]
            if size:
                cols[:, 2:] = order[sel, :size]  # pyright: ignore[reportOptionalSubscript]
            val[sel], pval[sel], ok = self._batch(cols, width[sel])
            live[sel[~ok]] = False
        val[~live], pval[~live] = 0.0, 1.0
        self.n_degenerate += int((~live).sum())
        return val, pval

    def _padded_corr(self, size: int) -> np.ndarray:
        """Feature correlation matrix bordered by an identity block of at least ``size`` columns' features."""
        st, f = self.stats, self.stats.n_features
        if self._corr is None or len(self._corr) < (st.dim + size) * f:
            d = np.sqrt(np.maximum(np.diag(st.cov), 0.0))
            d = np.where(d > 0, d, 1.0)
            pad = max(size, st.dim)
            ext = np.eye((st.dim + pad) * f)
            ext[:st.dim * f, :st.dim * f] = st.cov / np.outer(d, d)
            self._corr = ext
        return self._corr

    def _batch(self, cols: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """val, p and a not-degenerate flag for a batch of equal-width tests."""
        f, n = self.stats.n_features, self.stats.n
        b, k = cols.shape
        corr = self._padded_corr(k - 2)
        blocks = corr.reshape(len(corr) // f, f, len(corr) // f, f)
        # gather whole f x f blocks (k^2 indices a test, not (k f)^2), then lay them out
        g = blocks[cols[:, :, None], :, cols[:, None, :], :].transpose(0, 1, 3, 2, 4).reshape(b, k * f, k * f)
        m = g[:, :2 * f, :2 * f]
        if k > 2:
            a = g[:, 2 * f:, 2 * f:] + self.ridge * np.eye((k - 2) * f)
            bz = g[:, 2 * f:, :2 * f]
            try:
                sol = np.linalg.solve(a, bz)
            except np.linalg.LinAlgError:
                sol = np.linalg.pinv(a) @ bz
            m = m - np.swapaxes(bz, 1, 2) @ sol
        sx, sy, c = m[:, :f, :f], m[:, f:, f:], m[:, :f, f:]
        ne = n - width * f - 1.0
        scale = n / ne
        c2 = np.einsum("bij,bij->b", c, c)
        fx, fy = np.sqrt(np.einsum("bij,bij->b", sx, sx)), np.sqrt(np.einsum("bij,bij->b", sy, sy))
        tx, ty = np.einsum("bii->b", sx), np.einsum("bii->b", sy)
        ok = (tx > RESIDUAL_FLOOR * f) & (ty > RESIDUAL_FLOOR * f)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.sqrt(np.clip(c2 / (fx * fy), 0.0, 1.0))
            stat = ne * scale ** 2 * c2
            mean = scale ** 2 * tx * ty
            var = 2.0 * scale ** 4 * (fx * fy) ** 2
            pval = gammaincc(mean ** 2 / var, stat * mean / var)
        ok &= np.isfinite(pval)
        return np.where(ok, val, 0.0), np.where(ok, pval, 1.0), ok
