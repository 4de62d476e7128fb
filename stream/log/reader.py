"""Reading causalstream logs: check a file, iterate raw records or typed messages.

:func:`read_log` is the Python API: it yields :class:`LogEntry` ``(topic, stamp_ns,
message)`` in log-time order, where ``stamp_ns`` is the MCAP log time (when the recorder
received the message; for imported data, the data's own time) and ``message`` is the
typed struct (its own ``stamp_ns`` is the time the data refers to). Our msgpack channels
(``bag record``) and JSON channels (``bag export --format mcap-json`` / ``foxglove``, ``bag record
--foxglove``: the viewer JSON of ``viewer_json.py``; and the plain JSON of older exports) decode.
A viewer file's view-only channels (SceneUpdate, the graph image ...: metadata
``causalstream.view``) are no bus messages: :func:`read_log` skips them without a warning, and
:func:`iter_raw` yields them like any record.

A file that was never finished (a killed recorder) or is damaged raises :class:`LogError`
saying how many messages are readable, with ``bag recover`` as the hint.

>>> import os, tempfile, numpy as np
>>> from causalstream.stream.log.writer import LogWriter
>>> from causalstream.stream.messages import Features
>>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
>>> with LogWriter(path) as w:
...     for i in range(3):
...         w.write("/features", Features(stamp_ns=i, names=["a"], values=np.array([i * 1.0])))
>>> [(e.topic, e.stamp_ns, float(e.message.values[0])) for e in read_log(path)]
[('/features', 0, 0.0), ('/features', 1, 1.0), ('/features', 2, 2.0)]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from mcap.reader import SeekingReader
from mcap.records import Channel, Schema
from mcap.summary import Summary

from causalstream.stream.log.chunks import RawRecord, iter_records
from causalstream.stream.codec import decode_payload, from_builtins
from causalstream.stream.errors import CausalstreamError, LogError
from causalstream.stream.log.writer import JSON_ENCODING, VIEW_METADATA
from causalstream.stream.messages import MESSAGE_TYPES, Message
from causalstream.stream.viewer_json import from_viewer
from causalstream.stream.log.recover import PARSE_ERRORS, LogScan

__all__ = ["LogEntry", "check_log", "decode_record", "is_view_channel", "iter_raw", "message_type_name", "read_log"]

log = logging.getLogger(__name__)

_MAGIC = b"\x89MCAP0\r\n"


class LogEntry(NamedTuple):
    """One message of a log: topic, log time (ns) and the typed message.

    >>> from causalstream.stream.messages import Clock
    >>> topic, stamp_ns, msg = LogEntry("/clock", 5, Clock(stamp_ns=5))
    >>> topic, stamp_ns
    ('/clock', 5)
    """

    topic: str
    stamp_ns: int
    message: Message


def _damaged(path: str, problem: str) -> LogError:
    scan = LogScan(path)
    for _ in scan:
        pass
    if scan.messages == 0:
        return LogError(path, f"{problem}; no message is readable")
    return LogError(
        path, f"{problem}; {scan.messages} messages are readable (stops: {scan.error or 'at the end'})",
        hint=f"salvage them with: causalstream bag recover {path}",
    )


def check_log(path: str | os.PathLike[str]) -> Summary:
    """The summary of a finished, undamaged MCAP file; :class:`LogError` otherwise.

    >>> import tempfile
    >>> bad = os.path.join(tempfile.mkdtemp(), "empty.mcap")
    >>> open(bad, "wb").close()
    >>> check_log(bad)
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: .../empty.mcap: empty file, not an MCAP log
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, size - 8))
            tail = f.read(8)
            if size == 0:
                raise LogError(path, "empty file, not an MCAP log")
            if head != _MAGIC:
                raise LogError(path, "not an MCAP file (bad magic bytes)")
            if tail != _MAGIC or size < 16:
                raise _damaged(path, "file is truncated or was never finished (no footer)")
            f.seek(0)
            try:
                summary = SeekingReader(f).get_summary()
            except PARSE_ERRORS as exc:
                raise _damaged(path, f"summary section is damaged ({exc})") from None
    except OSError as exc:
        raise LogError(path, f"cannot read: {exc.strerror}") from None
    if summary is None or summary.statistics is None:
        raise _damaged(path, "file has no summary section")
    return summary


