"""Stable slots for "the k humans nearest the robot", with hysteresis.

Ranking by distance alone would swap identities whenever two people cross at similar
range, so each slot keeps its occupant while it is present, and a human without a slot
takes one only if it is free or if the newcomer is nearer the robot than the farthest
occupant by more than ``hysteresis`` metres. Without a robot in the frame distances are
unknown: occupants stay, free slots fill in id order.

>>> import numpy as np
>>> s = NearestSlots(2, hysteresis=0.5)
>>> s.update(("a", "b", "c"), np.array([3.0, 1.0, 2.0])).occupants
['b', 'c']
>>> s.update(("a", "b", "c"), np.array([1.8, 1.0, 2.0])).occupants  # a nearer, but within 0.5 m
['b', 'c']
>>> s.update(("a", "c"), np.array([1.0, 2.0])).occupants  # b left: a takes its slot
['a', 'c']
"""

from __future__ import annotations

import numpy as np

__all__ = ["NearestSlots"]


class NearestSlots:
    """Assign up to ``n_slots`` humans to numbered slots, nearest first, with hysteresis.

    ``occupants[k]`` is the id in slot k, or None.

    >>> NearestSlots(3).update(("x",), np.array([np.nan])).occupants
    ['x', None, None]
    """

    def __init__(self, n_slots: int, hysteresis: float = 0.5) -> None:
        self.n_slots = n_slots
        self.hysteresis = hysteresis
        self.occupants: list[str | None] = [None] * n_slots

    def update(self, ids: tuple[str, ...] | list[str], distances: np.ndarray) -> NearestSlots:
        """Re-assign from this frame's human ``ids`` and their ``distances`` to the robot.

        >>> NearestSlots(1).update(["p"], np.array([1.0])).occupants
        ['p']
        """
        dist = {i: (float(d) if np.isfinite(d) else np.inf) for i, d in zip(ids, distances)}
        self.occupants = [o if o in dist else None for o in self.occupants]
        waiting = sorted((i for i in ids if i not in self.occupants), key=lambda i: (dist[i], i))
        for k, occupant in enumerate(self.occupants):
            if occupant is None and waiting:
                self.occupants[k] = waiting.pop(0)
        while waiting:
            taken = [(dist[o], k) for k, o in enumerate(self.occupants) if o is not None]
            if not taken:
                break
            far, k = max(taken)
            if not dist[waiting[0]] < far - self.hysteresis:
                break
            self.occupants[k] = waiting.pop(0)
        return self
