"""A hidden driver: a pair's shared pace impulse, never published, and the companions it pushes.

In human-robot interaction the strongest causes are often unobserved (a goal, attention, a
conversation). ``Group`` stands for one: a pair walking together hurries and pauses as one,
but nothing of the group is in the frames or the features. Each ``Companion`` reads its
group's impulse (group -> companion) and nothing of the other companion, so on the observed
variables the pair has no directed link, only a hidden common cause (``<->`` in an ancestral
graph, truth.py). Discovery that assumes no hidden causes (PCMCI, PCMCI+) reports a link between
them; LPCMCI should mark it ``<->`` (bench/sim_hidden.py).

>>> c = Companion("h6", np.random.default_rng(4), dt=0.1, arena=10.0, group="group")
>>> sorted({r.agent for r in c.reads})
['group', 'h6']
"""

from __future__ import annotations

import numpy as np

from causalstream.models.sim.mechanisms import Mechanism, Past, Read, Walker

__all__ = ["GROUP_MEAN", "Companion", "Group"]

GROUP_MEAN = 1.0
"""A group's mean impulse: a companion is pushed by the impulse's departure from it."""


class Group(Mechanism):
    """Hidden: the pace impulse of a pair walking together (they hurry, they pause), never published.

    Its speed is ``mean`` + ``std`` * N(0, 1) (clipped at 0) afresh each step: it reads nothing,
    not even its own past, so it links its companions at one time only. Its velocity is
    (impulse, 0); its position, never read, drifts.

    >>> g = Group("group", np.random.default_rng(0), dt=0.1, arena=10.0)
    >>> g.hidden, g.reads, g.speed_reads
    (True, (), ())
    """

    role = "hidden"
    hidden = True

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float, mean: float = GROUP_MEAN,
                 std: float = 0.3) -> None:
        super().__init__(agent, rng, dt, arena)
        self.mean, self.std = mean, std

    @property
    def reads(self) -> tuple[Read, ...]:
        return ()

    @property
    def goal_reads(self) -> tuple[Read, ...]:
        return ()

    @property
    def speed_reads(self) -> tuple[Read, ...]:
        return ()

    @property
    def heading_reads(self) -> tuple[Read, ...]:
        return ()

    def next_goal(self, past: Past) -> np.ndarray:
        return self.goal

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        """(impulse, 0): the speed is the impulse."""
        return np.array([max(0.0, self.mean + self.std * self.rng.standard_normal()), 0.0])


class Companion(Walker):
    """Walks to its own goals, its pace pushed by ``gain`` * (group impulse(t-1) - mean).

    The push enters the pace (the walker's memory), so the speed stays an AR(1) of its last
    speed plus the group's impulse: its two companions' speeds move together, neither reading the other.

    >>> c = Companion("h6", np.random.default_rng(4), dt=0.1, arena=10.0, group="group")
    >>> [(r.agent, r.group) for r in c.speed_reads]
    [('h6', 'speed'), ('group', 'speed')]
    """

    role = "companion"

    def __init__(self, agent: str, rng: np.random.Generator, dt: float, arena: float, group: str,
                 gain: float = 0.5) -> None:
        super().__init__(agent, rng, dt, arena)
        self.group, self.gain = group, gain

    @property
    def reads(self) -> tuple[Read, ...]:
        return super().reads + (Read(self.group, "vel", 1),)

    @property
    def speed_reads(self) -> tuple[Read, ...]:
        """The pace's memory (its last speed) and the group's impulse one step back."""
        return super().speed_reads + (Read(self.group, "speed", 1),)

    def velocity(self, past: Past, goal: np.ndarray) -> np.ndarray:
        impulse = float(np.hypot(*past.only(self.speed_reads)(self.group, "vel", 1)))
        return self._walk(past, goal, push=self.gain * (impulse - GROUP_MEAN))
