"""CausalGraph message <-> LaggedGraph: the one place where marks change form.

On the bus the marks travel as nested lists of strings (msgspec has no string arrays) and the
link statuses as int8 codes into ``LINK_STATUSES``; everywhere else they are the ``<U3`` and
``<U13`` ndarrays of :class:`~causalstream.models.causal.graph.LaggedGraph`.
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
from causalstream.stream.messages import LINK_STATUSES, CausalEvent, CausalGraph, Link

__all__ = ["change_event", "graph_message", "graph_of", "status_codes"]


def graph_of(msg: CausalGraph) -> LaggedGraph:
    """The graph a CausalGraph message carries (marks as an ndarray).

    >>> msg = CausalGraph(names=[], tau_max=1, graph=[], val=np.zeros((0, 0, 2)), p=np.ones((0, 0, 2)))
    >>> graph_of(msg).marks.shape
    (0, 0, 2)
    """
    n = len(msg.names)
    marks = np.array(msg.graph, dtype="<U3").reshape(n, n, msg.tau_max + 1)
    n_eff = msg.n_eff if msg.n_eff.size else None
    return LaggedGraph(msg.names, marks, msg.val, msg.p, msg.stability, tau_min=msg.tau_min, status=msg.statuses(),
                       n_eff=n_eff)


def status_codes(status: np.ndarray) -> np.ndarray:
    """Status names -> the message's int8 codes (an empty array when every status is unknown, "").

    >>> status_codes(np.array([["tested", "assumed"]])).tolist(), status_codes(np.array([[""]])).shape
    ([[1, 4]], (0,))
    """
    status = np.asarray(status)
    if status.size == 0 or not np.any(status != ""):
        return np.zeros(0, dtype=np.int8)
    codes = np.zeros(status.shape, dtype=np.int8)  # "" beside known statuses: untested
    for code, name in enumerate(LINK_STATUSES):
        codes[status == name] = code
    return codes


def graph_message(graph: LaggedGraph, **fields: Any) -> CausalGraph:
    """A CausalGraph message of ``graph``; ``fields`` fill the rest (stamp_ns, seq, method, graph_status...).

    The link statuses and n_eff travel when the graph knows them.

    >>> m = graph_message(LaggedGraph(["a"], np.full((1, 1, 2), "", dtype="<U3")), method="pcmciplus")
    >>> m.tau_max, m.graph, m.method, m.link_status.shape
    (1, [[['', '']]], 'pcmciplus', (0,))
    >>> st = np.array([[["untested", "insufficient"]]])
    >>> graph_message(LaggedGraph(["a"], np.full((1, 1, 2), "", dtype="<U3"), status=st)).link_status.tolist()
    [[[0, 3]]]
    """
    codes = status_codes(graph.status)
    n_eff = graph.n_eff.astype(np.int32) if codes.size else np.zeros(0, dtype=np.int32)
    return CausalGraph(names=list(graph.names), tau_min=graph.tau_min, tau_max=graph.tau_max,
                       graph=graph.marks.tolist(), val=graph.val, p=graph.p, stability=graph.stability,
                       link_status=codes, n_eff=n_eff, **fields)


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
