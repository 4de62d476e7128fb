"""An MCAP writer with a fast message path, built on the ``mcap`` package's records.

``mcap.writer.Writer.add_message`` costs ~10 µs a message in Python (a dataclass, a
``BytesIO`` record builder that seeks back to patch lengths, seven ``struct.pack`` calls),
which caps a recorder near 100k messages/s. Here a message record is one ``struct.pack``
appended to a ``bytearray``, and a chunk's message index is packed in one call. Every other
record (header, schema, channel, chunk, chunk index, statistics, summary offsets, footer)
is written by the ``mcap`` package's own record classes, in the same layout as its Writer:
schemas and channels inside chunks, zstd chunks each followed by their message indexes, a
summary repeating schemas and channels with statistics and chunk indexes, summary offsets,
a footer with CRC. Tests read the files back with ``mcap``'s own readers.

>>> import io
>>> from mcap.reader import make_reader
>>> buf = io.BytesIO()
>>> w = McapWriter(buf)
>>> sid = w.register_schema("Clock", "jsonschema", b"{}")
>>> cid = w.register_channel("/clock", "msgpack", sid)
>>> w.add_message(cid, 10, b"\\x80", 10, 0)
>>> w.finish()
>>> [(c.topic, m.log_time, m.data) for _, c, m in make_reader(io.BytesIO(buf.getvalue())).iter_messages()]
[('/clock', 10, b'\\x80')]
"""

from __future__ import annotations

import struct
import zlib
from collections import defaultdict
from typing import BinaryIO

import zstandard
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Header,
    Schema,
    Statistics,
    SummaryOffset,
)
from mcap.writer import MCAP0_MAGIC

from causalstream.stream.errors import LogError

__all__ = ["COMPRESSIONS", "McapWriter"]

COMPRESSIONS = ("zstd", "none")
_MESSAGE = struct.Struct("<BQHIQQ")  # opcode, record length, channel id, sequence, log time, publish time
_MESSAGE_FIXED = 22  # bytes of a message record's body before its data


def _message_index(channel_id: int, records: list[tuple[int, int]]) -> bytes:
    """A MessageIndex record, packed at once (mcap's ``MessageIndex.write`` makes two calls per entry)."""
    body = struct.pack(f"<HI{2 * len(records)}Q", channel_id, 16 * len(records), *(v for r in records for v in r))
    return struct.pack("<BQ", Opcode.MESSAGE_INDEX, len(body)) + body


def _record(*records: object) -> bytes:
    rb = RecordBuilder()
    for r in records:
        r.write(rb)  # type: ignore[attr-defined]
    return rb.end()


