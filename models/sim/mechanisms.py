"""The causal mechanisms of the HRI simulator: one class per role, each declaring its reads.

A mechanism turns the past into this step's goal (``next_goal``, seeing ``goal_reads``)
and then velocity (``velocity``, seeing ``reads`` and the new goal) for one agent. It sees
the past only through :class:`Past`, which hands out exactly the ``(agent, group, lag)``
the mechanism declared and refuses anything else, so the ground truth derived from
``reads`` (``truth.py``) is the truth of the code that runs. Groups: ``pos``, ``vel``,
``goal`` (each a 2-vector). The velocity is two states, its *speed* (norm) and its
*heading* (direction), each computed from a narrower view of the past (``speed_reads``,
``heading_reads``; a ``speed`` or ``heading`` read looks ``vel`` up and uses only that
part of it): a walker's heading steers toward its goal, but its speed is its pace (an AR(1)
of its own, which shows as its last speed) less the slow-down, so its speed never reads
the goal. Positions then integrate: pos(t) = pos(t-1) + dt vel(t) (``KINEMATICS``). Each agent draws noise from its own generator, so changing one agent
never changes another's random numbers.

Roles (speeds in m/s, distances in m):

- ``Robot``: drives to its waypoints in turn; speed an AR(1) around ``speed_mean``.
- ``Reactive``: walks to random goals; slows by ``slow_gain * proximity * |v_robot|`` and
  steers away from the robot, proximity = exp(-distance / ``reach``): robot -> human.
- ``Follower``: velocity = leader's velocity ``lag`` steps ago plus a pull toward the
  leader's position then (+ offset): leader -> follower.
- ``Distractor``: walks to random goals on its own; reads no one.

A hidden driver (``Group``, never published) and the ``Companion`` walkers it pushes: hidden.py.

>>> m = Distractor("h9", np.random.default_rng(0), dt=0.1, arena=10.0)
>>> sorted({r.agent for r in m.reads})
['h9']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalstream.models.errors import ModelError

__all__ = ["Read", "Past", "Mechanism", "Robot", "Reactive", "Follower", "Distractor", "Walker", "KINEMATICS",
           "PARTS"]


@dataclass(frozen=True)
class Read:
    """One input of a mechanism: ``agent``'s state ``group`` ``lag`` steps back.

    >>> Read("robot", "pos", 1)
    Read(agent='robot', group='pos', lag=1)
    """

    agent: str
    group: str
    lag: int


KINEMATICS = (Read("self", "pos", 1), Read("self", "speed", 0), Read("self", "heading", 0))
"""pos(t) = pos(t-1) + dt * vel(t), vel = speed * heading, for every agent ("self" = the agent itself)."""
PARTS = {"speed": "vel", "heading": "vel"}
"""Parts of a state a read may name: looked up as the whole (``vel``), of which only the part is used."""


class Past:
    """Guarded view of the history: returns only states the mechanism declared it reads.

    >>> p = Past(lambda agent, group, lag: np.zeros(2), reads=(Read("a", "pos", 1),), owner="a")
    >>> p("a", "pos", 1)
    array([0., 0.])
    >>> p("b", "pos", 1)
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ModelError: mechanism of a: reads Read(agent='b', group='pos', lag=1), which it did not declare
    """

    def __init__(self, lookup: Callable[[str, str, int], np.ndarray], reads: tuple[Read, ...], owner: str) -> None:
        self.lookup = lookup
        self.reads = reads
        self.owner = owner

    def only(self, reads: tuple[Read, ...]) -> Past:
        """A narrower view: only ``reads``; a part (``speed``, ``heading``) reads its whole (``vel``).

        The goal of this step is handed to ``velocity``, not looked up, so goal reads pass.

        >>> p = Past(lambda agent, group, lag: np.ones(2), reads=(Read("a", "pos", 1), Read("a", "vel", 1)), owner="a")
        >>> p.only((Read("a", "speed", 1),))("a", "vel", 1)
        array([1., 1.])
        >>> p.only((Read("a", "speed", 1),))("a", "pos", 1)
        Traceback (most recent call last):
        ...
        causalstream.models.errors.ModelError: mechanism of a: reads Read(agent='a', group='pos', lag=1), which it did not declare
        """
        whole = tuple(Read(r.agent, PARTS.get(r.group, r.group), r.lag) for r in reads if r.group != "goal")
        extra = [r for r in whole if r not in self.reads]
        if extra:
            raise ModelError(what=f"mechanism of {self.owner}", reason=f"narrows to {extra[0]}, which it did not declare")
        return Past(self.lookup, whole, self.owner)

    def __call__(self, agent: str, group: str, lag: int) -> np.ndarray:
        """The 2-vector of ``agent``'s ``group`` ``lag`` steps back, if declared."""
        read = Read(agent, group, lag)
        if read not in self.reads:
            raise ModelError(what=f"mechanism of {self.owner}", reason=f"reads {read}, which it did not declare")
        return np.array(self.lookup(agent, group, lag), dtype=float)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(v[0], v[1]))
    return v / n if n > 1e-9 else np.zeros(2)


