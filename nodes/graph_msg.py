"""CausalGraph message <-> LaggedGraph: the one place where marks change form.

On the bus the marks travel as nested lists of strings (msgspec has no string arrays);
everywhere else they are the ``<U3`` ndarray of :class:`~causalstream.models.causal.graph.LaggedGraph`.
Nodes, views and benchmarks read a received graph with :func:`graph_of` and publish one
with :func:`graph_message`; a graph's changes go out with :func:`change_event`.

>>> import numpy as np
>>> marks = np.zeros((2, 2, 2), dtype="<U3"); marks[0, 1, 1] = "-->"
>>> msg = graph_message(LaggedGraph(["a.x", "b.x"], marks), seq=3)
>>> msg.graph[0][1], msg.seq, graph_of(msg).cross_links()
(['', '-->'], 3, {('a', 'b')})
"""

from __future__ import annotations

from typing import Any

import numpy as np

from causalstream.models.causal.graph import GraphDiff, LaggedGraph
from causalstream.stream.messages import CausalEvent, CausalGraph, Link

__all__ = ["change_event", "graph_message", "graph_of"]


def graph_of(msg: CausalGraph) -> LaggedGraph:
    """The graph a CausalGraph message carries (marks as an ndarray).

    >>> msg = CausalGraph(names=[], tau_max=1, graph=[], val=np.zeros((0, 0, 2)), p=np.ones((0, 0, 2)))
    >>> graph_of(msg).marks.shape
    (0, 0, 2)
    """
    n = len(msg.names)
    marks = np.array(msg.graph, dtype="<U3").reshape(n, n, msg.tau_max + 1)
    return LaggedGraph(msg.names, marks, msg.val, msg.p, msg.stability, tau_min=msg.tau_min)


def graph_message(graph: LaggedGraph, **fields: Any) -> CausalGraph:
    """A CausalGraph message of ``graph``; ``fields`` fill the rest (stamp_ns, seq, method, flags...).

    >>> m = graph_message(LaggedGraph(["a"], np.full((1, 1, 2), "", dtype="<U3")), method="pcmciplus")
    >>> m.tau_max, m.graph, m.method
    (1, [[['', '']]], 'pcmciplus')
    """
    return CausalGraph(names=list(graph.names), tau_min=graph.tau_min, tau_max=graph.tau_max,
                       graph=graph.marks.tolist(), val=graph.val, p=graph.p, stability=graph.stability, **fields)


def change_event(diff: GraphDiff, stamp_ns: int, graph_seq: int) -> CausalEvent | None:
    """The ``graph_changed`` event of a diff (None when nothing changed).

    >>> change_event(GraphDiff(added=[("a", "b", 1, "-->")], shd=1), 5, 2).detail
    '1 added, 0 removed'
    >>> change_event(GraphDiff(), 5, 2) is None
    True
    """
    if not diff.changed:
        return None
    return CausalEvent(stamp_ns=stamp_ns, kind="graph_changed", shd=diff.shd, graph_seq=graph_seq,
                       added=[Link(*link) for link in diff.added], removed=[Link(*link) for link in diff.removed],
                       detail=f"{len(diff.added)} added, {len(diff.removed)} removed")
