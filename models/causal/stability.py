"""Per-link stability: the share of the last K graph refreshes that held each link.

>>> g = np.array([[["", "-->"], ["", ""]], [["", ""], ["", ""]]])
>>> float(LinkStability(k=2).update(g).update(np.zeros_like(g)).get()[0, 0, 1])
0.5
"""

from __future__ import annotations

from collections import deque

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["LinkStability"]


class LinkStability:
    """Share of the last ``k`` graphs (tigramite string arrays) in which each entry is non-empty.

    The result has the graph's shape [N, N, tau_max + 1], the ``stability`` field of the
    CausalGraph message. Before K graphs were seen it is the share among those seen. A link
    whose status (``results()["link_status"]``) is "deterministic" is not held: a function of
    other variables is not a finding, however often it shows.

    >>> s = LinkStability(k=3)
    >>> for mark in ["-->", "-->", ""]:
    ...     _ = s.update(np.array([[[mark]]]))
    >>> round(float(s.get()[0, 0, 0]), 3), s.n_graphs
    (0.667, 3)
    """

    def __init__(self, k: int = 10) -> None:
        if k < 1:
            raise ParameterError("LinkStability", f"k must be >= 1, got {k}")
        self.k = k
        self._recent: deque[np.ndarray] = deque(maxlen=k)
        self._count: np.ndarray | None = None

    @property
    def n_graphs(self) -> int:
        """How many graphs the share is over (at most k).

        >>> LinkStability().n_graphs
        0
        """
        return len(self._recent)

    def update(self, graph: np.ndarray, status: np.ndarray | None = None) -> LinkStability:
        """Add one refresh's graph (and its link statuses, if known); returns self.

        >>> LinkStability(k=1).update(np.array([[[""]]])).get().tolist()
        [[[0.0]]]
        >>> LinkStability(k=1).update(np.array([[["-->", "-->"]]]), np.array([[["tested", "deterministic"]]])).get().tolist()
        [[[1.0, 0.0]]]
        """
        held = np.asarray(graph) != ""
        if status is not None:
            held &= np.asarray(status) != "deterministic"
        if self._count is None or self._count.shape != held.shape:
            self._recent.clear()
            self._count = np.zeros(held.shape, dtype=np.int64)
        if len(self._recent) == self.k:
            self._count -= self._recent[0]
        self._recent.append(held)
        self._count += held
        return self

    def get(self) -> np.ndarray:
        """Share of recent graphs holding each link, float [N, N, tau_max + 1] (empty before any graph).

        >>> LinkStability().get().shape
        (0,)
        """
        if self._count is None or not self._recent:
            return np.zeros(0)
        return self._count / float(len(self._recent))

    def reset(self) -> LinkStability:
        """Forget all graphs (after a drift restart); returns self.

        >>> LinkStability().update(np.array([[["-->"]]])).reset().n_graphs
        0
        """
        self._recent.clear()
        self._count = None
        return self