def _ar1(previous: float, mean: float, std: float, tau: float, dt: float, rng: np.random.Generator) -> float:
    """One step of an AR(1) with stationary ``std`` and time constant ``tau`` seconds."""
    phi = np.exp(-dt / tau)
    return mean + phi * (previous - mean) + std * np.sqrt(1.0 - phi**2) * rng.standard_normal()


class Mechanism:
    """Base: ``goal_reads`` -> ``next_goal(past)``, then ``reads`` -> ``velocity(past, goal)``.

    >>> issubclass(Robot, Mechanism)
    True
    """

    role = "agent"
    hidden = False  # True: a driver the simulator never publishes (not in its ids, frames or features)

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float) -> None:
        self.agent = agent
        self.rng = rng
        self.dt = dt
        self.arena = arena
        self.goal = rng.uniform(0.0, arena, size=2)

    @property
    def reads(self) -> tuple[Read, ...]:
        """What ``velocity`` reads: own position and velocity one step back; roles add more."""
        return (Read(self.agent, "pos", 1), Read(self.agent, "vel", 1))

    @property
    def goal_reads(self) -> tuple[Read, ...]:
        """What ``next_goal`` reads: own position one step back (to see a goal reached)."""
        return (Read(self.agent, "pos", 1),)

    @property
    def speed_reads(self) -> tuple[Read, ...]:
        """What the speed (the velocity's norm) depends on: by default all of ``reads`` and the goal.

        >>> Follower("h3", np.random.default_rng(3), dt=0.1, arena=10.0, leader="h1").speed_reads[-1]
        Read(agent='h3', group='goal', lag=0)
        """
        return self.reads + (Read(self.agent, "goal", 0),)

    @property
    def heading_reads(self) -> tuple[Read, ...]:
        """What the heading (the velocity's direction) depends on: by default as the speed.

        >>> Follower("h3", np.random.default_rng(3), dt=0.1, arena=10.0, leader="h1").heading_reads[1]
        Read(agent='h1', group='vel', lag=1)
        """
        return self.reads + (Read(self.agent, "goal", 0),)

    def next_goal(self, past: Past) -> np.ndarray:
        """This step's goal: a new random point once the last one is within 0.6 m."""
        if np.hypot(*(self.goal - past(self.agent, "pos", 1))) < 0.6:
            self.goal = self.rng.uniform(0.0, self.arena, size=2)
        return self.goal

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        """This step's velocity toward ``goal``; subclasses define it."""
        raise NotImplementedError