class McapWriter:
    """Write an MCAP stream: ``register_schema`` / ``register_channel`` / ``add_message``, then ``finish``.

    ``flush`` closes the current chunk and flushes the stream, so everything written so far
    is readable by a front-to-back scan even if ``finish`` never comes.

    >>> import io
    >>> McapWriter(io.BytesIO(), compression="lz5")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: (stream): unknown compression 'lz5' (zstd, none)
    """

    def __init__(self, stream: BinaryIO, chunk_size: int = 1 << 20, compression: str = "zstd",
                 profile: str = "", library: str = "causalstream") -> None:
        if compression not in COMPRESSIONS:
            raise LogError("(stream)", f"unknown compression {compression!r} ({', '.join(COMPRESSIONS)})")
        self.stream = stream
        self.chunk_size = chunk_size
        self.compression = compression
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self.message_count = 0
        self.channel_message_counts: dict[int, int] = defaultdict(int)
        self._zstd = zstandard.ZstdCompressor()
        self._chunk = bytearray()
        self._chunk_messages = 0
        self._chunk_start = self._chunk_end = 0
        self._index: dict[int, list[tuple[int, int]]] = {}
        self._chunk_indexes: list[ChunkIndex] = []
        self._start_time: int | None = None
        self._end_time = 0
        self._pos = 0
        self._write(MCAP0_MAGIC + _record(Header(profile=profile, library=library)))

    def _write(self, data: bytes) -> None:
        self.stream.write(data)
        self._pos += len(data)

    def register_schema(self, name: str, encoding: str, data: bytes) -> int:
        """Add a schema (written into the current chunk); returns its id, from 1."""
        schema = Schema(id=len(self.schemas) + 1, name=name, encoding=encoding, data=data)
        self.schemas[schema.id] = schema
        self._chunk += _record(schema)
        return schema.id

    def register_channel(self, topic: str, message_encoding: str, schema_id: int,
                         metadata: dict[str, str] | None = None) -> int:
        """Add a channel (written into the current chunk); returns its id, from 1."""
        channel = Channel(id=len(self.channels) + 1, topic=topic, message_encoding=message_encoding,
                          schema_id=schema_id, metadata=dict(metadata or {}))
        self.channels[channel.id] = channel
        self._chunk += _record(channel)
        return channel.id

    def add_message(self, channel_id: int, log_time: int, data: bytes, publish_time: int, sequence: int = 0) -> None:
        """Append one message record to the current chunk (closed once it passes ``chunk_size``)."""
        chunk = self._chunk
        offset = len(chunk)
        chunk += _MESSAGE.pack(Opcode.MESSAGE, _MESSAGE_FIXED + len(data), channel_id, sequence, log_time, publish_time)
        chunk += data
        index = self._index.get(channel_id)
        if index is None:
            index = self._index[channel_id] = []
        index.append((log_time, offset))
        if self._chunk_messages == 0:
            self._chunk_start = self._chunk_end = log_time
        elif log_time < self._chunk_start:
            self._chunk_start = log_time
        elif log_time > self._chunk_end:
            self._chunk_end = log_time
        self._chunk_messages += 1
        if offset >= self.chunk_size:
            self._finish_chunk()

    def _finish_chunk(self) -> None:
        if self._chunk_messages == 0:
            return
        data = self._chunk
        packed = self._zstd.compress(data) if self.compression == "zstd" else bytes(data)
        compression = "zstd" if self.compression == "zstd" else ""
        chunk_start = self._pos
        self._write(_record(Chunk(compression=compression, data=packed, message_start_time=self._chunk_start,
                                  message_end_time=self._chunk_end, uncompressed_crc=zlib.crc32(data),
                                  uncompressed_size=len(data))))
        chunk_length = self._pos - chunk_start
        index_start = self._pos
        offsets = {}
        for cid, records in self._index.items():
            offsets[cid] = self._pos
            self._write(_message_index(cid, records))
            self.channel_message_counts[cid] += len(records)
            self.message_count += len(records)
        self._chunk_indexes.append(ChunkIndex(
            message_start_time=self._chunk_start, message_end_time=self._chunk_end, chunk_start_offset=chunk_start,
            chunk_length=chunk_length, message_index_offsets=offsets, message_index_length=self._pos - index_start,
            compression=compression, compressed_size=len(packed), uncompressed_size=len(data)))
        self._start_time = self._chunk_start if self._start_time is None else min(self._start_time, self._chunk_start)
        self._end_time = max(self._end_time, self._chunk_end)
        self._chunk = bytearray()
        self._index = {}
        self._chunk_messages = 0

    @property
    def messages(self) -> int:
        """Messages added so far (in finished chunks and the open one)."""
        return self.message_count + self._chunk_messages

    def flush(self) -> None:
        """Close the current chunk (if it holds messages) and flush the stream."""
        self._finish_chunk()
        self.stream.flush()

    def finish(self) -> None:
        """Close the last chunk and write the summary section, the footer and the closing magic."""
        self._finish_chunk()
        self._write(_record(DataEnd(data_section_crc=0)))
        summary_start = self._pos
        groups = [
            (Opcode.SCHEMA, list(self.schemas.values())),
            (Opcode.CHANNEL, list(self.channels.values())),
            (Opcode.STATISTICS, [Statistics(
                attachment_count=0, channel_count=len(self.channels), schema_count=len(self.schemas),
                channel_message_counts=dict(self.channel_message_counts), chunk_count=len(self._chunk_indexes),
                message_count=self.message_count, metadata_count=0,
                message_start_time=self._start_time or 0, message_end_time=self._end_time)]),
            (Opcode.CHUNK_INDEX, self._chunk_indexes),
        ]
        summary = bytearray()
        offsets = []
        for opcode, records in groups:
            body = _record(*records)
            offsets.append(SummaryOffset(group_opcode=opcode, group_start=summary_start + len(summary),
                                         group_length=len(body)))
            summary += body
        summary_offset_start = summary_start + len(summary)
        summary += _record(*offsets)
        crc = zlib.crc32(summary)
        crc = zlib.crc32(struct.pack("<BQQQ", Opcode.FOOTER, 8 + 8 + 4, summary_start, summary_offset_start), crc)
        self._write(bytes(summary))
        self._write(_record(Footer(summary_start=summary_start, summary_offset_start=summary_offset_start,
                                   summary_crc=crc)))
        self._write(MCAP0_MAGIC)
        self.stream.flush()
