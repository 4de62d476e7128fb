"""PCMCI+'s MCI skeleton phase (tigramite's ``_pcmciplus_mci_skeleton_phase``), asked in batches.

The graph starts from the link assumptions: PC1's lagged parents (marks '-?>' / '-->') and
every lag-0 link. Level p tests each remaining pair (i, j, tau) given the size-p subsets S of
j's contemporaneous adjacencies (without i), plus the lagged parents of j and of i (as MCI);
a pair stops at its first test with p > pc_alpha: the link goes (both directions at lag 0) and
S is its sepset. tigramite's order is kept exactly: pairs in (i, j, tau) order, subsets in
``itertools.combinations`` order over the adjacencies as sorted at the end of the previous
level (by the smallest |val| so far, stable); a lag-0 pair removed by (i, j) is not tested
again as (j, i); p_matrix / val_matrix hold each pair's test with the largest p ('>=': ties go
to the later test); a link with middle mark '-' is never tested (val 1, p 0).

A level's tests are asked ahead (pcmciplus_ask.Asker) in two engine batches: the first FIRST
subsets of every pair, then the rest of the pairs still dependent; then the level is replayed
in tigramite's order from the answers, which alone leaves a trace (Ledger, n_degenerate).
Links only go, so the tests of the next level and of the collider phase are among those
built on the skeleton as it is at a level's start: when they fit SPECULATE, the level's first
batch asks them too, and their own batches are not needed (an engine batch has a fixed cost).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.pcmciplus_ask import Asker, Test
from causalstream.models.causal.pcmciplus_colliders import possible_tests
from causalstream.models.causal.postprocess import fdr_bh, symmetrize_contemp

__all__ = ["Skeleton", "mci_skeleton", "skeleton_phase"]

Node = tuple[int, int]
Pair = tuple[int, int, int]
FIRST = 8
"""Subsets per pair asked in a level's first round; the rest of the still-dependent pairs' go in a second."""
SPECULATE = 64
"""At most this many tests of the next level and the collider phase asked with a level's first batch."""


@dataclass
class Skeleton:
    """The skeleton phase's graph, sepsets and p / val matrices (tigramite's dict, as fields).

    >>> Skeleton(np.zeros((1, 1, 1), "<U3"), {}, np.ones((1, 1, 1)), np.zeros((1, 1, 1))).sepsets
    {}
    """

    graph: np.ndarray
    sepsets: dict[tuple[Node, int], list[Node]]
    p_matrix: np.ndarray
    val_matrix: np.ndarray


_EMPTY: list[tuple[int, ...]] = [()]
"""Level 0's one subset (read only)."""


@functools.lru_cache(maxsize=64)
def _sepset_keys(n: int, tau_min: int, tau_max: int) -> tuple[tuple[Node, int], ...]:
    """tigramite's sepsets keys ((i, -tau), j), in its order."""
    return tuple(((i, -tau), j) for tau in range(tau_min, tau_max + 1) for i in range(n) for j in range(n))


