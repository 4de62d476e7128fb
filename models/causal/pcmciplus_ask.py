"""PCMCI+'s MCI tests asked ahead in batches, then handed out in tigramite's order.

tigramite's skeleton and collider phases ask one test at a time, and what they ask next
depends on the answers. An :class:`Asker` builds each test as tigramite's
``_run_pcalg_test`` does (X = (i, -tau), Y = (j, 0), Z = the contemporaneous S, then j's
lagged parents without X, then i's parents shifted by -tau), answers many at once in one
engine batch (:meth:`Asker.prefetch`: the phases ask ahead for the tests they may need),
and hands the answers out in tigramite's order (:meth:`Asker.ask`).

Only ``ask`` leaves a trace, the one the sequential path (pcmciplus.CovarianceCITest) leaves:
a key (X, Y unordered, Z a set) asked twice is answered once; the Ledger (linkstatus.py)
records each asked test on its link, a repeated key as ``Ledger.note`` does; and the engine's
``n_degenerate`` counts the first-asked keys only. Answers asked ahead that tigramite's order
never asks leave none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from causalstream.models.causal.linkstatus import Ledger
from causalstream.models.causal.parcorr import CovParCorr

__all__ = ["Asker", "Test"]

Node = tuple[int, int]
Test = tuple[Node, Node, tuple[Node, ...], tuple]
"""One CI test: X, Y, the cleaned Z, and its cache key (see Asker.test)."""


class Asker:
    """Batched answers to PCMCI+'s MCI tests, asked in tigramite's order.

    ``engine`` is a Ledger or a bare CI engine (``run_masks``, ``n_degenerate``);
    ``parents`` the lagged parents from PC1; ``max_py`` / ``max_px`` / ``max_px_lagged``
    tigramite's max_conds_py / px / px_lagged (None: all parents).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
    >>> eng = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), 2)
    >>> ask = Asker(eng, 2, 1, 0.05, {0: [], 1: [(1, -1)]})
    >>> t = ask.test(0, 0, 1, ()); t[2]
    ((1, -1),)
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
        self.answers: dict[tuple, tuple[float, float, int, int, bool]] = {}
        self.asked: set[tuple] = set()
        self._tails: dict[tuple[int, int, int], tuple[Node, ...]] = {}
        self._tests: dict[tuple, Test] = {}
        self._width = n_vars * (2 * tau_max + 1)

    def _tail(self, i: int, abstau: int, j: int) -> tuple[tuple[Node, ...], frozenset, frozenset]:
        """The lagged part of Z for X = (i, -abstau), Y = (j, 0), as _run_pcalg_test builds it (j's
        parents without X, then i's parents shifted by -abstau not among them), as a set, and {X, Y}."""
        got = self._tails.get((i, abstau, j))
        if got is None:
            ys = self.parents[j][:self.max_py]
            cap = self.max_px if abstau == 0 or self.max_px_lagged is None else self.max_px_lagged
            xs = [(k, tk - abstau) for k, tk in self.parents[i][:cap]]
            # the parents are lagged and distinct: X is not among i's shifted parents, Y among neither
            yset = set(ys)
            tail = tuple([n for n in ys if n != (i, -abstau)] + [n for n in xs if n not in yset])
            got = self._tails[(i, abstau, j)] = (tail, frozenset(tail), frozenset(((i, -abstau), (j, 0))))
        return got

    def test(self, i: int, abstau: int, j: int, S: Sequence[Node]) -> Test:
        """The test of X = (i, -abstau), Y = (j, 0) given the contemporaneous S (and the lagged parents).

        Its key is ({X, Y}, the lag-0 nodes of Z, the lagged ones): equal for two tests exactly
        when {X, Y} and the set Z are.

        >>> Asker(None, 2, 1, 0.05, {0: [(0, -1)], 1: [(0, -1)]}).test(0, 1, 1, [(0, 0)])[2]
        ((0, 0), (0, -2))
        """
        S = tuple(S)
        memo = (i, abstau, j, S)
        got = self._tests.get(memo)
        if got is None:
            x, y = (i, -abstau), (j, 0)
            tail, tailset, pair = self._tail(i, abstau, j)
            if not S:
                z, key = tail, (pair, frozenset(), tailset)
            elif x in S or y in S or len(set(S)) < len(S) or any(lag for _, lag in S):
                z = tuple(dict.fromkeys([n for n in ((int(a), int(b)) for a, b in S) if n != x and n != y] + list(tail)))
                key = (pair, frozenset(n for n in z if n[1] == 0), frozenset(n for n in z if n[1] != 0))
            else:
                z, key = S + tail, (pair, frozenset(S), tailset)   # S lag 0, the tail lagged: nothing to clean
            got = self._tests[memo] = (x, y, z, key)
        return got

    def prefetch(self, tests: Iterable[Test]) -> None:
        """Answer, in one engine batch, the tests whose keys have no answer yet (no trace left).

        >>> Asker(None, 1, 0, 0.05, {0: []}).prefetch([])
        """
        todo: dict[tuple, Test] = {}
        for t in tests:
            if t[3] not in self.answers and t[3] not in todo:
                todo[t[3]] = t
        if not todo:
            return
        items = list(todo.values())
        n = self.n_vars
        cx = np.array([-x[1] * n + x[0] for x, _, _, _ in items], dtype=np.intp)
        cy = np.array([-y[1] * n + y[0] for _, y, _, _ in items], dtype=np.intp)
        zmask = np.zeros((len(items), self._width), dtype=bool)
        zmask[[k for k, t in enumerate(items) for _ in t[2]], [-lag * n + v for t in items for v, lag in t[2]]] = True
        before = self.inner.n_degenerate
        if self.ledger is not None:
            val, pval, rows, code = self.ledger.answer(cx, cy, zmask)
        else:
            val, pval = self.inner.run_masks(cx, cy, zmask)
            rows, code = np.zeros(len(items), dtype=np.int64), np.zeros(len(items), dtype=np.int8)
        self.inner.n_degenerate = before     # counted when asked (ask), first-asked keys only
        pval = self._as_test_one(val, pval)
        deg = ((val == 0.0) & (pval == 1.0)) | np.isnan(pval)
        for key, v, p, r, c, d in zip(todo, val.tolist(), pval.tolist(), rows.tolist(), code.tolist(), deg.tolist()):
            self.answers[key] = (v, p, r, c, d)

    def _as_test_one(self, val: np.ndarray, pval: np.ndarray) -> np.ndarray:
        """ParCorr on a window without NaN answers a test_one with X or Y in the span of Z p 1
        even when df < 1 (its batch says NaN there): keep the sequential path's answer."""
        last = getattr(self.inner, "last", None)
        if type(self.inner) is CovParCorr and not len(self.inner.stats.dirty) and last is not None:
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
        x, y, z, key = t
        if key not in self.answers:
            self.prefetch([t])
        val, pval, rows, code, deg = self.answers[key]
        if key not in self.asked:
            self.asked.add(key)
            self.inner.n_degenerate += deg
        if self.ledger is not None:      # a key asked again is the link's last test again (Ledger.note)
            self.ledger.replay(x, y, rows, code)
        return val, pval, pval <= self.pc_alpha
