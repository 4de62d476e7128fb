"""A user's own node kinds, given in launch files as ``user_nodes:Greeter`` (tests/ on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from causalstream.nodes.node import Node, NodeParams
from causalstream.stream.messages import Features


class Greeter(Node):
    """Publishes ``greeting`` (as a Features name) and a counter on ``greetings``."""

    class Params(NodeParams):
        greeting: str = "hello"
        rate_hz: float = 5.0

    def setup(self) -> None:
        self.n = 0
        self.out = self.publisher("greetings", Features)
        self.timer(1.0 / self.params.rate_hz, self.greet)

    def greet(self) -> None:
        self.out.publish(Features(stamp_ns=time.time_ns(), names=[self.params.greeting], values=np.array([self.n])))
        self.n += 1


class Marker(Node):
    """Leaves a file named after its pid in ``$CAUSALSTREAM_TEST_MARKERS``: proof that a node process ran."""

    def setup(self) -> None:
        folder = os.environ.get("CAUSALSTREAM_TEST_MARKERS")
        if folder:
            (Path(folder) / str(os.getpid())).write_text(self.qualified_name)
