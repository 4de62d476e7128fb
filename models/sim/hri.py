"""A 2D human-robot spatial interaction simulator with known causal structure.

After ROS-Causal's HRSI scenario: a robot drives between waypoints while people walk in a
square arena. Agent ids are ``robot``, then ``h1`` .. ``hK`` in role order (reactive,
followers, distractors); the role of each is in ``SimFrame.roles``. Mechanisms live in
``mechanisms.py``; the true graphs follow from what they declare they read (``truth.py``).

``scene="hidden_driver"`` adds a pair of companions (two more humans, role ``companion``)
whose pace one hidden group impulse pushes (hidden.py): the group is in no frame, id or
feature, so on the observed variables the pair shares a hidden common cause and no link.

>>> sim = HriSim(n_reactive=1, n_followers=0, n_distractors=0, scene="hidden_driver")
>>> sim.ids, sim.hidden_pairs()
(['robot', 'h1', 'h2', 'h3'], [('h2', 'h3')])

>>> sim = HriSim(n_reactive=1, n_followers=1, n_distractors=1, seed=0)
>>> sim.ids, sim.roles
(['robot', 'h1', 'h2', 'h3'], ['robot', 'reactive', 'follower', 'distractor'])
>>> sim.step().x.shape
(4,)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from causalstream.models.errors import ParameterError
from causalstream.models.features.spec import FeatureSpec
from causalstream.models.sim.frame import SimFrame
from causalstream.models.sim.hidden import Companion, Group
from causalstream.models.sim.mechanisms import Distractor, Follower, Mechanism, Past, Reactive, Robot
from causalstream.models.sim.truth import VariableGraph, agent_adjacency, hidden_pairs, variable_graph

__all__ = ["SCENES", "HriSim"]

SCENES = ("default", "hidden_driver")
"""The casts HriSim builds: the roles alone, or with two companions and their hidden group."""


class HriSim:
    """Robot + reactive, follower and distractor humans, stepping every 1 / ``rate_hz`` s.

    Follower k follows reactive human k mod ``n_reactive``. ``robot_waypoints`` [W, 2]
    fixes the robot's route (default: 8 random points from the robot's own generator).
    Every agent has its own random generator spawned from ``seed``. ``scene`` is one of
    :data:`SCENES`; the hidden group's generator comes after the others', so the other agents
    move as in the default scene.

    >>> a = HriSim(seed=3).run(5)
    >>> b = HriSim(seed=3).run(5)
    >>> bool(np.array_equal(a[-1].x, b[-1].x))
    True
    """

    def __init__(self, n_reactive: int = 2, n_followers: int = 1, n_distractors: int = 2,
                 rate_hz: float = 10.0, seed: int = 0, arena: float = 8.0,
                 robot_waypoints: np.ndarray | None = None, follow_lag: int = 1, scene: str = "default") -> None:
        if min(n_reactive, n_followers, n_distractors) < 0 or rate_hz <= 0 or follow_lag < 1:
            raise ParameterError(what="HriSim", reason="counts must be >= 0, rate_hz > 0, follow_lag >= 1")
        if scene not in SCENES:
            raise ParameterError(what="HriSim", reason=f"unknown scene {scene!r} (known: {', '.join(SCENES)})")
        if n_followers and not n_reactive:
            raise ParameterError(what="HriSim", reason="followers need a reactive human to follow (n_reactive >= 1)")
        self.n_reactive, self.n_followers, self.n_distractors = n_reactive, n_followers, n_distractors
        self.rate_hz, self.seed, self.arena = rate_hz, seed, arena
        self.robot_waypoints, self.follow_lag, self.scene = robot_waypoints, follow_lag, scene
        self.dt = 1.0 / rate_hz
        self.mechanisms = self._build()  # the hidden ones last: frames hold the first len(ids)
        self.ids = [m.agent for m in self.mechanisms if not m.hidden]
        self.roles = [m.role for m in self.mechanisms if not m.hidden]
        self._index = {m.agent: k for k, m in enumerate(self.mechanisms)}
        self.t = 0.0
        start = {
            "pos": np.stack([m.rng.uniform(0.0, arena, size=2) for m in self.mechanisms]),
            "vel": np.zeros((len(self.mechanisms), 2)),
            "goal": np.stack([m.goal for m in self.mechanisms]),
        }
        depth = 1 + max(r.lag for m in self.mechanisms for r in m.reads + m.goal_reads)
        self._history: deque[dict[str, np.ndarray]] = deque([start] * depth, maxlen=depth)

    def _build(self) -> list[Mechanism]:
        extra = 3 if self.scene == "hidden_driver" else 0
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(
            1 + self.n_reactive + self.n_followers + self.n_distractors + extra)]
        dt, arena = self.dt, self.arena
        mechs: list[Mechanism] = [Robot("robot", rngs[0], dt, arena, waypoints=self.robot_waypoints)]
        reactive = [f"h{k + 1}" for k in range(self.n_reactive)]
        mechs += [Reactive(h, rngs[len(mechs) + k], dt, arena, robot="robot") for k, h in enumerate(reactive)]
        for k in range(self.n_followers):
            agent = f"h{len(mechs)}"
            mechs.append(Follower(agent, rngs[len(mechs)], dt, arena, leader=reactive[k % self.n_reactive],
                                  lag=self.follow_lag))
        for _ in range(self.n_distractors):
            mechs.append(Distractor(f"h{len(mechs)}", rngs[len(mechs)], dt, arena))
        if extra:
            mechs += [Companion(f"h{len(mechs) + k}", rngs[len(mechs) + k], dt, arena, group="group") for k in (0, 1)]
            mechs.append(Group("group", rngs[len(mechs)], dt, arena))
        return mechs

    def _lookup(self, agent: str, group: str, lag: int) -> np.ndarray:
        return self._history[-lag][group][self._index[agent]]

    def step(self, do: Mapping[str, tuple[float, float]] | None = None) -> SimFrame:
        """Advance one step. ``do`` forces agents' velocities this step (an intervention).

        The forced agent's mechanism still runs, so its random draws stay in step.

        >>> sim = HriSim(n_reactive=0, n_followers=0, n_distractors=0)
        >>> f = sim.step(do={"robot": (1.0, 0.0)})
        >>> float(f.vx[0]), round(f.t, 3)
        (1.0, 0.1)
        """
        last = self._history[-1]
        vel, goal = np.zeros_like(last["vel"]), np.zeros_like(last["goal"])
        for k, mech in enumerate(self.mechanisms):
            goal[k] = mech.next_goal(Past(self._lookup, mech.goal_reads, mech.agent))
            vel[k] = mech.velocity(Past(self._lookup, mech.reads, mech.agent), goal[k])
        for agent, forced in (do or {}).items():
            vel[self._index[agent]] = forced
        pos = last["pos"] + self.dt * vel  # KINEMATICS
        self._history.append({"pos": pos, "vel": vel, "goal": goal})
        self.t += self.dt
        n = len(self.ids)
        return SimFrame(t=self.t, ids=list(self.ids), roles=list(self.roles), x=pos[:n, 0].copy(),
                        y=pos[:n, 1].copy(), vx=vel[:n, 0].copy(), vy=vel[:n, 1].copy(),
                        heading=np.arctan2(vel[:n, 1], vel[:n, 0]), goal=goal[:n].copy())

    def run(self, n_steps: int) -> list[SimFrame]:
        """``n_steps`` frames in order.

        >>> len(HriSim().run(3))
        3
        """
        return [self.step() for _ in range(n_steps)]

    def agent_graph(self) -> tuple[list[str], np.ndarray]:
        """(ids, adjacency [A, A]) with adj[a, b] = 1 if a's state enters b's mechanism (a != b).

        >>> ids, adj = HriSim(n_reactive=1, n_followers=1, n_distractors=1).agent_graph()
        >>> [(ids[a], ids[b]) for a, b in zip(*np.nonzero(adj))]
        [('robot', 'h1'), ('h1', 'h2')]
        """
        return list(self.ids), agent_adjacency(self.ids, self.mechanisms)

    def hidden_pairs(self) -> list[tuple[str, str]]:
        """Pairs of published agents that share a hidden driver (one reads nothing of the other).

        >>> HriSim().hidden_pairs()
        []
        """
        return hidden_pairs(self.ids, self.mechanisms)

    def ground_truth(self, spec: FeatureSpec, tau_max: int = 2) -> VariableGraph:
        """The variable-level truth for the features of ``spec`` (humans picked by id), an ancestral graph.

        A hidden driver of two features shows as ``<->`` between them (``confounded()``).

        >>> spec = FeatureSpec(robot_variables=("v",), human_variables=("v",), humans=("h1",))
        >>> g = HriSim(n_reactive=1, n_followers=0, n_distractors=0).ground_truth(spec, tau_max=1)
        >>> g.links()
        [('robot.v', 'robot.v', 1), ('robot.v', 'h1.v', 1), ('h1.v', 'h1.v', 1)]
        """
        return variable_graph(self.ids, self.mechanisms, spec, tau_max)
