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

import msgspec

from causalstream.nodes.node import LOG_TOPIC, STATUS_TOPIC, Node, NodeParams
from causalstream.nodes.transport import ALL_TOPICS
from causalstream.stream import Received
from causalstream.stream.bus.topics import default_latched
from causalstream.stream.codec import Envelope, decode_payload, encode_payload
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


class _MemoryRawSink:
    """The in-memory raw publisher: payloads decoded into ``published[topic]`` (what a bus
    subscriber would have got), declarations kept in ``declared``."""

    def __init__(self, io: MockIO) -> None:
        self.io = io

    def declare(self, topic: str, type_name: str, latched: bool) -> None:
        self.io.declared[topic] = latched

    def wait_ready(self, timeout: float = 5.0) -> _MemoryRawSink:
        return self

    def wait_for_subscribers(self, topics: list[str], timeout: float, settle: float = 0.3) -> list[str]:
        return []  # the test reads every topic

    def drain(self, timeout_ms: int = 0) -> None:
        pass

    def publish_raw(self, type_name: str, payload: bytes, stamp_ns: int, topic: str | None = None) -> int:
        store = self.io.published[topic or ""]
        store.append(decode_payload(type_name, payload))
        return len(store) - 1

    def close(self) -> None:
        pass


class MockIO:
    """In-memory :class:`~causalstream.nodes.transport.NodeIO` with a virtual clock.

    ``on_idle`` is called when a receive finds nothing queued (MockNode stops the node
    there when no duration was given). A raw subscriber gets each input encoded as on the
    bus (an envelope numbered per topic); a raw publisher's payloads are decoded into
    ``published``.

    >>> io = MockIO()
    >>> io.recv(2.5), io.now()
    (None, 2.5)
    """

    def __init__(self) -> None:
        self.clock = 0.0
        self.inputs: collections.deque[tuple[str, Message]] = collections.deque()
        self.published: dict[str, list[Message]] = collections.defaultdict(list)
        self.subscribed: list[str] = []
        self.raw = False
        self._seqs: dict[str, int] = collections.defaultdict(int)
        self.declared: dict[str, bool | None] = {}  # topic -> what its publisher declared
        self.on_idle: Callable[[], object] | None = None
        self.closed = False

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> _MemorySink:
        """A sink appending to ``published[topic]``; ``declared[topic]`` keeps the latched declaration."""
        self.declared[topic] = latched
        return _MemorySink(self.published[topic])

    def open_raw_publisher(self, node: str) -> _MemoryRawSink:
        """A raw sink decoding into ``published`` (the player's, in memory)."""
        return _MemoryRawSink(self)

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str,
                        raw: bool = False) -> None:
        """Remember the topics (only queued messages on them are delivered; ``""``: every topic)."""
        self.subscribed = list(topics)
        self.raw = raw

    def latched(self, topic: str) -> bool:
        """What a publisher in this mock declared for ``topic``, else the well-known default."""
        declared = self.declared.get(topic)
        return default_latched(topic) if declared is None else declared

    def recv(self, timeout: float) -> Received | None:
        """The next queued input on a subscribed topic; else advance the clock by ``timeout``."""
        while self.inputs:
            topic, msg = self.inputs.popleft()
            if topic in self.subscribed or ALL_TOPICS in self.subscribed:
                if self.raw:
                    seq = self._seqs[topic]
                    self._seqs[topic] += 1
                    env = Envelope(getattr(msg, "stamp_ns", 0), seq, "mock", type(msg).__name__,
                                   msgspec.Raw(encode_payload(msg)), topic)
                    return Received(topic, env, None)
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
