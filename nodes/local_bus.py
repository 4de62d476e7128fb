"""The in-process bus of a container: messages between its nodes pass as objects.

The nodes of a container (nodes/container.py) share one :class:`LocalHub`; each node
talks through its own :class:`ContainerIO`, the container's
:class:`~causalstream.nodes.transport.NodeIO`. A message published by one node reaches
the other nodes of the container as the very object published: no encode, no decode.
It goes on the bus too, encoded once by a real :class:`~causalstream.stream.Publisher`,
but only when the bus wants it: a subscriber outside the container (another process, the
recorder) has been seen, or the topic is latched (a late joiner must get its last value).

What a subscriber sees is what it would see from the bus: per-topic sequence numbers from
0 per publisher, gaps counted by the same :class:`~causalstream.stream.bus.counters.TopicCounters`
(an inbox full past ``hwm`` drops, as a full link does, and the receiver sees the gap),
the last message of a latched topic for a node that subscribes late. A topic that a node
of the container publishes is read from inside only (a second publisher of it in another
process is not heard inside): the container subscribes on the bus to its other input
topics, read by one thread per node and handed over the same way. As in ROS 2's
intra-process hand-over, the receivers share the object: a node must not change a message
after publishing it, nor one it received. A raw subscriber (the recorder's) and a raw
publisher (the player's) go through the bus as from another process: the recorder wants
the bytes, and what the player sends reaches the container's nodes by their bus subscribers.

>>> from causalstream.stream import Broker
>>> from causalstream.stream.messages import Clock
>>> with Broker(Endpoints.parse("inproc://doc-hub")) as broker:
...     hub = LocalHub(broker.endpoints)
...     a, b = ContainerIO(hub), ContainerIO(hub)
...     b.open_subscriber(["/clock"], {}, node="/b")
...     out = a.open_publisher("/clock", Clock, node="/a")
...     hub.connect()
...     msg = Clock(stamp_ns=7)
...     out.publish(msg), b.recv(1.0).message is msg, out.encoded
...     a.close(); b.close()
(0, True, 0)
"""

from __future__ import annotations

import collections
import threading
import time

import msgspec
import zmq

from causalstream.nodes.errors import NodeError
from causalstream.nodes.transport import excluded_inputs, raw_publisher
from causalstream.stream import Endpoints, Publisher, Received, Subscriber
from causalstream.stream.bus.counters import TopicCounters
from causalstream.stream.codec import Envelope
from causalstream.stream.errors import BusTimeoutError, CodecError
from causalstream.stream.messages import Message

__all__ = ["ContainerIO", "LocalHub", "LocalSink"]

_NO_PAYLOAD = msgspec.Raw(b"")  # a local envelope carries the message itself, never its bytes
_LOOK_EVERY_S = 0.002  # how often a sink looks for a subscriber outside the container


class _Inbox:
    """One node's queue of received messages: local hand-overs and what its bus reader took."""

    def __init__(self, hwm: int) -> None:
        self.hwm = hwm
        self.queue: collections.deque[Received] = collections.deque()
        self.ready = threading.Condition(threading.Lock())
        self.counters: dict[str, TopicCounters] = {}
        self.overflow = 0

    def put(self, got: Received) -> None:
        with self.ready:
            if len(self.queue) >= self.hwm:
                if got.envelope.payload is not _NO_PAYLOAD:
                    self.overflow += 1  # a bus frame, already past its subscriber's sequence check
                return  # a local one: the receiver counts the gap in its sequence numbers
            self.queue.append(got)
            self.ready.notify()

    def get(self, timeout: float) -> Received | None:
        with self.ready:
            if not self.queue:
                self.ready.wait(timeout)
            return self.queue.popleft() if self.queue else None


