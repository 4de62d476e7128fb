"""What a node talks through: the bus (:class:`BusIO`) or, in tests, memory (``testing.MockIO``).

A :class:`~causalstream.nodes.node.Node` never touches sockets itself; it asks its
``io`` for publishers, one subscriber over all its input topics, and the time. That
seam is what lets ``MockNode`` run a node kind with no bus at all.

>>> from causalstream.stream import Broker, Endpoints
>>> from causalstream.stream.messages import Clock
>>> with Broker(Endpoints.parse("inproc://doc-busio")) as b:
...     io = BusIO(b.endpoints)
...     io.open_subscriber(["/clock"], {}, node="doc")
...     out = io.open_publisher("/clock", Clock, node="doc")
...     _ = out.publish(Clock(stamp_ns=5))
...     io.recv(2.0).message.stamp_ns
...     io.close()
5
"""

from __future__ import annotations

import time
from typing import Protocol

import zmq

from causalstream.nodes.errors import NodeError
from causalstream.stream import Endpoints, Publisher, Received, Subscriber
from causalstream.stream.errors import BusTimeoutError
from causalstream.stream.log.player import RawSink
from causalstream.stream.log.recorder import EXCLUDED_WHEN_ALL
from causalstream.stream.messages import Message

__all__ = ["ALL_TOPICS", "BusIO", "NodeIO", "Sink", "excluded_inputs", "raw_publisher"]

ALL_TOPICS = ""
"""The input name that subscribes to every topic (a raw subscriber's, the recorder's)."""


def raw_publisher(endpoints: Endpoints, node: str) -> tuple[Publisher, zmq.Context | None]:
    """An ordered raw publisher (the player's: any topic, encoded payloads), not yet waited on, and
    the context of its own that closing must terminate, so its queued frames leave first (None on
    inproc, which works only within the shared context).

    >>> pub, own = raw_publisher(Endpoints.parse("inproc://doc-rawpub"), "doc")
    >>> pub.publish_raw("Clock", b"\\x81\\xa8stamp_ns\\x01", 1, topic="/x"), own
    (0, None)
    >>> pub.close()
    """
    own = None if endpoints.pub.startswith("inproc://") else zmq.Context()
    pub = Publisher(None, endpoints=endpoints, node=node, context=own or zmq.Context.instance(), ordered=True,
                    hwm=100_000, linger_ms=10_000)
    return pub, own


def excluded_inputs(topics: list[str], raw: bool) -> frozenset[str]:
    """The topics a subscriber drops uncounted: the bus's own counters, for a raw subscriber of every topic.

    >>> sorted(excluded_inputs([ALL_TOPICS], raw=True)), excluded_inputs(["/a"], raw=True)
    (['/bus/stats'], frozenset())
    """
    return EXCLUDED_WHEN_ALL if raw and ALL_TOPICS in topics else frozenset()


class Sink(Protocol):
    """Where one output topic's messages go: ``publish(msg) -> seq``.

    Structural: a bus Publisher is one, and so is anything with these two methods.

    >>> import inspect
    >>> {name for name, _ in inspect.getmembers(Publisher, inspect.isfunction)} >= {"publish", "close"}
    True
    """

    def publish(self, msg: Message) -> int: ...

    def close(self) -> None: ...


class NodeIO(Protocol):
    """Everything a node needs from the outside world.

    A ``raw`` subscriber delivers envelopes with the payload still encoded (``message`` None);
    ``latched(topic)`` is what the topic's publishers declared. A raw publisher
    (``open_raw_publisher``, the player's) sends encoded payloads on any topic.

    >>> sorted(m for m in vars(NodeIO) if not m.startswith("_"))  # doctest: +NORMALIZE_WHITESPACE
    ['close', 'drops', 'latched', 'now', 'open_publisher', 'open_raw_publisher', 'open_subscriber',
     'recv']
    """

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> Sink: ...

    def open_raw_publisher(self, node: str) -> RawSink: ...

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str,
                        raw: bool = False) -> None: ...

    def latched(self, topic: str) -> bool: ...

    def recv(self, timeout: float) -> Received | None: ...

    def drops(self) -> tuple[int, int]: ...

    def now(self) -> float: ...

    def close(self) -> None: ...


class BusIO:
    """A node's connection to the bus: publishers and one subscriber, each waited on until ready.

    ``ready_timeout`` bounds how long a node waits for the broker at start; past it, the
    node fails with :class:`NodeError` instead of publishing into the void.

    >>> BusIO(Endpoints.parse("inproc://doc-busio-idle")).recv(0.01) is None
    True
    """

    def __init__(self, endpoints: Endpoints | str | None = None, ready_timeout: float = 10.0) -> None:
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.ready_timeout = ready_timeout
        self._publishers: list[Publisher] = []
        self._subscriber: Subscriber | None = None
        self._contexts: list[zmq.Context] = []

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> Publisher:
        """A publisher on ``topic`` (latched as declared) that the broker has seen."""
        pub = Publisher(topic, msg_type, endpoints=self.endpoints, node=node, latched=latched)
        self._publishers.append(pub)
        try:
            return pub.wait_ready(self.ready_timeout)
        except BusTimeoutError as exc:
            raise NodeError(node, f"cannot publish on {topic}: {exc}") from None

    def open_raw_publisher(self, node: str) -> Publisher:
        """An ordered raw publisher (any topic, encoded payloads), on a context of its own so that
        :meth:`close` waits until its queued frames have left (10 s at most); not yet waited on.

        >>> io = BusIO(Endpoints.parse("inproc://doc-busio-raw"))
        >>> io.open_raw_publisher("doc").publish_raw("Clock", b"\\x81\\xa8stamp_ns\\x01", 1, topic="/x")
        0
        >>> io.close()
        """
        pub, own = raw_publisher(self.endpoints, node)
        if own is not None:
            self._contexts.append(own)
        self._publishers.append(pub)
        return pub

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str,
                        raw: bool = False) -> None:
        """One subscriber over every input topic, ready when this returns (``raw``: payloads not decoded;
        every topic but the bus's own counters when ``topics`` holds :data:`ALL_TOPICS`)."""
        self._subscriber = Subscriber(topics, endpoints=self.endpoints, types=types, node=node, raw=raw,
                                      exclude=excluded_inputs(topics, raw))
        try:
            self._subscriber.wait_ready(self.ready_timeout)
        except BusTimeoutError as exc:
            raise NodeError(node, f"cannot subscribe to {', '.join(topics)}: {exc}") from None

    def recv(self, timeout: float) -> Received | None:
        """The next input message, or None after ``timeout`` seconds (sleeps if no inputs)."""
        if self._subscriber is None:
            time.sleep(max(0.0, timeout))
            return None
        return self._subscriber.recv(timeout=timeout)

    def latched(self, topic: str) -> bool:
        """Whether the publishers of an input topic registered it latched (False before any did)."""
        return self._subscriber is not None and self._subscriber.latched(topic)

    def drops(self) -> tuple[int, int]:
        """(sequence gaps, bad frames) seen on the inputs so far."""
        sub = self._subscriber
        if sub is None:
            return 0, 0
        return sum(c.gaps for c in sub.counters.values()), sub.bad_frames

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def close(self) -> None:
        """Close every socket."""
        for pub in self._publishers:
            pub.close()
        if self._subscriber is not None:
            self._subscriber.close()
        for context in self._contexts:
            context.term()
