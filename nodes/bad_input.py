"""Counting bad input samples in a node's ``bad`` counter, beside the bus's bad frames.

The runtime sets ``counters["bad"]`` from the transport (frames that did not decode) at
every heartbeat. A node that also rejects or repairs *decoded* input (NaN positions, a
stamp that goes backwards) counts it with :meth:`CheckedNode.flag_bad`: the reason gets
its own counter ``bad:<reason>`` and the heartbeat's ``bad`` is the sum of both kinds.

>>> from causalstream.nodes.testing import MockNode
>>> class Picky(CheckedNode):
...     def setup(self):
...         self.flag_bad("stamp_order", 2)
>>> mock = MockNode(Picky).run(duration=0.5)
>>> mock.statuses()[-1].counters["bad"], mock.node.counters["bad:stamp_order"]
(2, 2)
"""

from __future__ import annotations

from causalstream.nodes.node import Node
from causalstream.stream.messages import NodeStatus

__all__ = ["CheckedNode"]


class CheckedNode(Node):
    """A :class:`Node` whose ``bad`` counter also counts the input samples it flagged.

    >>> CheckedNode(name="n").status().counters["bad"]
    0
    """

    bad_input: int = 0

    def flag_bad(self, reason: str, n: int = 1) -> None:
        """Count ``n`` bad input samples for ``reason`` (counter ``bad:<reason>``)."""
        self.bad_input += n
        self.counters[f"bad:{reason}"] += n
        self.counters["bad"] += n

    def status(self) -> NodeStatus:
        """The heartbeat, ``bad`` = bad frames (transport) + flagged samples."""
        msg = super().status()
        self.counters["bad"] += self.bad_input
        msg.counters["bad"] = self.counters["bad"]
        return msg
