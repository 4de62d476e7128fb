"""PCMCI+'s MCI tests asked ahead in batches, then handed out in tigramite's order.

tigramite's skeleton and collider phases ask one test at a time, and what they ask next
depends on the answers. An :class:`Asker` builds each test as tigramite's
``_run_pcalg_test`` does (X = (i, -tau), Y = (j, 0), Z = the contemporaneous S, then j's
lagged parents without X, then i's parents shifted by -tau), answers many at once in one
engine batch (:meth:`Asker.prefetch`: the phases ask ahead for the tests they may need),
and hands the answers out in tigramite's order (:meth:`Asker.ask`).

A test is held as integers: X's and Y's embedding columns (``-lag * N + var``) and Z as a
bit set of columns, so its key (X, Y unordered, Z a set) is one int. Only ``ask`` leaves a
trace, the one the sequential path (pcmciplus.CovarianceCITest) leaves: a key asked twice is
answered once; the engine's ``n_degenerate`` counts the first-asked keys only; and each
asked test is its link's last test, which :meth:`Asker.flush` writes to the Ledger
(linkstatus.py) at the end of a phase. Answers asked ahead that tigramite's order never asks
leave none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from causalstream.models.causal.linkstatus import Ledger
from causalstream.models.causal.parcorr import CovParCorr

__all__ = ["Asker", "Test"]

Node = tuple[int, int]
Test = tuple[int, int, int, int]
"""One CI test: X's column, Y's column, Z's columns as a bit set, and its key (see Asker.test)."""


