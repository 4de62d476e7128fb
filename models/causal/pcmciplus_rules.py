"""PCMCI+'s rule-orientation phase (tigramite's ``_pcalg_rules_timeseries``), graph only.

After the collider phase, the remaining 'o-o' lag-0 links are oriented by three rules, applied
in turn (R1, R2, R3) until none finds an unambiguous motif:

- R1: i_tau --> k_t o-o j_t with i_tau, j_t not adjacent: orient k --> j;
- R2: i_t --> k_t --> j_t with i_t o-o j_t: orient i --> j;
- R3: i o-o k --> j and i o-o l --> j with i o-o j and k, l not adjacent: orient i --> j.

Motifs are found on the graph as it is when each rule starts (conflicting 'x-x' links left
out), in tigramite's order; a link already oriented in this phase is not oriented again, and
with ``conflict_resolution`` a motif that would reverse it marks it 'x-x'. Triples listed in
``ambiguous`` (from the majority / conservative collider rule) are not used.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from causalstream.models.causal.pcmciplus_colliders import linked

__all__ = ["orient_rules"]

Node = tuple[int, int]
Triple = tuple[Node, int, int]


def _adjacent(g: list, links: list[list[tuple[int, int]]], contemp: bool) -> list[list[Node]]:
    """Per j, the (i, -tau) with a non-conflicting entry g[i][j][tau] (among ``links``: pcmciplus_colliders.linked),
    in np.where order (i, then tau)."""
    return [[(i, -t) for i, t in lj if (t == 0 or not contemp) and g[i][j][t] not in ("x-x", "x?x")]
            for j, lj in enumerate(links)]


def _rule1_triples(g: list, links: list) -> list[Triple]:
    adj = _adjacent(g, links, False)
    return [((i, ti), k, j) for j in range(len(g)) for k, tk in adj[j] if tk == 0 and g[j][k][0] == "o-o"
            for i, ti in adj[k] if (i, ti) != (j, 0) and g[i][j][-ti] == "" and g[i][k][-ti] == "-->"]


def _rule2_triples(g: list, links: list) -> list[Triple]:
    adj = _adjacent(g, links, True)
    return [((i, 0), k, j) for j in range(len(g)) for k, _ in adj[j] if g[k][j][0] == "-->"
            for i, ti in adj[k] if g[i][k][0] == "-->" and (i, ti) != (j, 0)
            and g[i][j][0] == "o-o" and g[j][i][0] == "o-o"]


def _rule3_chains(g: list, links: list) -> list[tuple[Triple, Triple]]:
    adj = _adjacent(g, links, True)
    return [(((i, 0), k, j), ((i, 0), m, j)) for j in range(len(g)) for i, _ in adj[j] if g[j][i][0] == "o-o"
            for k, _ in adj[j] for m, _ in adj[j]
            if k != m and k != i and m != i and g[k][j][0] == "-->" and g[m][j][0] == "-->"
            and g[k][i][0] == "o-o" and g[m][i][0] == "o-o" and g[k][m][0] == ""]


def _orient(g: list, out: np.ndarray, a: int, b: int, oriented: set[tuple[int, int]], conflict_resolution: bool) -> None:
    """Orient a --> b (in the lists g and the array out) unless a-b was oriented in this phase; a reversal becomes 'x-x'."""
    if (b, a) not in oriented and (a, b) not in oriented:
        g[a][b][0], g[b][a][0] = out[a, b, 0], out[b, a, 0] = "-->", "<--"
        oriented.add((a, b))
    if conflict_resolution and (b, a) in oriented:
        g[b][a][0] = g[a][b][0] = out[b, a, 0] = out[a, b, 0] = "x-x"


def orient_rules(graph: np.ndarray, ambiguous: Iterable[Triple] = (), conflict_resolution: bool = True) -> np.ndarray:
    """The graph after R1-R3 (a new array; ``graph`` is left alone).

    >>> g = np.full((3, 3, 2), "", dtype="<U3")
    >>> g[0, 1, 1] = "-->"; g[1, 2, 0] = g[2, 1, 0] = "o-o"
    >>> str(orient_rules(g)[1, 2, 0]), str(orient_rules(g, [((0, -1), 1, 2)])[1, 2, 0])
    ('-->', 'o-o')
    """
    out = np.copy(graph)
    g = graph.tolist()      # single entries read from lists: numpy is slow at that
    links = linked(graph)   # the marks ('' stays '', the phase only changes marks)
    amb = {((int(i), int(t)), int(k), int(j)) for (i, t), k, j in ambiguous}
    oriented: set[tuple[int, int]] = set()
    more = True
    while more:
        more = False
        for (_, _), k, j in (t for t in _rule1_triples(g, links) if t not in amb):
            more = True
            _orient(g, out, k, j, oriented, conflict_resolution)
        for (i, _), _, j in (t for t in _rule2_triples(g, links) if t not in amb):
            more = True
            _orient(g, out, i, j, oriented, conflict_resolution)
        for first, _ in (c for c in _rule3_chains(g, links) if c[0] not in amb and c[1] not in amb):
            more = True
            (i, _), _, j = first
            _orient(g, out, i, j, oriented, conflict_resolution)
    return out
