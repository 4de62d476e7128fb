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

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalstream.models.causal.pcmciplus_ask import Asker, Test
from causalstream.models.errors import ParameterError

__all__ = ["Colliders", "RULES", "collider_phase", "possible_tests", "unshielded_triples"]

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


def _adjacent(graph: np.ndarray, include_conflicts: bool, contemp: bool) -> list[list[Node]]:
    """tigramite's _get_adj_time_series(_contemp): per j the (i, -tau) linked to j, in np.where order."""
    ok = graph != ""
    if not include_conflicts:
        ok &= (graph != "x-x") & (graph != "x?x")
    out = []
    for j in range(graph.shape[0]):
        ii, tt = np.nonzero(ok[:, j, :1] if contemp else ok[:, j, :])
        out.append([(int(i), -int(t)) for i, t in zip(ii, tt)])
    return out


def unshielded_triples(graph: np.ndarray) -> list[Triple]:
    """tigramite's _find_unshielded_triples: i_tau o-o / --> k_t o-o j_t with i_tau, j_t not adjacent.

    >>> g = np.full((3, 3, 1), "", dtype="<U3"); g[0, 1, 0] = g[1, 0, 0] = g[1, 2, 0] = g[2, 1, 0] = "o-o"
    >>> unshielded_triples(g)
    [((2, 0), 1, 0), ((0, 0), 1, 2)]
    """
    adjt = _adjacent(graph, include_conflicts=False, contemp=False)
    return [((i, ti), k, j) for j in range(graph.shape[0]) for k, tk in adjt[j] if tk == 0 and graph[k, j, 0] == "o-o"
            for i, ti in adjt[k] if (i, ti) != (j, 0) and graph[i, j, -ti] == ""
            and graph[i, k, -ti] in ("o-o", "-->")]


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
    found: dict[tuple[int, int, int], None] = {}
    for j, ks in enumerate(lag0):
        for k in ks:
            if links[(k, j, 0)] in ("o?o", "o-o"):
                for i, tau in into[k]:
                    if not (tau == 0 and i == j) and ((i, j, tau) not in links or removable((i, j, tau))):
                        found[(i, tau, j)] = None
    sets, count = [], 0
    for i, tau, j in found:
        sets.append((i, tau, j, sum(1 << m for m in lag0[j] if not (tau == 0 and m == i))))
        if tau == 0:
            sets.append((i, tau, j, sum(1 << m for m in lag0[i] if m != j)))
        count += sum(1 << s[3].bit_count() for s in sets[-1 - (tau == 0):])
        if count > budget:
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


def _subsets(s: list[Node]) -> list[list[Node]]:
    """tigramite's subsets(): every subset of s, in the order of a Python set of the tuples ([] for no s)."""
    if len(s) == 0:
        return []
    every: list[tuple[Node, ...]] = []
    for size in range(len(s) + 1):
        every += list(itertools.combinations(s, size))
    return [list(sub) for sub in list(set(every))]


def _neighbour_subsets(adjt: list[list[Node]], triple: Triple) -> list[list[Node]]:
    (i, tau), _, j = triple
    found = _subsets([(m, tm) for m, tm in adjt[j] if not (m == i and tau == tm)])
    if tau == 0:
        found += _subsets([(m, tm) for m, tm in adjt[i] if not (m == j and tm == 0)])
    unique: list[list[Node]] = []
    for sub in found:
        if sub not in unique:
            unique.append(sub)
    return unique


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
    oriented: list[tuple[int, int]] = []
    for (i, tau), k, j in v_structures:
        for a in ((j,) if tau != 0 else (j, i)):
            if (k, a) not in oriented and (a, k) not in oriented:
                graph[k, a, 0], graph[a, k, 0] = "<--", "-->"
                oriented.append((a, k))
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
    triples = unshielded_triples(graph)
    v_structures: list[Triple] = []
    ambiguous: list[Triple] = []
    if rule == "none":
        v_structures = [t for t in triples if (t[1], 0) not in sepsets[(t[0], t[2])]]
    else:
        adjt = _adjacent(graph, include_conflicts=True, contemp=True)
        subsets = [_neighbour_subsets(adjt, t) for t in triples]
        tests = [[asker.test(i, -tau, j, S) for S in subs] for ((i, tau), _, j), subs in zip(triples, subsets)]
        asker.prefetch(t for ts in tests for t in ts)
        for triple, subs, ts in zip(triples, subsets, tests):
            k = triple[1]
            separating = [S for S, t in zip(subs, ts) if not asker.ask(t)[2]]
            fraction = float(np.sum([(k, 0) in S for S in separating])) / len(separating) if separating else None
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