class Asker:
    """Batched answers to PCMCI+'s MCI tests, asked in tigramite's order.

    ``engine`` is a Ledger or a bare CI engine (``run_masks``, ``n_degenerate``);
    ``parents`` the lagged parents from PC1; ``max_py`` / ``max_px`` / ``max_px_lagged``
    tigramite's max_conds_py / px / px_lagged (None: all parents).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
    >>> eng = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), 2)
    >>> ask = Asker(eng, 2, 1, 0.05, {0: [], 1: [(1, -1)]})
    >>> t = ask.test(0, 0, 1, ()); ask.nodes(t[2])
    [(1, -1)]
    >>> ask.prefetch([t]); val, p, dependent = ask.ask(t); dependent, eng.n_degenerate
    (True, 0)
    """

    def __init__(self, engine: Any, n_vars: int, tau_max: int, pc_alpha: float, parents: dict[int, list[Node]],
                 max_py: int | None = None, max_px: int | None = None, max_px_lagged: int | None = None) -> None:
        self.engine = engine
        self.n_vars = n_vars
        self.tau_max = tau_max
        self.pc_alpha = pc_alpha
        self.parents = {j: [(int(i), int(t)) for i, t in ps] for j, ps in parents.items()}
        self.max_py = max_py
        self.max_px = max_px
        self.max_px_lagged = max_px_lagged
        self.ledger = engine if isinstance(engine, Ledger) else None
        self.inner = engine.engine if isinstance(engine, Ledger) else engine
        self.answers: dict[int, tuple[float, float, int, int, bool]] = {}
        self.asked: set[int] = set()
        self.pending: dict[tuple[int, int], tuple[float, float, int, int, bool]] = {}
        """Per link (X's and Y's columns, a lag-0 pair ascending) its last asked test's answer, until flush()."""
        self._width = n_vars * (2 * tau_max + 1)
        self._nbytes = (self._width + 7) // 8
        self.shift = self._width.bit_length()
        """Bits of a column in a key (Asker.key)."""
        cap = max_px if max_px_lagged is None else max_px_lagged
        self._py = [self._bits(self.parents.get(j, [])[:max_py]) for j in range(n_vars)]
        self._px = [self._bits(self.parents.get(i, [])[:max_px]) for i in range(n_vars)]
        self._px_lagged = [self._bits(self.parents.get(i, [])[:cap]) for i in range(n_vars)]

    def _bits(self, nodes: Iterable[Node]) -> int:
        z = 0
        for v, lag in nodes:
            z |= 1 << (-lag * self.n_vars + v)
        return z

    def tail(self, i: int, abstau: int, j: int) -> int:
        """The lagged part of Z for X = (i, -abstau), Y = (j, 0), as _run_pcalg_test builds it (j's
        parents without X, then i's parents shifted by -abstau), as a bit set of columns.

        >>> Asker(None, 2, 1, 0.05, {0: [(0, -1)], 1: [(0, -1)]}).tail(0, 1, 1)   # (0, -2): column 4
        16
        """
        shifted = self._px[i] if abstau == 0 else self._px_lagged[i]
        # i's parents shifted by -abstau lie beyond lag abstau: never X; Y = (j, 0) is in neither
        return (self._py[j] & ~(1 << (abstau * self.n_vars + i))) | (shifted << (abstau * self.n_vars))

    def key(self, cx: int, cy: int, zbits: int) -> int:
        """The cache key: equal for two tests exactly when {X, Y} and the set Z are.

        >>> a = Asker(None, 2, 1, 0.05, {0: [], 1: []}); a.key(1, 2, 8) == a.key(2, 1, 8) != a.key(2, 1, 16)
        True
        """
        lo, hi = (cx, cy) if cx < cy else (cy, cx)
        return (((zbits << self.shift) | lo) << self.shift) | hi

    def test(self, i: int, abstau: int, j: int, S: Sequence[Node]) -> Test:
        """The test of X = (i, -abstau), Y = (j, 0) given the contemporaneous S (and the lagged parents).

        >>> a = Asker(None, 2, 1, 0.05, {0: [(0, -1)], 1: [(0, -1)]}); a.nodes(a.test(0, 1, 1, [(0, 0)])[2])
        [(0, 0), (0, -2)]
        """
        n = self.n_vars
        cx, cy = abstau * n + i, j
        z = self.tail(i, abstau, j)
        for v, lag in S:
            z |= 1 << (-int(lag) * n + int(v))
        z &= ~((1 << cx) | (1 << cy))
        return cx, cy, z, self.key(cx, cy, z)

    def nodes(self, zbits: int) -> list[Node]:
        """The nodes of a bit set of columns, by column.

        >>> Asker(None, 2, 1, 0.05, {0: [], 1: []}).nodes(0b1001)
        [(0, 0), (1, -1)]
        """
        n = self.n_vars
        return [(c % n, -(c // n)) for c in range(zbits.bit_length()) if zbits >> c & 1]

    def prefetch(self, tests: Iterable[Test]) -> None:
        """Answer, in one engine batch, the tests whose keys have no answer yet (no trace left).

        >>> Asker(None, 1, 0, 0.05, {0: []}).prefetch([])
        """
        todo: dict[int, Test] = {}
        answers = self.answers
        for t in tests:
            if t[3] not in answers:
                todo[t[3]] = t
        if todo:
            self.answer(list(todo.values()))

    def answer(self, items: list[Test]) -> None:
        """One engine batch for ``items`` (distinct keys, none answered yet).

        >>> Asker(None, 1, 0, 0.05, {0: []}).answer([])
        """
        if not items:
            return
        cx = np.array([t[0] for t in items], dtype=np.intp)
        cy = np.array([t[1] for t in items], dtype=np.intp)
        nb = self._nbytes
        raw = np.frombuffer(b"".join([t[2].to_bytes(nb, "little") for t in items]), dtype=np.uint8)
        zmask = np.unpackbits(raw.reshape(len(items), nb), axis=1, count=self._width, bitorder="little").view(bool)
        before = self.inner.n_degenerate
        if self.ledger is not None:
            val, pval, rows, code = self.ledger.answer(cx, cy, zmask)
        else:
            val, pval = self.inner.run_masks(cx, cy, zmask)
            rows, code = np.zeros(len(items), dtype=np.int64), np.zeros(len(items), dtype=np.int8)
        self.inner.n_degenerate = before     # counted when asked (ask), first-asked keys only
        pval = self._as_test_one(val, pval)
        deg = ((val == 0.0) & (pval == 1.0)) | np.isnan(pval)
        self.answers.update(zip([t[3] for t in items],
                                zip(val.tolist(), pval.tolist(), rows.tolist(), code.tolist(), deg.tolist())))

    def _as_test_one(self, val: np.ndarray, pval: np.ndarray) -> np.ndarray:
        """ParCorr on a window without NaN answers a test_one with X or Y in the span of Z p 1
        even when df < 1 (its batch says NaN there): keep the sequential path's answer."""
        last = getattr(self.inner, "last", None)
        if type(self.inner) is CovParCorr and last is not None and last.degenerate.any() \
                and not len(self.inner.stats.dirty):
            return np.where(last.degenerate & (val == 0.0), 1.0, pval)
        return pval

    def dependent(self, t: Test) -> bool:
        """The test's decision (p <= pc_alpha) from its answer, without asking it.

        >>> a = Asker(None, 1, 0, 0.05, {0: []}); t = a.test(0, 1, 0, ()); a.answers[t[3]] = (0.5, 0.01, 9, 1, False)
        >>> a.dependent(t), a.asked
        (True, set())
        """
        return self.answers[t[3]][1] <= self.pc_alpha

    def ask(self, t: Test) -> tuple[float, float, bool]:
        """(val, pval, dependent) of a test, asked now in tigramite's order.

        >>> a = Asker(type("E", (), {"n_degenerate": 0})(), 1, 0, 0.05, {0: []})
        >>> t = a.test(0, 1, 0, ()); a.answers[t[3]] = (0.0, 1.0, 9, 1, True)
        >>> a.ask(t), a.ask(t), a.inner.n_degenerate
        ((0.0, 1.0, False), (0.0, 1.0, False), 1)
        """
        key = t[3]
        got = self.answers.get(key)
        if got is None:
            self.answer([t])
            got = self.answers[key]
        if key not in self.asked:
            self.asked.add(key)
            self.inner.n_degenerate += got[4]
        cx, cy = t[0], t[1]
        self.pending[(cx, cy) if cx >= self.n_vars or cx < cy else (cy, cx)] = got   # lag 0: one link
        return got[0], got[1], got[1] <= self.pc_alpha

    def flush(self) -> None:
        """Write each asked link's last test to the Ledger (as Ledger.replay would, in order).

        >>> led = Ledger(None, 2, 1); a = Asker(led, 2, 1, 0.05, {0: [], 1: []}); a.pending[(2, 1)] = (0.1, 0.5, 40, 1, False)
        >>> a.flush(); int(led.n_eff[0, 1, 1]), a.pending
        (40, {})
        """
        if self.ledger is None or not self.pending:
            self.pending = {}
            return
        n, tau_max = self.n_vars, self.tau_max
        cols = np.array(list(self.pending), dtype=np.intp).reshape(-1, 2)
        got = np.array([(a[2], a[3]) for a in self.pending.values()], dtype=np.int64).reshape(-1, 2)
        self.pending = {}
        i, tau, j = cols[:, 0] % n, cols[:, 0] // n, cols[:, 1]
        ok = tau <= tau_max      # Y is (j, 0): X's lag is the link's
        i, tau, j, rows, code = i[ok], tau[ok], j[ok], got[ok, 0], got[ok, 1]
        self.ledger.n_eff[i, j, tau] = rows
        self.ledger.code[i, j, tau] = code
        lag0 = tau == 0
        self.ledger.n_eff[j[lag0], i[lag0], 0] = rows[lag0]
        self.ledger.code[j[lag0], i[lag0], 0] = code[lag0]
