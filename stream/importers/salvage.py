"""Truncated bags read front to back up to the cut: what a killed recorder left is still imported.

A recorder killed mid-write leaves no index: a ROS 2 ``.mcap`` has no summary and no end magic,
a ROS 1 ``.bag`` (``rosbag record`` killed leaves ``NAME.bag.active``) no index records and
perhaps a chunk cut in two. rosbags' AnyReader refuses both, so :func:`salvage` reads the
records in file order instead, up to the first one that is cut or damaged, and offers what
AnyReader offers the importer (``connections``, ``messages``, ``deserialize``) plus ``lost``:
one line saying how many messages were read and how many bytes were not. A cut ROS 1 chunk
gives the messages written before the cut (uncompressed, bz2 and lz4 chunks alike).

>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "x.bag"
>>> _ = path.write_bytes(ROS1_MAGIC + b"\\x01\\x02")
>>> from rosbags.typesys import Stores, get_typestore
>>> got = salvage(path, get_typestore(Stores.ROS1_NOETIC))
>>> got.connections, got.lost
([], 'truncated: read 0 messages up to byte 13 of 15; 2 bytes (13.3%) unreadable')
"""

from __future__ import annotations

import bz2
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lz4.frame
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.typesys import get_types_from_msg

__all__ = ["ROS1_MAGIC", "Salvaged", "salvage"]

ROS1_MAGIC = b"#ROSBAG V2.0\n"
_MSG_DATA, _CHUNK, _CONNECTION = 0x02, 0x05, 0x07


class _Conn:
    def __init__(self, topic: str, msgtype: str) -> None:
        self.topic, self.msgtype = topic, msgtype


class Salvaged:
    """The readable messages of a truncated bag, shaped like rosbags' AnyReader for the importer.

    >>> s = Salvaged(store=None, ros1=True)
    >>> s.finish(size=100, good=60); s.lost
    'truncated: read 0 messages up to byte 60 of 100; 40 bytes (40.0%) unreadable'
    """

    def __init__(self, store: Any, ros1: bool) -> None:
        self.store, self.ros1 = store, ros1
        self.found: list[tuple[Any, int, bytes]] = []
        self.connections: list[Any] = []
        self.lost = ""

    def finish(self, size: int, good: int, conns: list[Any] | None = None) -> None:
        """Sort by time, list the connections, say what was lost."""
        self.found.sort(key=lambda m: m[1])
        self.connections = list(dict.fromkeys(c for c, _, _ in self.found)) or list(conns or [])
        lost = size - good
        self.lost = (f"truncated: read {len(self.found)} messages up to byte {good} of {size}; "
                     f"{lost} bytes ({100 * lost / max(size, 1):.1f}%) unreadable")

    def messages(self, connections: list[Any]) -> Iterator[tuple[Any, int, bytes]]:
        """The messages of ``connections``, in time order."""
        wanted = set(map(id, connections))
        return (m for m in self.found if id(m[0]) in wanted)

    def deserialize(self, raw: bytes, msgtype: str) -> Any:
        """A message of ``msgtype`` from its bytes (ROS 1 or CDR)."""
        return self.store.deserialize_ros1(raw, msgtype) if self.ros1 else self.store.deserialize_cdr(raw, msgtype)

    def close(self) -> None:
        """Drop what was read."""
        self.found.clear()


def salvage(path: Path, store: Any) -> Salvaged:
    """Read the truncated bag ``path`` (a ROS 1 ``.bag`` or a ROS 2 ``.mcap``) up to its cut.

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "cut.mcap"
    >>> _ = path.write_bytes(b"\\x89MCAP0\\r\\n")  # an MCAP file cut after its magic
    >>> got = salvage(path, None)
    >>> got.ros1, len(got.found), got.lost
    (False, 0, 'truncated: read 0 messages up to byte 0 of 8; 8 bytes (100.0%) unreadable')
    """
    with path.open("rb") as f:
        head = f.read(len(ROS1_MAGIC))
    return _ros1(path, store) if head == ROS1_MAGIC else _mcap(path, store)