class LocalHub:
    """The topics of one container: who publishes and who subscribes, in this process.

    ``endpoints`` is the bus the container's publishers and subscribers connect to.

    >>> LocalHub(Endpoints.parse("inproc://doc-hub-empty")).published
    set()
    """

    def __init__(self, endpoints: Endpoints, hwm: int = 10_000, ready_timeout: float = 10.0) -> None:
        self.endpoints = endpoints
        self.hwm = hwm
        self.ready_timeout = ready_timeout
        self.published: set[str] = set()
        self._lock = threading.Lock()
        self._inboxes: dict[str, list[_Inbox]] = collections.defaultdict(list)
        self._latched: dict[str, Received] = {}
        self._ios: list[ContainerIO] = []

    def add(self, io: ContainerIO) -> None:
        """One more node's transport; :meth:`connect` will subscribe it on the bus."""
        with self._lock:
            self._ios.append(io)

    def attach(self, topic: str, inbox: _Inbox) -> None:
        """Deliver ``topic``'s local messages to ``inbox`` (the last latched one at once)."""
        with self._lock:
            self._inboxes[topic].append(inbox)
            last = self._latched.get(topic)
        if last is not None:
            inbox.put(last)

    def detach(self, inbox: _Inbox) -> None:
        """Stop delivering to ``inbox``."""
        with self._lock:
            for boxes in self._inboxes.values():
                if inbox in boxes:
                    boxes.remove(inbox)

    def deliver(self, got: Received, latched: bool) -> None:
        """Hand ``got`` to every inbox of its topic."""
        with self._lock:
            if latched:
                self._latched[got.topic] = got
            boxes = list(self._inboxes.get(got.topic, ()))
        for box in boxes:
            box.put(got)

    def connect(self) -> None:
        """Once every node has declared its topics: subscribe on the bus to what no node here publishes."""
        with self._lock:
            ios = list(self._ios)
        for io in ios:
            io.connect_bus()


class LocalSink:
    """A publisher inside a container: hands messages to the container's nodes, and to the bus when wanted.

    ``encoded`` counts the messages that went on the bus (each encoded once, by ``bus``).

    >>> from causalstream.stream import Broker
    >>> from causalstream.stream.messages import Clock
    >>> with Broker(Endpoints.parse("inproc://doc-sink")) as broker:
    ...     sink = ContainerIO(LocalHub(broker.endpoints)).open_publisher("/x", Clock, node="/n")
    ...     sink.publish(Clock(stamp_ns=1)), sink.publish(Clock(stamp_ns=2)), sink.encoded
    ...     sink.close()
    (0, 1, 0)
    """

    def __init__(self, hub: LocalHub, bus: Publisher, topic: str, msg_type: type[Message] | None) -> None:
        self.hub = hub
        self.bus = bus
        self.topic = topic
        self.msg_type = msg_type
        self.latched = bus.latched
        self.seq = 0
        self.encoded = 0
        self._lock = threading.Lock()  # a node's timers and handlers share its thread; the log sink may not
        self._look_at = 0.0
        self._remote = False

    def _bus_wants(self) -> bool:
        if self.latched:
            return True
        if not self._remote:
            now = time.monotonic()
            if now >= self._look_at:
                self._look_at = now + _LOOK_EVERY_S
                self.bus.drain(0)
                self._remote = self.bus.has_subscriber()
        return self._remote

    def publish(self, msg: Message) -> int:
        """Hand ``msg`` to the container's subscribers of the topic, then to the bus if wanted; its seq."""
        if self.msg_type is not None and not isinstance(msg, self.msg_type):
            raise CodecError(type(msg).__name__, f"publisher of {self.topic} takes {self.msg_type.__name__}")
        with self._lock:
            seq = self.seq
            self.seq = seq + 1
            stamp = msg.stamp_ns or time.time_ns()
            env = Envelope(stamp, seq, self.bus.publisher_id, type(msg).__name__, _NO_PAYLOAD, self.topic)
            self.hub.deliver(Received(self.topic, env, msg), self.latched)
            if self._bus_wants():
                self.bus.publish(msg, stamp)
                self.encoded += 1
        return seq

    def close(self) -> None:
        """Close the bus publisher."""
        self.bus.close()


