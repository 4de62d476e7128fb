"""Small generic node kinds: ``talker``, ``listener`` and ``relay``.

Useful on their own (check a bus, throttle or rename a topic) and as worked examples of
the node API; the tests and ``launch/talker.yaml`` use them.

>>> from causalstream.nodes.testing import MockNode
>>> [float(m.values[0]) for m in MockNode(Talker, params={"rate_hz": 4}).run(duration=0.9).outputs("chatter")]
[0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import Field

from causalstream.nodes.node import Input, Node, NodeParams
from causalstream.stream.messages import Features

__all__ = ["Listener", "Relay", "Talker"]


class Talker(Node):
    """Publishes a counter on ``chatter`` (a one-value Features sample) at ``rate_hz``, from start.

    ``exit_after`` stops the node after that many seconds with status ``exit_code``: a
    stand-in for a node that finishes or fails, to try ``required`` and ``respawn``.

    >>> from causalstream.nodes.testing import MockNode
    >>> MockNode(Talker, params={"exit_after": 0.5, "exit_code": 3}).run(duration=5).exit_code
    3
    """

    class Params(NodeParams):
        """Parameters of ``talker``."""

        rate_hz: float = Field(10.0, gt=0, description="Messages per second.")
        name: str = Field("count", description="The variable name in each Features sample.")
        exit_after: float | None = Field(None, ge=0, description="Stop after this many seconds (None: never).")
        exit_code: int = Field(0, ge=0, le=255, description="Exit status when exit_after stops the node.")

    def setup(self) -> None:
        """One output, one timer, and optionally the exit timer."""
        self.count = 0
        self.out = self.publisher("chatter", Features)
        self.timer(1.0 / self.params.rate_hz, self.talk)
        self.talk()
        if self.params.exit_after == 0:
            self.finish()
        elif self.params.exit_after is not None:
            self.timer(self.params.exit_after, self.finish)

    def talk(self) -> None:
        """Publish the next count."""
        self.out.publish(Features(stamp_ns=time.time_ns(), names=[self.params.name], values=np.array([float(self.count)])))
        self.count += 1

    def finish(self) -> None:
        """Stop with the configured status."""
        self.log.info("exit_after %.2f s reached: exiting with status %d", self.params.exit_after, self.params.exit_code)
        self.stop(self.params.exit_code)


class Listener(Node):
    """Counts messages on each of ``topics`` (counters ``in:NAME``); logs a summary every ``report_s``.

    >>> from causalstream.nodes.testing import MockNode
    >>> from causalstream.stream.messages import Clock
    >>> MockNode(Listener).feed("chatter", Clock(), Clock()).run().node.counters["in:chatter"]
    2
    """

    class Params(NodeParams):
        """Parameters of ``listener``."""

        topics: list[str] = Field(default_factory=lambda: ["chatter"], min_length=1,
                                  description="Input names (remappable).")
        report_s: float = Field(0.0, ge=0, description="Log the counts this often (0: never).")

    def setup(self) -> None:
        """One input per name; an optional report timer."""
        for name in self.params.topics:
            self.subscribe(name, self.heard)
        if self.params.report_s > 0:
            self.timer(self.params.report_s, self.report)

    def heard(self, event: Input) -> None:
        """Count one message."""
        self.counters[f"in:{event.name}"] += 1

    def report(self) -> None:
        """Log the counts so far."""
        self.log.info("heard %s", {n: self.counters[f"in:{n}"] for n in self.params.topics})


class Relay(Node):
    """Re-publishes what arrives on ``in`` on ``out`` (any type), every ``every``-th message.

    Remap both in the launch file: ``remap: {in: /chatter, out: /chatter_slow}``.

    >>> from causalstream.nodes.testing import MockNode
    >>> from causalstream.stream.messages import Clock
    >>> mock = MockNode(Relay, params={"every": 2}).feed("in", *[Clock(stamp_ns=i) for i in range(5)]).run()
    >>> [m.stamp_ns for m in mock.outputs("out")]
    [0, 2, 4]
    """

    class Params(NodeParams):
        """Parameters of ``relay``."""

        every: int = Field(1, ge=1, description="Forward one message in this many.")

    def setup(self) -> None:
        """One input, one output; the plain loop below does the rest."""
        self.out = self.publisher("out")
        self.subscribe("in")

    def loop(self) -> None:
        """Forward every ``every``-th input, dora style."""
        for n, event in enumerate(e for e in self if isinstance(e, Input)):
            if n % self.params.every == 0:
                self.out.publish(event.message)
