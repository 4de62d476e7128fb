"""Logs out to tables and other files: :func:`to_dataframe` and :func:`export_log`.

Formats: ``csv`` and ``parquet`` (one table per topic, through pandas; rows laid out as
``tables.py`` says), ``jsonl`` (one JSON object per message: topic, log time, message),
``mcap-json`` (an MCAP file of the bus topics as viewer JSON, ``viewer_json.py``: JSON messages
with a JSON Schema that Foxglove's and Lichtblick's parser takes) and ``foxglove`` (the same
plus the live view's channels, scene, graph picture ...: ``foxglove.py``).

A damaged log (a killed recorder, a cut file) is exported as far as it reads, front to back,
and messages that do not decode are left out; :class:`ExportReport` says both (``problems``).

>>> import os, tempfile, numpy as np
>>> from causalstream.stream.log.writer import LogWriter
>>> from causalstream.stream.messages import Features
>>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
>>> with LogWriter(path) as w:
...     for i in range(3):
...         w.write("/features", Features(stamp_ns=i, names=["a", "b"], values=np.array([i, 2.0 * i])))
>>> to_dataframe(path, "/features")[["a", "b"]].to_numpy().tolist()
[[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pandas as pd
from mcap.records import Channel, Schema

from causalstream.stream.codec import to_builtins
from causalstream.stream.errors import LogError
from causalstream.stream.log.foxglove import FoxgloveWriter, JsonChannels
from causalstream.stream.log.reader import LogEntry, check_log, decode_record, is_view_channel, iter_raw, read_log
from causalstream.stream.log.recover import LogScan
from causalstream.stream.log.tables import message_rows

__all__ = ["FORMATS", "ExportReport", "export_log", "to_dataframe"]

FORMATS = ("csv", "parquet", "jsonl", "mcap-json", "foxglove")
_SUFFIX = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl", "mcap-json": ".json.mcap",
           "foxglove": ".foxglove.mcap"}


@dataclass
class ExportReport:
    """What :func:`export_log` wrote: the files, the messages, and what it could not export.

    >>> ExportReport(["a.jsonl"], 3).problems
    []
    """

    files: list[str]
    messages: int = 0
    problems: list[str] = field(default_factory=list)


class _Source:
    """The messages of a log in log-time order, or (damaged) in file order up to the damage."""

    def __init__(self, path: str, topics: list[str] | None) -> None:
        self.path, self.topics = path, topics
        self.problems: list[str] = []
        self.undecoded: Counter[tuple[str, str]] = Counter()

    def __iter__(self) -> Iterator[LogEntry]:
        try:
            summary = check_log(self.path)
        except LogError as exc:
            yield from self._damaged(exc)
            return
        for rec in iter_raw(self.path, self.topics, summary=summary):
            entry = self._decode(summary.schemas.get(rec.channel.schema_id), rec.channel, rec.data, rec.log_time)
            if entry is not None:
                yield entry
        self._say_undecoded()

    def _decode(self, schema: Schema | None, channel: Channel, data: bytes, log_time: int) -> LogEntry | None:
        if is_view_channel(channel):
            return None  # a viewer file's own picture: made again from the bus messages
        try:
            return LogEntry(channel.topic, log_time, decode_record(schema, channel, data))
        except LogError as exc:
            self.undecoded[(channel.topic, exc.reason)] += 1
            return None

    def _damaged(self, error: LogError) -> Iterator[LogEntry]:
        scan = LogScan(self.path)
        n = 0
        for schema, channel, msg in scan:
            if self.topics and channel.topic not in self.topics:
                continue
            entry = self._decode(schema, channel, msg.data, msg.log_time)
            if entry is not None:
                n += 1
                yield entry
        if scan.messages == 0:
            raise error
        size = os.path.getsize(self.path)
        self.problems.append(f"damaged log ({error.reason.split(';')[0]}): exported the {n} messages readable "
                             f"front to back (file order); the rest of the {size} bytes is lost: {scan.error}")
        self._say_undecoded()

    def _say_undecoded(self) -> None:
        for (topic, reason), n in sorted(self.undecoded.items()):
            self.problems.append(f"left out {n} messages on {topic}: {reason}")


def to_dataframe(path: str | os.PathLike[str], topic: str) -> pd.DataFrame:
    """One table of a topic: a ``log_time_ns`` column plus the message's rows (``tables.py``).

    >>> import tempfile
    >>> from causalstream.stream.log.writer import LogWriter
    >>> from causalstream.stream.messages import Clock
    >>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
    >>> with LogWriter(path) as w:
    ...     w.write("/features", Clock(stamp_ns=1))
    >>> to_dataframe(path, "/nothing")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: .../doc.mcap: no messages on topic /nothing (topics: /features)
    """
    rows = []
    for entry in read_log(path, [topic]):
        for row in message_rows(entry.message):
            rows.append({"log_time_ns": entry.stamp_ns, **row})
    if not rows:
        topics = ", ".join(sorted({c.topic for c in check_log(path).channels.values()}))
        raise LogError(str(path), f"no messages on topic {topic} (topics: {topics or 'none'})")
    return pd.DataFrame(rows)


def _topic_file(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", topic.strip("/")) or "root"


def _tables(source: _Source, topics: list[str], out: Path, fmt: str) -> tuple[list[str], int]:
    """csv / parquet: OUT itself for one topic named *.csv / *.parquet, else one file per topic in OUT/."""
    rows: dict[str, list[dict]] = {t: [] for t in topics}
    n = 0
    for entry in source:
        n += 1
        rows.setdefault(entry.topic, []).extend({"log_time_ns": entry.stamp_ns, **row}
                                                for row in message_rows(entry.message))
    topics = topics or sorted(rows)  # a damaged log's: the topics read
    single = len(topics) == 1 and out.suffix == _SUFFIX[fmt]
    if not single:
        out.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in topics:
        if not rows.get(topic):
            source.problems.append(f"no table for {topic}: no message of it could be read")
            continue
        target = out if single else out / (_topic_file(topic) + _SUFFIX[fmt])
        frame = pd.DataFrame(rows[topic])
        if fmt == "csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
        written.append(str(target))
    return written, n


def _jsonl(source: _Source, out: Path) -> int:
    enc = msgspec.json.Encoder()
    n = 0
    with open(out, "wb") as f:
        for entry in source:
            f.write(enc.encode({"topic": entry.topic, "log_time_ns": entry.stamp_ns,
                                "type": type(entry.message).__name__, "message": to_builtins(entry.message)}))
            f.write(b"\n")
            n += 1
    return n


def _viewer_file(source: _Source, out: Path, fmt: str) -> int:
    """mcap-json: the bus topics as viewer JSON; foxglove: those plus the live view's channels."""
    n = 0
    with FoxgloveWriter(out, fsync=False, view=JsonChannels() if fmt == "mcap-json" else None) as w:
        for entry in source:
            w.update(entry.topic, entry.message, log_time_ns=entry.stamp_ns)
            n += 1
    return n


