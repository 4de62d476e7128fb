"""Replay an MCAP log onto the bus, as ``causalstream bag play`` does.

Payloads go back on the bus as they were recorded (never decoded), in log-time order,
with the original envelope stamps and each topic's own sequence numbers from 0. Timing
follows the log times scaled by ``rate``; ``rate=0`` publishes as fast as the bus takes
it: the player first waits for subscribers, and its sockets block at their high-water mark
instead of dropping (ZeroMQ's ``XPUB_NODROP``), so nothing is lost on its side.

Starting at an offset first re-emits the last message before the offset of every
latched topic (``/causal/graph``, ...), so a pipeline sees the state it would have had.
With ``clock=True`` a :class:`Clock` on ``/clock`` carries the log time (sim time), at
most ``clock_hz`` times a second of log time.

>>> import os, tempfile
>>> from causalstream.stream.broker import Broker
>>> from causalstream.stream.logfile import LogWriter
>>> from causalstream.stream.messages import Clock
>>> from causalstream.stream.subscriber import Subscriber
>>> path = os.path.join(tempfile.mkdtemp(), "play.mcap")
>>> with LogWriter(path) as w:
...     for i in range(3):
...         w.write("/tick", Clock(stamp_ns=(i + 1) * 1000))
>>> with Broker(Endpoints.parse("inproc://doc-play")) as b:
...     sub = Subscriber("/tick", endpoints=b.endpoints).wait_ready(2.0)
...     with Player(path, endpoints=b.endpoints, rate=0) as player:
...         stats = player.run()
...     [sub.recv(1.0).message.stamp_ns for _ in range(3)], stats.messages
...     sub.close()
([1000, 2000, 3000], 3)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import msgspec
import zmq
from mcap.records import Channel, Schema
from mcap.records import Message as McapMessage

from causalstream.stream.endpoints import Endpoints
from causalstream.stream.errors import BusTimeoutError, LogError
from causalstream.stream.logreader import check_log, iter_raw
from causalstream.stream.messages import MESSAGE_TYPES, Clock
from causalstream.stream.publisher import Publisher
from causalstream.stream.stats import registry
from causalstream.stream.topics import is_latched

__all__ = ["PayloadPublisher", "PlayStats", "Player"]

log = logging.getLogger(__name__)

_ENVELOPE = msgspec.msgpack.Encoder()
CLOCK_TOPIC = "/clock"


class PayloadPublisher(Publisher):
    """A :class:`Publisher` for payloads already encoded (read from a log), any type.

    >>> pub = PayloadPublisher("/x", endpoints="inproc://doc-payload-none")
    >>> pub.publish_payload("Clock", b"\\x81\\xa8stamp_ns\\x01", stamp_ns=1), pub.seq
    (0, 1)
    >>> pub.close()
    """

    def __init__(self, topic: str, endpoints: Endpoints | str | None = None, latched: bool | None = None,
                 hwm: int = 100_000, node: str = "", context: zmq.Context | None = None,
                 linger_ms: int = 10_000) -> None:
        super().__init__(topic, None, endpoints=endpoints, latched=latched, hwm=hwm, node=node, context=context)
        self.linger_ms = linger_ms
        if not self.latched:  # block at the high-water mark instead of dropping
            self._sock.set(zmq.XPUB_NODROP, 1)

    def publish_payload(self, type_name: str, payload: bytes, stamp_ns: int) -> int:
        """Send one encoded payload of ``type_name``; returns its sequence number."""
        seq = self.seq
        env = _ENVELOPE.encode((stamp_ns, seq, self.publisher_id, type_name, msgspec.Raw(payload)))
        self._send(self._prefix + env)
        self.seq = seq + 1
        self.rate.tick()
        return seq

    def close(self) -> None:
        """Close; frames still queued get ``linger_ms`` to leave (the plain Publisher drops them)."""
        if self.latched or self._closed:
            super().close()
            return
        self._closed = True
        registry.remove(self)
        self._sock.close(linger=self.linger_ms)


@dataclass
class PlayStats:
    """What a :meth:`Player.run` published.

    >>> PlayStats().messages
    0
    """

    messages: int = 0
    loops: int = 0
    seconds: float = 0.0
    per_topic: dict[str, int] = field(default_factory=dict)


class Player:
    """Publish the messages of ``path`` on the bus; see the module docstring for the options.

    ``topics`` limits the replay to those topics; ``wait_subscribers`` is how long to wait
    for subscribers before the first message (default: 5 s at ``rate=0``, else 0.5 s).

    >>> Player("no/such.mcap")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: no/such.mcap: cannot read: No such file or directory
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        endpoints: Endpoints | str | None = None,
        rate: float = 1.0,
        loop: bool = False,
        start_offset: float = 0.0,
        topics: list[str] | None = None,
        clock: bool = False,
        clock_hz: float = 100.0,
        wait_subscribers: float | None = None,
        node: str = "bag_play",
        context: zmq.Context | None = None,
    ) -> None:
        if rate < 0:
            raise LogError(str(path), f"rate must be >= 0, got {rate}")
        self.path = str(path)
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.rate = rate
        self.loop = loop
        self.start_offset = start_offset
        self.topics = list(topics or [])
        self.clock = clock
        self.clock_hz = clock_hz
        self.wait_subscribers = (5.0 if rate == 0 else 0.5) if wait_subscribers is None else wait_subscribers
        self.node = node
        # A context of its own is terminated on close, which waits until queued frames have left;
        # inproc endpoints only work within the shared one.
        self._own_context = context is None and not self.endpoints.pub.startswith("inproc://")
        self.context = context or (zmq.Context() if self._own_context else zmq.Context.instance())
        summary = check_log(self.path)
        stats = summary.statistics
        self.start_ns = stats.message_start_time if stats else 0
        self.end_ns = stats.message_end_time if stats else 0
        self.channels: dict[int, tuple[str, str]] = self._pick_channels(summary.channels, summary.schemas)
        self.publishers: dict[str, PayloadPublisher] = {}
        self._clock_pub: Publisher | None = None

    def _pick_channels(self, channels: dict[int, Channel], schemas: dict[int, Schema]) -> dict[int, tuple[str, str]]:
        """Channel id -> (topic, type name) of the channels to replay (known types, chosen topics)."""
        picked = {}
        for cid, ch in channels.items():
            if self.topics and ch.topic not in self.topics:
                continue
            if self.clock and ch.topic == CLOCK_TOPIC:
                continue  # the player's own clock replaces the recorded one
            schema = schemas.get(ch.schema_id)
            if schema is None or schema.name not in MESSAGE_TYPES or ch.message_encoding != "msgpack":
                log.warning("%s: not replaying %s (type %s, encoding %s)", self.path, ch.topic,
                            schema.name if schema else "none", ch.message_encoding)
                continue
            picked[cid] = (ch.topic, schema.name)
        if not picked:
            raise LogError(self.path, "no channel to replay" + (f" on topics {self.topics}" if self.topics else ""))
        return picked

    # -- setup --------------------------------------------------------------------------

    def _connect(self) -> None:
        for topic in sorted({topic for topic, _ in self.channels.values()}):
            self.publishers[topic] = PayloadPublisher(topic, endpoints=self.endpoints, node=self.node,
                                                      context=self.context)
        if self.clock:
            self._clock_pub = Publisher(CLOCK_TOPIC, Clock, endpoints=self.endpoints, node=self.node,
                                        context=self.context)
        for pub in self._all_publishers():
            pub.wait_ready(5.0)
        self._await_subscribers()

    def _all_publishers(self) -> list[Publisher]:
        return [*self.publishers.values(), *([self._clock_pub] if self._clock_pub else [])]

    def _await_subscribers(self) -> None:
        """Wait until every topic has a subscriber, or ``wait_subscribers`` s (0.3 s after the first)."""
        deadline = time.monotonic() + self.wait_subscribers
        pending = list(self.publishers.values())
        while pending and time.monotonic() < deadline:
            still = []
            for pub in pending:
                try:
                    pub.wait_for_subscriber(0.01)
                except BusTimeoutError:
                    still.append(pub)
            if len(still) < len(pending):
                deadline = min(deadline, time.monotonic() + 0.3)
            pending = still
        if pending:
            log.info("no subscriber (yet) on %s", ", ".join(p.topic for p in pending))

    # -- playing ------------------------------------------------------------------------

    def _replay_latched(self, start_ns: int) -> int:
        """Re-emit the last message before ``start_ns`` of every latched topic."""
        latched = [t for t in self.publishers if is_latched(t)]
        if not latched or start_ns <= self.start_ns:
            return 0
        last: dict[str, tuple[str, McapMessage]] = {}
        for _, channel, message in iter_raw(self.path, latched):
            if message.log_time >= start_ns:
                break
            if channel.id in self.channels:
                last[channel.topic] = (self.channels[channel.id][1], message)
        for topic, (type_name, message) in last.items():
            self.publishers[topic].publish_payload(type_name, message.data, message.publish_time)
        return len(last)

    def run(self, progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None) -> PlayStats:
        """Play (and loop) until the end or ``stop``; ``progress(log_ns_done, log_ns_total)`` now and then."""
        if not self.publishers:
            self._connect()
        stats = PlayStats()
        begin = time.monotonic()
        start_ns = self.start_ns + int(self.start_offset * 1e9)
        total = max(0, self.end_ns - start_ns)
        while True:
            stats.messages += self._replay_latched(start_ns) if stats.loops == 0 else 0
            self._play_once(start_ns, stats, progress, total, stop)
            stats.loops += 1
            if not self.loop or (stop is not None and stop.is_set()):
                break
        stats.seconds = time.monotonic() - begin
        if progress is not None:
            progress(total, total)
        return stats

    def _play_once(self, start_ns: int, stats: PlayStats, progress: Callable[[int, int], None] | None,
                   total: int, stop: threading.Event | None) -> None:
        channels, pubs, rate = self.channels, self.publishers, self.rate
        clock_period = int(1e9 / self.clock_hz) if self.clock_hz > 0 else 0
        next_clock = 0
        t0 = time.monotonic()
        for n, (_, channel, message) in enumerate(iter_raw(self.path, None, start_ns=start_ns)):
            picked = channels.get(channel.id)
            if picked is None:
                continue
            topic, type_name = picked
            if rate > 0:
                delay = t0 + (message.log_time - start_ns) / 1e9 / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if self._clock_pub is not None and message.log_time >= next_clock:
                self._clock_pub.publish(Clock(stamp_ns=message.log_time))
                next_clock = message.log_time + clock_period
            pubs[topic].publish_payload(type_name, message.data, message.publish_time)
            stats.messages += 1
            stats.per_topic[topic] = stats.per_topic.get(topic, 0) + 1
            if n % 1024 == 0:
                if stop is not None and stop.is_set():
                    return
                if progress is not None:
                    progress(message.log_time - start_ns, total)

    def close(self) -> None:
        """Close every publisher; with the player's own context, wait until queued frames have left."""
        for pub in self._all_publishers():
            pub.close()
        self.publishers.clear()
        self._clock_pub = None
        if self._own_context and not self.context.closed:
            self.context.term()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
