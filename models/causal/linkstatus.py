"""What a refresh could say about each link: the rows its last test used, and its status.

The CI engines (parcorr.py, robust.py, masked.py) leave after every call a :class:`TestRows`
in ``engine.last``: each test's rows n, degrees of freedom and whether X or Y was a
function of Z. For one refresh, :class:`Ledger` wraps the engine that PC1, MCI and PCMCI+
call, keeps the last test of every link, and with ``testwise`` answers a test with too few
rows (df < 1, where tigramite gives p NaN) val 0, p 1. :func:`link_report` turns the ledger
into ``results()``'s ``n_eff``, ``link_status``, ``graph_status`` and ``status_reason``.

A lag-0 link is a pair: its two tests (X -> Y and Y -> X) share the worse status and the
smaller n. Statuses: "tested"; "insufficient" (df < 1); "deterministic" (|partial corr| >=
1 - 1e-9, or X or Y in the span of Z); "assumed" (link_assumptions decided it); "untested"
(lag-0 self links, lags < tau_min, links no test reached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DETERMINISTIC", "STATUSES", "Ledger", "TestRows", "as_zmask", "link_report"]

UNTESTED, TESTED, DETERMINISTIC_CODE, INSUFFICIENT = 0, 1, 2, 3
STATUSES = ("untested", "tested", "deterministic", "insufficient")
"""Status names by code; a larger code wins when two tests of one link disagree."""

_STATUS_NAMES = np.array(STATUSES, dtype="<U13")
_STATUS_NAMES.flags.writeable = False  # indexed into a fresh array each report

DETERMINISTIC = 1.0 - 1e-9
"""|partial correlation| at or above which a test is deterministic, not a finding."""

Node = tuple[int, int]


@dataclass(frozen=True)
class TestRows:
    """Per test of one engine call: rows used, degrees of freedom, X or Y a function of Z.

    >>> TestRows.full(2, 10.0, np.array([0, 3])).df.tolist()
    [8.0, 5.0]
    """

    n: np.ndarray
    df: np.ndarray
    degenerate: np.ndarray

    @classmethod
    def full(cls, b: int, n: float, width: np.ndarray, degenerate: np.ndarray | None = None) -> TestRows:
        """b tests on the same n rows with ``width`` conditions each.

        >>> TestRows.full(1, 5.0, np.array([1])).n.tolist()
        [5]
        """
        nn = np.full(b, int(round(n)), dtype=np.int64)
        deg = np.zeros(b, dtype=bool) if degenerate is None else degenerate
        return cls(n=nn, df=nn - 2.0 - np.asarray(width, dtype=np.float64), degenerate=deg)


def as_zmask(z: np.ndarray, width: int) -> np.ndarray:
    """A batch's Z as the engines' mask [B, width]: ``z`` itself when it is one, else a table
    [B, d] of each test's Z columns (PC1 builds those), set in a mask.

    >>> as_zmask(np.array([[3, 1]]), 5).astype(int).tolist()
    [[0, 1, 0, 1, 0]]
    """
    if z.dtype == np.bool_:
        return z
    mask = np.zeros((len(z), width), dtype=bool)
    mask[np.arange(len(z))[:, None], z] = True
    return mask


class Ledger:
    """An engine wrapper for one refresh that keeps each link's last test (rows and status).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> led = Ledger(CovParCorr(LaggedCovariance(2, 60, 2).update_many(X).stats(), 2), 2, 1)
    >>> _ = led.run_masks(np.array([2]), np.array([1]), np.zeros((1, 6), bool))
    >>> int(led.n_eff[0, 1, 1]), STATUSES[led.code[0, 1, 1]]
    (58, 'tested')
    """

    def __init__(self, engine: Any, n_vars: int, tau_max: int, testwise: bool = False) -> None:
        self.engine = engine
        self.n_vars = n_vars
        self.tau_max = tau_max
        self.testwise = testwise
        shape = (n_vars, n_vars, tau_max + 1)
        self._n_eff = np.zeros(shape, dtype=np.int64)
        self._code = np.zeros(shape, dtype=np.int8)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # batches not yet recorded
        self._memo: dict[tuple, tuple[int, int]] = {}

    @property
    def n_eff(self) -> np.ndarray:
        """Rows of each link's last test [N, N, tau_max + 1] (0: not tested).

        >>> Ledger(None, 2, 1).n_eff.shape
        (2, 2, 2)
        """
        self._flush()
        return self._n_eff

    @property
    def code(self) -> np.ndarray:
        """Status code of each link's last test (an index into :data:`STATUSES`).

        >>> int(Ledger(None, 2, 1).code.max())
        0
        """
        self._flush()
        return self._code

    @property
    def n_degenerate(self) -> int:
        """The wrapped engine's count of tests answered without a finding.

        >>> Ledger(type("E", (), {"n_degenerate": 3})(), 1, 0).n_degenerate
        3
        """
        return int(getattr(self.engine, "n_degenerate", 0))

    def col(self, node: Node) -> int:
        """Embedding column of a node (the engine's).

        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> Ledger(CovParCorr(None, 3), 3, 1).col((2, -1))
        5
        """
        return self.engine.col(node)

    def clean_z(self, x: Node, y: Node, z: Sequence[Node]) -> list[Node]:
        """Z as the engine cleans it.

        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> Ledger(CovParCorr(None, 2), 2, 1).clean_z((0, -1), (1, 0), [(0, -1), (1, -1)])
        [(1, -1)]
        """
        return self.engine.clean_z(x, y, z)

    def aic(self, j: int, parents: list[Node]) -> float:
        """The engine's AIC (not a test: nothing recorded).

        >>> Ledger(type("E", (), {"aic": lambda self, j, p: 1.5})(), 1, 0).aic(0, [])
        1.5
        """
        return self.engine.aic(j, parents)

    def run_masks(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The engine's batch; records each test on link (cx, cy) and settles insufficient tests.

        >>> class Half:
        ...     last = TestRows(np.array([9, 1]), np.array([7.0, -1.0]), np.array([False, False]))
        ...     def run_masks(self, cx, cy, zm): return np.array([0.5, np.nan]), np.array([0.1, np.nan])
        >>> led = Ledger(Half(), 2, 1, testwise=True)
        >>> led.run_masks(np.array([2, 3]), np.array([0, 0]), np.zeros((2, 4), bool))
        (array([0.5, 0. ]), array([0.1, 1. ]))
        >>> [STATUSES[c] for c in led.code[:, 0, 1]]
        ['tested', 'insufficient']
        """
        val, pval = self.engine.run_masks(cx, cy, zmask)
        code, n = self._codes(val, len(cx))
        if self.testwise:
            bad = code == INSUFFICIENT
            val, pval = np.where(bad, 0.0, val), np.where(bad, 1.0, pval)
        self._record(np.asarray(cx), np.asarray(cy), n, code)
        return val, pval

    def run_decide(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray, alpha: float
                   ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`run_masks`, but (val, p <= alpha): the engine's ``run_decide`` if it has one.
        ``zmask`` may be a table of Z columns (:func:`as_zmask`).

        >>> class Half:
        ...     last = TestRows(np.array([9]), np.array([7.0]), np.array([False]))
        ...     def run_masks(self, cx, cy, zm): return np.array([0.5]), np.array([0.1])
        >>> Ledger(Half(), 2, 1).run_decide(np.array([2]), np.array([0]), np.zeros((1, 4), bool), 0.05)
        (array([0.5]), array([False]))
        """
        decide = getattr(self.engine, "run_decide", None)
        if decide is None:
            val, pval = self.run_masks(cx, cy, as_zmask(zmask, self.n_vars * (2 * self.tau_max + 1)))
            return val, pval <= alpha
        val, keep = decide(cx, cy, zmask, alpha)
        code, n = self._codes(val, len(cx))
        if self.testwise:
            bad = code == INSUFFICIENT
            val, keep = np.where(bad, 0.0, val), keep & ~bad
        self._record(np.asarray(cx), np.asarray(cy), n, code)
        return val, keep

    def test_one(self, x: Node, y: Node, z: Sequence[Node]) -> tuple[float, float]:
        """One test (PCMCI+'s phases); recorded on link (x, y).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> X = np.random.default_rng(0).normal(size=(40, 2))
        >>> led = Ledger(CovParCorr(LaggedCovariance(2, 40, 0).update_many(X).stats(), 2), 2, 0)
        >>> _ = led.test_one((0, 0), (1, 0), []); int(led.n_eff[1, 0, 0]), STATUSES[led.code[0, 1, 0]]
        (40, 'tested')
        """
        val, pval = self.engine.test_one(x, y, z)
        code, n = self._codes(np.array([val]), 1)
        if self.testwise and code[0] == INSUFFICIENT:
            val, pval = 0.0, 1.0
        self._memo[self.key(x, y, z)] = (int(n[0]), int(code[0]))
        self._record_nodes(x, y, int(n[0]), int(code[0]))
        return val, pval

    def answer(self, cx: np.ndarray, cy: np.ndarray, zmask: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The engine's batch, settled as ``run_masks`` settles it, but recorded nowhere.

        PCMCI+'s phases ask ahead in batches and then replay tigramite's order: a test
        counts (on its link) only when :meth:`replay` says it was asked. Returns
        (val, pval, n, code).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> X = np.random.default_rng(0).normal(size=(60, 2))
        >>> led = Ledger(CovParCorr(LaggedCovariance(2, 60, 2).update_many(X).stats(), 2), 2, 1)
        >>> val, p, n, code = led.answer(np.array([2]), np.array([1]), np.zeros((1, 6), bool))
        >>> n.tolist(), code.tolist(), int(led.n_eff[0, 1, 1])
        ([58], [1], 0)
        """
        val, pval = self.engine.run_masks(cx, cy, zmask)
        code, n = self._codes(val, len(cx))
        if self.testwise:
            bad = code == INSUFFICIENT
            val, pval = np.where(bad, 0.0, val), np.where(bad, 1.0, pval)
        return val, pval, n, code

    def replay(self, x: Node, y: Node, n: int, code: int) -> None:
        """A test that :meth:`answer` answered, asked now: it is link (x, y)'s last test, as
        :meth:`test_one` (first ask) or :meth:`note` (a repeated key) would record it.

        >>> led = Ledger(None, 2, 1); led.replay((0, -1), (1, 0), 40, 1)
        >>> int(led.n_eff[0, 1, 1]), STATUSES[led.code[0, 1, 1]]
        (40, 'tested')
        """
        self._record_nodes(x, y, n, code)

    def key(self, x: Node, y: Node, z: Sequence[Node]) -> tuple:
        """The cache key of a test: X and Y unordered, Z a set (as PCMCI+'s cache keys it).

        >>> Ledger(None, 1, 0).key((0, 0), (1, 0), [(1, -1)]) == Ledger(None, 1, 0).key((1, 0), (0, 0), [(1, -1)])
        True
        """
        return frozenset((x, y)), frozenset(z)

    def note(self, x: Node, y: Node, z: Sequence[Node]) -> None:
        """A cached test asked again: it is the link's last test now.

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> from causalstream.models.causal.parcorr import CovParCorr
        >>> led = Ledger(CovParCorr(LaggedCovariance(1, 30, 1).update_many(np.arange(30.0)[:, None] % 7).stats(), 1), 1, 1)
        >>> _ = led.test_one((0, -1), (0, 0), []); led.n_eff[0, 0, 1] = 0; led.note((0, -1), (0, 0), [])
        >>> int(led.n_eff[0, 0, 1])
        29
        """
        got = self._memo.get(self.key(x, y, z))
        if got is not None:
            self._record_nodes(x, y, *got)

    def _codes(self, val: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
        rows: TestRows | None = getattr(self.engine, "last", None)
        if rows is None or len(rows.n) != b:
            n = np.full(b, int(round(float(getattr(getattr(self.engine, "stats", None), "n", -1)))), dtype=np.int64)
            return np.full(b, TESTED, dtype=np.int8), n
        # TESTED 1, DETERMINISTIC 2, then INSUFFICIENT over both (a NaN val is not deterministic)
        code = (rows.degenerate | (np.abs(val) >= DETERMINISTIC)).astype(np.int8)
        code += TESTED
        code[~(rows.df >= 1)] = INSUFFICIENT
        return code, np.asarray(rows.n, dtype=np.int64)

    def _record(self, cx: np.ndarray, cy: np.ndarray, n: np.ndarray, code: np.ndarray) -> None:
        """Note a batch's tests; the arrays take them, in order, when next read (one pass per refresh)."""
        self._pending.append((cx.copy(), cy.copy(), n, code))  # the caller's arrays may change

    def _flush(self) -> None:
        if not self._pending:
            return
        parts = self._pending
        self._pending = []
        if len(parts) == 1:
            cx, cy, n, code = parts[0]
        else:
            cx, cy, n, code = (np.concatenate(a) for a in zip(*parts))
        tau, i = np.divmod(cx, self.n_vars)
        ylag, j = np.divmod(cy, self.n_vars)
        ok = (ylag == 0) & (tau <= self.tau_max)
        if not ok.all():
            i, j, tau, n, code = i[ok], j[ok], tau[ok], n[ok], code[ok]
        self._n_eff[i, j, tau] = n          # numpy keeps the last of repeated indices
        self._code[i, j, tau] = code

    def _record_nodes(self, x: Node, y: Node, n: int, code: int) -> None:
        if y[1] != 0 and x[1] == 0:
            x, y = y, x
        if y[1] != 0 or not 0 <= -x[1] <= self.tau_max:
            return
        self._flush()   # after the batches before it
        self._n_eff[x[0], y[0], -x[1]] = n
        self._code[x[0], y[0], -x[1]] = code
        if x[1] == 0:
            self._n_eff[y[0], x[0], 0] = n
            self._code[y[0], x[0], 0] = code


def link_report(code: np.ndarray, n_eff: np.ndarray, tau_min: int, assumed: np.ndarray, observed: np.ndarray,
                var_names: Sequence[str], n_samples: int, why: str = "") -> dict[str, Any]:
    """``n_eff``, ``link_status``, ``graph_status`` and ``status_reason`` for results().

    ``code`` / ``n_eff`` are a ledger's (a lag-0 pair takes its worse status and smaller n),
    ``observed`` the samples in the window each variable has, ``why`` a reason already known
    (a window with too few rows).

    >>> code = np.ones((2, 2, 2), np.int8); code[0, 0, 0] = code[1, 1, 0] = 0; code[0, 1, 1] = 3
    >>> r = link_report(code, np.full((2, 2, 2), 50), 0, np.zeros((2, 2, 2), bool), np.array([50, 2]), ["a", "b"], 50)
    >>> r["link_status"][:, :, 1].tolist(), r["graph_status"], r["status_reason"]
    ([['tested', 'insufficient'], ['tested', 'tested']], 'partial', 'b observed in 2 of 50 samples; 1 of 6 links insufficient')
    """
    code = code.copy()
    n_eff = n_eff.copy()
    pair = code[:, :, 0]
    worse = np.maximum(pair, pair.T)
    both = (pair > 0) & (pair.T > 0)
    n0 = n_eff[:, :, 0]
    n_eff[:, :, 0] = np.where(both, np.minimum(n0, n0.T), np.maximum(n0, n0.T))
    code[:, :, 0] = worse
    code[:, :, :tau_min] = UNTESTED
    idx = np.arange(code.shape[0])
    code[idx, idx, 0] = UNTESTED
    status = _STATUS_NAMES[code]
    status[assumed] = "assumed"
    n_eff[code == UNTESTED] = 0
    n_eff[assumed] = 0
    testable = ~assumed & (code != UNTESTED)
    by_code = np.bincount(code[testable], minlength=len(STATUSES)).tolist()
    counts = {"tested": by_code[TESTED], "deterministic": by_code[DETERMINISTIC_CODE],
              "insufficient": by_code[INSUFFICIENT]}
    total = sum(by_code)
    if total and counts["tested"] + counts["deterministic"] == 0:
        graph_status = "insufficient"
    elif counts["insufficient"] or counts["deterministic"]:
        graph_status = "partial"
    else:
        graph_status = "ok"
    parts = [why] if why else []
    scarce = np.argsort(observed, kind="stable")[:int(np.count_nonzero(observed < 3))].tolist() if n_samples else []
    parts += [f"{var_names[k]} observed in {int(observed[k])} of {n_samples} samples" for k in scarce[:3]]
    if len(scarce) > 3:
        parts.append(f"{len(scarce) - 3} more variables observed in < 3 samples")
    for s in ("insufficient", "deterministic"):
        if counts[s]:
            parts.append(f"{counts[s]} of {total} links {s}")
    if graph_status == "ok":
        rows = n_eff[testable & (code == TESTED)]
        parts.append(f"{counts['tested']} links tested on {int(rows.min())}-{int(rows.max())} rows" if len(rows)
                     else "no link to test")
    return {"n_eff": n_eff, "link_status": status, "graph_status": graph_status, "status_reason": "; ".join(parts)}