class _Level:
    """One level's pairs and, per pair that is tested, its subsets S (var indices, in combinations
    order) and their tests (Asker.test's form), built as far as asked."""

    def __init__(self, asker: Asker, adjt: list[list[int]], pairs: list[Pair], fixed: set[Pair], p: int) -> None:
        self.asker = asker
        self.pairs = pairs
        self.p = p
        self.shift = 2 * asker.shift
        self.subsets: dict[Pair, list[tuple[int, ...]]] = {}
        self.tests: dict[Pair, list[Test]] = {}
        self.base: dict[Pair, tuple[int, int, int, int]] = {}
        n, s, shift = asker.n_vars, asker.shift, self.shift
        for pair in pairs:
            if pair in fixed:
                continue
            i, j, tau = pair
            cx = tau * n + i
            tail = asker.tail(i, tau, j)
            pk = (cx << s) | j if cx < j else (j << s) | cx      # asker.key(cx, j, 0)
            self.base[pair] = (cx, j, tail, pk)
            if p:
                self.subsets[pair] = list(itertools.combinations([a for a in adjt[j] if a != i] if tau == 0
                                                                 else adjt[j], p))
                self.tests[pair] = []
            else:
                self.subsets[pair] = _EMPTY
                self.tests[pair] = [(cx, j, tail, (tail << shift) | pk)]

    def upto(self, pair: Pair, stop: int) -> list[Test]:
        """The pair's tests, built up to subset ``stop`` at least."""
        tests = self.tests[pair]
        have = len(tests)
        if have < stop:
            cx, j, tail, pk = self.base[pair]
            shift = self.shift
            for S in self.subsets[pair][have:stop]:
                z = tail
                for v in S:
                    z |= 1 << v      # (v, 0): column v; never X or Y (j's adjacencies without i)
                tests.append((cx, j, z, (z << shift) | pk))
        return tests

    def ask_ahead(self, ahead: Callable[[], list[Test]]) -> None:
        """Answer the level's tests in rounds: the first FIRST subsets of every pair, then all the
        rest of the pairs not yet independent. A lag-0 pair (i, j), i > j, whose (j, i) was found
        independent is dropped: tigramite will not test it. A first round that needs the engine
        takes ``ahead()``'s tests too (what later phases may ask)."""
        asker, answers, alpha = self.asker, self.asker.answers, self.asker.pc_alpha
        pos, size = 0, FIRST
        alive = [pair for pair in self.pairs if pair in self.subsets]
        gone: set[tuple[int, int]] = set()
        tests = self.tests
        while alive:
            if self.p or pos:
                batch = [(pair, self.upto(pair, pos + size)[pos:pos + size]) for pair in alive]
            else:       # level 0: each pair's one test, built with the level
                batch = [(pair, tests[pair]) for pair in alive]
            todo = {t[3]: t for _, ts in batch for t in ts if t[3] not in answers}
            if todo and not pos:
                todo.update((t[3], t) for t in ahead() if t[3] not in answers)
            asker.answer(list(todo.values()))
            pos, size, nxt = pos + size, 1 << 30, []
            for (i, j, tau), ts in batch:
                for t in ts:
                    if answers[t[3]][1] > alpha:
                        break
                else:
                    if pos < len(self.subsets[(i, j, tau)]):
                        nxt.append((i, j, tau))
                    continue
                if tau == 0:     # found independent
                    gone.add((i, j))
            alive = [(i, j, tau) for i, j, tau in nxt if not (tau == 0 and i > j and (j, i) in gone)]


def _next_level(asker: Asker, in_range: dict[Pair, None], fixed: set[Pair], lag0: list[list[int]], p: int,
                budget: int) -> list[Test] | None:
    """Level p's tests on the adjacencies now (a superset of its own: links only go), None past ``budget``."""
    todo = []
    count = 0
    for pair in in_range:
        if pair not in fixed:
            i, j, tau = pair
            others = [a for a in lag0[j] if a != i] if tau == 0 else lag0[j]
            if len(others) >= p:
                count += math.comb(len(others), p)
                if count > budget:
                    return None
                todo.append((pair, others))
    n, shift = asker.n_vars, 2 * asker.shift
    tests = []
    for (i, j, tau), others in todo:
        cx = tau * n + i
        tail, pk = asker.tail(i, tau, j), asker.key(cx, j, 0)
        for S in itertools.combinations(others, p):
            z = tail
            for v in S:
                z |= 1 << v
            tests.append((cx, j, z, (z << shift) | pk))
    return tests


def _ahead(asker: Asker, present: dict[Pair, str], in_range: dict[Pair, None], fixed: set[Pair],
           lag0: list[list[int]], p: int | None, rule: str | None) -> list[Test]:
    """What the next level (p; None: no next level) and then the collider phase (rule) may ask, on
    the skeleton as it is now, if it fits SPECULATE: asked with this level's batch, it saves theirs."""
    tests = [] if p is None else _next_level(asker, in_range, fixed, lag0, p, SPECULATE)
    if tests is None:
        return []     # the next level has a batch of its own: the collider phase's tests may wait for it
    if rule in ("majority", "conservative"):
        more = possible_tests(asker, present, lambda pair: pair in in_range and pair not in fixed, lag0,
                              SPECULATE - len(tests))
        tests += more or []
    return tests


