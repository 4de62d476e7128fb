"""What changed between two consecutive graphs: links added, removed, and the SHD.

A lagged entry graph[i, j, tau] (tau >= 1) is one link i -(tau)-> j. A lag-0 pair i - j is
one link, written from the lower index (graph[i, j, 0] with i < j: '-->', '<--', 'o-o' or
'x-x'). A link whose mark changes counts once in ``removed`` (old mark) and once in
``added`` (new mark), and once in the structural Hamming distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["GraphDiff", "diff_graphs", "links_of"]

LinkTuple = tuple[str, str, int, str]


@dataclass(frozen=True)
class GraphDiff:
    """Links added and removed (source, target, lag, mark) and the structural Hamming distance.

    >>> GraphDiff().shd, GraphDiff().changed
    (0, False)
    """

    added: list[LinkTuple] = field(default_factory=list)
    removed: list[LinkTuple] = field(default_factory=list)
    shd: int = 0

    @property
    def changed(self) -> bool:
        """True when any link differs.

        >>> GraphDiff(shd=1).changed
        True
        """
        return self.shd > 0


def links_of(graph: np.ndarray, var_names: Sequence[str] | None = None) -> set[LinkTuple]:
    """Every link of a tigramite string graph, lag-0 pairs once (from the lower index).

    >>> g = np.zeros((2, 2, 2), dtype="<U3"); g[0, 1, 1] = "-->"; g[0, 1, 0] = "o-o"; g[1, 0, 0] = "o-o"
    >>> sorted(links_of(g, ["a", "b"]))
    [('a', 'b', 0, 'o-o'), ('a', 'b', 1, '-->')]
    """
    graph = np.asarray(graph)
    n = graph.shape[0]
    names = list(var_names) if var_names is not None else [str(i) for i in range(n)]
    out = set()
    for i, j, tau in zip(*np.nonzero(graph != "")):
        if tau == 0 and i > j:
            continue
        out.add((names[i], names[j], int(tau), str(graph[i, j, tau])))
    return out


def diff_graphs(previous: np.ndarray | None, current: np.ndarray,
                var_names: Sequence[str] | None = None) -> GraphDiff:
    """Links added and removed from ``previous`` to ``current`` and their SHD (None: all added).

    >>> a = np.zeros((2, 2, 2), dtype="<U3"); b = a.copy(); b[0, 1, 1] = "-->"
    >>> d = diff_graphs(a, b, ["x", "y"]); d.added, d.removed, d.shd
    ([('x', 'y', 1, '-->')], [], 1)
    """
    new = links_of(current, var_names)
    if previous is None:
        return GraphDiff(added=sorted(new), removed=[], shd=len(new))
    if np.shape(previous) != np.shape(current):
        raise ParameterError("diff_graphs", f"graph shapes differ: {np.shape(previous)} vs {np.shape(current)}")
    old = links_of(previous, var_names)
    added, removed = sorted(new - old), sorted(old - new)
    places = {(s, t, lag) for s, t, lag, _ in added} | {(s, t, lag) for s, t, lag, _ in removed}
    return GraphDiff(added=added, removed=removed, shd=len(places))
