"""Writing causalstream logs: MCAP files with one schema per message type.

Every channel is one (topic, type) pair. Its schema is the type's JSON Schema
(schema encoding ``jsonschema``, schema name = the type name) and its messages are our own
msgpack payloads, byte for byte as they travelled on the bus (message encoding
``msgpack``; the layout is ``codec.py``'s). The JSON Schema
describes the logical shape, so a tool that knows only JSON can still read the structure;
``bag export --format mcap-json`` rewrites the payloads as JSON for Foxglove / Lichtblick.

Chunks are zstd-compressed; the file layout is the ``mcap`` package's (``mcapfile.py``
writes it with mcap's record classes and a fast path for message records). :meth:`LogWriter.tick` closes the current chunk and flushes
and fsyncs the file once ``flush_interval`` has passed, so a killed writer leaves every
message up to the last flush readable (``bag recover``).

>>> import os, tempfile, numpy as np
>>> from causalstream.stream.messages import Features
>>> path = os.path.join(tempfile.mkdtemp(), "doc.mcap")
>>> with LogWriter(path) as w:
...     w.write("/features", Features(stamp_ns=5, names=["a"], values=np.array([1.0])))
>>> w.count, os.path.getsize(path) > 0
(1, True)
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from types import TracebackType
from typing import BinaryIO

from causalstream.stream.codec import encode_payload, json_schema, to_json
from causalstream.stream.errors import LogError
from causalstream.stream.log.mcapfile import COMPRESSIONS, McapWriter
from causalstream.stream.messages import Message
from causalstream.stream.bus.topics import default_latched

__all__ = ["JSON_ENCODING", "MSGPACK_ENCODING", "SCHEMA_ENCODING", "LogWriter"]

MSGPACK_ENCODING = "msgpack"
JSON_ENCODING = "json"
SCHEMA_ENCODING = "jsonschema"
PROFILE = "causalstream"
_U32 = 0xFFFFFFFF


def _library() -> str:
    try:
        return f"causalstream/{importlib.metadata.version('causalstream')}"
    except importlib.metadata.PackageNotFoundError:
        return "causalstream"


class LogWriter:
    """An MCAP file being written: channels on demand, zstd chunks, flush on a timer.

    ``encoding`` is ``"msgpack"`` (our bus payloads, what ``bag record`` writes) or
    ``"json"`` (JSON messages, what Foxglove and Lichtblick decode). ``write`` encodes a
    message; ``write_payload`` takes bytes already in the channel's encoding (the recorder's
    path: frames off the bus are never decoded); ``mcap`` is the underlying
    :class:`McapWriter`, for callers that keep channel ids themselves.

    >>> import os, tempfile
    >>> from causalstream.stream.messages import Clock
    >>> w = LogWriter(os.path.join(tempfile.mkdtemp(), "x.mcap"), encoding="json")
    >>> w.write("/clock", Clock(stamp_ns=1), log_time_ns=1)
    >>> w.channels
    {('/clock', 'Clock'): 1}
    >>> w.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        encoding: str = MSGPACK_ENCODING,
        compression: str = "zstd",
        chunk_size: int = 1 << 20,
        flush_interval: float = 0.5,
        fsync: bool = True,
    ) -> None:
        if encoding not in (MSGPACK_ENCODING, JSON_ENCODING):
            raise LogError(str(path), f"unknown message encoding {encoding!r} (msgpack or json)")
        if compression not in COMPRESSIONS:
            raise LogError(str(path), f"unknown compression {compression!r} ({', '.join(COMPRESSIONS)})")
        self.path = str(path)
        self.encoding = encoding
        self.compression = compression
        self.chunk_size = chunk_size
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.channels: dict[tuple[str, str], int] = {}
        self._schemas: dict[str, int] = {}
        try:
            self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise LogError(self.path, f"cannot write: {exc.strerror}") from None
        self.mcap = McapWriter(self._file, chunk_size=chunk_size, compression=compression,
                                  profile=PROFILE, library=_library())
        self._last_flush = time.monotonic()
        self._closed = False

    def channel(self, topic: str, type_name: str, latched: bool | None = None) -> int:
        """The channel id of (topic, type), registering it and its schema on first use.

        ``latched`` goes into the channel's metadata (``latched: "true"``), which ``bag play``
        follows; the recorder passes what the topic's registration said, and None takes the
        well-known table's default for that exact name.

        >>> import os, tempfile
        >>> with LogWriter(os.path.join(tempfile.mkdtemp(), "c.mcap")) as w:
        ...     w.channel("/a", "Clock"), w.channel("/b", "Clock"), w.channel("/a", "Clock")
        (1, 2, 1)
        """
        key = (topic, type_name)
        cid = self.channels.get(key)
        if cid is None:
            sid = self._schemas.get(type_name)
            if sid is None:
                sid = self.mcap.register_schema(type_name, SCHEMA_ENCODING, json_schema(type_name).encode())
                self._schemas[type_name] = sid
            meta = {"latched": "true"} if (default_latched(topic) if latched is None else latched) else {}
            cid = self.mcap.register_channel(topic, self.encoding, sid, meta)
            self.channels[key] = cid
        return cid

    def write_payload(
        self,
        topic: str,
        type_name: str,
        payload: bytes,
        log_time_ns: int,
        publish_time_ns: int | None = None,
        sequence: int = 0,
    ) -> None:
        """Append one already-encoded message (``publish_time_ns`` defaults to the log time)."""
        cid = self.channels.get((topic, type_name)) or self.channel(topic, type_name)
        publish = log_time_ns if publish_time_ns is None else publish_time_ns
        self.mcap.add_message(cid, log_time_ns, payload, publish, sequence & _U32)

    @property
    def count(self) -> int:
        """Messages written so far."""
        return self.mcap.messages

    def write(self, topic: str, msg: Message, log_time_ns: int | None = None, sequence: int = 0) -> None:
        """Encode and append one message; the log time defaults to the message's stamp."""
        data = encode_payload(msg) if self.encoding == MSGPACK_ENCODING else to_json(msg)
        stamp = msg.stamp_ns if log_time_ns is None else log_time_ns
        self.write_payload(topic, type(msg).__name__, data, stamp, msg.stamp_ns, sequence)

    def flush(self) -> None:
        """Close the current chunk, write it out and (with ``fsync``) force it to disk."""
        self.mcap.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._last_flush = time.monotonic()

    def tick(self, now: float | None = None) -> bool:
        """Flush if ``flush_interval`` has passed since the last flush; True if it did."""
        if (time.monotonic() if now is None else now) - self._last_flush < self.flush_interval:
            return False
        self.flush()
        return True

    def close(self) -> None:
        """Write the summary (indexes, statistics) and the footer, and close the file."""
        if self._closed:
            return
        self._closed = True
        self.mcap.finish()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._file.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
