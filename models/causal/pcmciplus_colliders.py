"""PCMCI+'s collider phase (tigramite's ``_pcmciplus_collider_phase``), asked in one batch.

The skeleton's '?' middle marks become '-'. Every unshielded triple i_tau o-(>) k_t o-o j_t
(i_tau, j_t not adjacent; conflicting 'x-x' links left out) is a collider candidate:

- rule 'none': a collider iff (k, 0) is not in the sepset of (i_tau, j);
- 'majority' / 'conservative': every subset of j's contemporaneous adjacencies (without i),
  and for tau = 0 of i's (without j), is tested as S (with the lagged parents, as in the
  skeleton); among the separating ones, the share holding (k, 0) decides: majority < 0.5 a
  collider, > 0.5 not, = 0.5 or none separating ambiguous; conservative 0 a collider, 1 not,
  otherwise ambiguous. A decided triple edits the sepset (removes or adds (k, 0)).

The tests do not change the graph, so all triples' tests go to the engine in one batch; they
are then asked in tigramite's order (the subsets in the order of its ``set``), which alone
leaves a trace (pcmciplus_ask.py). Colliders are then oriented j --> k <-- i in triple order;
with ``conflict_resolution`` a link oriented both ways becomes 'x-x'.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalstream.models.causal.pcmciplus_ask import Asker, Test
from causalstream.models.errors import ParameterError

__all__ = ["Colliders", "RULES", "collider_phase", "linked", "possible_tests", "unshielded_triples"]

Node = tuple[int, int]
Pair = tuple[int, int, int]
Triple = tuple[Node, int, int]
RULES = ("majority", "conservative", "none")
"""tigramite's contemp_collider_rule values (None is taken as 'none')."""


@dataclass
class Colliders:
    """The graph with colliders oriented, the edited sepsets and the ambiguous triples.

    >>> Colliders(np.zeros((1, 1, 1), "<U3"), {}, []).ambiguous
    []
    """

    graph: np.ndarray
    sepsets: dict[tuple[Node, int], list[Node]]
    ambiguous: list[Triple]


