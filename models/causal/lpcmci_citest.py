"""LPCMCI's CI-test plug-in: tigramite's ``run_test`` answered from the covariance, each distinct test once.

LPCMCI asks many identical tests again across its phases and rules. :class:`LPCMCITest` keys a
test by ({X, Y}, set Z) (the partial correlation does not depend on their order) and answers
a repeat from a dict; the Ledger of the refresh (linkstatus.py) still records every ask, as
``Ledger.test_one`` (first ask) and ``Ledger.note`` (a repeat) would. On a plain ParCorr window
(a :class:`CovParCorr` with no NaN rows) a first ask is answered here with scalar arithmetic
on the window's correlation matrix, the Schur complement of ``CovParCorr.test_one`` (its
numpy solve only for two conditions or more), and the Ledger's row count and status are set as
``Ledger.test_one`` sets them. Every other engine goes through ``test_one`` itself. Before
each test the run's deadline is checked (:class:`BudgetExceeded`).

>>> from causalstream.models.causal.lagcov import LaggedCovariance
>>> rng = np.random.default_rng(1); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
>>> t = LPCMCITest(); t.use(CovParCorr(LaggedCovariance(2, 300, 1).update_many(X).stats(), 2))
>>> val, p, dep = t.run_test([(0, 0)], [(1, 0)], [(0, -1)], alpha_or_thres=0.05)
>>> bool(dep), t.run_test([(1, 0)], [(0, 0)], [(0, -1), (0, -1)]) == (val, p), len(t._answers)
(True, True, 1)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import stdtr

from causalstream.models.causal.linkstatus import (
    DETERMINISTIC,
    DETERMINISTIC_CODE,
    INSUFFICIENT,
    TESTED,
    Ledger,
)
from causalstream.models.causal.parcorr import RESIDUAL_FLOOR, CovParCorr, Node
from causalstream.models.causal.pcmciplus import CovarianceCITest

__all__ = ["BudgetExceeded", "LPCMCITest"]

_TINY = np.finfo(float).tiny
_NO_Z: frozenset = frozenset()
_CHOLESKY_MAX = 8   # conditions up to which the Schur complement is taken in scalars (a Cholesky of Z's block)
_PIVOT_FLOOR = 1e-10  # a smaller Cholesky pivot (Z's block nearly singular): numpy's solve instead


class BudgetExceeded(Exception):  # noqa: N818  (a signal between run_lpcmci and its caller, not an error)
    """A run that passed its time budget: stopped between two steps, its half-done PAG dropped.

    >>> str(BudgetExceeded(12.5))
    '12.5'
    """


class LPCMCITest(CovarianceCITest):
    """The covariance CI test for LPCMCI: repeats from a dict, first asks on a fast path, a deadline.

    >>> LPCMCITest().deadline
    inf
    """

    def __init__(self) -> None:
        super().__init__()
        self.deadline = math.inf
        self._answers: dict[tuple, tuple[float, float, int, int]] = {}
        self._plain: CovParCorr | None = None
        self._ledger: Ledger | None = None
        self.epoch = 0   # windows used: answers (and what LPCMCI remembers of them) belong to one
        self.asks: list[tuple] | None = None   # when a list: each ask's (x, y, key) appended (LPCMCI's remembered votes)

    def use(self, engine: Any) -> None:
        """Point the test at a new window's engine (a Ledger or an engine); forget all answers.

        >>> t = LPCMCITest(); t.use(None); t.engine is None, t.epoch
        (True, 1)
        """
        super().use(engine)
        self._answers = {}
        self.epoch += 1
        self._ledger = engine if isinstance(engine, Ledger) else None
        inner = engine.engine if self._ledger is not None else engine
        self._plain = None
        if type(inner) is CovParCorr and len(inner.stats.dirty) == 0:
            self._plain = inner
            cov = inner.stats.cov
            d = np.sqrt(np.diag(cov))
            d = np.where(d > 0, d, 1.0)
            self._corr = cov / np.outer(d, d)      # CovParCorr's correlation matrix, the same operations
            self._rows = self._corr.tolist()
            self._const = inner.stats.constant.tolist()
            self._n = float(inner.stats.n)

    def run_test(self, X: Sequence[Node], Y: Sequence[Node], Z: Sequence[Node] | None = None, tau_max: int = 0,
                 cut_off: str = "2xtau_max", alpha_or_thres: float | None = None) -> tuple:
        """tigramite's ``run_test`` contract: (val, pval[, dependent]), after a look at the deadline.

        >>> t = LPCMCITest(); t.deadline = 0.0
        >>> t.run_test([(0, 0)], [(1, 0)])
        Traceback (most recent call last):
        ...
        causalstream.models.causal.lpcmci_citest.BudgetExceeded: 0.0
        """
        if time.perf_counter() > self.deadline:
            raise BudgetExceeded(self.deadline)
        x, y = (int(X[0][0]), int(X[0][1])), (int(Y[0][0]), int(Y[0][1]))
        key = (frozenset((x, y)), frozenset(Z).difference((x, y)) if Z else _NO_Z)   # tigramite's nodes: tuples of ints
        if self.asks is not None:
            self.asks.append((x, y, key))
        got = self._answers.get(key)
        if got is None:
            z = list(dict.fromkeys(Z)) if Z else []   # Z's order kept (the first ask's arithmetic follows it)
            got = self._first(x, y, [node for node in z if node != x and node != y])
            self._answers[key] = got
        elif self._ledger is not None:   # a repeat: the link's last test now, as Ledger.note records it
            if got[2] < 0:
                self._ledger.note(x, y, key[1])
            else:
                self._ledger.replay(x, y, got[2], got[3])
        val, pval = got[0], got[1]
        if alpha_or_thres is None:
            return val, pval
        return val, pval, bool(pval <= alpha_or_thres)

    def again(self, asks: Sequence[tuple]) -> None:
        """Tests asked before (``asks``' (x, y, key), as :attr:`asks` records them) asked again: recorded on the
        Ledger as :meth:`run_test`'s repeats are, after a look at the deadline; their answers are not returned.

        >>> t = LPCMCITest(); t.again([])
        >>> t.deadline = 0.0; t.again([])
        Traceback (most recent call last):
        ...
        causalstream.models.causal.lpcmci_citest.BudgetExceeded: 0.0
        """
        if time.perf_counter() > self.deadline:
            raise BudgetExceeded(self.deadline)
        led = self._ledger
        if led is None:
            return
        answers = self._answers
        for x, y, key in asks:
            got = answers[key]
            if got[2] < 0:
                led.note(x, y, key[1])
            else:
                led.replay(x, y, got[2], got[3])

    def _first(self, x: Node, y: Node, z: list[Node]) -> tuple[float, float, int, int]:
        """A test asked for the first time: (val, pval, rows, Ledger status code), recorded on the Ledger."""
        eng = self._plain
        if eng is None:  # any other engine: its own test_one, through the Ledger (which keeps rows and status)
            val, pval = self.engine.test_one(x, y, z)  # pyright: ignore[reportOptionalMemberAccess]
            return val, pval, -1, TESTED
        val, pval, width, degenerate = self._parcorr(x, y, z)
        if degenerate or not math.isfinite(pval):
            eng.n_degenerate += 1
        n = int(round(self._n))
        code = TESTED
        if degenerate or abs(val) >= DETERMINISTIC:
            code = DETERMINISTIC_CODE
        if not n - 2.0 - width >= 1:
            code = INSUFFICIENT
        led = self._ledger
        if led is not None:
            if led.testwise and code == INSUFFICIENT:
                val, pval = 0.0, 1.0
            led.replay(x, y, n, code)
        return val, pval, n, code

    def _parcorr(self, x: Node, y: Node, z: list[Node]) -> tuple[float, float, int, bool]:
        """``CovParCorr.test_one`` on a clean window: (val, pval, |Z| used, X or Y constant or spanned by Z)."""
        n_vars, const = self._plain.n_vars, self._const  # pyright: ignore[reportOptionalMemberAccess]
        cx, cy = -x[1] * n_vars + x[0], -y[1] * n_vars + y[0]
        cz = [c for c in dict.fromkeys(-lag * n_vars + v for v, lag in z) if c != cx and c != cy and not const[c]]
        if const[cx] or const[cy]:   # answered without a finding: counted, as CovParCorr.test_one counts it
            self._plain.n_degenerate += 1  # pyright: ignore[reportOptionalMemberAccess]
            return 0.0, 1.0, len(cz), False
        rows = self._rows
        if not cz:
            m00, m11, m01 = rows[cx][cx], rows[cy][cy], rows[cx][cy]
        elif len(cz) == 1:   # the Schur complement of one condition, in scalars
            c = cz[0]
            a, bx, by = rows[c][c], rows[c][cx], rows[c][cy]
            m00 = rows[cx][cx] - bx * (bx / a)
            m11 = rows[cy][cy] - by * (by / a)
            m01 = rows[cx][cy] - bx * (by / a)
        else:
            got = _schur_cholesky(rows, cx, cy, cz) if len(cz) <= _CHOLESKY_MAX else None
            if got is None:   # larger, or Z (numerically) singular: numpy's solve, as CovParCorr.test_one
                idx = np.array([cx, cy] + cz)
                r = self._corr[idx[:, None], idx]
                b = r[2:, :2]
                r = r[:2, :2] - b.T @ np.linalg.solve(r[2:, 2:], b)
                got = float(r[0, 0]), float(r[1, 1]), float(r[0, 1])
            m00, m11, m01 = got
        if not (m00 > RESIDUAL_FLOOR and m11 > RESIDUAL_FLOOR):
            return 0.0, 1.0, len(cz), True
        val = min(1.0, max(-1.0, m01 / math.sqrt(m00 * m11)))
        df = self._n - 2.0 - len(cz)
        if df < 1:
            pval = math.nan
        elif abs(abs(val) - 1.0) <= _TINY:
            pval = 0.0
        else:
            pval = float(stdtr(df, -abs(val * math.sqrt(df / (1.0 - val * val)))) * 2.0)
        return val, pval, len(cz), False


def _schur_cholesky(rows: list[list[float]], cx: int, cy: int, cz: list[int]) -> tuple[float, float, float] | None:
    """The residual (co)variances of columns cx, cy given cz: R_ab - R_aZ R_ZZ^-1 R_Zb by a Cholesky
    of R_ZZ in scalars; None when a pivot falls below _PIVOT_FLOOR.

    >>> rows = [[1.0, 0.5, 0.5, 0.2], [0.5, 1.0, 0.5, 0.1], [0.5, 0.5, 1.0, 0.3], [0.2, 0.1, 0.3, 1.0]]
    >>> m = _schur_cholesky(rows, 0, 1, [2, 3])
    >>> r = np.array(rows); b = r[2:, :2]; ref = r[:2, :2] - b.T @ np.linalg.solve(r[2:, 2:], b)
    >>> bool(np.allclose(m, (ref[0, 0], ref[1, 1], ref[0, 1]), rtol=0, atol=1e-15))
    True
    """
    low: list[list[float]] = []
    wx: list[float] = []
    wy: list[float] = []
    for a, za in enumerate(cz):
        ra = rows[za]
        row: list[float] = []
        pivot, ax, ay = ra[za], ra[cx], ra[cy]
        for b in range(a):
            lb = low[b]
            acc = ra[cz[b]]
            for c in range(b):
                acc -= row[c] * lb[c]
            v = acc / lb[b]
            row.append(v)
            pivot -= v * v
            ax -= v * wx[b]
            ay -= v * wy[b]
        if not pivot > _PIVOT_FLOOR:
            return None
        d = math.sqrt(pivot)
        row.append(d)
        low.append(row)
        wx.append(ax / d)
        wy.append(ay / d)
    m00, m11, m01 = rows[cx][cx], rows[cy][cy], rows[cx][cy]
    for u, v in zip(wx, wy, strict=True):
        m00 -= u * u
        m11 -= v * v
        m01 -= u * v
    return m00, m11, m01
