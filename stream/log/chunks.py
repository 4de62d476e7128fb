"""Read the messages of an indexed MCAP file fast, chunk by chunk, in log-time order.

``mcap``'s reader builds a dataclass and a few small reads per record (~20 µs a message
in Python). Here the ``mcap`` package still reads the summary (schemas, channels, chunk
indexes); each chunk is read in one piece, decompressed with zstandard and walked with
``struct.unpack_from``. When chunks overlap in time (or there is no chunk index), the
file is handed to ``mcap``'s own reader, which merges them; messages out of order inside
one chunk are sorted.

>>> import io
>>> from causalstream.stream.log.mcapfile import McapWriter
>>> buf = io.BytesIO()
>>> w = McapWriter(buf, chunk_size=40)
>>> cid = w.register_channel("/a", "msgpack", 0)
>>> for t in (3, 1, 2, 5):
...     w.add_message(cid, t, b"m%d" % t, t)
>>> w.finish()
>>> [(r.channel.topic, r.log_time, r.data) for r in iter_records(buf)]
[('/a', 1, b'm1'), ('/a', 2, b'm2'), ('/a', 3, b'm3'), ('/a', 5, b'm5')]
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

import zstandard
from mcap.reader import SeekingReader
from mcap.records import Channel, ChunkIndex
from mcap.summary import Summary

from causalstream.stream.errors import LogError

__all__ = ["RawRecord", "iter_records"]

_RECORD = struct.Struct("<BQ")
_MESSAGE = struct.Struct("<HIQQ")
_CHUNK_HEAD = struct.Struct("<QQQII")  # start, end, uncompressed size, crc, compression length
_OP_MESSAGE = 0x05


class RawRecord(NamedTuple):
    """One message of a log as stored: its channel, times, sequence and encoded bytes.

    >>> RawRecord(None, 1, 1, 0, b"").log_time
    1
    """

    channel: Channel
    log_time: int
    publish_time: int
    sequence: int
    data: bytes


def _in_order(chunks: list[ChunkIndex]) -> bool:
    return all(a.message_end_time <= b.message_start_time for a, b in zip(chunks, chunks[1:]))


def _chunk_messages(f: BinaryIO, ci: ChunkIndex, dctx: zstandard.ZstdDecompressor) -> list[tuple[int, int, int, int, bytes]]:
    f.seek(ci.chunk_start_offset)
    raw = f.read(ci.chunk_length)
    start, end, size, _crc, clen = _CHUNK_HEAD.unpack_from(raw, _RECORD.size)
    off = _RECORD.size + _CHUNK_HEAD.size
    compression = raw[off : off + clen].decode()
    (body_len,) = struct.unpack_from("<Q", raw, off + clen)
    off += clen + 8
    body = raw[off : off + body_len]
    if compression == "zstd":
        data = dctx.decompress(body, max_output_size=size)
    elif compression == "":
        data = body
    else:
        raise LogError(getattr(f, "name", "(stream)"), f"unsupported chunk compression {compression!r}")
    out = []
    pos, n = 0, len(data)
    unpack_rec, unpack_msg = _RECORD.unpack_from, _MESSAGE.unpack_from
    while pos < n:
        opcode, length = unpack_rec(data, pos)
        body_at = pos + 9
        if opcode == _OP_MESSAGE:
            cid, seq, log_time, publish_time = unpack_msg(data, body_at)
            out.append((log_time, cid, publish_time, seq, data[body_at + 22 : body_at + length]))
        pos = body_at + length
    if any(a[0] > b[0] for a, b in zip(out, out[1:])):
        out.sort(key=lambda m: m[0])
    return out


def iter_records(
    f: BinaryIO, topics: Iterable[str] | None = None, start_ns: int | None = None, summary: Summary | None = None
) -> Iterator[RawRecord]:
    """Every message of ``f`` (an open, seekable MCAP stream) in log-time order.

    ``topics`` keeps only those topics; ``start_ns`` skips messages logged earlier.

    >>> import io
    >>> list(iter_records(io.BytesIO(b"not mcap")))
    Traceback (most recent call last):
    ...
    mcap.exceptions.InvalidMagic: not a valid MCAP file, invalid magic: ...
    """
    f.seek(0)
    reader = SeekingReader(f)
    summary = summary or reader.get_summary()
    if summary is None:
        raise LogError(getattr(f, "name", "(stream)"), "no summary section")
    wanted = None if topics is None else {cid for cid, ch in summary.channels.items() if ch.topic in set(topics)}
    chunks = sorted(summary.chunk_indexes, key=lambda c: (c.message_start_time, c.chunk_start_offset))
    if not chunks or not _in_order(chunks):
        f.seek(0)
        for _, channel, m in reader.iter_messages(topics=None if wanted is None else list(set(topics or [])),
                                                  starting_at=start_ns, log_time_order=True):
            yield RawRecord(channel, m.log_time, m.publish_time, m.sequence, m.data)
        return
    channels = summary.channels
    dctx = zstandard.ZstdDecompressor()
    for ci in chunks:
        if start_ns is not None and ci.message_end_time < start_ns:
            continue
        if wanted is not None and ci.message_index_offsets and not wanted.intersection(ci.message_index_offsets):
            continue
        for log_time, cid, publish_time, seq, data in _chunk_messages(f, ci, dctx):
            if (wanted is None or cid in wanted) and (start_ns is None or log_time >= start_ns):
                yield RawRecord(channels[cid], log_time, publish_time, seq, data)