def linked(graph: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per j, the (i, tau) with a mark graph[i, j, tau], in np.where order (i, then tau).

    >>> g = np.full((2, 2, 2), "", dtype="<U3"); g[0, 1, 1] = "-->"; g[0, 1, 0] = g[1, 0, 0] = "o-o"
    >>> linked(g)
    [[(1, 0)], [(0, 0), (0, 1)]]
    """
    out: list[list[tuple[int, int]]] = [[] for _ in range(graph.shape[0])]
    j, i, t = np.nonzero(graph.transpose(1, 0, 2) != "")
    for a, b, c in zip(j.tolist(), i.tolist(), t.tolist()):
        out[a].append((b, c))
    return out


def _adjacent(g: list, links: list[list[tuple[int, int]]], include_conflicts: bool, contemp: bool) -> list[list[Node]]:
    """tigramite's _get_adj_time_series(_contemp) on the graph as lists (its marks in ``links``, see
    linked()): per j the (i, -tau) linked to j, in np.where order."""
    skip = ("",) if include_conflicts else ("", "x-x", "x?x")
    return [[(i, -t) for i, t in lj if (t == 0 or not contemp) and g[i][j][t] not in skip] for j, lj in enumerate(links)]


def unshielded_triples(graph: np.ndarray) -> list[Triple]:
    """tigramite's _find_unshielded_triples: i_tau o-o / --> k_t o-o j_t with i_tau, j_t not adjacent.

    >>> g = np.full((3, 3, 1), "", dtype="<U3"); g[0, 1, 0] = g[1, 0, 0] = g[1, 2, 0] = g[2, 1, 0] = "o-o"
    >>> unshielded_triples(g)
    [((2, 0), 1, 0), ((0, 0), 1, 2)]
    """
    return _triples(graph.tolist(), linked(graph))


def _triples(g: list, links: list[list[tuple[int, int]]]) -> list[Triple]:
    adjt = _adjacent(g, links, include_conflicts=False, contemp=False)
    return [((i, ti), k, j) for j in range(len(g)) for k, tk in adjt[j] if tk == 0 and g[k][j][0] == "o-o"
            for i, ti in adjt[k] if (i, ti) != (j, 0) and g[i][j][-ti] == "" and g[i][k][-ti] in ("o-o", "-->")]


def possible_tests(asker: Asker, links: dict[Pair, str], removable: Callable[[Pair], bool], lag0: list[list[int]],
                   budget: int) -> list[Test] | None:
    """Every test the majority / conservative rule may ask on a skeleton left from ``links`` (i, j, tau)
    -> mark when only ``removable`` links go (a superset); None when more than ``budget`` subsets.

    ``lag0[j]``: the i linked to j at lag 0. A triple (i, -tau) - k - j of the final skeleton
    has its links here, and its subsets are among those of the adjacencies here.

    >>> a = Asker(None, 3, 0, 0.05, {0: [], 1: [], 2: []})
    >>> links = {(0, 1, 0): "o?o", (1, 0, 0): "o?o", (1, 2, 0): "o?o", (2, 1, 0): "o?o"}
    >>> [a.nodes(t[2]) for t in possible_tests(a, links, lambda pair: True, [[1], [0, 2], [1]], 64)]
    [[(1, 0)], [], [(1, 0)], [], [(1, 0)], [], [(1, 0)], []]
    """
    into: list[list[tuple[int, int]]] = [[] for _ in lag0]
    for i, k, tau in links:
        into[k].append((i, tau))
    found: set[tuple[int, int, int]] = set()
    sets, count = [], 0
    for j, ks in enumerate(lag0):
        for k in ks:
            if links[(k, j, 0)] in ("o?o", "o-o"):
                for i, tau in into[k]:
                    if (tau == 0 and i == j) or (i, tau, j) in found \
                            or ((i, j, tau) in links and not removable((i, j, tau))):
                        continue
                    found.add((i, tau, j))
                    sets.append((i, tau, j, sum(1 << m for m in lag0[j] if not (tau == 0 and m == i))))
                    count += 1 << sets[-1][3].bit_count()
                    if tau == 0:
                        sets.append((i, tau, j, sum(1 << m for m in lag0[i] if m != j)))
                        count += 1 << sets[-1][3].bit_count()
                    if count > budget:      # stop early: on a dense skeleton this loop is long
                        return None
    n, shift = asker.n_vars, 2 * asker.shift
    tests = []
    for i, tau, j, every in sets:
        cx = tau * n + i
        tail, pk = asker.tail(i, tau, j), asker.key(cx, j, 0)
        sub = every
        while True:      # every subset of the bits, down to the empty one
            z = tail | sub
            tests.append((cx, j, z, (z << shift) | pk))
            if not sub:
                break
            sub = (sub - 1) & every
    return tests


def _subsets(s: tuple[Node, ...]) -> list[tuple[Node, ...]]:
    """tigramite's subsets(): every subset of s, in the order of a Python set of the tuples ([] for no s)."""
    if len(s) == 0:
        return []
    every: list[tuple[Node, ...]] = []
    for size in range(len(s) + 1):
        every += list(itertools.combinations(s, size))
    return list(set(every))


def _subsets_and_bits(of_j: tuple[Node, ...], of_i: tuple[Node, ...] | None
                      ) -> tuple[tuple[tuple[Node, ...], ...], tuple[int, ...]]:
    """The distinct subsets of j's adjacencies and (lag 0) of i's, in tigramite's order, and each
    one's lag-0 columns as bits."""
    found = _subsets(of_j) + (_subsets(of_i) if of_i is not None else [])
    unique = tuple(dict.fromkeys(found))
    return unique, tuple(sum(1 << m for m, _ in sub) for sub in unique)


_cached_subsets = functools.lru_cache(maxsize=2048)(_subsets_and_bits)
CACHED = 10
"""Adjacencies (j's and i's together) up to this size have their subsets cached (<= 2 * 2^10 each)."""


def _neighbour_subsets(of_j: tuple[Node, ...], of_i: tuple[Node, ...] | None
                       ) -> tuple[tuple[tuple[Node, ...], ...], tuple[int, ...]]:
    """_subsets_and_bits, cached when small: a set of int tuples iterates the same way every time."""
    if len(of_j) + len(of_i or ()) <= CACHED:
        return _cached_subsets(of_j, of_i)
    return _subsets_and_bits(of_j, of_i)


def _decide(rule: str, fraction: float | None) -> str:
    """'collider', 'non-collider' or 'ambiguous' from the share of separating sets holding k."""
    if fraction is None:
        return "ambiguous"
    if rule == "conservative":
        return "collider" if fraction == 0 else "non-collider" if fraction == 1 else "ambiguous"
    return "ambiguous" if fraction == 0.5 else "collider" if fraction < 0.5 else "non-collider"