def mci_skeleton(asker: Asker, graph: np.ndarray, tau_min: int, tau_max: int, max_conds_dim: int,
                 rule: str | None = None) -> Skeleton:
    """tigramite's ``_pcalg_skeleton`` in mode 'contemp_conds' on ``graph`` (changed in place).

    ``rule``: the collider rule that follows, whose tests a level may ask ahead (see _ahead).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 3)); X[:, 1] += X[:, 0]; X[:, 2] += X[:, 1]
    >>> eng = CovParCorr(LaggedCovariance(3, 300, 0).update_many(X).stats(), 3)
    >>> g = np.full((3, 3, 1), "o?o"); sk = mci_skeleton(Asker(eng, 3, 0, 0.01, {0: [], 1: [], 2: []}), g, 0, 0, 3)
    >>> sk.graph[:, :, 0].tolist(), sk.sepsets[((0, 0), 2)]
    ([['', 'o?o', ''], ['o?o', '', 'o?o'], ['', 'o?o', '']], [(1, 0)])
    """
    N = graph.shape[0]
    graph[range(N), range(N), 0] = ""
    # the links (i, j, tau) in that order (np.nonzero's): tigramite's loops read single entries, which numpy is slow at
    where = np.nonzero(graph != "")
    links = list(zip(*(w.tolist() for w in where)))
    present = dict(zip(links, graph[where].tolist()))    # the links now and their marks
    fixed = {pair for pair, m in present.items() if m[1] == "-"}   # never tested: val 1, p 0
    in_range = {pair: None for pair in links if tau_min <= pair[2] <= tau_max}   # an ordered set
    lag0: list[list[int]] = [[] for _ in range(N)]     # per j, the i linked to j at lag 0, ascending
    for i, j, tau in links:
        if tau == 0:
            lag0[j].append(i)
    adjt = [list(a) for a in lag0]
    val_min: list[dict[int, float]] = [{i: np.inf for i in a} for a in lag0]   # lag 0 only: what the sort reads
    pmax: dict[Pair, float] = {pair: 0.0 for pair in links}
    vals: dict[Pair, float] = {pair: 0.0 for pair in links}
    sepsets: dict[tuple[Node, int], list[Node]] = {key: [] for key in _sepset_keys(N, tau_min, tau_max)}
    answers, asked, pending, alpha = asker.answers, asker.asked, asker.pending, asker.pc_alpha
    removed: list[Pair] = []     # emptied in graph at the end
    inner = asker.inner
    p = 0
    while p <= max_conds_dim:
        pairs = [pair for pair in in_range if len(adjt[pair[1]]) - (pair[2] == 0) >= p]
        if not pairs:
            break
        level = _Level(asker, adjt, pairs, fixed, p)
        level.ask_ahead(functools.partial(_ahead, asker, present, in_range, fixed, lag0,
                                          p + 1 if p < max_conds_dim else None, rule))
        for pair in pairs:
            if pair not in in_range:
                continue     # removed earlier in this level, as (j, i)
            i, j, tau = pair
            if pair in fixed:   # asked nothing: each subset val 1, p 0 (>= pmax, which stays 0)
                if tau == 0:
                    vm = val_min[j]
                    vm[i] = vm[i] if vm[i] < 1.0 else 1.0
                vals[pair] = 1.0
                continue
            subs = level.subsets[pair]
            tests = level.tests[pair]
            vm = val_min[j]
            link = (tau * N + i, j) if tau or i < j else (j, i)   # Asker.pending's key
            for k, S in enumerate(subs):
                if k >= len(tests):
                    level.upto(pair, k + 1)
                key = tests[k][3]
                got = answers.get(key)
                if got is None:
                    asker.answer([tests[k]])
                    got = answers[key]
                val, pval = got[0], got[1]
                if key not in asked:
                    asked.add(key)
                    inner.n_degenerate += got[4]
                pending[link] = got
                if tau == 0:
                    a = abs(val)
                    vm[i] = vm[i] if vm[i] < a else a      # min(abs(val), val_min), NaN as Python's min
                if pval >= pmax[pair]:
                    pmax[pair], vals[pair] = pval, val
                if pval > alpha:
                    if tau == 0:
                        for gone in (pair, (j, i, 0)):
                            del in_range[gone], present[gone]
                            removed.append(gone)
                        lag0[j].remove(i)
                        lag0[i].remove(j)
                        sepsets[((i, 0), j)] = sepsets[((j, 0), i)] = [(v, 0) for v in S]
                        pmax[(j, i, 0)] = pmax[pair]
                    else:
                        del in_range[pair], present[pair]
                        removed.append(pair)
                        sepsets[((i, -tau), j)] = [(v, 0) for v in S]
                    break
        p += 1
        # tigramite's _get_adj_time_series_contemp, sorted: by |val_min|, largest first (stable over i ascending)
        adjt = [sorted(a, key=lambda i, vm=val_min[j]: abs(vm[i]), reverse=True) for j, a in enumerate(lag0)]
    asker.flush()
    if removed:
        graph[tuple(np.array(removed).T)] = ""
    p_matrix = np.ones((N, N, tau_max + 1))
    val_matrix = np.zeros((N, N, tau_max + 1))
    if links:      # pmax / vals hold exactly the initial links, in np.nonzero's order
        p_matrix[where] = [pmax[pair] for pair in links]
        val_matrix[where] = [vals[pair] for pair in links]
    return Skeleton(graph, sepsets, p_matrix, val_matrix)


