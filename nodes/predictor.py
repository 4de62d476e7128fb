"""The ``predictor`` node: trajectories for every agent, gated by the causal graph.

It keeps each agent's recent positions sampled at the model's rate (2.5 Hz: one step per
0.4 s of stamps, whatever rate /agents/state comes at), and on every /agents/state frame
runs the ONNX model (onnxruntime, one thread) for the agents with a full, finite history.
The latest /causal/graph becomes the adjacency prior: its ``agent.variable`` names give
who drives whom. By default (``graph_prior: agents``) an agent the graph links to nobody is
cut off from every target, the rest is left to the model's learned gate; ``links`` opens
only the discovered links (see models/trajectory/priors.py for why that costs accuracy).
Agents the graph does not name stay ungated. Without a graph the learned gate decides alone.

Bad input never stops it: an agent with too few steps waits, one with NaN positions is left
out (and counted ``bad``), a graph whose names match no agent is logged once and ignored,
and a missing or corrupt model falls back to constant-velocity extrapolation, logged and
named in ``model_id``.

Each prediction carries a shift score (models/trajectory/shift.py: the model's error on the
agents' own recent past against constant velocity's, in the same onnxruntime call, a running
ratio per agent pooled over the agents the graph prior lets act on it): ``shift_score`` per
agent, their median ``scene_shift``, and the ``fallback_weight`` of constant velocity that the
``fallback`` policy (off | blend | replace, named in ``fallback_policy``) mixed in.

>>> from causalstream.nodes.testing import MockNode
>>> from causalstream.stream.messages import AgentStates
>>> frames = [AgentStates(stamp_ns=int(k * 0.4e9), ids=["h1", "h2"], roles=["human"] * 2,
...                       x=np.array([0.4 * k, 5.0]), y=np.array([0.0, 0.3 * k]), vx=np.zeros(2), vy=np.zeros(2))
...           for k in range(9)]
>>> mock = MockNode(PredictorNode)
>>> for f in frames:
...     _ = mock.feed("agents/state", f)
>>> out = mock.run().outputs("predictions")
>>> len(out), out[-1].agent_ids, out[-1].trajectories.shape
(2, ['h1', 'h2'], (2, 20, 12, 2))
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from causalstream.models.causal.graph import LaggedGraph
from causalstream.models.errors import ModelError
from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.metrics import constant_velocity
from causalstream.models.trajectory.priors import adjacency_prior, unlinked
from causalstream.models.trajectory.shift import FallbackPolicy, ShiftScorer
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.node import Input, Node, NodeParams
from causalstream.stream.messages import AgentStates, CausalGraph, Predictions

__all__ = ["AgentHistory", "PredictorNode", "graph_prior"]


@dataclass
class AgentHistory:
    """Positions of each agent resampled to one step per ``step_ns`` of stamps, last ``steps`` kept.

    A frame is taken for an agent when at least ``step_ns`` (less 10%) passed since its last
    kept step; agents unseen for ``forget_ns`` are dropped.

    >>> h = AgentHistory(steps=3, step_ns=400_000_000)
    >>> for k in range(8):  # 10 Hz input: every fourth frame is kept
    ...     _ = h.update(k * 100_000_000, ["a"], np.array([k * 1.0]), np.array([0.0]))
    >>> h.ready()
    []
    >>> h.update(800_000_000, ["a"], np.array([8.0]), np.array([0.0])).ready()
    ['a']
    >>> h.history(["a"])[0, :, 0].tolist()
    [0.0, 4.0, 8.0]
    """

    steps: int = 8
    step_ns: int = 400_000_000
    forget_ns: int = 5_000_000_000
    tracks: dict[str, collections.deque] = field(default_factory=dict)
    last_kept: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, int] = field(default_factory=dict)

    def update(self, stamp_ns: int, ids: list[str], x: np.ndarray, y: np.ndarray) -> AgentHistory:
        """Take one frame; returns self."""
        for i, agent in enumerate(ids):
            self.last_seen[agent] = stamp_ns
            kept = self.last_kept.get(agent)
            if kept is not None and stamp_ns - kept < 0.9 * self.step_ns:
                continue
            track = self.tracks.setdefault(agent, collections.deque(maxlen=self.steps))
            track.append((float(x[i]), float(y[i])))
            self.last_kept[agent] = stamp_ns
        for agent in [a for a, t in self.last_seen.items() if stamp_ns - t > self.forget_ns]:
            for table in (self.tracks, self.last_kept, self.last_seen):
                table.pop(agent, None)
        return self

    def ready(self) -> list[str]:
        """Agents with a full history (finite or not), in first-seen order."""
        return [a for a, t in self.tracks.items() if len(t) == self.steps]

    def history(self, agents: list[str]) -> np.ndarray:
        """[A, steps, 2] positions of ``agents``, oldest first."""
        return np.array([list(self.tracks[a]) for a in agents], dtype=np.float32).reshape(len(agents), self.steps, 2)


def graph_prior(graph: LaggedGraph | None, agents: list[str], mode: str = "agents") -> np.ndarray | None:
    """Adjacency prior [A, A] for ``agents`` from a variable-level graph, or None if it names none.

    Among the agents the graph names, ``mode`` decides (models/trajectory/priors.py):
    ``"links"`` opens only the discovered links, ``"agents"`` shuts off only the agents the
    graph links to nobody. An agent the graph does not name is left ungated (1.0 both ways).
    Self-loops are kept.

    >>> marks = np.zeros((3, 3, 2), dtype="<U3"); marks[0, 1, 1] = "-->"
    >>> g = LaggedGraph(["robot.v", "h1.v", "h2.v"], marks)
    >>> graph_prior(g, ["robot", "h1", "h2", "h9"], "links").tolist()
    [[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    >>> graph_prior(g, ["robot", "h1", "h2", "h9"]).tolist()  # h2 takes part in no link: cut off
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    >>> graph_prior(g, ["p1", "p2"]) is None
    True
    """
    if graph is None:
        return None
    names, adj = graph.agent_adjacency()
    index = {a: k for k, a in enumerate(names)}
    rows = [i for i, a in enumerate(agents) if a in index]
    if not rows:
        return None
    idx = np.array(rows)
    known = [index[agents[i]] for i in rows]
    sub = adj[np.ix_(known, known)]
    prior = np.ones((len(agents), len(agents)), dtype=np.float32)
    prior[np.ix_(idx, idx)] = adjacency_prior(sub, mode)
    if mode == "agents":  # a cut-off agent reaches no one, named by the graph or not
        isolated = idx[unlinked(sub)]
        prior[isolated, :] = 0.0
        prior[isolated, isolated] = 1.0
    return prior


class PredictorNode(Node):
    """Predicts every agent's next 12 steps (4.8 s) from /agents/state, gated by /causal/graph.

    Inputs ``agents/state`` and ``causal/graph``, output ``predictions`` (relative names:
    namespaces and remaps apply).

    >>> from causalstream.nodes.testing import MockNode
    >>> mock = MockNode(PredictorNode, params={"model": "/no/such.onnx"}).run(duration=0.1)
    >>> mock.node.model_id
    'constant_velocity(fallback)'
    """

    kind = "predictor"

    class Params(NodeParams):
        """Parameters of ``predictor``."""

        model: str = Field("", description="ONNX model path, or a shipped model's name: trajectory (ETH/UCY, "
                                           "the default for ''), trajectory_sim (the simulator's scenes).")
        use_graph: bool = Field(True, description="Use /causal/graph as the adjacency prior when it names the agents.")
        graph_prior: Literal["agents", "links"] = Field(
            "agents", description="agents: cut off the agents the graph links to nobody (distractors); "
                                  "links: open only the discovered links.")
        step_s: float = Field(0.4, gt=0, description="Seconds between history steps (the model's rate: 2.5 Hz).")
        max_agents: int = Field(64, ge=1, le=256, description="Predict for at most this many agents (the first seen).")
        fallback: Literal["off", "blend", "replace"] = Field(
            "blend", description="Towards constant velocity as the scene's shift score grows (models/trajectory/"
                                 "shift.py): blend ramps from shift_low to shift_high, replace from shift_low, off never.")
        shift_low: float = Field(1.1, description="Shift score (model / CV error on the recent past) where the fallback starts.")
        shift_high: float = Field(1.2, description="Shift score where blend reaches constant velocity; above shift_low.")
        shift_alpha: float = Field(0.05, gt=0, le=1, description="Weight of each frame in the scene's running shift score.")
        shift_warmup: int = Field(20, ge=0, description="Frames of an agent's shift evidence before the fallback may act.")
        shift_every: int = Field(1, ge=1, description="Run the past check on every n-th frame only (latency); the others reuse the scores.")

        @model_validator(mode="after")
        def _thresholds(self) -> PredictorNode.Params:
            if not self.shift_low < self.shift_high:
                raise ValueError(f"shift_low must be below shift_high, got {self.shift_low} and {self.shift_high}")
            return self

    params: Params  # validate_params() makes the launch file's params this (for the type checker)

    def setup(self) -> None:
        self.predictor: OnnxPredictor | None = None
        self.scorer: ShiftScorer | None = None
        self.model_id = "constant_velocity(fallback)"
        try:
            predictor = self.predictor = OnnxPredictor(self.params.model or None)
            self.model_id = predictor.model_id
            policy = FallbackPolicy(self.params.fallback, self.params.shift_low, self.params.shift_high)
            self.scorer = ShiftScorer(predictor, policy, alpha=self.params.shift_alpha,
                                      warmup=self.params.shift_warmup, every=self.params.shift_every)
        except ModelError as exc:
            self.log.error("%s; predicting with constant velocity instead", exc)
        steps = self.predictor.observed if self.predictor is not None else 8
        self.tracks = AgentHistory(steps=steps, step_ns=int(self.params.step_s * 1e9))
        self.graph: LaggedGraph | None = None
        self._warned_names = False
        self._warned_nan: set[str] = set()
        self.out = self.publisher("predictions", Predictions)
        self.subscribe("agents/state", self.on_agents, AgentStates)
        self.subscribe("causal/graph", self.on_graph, CausalGraph)

    def on_graph(self, event: Input) -> None:
        self.graph = graph_of(event.message)
        self._warned_names = False

    def on_agents(self, event: Input) -> None:
        frame: AgentStates = event.message
        self.tracks.update(frame.stamp_ns, frame.ids, frame.x, frame.y)
        agents = self.tracks.ready()[: self.params.max_agents]
        if not agents:
            return
        history = self.tracks.history(agents)
        finite = np.isfinite(history).all(axis=(1, 2))
        for a in (a for a, ok in zip(agents, finite) if not ok and a not in self._warned_nan):
            self.log.warning("agent %s has NaN/inf positions in its history; left out until they pass", a)
            self._warned_nan.add(a)
        self.counters["bad"] += int((~finite).sum())
        agents = [a for a, ok in zip(agents, finite) if ok]
        if not agents:
            return
        self.out.publish(self._predict(frame.stamp_ns, agents, history[finite]))

    def _prior(self, agents: list[str]) -> np.ndarray | None:
        if not self.params.use_graph or self.graph is None:
            return None
        prior = graph_prior(self.graph, agents, self.params.graph_prior)
        if prior is None and not self._warned_names:
            self.log.warning("graph names %s match no agent of %s; using the learned gate only",
                             sorted({n.split(".")[0] for n in self.graph.names}), agents[:8])
            self._warned_names = True
        return prior

    def _predict(self, stamp_ns: int, agents: list[str], history: np.ndarray) -> Predictions:
        t0 = time.perf_counter()
        extra: dict = {}
        if self.scorer is not None:
            out = self.scorer.predict(history, self._prior(agents), ids=agents)
            traj, prob = out.trajectories, out.probabilities
            extra = {"shift_score": out.running, "scene_shift": out.scene_score, "fallback_weight": out.weight,
                     "fallback_policy": self.params.fallback}
        else:
            traj = constant_velocity(history.astype(np.float64), horizon=12).astype(np.float32)
            prob = np.ones((len(agents), 1), dtype=np.float32)
        latency = (time.perf_counter() - t0) * 1e3
        return Predictions(stamp_ns=stamp_ns, agent_ids=agents, trajectories=traj.astype(np.float32),
                           probabilities=prob.astype(np.float32), model_id=self.model_id, latency_ms=latency, **extra)
