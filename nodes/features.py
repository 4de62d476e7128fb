"""The ``features`` node kind: per-agent variables from ``agents/state`` on ``features``.

Each AgentStates frame becomes one Features sample (same stamp) with fixed names
(``robot.v``, ``h1.v``, ``h1.a``, ...; see :class:`~causalstream.models.features.FeatureSpec`),
NaN where an agent is missing. Bad input never stops the stream; each kind is counted in
the node's ``bad`` counter and its own ``bad:<reason>``:

- ``nonfinite``: a frame with NaN/inf positions or velocities (those agents' values become NaN);
- ``stamp_order``: a stamp not after the last one (repeated or out of order): the frame is dropped;
- ``missing_agent``: a frame without the robot or without a human named in ``humans``
  (their values are NaN; the log says who went and came back).

>>> import numpy as np
>>> from causalstream.nodes.testing import MockNode
>>> frame = AgentStates(stamp_ns=1, ids=["robot", "h1"], roles=["robot", "reactive"], x=np.array([0.0, 3.0]),
...                     y=np.zeros(2), vx=np.array([1.0, 0.0]), vy=np.zeros(2))
>>> mock = MockNode(FeaturesNode, params={"humans": ["h1"], "human_variables": ["v", "d_robot"]})
>>> out = mock.feed("agents/state", frame).run().outputs("features")
>>> out[0].names, out[0].values.tolist()
(['robot.v', 'h1.v', 'h1.d_robot'], [1.0, 0.0, 3.0])
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.nodes.bad_input import CheckedNode
from causalstream.nodes.node import Input, NodeParams
from causalstream.stream.messages import AgentStates, Features

__all__ = ["FeaturesNode"]

_KINEMATICS = ("x", "y", "vx", "vy")


class FeaturesNode(CheckedNode):
    """Subscribes ``agents/state``, publishes ``features`` (see the module doc for bad input).

    >>> from causalstream.nodes.testing import MockNode
    >>> MockNode(FeaturesNode).run(duration=0.1).node.extractor.names
    ['robot.v', 'h1.v', 'h1.a', 'h2.v', 'h2.a', 'h3.v', 'h3.a', 'h4.v', 'h4.a', 'h5.v', 'h5.a']
    """

    class Params(NodeParams):
        """Parameters of ``features``."""

        robot_variables: list[str] = Field(default_factory=lambda: ["v"], description="Variables of the robot.")
        human_variables: list[str] = Field(default_factory=lambda: ["v", "a"],
                                           description="Variables of each human (or slot).")
        humans: list[str] | None = Field(default_factory=lambda: [f"h{k}" for k in range(1, 6)],
                                         description="Humans by id (the sim's h1..); null: the n_nearest humans by slot.")
        n_nearest: int = Field(3, ge=0, description="Slots n1..nK when humans is null.")
        hysteresis: float = Field(0.5, ge=0, description="Metres a newcomer must be nearer to take a slot.")
        robot_role: str = Field("robot", description="The role string that marks the robot.")

    def setup(self) -> None:
        """Build the extractor; one input, one output."""
        p = self.params
        self.spec = FeatureSpec(robot_variables=tuple(p.robot_variables), human_variables=tuple(p.human_variables),
                                humans=None if p.humans is None else tuple(p.humans), n_nearest=p.n_nearest,
                                hysteresis=p.hysteresis, robot_role=p.robot_role)
        self.extractor = FeatureExtractor(self.spec)
        self.missing: set[str] = set()
        self.out = self.publisher("features", Features)
        self.subscribe("agents/state", self.on_state, AgentStates)
        self.log.info("features: %d variables %s", len(self.extractor.names), self.extractor.names)
        pairs = self.spec.deterministic_pairs()
        if pairs:  # once, at start: such pairs make degenerate tests, not causal links
            self.log.warning("features: deterministic by construction: %s",
                             ", ".join(f"{a} = diff({b})" for a, b in pairs))

    def on_state(self, event: Input) -> None:
        """Check one frame, compute its features, publish them."""
        frame = self.accept(event, AgentStates)
        if not isinstance(frame, AgentStates):
            return
        frame = self._finite(frame)
        self._check_agents(frame)
        values = self.extractor.update(frame, t=frame.stamp_ns * 1e-9).get()
        values[~np.isfinite(values)] = np.nan
        self.out.publish(Features(stamp_ns=frame.stamp_ns, names=self.extractor.names, values=values))

    def _finite(self, frame: AgentStates) -> AgentStates:
        """The frame with every agent whose kinematics hold a NaN/inf set to NaN (counted once)."""
        bad = ~np.all([np.isfinite(getattr(frame, f)) for f in _KINEMATICS], axis=0)
        if not bad.any():
            return frame
        self.flag_bad("nonfinite")
        fields = {f: np.where(bad, np.nan, getattr(frame, f)) for f in _KINEMATICS}
        return AgentStates(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, ids=frame.ids, roles=frame.roles,
                           heading=np.where(bad, np.nan, frame.heading), goal=frame.goal, **fields)

    def _check_agents(self, frame: AgentStates) -> None:
        expected = [] if self.spec.humans is None else list(self.spec.humans)
        missing = {h for h in expected if h not in frame.ids}
        if self.spec.robot_role not in frame.roles:
            missing.add(self.spec.robot_role)
        if missing:
            self.flag_bad("missing_agent")
        if missing != self.missing:
            gone, back = sorted(missing - self.missing), sorted(self.missing - missing)
            self.log.warning("features: agents missing %s (gone %s, back %s); their values are NaN",
                             sorted(missing), gone, back)
            self.missing = missing
