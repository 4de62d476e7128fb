"""Record topics of the bus into an MCAP log, as ``causalstream bag record`` does.

The recorder is a client of the bus core: a raw :class:`Subscriber` (the same envelope
check, sequence check and :class:`~causalstream.stream.bus.counters.Counters` as any
subscriber) delivers each frame with its payload still encoded, and the payload bytes go
into the log as they travelled; latched re-sends (a repeated sequence number from the same
publisher) are dropped there, as for every subscriber. A channel is latched in the log when the
topic's publisher registered it latched (its registration reaches the subscriber before its
first message), whatever the topic is called: ``bag play`` latches it again. The file is flushed (chunk closed, fsync) every ``flush_interval``
seconds, even when no message arrives, so a killed recorder loses at most that much.

Topics can also be chosen by pattern (``regex``: every topic whose name it matches, anywhere, as
``ros2 bag record -e``), and left out by pattern or name (``exclude_regex``, ``exclude_topics``).
With ``max_bag_size`` (bytes of messages) or ``max_bag_duration`` (seconds) the log is split:
``run.mcap`` becomes ``run_0.mcap``, ``run_1.mcap``, ... (``paths``), each a finished log of its
own; the next file starts with the first message past the limit.

With ``foxglove=True`` (``bag record --foxglove``) each frame is decoded and written through the
live view's conversion instead (``foxglove.py``: the topics as viewer JSON plus the scene, graph
picture ...), so the file opens in Foxglove and Lichtblick as it is; it costs a decode and a JSON
encode per message, which the msgpack path never pays.

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
import re
import threading
import time
from types import TracebackType

import zmq

from causalstream.stream.bus.counters import Counters, registry
from causalstream.stream.bus.endpoints import Endpoints
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.bus.subscriber import Subscriber
from causalstream.stream.bus.topics import STATS_TOPIC
from causalstream.stream.codec import Envelope, decode_payload
from causalstream.stream.errors import CodecError, LogError, UnknownTypeError
from causalstream.stream.log.foxglove import FoxgloveWriter
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import TopicStats

__all__ = ["EXCLUDED_WHEN_ALL", "Recorder"]

log = logging.getLogger(__name__)

# Recording "all topics" leaves out the bus's own chatter: each process's counters.
EXCLUDED_WHEN_ALL = frozenset({STATS_TOPIC})


class Recorder:
    """Subscribe to ``topics`` (None or empty: every topic) and write them to ``path``.

    ``record_frame`` is the writer path (one frame in, one MCAP message out); ``spin_once``
    takes what the sockets hold; ``run`` loops until ``duration`` or ``stop``. ``count`` is
    the messages written; ``counters()`` the subscriber's :class:`Counters` summed (gaps:
    sequence numbers never seen; duplicates: latched re-sends dropped; bad frames), per topic
    in :meth:`topic_stats`, which ``/bus/stats`` and ``causalstream topic info`` show.
    With ``listen=False`` the recorder opens no socket: its owner (the ``recorder`` node,
    whose transport subscribes) hands it each envelope with :meth:`write`, and :meth:`tick`
    flushes when due.

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
        regex: str | None = None,
        exclude_regex: str | None = None,
        exclude_topics: list[str] | None = None,
        max_bag_size: int = 0,
        max_bag_duration: float = 0.0,
        foxglove: bool = False,
        listen: bool = True,
    ) -> None:
        self.path = str(path)
        self.foxglove = foxglove
        self.undecodable = 0  # foxglove: frames whose payload did not decode (not written)
        self.topics = list(topics or [])
        self.flush_interval = flush_interval
        self.compression = compression
        self.chunk_size = chunk_size
        self._regex = re.compile(regex) if regex else None
        self._exclude_regex = re.compile(exclude_regex) if exclude_regex else None
        self._exclude = frozenset(exclude_topics or ())
        self._keep: dict[str, bool] = {}
        self.max_bag_size = max_bag_size
        self.max_bag_duration = max_bag_duration
        split = bool(max_bag_size or max_bag_duration)
        stem, ext = os.path.splitext(self.path)
        self._name = (lambda k: f"{stem}_{k}{ext or '.mcap'}") if split else (lambda k: self.path)
        self.paths = [self._name(0)]
        self._open(self.paths[0])
        self.count = 0
        self._closed = False
        self.sub: Subscriber | None = None
        self.endpoints: Endpoints | None = None
        self.inbox = None
        if not listen:
            return
        topics_in = [""] if regex or not self.topics else self.topics
        sub = self.sub = Subscriber(topics_in, endpoints=endpoints, hwm=hwm, context=context, keys=keys, raw=True,
                                    exclude=frozenset() if self.topics and not regex else EXCLUDED_WHEN_ALL)
        registry.remove(sub)  # the recorder reports its counters itself, as role "sub"
        self.endpoints = sub.endpoints
        self.inbox = sub.inbox
        registry.add(self)

    def _open(self, path: str) -> None:
        # a split file starts a fresh view (its own scene and graph picture), so it opens alone
        self.viewer = FoxgloveWriter(path, compression=self.compression, chunk_size=self.chunk_size,
                                     flush_interval=self.flush_interval) if self.foxglove else None
        self.writer = self.viewer.writer if self.viewer is not None else LogWriter(
            path, compression=self.compression, chunk_size=self.chunk_size, flush_interval=self.flush_interval)
        self._add = self.writer.mcap.add_message
        self._channels: dict[tuple[str, str], int] = {}
        self._bytes = 0
        self._opened = time.monotonic()

    def _split_if_due(self) -> None:
        if ((self.max_bag_size and self._bytes >= self.max_bag_size)
                or (self.max_bag_duration and time.monotonic() - self._opened >= self.max_bag_duration)):
            self.writer.close()
            self.paths.append(self._name(len(self.paths)))
            log.info("recorder: split, now writing %s", self.paths[-1])
            self._open(self.paths[-1])

    def wants(self, topic: str) -> bool:
        """Whether a topic is recorded: named or matched by ``regex``, and not excluded.

        >>> import tempfile
        >>> rec = Recorder(os.path.join(tempfile.mkdtemp(), "r.mcap"), ["/a"], endpoints="inproc://doc-rec-w",
        ...                regex="^/agents", exclude_regex="debug$", exclude_topics=["/agents/raw"])
        >>> [rec.wants(t) for t in ("/a", "/agents/state", "/agents/debug", "/agents/raw", "/features")]
        [True, True, False, False, False]
        >>> rec.close()
        """
        keep = self._keep.get(topic)
        if keep is None:
            chosen = topic in self.topics or (self._regex is not None and self._regex.search(topic) is not None) \
                or (not self.topics and self._regex is None and topic not in EXCLUDED_WHEN_ALL)
            excluded = topic in self._exclude or (self._exclude_regex is not None
                                                  and self._exclude_regex.search(topic) is not None)
            keep = self._keep[topic] = chosen and not excluded
        return keep

    @property
    def bad_frames(self) -> int:
        """Bad frames dropped (0 without a socket of its own)."""
        return 0 if self.sub is None else self.sub.bad_frames

    @property
    def gaps(self) -> int:
        """Sequence numbers never seen (lost on the way), every topic."""
        return self.counters().gaps

    @property
    def duplicates(self) -> int:
        """Repeated sequence numbers (latched re-sends) dropped, every topic."""
        return self.counters().duplicates

    def counters(self) -> Counters:
        """The subscriber's counters, every topic summed (zeros without a socket of its own)."""
        return Counters() if self.sub is None else self.sub.totals()

    def _socket(self) -> Subscriber:
        if self.sub is None:
            raise LogError(self.path, "this recorder has no socket (listen=False): hand it envelopes with write()")
        return self.sub

    def wait_ready(self, timeout: float = 5.0) -> Recorder:
        """Block until the broker has seen the subscriptions (frames before that are kept)."""
        self._socket().wait_ready(timeout)
        return self

    def record_frame(self, frame: bytes, log_time_ns: int | None = None) -> bool:
        """Write one frame off the bus; False if it was dropped (bad, duplicate, excluded, hello)."""
        sub = self._socket()
        got = sub.accept_frame(frame)
        return got is not None and self.write(got.topic, got.envelope, sub.latched(got.topic), log_time_ns)

    def write(self, topic: str, env: Envelope, latched: bool = False, log_time_ns: int | None = None) -> bool:
        """Write one envelope (payload still encoded) received on ``topic``; False if not written
        (a topic not recorded, a type without a schema, or undecodable for the viewers).

        >>> import tempfile, msgspec
        >>> from causalstream.stream.codec import encode_payload
        >>> from causalstream.stream.messages import Clock
        >>> rec = Recorder(os.path.join(tempfile.mkdtemp(), "w.mcap"), listen=False)
        >>> env = Envelope(5, 0, "doc", "Clock", msgspec.Raw(encode_payload(Clock(stamp_ns=5))))
        >>> rec.write("/clock", env), rec.write("/bus/stats", env), rec.count
        (True, False, 1)
        >>> rec.close()
        """
        if not self.wants(topic):
            return False
        self._split_if_due()
        if self.viewer is not None:
            return self._write_viewer(self.viewer, topic, env, latched, log_time_ns)
        cid = self._channels.get((topic, env.type))
        if cid is None:
            try:
                cid = self.writer.channel(topic, env.type, latched=latched)
                self._channels[(topic, env.type)] = cid
            except UnknownTypeError as exc:  # the subscriber checked the type: a type without a schema
                log.warning("recorder cannot log %s: %s", topic, exc)
                return False
        stamp = time.time_ns() if log_time_ns is None else log_time_ns
        self._add(cid, stamp, env.payload, env.stamp_ns, env.seq & 0xFFFFFFFF)
        self._bytes += len(env.payload) + 31 + len(topic)  # the payload and its record's header, about
        self.count += 1
        return True

    def _write_viewer(self, viewer: FoxgloveWriter, topic: str, env: Envelope, latched: bool,
                      log_time_ns: int | None) -> bool:
        try:
            msg = decode_payload(env.type, env.payload)
        except CodecError as exc:
            self.undecodable += 1
            if self.undecodable == 1:
                log.warning("recorder cannot convert %s for the viewers: %s", topic, exc)
            return False
        viewer.update(topic, msg, time.time_ns() if log_time_ns is None else log_time_ns, env.seq, latched=latched)
        self._bytes += len(env.payload) + 31 + len(topic)
        self.count += 1
        return True

    def topic_stats(self) -> list[TopicStats]:
        """Counters per topic recorded (what ``/bus/stats`` carries), role ``sub``."""
        sub = self.sub
        if sub is None:
            return []
        return [TopicStats(topic=t, role="sub", type_name=c.type_name, messages=c.messages, gaps=c.gaps, bad=c.bad,
                           duplicates=c.duplicates, latched=sub.latched(t)) for t, c in list(sub.counters.items())]

    def tick(self) -> None:
        """Flush if due (a chunk closed, fsync every ``flush_interval``)."""
        self.writer.tick()

    def spin_once(self, timeout: float = 0.1) -> int:
        """Record every frame waiting (after up to ``timeout`` s for the first); flush if due."""
        sub = self._socket()
        n = 0
        for got in sub.take(timeout):
            n += self.write(got.topic, got.envelope, sub.latched(got.topic))
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
        if self.sub is not None:
            registry.remove(self)
            self.sub.close()
        self.writer.close()
        log.info("recorded %d messages into %s (%d bad, %d duplicates dropped)",
                 self.count, ", ".join(self.paths), self.bad_frames, self.duplicates)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
