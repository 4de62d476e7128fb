"""Publish typed messages on a topic of the bus.

A publisher's socket is an XPUB connected to the broker's XSUB, so it sees
subscriptions: that is how it knows the bus has seen it (:meth:`Publisher.wait_ready`),
whether anyone listens (:meth:`Publisher.wait_for_subscriber`) and, for a latched topic,
when a late joiner needs the last message again. On a local bus (stream/direct.py) the same
subscriptions carry the subscribers' adverts, and frames go straight to their inboxes;
the broker socket then carries no data. A latched publisher keeps its sockets in a small
thread that answers subscriptions while the owner is busy; a plain one stays on the
caller's thread, with no extra hop, and reads subscriptions when it publishes or waits.

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
from types import TracebackType

import zmq

from causalstream.stream.codec import SEP, encode_frame_into
from causalstream.stream.bus.direct import DirectLinks, direct_mode
from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.errors import BusTimeoutError, CodecError
from causalstream.stream.messages import Message, TopicStats
from causalstream.stream.bus.counters import RateMeter, registry
from causalstream.stream.bus.topics import is_latched

__all__ = ["Publisher", "new_publisher_id"]

_DRAIN_EVERY = 256
_LOOK_EVERY_S = 0.002  # how often a direct publisher looks for adverts while it publishes


def new_publisher_id(node: str = "") -> str:
    """A bus-wide unique id: node (or pid) plus a random suffix; new for every instance.

    >>> new_publisher_id("sim").startswith("sim/")
    True
    """
    return f"{node or os.getpid()}/{uuid.uuid4().hex[:8]}"


class Publisher:
    """Publishes messages of one type on one topic; ``latched=None`` follows the topic table.

    ``seq`` counts this publisher's messages on its topic from 0; subscribers count gaps in
    it. ``publish`` never blocks for long: past ``hwm`` queued frames, ZeroMQ drops and the
    subscribers see the gap. ``direct`` says whether frames go straight to subscribers'
    inboxes (a local bus) or through the broker; on the direct path ``dropped`` counts the
    frames a full link dropped (one per subscriber), the tail of a stream included, which no
    subscriber can see as a gap.

    >>> Publisher("/x", Message, endpoints=Endpoints.parse("inproc://nowhere")).latched
    False
    """

    def __init__(
        self,
        topic: str,
        msg_type: type[Message] | None = None,
        endpoints: Endpoints | str | None = None,
        latched: bool | None = None,
        hwm: int = 10_000,
        node: str = "",
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
    ) -> None:
        self.topic = topic
        self.msg_type = msg_type
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.latched = is_latched(topic) if latched is None else latched
        self.hwm = hwm
        self.node = node
        self.context = context or zmq.Context.instance()
        self.publisher_id = new_publisher_id(node)
        self.seq = 0
        self.dropped = 0
        self.rate = RateMeter()
        self._prefix = topic.encode() + SEP
        self._buf = bytearray(self._prefix)
        self._cut = len(self._prefix)
        self._subs_seen = 0
        self._topic_subscribed = False
        self._last_frame: bytes | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.keys = keys if keys is not None else ClientKeys.from_env()
        sock = configure_socket(self.context.socket(zmq.XPUB), hwm, self.keys)
        if self.latched:
            sock.set(zmq.XPUB_VERBOSE, 1)
        sock.connect(self.endpoints.pub)
        self._sock = sock
        self.direct = direct_mode(self.endpoints, self.keys)
        self._links = DirectLinks(topic, self.context, hwm) if self.direct else None
        self._look_at = 0.0
        self._relay: zmq.Socket | None = None
        self._thread: threading.Thread | None = None
        if self.latched:
            self._start_latch_thread()
        registry.add(self)

    # -- publishing -------------------------------------------------------------------

    def publish(self, msg: Message, stamp_ns: int | None = None) -> int:
        """Send one message; returns its sequence number.

        The envelope stamp is ``stamp_ns`` if given, else the message's own ``stamp_ns``, else
        the wall clock.
        """
        if self.msg_type is not None and not isinstance(msg, self.msg_type):
            raise CodecError(type(msg).__name__, f"publisher of {self.topic} takes {self.msg_type.__name__}")
        stamp = stamp_ns if stamp_ns is not None else (msg.stamp_ns or time.time_ns())
        self._buf[self._cut :] = b""
        self._send(encode_frame_into(self._buf, msg, self.seq, self.publisher_id, stamp))
        seq = self.seq
        self.seq += 1
        self.rate.tick()
        return seq

    def _send(self, frame: bytearray) -> None:
        if self._relay is not None:
            with self._lock:
                self._relay.send(bytes(frame))
            return
        links = self._links
        if links is None:
            self._sock.send(frame)
            if self.seq % _DRAIN_EVERY == 0:
                self._drain(0)
            return
        now = time.monotonic()
        if now >= self._look_at:  # reading the socket's events costs ~1.5 us: not on every frame
            self._look_at = now + _LOOK_EVERY_S
            if self._sock.get(zmq.EVENTS) & zmq.POLLIN:
                self._drain(0)  # an inbox came or went: follow it before sending
        self.dropped += links.send(frame)

    # -- readiness --------------------------------------------------------------------

    def _on_subscription(self, sub: bytes) -> None:
        self._subs_seen += 1
        if self._links is not None:
            linked = self._links.update(sub)
            if linked is not None:
                self._topic_subscribed = True
                if self.latched and self._last_frame is not None:
                    self._links.send_to(linked, self._last_frame)
            return
        if sub[:1] == b"\x01" and self._prefix.startswith(sub[1:]):
            self._topic_subscribed = True
            if self.latched and self._last_frame is not None:
                self._sock.send(self._last_frame)

    def _drain(self, timeout_ms: int) -> None:
        while self._sock.poll(timeout_ms):
            self._on_subscription(self._sock.recv())
            timeout_ms = 0

    def _wait(self, cond: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if cond == "ready" and self._subs_seen or cond == "sub" and self._topic_subscribed:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                what = "no broker answered" if cond == "ready" else f"no subscriber to {self.topic}"
                raise BusTimeoutError(self.endpoints.pub, f"{what} within {timeout:.1f} s")
            if self._thread is not None:
                time.sleep(min(0.005, left))
            else:
                self._drain(int(min(left, 0.05) * 1000) + 1)

    def wait_ready(self, timeout: float = 5.0) -> Publisher:
        """Block until the broker has seen this publisher (the slow-joiner guard)."""
        self._wait("ready", timeout)
        return self

    def wait_for_subscriber(self, timeout: float = 5.0) -> Publisher:
        """Block until at least one subscriber of this topic is known to this publisher."""
        self._wait("sub", timeout)
        return self

    # -- latched topics ---------------------------------------------------------------

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
        try:
            while True:
                events = dict(poller.poll())
                if self._sock in events:
                    self._on_subscription(self._sock.recv())
                if inner in events:
                    frame = inner.recv()
                    if not frame:
                        break
                    self._last_frame = frame
                    if self._links is not None:
                        self.dropped += self._links.send(frame)
                    else:
                        self._sock.send(frame)
        except zmq.ContextTerminated:
            pass
        finally:
            inner.close(linger=0)
            self._close_sockets()

    def _close_sockets(self) -> None:
        self._sock.close(linger=0)
        if self._links is not None:
            self._links.close()

    def topic_stats(self) -> list[TopicStats]:
        """This publisher's counters as :class:`TopicStats` (what ``/bus/stats`` carries)."""
        name = self.msg_type.__name__ if self.msg_type is not None else ""
        return [TopicStats(topic=self.topic, role="pub", type_name=name, messages=self.seq, rate_hz=self.rate.hz(),
                           dropped=self.dropped, path="direct" if self._links is not None else "broker")]

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket (and the latch thread). Idempotent."""
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
