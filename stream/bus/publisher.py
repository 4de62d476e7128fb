"""Publish on the bus: one publisher core, typed (``publish(msg)``) or raw (``publish_raw``).

A publisher's socket is an XPUB connected to the broker's XSUB, so it sees subscriptions:
that is how it knows the bus has seen it (:meth:`Publisher.wait_ready`), whether anyone
listens (:meth:`Publisher.wait_for_subscriber`) and, for a latched topic, when a late
joiner needs the last message again. Its transport is chosen once, by :func:`transport`:
on a local bus frames go straight to the subscribers' inboxes (stream/bus/direct.py) and
the broker socket carries only subscriptions; otherwise, or when ``ordered`` is asked, they
go through the broker.

Every frame is built here: envelope, per-topic sequence numbers from 0, the last frame of a
latched topic, and each topic's registration (stream/bus/topics.py): the type and the
durability (``latched``) this publisher declared, sent down every new direct link before
anything else, and through the broker on every new subscription it sees. So a subscriber,
the recorder included, learns them from the publisher, whatever the topic is called. A typed publisher has one topic and one type. A raw publisher takes
payloads already encoded (``bag play``: they go back on the bus as recorded), on its own
topic or, with ``topic=None``, on any; ``ordered=True`` (the player's) sends every topic
through one broker connection that blocks at its high-water mark instead of dropping
(``XPUB_NODROP``), so subscribers see the frames in the order sent, run after run.

A latched single-topic publisher keeps its sockets in a small thread that answers
subscriptions while the owner is busy; any other stays on the caller's thread, with no
extra hop, and reads subscriptions when it publishes or waits.

>>> from causalstream.stream.bus.broker import Broker
>>> from causalstream.stream.bus.endpoints import Endpoints
>>> from causalstream.stream.messages import Clock
>>> with Broker(Endpoints.parse("inproc://doc-pub")) as b:
...     with Publisher("/clock", Clock, endpoints=b.endpoints) as pub:
...         _ = pub.wait_ready(2.0)
...         pub.publish(Clock(stamp_ns=1))
0
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType

import zmq

from causalstream.stream.bus.counters import RateMeter, registry
from causalstream.stream.bus.direct import DirectLinks, direct_mode
from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.bus.topics import (
    REGISTRATION_TYPE,
    Registration,
    default_latched,
    registration_payload,
)
from causalstream.stream.codec import SEP, encode_frame_into, encode_raw_frame
from causalstream.stream.errors import BusTimeoutError, CodecError
from causalstream.stream.messages import Message, TopicStats

__all__ = ["Publisher", "new_publisher_id", "transport"]

_DRAIN_EVERY = 256
_LOOK_EVERY_S = 0.002  # how often a direct publisher looks for adverts while it publishes


def new_publisher_id(node: str = "") -> str:
    """A bus-wide unique id: node (or pid) plus a random suffix; new for every instance.

    >>> new_publisher_id("sim").startswith("sim/")
    True
    """
    return f"{node or os.getpid()}/{uuid.uuid4().hex[:8]}"


def transport(endpoints: Endpoints, keys: ClientKeys | None, ordered: bool = False) -> str:
    """``"direct"`` (frames straight to subscribers' inboxes) or ``"broker"``: chosen once, here.

    >>> transport(Endpoints.parse("tcp://127.0.0.1:7450"), None), transport(Endpoints.parse("tcp://10.0.0.5:7450"), None)
    ('direct', 'broker')
    >>> transport(Endpoints.parse("tcp://127.0.0.1:7450"), None, ordered=True)
    'broker'
    """
    return "direct" if not ordered and direct_mode(endpoints, keys) else "broker"


@dataclass(slots=True)
class _Topic:
    """What a publisher keeps per topic: sequence number, type, latching, its registration and last frame."""

    name: str
    prefix: bytes
    latched: bool
    type_name: str = ""
    seq: int = 0
    last_frame: bytes | None = None
    registration: bytes = b""
    rate: RateMeter = field(default_factory=RateMeter)


class Publisher:
    """Publishes on ``topic`` (``None``: raw, on any topic), latched or not as declared.

    ``latched=None`` takes the well-known table's default for that exact name
    (:func:`~causalstream.stream.bus.topics.default_latched`); a raw publisher declares each
    topic's type and durability with :meth:`declare` (else it gets that default too).

    ``seq`` counts this publisher's messages on its topic from 0; subscribers count gaps in
    it. ``publish`` never blocks for long: past ``hwm`` queued frames, ZeroMQ drops and the
    subscribers see the gap (an ``ordered`` publisher blocks instead). ``direct`` says
    whether frames go straight to subscribers' inboxes; on the direct path ``link_drops``
    counts the frames a full link dropped (one per subscriber), the tail of a stream
    included, which no subscriber can see as a gap.

    >>> Publisher("/x", Message, endpoints=Endpoints.parse("inproc://nowhere")).latched
    False
    >>> Publisher("/my/state", Message, endpoints="inproc://nowhere", latched=True).registrations()
    {'/my/state': Registration(type_name='Message', latched=True)}
    >>> raw = Publisher(None, endpoints="inproc://doc-raw-none", ordered=True)
    >>> raw.publish_raw("Clock", b"\\x81\\xa8stamp_ns\\x01", 1, topic="/x"), raw.seqs
    (0, {'/x': 1})
    >>> raw.close()
    """

    def __init__(
        self,
        topic: str | None,
        msg_type: type[Message] | None = None,
        endpoints: Endpoints | str | None = None,
        latched: bool | None = None,
        hwm: int = 10_000,
        node: str = "",
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
        ordered: bool = False,
        linger_ms: int = 0,
    ) -> None:
        self.topic = topic
        self.msg_type = msg_type
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.latched = bool(topic) and (default_latched(topic or "") if latched is None else latched)
        self.hwm = hwm
        self.node = node
        self.ordered = ordered
        self.linger_ms = linger_ms
        self.context = context or zmq.Context.instance()
        self.keys = keys if keys is not None else ClientKeys.from_env()
        self.publisher_id = new_publisher_id(node)
        self.link_drops = 0
        self.direct = transport(self.endpoints, self.keys, ordered or topic is None) == "direct"
        self._topics: dict[str, _Topic] = {}
        self._subscriptions: set[bytes] = set()
        self._thread: threading.Thread | None = None
        self._own = self._topic(topic, msg_type.__name__ if msg_type else "", self.latched) if topic else None
        self._buf = bytearray(self._own.prefix if self._own else b"")
        self._cut = len(self._buf)
        self._subs_seen = 0
        self._sent = 0
        self._closed = False
        self._lock = threading.Lock()
        sock = configure_socket(self.context.socket(zmq.XPUB), hwm, self.keys)
        if self.latched or topic is None:
            sock.set(zmq.XPUB_VERBOSE, 1)  # every subscription, so a late joiner gets latched values
        if ordered:
            sock.set(zmq.XPUB_NODROP, 1)  # block at the high-water mark instead of dropping
        sock.connect(self.endpoints.pub)
        self._sock = sock
        self._links = DirectLinks(topic or "", self.context, hwm) if self.direct else None
        self._look_at = 0.0
        self._relay: zmq.Socket | None = None
        if self.latched and not ordered:
            self._start_latch_thread()
        registry.add(self)

    def _topic(self, name: str, type_name: str, latched: bool | None = None) -> _Topic:
        t = self._topics.get(name)
        if t is None:
            t = self._topics[name] = _Topic(name, name.encode() + SEP, default_latched(name) if latched is None else latched)
        elif latched is not None:
            t.latched = latched
        if t.type_name != type_name or not t.registration:
            t.type_name = type_name
            t.registration = encode_raw_frame(t.prefix, REGISTRATION_TYPE, registration_payload(type_name, t.latched), 0,
                                              self.publisher_id, 0)
            if self._thread is None and any(t.prefix.startswith(p) for p in self._subscriptions):
                self._sock.send(t.registration)  # a raw publisher's new topic: its subscribers are known already
        return t

    def declare(self, topic: str, type_name: str, latched: bool) -> None:
        """Declare the type and durability of ``topic`` on a raw publisher (``bag play`` does,
        from the log), before publishing on it; they travel with its registration.

        >>> raw = Publisher(None, endpoints="inproc://doc-declare", ordered=True)
        >>> raw.declare("/mine", "Clock", latched=True); raw.registrations()
        {'/mine': Registration(type_name='Clock', latched=True)}
        >>> raw.close()
        """
        if self.topic is not None and topic != self.topic:
            raise CodecError(type_name, f"publisher of {self.topic} cannot declare {topic}")
        self._topic(topic, type_name, latched)

    def registrations(self) -> dict[str, Registration]:
        """What this publisher declared per topic (what its registrations carry)."""
        return {name: Registration(t.type_name, t.latched) for name, t in self._topics.items()}

    @property
    def seq(self) -> int:
        """The next sequence number on this publisher's own topic (messages sent so far)."""
        return self._own.seq if self._own is not None else sum(t.seq for t in self._topics.values())

    @property
    def seqs(self) -> dict[str, int]:
        """Messages sent so far, per topic."""
        return {name: t.seq for name, t in self._topics.items()}

    @property
    def rate(self) -> RateMeter:
        """The own topic's rate meter."""
        assert self._own is not None
        return self._own.rate

    # -- publishing -------------------------------------------------------------------

    def publish(self, msg: Message, stamp_ns: int | None = None) -> int:
        """Send one message; returns its sequence number.

        The envelope stamp is ``stamp_ns`` if given, else the message's own ``stamp_ns``, else
        the wall clock.
        """
        own = self._own
        if own is None:
            raise CodecError(type(msg).__name__, "a publisher of any topic publishes raw payloads only")
        if self.msg_type is not None and not isinstance(msg, self.msg_type):
            raise CodecError(type(msg).__name__, f"publisher of {self.topic} takes {self.msg_type.__name__}")
        stamp = stamp_ns if stamp_ns is not None else (msg.stamp_ns or time.time_ns())
        self._buf[self._cut :] = b""
        seq = own.seq
        self._send(own, encode_frame_into(self._buf, msg, seq, self.publisher_id, stamp))
        own.seq = seq + 1
        own.rate.tick()
        return seq

    def publish_raw(self, type_name: str, payload: bytes, stamp_ns: int, topic: str | None = None) -> int:
        """Send one already-encoded payload of ``type_name`` (on ``topic``, default the own); its seq."""
        name = topic or self.topic
        if not name or (self.topic and name != self.topic):
            raise CodecError(type_name, f"publisher of {self.topic or 'any topic'} cannot publish on {name}")
        t = self._topics.get(name)
        if t is None or t.type_name != type_name:
            t = self._topic(name, type_name)
        seq = t.seq
        self._send(t, encode_raw_frame(t.prefix, type_name, payload, seq, self.publisher_id, stamp_ns))
        t.seq = seq + 1
        t.rate.tick()
        return seq

    def _send(self, t: _Topic, frame: bytes | bytearray) -> None:
        if self._relay is not None:
            with self._lock:
                self._relay.send(bytes(frame))
            return
        links = self._links
        if t.latched:
            if links is None and int(self._sock.get(zmq.EVENTS)) & zmq.POLLIN:
                self.drain(0)  # a new subscriber gets the registration before the frame
            t.last_frame = bytes(frame)
        self._sent += 1
        if links is None:
            self._sock.send(frame, copy=type(frame) is not bytes or len(frame) < 65536)  # bytes: immutable, may go zero-copy
            if self._sent % _DRAIN_EVERY == 0:
                self.drain(0)
            return
        now = time.monotonic()
        if now >= self._look_at:  # reading the socket's events costs ~1.5 us: not on every frame
            self._look_at = now + _LOOK_EVERY_S
            if self._sock.get(zmq.EVENTS) & zmq.POLLIN:
                self.drain(0)  # an inbox came or went: follow it before sending
        self.link_drops += links.send(frame)

    # -- subscriptions and readiness ----------------------------------------------------

    def _on_subscription(self, sub: bytes) -> None:
        self._subs_seen += 1
        if self._links is not None:
            linked = self._links.update(sub)
            if linked is not None:
                self._subscriptions.add(b"")  # a subscriber of this publisher's topic
                for t in self._topics.values():  # the registration first: a link keeps the order
                    self._links.send_to(linked, t.registration)
                    if t.latched and t.last_frame is not None:
                        self._links.send_to(linked, t.last_frame)
            return
        if sub[:1] != b"\x01":
            return
        prefix = sub[1:]
        self._subscriptions.add(prefix)
        for t in self._topics.values():
            if t.prefix.startswith(prefix):
                self._sock.send(t.registration)
                if t.latched and t.last_frame is not None:
                    self._sock.send(t.last_frame)

    def drain(self, timeout_ms: int = 0) -> None:
        """Take in subscriptions (waiting up to ``timeout_ms`` for the first); re-send latched values."""
        if self._thread is not None:
            time.sleep(timeout_ms / 1000)  # the latch thread reads them
            return
        while self._sock.poll(timeout_ms):
            self._on_subscription(self._sock.recv())
            timeout_ms = 0

    def has_subscriber(self, topic: str | None = None) -> bool:
        """True once a subscription covering ``topic`` (default: the own topic) has been seen."""
        if self._links is not None:
            return b"" in self._subscriptions
        full = (topic or self.topic or "").encode() + SEP
        return any(full.startswith(p) for p in self._subscriptions)

    def _wait(self, ready: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self._subs_seen if ready else self.has_subscriber()):
            left = deadline - time.monotonic()
            if left <= 0:
                what = "no broker answered" if ready else f"no subscriber to {self.topic}"
                raise BusTimeoutError(self.endpoints.pub, f"{what} within {timeout:.1f} s")
            self.drain(int(min(left, 0.005 if self._thread else 0.05) * 1000) + 1)

    def wait_ready(self, timeout: float = 5.0) -> Publisher:
        """Block until the broker has seen this publisher (the slow-joiner guard)."""
        self._wait(True, timeout)
        return self

    def wait_for_subscriber(self, timeout: float = 5.0) -> Publisher:
        """Block until at least one subscriber of this topic is known to this publisher."""
        self._wait(False, timeout)
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

    # -- the latch thread ---------------------------------------------------------------

    def _start_latch_thread(self) -> None:
        name = f"inproc://latch-{self.publisher_id}"
        inner = self.context.socket(zmq.PAIR)
        inner.bind(name)
        self._relay = self.context.socket(zmq.PAIR)
        self._relay.connect(name)
        self._thread = threading.Thread(target=self._latch_loop, args=(inner,), name=f"latch{self.topic}", daemon=True)
        self._thread.start()

    def _latch_loop(self, inner: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(inner, zmq.POLLIN)
        poller.register(self._sock, zmq.POLLIN)
        own = self._own
        assert own is not None
        try:
            while True:
                events = dict(poller.poll())
                if self._sock in events:
                    self._on_subscription(self._sock.recv())
                if inner in events:
                    frame = inner.recv()
                    if not frame:
                        break
                    own.last_frame = frame
                    if self._links is not None:
                        self.link_drops += self._links.send(frame)
                        continue
                    while self._sock.poll(0):  # a new subscriber gets the registration before the frame
                        self._on_subscription(self._sock.recv())
                    self._sock.send(frame)
        except zmq.ContextTerminated:
            pass
        finally:
            inner.close(linger=0)
            self._close_sockets()

    def _close_sockets(self) -> None:
        self._sock.close(linger=self.linger_ms)
        if self._links is not None:
            self._links.close()

    def topic_stats(self) -> list[TopicStats]:
        """This publisher's counters per topic as :class:`TopicStats` (what ``/bus/stats`` carries)."""
        path = "direct" if self._links is not None else "broker"
        return [TopicStats(topic=t.name, role="pub", type_name=t.type_name, messages=t.seq, rate_hz=t.rate.hz(),
                           link_drops=self.link_drops, path=path, latched=t.latched) for t in list(self._topics.values())]

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket (and the latch thread); queued frames get ``linger_ms``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        registry.remove(self)
        if self._relay is not None and self._thread is not None:
            with self._lock:
                self._relay.send(b"")
            self._thread.join(timeout=2.0)
            self._relay.close(linger=0)
        else:
            self._close_sockets()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
