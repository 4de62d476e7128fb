"""Node kinds for the reliability tests, given in launch files and ``causalstream run`` as
``rel_nodes:Sleeper`` and ``rel_nodes:Flood`` (tests/ on PYTHONPATH)."""

from __future__ import annotations

import time

import numpy as np

from causalstream.nodes.node import Input, Node, NodeParams
from causalstream.stream.messages import Features


class Sleeper(Node):
    """A slow consumer: takes ``sleep_s`` over every message on ``in``."""

    class Params(NodeParams):
        sleep_s: float = 0.001

    def setup(self) -> None:
        self.subscribe("in", self.work)

    def work(self, event: Input) -> None:
        time.sleep(self.params.sleep_s)


class Flood(Node):
    """A fast producer: ``n`` messages of ``size`` float64 values on ``out`` as fast as it can,
    then a tail of ``tail`` messages at 20 Hz (so a subscriber sees the gap after the burst),
    then it stops. It waits ``wait_s`` first, for the consumer to come up."""

    class Params(NodeParams):
        n: int = 30_000
        size: int = 1000
        tail: int = 10
        wait_s: float = 0.0

    def setup(self) -> None:
        self.out = self.publisher("out", Features)

    def loop(self) -> None:
        self.sleep(self.params.wait_s)
        names = [f"v{i}" for i in range(self.params.size)]
        values = np.zeros(self.params.size)
        for i in range(self.params.n + self.params.tail):
            if not self.ok:
                return
            self.out.publish(Features(stamp_ns=i + 1, names=names, values=values))
            if i >= self.params.n:
                self.sleep(0.05)
        self.log.info("flood done: %d messages", self.params.n + self.params.tail)
        self.sleep(1.5)  # a last heartbeat or two with the final count
