"""Per-agent variables a feature spec can name, and the agent states each one reads.

Every variable is a function of one frame (positions, velocities, goals, headings), computed
for a set of agents at once. Its ``needs`` say which agents' state groups it reads
(``"self"``, ``"robot"`` or an agent id; group ``pos``, ``vel`` or ``goal``; ``lag`` in
frames): the simulator's ground truth uses them to map its mechanisms onto feature names.

>>> [v for v in VARIABLES][:4]
['x', 'y', 'vx', 'vy']
>>> variable("d_goal").needs[1]
Need(who='self', group='goal', lag=0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalstream.models.errors import ParameterError
from causalstream.models.features.risk import collision_risk, inverse_ttc

__all__ = ["Need", "Variable", "FrameView", "VARIABLES", "variable"]


@dataclass(frozen=True)
class Need:
    """One agent state group a variable reads: ``who`` (self/robot/id), ``group``, ``lag``.

    Groups are the simulator's ``pos``, ``vel``, ``goal``, and the two parts of ``vel``: its
    ``speed`` (what ``v`` reads) and its ``heading`` (each with a narrower mechanism).

    >>> Need("robot", "pos")
    Need(who='robot', group='pos', lag=0)
    """

    who: str
    group: str
    lag: int = 0


@dataclass(frozen=True)
class FrameView:
    """One frame as arrays: pos, vel, goal [A, 2], heading [A], the robot's row and ids.

    >>> import numpy as np
    >>> f = FrameView(np.zeros((1, 2)), np.ones((1, 2)), np.full((1, 2), np.nan), np.zeros(1), 0, ("robot",))
    >>> f.index("robot"), f.index("h9")
    (0, None)
    """

    pos: np.ndarray
    vel: np.ndarray
    goal: np.ndarray
    heading: np.ndarray
    robot: int | None
    ids: tuple[str, ...]

    def index(self, agent_id: str) -> int | None:
        """Row of ``agent_id`` in this frame, or None when absent.

        >>> FrameView(*[None] * 4, robot=None, ids=("a", "b")).index("b")
        1
        """
        return self.ids.index(agent_id) if agent_id in self.ids else None


Compute = Callable[[FrameView, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Variable:
    """A named per-agent variable: how to compute it and which states it reads.

    ``rate_of`` names a variable whose time derivative this one is (stateful: the extractor
    keeps the previous value per agent id).

    >>> variable("a").rate_of
    'v'
    """

    name: str
    needs: tuple[Need, ...]
    compute: Compute | None = None
    rate_of: str | None = None


def _relative(view: FrameView, rows: np.ndarray, other: int | None, fn: Callable[..., np.ndarray]) -> np.ndarray:
    """``fn(pos, vel, other_pos, other_vel)`` for ``rows``; NaN when the other is absent or is the row."""
    if other is None:
        return np.full(len(rows), np.nan)
    out = fn(view.pos[rows], view.vel[rows], view.pos[other][None, :], view.vel[other][None, :])
    return np.where(rows == other, np.nan, out)


def _distance(pos: np.ndarray, _vel: np.ndarray, other_pos: np.ndarray, _other_vel: np.ndarray) -> np.ndarray:
    return np.linalg.norm(other_pos - pos, axis=-1)


def _own(name: str, fn: Compute, *groups: str) -> Variable:
    return Variable(name, tuple(Need("self", g) for g in groups), fn)


def _pair(name: str, who: str, fn: Callable[..., np.ndarray], groups: tuple[str, ...]) -> Variable:
    needs = tuple(Need(w, g) for w in ("self", who) for g in groups)

    def compute(view: FrameView, rows: np.ndarray) -> np.ndarray:
        other = view.robot if who == "robot" else view.index(who)
        return _relative(view, rows, other, fn)

    return Variable(name, needs, compute)


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        _own("x", lambda f, r: f.pos[r, 0], "pos"),
        _own("y", lambda f, r: f.pos[r, 1], "pos"),
        _own("vx", lambda f, r: f.vel[r, 0], "vel"),
        _own("vy", lambda f, r: f.vel[r, 1], "vel"),
        _own("v", lambda f, r: np.linalg.norm(f.vel[r], axis=-1), "speed"),
        _own("heading", lambda f, r: f.heading[r], "heading"),
        _own("d_goal", lambda f, r: np.linalg.norm(f.goal[r] - f.pos[r], axis=-1), "pos", "goal"),
        _pair("d_robot", "robot", _distance, ("pos",)),
        _pair("risk", "robot", collision_risk, ("pos", "vel")),
        _pair("ittc", "robot", inverse_ttc, ("pos", "vel")),
        Variable("a", (Need("self", "speed"), Need("self", "speed", 1)), rate_of="v"),
    )
}
"""The fixed variables; ``d_<id>`` (distance to agent ``<id>``) is built on demand."""


def variable(name: str) -> Variable:
    """Look a variable up by name; ``d_<id>`` gives the distance to the agent ``<id>``.

    >>> variable("d_h2").needs
    (Need(who='self', group='pos', lag=0), Need(who='h2', group='pos', lag=0))
    >>> variable("speed")
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: FeatureSpec: unknown variable 'speed'; known: ...
    """
    if name in VARIABLES:
        return VARIABLES[name]
    if name.startswith("d_") and len(name) > 2:
        return _pair(name, name[2:], _distance, ("pos",))
    known = ", ".join([*VARIABLES, "d_<agent id>"])
    raise ParameterError(what="FeatureSpec", reason=f"unknown variable {name!r}; known: {known}")