class Robot(Mechanism):
    """Drives to ``waypoints`` in turn (random ones if None), with an AR(1) speed.

    >>> r = Robot("robot", np.random.default_rng(0), dt=0.1, arena=10.0, waypoints=np.array([[5.0, 0.0]]))
    >>> goal = r.next_goal(Past(lambda a, g, l: np.zeros(2), r.goal_reads, "robot"))
    >>> v = r.velocity(Past(lambda a, g, l: np.zeros(2), r.reads, "robot"), goal)
    >>> goal.tolist(), bool(v[0] > 0)
    ([5.0, 0.0], True)
    """

    role = "robot"

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float,
                 waypoints: np.ndarray | None = None, speed_mean: float = 0.8, speed_std: float = 0.35,
                 speed_tau: float = 0.5) -> None:
        super().__init__(agent, rng, dt, arena)
        self.waypoints = rng.uniform(0.0, arena, size=(8, 2)) if waypoints is None else np.asarray(waypoints, float)
        self.speed_mean, self.speed_std, self.speed_tau = speed_mean, speed_std, speed_tau
        self.next_waypoint = 0
        self.goal = self.waypoints[0]

    def next_goal(self, past: Past) -> np.ndarray:
        if np.hypot(*(self.goal - past(self.agent, "pos", 1))) < 0.6:
            self.next_waypoint = (self.next_waypoint + 1) % len(self.waypoints)
            self.goal = self.waypoints[self.next_waypoint]
        return self.goal

    @property
    def speed_reads(self) -> tuple[Read, ...]:
        """The speed is an AR(1) of the last speed.

        >>> Robot("robot", np.random.default_rng(0), dt=0.1, arena=10.0).speed_reads
        (Read(agent='robot', group='speed', lag=1),)
        """
        return (Read(self.agent, "speed", 1),)

    @property
    def heading_reads(self) -> tuple[Read, ...]:
        """The heading points from the last position to the goal.

        >>> [r.group for r in Robot("robot", np.random.default_rng(0), dt=0.1, arena=10.0).heading_reads]
        ['pos', 'goal']
        """
        return (Read(self.agent, "pos", 1), Read(self.agent, "goal", 0))

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        last = past.only(self.speed_reads)(self.agent, "vel", 1)
        speed = _ar1(float(np.hypot(*last)), self.speed_mean, self.speed_std, self.speed_tau, self.dt, self.rng)
        return np.clip(speed, 0.0, 2.0) * _unit(goal - past.only(self.heading_reads)(self.agent, "pos", 1))


class Walker(Mechanism):
    """A pedestrian heading for goals: speed = pace - slow, heading with inertia and noise.

    ``pace`` (preferred speed) is the walker's own memory, an AR(1); a slow-down lowers this
    step's speed, not the pace, so it does not pile up from step to step; a push (hidden.py's
    companions) enters the pace itself. Roles subclass it (Distractor, Reactive, Companion).

    >>> issubclass(Distractor, Walker), Walker.speed_mean
    (True, 1.0)
    """

    role = "human"
    speed_mean, speed_std, speed_tau, heading_std, inertia = 1.0, 0.25, 0.5, 0.15, 0.5

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float) -> None:
        super().__init__(agent, rng, dt, arena)
        self.pace = self.speed_mean

    @property
    def speed_reads(self) -> tuple[Read, ...]:
        """The pace, an AR(1), is the speed's memory; it shows as the speed one step back.

        >>> Distractor("h5", np.random.default_rng(1), dt=0.1, arena=10.0).speed_reads
        (Read(agent='h5', group='speed', lag=1),)
        """
        return (Read(self.agent, "speed", 1),)

    @property
    def heading_reads(self) -> tuple[Read, ...]:
        """The heading turns toward the goal from the last position, with inertia (the last heading).

        >>> [r.group for r in Distractor("h5", np.random.default_rng(1), dt=0.1, arena=10.0).heading_reads]
        ['pos', 'heading', 'goal']
        """
        return (Read(self.agent, "pos", 1), Read(self.agent, "heading", 1), Read(self.agent, "goal", 0))

    def _walk(self, past: Past, goal: np.ndarray, slow: float = 0.0, away: np.ndarray | None = None,
              push: float = 0.0) -> np.ndarray:
        ahead = past.only(self.heading_reads)
        pos, vel = ahead(self.agent, "pos", 1), ahead(self.agent, "vel", 1)
        self.pace = _ar1(self.pace, self.speed_mean, self.speed_std, self.speed_tau, self.dt, self.rng) + push
        direction = _unit(goal - pos) + self.inertia * _unit(vel) + (np.zeros(2) if away is None else away)
        angle = np.arctan2(direction[1], direction[0]) + self.heading_std * self.rng.standard_normal()
        speed = float(np.clip(self.pace - slow, 0.0, 2.0))
        return speed * np.array([np.cos(angle), np.sin(angle)])


class Distractor(Walker):
    """Walks to its own random goals; reads only itself, so it causes and suffers nothing.

    >>> d = Distractor("h5", np.random.default_rng(1), dt=0.1, arena=10.0)
    >>> [r.agent for r in d.reads]
    ['h5', 'h5']
    """

    role = "distractor"

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        return self._walk(past, goal)


