"""Salvage an unfinished MCAP file: read front to back until the first bad record.

A recorder that is killed leaves the magic, the header and every chunk it flushed, then
perhaps half a chunk, and no summary or footer. :class:`LogScan` reads the records in file
order (chunks checked against their CRC) and stops at the first one that is truncated or
does not parse; :func:`recover` copies everything read so far into a new, valid file.

>>> import os, tempfile
>>> from causalstream.stream.log.writer import LogWriter
>>> from causalstream.stream.messages import Clock
>>> d = tempfile.mkdtemp()
>>> w = LogWriter(os.path.join(d, "cut.mcap"))
>>> for i in range(3):
...     w.write("/clock", Clock(stamp_ns=i + 1))
>>> w.flush()  # never closed: no summary, no footer
>>> r = recover(os.path.join(d, "cut.mcap"), os.path.join(d, "fixed.mcap"))
>>> r.messages, r.complete
(3, False)
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import zstandard
from mcap.exceptions import McapError
from mcap.records import Channel, Chunk, Footer, Schema
from mcap.records import Message as McapMessage
from mcap.stream_reader import StreamReader, breakup_chunk
from mcap.writer import CompressionType, Writer

from causalstream.stream.errors import LogError

__all__ = ["LogScan", "RecoverResult", "recover"]

log = logging.getLogger(__name__)

# What a damaged file can throw while parsing: mcap's own errors (EndOfFile, bad magic),
# short struct reads, CRC mismatches (ValueError), zstd frames cut short, bad UTF-8.
PARSE_ERRORS = (McapError, struct.error, ValueError, zstandard.ZstdError, EOFError, MemoryError)


class LogScan:
    """Messages of an MCAP file in file order, up to the end or the first damaged record.

    Iterate it for ``(schema, channel, message)`` tuples (mcap's records); afterwards
    ``messages`` counts them, ``complete`` says whether the footer was reached and ``error``
    says what stopped the scan otherwise.

    >>> import io
    >>> scan = LogScan("missing.mcap")
    >>> list(scan), scan.complete, scan.error
    ([], False, 'cannot open: No such file or directory')
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.messages = 0
        self.last_log_time = 0
        self.complete = False
        self.error = ""
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}

    def __iter__(self) -> Iterator[tuple[Schema | None, Channel, McapMessage]]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            self.error = f"cannot open: {exc.strerror}"
            return
        with f:
            try:
                for record in StreamReader(f, emit_chunks=True, validate_crcs=False).records:
                    if isinstance(record, Chunk):
                        yield from self._take_all(breakup_chunk(record, validate_crc=True))
                    elif isinstance(record, Footer):
                        self.complete = True
                    else:
                        yield from self._take_all([record])
            except PARSE_ERRORS as exc:
                self.complete = False
                self.error = _describe(exc, f.tell())

    def _take_all(self, records: list[object]) -> Iterator[tuple[Schema | None, Channel, McapMessage]]:
        for record in records:
            if isinstance(record, Schema):
                self.schemas[record.id] = record
            elif isinstance(record, Channel):
                self.channels[record.id] = record
            elif isinstance(record, McapMessage):
                channel = self.channels.get(record.channel_id)
                if channel is None:
                    raise McapError(f"message on unknown channel {record.channel_id}")
                self.messages += 1
                self.last_log_time = max(self.last_log_time, record.log_time)
                yield self.schemas.get(channel.schema_id), channel, record


def _describe(exc: BaseException, offset: int) -> str:
    what = str(exc) or type(exc).__name__
    if type(exc).__name__ == "EndOfFile":
        what = "file ends in the middle of a record"
    return f"{what} (near byte {offset})"


@dataclass
class RecoverResult:
    """What :func:`recover` salvaged.

    >>> RecoverResult("a.mcap", "b.mcap", 10, False, "truncated").messages
    10
    """

    source: str
    output: str
    messages: int
    complete: bool
    stopped_because: str


def recover(path: str | os.PathLike[str], output: str | os.PathLike[str]) -> RecoverResult:
    """Copy every readable message of ``path`` (up to the first damage) into a valid MCAP file.

    Schemas and channels are copied as they are, so any MCAP file can be salvaged, not only
    ours. Raises :class:`LogError` if not even the header can be read.

    >>> recover("missing.mcap", "out.mcap")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: missing.mcap: nothing to recover: cannot open: No such file or directory
    """
    if os.path.abspath(path) == os.path.abspath(output):
        raise LogError(str(path), "recover needs an output file other than its input")
    if not os.path.isfile(path):
        raise LogError(str(path), "nothing to recover: cannot open: No such file or directory")
    scan = LogScan(path)
    schema_ids: dict[int, int] = {}
    channel_ids: dict[int, int] = {}
    with open(output, "wb") as f:
        writer = Writer(f, compression=CompressionType.ZSTD)
        writer.start(profile="causalstream", library="causalstream recover")
        for schema, channel, message in scan:
            if channel.id not in channel_ids:
                sid = 0
                if schema is not None:
                    if schema.id not in schema_ids:
                        schema_ids[schema.id] = writer.register_schema(schema.name, schema.encoding, schema.data)
                    sid = schema_ids[schema.id]
                channel_ids[channel.id] = writer.register_channel(
                    channel.topic, channel.message_encoding, sid, dict(channel.metadata)
                )
            writer.add_message(channel_ids[channel.id], message.log_time, message.data,
                               message.publish_time, message.sequence)
        writer.finish()
    if scan.messages == 0 and scan.error and not scan.channels:
        os.unlink(output)
        raise LogError(str(path), f"nothing to recover: {scan.error}")
    log.info("recovered %d messages from %s into %s", scan.messages, path, output)
    return RecoverResult(str(path), str(output), scan.messages, scan.complete, scan.error)
