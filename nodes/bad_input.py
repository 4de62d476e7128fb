"""Counting bad input samples in a node's ``bad`` counter, beside the bus's bad frames.

The runtime's heartbeat reports ``bad`` as the node's own count plus the transport's bad
frames (frames that did not decode). A node that also rejects or repairs *decoded* input
(NaN positions, a stamp that goes backwards) counts it with :meth:`CheckedNode.flag_bad`:
the reason gets its own counter ``bad:<reason>`` and adds to ``bad``.

>>> from causalstream.nodes.testing import MockNode
>>> class Picky(CheckedNode):
...     def setup(self):
...         self.flag_bad("stamp_order", 2)
>>> mock = MockNode(Picky).run(duration=0.5)
>>> mock.statuses()[-1].counters["bad"], mock.node.counters["bad:stamp_order"]
(2, 2)
"""

from __future__ import annotations

from causalstream.nodes.node import Input, Node
from causalstream.stream.messages import Message

__all__ = ["CheckedNode"]


class CheckedNode(Node):
    """A :class:`Node` whose ``bad`` counter also counts the input samples it flagged.

    >>> CheckedNode(name="n").status().counters["bad"]
    0
    """

    last_stamp: int | None = None

    def accept(self, event: Input, msg_type: type[Message]) -> Message | None:
        """The event's message if it has the type and a stamp after the last; else flag it, None.

        A stamp equal to or older than the last accepted one is ``bad:stamp_order``: the
        stream is a time series, and a repeated or older sample would fake a lag.

        >>> from causalstream.stream.messages import Clock
        >>> node = CheckedNode(name="n")
        >>> [node.accept(Input("in", "/in", Clock(stamp_ns=s)), Clock) is not None for s in (2, 2, 1, 3)]
        [True, False, False, True]
        >>> node.counters["bad:stamp_order"]
        2
        """
        msg = event.message
        if not isinstance(msg, msg_type):
            self.flag_bad("type")
            return None
        if self.last_stamp is not None and msg.stamp_ns <= self.last_stamp:
            self.flag_bad("stamp_order")
            return None
        self.last_stamp = msg.stamp_ns
        return msg

    def flag_bad(self, reason: str, n: int = 1) -> None:
        """Count ``n`` bad input samples for ``reason`` (counter ``bad:<reason>``)."""
        self.counters[f"bad:{reason}"] += n
        self.counters["bad"] += n