class ContainerIO:
    """One node's :class:`~causalstream.nodes.transport.NodeIO` inside a container (see the module docstring).

    >>> io = ContainerIO(LocalHub(Endpoints.parse("inproc://doc-cio")))
    >>> io.recv(0.01) is None, io.drops()
    (True, (0, 0))
    """

    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub
        self._inbox = _Inbox(hub.hwm)
        self._sinks: list[LocalSink] = []
        self._topics: list[str] = []
        self._types: dict[str, type[Message]] = {}
        self._node = ""
        self._raw = False
        self._contexts: list[zmq.Context] = []
        self._raw_publishers: list[Publisher] = []
        self._bus_sub: Subscriber | None = None
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()
        hub.add(self)

    def open_publisher(self, topic: str, msg_type: type[Message] | None, node: str,
                       latched: bool | None = None) -> LocalSink:
        """A :class:`LocalSink` on ``topic`` over a bus publisher the broker has seen."""
        pub = Publisher(topic, msg_type, endpoints=self.hub.endpoints, node=node, latched=latched)
        try:
            pub.wait_ready(self.hub.ready_timeout)
        except BusTimeoutError as exc:
            pub.close()
            raise NodeError(node, f"cannot publish on {topic}: {exc}") from None
        self.hub.published.add(topic)
        sink = LocalSink(self.hub, pub, topic, msg_type)
        self._sinks.append(sink)
        return sink

    def open_raw_publisher(self, node: str) -> Publisher:
        """An ordered raw publisher on the bus (see the module docstring), on its own context."""
        pub, own = raw_publisher(self.hub.endpoints, node)
        if own is not None:
            self._contexts.append(own)
        self._raw_publishers.append(pub)
        return pub

    def open_subscriber(self, topics: list[str], types: dict[str, type[Message]], node: str,
                        raw: bool = False) -> None:
        """Take the container's messages on ``topics`` now; the bus's once :meth:`LocalHub.connect` runs
        (``raw``: everything from the bus, see the module docstring)."""
        self._topics, self._types, self._node, self._raw = list(topics), dict(types), node, raw
        for topic in self._topics if not raw else ():
            self.hub.attach(topic, self._inbox)

    def latched(self, topic: str) -> bool:
        """Whether ``topic``'s publishers registered it latched (as the bus subscriber heard)."""
        sub = self._bus_sub
        return sub is not None and sub.latched(topic)

    def connect_bus(self) -> None:
        """Subscribe on the bus to the input topics that no node of the container publishes (raw: all)."""
        remote = [t for t in self._topics if self._raw or t not in self.hub.published]
        if not remote or self._bus_sub is not None:
            return
        sub = Subscriber(remote, endpoints=self.hub.endpoints, types=self._types, node=self._node, raw=self._raw,
                         exclude=excluded_inputs(remote, self._raw))
        try:
            sub.wait_ready(self.hub.ready_timeout)
        except BusTimeoutError as exc:
            sub.close()
            raise NodeError(self._node, f"cannot subscribe to {', '.join(remote)}: {exc}") from None
        self._bus_sub = sub
        self._reader = threading.Thread(target=self._read_bus, name=f"bus-in{self._node}", daemon=True)
        self._reader.start()

    def _read_bus(self) -> None:
        sub = self._bus_sub
        assert sub is not None
        while not self._closed.is_set():
            got = sub.recv(timeout=0.1)
            if got is not None:
                self._inbox.put(got)

    def recv(self, timeout: float) -> Received | None:
        """The next input, local or from the bus, or None after ``timeout`` seconds.

        Local messages pass the sequence check here, as bus frames do in the subscriber.
        """
        end = time.monotonic() + timeout
        while True:
            got = self._inbox.get(max(0.0, end - time.monotonic()))
            if got is None:
                return None
            if got.envelope.payload is not _NO_PAYLOAD:
                return got  # from the bus: the subscriber checked it
            c = self._inbox.counters.get(got.topic)
            if c is None:
                c = self._inbox.counters[got.topic] = TopicCounters(type_name=got.envelope.type)
            if c.accept(got.envelope.publisher, got.envelope.seq):
                return got
            if time.monotonic() >= end:
                return None

    def drops(self) -> tuple[int, int]:
        """(sequence gaps, bad frames) on the inputs, local and from the bus."""
        gaps = sum(c.gaps for c in list(self._inbox.counters.values())) + self._inbox.overflow
        sub = self._bus_sub
        if sub is None:
            return gaps, 0
        return gaps + sum(c.gaps for c in list(sub.counters.values())), sub.bad_frames

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def close(self) -> None:
        """Leave the hub, stop the bus reader, close every socket."""
        self._closed.set()
        self.hub.detach(self._inbox)
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        for sink in self._sinks:
            sink.close()
        if self._bus_sub is not None:
            self._bus_sub.close()
        for pub in self._raw_publishers:
            pub.close()
        for context in self._contexts:
            context.term()
