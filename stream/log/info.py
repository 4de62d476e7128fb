"""What a log holds, from its summary section: what ``causalstream bag info`` prints.

>>> import os, tempfile
>>> from causalstream.stream.log.writer import LogWriter
>>> from causalstream.stream.messages import Clock
>>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
>>> with LogWriter(path) as w:
...     for i in range(11):
...         w.write("/clock", Clock(stamp_ns=i * 100_000_000))
>>> info = log_info(path)
>>> info.messages, info.duration_s, info.topics[0].type_name, round(info.topics[0].rate_hz, 1)
(11, 1.0, 'Clock', 10.0)
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from mcap.reader import SeekingReader

from causalstream.stream.log.reader import check_log, is_view_channel

__all__ = ["LogInfo", "ChannelInfo", "log_info"]


@dataclass
class ChannelInfo:
    """One channel of a log: topic, type, message count, mean rate over the log's span.

    ``view``: a viewer file's channel that is no bus topic (the scene, the graph picture ...).

    >>> ChannelInfo("/clock", "Clock", 10, 10.0, "msgpack").count
    10
    """

    topic: str
    type_name: str
    count: int
    rate_hz: float
    encoding: str
    latched: bool = False
    view: bool = False


@dataclass
class LogInfo:
    """Summary of a whole log.

    >>> LogInfo(path="x.mcap").duration_s
    0.0
    """

    path: str
    size_bytes: int = 0
    start_ns: int = 0
    end_ns: int = 0
    messages: int = 0
    chunks: int = 0
    compression: dict[str, int] = field(default_factory=dict)
    compressed_bytes: int = 0
    uncompressed_bytes: int = 0
    library: str = ""
    profile: str = ""
    topics: list[ChannelInfo] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last message (log time)."""
        return max(0, self.end_ns - self.start_ns) / 1e9


def log_info(path: str | os.PathLike[str]) -> LogInfo:
    """Read the summary of ``path``; a damaged file raises :class:`LogError` (see ``check_log``).

    >>> log_info("missing.mcap")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: missing.mcap: cannot read: No such file or directory
    """
    summary = check_log(path)
    with open(path, "rb") as f:
        header = SeekingReader(f).get_header()
    stats = summary.statistics
    info = LogInfo(path=str(path), size_bytes=os.path.getsize(path), library=header.library, profile=header.profile)
    if stats is not None:
        info.start_ns, info.end_ns, info.messages = stats.message_start_time, stats.message_end_time, stats.message_count
    span = info.duration_s
    counts = stats.channel_message_counts if stats is not None else {}
    for cid, ch in sorted(summary.channels.items(), key=lambda kv: kv[1].topic):
        schema = summary.schemas.get(ch.schema_id)
        n = counts.get(cid, 0)
        rate = (n - 1) / span if span > 0 and n > 1 else 0.0
        info.topics.append(ChannelInfo(ch.topic, schema.name if schema else "", n, rate, ch.message_encoding,
                                     ch.metadata.get("latched") == "true", is_view_channel(ch)))
    kinds = Counter(ci.compression or "none" for ci in summary.chunk_indexes)
    info.chunks = len(summary.chunk_indexes)
    info.compression = dict(kinds)
    info.compressed_bytes = sum(ci.compressed_size for ci in summary.chunk_indexes)
    info.uncompressed_bytes = sum(ci.uncompressed_size for ci in summary.chunk_indexes)
    return info