class Reactive(Walker):
    """Walks to goals, slowing and steering away as the robot comes near and fast.

    slow = ``slow_gain`` * proximity * |v_robot(t-1)|, away = ``steer_gain`` * proximity *
    unit(pos - robot_pos), proximity = exp(-|pos - robot_pos| / ``reach``), all at t-1.

    >>> h = Reactive("h1", np.random.default_rng(2), dt=0.1, arena=10.0, robot="robot")
    >>> sorted({(r.agent, r.group) for r in h.reads})
    [('h1', 'pos'), ('h1', 'vel'), ('robot', 'pos'), ('robot', 'vel')]
    """

    role = "reactive"

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float, robot: str,
                 reach: float = 3.0, slow_gain: float = 1.2, steer_gain: float = 1.0) -> None:
        super().__init__(agent, rng, dt, arena)
        self.robot, self.reach, self.slow_gain, self.steer_gain = robot, reach, slow_gain, steer_gain

    @property
    def reads(self) -> tuple[Read, ...]:
        return super().reads + (Read(self.robot, "pos", 1), Read(self.robot, "vel", 1))

    @property
    def speed_reads(self) -> tuple[Read, ...]:
        """The slow-down reads the distance to the robot and the robot's speed.

        >>> [(r.agent, r.group) for r in Reactive("h1", np.random.default_rng(2), 0.1, 10.0, robot="robot").speed_reads]
        [('h1', 'speed'), ('h1', 'pos'), ('robot', 'pos'), ('robot', 'speed')]
        """
        return super().speed_reads + (Read(self.agent, "pos", 1), Read(self.robot, "pos", 1), Read(self.robot, "speed", 1))

    @property
    def heading_reads(self) -> tuple[Read, ...]:
        """Steering away reads where the robot is.

        >>> Reactive("h1", np.random.default_rng(2), 0.1, 10.0, robot="robot").heading_reads[-1]
        Read(agent='robot', group='pos', lag=1)
        """
        return super().heading_reads + (Read(self.robot, "pos", 1),)

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        near = past.only(self.speed_reads)
        offset = near(self.agent, "pos", 1) - near(self.robot, "pos", 1)
        proximity = float(np.exp(-np.hypot(*offset) / self.reach))
        slow = self.slow_gain * proximity * float(np.hypot(*near(self.robot, "vel", 1)))
        ahead = past.only(self.heading_reads)
        offset = ahead(self.agent, "pos", 1) - ahead(self.robot, "pos", 1)
        away = self.steer_gain * float(np.exp(-np.hypot(*offset) / self.reach)) * _unit(offset)
        return self._walk(past, goal, slow=slow, away=away)


class Follower(Mechanism):
    """Tracks a leader: v = v_leader(t-lag) + ``gain`` (goal - p(t-1)) + noise.

    Its goal is the leader's position ``lag`` steps back plus a fixed offset.

    >>> f = Follower("h3", np.random.default_rng(3), dt=0.1, arena=10.0, leader="h1")
    >>> sorted((r.agent, r.group) for r in f.reads + f.goal_reads)
    [('h1', 'pos'), ('h1', 'vel'), ('h3', 'pos')]
    """

    role = "follower"

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float, leader: str,
                 lag: int = 1, gain: float = 0.8, noise_std: float = 0.15) -> None:
        super().__init__(agent, rng, dt, arena)
        self.leader, self.lag, self.gain, self.noise_std = leader, lag, gain, noise_std
        self.offset = rng.uniform(-1.0, 1.0, size=2)

    @property
    def reads(self) -> tuple[Read, ...]:
        return (Read(self.agent, "pos", 1), Read(self.leader, "vel", self.lag))

    @property
    def goal_reads(self) -> tuple[Read, ...]:
        return (Read(self.leader, "pos", self.lag),)

    def next_goal(self, past: Past) -> np.ndarray:
        self.goal = past(self.leader, "pos", self.lag) + self.offset
        return self.goal

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        vel = past(self.leader, "vel", self.lag) + self.gain * (goal - past(self.agent, "pos", 1))
        vel = vel + self.noise_std * self.rng.standard_normal(2)
        speed = float(np.hypot(*vel))
        return vel * min(1.0, 2.0 / speed) if speed > 0 else vel

