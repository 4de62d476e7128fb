"""Receive typed messages from the bus: a Subscriber, the ``subscribe`` iterator, callbacks.

A subscriber never dies of a bad frame: garbage, truncated frames, unknown or wrong
types and payloads that fail validation are dropped and counted, per topic where the
topic is readable. Sequence numbers are tracked per (topic, publisher): a jump counts
as a gap (a drop somewhere on the way), a repeat as a duplicate (a latched re-send),
which is dropped silently.

On a local bus the subscriber also has an inbox that publishers send to directly
(stream/bus/direct.py); its broker socket stays for the hello and for the frames that still
go through the broker (``bag play``'s ordered raw publisher; any publisher with
``CAUSALSTREAM_DIRECT=0``). Reading is event-driven: a socket is read only after a poll
found it readable, until it runs dry; two ready sockets take turns, and a poll after every
``_BATCH`` frames lets a socket that became readable meanwhile join, so neither path starves.

>>> from causalstream.stream.bus.broker import Broker
>>> from causalstream.stream.bus.endpoints import Endpoints
>>> from causalstream.stream.messages import Clock
>>> from causalstream.stream.bus.publisher import Publisher
>>> with Broker(Endpoints.parse("inproc://doc-sub")) as b:
...     sub = Subscriber("/clock", endpoints=b.endpoints).wait_ready(2.0)
...     pub = Publisher("/clock", Clock, endpoints=b.endpoints).wait_for_subscriber(2.0)
...     _ = pub.publish(Clock(stamp_ns=42))
...     sub.recv(timeout=2.0).message.stamp_ns
...     pub.close(); sub.close()
42
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

import zmq

from causalstream.stream.codec import SEP, Envelope, decode_payload, split_frame
from causalstream.stream.bus.direct import Inbox, direct_mode
from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.errors import BadFrameError, BusTimeoutError, CodecError, UnknownTypeError
from causalstream.stream.messages import MESSAGE_TYPES, Message, TopicStats
from causalstream.stream.bus.counters import Counters, TopicCounters, registry
from causalstream.stream.bus.topics import HELLO_PREFIX, REGISTRATION_TYPE, TOPICS, Registration, read_registration

__all__ = ["Received", "Subscriber", "TopicCounters", "subscribe"]

log = logging.getLogger(__name__)

_HELLO = HELLO_PREFIX.encode()
_BATCH = 64  # frames read before a poll(0) looks again for sockets that became readable


@dataclass(slots=True)
class Received:
    """One delivered message with its envelope.

    >>> from causalstream.stream.messages import Clock
    >>> Received("/clock", None, Clock()).message.stamp_ns
    0
    """

    topic: str
    envelope: Envelope
    message: Message | None  # None from a raw subscriber: ``envelope.payload`` is still encoded


class Subscriber:
    """Subscribe to one or more topics (exact names; ``""`` for every topic).

    ``types`` maps a topic to its expected message class; by default a well-known topic
    expects its type from the topic table and any other topic takes any registered type.
    A ``raw`` subscriber (the recorder's) decodes nothing: it checks the envelope and that
    the type is registered, counts, and delivers the payload still encoded; frames on
    ``exclude`` topics are dropped uncounted. ``subscriber.bad_frames`` counts every dropped
    bad frame; ``counters`` (:class:`TopicCounters`) and :meth:`topic_stats` are per topic.
    ``inbox`` is the direct-path inbox on a local bus, else None. ``registrations`` holds
    what the publishers of each topic declared (type, latched), from their registration
    frames, which are never delivered; :meth:`latched` reads it.

    >>> sub = Subscriber(["/features", "/clock"], endpoints="inproc://doc-nobroker")
    >>> sub.recv(timeout=0.01) is None, sub.bad_frames
    (True, 0)
    >>> sub.close()
    """

    def __init__(
        self,
        topics: str | list[str],
        endpoints: Endpoints | str | None = None,
        types: dict[str, type[Message]] | None = None,
        hwm: int = 10_000,
        node: str = "",
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
        raw: bool = False,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.raw = raw
        self.exclude = exclude
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.types = dict(types or {})
        self.hwm = hwm
        self.node = node
        self.context = context or zmq.Context.instance()
        self.bad_frames = 0
        self.counters: dict[str, TopicCounters] = {}
        self.registrations: dict[str, Registration] = {}
        self._hello = f"{HELLO_PREFIX}{uuid.uuid4().hex}".encode() + SEP
        self._ready = False
        self._closed = False
        self._pending: collections.deque[Received] = collections.deque()
        self.keys = keys if keys is not None else ClientKeys.from_env()
        sock = configure_socket(self.context.socket(zmq.SUB), hwm, self.keys)
        sock.connect(self.endpoints.sub)
        self.inbox = Inbox(self.context, self.endpoints, hwm) if direct_mode(self.endpoints, self.keys) else None
        for topic in self.topics:
            sock.subscribe(topic.encode() + SEP if topic else b"")
        if self.inbox is not None:
            for ad in self.inbox.adverts(self.topics):
                sock.subscribe(ad)
        self._sock = sock
        self._poller = zmq.Poller()
        self._poller.register(sock, zmq.POLLIN)
        if self.inbox is not None:
            self._poller.register(self.inbox.sock, zmq.POLLIN)
        self._readable: list[zmq.Socket] = []  # the sockets the last poll found readable, not yet dry
        self._batch = 0
        registry.add(self)

    # -- receiving --------------------------------------------------------------------

    def _expected(self, topic: str) -> str | None:
        if topic in self.types:
            return self.types[topic].__name__
        info = TOPICS.get(topic)
        return info.type_name if info else None

    def _counter(self, topic: str) -> TopicCounters:
        c = self.counters.get(topic)
        if c is None:
            c = self.counters[topic] = TopicCounters(type_name=self._expected(topic) or "")
        return c

    def _bad(self, topic: str, reason: str) -> None:
        self.bad_frames += 1
        if topic and (topic in self.counters or topic in self.topics or "" in self.topics):
            self._counter(topic).bad += 1
        if self.bad_frames in (1, 10, 100, 1000) or self.bad_frames % 10_000 == 0:
            log.warning("dropped bad frame #%d on %s: %s", self.bad_frames, topic or "?", reason)

    def accept_frame(self, frame: bytes) -> Received | None:
        """One frame off a socket: the message, or None if it was dropped (bad, duplicate, excluded, hello)."""
        if frame.startswith(_HELLO):
            if frame.startswith(self._hello):
                self._ready = True
            return None
        try:
            topic, env = split_frame(frame)
        except BadFrameError as exc:
            self._bad(exc.topic, exc.reason)
            return None
        if topic in self.exclude:
            return None
        if env.type == REGISTRATION_TYPE:
            reg = read_registration(env.payload)
            if reg is None:
                self._bad(topic, "bad registration")
            else:
                self.registrations[topic] = reg
            return None
        c = self._counter(topic)
        if self.raw:
            msg = None
            if env.type not in MESSAGE_TYPES:
                self._bad(topic, f"unknown message type {env.type!r}")
                return None
        else:
            want = self._expected(topic)
            if want is not None and env.type != want:
                self._bad(topic, f"type {env.type} where {want} was expected")
                return None
            try:
                msg = decode_payload(env.type, env.payload)
            except (CodecError, UnknownTypeError) as exc:
                self._bad(topic, str(exc))
                return None
        if not c.accept(env.publisher, env.seq):
            return None
        c.type_name = env.type
        return Received(topic, env, msg)

    def _poll(self, timeout_ms: int | None) -> bool:
        """Wait up to ``timeout_ms`` (None: for ever) for a readable socket; True if one is."""
        self._readable = [sock for sock, _ in self._poller.poll(timeout_ms)]
        self._batch = 0
        return bool(self._readable)

    def _next_frame(self) -> bytes | None:
        """A waiting frame from a socket the last poll found readable (they take turns), or None
        when they are dry; a failed read drops a socket from the turn until the next poll."""
        if self._batch >= _BATCH:
            self._poll(0)
        while ready := self._readable:
            sock = ready[0]
            if len(ready) > 1:
                ready.append(ready.pop(0))
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                ready.remove(sock)
                continue
            self._batch += 1
            return frame
        return None

    def recv(self, timeout: float | None = None) -> Received | None:
        """The next good message, or None when ``timeout`` seconds pass without one."""
        if self._pending:
            return self._pending.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frame = self._next_frame()
            if frame is None:
                if deadline is None:
                    self._poll(None)
                    continue
                left = deadline - time.monotonic()
                if not self._poll(int(left * 1000) + 1 if left > 0 else 0):
                    return None
                continue
            got = self.accept_frame(frame)
            if got is not None:
                return got

    def take(self, timeout: float = 0.0, limit: int = 10_000) -> list[Received]:
        """Every message waiting (at most ``limit``), after up to ``timeout`` s for the first."""
        out: list[Received] = []
        while self._pending and len(out) < limit:
            out.append(self._pending.popleft())
        waited = bool(out)
        while len(out) < limit:
            frame = self._next_frame()
            if frame is None:
                if waited or not self._poll(int(timeout * 1000)):
                    break
                waited = True
                continue
            got = self.accept_frame(frame)
            if got is not None:
                out.append(got)
        return out

    def latched(self, topic: str) -> bool:
        """True if the publisher of ``topic`` registered it as latched (False if no registration came).

        >>> sub = Subscriber("/x", endpoints="inproc://doc-latched")
        >>> sub.latched("/x")
        False
        >>> sub.close()
        """
        reg = self.registrations.get(topic)
        return reg is not None and reg.latched

    def totals(self) -> Counters:
        """The counters of every topic summed (``bad`` includes frames of no readable topic).

        >>> sub = Subscriber("/x", endpoints="inproc://doc-totals")
        >>> sub.totals().gaps, sub.totals().bad
        (0, 0)
        >>> sub.close()
        """
        total = Counters.total(list(self.counters.values()))
        total.bad = self.bad_frames
        return total

    def __iter__(self) -> Iterator[Message]:
        """Iterate over messages (forever, until closed)."""
        while not self._closed:
            got = self.recv(timeout=0.2)
            if got is not None:
                yield got.message  # type: ignore[misc]

    def spin(self, callback: Callable[[Received], object], timeout: float | None = None) -> int:
        """Call ``callback`` for each message until ``timeout`` passes quietly or closed; returns the count."""
        n = 0
        while not self._closed:
            got = self.recv(timeout=timeout)
            if got is None:
                break
            callback(got)
            n += 1
        return n

    def wait_ready(self, timeout: float = 5.0) -> Subscriber:
        """Block until the broker has seen this subscriber's subscriptions."""
        sock = self._sock
        sock.subscribe(self._hello)
        deadline = time.monotonic() + timeout
        try:
            while not self._ready:
                frame = self._next_frame()
                if frame is None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._poll(int(left * 1000) + 1):
                        raise BusTimeoutError(self.endpoints.sub, f"no broker answered within {timeout:.1f} s")
                    continue
                got = self.accept_frame(frame)
                if got is not None:
                    self._pending.append(got)
        finally:
            sock.unsubscribe(self._hello)
        return self

    # -- counters ---------------------------------------------------------------------

    def topic_stats(self) -> list[TopicStats]:
        """Counters per topic as :class:`TopicStats` (what ``/bus/stats`` carries)."""
        return [
            TopicStats(topic=t, role="sub", type_name=c.type_name, messages=c.messages, gaps=c.gaps,
                       bad=c.bad, duplicates=c.duplicates, rate_hz=c.rate.hz(), latched=self.latched(t))
            for t, c in list(self.counters.items())
        ]

    def close(self) -> None:
        """Close the socket. Idempotent."""
        if not self._closed:
            self._closed = True
            registry.remove(self)
            self._sock.close(linger=0)
            if self.inbox is not None:
                self.inbox.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def subscribe(
    topic: str,
    callback: Callable[[Message], object] | None = None,
    endpoints: Endpoints | str | None = None,
    msg_type: type[Message] | None = None,
    timeout: float | None = None,
) -> Iterator[Message] | threading.Thread:
    """Messages of one topic: an iterator, or with ``callback`` a daemon thread calling it.

    The iterator ends after ``timeout`` seconds without a message (never, if None).

    >>> from causalstream.stream.bus.broker import Broker
    >>> from causalstream.stream.messages import Clock
    >>> from causalstream.stream.bus.publisher import Publisher
    >>> with Broker(Endpoints.parse("inproc://doc-subscribe")) as b:
    ...     pub = Publisher("/clock", Clock, endpoints=b.endpoints).wait_ready(2.0)
    ...     seen = []
    ...     thread = subscribe("/clock", seen.append, endpoints=b.endpoints, timeout=0.5)
    ...     _ = pub.wait_for_subscriber(2.0).publish(Clock(stamp_ns=9))
    ...     thread.join()
    ...     [m.stamp_ns for m in seen]
    [9]
    """
    types = {topic: msg_type} if msg_type is not None else None
    sub = Subscriber(topic, endpoints=endpoints, types=types)

    def messages() -> Iterator[Message]:
        with sub:
            while True:
                got = sub.recv(timeout=timeout)
                if got is None:
                    return
                yield got.message

    if callback is None:
        return messages()

    def run() -> None:
        for msg in messages():
            callback(msg)

    thread = threading.Thread(target=run, name=f"subscribe{topic}", daemon=True)
    thread.start()
    return thread
