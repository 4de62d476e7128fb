"""The ``sim`` node kind: the HRI simulator on the bus, with its causal ground truth.

Each step of :class:`~causalstream.models.sim.HriSim` goes out on ``agents/state``
(AgentStates, ``stamp_ns`` = sim time: ``stamp_origin`` "wall" adds the wall-clock time
at start, so a realtime run's stamps read like ROS stamps; "zero" starts at 0). The true
graph goes once, latched, on ``sim/ground_truth``: a CausalGraph over the variables the
``features`` node computes (same ``robot_variables`` / ``human_variables``, humans by id),
``graph`` in tigramite's convention, ``val`` 1 and ``p`` 0 on true links (``val`` 0, ``p`` 1
elsewhere), ``method`` "ground_truth". The agent-level truth follows from the names
(``LaggedGraph.agent_adjacency``, models/causal/graph.py); it is also listed in ``flags`` as
``agent_link:a->b`` (from the mechanisms themselves) and each agent's role as
``role:h4=distractor``, so a scorer needs nothing but the message. ``scene`` "hidden_driver"
adds two companions whom a hidden group impulse drives (models/sim/hidden.py): the truth marks
them ``<->`` (a hidden common cause, no link), and ``flags`` lists ``hidden_pair:h6<->h7``.

>>> from causalstream.nodes.testing import MockNode
>>> mock = MockNode(SimNode, params={"n_steps": 5, "realtime": False}).run(duration=1)
>>> len(mock.outputs("agents/state")), mock.outputs("agents/state")[0].ids
(5, ['robot', 'h1', 'h2', 'h3', 'h4', 'h5'])
>>> truth = mock.outputs("sim/ground_truth")[0]
>>> [f for f in truth.flags if f.startswith("agent_link")]
['agent_link:robot->h1', 'agent_link:robot->h2', 'agent_link:h1->h3']
>>> hidden = MockNode(SimNode, params={"n_steps": 2, "realtime": False, "scene": "hidden_driver"}).run(duration=1)
>>> truth = hidden.outputs("sim/ground_truth")[0]
>>> [f for f in truth.flags if f.startswith("hidden")], ("h6.v", "h7.v", 0, "<->") in truth.links()
(['hidden_pair:h6<->h7'], True)
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
from pydantic import Field

from causalstream.models.causal.graph import LaggedGraph
from causalstream.models.features import FeatureSpec
from causalstream.models.sim import HriSim, SimFrame
from causalstream.nodes.graph_msg import graph_message
from causalstream.nodes.node import Node, NodeParams
from causalstream.stream.messages import AgentStates, CausalGraph, Clock

__all__ = ["SimNode", "truth_message"]

_FAST_BATCH = 50  # steps between looks at the bus (heartbeat, stop) when not realtime
_MAX_CATCH_UP = 20  # most steps one late tick makes up for (beyond that the sim falls behind)


def truth_message(sim: HriSim, spec: FeatureSpec, tau_max: int, stamp_ns: int = 0) -> CausalGraph:
    """The simulator's ground truth for ``spec``'s features as a CausalGraph (see module doc).

    >>> spec = FeatureSpec(robot_variables=("v",), human_variables=("v",), humans=("h1",))
    >>> g = truth_message(HriSim(n_reactive=1, n_followers=0, n_distractors=0), spec, tau_max=1)
    >>> g.links(), float(g.p[0, 1, 1]), g.flags
    ([('h1.v', 'h1.v', 1, '-->'), ('robot.v', 'h1.v', 1, '-->'), ('robot.v', 'robot.v', 1, '-->')], 0.0, ['agent_link:robot->h1', 'role:robot=robot', 'role:h1=reactive'])
    """
    truth = sim.ground_truth(spec, tau_max)
    held = truth.graph != ""
    ids, adj = sim.agent_graph()
    flags = [f"agent_link:{ids[a]}->{ids[b]}" for a, b in zip(*np.nonzero(adj))]
    flags += [f"role:{i}={r}" for i, r in zip(sim.ids, sim.roles)]
    flags += [f"hidden_pair:{a}<->{b}" for a, b in sim.hidden_pairs()]
    graph = LaggedGraph(truth.names, truth.graph, val=held, p=np.where(held, 0.0, 1.0), stability=held)
    return graph_message(graph, stamp_ns=stamp_ns, method="ground_truth", ci_test="", alpha=0.0, flags=flags)


def frame_message(frame: SimFrame, origin_ns: int) -> AgentStates:
    """One simulator frame as an AgentStates message stamped ``origin_ns`` + sim time.

    >>> f = HriSim(n_reactive=0, n_followers=0, n_distractors=0).step()
    >>> frame_message(f, 0).stamp_ns
    100000000
    """
    return AgentStates(stamp_ns=origin_ns + round(frame.t * 1e9), ids=frame.ids, roles=frame.roles, x=frame.x,
                       y=frame.y, vx=frame.vx, vy=frame.vy, heading=frame.heading, goal=frame.goal)


class SimNode(Node):
    """Publishes the HRI simulator's frames on ``agents/state`` and its truth on ``sim/ground_truth``.

    >>> from causalstream.nodes.testing import MockNode
    >>> MockNode(SimNode, params={"rate_hz": 10}).run(duration=1.05).node.counters["steps"]
    10
    """

    class Params(NodeParams):
        """Parameters of ``sim``."""

        rate_hz: float = Field(20.0, gt=0, description="Simulation steps per simulated second (dt = 1 / rate_hz).")
        seed: int = Field(0, description="Seed of every agent's random generator.")
        n_reactive: int = Field(2, ge=0, description="Humans who slow down and steer away from the robot.")
        n_followers: int = Field(1, ge=0, description="Humans who follow a reactive human.")
        n_distractors: int = Field(2, ge=0, description="Humans who interact with no one.")
        realtime: bool = Field(True, description="Pace steps at rate_hz * speed wall-clock; false: as fast as possible.")
        speed: float = Field(1.0, gt=0, description="Wall-clock speed-up when realtime (2: twice as fast).")
        n_steps: int = Field(0, ge=0, description="Stop after this many steps (0: never).")
        duration_s: float = Field(0.0, ge=0, description="Stop after this much simulated time (0: never).")
        stamp_origin: Literal["wall", "zero"] = Field("wall", description="Stamps start at the wall clock or at 0.")
        clock: bool = Field(False, description="Also publish the sim time on clock.")
        robot_variables: list[str] = Field(default_factory=lambda: ["v"],
                                           description="Robot variables of the ground truth (as the features node).")
        human_variables: list[str] = Field(default_factory=lambda: ["v", "a"],
                                           description="Per-human variables of the ground truth.")
        tau_max: int = Field(2, ge=0, description="Largest lag of the ground-truth graph.")
        scene: Literal["default", "hidden_driver"] = Field("default", description="default, or hidden_driver: two more humans "
                                       "(companions) driven by a hidden group impulse, marked <-> in the truth.")

    def setup(self) -> None:
        """Build the simulator, publish the latched truth, start the step timer."""
        p = self.params
        self.sim = HriSim(n_reactive=p.n_reactive, n_followers=p.n_followers, n_distractors=p.n_distractors,
                          rate_hz=p.rate_hz, seed=p.seed, scene=p.scene)
        self.states = self.publisher("agents/state", AgentStates)
        self.clock_out = self.publisher("clock", Clock) if p.clock else None
        spec = FeatureSpec(robot_variables=tuple(p.robot_variables), human_variables=tuple(p.human_variables),
                           humans=tuple(self.sim.ids[1:]))
        truth = self.publisher("sim/ground_truth", CausalGraph, latched=True)
        self.last_step = p.n_steps or (round(p.duration_s * p.rate_hz) if p.duration_s else 0)
        self.counters["steps"] = 0
        self.next_frame = self.sim.step()
        # Sim time 0 is now, after the sockets are up: stamps and the step timer share it (the
        # timer first, so that a frame goes out when its stamp comes, not after the truth's work).
        self.origin_ns = time.time_ns() if p.stamp_origin == "wall" else 0
        self.start_s = self.io.now()
        if p.realtime:
            self.timer(1.0 / (p.rate_hz * p.speed), self.catch_up, name="step")
        truth.publish(truth_message(self.sim, spec, p.tau_max, self.origin_ns))
        self.log.info("HRI sim: agents %s, roles %s, %g Hz%s", self.sim.ids, self.sim.roles, p.rate_hz,
                      "" if p.realtime else " (as fast as possible)")

    def catch_up(self) -> None:
        """Step until sim time meets the wall clock (a late tick does not slow the sim down)."""
        due = int((self.io.now() - self.start_s) * self.params.rate_hz * self.params.speed + 1e-9)
        for _ in range(min(max(due - self.counters["steps"], 0), _MAX_CATCH_UP)):
            self.step()

    def step(self) -> None:
        """Publish the next frame, then compute the one after; stops the node after the last step.

        The frame for sim time t is computed one step ahead, so it goes out when t comes
        instead of a step's work later: the sim stands for the world, whose state at t exists
        at t (nothing on the bus feeds back into it).
        """
        if self.last_step and self.counters["steps"] >= self.last_step:
            return
        msg = frame_message(self.next_frame, self.origin_ns)
        self.states.publish(msg)
        if self.clock_out is not None:
            self.clock_out.publish(Clock(stamp_ns=msg.stamp_ns))
        self.counters["steps"] += 1
        if self.last_step and self.counters["steps"] >= self.last_step:
            self.log.info("sim: %d steps done, stopping", self.counters["steps"])
            self.stop()
            return
        self.next_frame = self.sim.step()

    def loop(self) -> None:
        """Realtime: the timer steps. Otherwise step flat out, looking at the bus every few steps."""
        if self.params.realtime:
            super().loop()
            return
        while self.ok:
            for _ in range(_FAST_BATCH):
                self.step()
            self.sleep(1e-4)