def iter_raw(
    path: str | os.PathLike[str], topics: Iterable[str] | None = None, start_ns: int | None = None,
    summary: Summary | None = None,
) -> Iterator[RawRecord]:
    """Stored messages (:class:`RawRecord`: channel, times, sequence, bytes) in log-time order.

    The file is checked first (:func:`check_log`) unless its ``summary`` is given.

    >>> list(iter_raw("no/such.mcap"))
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: no/such.mcap: cannot read: No such file or directory
    """
    summary = summary or check_log(path)
    with open(path, "rb") as f:
        try:
            yield from iter_records(f, topics, start_ns, summary)
        except PARSE_ERRORS as exc:
            raise _damaged(str(path), f"a chunk is damaged ({exc})") from None


def message_type_name(schema: Schema | None) -> str:
    """The message type a channel's schema names ("" if none): ``Features`` or ``causalstream.Features``.

    >>> from mcap.records import Schema
    >>> message_type_name(Schema(id=1, name="causalstream.Features", encoding="jsonschema", data=b""))
    'Features'
    """
    name = schema.name if schema is not None else ""
    return name.removeprefix("causalstream.")


def is_view_channel(channel: Channel) -> bool:
    """Whether a channel holds what only a viewer shows (``bag export --format foxglove``), no bus topic.

    >>> from mcap.records import Channel
    >>> is_view_channel(Channel(id=1, topic="/scene", message_encoding="json", schema_id=1,
    ...                         metadata={"causalstream.view": "true"}))
    True
    """
    return channel.metadata.get(VIEW_METADATA) == "true"


def decode_record(schema: Schema | None, channel: Channel, data: bytes) -> Message:
    """The typed message of one record (msgpack or JSON channel); :class:`LogError` if unknown.

    >>> from mcap.records import Channel, Schema
    >>> ch = Channel(id=1, topic="/clock", message_encoding="json", schema_id=1, metadata={})
    >>> decode_record(Schema(id=1, name="Clock", encoding="jsonschema", data=b""), ch, b'{"stamp_ns": 3}')
    Clock(stamp_ns=3)
    >>> viewer = Schema(id=1, name="causalstream.Clock", encoding="jsonschema", data=b"")
    >>> decode_record(viewer, ch, b'{"stamp": {"sec": 1, "nsec": 2}}')
    Clock(stamp_ns=1000000002)
    """
    type_name = message_type_name(schema)
    if type_name not in MESSAGE_TYPES:
        raise LogError(channel.topic, f"type {type_name or '(no schema)'!r} is not a causalstream message type")
    try:
        if channel.message_encoding == JSON_ENCODING:
            if schema is not None and schema.name != type_name:  # viewer JSON (causalstream.<Type>)
                return from_viewer(MESSAGE_TYPES[type_name], json.loads(data))
            return from_builtins(type_name, json.loads(data))  # the plain JSON of exports before viewer_json
        return decode_payload(type_name, data)
    except (CausalstreamError, ValueError) as exc:
        raise LogError(channel.topic, f"cannot decode {type_name}: {exc}") from None


def read_log(path: str | os.PathLike[str], topics: Iterable[str] | None = None) -> Iterator[LogEntry]:
    """Typed messages of a log in log-time order; channels of unknown types are skipped (warned once).

    View-only channels (:func:`is_view_channel`) are skipped quietly.

    >>> import tempfile
    >>> from causalstream.stream.log.writer import LogWriter
    >>> from causalstream.stream.messages import Clock
    >>> path = os.path.join(tempfile.mkdtemp(), "r.mcap")
    >>> with LogWriter(path) as w:
    ...     w.write("/a", Clock(stamp_ns=1)); w.write("/b", Clock(stamp_ns=2))
    >>> [(topic, stamp) for topic, stamp, _ in read_log(path, topics=["/b"])]
    [('/b', 2)]
    """
    warned: set[int] = set()
    summary = check_log(path)
    views = {cid for cid, ch in summary.channels.items() if is_view_channel(ch)}
    for cid in sorted(views):
        log.debug("%s: %s is a view-only channel, not a bus topic: skipped", path, summary.channels[cid].topic)
    for record in iter_raw(path, topics, summary=summary):
        channel = record.channel
        if channel.id in views:
            continue
        try:
            msg = decode_record(summary.schemas.get(channel.schema_id), channel, record.data)
        except LogError as exc:
            if channel.id not in warned:  # once per channel: an unknown type fails every message
                warned.add(channel.id)
                log.warning("%s: skipping messages on %s: %s", path, channel.topic, exc.reason)
            continue
        yield LogEntry(channel.topic, record.log_time, msg)