def export_log(
    path: str | os.PathLike[str], fmt: str, topics: list[str] | None = None, out: str | os.PathLike[str] | None = None
) -> ExportReport:
    """Write ``path`` (all topics, or ``topics``) as ``fmt``: the files written, the messages, the losses.

    ``out`` defaults to the log's name with the format's suffix (a folder for several csv or
    parquet tables). A damaged log exports what reads (see the module's docstring).

    >>> import tempfile
    >>> from causalstream.stream.log.writer import LogWriter
    >>> from causalstream.stream.messages import Clock
    >>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
    >>> with LogWriter(path) as w:
    ...     w.write("/clock", Clock(stamp_ns=1))
    >>> report = export_log(path, "jsonl")
    >>> [os.path.basename(f) for f in report.files], report.messages, report.problems
    (['doc.jsonl'], 1, [])
    """
    if fmt not in FORMATS:
        raise LogError(str(path), f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    try:
        summary = check_log(path)
        present = sorted({c.topic for c in summary.channels.values() if not is_view_channel(c)})
    except LogError:
        summary = None  # damaged: _Source reads it front to back (or raises this error again)
        present = []
    missing = [t for t in topics or [] if t not in present] if summary is not None else []
    if missing:
        raise LogError(str(path), f"no topic {', '.join(missing)} in the log (topics: {', '.join(present)})")
    chosen = list(topics) if topics else present
    source = _Source(str(path), list(topics) if topics else None)
    base = Path(str(path))
    if out is None:
        stem = base.with_suffix("")
        out = stem if fmt in ("csv", "parquet") and len(chosen) != 1 else stem.with_suffix(_SUFFIX[fmt])
    target = Path(out)
    if fmt in ("csv", "parquet"):
        files, n = _tables(source, chosen, target, fmt)
        return ExportReport(files, n, source.problems)
    n = _jsonl(source, target) if fmt == "jsonl" else _viewer_file(source, target, fmt)
    return ExportReport([str(target)], n, source.problems)

