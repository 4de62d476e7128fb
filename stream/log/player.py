"""Replay an MCAP log onto the bus, as ``causalstream bag play`` does.

Payloads go back on the bus as they were recorded (never decoded; a viewer file's JSON
channels, ``bag export --format foxglove``, are decoded and sent as msgpack), in log-time order,
through one ordered raw :class:`Publisher` (every topic, one broker connection), so subscribers see the log's order across
topics, run after run; envelope stamps are the original ones, sequence numbers count from 0
per topic. Timing follows the log times scaled by ``rate``; ``rate=0`` publishes as fast
as the bus takes it: the player first waits for subscribers, and its socket blocks at its
high-water mark instead of dropping (ZeroMQ's ``XPUB_NODROP``), so nothing is lost on its
side.

A topic is latched on replay when its channel's metadata says so (``latched: "true"``, which
the recorder writes from the topic's registration): the player declares it latched, so a
late joiner gets its last value, and starting at an offset first re-emits the last message
before the offset of every latched topic, so a pipeline sees the state it would have had.
With ``clock=True`` a :class:`Clock` on ``/clock`` carries the log time (sim time), at
most ``clock_hz`` times a second of log time.

>>> import os, tempfile
>>> from causalstream.stream.bus.broker import Broker
>>> from causalstream.stream.log.writer import LogWriter
>>> from causalstream.stream.messages import Clock
>>> from causalstream.stream.bus.subscriber import Subscriber
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
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import zmq
from mcap.records import Channel, Schema

from causalstream.stream.bus.endpoints import Endpoints
from causalstream.stream.log.chunks import RawRecord
from causalstream.stream.codec import encode_payload
from causalstream.stream.errors import LogError
from causalstream.stream.bus.publisher import Publisher
from causalstream.stream.log.reader import check_log, decode_record, is_view_channel, iter_raw, message_type_name
from causalstream.stream.log.writer import JSON_ENCODING, MSGPACK_ENCODING
from causalstream.stream.messages import MESSAGE_TYPES, Clock
from causalstream.stream.bus.security import ClientKeys

__all__ = ["CLOCK_TOPIC", "PlayStats", "Player", "RawSink"]

log = logging.getLogger(__name__)

CLOCK_TOPIC = "/clock"


@dataclass
class PlayStats:
    """What a :meth:`Player.run` published.

    >>> PlayStats().messages
    0
    """

    messages: int = 0
    loops: int = 0
    seconds: float = 0.0


class RawSink(Protocol):
    """What the player publishes through: a bus :class:`Publisher` with ``topic=None`` is one,
    and so is a node transport's raw publisher (``NodeIO.open_raw_publisher``, in memory too).

    >>> import inspect
    >>> wanted = {"declare", "wait_ready", "wait_for_subscribers", "drain", "publish_raw", "close"}
    >>> {name for name, _ in inspect.getmembers(Publisher, inspect.isfunction)} >= wanted
    True
    """

    def declare(self, topic: str, type_name: str, latched: bool) -> None: ...

    def wait_ready(self, timeout: float = 5.0) -> object: ...

    def wait_for_subscribers(self, topics: list[str], timeout: float, settle: float = 0.3) -> list[str]: ...

    def drain(self, timeout_ms: int = 0) -> None: ...

    def publish_raw(self, type_name: str, payload: bytes, stamp_ns: int, topic: str | None = None) -> int: ...

    def close(self) -> None: ...


class Player:
    """Publish the messages of ``path`` on the bus; see the module docstring for the options.

    ``topics`` limits the replay to those topics; ``wait_subscribers`` is how long to wait
    for subscribers before the first message (default: 5 s at ``rate=0``, else 0.5 s);
    ``publisher`` is a :class:`RawSink` to publish through (a node's; it is closed by its owner,
    not by :meth:`close`), else the player opens its own on ``endpoints``;
    ``delay`` then waits that many seconds more (as ``ros2 bag play --delay``): pub/sub
    cannot tell how many subscribers are still starting, so a launch file that needs them
    all (a recorder, say) gives them time.

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
        delay: float = 0.0,
        duration: float | None = None,
        node: str = "bag_play",
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
        publisher: RawSink | None = None,
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
        self.delay = delay
        if duration is not None and duration <= 0:
            raise LogError(str(path), f"playback duration must be > 0 s, got {duration}")
        self.duration_ns = None if duration is None else int(duration * 1e9)  # of log time, from the start
        self.node = node
        self.keys = keys
        # A context of its own is terminated on close, which waits until queued frames have left;
        # inproc endpoints only work within the shared one.
        self._own_context = publisher is None and context is None and not self.endpoints.pub.startswith("inproc://")
        self.context = context or (zmq.Context() if self._own_context else zmq.Context.instance())
        self._given = publisher
        summary = self._summary = check_log(self.path)
        stats = summary.statistics
        self.start_ns = stats.message_start_time if stats else 0
        self.end_ns = stats.message_end_time if stats else 0
        self.channels: dict[int, tuple[str, str]] = self._pick_channels(summary.channels, summary.schemas)
        self.replayed_topics = sorted({topic for topic, _ in self.channels.values()})
        self.latched_topics = sorted({summary.channels[cid].topic for cid in self.channels
                                      if summary.channels[cid].metadata.get("latched") == "true"})
        self.publisher: RawSink | None = None
        self.stats = PlayStats()  # of the current (or last) run, updated as it goes

    def _pick_channels(self, channels: dict[int, Channel], schemas: dict[int, Schema]) -> dict[int, tuple[str, str]]:
        """Channel id -> (topic, type name) of the channels to replay (known types, chosen topics)."""
        picked = {}
        self._json: dict[int, Schema | None] = {}  # JSON channels: decoded and re-encoded as msgpack
        self.undecodable = 0  # JSON messages that did not decode: not replayed
        for cid, ch in channels.items():
            if self.topics and ch.topic not in self.topics:
                continue
            if self.clock and ch.topic == CLOCK_TOPIC:
                continue  # the player's own clock replaces the recorded one
            schema = schemas.get(ch.schema_id)
            type_name = message_type_name(schema)
            if is_view_channel(ch):
                continue  # a viewer file's picture (scene, graph image): nothing for the bus
            if type_name not in MESSAGE_TYPES or ch.message_encoding not in (MSGPACK_ENCODING, JSON_ENCODING):
                log.warning("%s: not replaying %s (type %s, encoding %s)", self.path, ch.topic,
                            schema.name if schema else "none", ch.message_encoding)
                continue
            if ch.message_encoding == JSON_ENCODING:
                self._json[cid] = schema
            picked[cid] = (ch.topic, type_name)
        if not picked:
            raise LogError(self.path, "no channel to replay" + (f" on topics {self.topics}" if self.topics else ""))
        return picked

    # -- setup --------------------------------------------------------------------------

    def _connect(self) -> RawSink:
        # kept before waiting: close() must close it, or terminating the context would hang
        pub = self.publisher = self._given or Publisher(None, endpoints=self.endpoints, node=self.node,
                                                        context=self.context, keys=self.keys, ordered=True,
                                                        hwm=100_000, linger_ms=10_000)
        for topic, type_name in self.channels.values():
            pub.declare(topic, type_name, topic in self.latched_topics)
        pub.wait_ready(5.0)
        missing = pub.wait_for_subscribers(self.replayed_topics, self.wait_subscribers)
        if missing:
            log.info("no subscriber (yet) on %s", ", ".join(missing))
        end = time.monotonic() + self.delay
        while (left := end - time.monotonic()) > 0:
            pub.drain(int(min(left, 0.1) * 1000) + 1)
        return pub

    # -- playing ------------------------------------------------------------------------

    def _replay_latched(self, pub: RawSink, start_ns: int) -> int:
        """Re-emit the last message before ``start_ns`` of every latched topic."""
        latched = self.latched_topics
        if not latched or start_ns <= self.start_ns:
            return 0
        last: dict[str, tuple[str, RawRecord]] = {}
        for record in iter_raw(self.path, latched, summary=self._summary):
            if record.log_time >= start_ns:
                break
            if record.channel.id in self.channels:
                last[record.channel.topic] = (self.channels[record.channel.id][1], record)
        sent = 0
        for topic, (type_name, record) in last.items():
            payload = self._payload(record.channel, record.data)
            if payload is not None:
                pub.publish_raw(type_name, payload, record.publish_time, topic)
                sent += 1
        return sent

    def run(self, progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None) -> PlayStats:
        """Play (and loop) until the end or ``stop``; ``progress(log_ns_done, log_ns_total)`` now and then."""
        pub = self.publisher or self._connect()
        stats = self.stats = PlayStats()
        begin = time.monotonic()
        start_ns = self.start_ns + int(self.start_offset * 1e9)
        total = max(0, self.end_ns - start_ns)
        while True:
            stats.messages += self._replay_latched(pub, start_ns) if stats.loops == 0 else 0
            self._play_once(pub, start_ns, stats, progress, total, stop)
            stats.loops += 1
            if not self.loop or (stop is not None and stop.is_set()):
                break
        stats.seconds = time.monotonic() - begin
        if progress is not None:
            progress(total, total)
        return stats

    def _play_once(self, pub: RawSink, start_ns: int, stats: PlayStats,
                   progress: Callable[[int, int], None] | None, total: int, stop: threading.Event | None) -> None:
        channels, rate, publish, json_channels = self.channels, self.rate, pub.publish_raw, self._json
        clock_period = int(1e9 / self.clock_hz) if self.clock_hz > 0 else 0
        next_clock = 0
        t0 = time.monotonic()
        next_report = t0
        records = iter_raw(self.path, self.topics or None, start_ns=start_ns, summary=self._summary)
        for n, (channel, log_time, publish_time, _, data) in enumerate(records):
            picked = channels.get(channel.id)
            if picked is None:
                continue
            topic, type_name = picked
            if self.duration_ns is not None and log_time - start_ns > self.duration_ns:
                return  # --playback-duration: this much log time, then stop
            report = n % 1024 == 0
            if rate > 0:
                due = t0 + (log_time - start_ns) / 1e9 / rate
                while (now := time.monotonic()) < due:  # in slices, so a stop is seen within 0.2 s
                    if stop is not None and stop.is_set():
                        return
                    pub.drain(0)  # late joiners of latched topics get the last value while we wait
                    time.sleep(min(due - now, 0.2))
                if now >= next_report:  # slow logs: report on time, not only every 1024 messages
                    report, next_report = True, now + 0.2
            if self.clock and log_time >= next_clock:
                publish("Clock", encode_payload(Clock(stamp_ns=log_time)), log_time, CLOCK_TOPIC)
                next_clock = log_time + clock_period
            payload = self._payload(channel, data) if channel.id in json_channels else data
            if payload is None:
                continue
            publish(type_name, payload, publish_time, topic)
            stats.messages += 1
            if report:
                if stop is not None and stop.is_set():
                    return
                if progress is not None:
                    progress(log_time - start_ns, total)

    def _payload(self, channel: Channel, data: bytes) -> bytes | None:
        """The bus payload of a record: msgpack as stored, JSON decoded and encoded again (None: it does not decode)."""
        if channel.id not in self._json:
            return data
        try:
            return encode_payload(decode_record(self._json[channel.id], channel, data))
        except LogError as exc:
            self.undecodable += 1
            if self.undecodable == 1:
                log.warning("%s: not replaying a message on %s: %s", self.path, channel.topic, exc.reason)
            return None

    def close(self) -> None:
        """Close the socket; with the player's own context, wait until queued frames have left."""
        if self.publisher is not None:
            if self.publisher is not self._given:
                self.publisher.close()
            self.publisher = None
        if self._own_context and not self.context.closed:
            self.context.term()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
