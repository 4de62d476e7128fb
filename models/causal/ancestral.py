"""The true ancestral graph (MAG) of the observed variables of a lagged SCM with hidden ones.

What LPCMCI estimates, and what its PAG is scored against (bench/causal_lpcmci.py): the model
(tigramite's links dict, hidden variables included) is unrolled in time into a DAG; over the
observed variables at lags 0 .. tau_max, ``x`` at lag tau and ``y`` at lag 0 are adjacent when
no set separates them, which for an ancestral graph is decided by one set: their observed
ancestors in the window (Richardson and Spirtes, 2002). An end is a tail where that variable is
an ancestor of the other, an arrowhead where it is not: ``-->``, or ``<->`` (a hidden common
cause). So a confounder H of X and Y gives ``X <-> Y``, a hidden mediator X -> H -> Y gives
``X --> Y`` at the summed lag. Separation is d-separation on the unrolled DAG ("Bayes ball"),
``depth`` steps into the past (default: enough for the paths of a stationary model to close).

>>> links = {0: [], 1: [((0, -1), 0.5, None)], 2: [((0, -1), 0.5, None)]}  # 0 drives 1 and 2
>>> g = ancestral_graph(links, observed=[1, 2], tau_max=1)
>>> str(g[0, 1, 0]), str(g[1, 0, 0]), str(g[0, 1, 1])
('<->', '<->', '')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ancestral_graph"]

Node = tuple[int, int]  # (variable, time <= 0)


def _unroll(links: dict, depth: int) -> tuple[dict[Node, list[Node]], dict[Node, list[Node]]]:
    """Parents and children of every (variable, time) with time in [-depth, 0]."""
    parents: dict[Node, list[Node]] = {(j, t): [] for j in links for t in range(-depth, 1)}
    children: dict[Node, list[Node]] = {node: [] for node in parents}
    for j, ls in links.items():
        for (i, lag), coeff, *_ in ls:
            if coeff == 0:
                continue
            for t in range(-depth - lag, 1):  # lag <= 0: the parent at t + lag stays in the unrolled past
                if (j, t) in parents:
                    parents[(j, t)].append((i, t + lag))
                    children[(i, t + lag)].append((j, t))
    return parents, children


def _ancestors(node: Node, parents: dict[Node, list[Node]]) -> set[Node]:
    """``node`` and every ancestor of it."""
    seen, todo = {node}, [node]
    while todo:
        for p in parents[todo.pop()]:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _connected(x: Node, y: Node, given: set[Node], parents: dict[Node, list[Node]],
               children: dict[Node, list[Node]]) -> bool:
    """Whether x and y are d-connected given ``given`` (Koller and Friedman's reachability)."""
    opened: set[Node] = set()  # ancestors of the conditioning set: colliders there pass
    for z in given:
        opened |= _ancestors(z, parents)
    seen: set[tuple[Node, bool]] = set()
    todo = [(x, True)]  # (node, arrived from a child: going up)
    while todo:
        node, up = todo.pop()
        if (node, up) in seen:
            continue
        seen.add((node, up))
        if node == y and node not in given:
            return True
        if up and node not in given:
            todo += [(p, True) for p in parents[node]] + [(c, False) for c in children[node]]
        elif not up:
            if node not in given:
                todo += [(c, False) for c in children[node]]
            if node in opened:
                todo += [(p, True) for p in parents[node]]
    return False


def ancestral_graph(links: dict, observed: Sequence[int], tau_max: int, depth: int | None = None) -> np.ndarray:
    """The MAG over ``observed`` (their order) at lags 0 .. tau_max: tigramite's [N, N, tau_max + 1] strings.

    ``links`` is tigramite's ``{j: [((i, -lag), coeff, func), ...]}`` over every variable; a
    coefficient 0 is no link. Marks: ``-->`` (lag 0 mirrored ``<--``) and ``<->``; as in
    tigramite's ``OracleCI(graph_is_mag=True).get_graph_from_links``.

    >>> chain = {0: [], 1: [((2, -1), 0.5, None)], 2: [((0, -1), 0.5, None)]}  # 0 -> 2 (hidden) -> 1
    >>> g = ancestral_graph(chain, observed=[0, 1], tau_max=2)
    >>> str(g[0, 1, 2]), str(g[0, 1, 1])
    ('-->', '')
    """
    max_lag = max((-lag for ls in links.values() for (_, lag), *_ in ls), default=0)
    depth = depth if depth is not None else tau_max + 4 * len(links) * max(max_lag, 1) + 10
    parents, children = _unroll(links, depth)
    window = [(v, -tau) for v in observed for tau in range(tau_max + 1)]
    anc = {node: _ancestors(node, parents) for node in window}
    graph = np.full((len(observed), len(observed), tau_max + 1), "", dtype="<U3")
    for j, y in enumerate(observed):
        for i, x in enumerate(observed):
            for tau in range(tau_max + 1):
                a, b = (x, -tau), (y, 0)
                if a == b or (tau == 0 and i > j):
                    continue
                given = {n for n in window if n in anc[a] | anc[b]} - {a, b}
                if not _connected(a, b, given, parents, children):
                    continue
                a_causes, b_causes = a in anc[b], b in anc[a]
                mark = "-->" if a_causes and not b_causes else "<--" if b_causes and not a_causes else "<->"
                graph[i, j, tau] = mark
                if tau == 0:
                    graph[j, i, 0] = {"-->": "<--", "<--": "-->"}.get(mark, mark)
    return graph
