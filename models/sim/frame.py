"""One simulator step: the agents' states as arrays, shaped like the ``AgentStates`` message.

>>> import numpy as np
>>> f = SimFrame(t=0.1, ids=["robot"], roles=["robot"], x=np.zeros(1), y=np.zeros(1),
...              vx=np.ones(1), vy=np.zeros(1), heading=np.zeros(1), goal=np.zeros((1, 2)))
>>> f.positions().shape
(1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SimFrame"]


@dataclass(frozen=True)
class SimFrame:
    """Time ``t`` (s), ``ids``/``roles`` [A], ``x, y, vx, vy, heading`` [A], ``goal`` [A, 2].

    Field names match ``causalstream.stream.messages.AgentStates`` (plus ``t``), so a node
    publishes a frame as ``AgentStates(stamp_ns=round(f.t * 1e9), ids=f.ids, ...)``.

    >>> import numpy as np
    >>> SimFrame(0.0, ["a"], ["distractor"], *np.zeros((5, 1)), np.zeros((1, 2))).roles
    ['distractor']
    """

    t: float
    ids: list[str]
    roles: list[str]
    x: np.ndarray
    y: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    heading: np.ndarray
    goal: np.ndarray

    def positions(self) -> np.ndarray:
        """[A, 2] positions.

        >>> SimFrame(0.0, ["a"], ["robot"], *np.ones((5, 1)), np.zeros((1, 2))).positions()
        array([[1., 1.]])
        """
        return np.stack([self.x, self.y], axis=-1)