def _edit_sepsets(sepsets: dict, triple: Triple, verdict: str) -> None:
    (i, tau), k, j = triple
    keys = [((i, tau), j)] + ([((j, tau), i)] if tau == 0 else [])
    for key in keys:   # the two lag-0 keys may share one list, as tigramite stores them
        if verdict == "collider" and (k, 0) in sepsets[key]:
            sepsets[key].remove((k, 0))
        elif verdict == "non-collider" and (k, 0) not in sepsets[key]:
            sepsets[key].append((k, 0))


def _orient(graph: np.ndarray, v_structures: list[Triple], conflict_resolution: bool) -> None:
    oriented: set[tuple[int, int]] = set()
    for (i, tau), k, j in v_structures:
        for a in ((j,) if tau != 0 else (j, i)):
            if (k, a) not in oriented and (a, k) not in oriented:
                graph[k, a, 0], graph[a, k, 0] = "<--", "-->"
                oriented.add((a, k))
            if conflict_resolution and (k, a) in oriented:
                graph[a, k, 0] = graph[k, a, 0] = "x-x"


def collider_phase(asker: Asker, graph: np.ndarray, sepsets: dict[tuple[Node, int], list[Node]],
                   rule: str | None = "majority", conflict_resolution: bool = True) -> Colliders:
    """Colliders of the skeleton ``graph`` (changed in place) with ``sepsets`` (edited in place).

    >>> g = np.full((3, 3, 1), "", dtype="<U3"); g[0, 1, 0] = g[1, 0, 0] = g[1, 2, 0] = g[2, 1, 0] = "o?o"
    >>> sep = {((0, 0), 2): [], ((2, 0), 0): []}
    >>> c = collider_phase(Asker(None, 3, 0, 0.05, {0: [], 1: [], 2: []}), g, sep, rule="none")
    >>> c.graph[:, :, 0].tolist()
    [['', '-->', ''], ['<--', '', '<--'], ['', '-->', '']]
    """
    if rule is None:
        rule = "none"
    if rule not in RULES:
        raise ParameterError("PCMCI+", f"contemp_collider_rule must be one of {RULES}, got {rule!r}")
    for mark, settled in (("o?o", "o-o"), ("-?>", "-->"), ("<?-", "<--")):
        graph[graph == mark] = settled
    g = graph.tolist()      # single entries read from lists: numpy is slow at that
    links = linked(graph)
    triples = _triples(g, links)
    v_structures: list[Triple] = []
    ambiguous: list[Triple] = []
    if rule == "none":
        v_structures = [t for t in triples if (t[1], 0) not in sepsets[(t[0], t[2])]]
    else:
        adjt = [tuple(a) for a in _adjacent(g, links, include_conflicts=True, contemp=True)]
        n, shift = asker.n_vars, 2 * asker.shift
        plan = []
        for triple in triples:
            (i, tau), k, j = triple
            if tau:      # the adjacencies are at lag 0: (i, tau) is not among them
                subs, bits = _neighbour_subsets(adjt[j], None)
            else:
                subs, bits = _neighbour_subsets(tuple(nd for nd in adjt[j] if nd[0] != i),
                                                tuple(nd for nd in adjt[i] if nd[0] != j))
            cx = -tau * n + i
            tail, pk, xy = asker.tail(i, -tau, j), asker.key(cx, j, 0), (1 << cx) | (1 << j)
            plan.append((triple, subs, [(cx, j, z, (z << shift) | pk) for z in ((tail | b) & ~xy for b in bits)]))
        asker.prefetch(t for _, _, ts in plan for t in ts)
        for triple, subs, ts in plan:
            k = triple[1]
            separating = [S for S, t in zip(subs, ts) if not asker.ask(t)[2]]
            fraction = sum((k, 0) in S for S in separating) / len(separating) if separating else None
            verdict = _decide(rule, fraction)
            if verdict == "ambiguous":
                ambiguous.append(triple)
            else:
                if verdict == "collider":
                    v_structures.append(triple)
                _edit_sepsets(sepsets, triple, verdict)
        asker.flush()
    _orient(graph, v_structures, conflict_resolution)
    return Colliders(graph, sepsets, ambiguous)
