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

from causalstream.nodes.errors import NodeError
from causalstream.stream import Endpoints, Publisher, Received, Subscriber
from causalstream.stream.errors import BusTimeoutError
from causalstream.stream.messages import Message

__all__ = ["BusIO", "NodeIO", "Sink"]


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

    >>> sorted(m for m in vars(NodeIO) if not m.startswith("_"))
    ['close', 'drops', 'now', 'open_publisher', 'open_subscriber', 'recv']
    """

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> Sink: ...

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str) -> None: ...

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

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> Publisher:
        """A publisher on ``topic`` (latched as declared) that the broker has seen."""
        pub = Publisher(topic, msg_type, endpoints=self.endpoints, node=node, latched=latched)
        self._publishers.append(pub)
        try:
            return pub.wait_ready(self.ready_timeout)
        except BusTimeoutError as exc:
            raise NodeError(node, f"cannot publish on {topic}: {exc}") from None

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str) -> None:
        """One subscriber over every input topic, ready when this returns."""
        self._subscriber = Subscriber(topics, endpoints=self.endpoints, types=types, node=node)
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
