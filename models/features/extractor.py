"""Turn frames of agent states into fixed-length feature vectors (NaN where missing).

Input: any object with the fields of ``AgentStates`` (``ids``, ``roles``, ``x``, ``y``,
``vx``, ``vy``, ``heading``, ``goal``): a ``SimFrame``, a decoded bus message, a
namespace. The robot is the first agent whose role is ``spec.robot_role``; every other
agent is a human.

>>> import numpy as np
>>> from types import SimpleNamespace
>>> frame = SimpleNamespace(ids=["robot", "h1"], roles=["robot", "reactive"], x=np.array([0.0, 3.0]),
...     y=np.zeros(2), vx=np.array([1.0, 0.0]), vy=np.zeros(2), heading=np.zeros(2), goal=np.zeros((2, 2)))
>>> ext = FeatureExtractor(FeatureSpec(humans=("h1", "h2")))
>>> ext.names
['robot.v', 'h1.v', 'h1.d_robot', 'h2.v', 'h2.d_robot']
>>> ext.update(frame).get().tolist()
[1.0, 0.0, 3.0, nan, nan]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from causalstream.models.errors import ParameterError
from causalstream.models.features.slots import NearestSlots
from causalstream.models.features.spec import FeatureSpec
from causalstream.models.features.variables import FrameView, variable

__all__ = ["AgentArrays", "FeatureExtractor"]


class AgentArrays(Protocol):
    """What a frame must carry: the fields of the ``AgentStates`` message.

    >>> hasattr(AgentArrays, "__annotations__")
    True
    """

    ids: list[str]
    roles: list[str]
    x: np.ndarray
    y: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    heading: np.ndarray | None
    goal: np.ndarray | None


def _view(frame: AgentArrays, robot_role: str) -> FrameView:
    n = len(frame.ids)
    vel = np.stack([np.asarray(frame.vx, float), np.asarray(frame.vy, float)], axis=-1).reshape(n, 2)
    heading = np.arctan2(vel[:, 1], vel[:, 0]) if frame.heading is None else np.asarray(frame.heading, float)
    goal = np.full((n, 2), np.nan) if frame.goal is None else np.asarray(frame.goal, float).reshape(n, 2)
    robots = [k for k, role in enumerate(frame.roles) if role == robot_role]
    return FrameView(
        pos=np.stack([np.asarray(frame.x, float), np.asarray(frame.y, float)], axis=-1).reshape(n, 2),
        vel=vel,
        goal=goal,
        heading=heading,
        robot=robots[0] if robots else None,
        ids=tuple(frame.ids),
    )


class FeatureExtractor:
    """Stateful map from frames to ``spec.names`` values: ``update(frame, t)``, then ``get()``.

    ``t`` (seconds) is needed only by rate variables (``a``); it defaults to ``frame.t``
    when the frame has one. Rates are kept per agent id (so they follow a person from slot to
    slot) and are NaN on an agent's first frame.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> ext = FeatureExtractor(FeatureSpec(robot_variables=("v", "a"), human_variables=()))
    >>> def robot(v): return SimpleNamespace(ids=["r"], roles=["robot"], x=np.zeros(1), y=np.zeros(1),
    ...                                     vx=np.array([v]), vy=np.zeros(1), heading=None, goal=None)
    >>> ext.transform([robot(1.0), robot(1.5)], times=[0.0, 0.5])
    array([[1. , nan],
           [1.5, 1. ]])
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._robot_vars = [variable(v) for v in spec.robot_variables]
        self._human_vars = [variable(v) for v in spec.human_variables]
        self._slots = NearestSlots(spec.n_nearest, spec.hysteresis) if spec.humans is None else None
        self._previous: dict[tuple[str, str], tuple[float, float]] = {}
        self._values = np.full(len(spec.names), np.nan)

    @property
    def names(self) -> list[str]:
        """The fixed feature names, ``agent.variable``.

        >>> FeatureExtractor(FeatureSpec(humans=())).names
        ['robot.v']
        """
        return self.spec.names

    def update(self, frame: AgentArrays, t: float | None = None) -> FeatureExtractor:
        """Compute the feature vector of one frame; returns self (read it with ``get()``).

        >>> from types import SimpleNamespace
        >>> empty = SimpleNamespace(ids=[], roles=[], x=np.zeros(0), y=np.zeros(0), vx=np.zeros(0),
        ...                         vy=np.zeros(0), heading=None, goal=None)
        >>> FeatureExtractor(FeatureSpec(n_nearest=1)).update(empty).get()
        array([nan, nan, nan])
        """
        t = getattr(frame, "t", None) if t is None else t
        view = _view(frame, self.spec.robot_role)
        rows = [view.robot] + self._human_rows(view)
        values = []
        for row, variables in zip(rows, [self._robot_vars] + [self._human_vars] * (len(rows) - 1)):
            for var in variables:
                values.append(np.nan if row is None else self._value(view, row, var.name, t))
        self._values = np.asarray(values, dtype=float).reshape(len(self.names))
        return self

    def get(self) -> np.ndarray:
        """The last computed vector [N] (a copy); all NaN before the first update.

        >>> FeatureExtractor(FeatureSpec(humans=())).get()
        array([nan])
        """
        return self._values.copy()

    def transform(self, frames: Iterable[AgentArrays], times: Iterable[float] | None = None) -> np.ndarray:
        """Update with each frame in turn; the vectors stacked as [T, N].

        >>> FeatureExtractor(FeatureSpec(humans=())).transform([]).shape
        (0, 1)
        """
        frames = list(frames)
        times = [None] * len(frames) if times is None else list(times)
        rows = [self.update(f, t).get() for f, t in zip(frames, times)]
        return np.asarray(rows, dtype=float).reshape(len(frames), len(self.names))

    def _human_rows(self, view: FrameView) -> list[int | None]:
        if self._slots is None:
            return [view.index(h) for h in self.slots_ids()]
        humans = [k for k in range(len(view.ids)) if k != view.robot]
        if view.robot is None:
            dist = np.full(len(humans), np.nan)
        else:
            dist = np.linalg.norm(view.pos[humans] - view.pos[view.robot], axis=-1)
        self._slots.update([view.ids[k] for k in humans], dist)
        return [None if o is None else view.index(o) for o in self._slots.occupants]

    def slots_ids(self) -> list[str | None]:
        """The agent id behind each human slot at the last update (None: empty slot).

        >>> FeatureExtractor(FeatureSpec(humans=("h1",))).slots_ids()
        ['h1']
        """
        if self._slots is None:
            return list(self.spec.humans or ())
        return list(self._slots.occupants)

    def _value(self, view: FrameView, row: int, name: str, t: float | None) -> float:
        var = variable(name)
        if var.rate_of is None:
            return float(var.compute(view, np.array([row]))[0])
        if t is None:
            raise ParameterError(what="FeatureExtractor", reason=f"variable {name!r} needs a time: pass t")
        now = self._value(view, row, var.rate_of, t)
        key = (view.ids[row], name)
        before = self._previous.get(key)
        self._previous[key] = (t, now)
        if before is None or t <= before[0]:
            return np.nan
        return (now - before[1]) / (t - before[0])
