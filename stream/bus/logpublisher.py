"""One socket that publishes already-encoded payloads on many topics, in order.

What replay needs and a :class:`Publisher` (one topic, one socket) does not give: frames
of several topics leave through one connection to the broker, so subscribers see them in
the order of the log, run after run. Each topic still gets its own sequence numbers from 0
(gaps are counted per topic and publisher); latched topics keep their last frame and send
it again when a subscription for them arrives. The socket blocks at its high-water mark
(``XPUB_NODROP``) instead of dropping.

>>> from causalstream.stream.bus.broker import Broker
>>> from causalstream.stream.codec import encode_payload
>>> from causalstream.stream.messages import Clock
>>> from causalstream.stream.bus.subscriber import Subscriber
>>> with Broker(Endpoints.parse("inproc://doc-logpub")) as b:
...     sub = Subscriber(["/a", "/b"], endpoints=b.endpoints).wait_ready(2.0)
...     with LogPublisher(endpoints=b.endpoints).wait_ready(2.0) as pub:
...         _ = pub.wait_for_subscribers(["/a", "/b"], 2.0)
...         for topic in ("/a", "/b", "/a"):
...             _ = pub.publish_payload(topic, "Clock", encode_payload(Clock(stamp_ns=1)), 1)
...     [(r.topic, r.envelope.seq) for r in (sub.recv(1.0), sub.recv(1.0), sub.recv(1.0))]
...     sub.close()
[('/a', 0), ('/b', 0), ('/a', 1)]
"""

from __future__ import annotations

import time
from types import TracebackType

import msgspec
import zmq

from causalstream.stream.codec import SEP
from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.errors import BusTimeoutError
from causalstream.stream.messages import TopicStats
from causalstream.stream.bus.publisher import new_publisher_id
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.bus.counters import RateMeter, registry
from causalstream.stream.bus.topics import is_latched

__all__ = ["LogPublisher"]

_ENVELOPE = msgspec.msgpack.Encoder()
_DRAIN_EVERY = 256


class LogPublisher:
    """Publish encoded payloads on any topic through one ordered, non-dropping socket.

    >>> pub = LogPublisher(endpoints="inproc://doc-logpub-none")
    >>> pub.publish_payload("/x", "Clock", b"\\x81\\xa8stamp_ns\\x01", 1), pub.seq
    (0, {'/x': 1})
    >>> pub.close()
    """

    def __init__(
        self,
        endpoints: Endpoints | str | None = None,
        hwm: int = 100_000,
        node: str = "",
        linger_ms: int = 10_000,
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
    ) -> None:
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.hwm = hwm
        self.node = node
        self.linger_ms = linger_ms
        self.context = context or zmq.Context.instance()
        self.keys = keys if keys is not None else ClientKeys.from_env()  # CURVE, on a secured bus
        self.publisher_id = new_publisher_id(node)
        self.seq: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self.rates: dict[str, RateMeter] = {}
        self._prefixes: dict[str, bytes] = {}
        self._latched: dict[str, bytes] = {}
        self._subscriptions: set[bytes] = set()
        self._sent = 0
        self._closed = False
        sock = configure_socket(self.context.socket(zmq.XPUB), hwm, self.keys)
        sock.set(zmq.XPUB_VERBOSE, 1)  # every subscription, so a late joiner gets latched values
        sock.set(zmq.XPUB_NODROP, 1)  # block at the high-water mark instead of dropping
        sock.connect(self.endpoints.pub)
        self._sock = sock
        registry.add(self)

    def publish_payload(self, topic: str, type_name: str, payload: bytes, stamp_ns: int) -> int:
        """Send one encoded payload of ``type_name`` on ``topic``; returns its sequence number."""
        prefix = self._prefixes.get(topic)
        if prefix is None:
            prefix = self._prefixes[topic] = topic.encode() + SEP
            self.rates[topic] = RateMeter()
        seq = self.seq.get(topic, 0)
        frame = prefix + _ENVELOPE.encode((stamp_ns, seq, self.publisher_id, type_name, msgspec.Raw(payload)))
        self._sock.send(frame, copy=len(frame) < 65536)
        self.seq[topic] = seq + 1
        self.types[topic] = type_name
        self.rates[topic].tick()
        if is_latched(topic):
            self._latched[topic] = frame
        self._sent += 1
        if self._sent % _DRAIN_EVERY == 0:
            self.drain(0)
        return seq

    def drain(self, timeout_ms: int = 0) -> None:
        """Take in subscriptions (waiting up to ``timeout_ms`` for the first); re-send latched values."""
        while self._sock.poll(timeout_ms):
            msg = self._sock.recv()
            timeout_ms = 0
            if msg[:1] != b"\x01":
                continue
            prefix = msg[1:]
            self._subscriptions.add(prefix)
            for topic, frame in self._latched.items():
                if self._prefixes[topic].startswith(prefix):
                    self._sock.send(frame)

    def has_subscriber(self, topic: str) -> bool:
        """True once a subscription covering ``topic`` has been seen."""
        full = topic.encode() + SEP
        return any(full.startswith(p) for p in self._subscriptions)

    def wait_ready(self, timeout: float = 5.0) -> LogPublisher:
        """Block until the broker has seen this socket (it always forwards one subscription)."""
        deadline = time.monotonic() + timeout
        while not self._subscriptions:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BusTimeoutError(self.endpoints.pub, f"no broker answered within {timeout:.1f} s")
            self.drain(int(min(left, 0.05) * 1000) + 1)
        return self

    def wait_for_subscribers(self, topics: list[str], timeout: float, settle: float = 0.3) -> list[str]:
        """Wait until every topic has a subscriber, at most ``timeout`` s and ``settle`` s after
        the first one shows up; returns the topics still without one."""
        deadline = time.monotonic() + timeout
        missing = [t for t in topics if not self.has_subscriber(t)]
        while missing and (left := deadline - time.monotonic()) > 0:
            self.drain(int(min(left, 0.02) * 1000) + 1)
            still = [t for t in missing if not self.has_subscriber(t)]
            if len(still) < len(missing):
                deadline = min(deadline, time.monotonic() + settle)
            missing = still
        return missing

    def topic_stats(self) -> list[TopicStats]:
        """Counters per topic as :class:`TopicStats` (what ``/bus/stats`` carries)."""
        return [TopicStats(topic=t, role="pub", type_name=self.types.get(t, ""), messages=n,
                           rate_hz=self.rates[t].hz()) for t, n in list(self.seq.items())]

    def close(self) -> None:
        """Close; queued frames get ``linger_ms`` to leave. Idempotent."""
        if not self._closed:
            self._closed = True
            registry.remove(self)
            self._sock.close(linger=self.linger_ms)

    def __enter__(self) -> LogPublisher:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
