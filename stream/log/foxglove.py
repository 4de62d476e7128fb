"""Viewer files: the bus messages as the channels Foxglove and Lichtblick show (``--format foxglove``).

Each message goes through the live view's own conversion, ``ViewerChannels``
(``stream/viewer_channels.py``): its topic as viewer JSON (``viewer_json.py``, schema
``causalstream.<Type>``), plus the view's extra channels (the scene as ``foxglove.SceneUpdate``,
the graph picture, the links table ...). So a file opened in a viewer shows what ``causalstream
view`` shows live. ``bag export --format foxglove`` writes one from a log, ``bag record
--foxglove`` off the bus; msgpack (``bag record``) stays the native, undecoded fast path.

The bus topics' channels read back as typed messages (``read_log``) and replay (``bag play``);
the extra channels carry ``causalstream.view: "true"`` in their metadata: ``bag info`` lists
them, ``read_log`` and ``bag play`` pass them by.

>>> import os, tempfile, numpy as np
>>> from causalstream.stream.log.reader import read_log
>>> from causalstream.stream.messages import Features
>>> path = os.path.join(tempfile.mkdtemp(), "doc.foxglove.mcap")
>>> with FoxgloveWriter(path) as w:
...     n = w.update("/features", Features(stamp_ns=7, names=["a"], values=np.array([0.5])))
>>> [(e.topic, e.message.values.tolist()) for e in read_log(path)]
[('/features', [0.5])]
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import TracebackType
from typing import NamedTuple, Protocol

import msgspec

from causalstream.stream.bus.topics import default_latched
from causalstream.stream.log.writer import JSON_ENCODING, LogWriter, Record
from causalstream.stream.messages import Message
from causalstream.stream.viewer_json import (
    MESSAGE_ENCODING,
    SCHEMA_ENCODING,
    schema_name,
    to_viewer,
    viewer_schema,
)

try:  # the live view's conversion (FOXLIVE's); until it is on main, the bus topics' JSON channels alone
    _VIEWER_CHANNELS = importlib.import_module("causalstream.stream.viewer_channels").ViewerChannels
except ImportError:  # pragma: no cover - the transition only
    _VIEWER_CHANNELS = None

__all__ = ["Conversion", "FoxgloveWriter", "JsonChannels"]

_JSON = msgspec.json.Encoder()


class Conversion(Protocol):
    """What turns a bus message into viewer records: ``ViewerChannels``, or :class:`JsonChannels`.

    >>> from causalstream.stream.messages import Clock
    >>> conv: Conversion = JsonChannels()
    >>> [r.topic for r in conv.update("/clock", Clock(stamp_ns=1))]
    ['/clock']
    """

    def update(self, topic: str, msg: Message) -> Sequence[Record]: ...


class JsonRecord(NamedTuple):
    """One record of a bus topic's viewer-JSON channel (the shape of ``ViewerRecord``)."""

    topic: str
    schema_name: str
    schema_encoding: str
    schema_data: bytes
    message_encoding: str
    data: bytes
    log_time_ns: int


class JsonChannels:
    """Each message as its topic's viewer-JSON channel only (what ``--format mcap-json`` holds).

    >>> from causalstream.stream.messages import Clock
    >>> rec, = JsonChannels().update("/clock", Clock(stamp_ns=2))
    >>> rec.schema_name, rec.message_encoding, rec.data
    ('causalstream.Clock', 'json', b'{"stamp":{"sec":0,"nsec":2}}')
    """

    def __init__(self) -> None:
        self._schemas: dict[type, bytes] = {}

    def update(self, topic: str, msg: Message) -> list[JsonRecord]:
        """The records of one message: here exactly one."""
        cls = type(msg)
        data = self._schemas.get(cls)
        if data is None:
            data = self._schemas[cls] = _JSON.encode(viewer_schema(cls))
        return [JsonRecord(topic, schema_name(cls), SCHEMA_ENCODING, data, MESSAGE_ENCODING,
                           _JSON.encode(to_viewer(msg)), msg.stamp_ns)]


class FoxgloveWriter:
    """A viewer file being written: ``update(topic, msg)`` writes every channel the view makes of it.

    ``view`` is the conversion (default: the live view's ``ViewerChannels``; ``JsonChannels()``
    gives the bus topics alone). ``messages`` counts bus messages, ``count`` records written. A
    record keeps its own time as publish time; its log time is ``log_time_ns`` (the source log's,
    or the receive time) when given.

    >>> import os, tempfile
    >>> from causalstream.stream.messages import Clock
    >>> with FoxgloveWriter(os.path.join(tempfile.mkdtemp(), "c.mcap"), view=JsonChannels()) as w:
    ...     w.update("/clock", Clock(stamp_ns=1), log_time_ns=5)
    1
    >>> w.messages, w.count
    (1, 1)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        compression: str = "zstd",
        chunk_size: int = 1 << 20,
        flush_interval: float = 0.5,
        fsync: bool = True,
        view: Conversion | None = None,
    ) -> None:
        self.path = str(path)
        self.writer = LogWriter(path, encoding=JSON_ENCODING, compression=compression, chunk_size=chunk_size,
                                flush_interval=flush_interval, fsync=fsync)
        self.view: Conversion = view if view is not None else (
            _VIEWER_CHANNELS() if _VIEWER_CHANNELS is not None else JsonChannels())
        self.messages = 0

    def update(self, topic: str, msg: Message, log_time_ns: int | None = None, sequence: int = 0,
               latched: bool | None = None) -> int:
        """Write the records the view makes of one message; returns how many."""
        own = schema_name(type(msg))
        records = self.view.update(topic, msg)
        for rec in records:
            bus = rec.topic == topic and rec.schema_name == own
            latch = bool(bus and (default_latched(topic) if latched is None else latched))
            self.writer.write_record(rec, log_time_ns, sequence if bus else 0, latched=latch, view=not bus)
        self.messages += 1
        return len(records)

    @property
    def count(self) -> int:
        """Records written so far (every channel)."""
        return self.writer.count

    def tick(self, now: float | None = None) -> bool:
        """Flush if the flush interval has passed (``LogWriter.tick``)."""
        return self.writer.tick(now)

    def close(self) -> None:
        """Finish the file (summary, footer)."""
        self.writer.close()

    def __enter__(self) -> FoxgloveWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
