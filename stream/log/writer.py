"""Writing causalstream logs: MCAP files with one schema per message type.

Every channel is one (topic, type) pair. Two encodings:

- ``msgpack`` (``bag record``): our own payloads, byte for byte as they travelled on the bus
  (``codec.py``'s layout: AgentStates positional, arrays in an extension type). The schema is
  named by the type and its encoding is ``causalstream-msgpack``, not ``jsonschema``: its data
  is the JSON Schema of the logical fields (for a reader that wants the structure), which the
  payload does not match byte for byte, so no tool should validate one against the other.
- ``json`` (``bag export --format mcap-json``, and the bus channels of ``--format foxglove``):
  the viewer JSON of ``stream/viewer_json.py``, schema ``causalstream.<Type>`` in ``jsonschema``,
  what Foxglove and Lichtblick decode. :meth:`LogWriter.write_record` writes any other channel
  as it is given (the live view's SceneUpdate, graph image ...: ``foxglove.py``).

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
from typing import BinaryIO, Protocol

import msgspec

from causalstream.stream.codec import encode_payload, json_schema, message_type
from causalstream.stream.errors import LogError
from causalstream.stream.log.mcapfile import COMPRESSIONS, McapWriter
from causalstream.stream.messages import Message
from causalstream.stream.bus.topics import default_latched
from causalstream.stream.viewer_json import schema_name, to_viewer, viewer_schema

__all__ = ["JSON_ENCODING", "MSGPACK_ENCODING", "MSGPACK_SCHEMA_ENCODING", "SCHEMA_ENCODING", "VIEW_METADATA",
           "LogWriter", "Record"]

MSGPACK_ENCODING = "msgpack"
JSON_ENCODING = "json"
SCHEMA_ENCODING = "jsonschema"  # the json channels' schemas (viewer_json.py)
MSGPACK_SCHEMA_ENCODING = "causalstream-msgpack"  # the msgpack channels': a type's logical fields, not its bytes
VIEW_METADATA = "causalstream.view"  # channel metadata of a view-only channel (not a bus topic): "true"
PROFILE = "causalstream"
_U32 = 0xFFFFFFFF


class Record(Protocol):
    """One message of any channel, encoded already (what ``ViewerChannels.update`` returns).

    >>> from causalstream.stream.viewer_channels import ViewerRecord
    >>> rec: Record = ViewerRecord("/t", "T", "jsonschema", b"{}", "json", b'{"x":1}', 5)
    >>> rec.topic, rec.log_time_ns
    ('/t', 5)
    """

    @property
    def topic(self) -> str: ...
    @property
    def schema_name(self) -> str: ...
    @property
    def schema_encoding(self) -> str: ...
    @property
    def schema_data(self) -> bytes: ...
    @property
    def message_encoding(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def log_time_ns(self) -> int: ...


_JSON = msgspec.json.Encoder()


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
        self._record_schemas: dict[tuple[str, str, bytes], int] = {}
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
                if self.encoding == MSGPACK_ENCODING:
                    sid = self.mcap.register_schema(type_name, MSGPACK_SCHEMA_ENCODING, json_schema(type_name).encode())
                else:
                    cls = message_type(type_name)
                    sid = self.mcap.register_schema(schema_name(cls), SCHEMA_ENCODING, _JSON.encode(viewer_schema(cls)))
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
        data = encode_payload(msg) if self.encoding == MSGPACK_ENCODING else _JSON.encode(to_viewer(msg))
        stamp = msg.stamp_ns if log_time_ns is None else log_time_ns
        self.write_payload(topic, type(msg).__name__, data, stamp, msg.stamp_ns, sequence)

    def write_record(self, rec: Record, log_time_ns: int | None = None, sequence: int = 0,
                     latched: bool = False, view: bool = False) -> None:
        """Append one record of a channel given whole (topic, schema, encodings, bytes).

        Its channel is (topic, schema name, message encoding), registered on first use with
        ``latched`` and, for a channel that is no bus topic (``view``), ``causalstream.view:
        "true"`` in its metadata; ``log_time_ns`` defaults to the record's own, which is then
        also its publish time.

        >>> import os, tempfile
        >>> from types import SimpleNamespace
        >>> rec = SimpleNamespace(topic="/img", schema_name="foxglove.RawImage", schema_encoding="jsonschema",
        ...                       schema_data=b"{}", message_encoding="json", data=b"{}", log_time_ns=5)
        >>> with LogWriter(os.path.join(tempfile.mkdtemp(), "v.mcap"), encoding="json") as w:
        ...     w.write_record(rec, view=True); w.write_record(rec, log_time_ns=9)
        >>> w.count, w.channels
        (2, {('/img', 'foxglove.RawImage'): 1})
        """
        key = (rec.topic, rec.schema_name)
        cid = self.channels.get(key)
        if cid is None:
            skey = (rec.schema_name, rec.schema_encoding, bytes(rec.schema_data))
            sid = self._record_schemas.get(skey)
            if sid is None:
                sid = self._record_schemas[skey] = self.mcap.register_schema(*skey)
            meta = {"latched": "true"} if latched else {}
            if view:
                meta[VIEW_METADATA] = "true"
            cid = self.channels[key] = self.mcap.register_channel(rec.topic, rec.message_encoding, sid, meta)
        stamp = rec.log_time_ns if log_time_ns is None else log_time_ns
        self.mcap.add_message(cid, stamp, rec.data, rec.log_time_ns, sequence & _U32)

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