def skeleton_phase(asker: Asker, links: LinkAssumptions, parents: dict[int, list[Node]], tau_min: int, tau_max: int,
                   max_conds_dim: int | None, fdr_method: str, p_matrix: np.ndarray, val_matrix: np.ndarray,
                   rule: str | None = None) -> Skeleton:
    """The skeleton phase after PC1: its graph and sepsets, and PC1's matrices (changed in place)
    updated with the skeleton's values (lag 0 symmetrised, the tested lagged links), then FDR.

    ``links``: the checked link assumptions (LinkAssumptions.default when none were given);
    ``rule``: the collider rule that follows (its tests may be asked ahead).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
    >>> eng = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), 2)
    >>> par = {0: [], 1: []}
    >>> sk = skeleton_phase(Asker(eng, 2, 1, 0.01, par), LinkAssumptions.default(2, 0, 1), par, 0, 1, None, "none",
    ...                     np.ones((2, 2, 2)), np.zeros((2, 2, 2)))
    >>> str(sk.graph[0, 1, 0]), bool(sk.p_matrix[0, 1, 0] == sk.p_matrix[1, 0, 0] < 1e-10)
    ('o?o', True)
    """
    N = links.n_vars
    marks = links.marks
    initial = np.zeros((N, N, tau_max + 1), dtype="<U3")
    initial[:, :, 0] = marks[:, :, 0]
    for j in range(N):
        for i, lag in parents[j]:
            if marks[i, j, -lag] in ("-?>", "-->"):
                initial[i, j, -lag] = marks[i, j, -lag]
    tested = initial != ""
    sk = mci_skeleton(asker, initial.copy(), tau_min, tau_max, N if max_conds_dim is None else max_conds_dim, rule)
    sp, sv = sk.p_matrix, sk.val_matrix
    m0 = initial[:, :, 0]
    for i, j in zip(*np.nonzero((m0 == "-->") | (m0 == "-?>"))):
        sp[j, i, 0], sv[j, i, 0] = sp[i, j, 0], sv[i, j, 0]
    symmetrize_contemp(sp, sv, present=(m0 == "o-o") | (m0 == "o?o"))
    p_matrix[:, :, 0], val_matrix[:, :, 0] = sp[:, :, 0], sv[:, :, 0]
    copy = tested & (initial != "<--") & (initial != "<?-")
    p_matrix[copy], val_matrix[copy] = sp[copy], sv[copy]
    if fdr_method not in (None, "none"):
        lagged = links.candidates.copy()
        lagged[:, :, 0] = False
        flat = np.concatenate(([1.0], p_matrix[lagged]))[None, None, :]   # fdr_bh corrects lags >= 1
        p_matrix = np.array(p_matrix)
        p_matrix[lagged] = fdr_bh(flat, 1, fdr_method)[0, 0, 1:]
    return Skeleton(sk.graph, sk.sepsets, p_matrix, val_matrix)
