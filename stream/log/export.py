"""Logs out to tables and other files: :func:`to_dataframe` and :func:`export_log`.

Formats: ``csv`` and ``parquet`` (one table per topic, through pandas; rows laid out as
``tables.py`` says), ``jsonl`` (one JSON object per message: topic, log time, message) and
``mcap-json`` (an MCAP file whose channels carry JSON messages with their JSON Schema,
which Foxglove and Lichtblick decode and plot).

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
from pathlib import Path

import msgspec
import pandas as pd

from causalstream.stream.codec import to_builtins
from causalstream.stream.errors import LogError
from causalstream.stream.log.writer import JSON_ENCODING, LogWriter
from causalstream.stream.log.reader import check_log, read_log
from causalstream.stream.log.tables import message_rows

__all__ = ["FORMATS", "export_log", "to_dataframe"]

FORMATS = ("csv", "parquet", "jsonl", "mcap-json")
_SUFFIX = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl", "mcap-json": ".json.mcap"}


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


def _tables(path: str, topics: list[str], out: Path, fmt: str) -> list[str]:
    """csv / parquet: OUT itself for one topic named *.csv / *.parquet, else one file per topic in OUT/."""
    single = len(topics) == 1 and out.suffix == _SUFFIX[fmt]
    if not single:
        out.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in topics:
        target = out if single else out / (_topic_file(topic) + _SUFFIX[fmt])
        frame = to_dataframe(path, topic)
        if fmt == "csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
        written.append(str(target))
    return written


def _jsonl(path: str, topics: list[str], out: Path) -> list[str]:
    enc = msgspec.json.Encoder()
    with open(out, "wb") as f:
        for entry in read_log(path, topics):
            f.write(enc.encode({"topic": entry.topic, "log_time_ns": entry.stamp_ns,
                                "type": type(entry.message).__name__, "message": to_builtins(entry.message)}))
            f.write(b"\n")
    return [str(out)]


def _mcap_json(path: str, topics: list[str], out: Path) -> list[str]:
    with LogWriter(out, encoding=JSON_ENCODING, fsync=False) as w:
        for entry in read_log(path, topics):
            w.write(entry.topic, entry.message, log_time_ns=entry.stamp_ns)
    return [str(out)]


def export_log(
    path: str | os.PathLike[str], fmt: str, topics: list[str] | None = None, out: str | os.PathLike[str] | None = None
) -> list[str]:
    """Write ``path`` (all topics, or ``topics``) as ``fmt``; returns the files written.

    ``out`` defaults to the log's name with the format's suffix (a folder for several csv or
    parquet tables).

    >>> import tempfile
    >>> from causalstream.stream.log.writer import LogWriter
    >>> from causalstream.stream.messages import Clock
    >>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
    >>> with LogWriter(path) as w:
    ...     w.write("/clock", Clock(stamp_ns=1))
    >>> files = export_log(path, "jsonl")
    >>> [os.path.basename(f) for f in files]
    ['doc.jsonl']
    """
    if fmt not in FORMATS:
        raise LogError(str(path), f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    summary = check_log(path)
    present = sorted({c.topic for c in summary.channels.values()})
    missing = [t for t in topics or [] if t not in present]
    if missing:
        raise LogError(str(path), f"no topic {', '.join(missing)} in the log (topics: {', '.join(present)})")
    chosen = list(topics) if topics else present
    base = Path(str(path))
    if out is None:
        stem = base.with_suffix("")
        out = stem if fmt in ("csv", "parquet") and len(chosen) > 1 else stem.with_suffix(_SUFFIX[fmt])
    target = Path(out)
    if fmt in ("csv", "parquet"):
        return _tables(str(path), chosen, target, fmt)
    if fmt == "jsonl":
        return _jsonl(str(path), chosen, target)
    return _mcap_json(str(path), chosen, target)