def _mcap(path: Path, store: Any) -> Salvaged:
    out = Salvaged(store, ros1=False)
    schemas: dict[int, Schema] = {}
    conns: dict[int, Any] = {}
    with path.open("rb") as f:
        good = 0
        try:
            for record in StreamReader(f, validate_crcs=True).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel) and record.schema_id in schemas:
                    schema = schemas[record.schema_id]
                    if schema.name not in store.types and schema.encoding == "ros2msg":
                        store.register(get_types_from_msg(schema.data.decode(), schema.name))
                    conns[record.id] = _Conn(record.topic, schema.name)
                elif isinstance(record, Message) and record.channel_id in conns:
                    out.found.append((conns[record.channel_id], record.log_time, record.data))
                good = f.tell()
        except Exception:  # noqa: BLE001 - any damage ends the readable part: a cut record, a bad CRC
            pass
    out.finish(path.stat().st_size, good, list(conns.values()))
    return out


def _fields(header: bytes) -> dict[str, bytes]:
    """A ROS 1 record header: (u32 length, b"name=value") pairs."""
    fields, i = {}, 0
    while i + 4 <= len(header):
        (n,) = struct.unpack_from("<I", header, i)
        name, _, value = header[i + 4:i + 4 + n].partition(b"=")
        fields[name.decode()] = value
        i += 4 + n
    return fields


def _records(buf: bytes, start: int = 0) -> Iterator[tuple[dict[str, bytes], bytes, int, bool]]:
    """(fields, data, end offset, whole) of each record from ``start``; the last may be cut (whole False)."""
    i = start
    while i + 4 <= len(buf):
        (hlen,) = struct.unpack_from("<I", buf, i)
        if i + 8 + hlen > len(buf):
            return
        fields = _fields(buf[i + 4:i + 4 + hlen])
        (dlen,) = struct.unpack_from("<I", buf, i + 4 + hlen)
        data = buf[i + 8 + hlen:i + 8 + hlen + dlen]
        end = i + 8 + hlen + dlen
        whole = end <= len(buf)
        yield fields, data, min(end, len(buf)), whole
        if not whole:
            return
        i = end


def _unpack_chunk(fields: dict[str, bytes], data: bytes) -> bytes:
    """A chunk's records, as much as the (perhaps cut) data gives."""
    kind = fields.get("compression", b"none").decode()
    try:
        if kind == "bz2":
            return bz2.BZ2Decompressor().decompress(data)
        if kind == "lz4":
            return lz4.frame.LZ4FrameDecompressor().decompress(data)
    except (OSError, EOFError, RuntimeError):  # damaged inside: nothing of this chunk is trusted
        return b""
    return data


def _ros1(path: Path, store: Any) -> Salvaged:
    out = Salvaged(store, ros1=True)
    buf = path.read_bytes()
    conns: dict[int, Any] = {}
    good = len(ROS1_MAGIC)

    def take(fields: dict[str, bytes], data: bytes) -> None:
        op = fields.get("op", b"\x00")[0]
        if op == _CONNECTION:
            meta = _fields(data)
            pkg, _, name = meta.get("type", b"").decode().partition("/")
            conns[struct.unpack("<I", fields["conn"])[0]] = _Conn(fields["topic"].decode(), f"{pkg}/msg/{name}")
        elif op == _MSG_DATA and struct.unpack("<I", fields["conn"])[0] in conns:
            sec, nsec = struct.unpack("<II", fields["time"])
            out.found.append((conns[struct.unpack("<I", fields["conn"])[0]], sec * 1_000_000_000 + nsec, data))

    try:
        for fields, data, end, whole in _records(buf, len(ROS1_MAGIC)):
            if fields.get("op", b"\x00")[0] == _CHUNK:
                inner = _unpack_chunk(fields, data)
                for f2, d2, _end2, whole2 in _records(inner):
                    if whole2:
                        take(f2, d2)
                good = end if whole else good
            elif whole:
                take(fields, data)
                good = end
    except (struct.error, KeyError, IndexError, UnicodeDecodeError):  # a damaged header ends the readable part
        pass
    out.finish(len(buf), good, list(conns.values()))
    return out
