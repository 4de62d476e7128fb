"""Record topics of the bus into an MCAP log, as ``causalstream bag record`` does.

The recorder never decodes a payload: a frame's envelope is split off (topic, type,
stamp, sequence) and the payload bytes go into the log as they travelled. Latched
re-sends (a repeated sequence number from the same publisher) are dropped, as a
subscriber drops them. The file is flushed (chunk closed, fsync) every ``flush_interval``
seconds, even when no message arrives, so a killed recorder loses at most that much.

>>> import os, tempfile
>>> from causalstream.stream.bus.broker import Broker
>>> from causalstream.stream.log.reader import read_log
>>> from causalstream.stream.messages import Clock
>>> from causalstream.stream.bus.publisher import Publisher
>>> path = os.path.join(tempfile.mkdtemp(), "rec.mcap")
>>> with Broker(Endpoints.parse("inproc://doc-rec")) as b:
...     with Recorder(path, ["/clock"], endpoints=b.endpoints).wait_ready(2.0) as rec:
...         pub = Publisher("/clock", Clock, endpoints=b.endpoints).wait_for_subscriber(2.0)
...         for i in range(3):
...             _ = pub.publish(Clock(stamp_ns=i + 1))
...         _ = rec.run(duration=0.3)
...         pub.close()
>>> [e.message.stamp_ns for e in read_log(path)]
[1, 2, 3]
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from types import TracebackType

import zmq

from causalstream.stream.codec import SEP, split_frame
from causalstream.stream.bus.direct import Inbox, direct_mode
from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.errors import BadFrameError, BusTimeoutError, UnknownTypeError
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import TopicStats
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.bus.counters import registry
from causalstream.stream.bus.topics import HELLO_PREFIX, STATS_TOPIC

__all__ = ["EXCLUDED_WHEN_ALL", "Recorder"]

log = logging.getLogger(__name__)

# Recording "all topics" leaves out the bus's own chatter: each process's counters.
EXCLUDED_WHEN_ALL = frozenset({STATS_TOPIC})
_HELLO = HELLO_PREFIX.encode()


class Recorder:
    """Subscribe to ``topics`` (None or empty: every topic) and write them to ``path``.

    ``record_frame`` is the writer path (one frame in, one MCAP message out); ``spin_once``
    takes what the socket holds; ``run`` loops until ``duration`` or ``stop``. Counters:
    ``count`` written, ``bad_frames``, ``gaps`` (sequence numbers never seen: lost on the
    way), ``duplicates`` (latched re-sends dropped); per topic in :meth:`topic_stats`, which
    ``/bus/stats`` and ``causalstream topic info`` show.

    >>> import tempfile
    >>> rec = Recorder(os.path.join(tempfile.mkdtemp(), "r.mcap"), endpoints="inproc://doc-rec-none")
    >>> rec.record_frame(b"garbage"), rec.bad_frames
    (False, 1)
    >>> rec.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        topics: list[str] | None = None,
        endpoints: Endpoints | str | None = None,
        flush_interval: float = 0.5,
        compression: str = "zstd",
        chunk_size: int = 1 << 20,
        hwm: int = 100_000,
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
    ) -> None:
        self.path = str(path)
        self.topics = list(topics or [])
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.flush_interval = flush_interval
        self.compression = compression
        self.chunk_size = chunk_size
        self.hwm = hwm
        self.context = context or zmq.Context.instance()
        self.keys = keys if keys is not None else ClientKeys.from_env()  # CURVE, on a secured bus
        self.exclude = frozenset() if self.topics else EXCLUDED_WHEN_ALL
        self.writer = LogWriter(self.path, compression=compression, chunk_size=chunk_size, flush_interval=flush_interval)
        self._add = self.writer.mcap.add_message
        self._channels: dict[tuple[str, str], int] = {}
        self.count = 0
        self.bad_frames = 0
        self.gaps = 0
        self.duplicates = 0
        self._per_topic: dict[str, list[int]] = {}  # [messages, gaps, bad, duplicates] per topic
        self._last_seq: dict[tuple[str, str], int] = {}
        self._hello = f"{HELLO_PREFIX}{uuid.uuid4().hex}".encode() + SEP
        sock = configure_socket(self.context.socket(zmq.SUB), hwm, self.keys)
        sock.connect(self.endpoints.sub)
        for topic in self.topics or [""]:
            sock.subscribe(topic.encode() + SEP if topic else b"")
        # on a local bus publishers send straight to an inbox we advertise (stream/direct.py)
        self.inbox = Inbox(self.context, self.endpoints, hwm) if direct_mode(self.endpoints, self.keys) else None
        if self.inbox is not None:
            for ad in self.inbox.adverts(self.topics):
                sock.subscribe(ad)
        self._sock = sock
        self._socks = [sock] if self.inbox is None else [self.inbox.sock, sock]
        self._poller = zmq.Poller()
        for s in self._socks:
            self._poller.register(s, zmq.POLLIN)
        self._closed = False
        registry.add(self)

    def wait_ready(self, timeout: float = 5.0) -> Recorder:
        """Block until the broker has seen the subscriptions (frames before that are kept)."""
        self._sock.subscribe(self._hello)
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._poller.poll(int(left * 1000) + 1):
                    raise BusTimeoutError(self.endpoints.sub, f"no broker answered within {timeout:.1f} s")
                for sock in self._socks:
                    while sock.get(zmq.EVENTS) & zmq.POLLIN:
                        frame = sock.recv()
                        if frame.startswith(self._hello):
                            return self
                        self.record_frame(frame)
        finally:
            self._sock.unsubscribe(self._hello)

    def record_frame(self, frame: bytes, log_time_ns: int | None = None) -> bool:
        """Write one frame off the bus; False if it was dropped (bad, duplicate, excluded, hello)."""
        if frame.startswith(_HELLO):
            return False
        try:
            topic, env = split_frame(frame)
        except BadFrameError as exc:
            return self._bad(exc.reason, exc.topic)
        if topic in self.exclude:
            return False
        key = (topic, env.publisher)
        last = self._last_seq.get(key)
        counts = self._per_topic.get(topic) or self._per_topic.setdefault(topic, [0, 0, 0, 0])
        if last is not None and env.seq <= last:
            self.duplicates += 1
            counts[3] += 1
            return False
        if last is not None and env.seq > last + 1:
            self.gaps += env.seq - last - 1
            counts[1] += env.seq - last - 1
        self._last_seq[key] = env.seq
        cid = self._channels.get((topic, env.type))
        if cid is None:
            try:
                cid = self._channels[(topic, env.type)] = self.writer.channel(topic, env.type)
            except UnknownTypeError as exc:
                return self._bad(str(exc), topic)
        stamp = time.time_ns() if log_time_ns is None else log_time_ns
        self._add(cid, stamp, env.payload, env.stamp_ns, env.seq & 0xFFFFFFFF)
        self.count += 1
        counts[0] += 1
        return True

    def topic_stats(self) -> list[TopicStats]:
        """Counters per topic recorded (what ``/bus/stats`` carries), role ``sub``."""
        return [TopicStats(topic=t, role="sub", messages=c[0], gaps=c[1], bad=c[2], duplicates=c[3])
                for t, c in list(self._per_topic.items())]

    def _bad(self, reason: str, topic: str = "") -> bool:
        self.bad_frames += 1
        if topic:
            self._per_topic.setdefault(topic, [0, 0, 0, 0])[2] += 1
        if self.bad_frames in (1, 10, 100, 1000) or self.bad_frames % 10_000 == 0:
            log.warning("recorder dropped bad frame #%d: %s", self.bad_frames, reason)
        return False

    def spin_once(self, timeout: float = 0.1) -> int:
        """Record every frame waiting (after up to ``timeout`` s for the first); flush if due."""
        n = 0
        if self._poller.poll(int(timeout * 1000)):
            for sock in self._socks:
                recv = sock.recv
                for _ in range(10_000):
                    try:
                        frame = recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    n += self.record_frame(frame)
        self.writer.tick()
        return n

    def run(self, duration: float | None = None, stop: threading.Event | None = None) -> int:
        """Record until ``duration`` seconds pass or ``stop`` is set; returns the messages written."""
        end = float("inf") if duration is None else time.monotonic() + duration
        start = self.count
        wait = min(0.1, self.flush_interval / 2)
        while not (stop is not None and stop.is_set()):
            left = end - time.monotonic()
            if left <= 0:
                break
            self.spin_once(min(wait, left))
        return self.count - start

    def close(self) -> None:
        """Finish the log (summary, footer) and close the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        registry.remove(self)
        self._sock.close(linger=0)
        if self.inbox is not None:
            self.inbox.close()
        self.writer.close()
        log.info("recorded %d messages into %s (%d bad, %d duplicates dropped)",
                 self.count, self.path, self.bad_frames, self.duplicates)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
