"""A test double for the node API, after dora's MockNode: feed inputs, capture outputs, no bus.

:class:`MockNode` builds a node kind on :class:`MockIO`, an in-memory transport with a
virtual clock: when no input is waiting, time jumps to the next timer instead of
sleeping, so a node with a 10 Hz timer runs "ten seconds" in a blink and the same way
every time.

>>> from causalstream.nodes.generic import Talker
>>> mock = MockNode(Talker, params={"rate_hz": 10}).run(duration=0.95)
>>> len(mock.outputs("chatter")), mock.statuses()[-1].state
(10, 'stopped')
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

from causalstream.nodes.node import LOG_TOPIC, STATUS_TOPIC, Node, NodeParams
from causalstream.stream import Received
from causalstream.stream.messages import LogLine, Message, NodeStatus

__all__ = ["MockIO", "MockNode"]


class _MemorySink:
    def __init__(self, store: list[Message]) -> None:
        self.store = store

    def publish(self, msg: Message) -> int:
        self.store.append(msg)
        return len(self.store) - 1

    def close(self) -> None:
        pass


class MockIO:
    """In-memory :class:`~causalstream.nodes.transport.NodeIO` with a virtual clock.

    ``on_idle`` is called when a receive finds nothing queued (MockNode stops the node
    there when no duration was given).

    >>> io = MockIO()
    >>> io.recv(2.5), io.now()
    (None, 2.5)
    """

    def __init__(self) -> None:
        self.clock = 0.0
        self.inputs: collections.deque[tuple[str, Message]] = collections.deque()
        self.published: dict[str, list[Message]] = collections.defaultdict(list)
        self.subscribed: list[str] = []
        self.latched: dict[str, bool | None] = {}  # topic -> what its publisher declared
        self.on_idle: Callable[[], object] | None = None
        self.closed = False

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> _MemorySink:
        """A sink appending to ``published[topic]``; ``latched[topic]`` keeps the declaration."""
        self.latched[topic] = latched
        return _MemorySink(self.published[topic])

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str) -> None:
        """Remember the topics (only queued messages on them are delivered)."""
        self.subscribed = list(topics)

    def recv(self, timeout: float) -> Received | None:
        """The next queued input on a subscribed topic; else advance the clock by ``timeout``."""
        while self.inputs:
            topic, msg = self.inputs.popleft()
            if topic in self.subscribed:
                return Received(topic, None, msg)  # type: ignore[arg-type]  # no envelope in memory
        self.clock += timeout
        if self.on_idle is not None:
            self.on_idle()
        return None

    def drops(self) -> tuple[int, int]:
        """Nothing is ever lost in memory."""
        return 0, 0

    def now(self) -> float:
        """Virtual seconds since the mock was made."""
        return self.clock

    def close(self) -> None:
        """Mark closed (what a node's ``close`` must reach)."""
        self.closed = True


class MockNode:
    """Run a node kind in memory: :meth:`feed` inputs, :meth:`run`, read :meth:`outputs`.

    Names given to :meth:`feed` and :meth:`outputs` are the node's own names (``"in"``,
    ``"chatter"``), resolved with its namespace and remaps like on the bus.

    >>> from causalstream.nodes.generic import Relay
    >>> from causalstream.stream.messages import Clock
    >>> mock = MockNode(Relay).feed("in", Clock(stamp_ns=1), Clock(stamp_ns=2)).run()
    >>> [m.stamp_ns for m in mock.outputs("out")]
    [1, 2]
    """

    def __init__(
        self,
        kind: type[Node],
        name: str = "",
        params: NodeParams | Mapping[str, Any] | None = None,
        namespace: str = "/",
        remap: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.io = MockIO()
        self.node = kind(name=name, params=params, namespace=namespace, remap=remap, io=self.io)
        self.exit_code: int | None = None

    def feed(self, name: str, *messages: Message) -> MockNode:
        """Queue messages on the node's input ``name``."""
        topic = self.node.topic(name)
        self.io.inputs.extend((topic, m) for m in messages)
        return self

    def run(self, duration: float | None = None) -> MockNode:
        """Run the node: for ``duration`` virtual seconds, or until its inputs are used up."""
        self.io.on_idle = self.node.stop if duration is None else None
        self.exit_code = self.node.spin(duration)
        return self

    def outputs(self, name: str) -> list[Message]:
        """Everything the node published on ``name`` (resolved like the node resolves it)."""
        return list(self.io.published.get(self.node.topic(name), []))

    def statuses(self) -> list[NodeStatus]:
        """The node's heartbeats, first to last."""
        return [m for m in self.io.published.get(STATUS_TOPIC, []) if isinstance(m, NodeStatus)]

    def logs(self) -> list[LogLine]:
        """What the node logged on ``/log``."""
        return [m for m in self.io.published.get(LOG_TOPIC, []) if isinstance(m, LogLine)]
