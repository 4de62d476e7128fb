"""Payload layout: a type's plain fields in order, then one block holding all its arrays.

A message type with four or more array fields (AgentStates) travels as a msgpack array
``[plain..., block]``: its non-array fields in declaration order, then one extension
(code 2) whose body is

    u32 header length | header | data

The header names each array field's dtype and shape in declaration order (a zero byte
where the field is None); the data holds the arrays' bytes in C order, each starting at a
multiple of 8 bytes. A stream of same-shaped messages has the same header every time, so
the decoder parses it once, then cuts every array out of one copy of the data (one
``np.frombuffer`` when the arrays share a dtype, then a view each): no per-array hook, no
per-array header. Other types travel as a msgpack map of their fields, each array an
extension of its own (code 1, ``stream/arrays.py``), decoded straight into the struct in
one call: with one to three arrays that is as fast or faster, as building the struct from
a row costs about what three per-array hooks do. Either form decodes as either type (a
payload is tried in its type's form first), so a log written with the other layout reads.

>>> import numpy as np
>>> from causalstream.stream.codec import decode_payload, encode_payload
>>> from causalstream.stream.messages import AgentStates
>>> msg = AgentStates(ids=["a", "b"], roles=["h", "h"], x=np.array([1.0, np.nan]), y=np.zeros(2),
...                   vx=np.zeros(2), vy=np.ones(2))
>>> back = decode_payload("AgentStates", encode_payload(msg))
>>> back.x.tobytes() == msg.x.tobytes(), back.goal.shape, back.x.flags.writeable
(True, (2, 2), True)
"""

from __future__ import annotations

import math
import operator
import struct
from functools import cache
from typing import Any, NamedTuple

import msgspec
import numpy as np

from causalstream.stream.arrays import _KINDS, _MAX_SPECS, _header, _spec, dec_hook, ext_hook
from causalstream.stream.errors import CodecError
from causalstream.stream.messages import Message

__all__ = ["BLOCK_MIN_ARRAYS", "EXT_BLOCK", "Layout", "layout"]

EXT_BLOCK = 2
BLOCK_MIN_ARRAYS = 4  # a type with this many array fields or more travels as one block
_U32 = struct.Struct("<I")
_ABSENT = b"\x00"
_ALIGN = 8
_SMALL = 4096


def _is_array_field(typ: Any) -> bool:
    """``np.ndarray`` or ``np.ndarray | None`` (what ``msgspec.inspect`` calls a custom type)."""
    if isinstance(typ, msgspec.inspect.CustomType):
        return typ.cls is np.ndarray
    if isinstance(typ, msgspec.inspect.UnionType):
        return any(isinstance(t, msgspec.inspect.CustomType) and t.cls is np.ndarray for t in typ.types)
    return False


def _getter(names: tuple[str, ...]) -> Any:
    """A C-level getter of ``names`` that always returns a tuple."""
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return operator.attrgetter(*names) if names else (lambda obj: ())


class Layout:
    """How one message type travels: which fields are plain, which are arrays, and in which form.

    >>> from causalstream.stream.messages import AgentStates, Clock, Features
    >>> layout(AgentStates).arrays, layout(AgentStates).block
    (('x', 'y', 'vx', 'vy', 'heading', 'goal'), True)
    >>> layout(Features).block, layout(Clock).arrays
    (False, ())
    """

    def __init__(self, cls: type[Message]) -> None:
        info = msgspec.inspect.type_info(cls)
        self.cls = cls
        self.plain = tuple(f.name for f in info.fields if not _is_array_field(f.type))
        self.arrays = tuple(f.name for f in info.fields if _is_array_field(f.type))
        self.block = len(self.arrays) >= BLOCK_MIN_ARRAYS
        self.plain_values = _getter(self.plain)
        self.array_values = _getter(self.arrays)
        self.names = self.plain + self.arrays
        plain_types = tuple(f.type for f in msgspec.structs.fields(cls) if f.name in self.plain)
        # the map form: straight into the struct, arrays through the per-array hooks
        self.map_decoder = msgspec.msgpack.Decoder(cls, ext_hook=ext_hook, dec_hook=dec_hook)
        # the row form: the block decodes as Any, the hook turning it into a tuple of arrays,
        # which a msgpack value can never be (msgpack arrays decode as lists)
        self.row_decoder = msgspec.msgpack.Decoder(tuple[(*plain_types, Any)], ext_hook=_block_hook) if self.arrays else None
        self.heads: dict[tuple[Any, ...], tuple[bytes, tuple[int, ...], int]] = {}

    def to_wire(self, msg: Message) -> Any:
        """What the encoder writes for ``msg``: the struct itself (a map), or ``(plain..., block)``."""
        if not self.block:
            return msg
        try:
            block = self._block(self.array_values(msg))
        except AttributeError:  # a field set to a list or a number after construction
            kinds = sorted({type(a).__name__ for a in self.array_values(msg) if not isinstance(a, np.ndarray | None)})
            raise CodecError(self.cls.__name__, f"array fields must hold numpy arrays, not {', '.join(kinds)}") from None
        return (*self.plain_values(msg), msgspec.msgpack.Ext(EXT_BLOCK, block))

    def from_wire(self, payload: bytes | memoryview) -> Message:
        """The message of ``payload``, in its type's form or the other; raises msgspec or codec errors."""
        if self.row_decoder is None:
            return self.map_decoder.decode(payload)
        row_first = self.block
        try:
            return self._from_row(payload) if row_first else self.map_decoder.decode(payload)
        except msgspec.ValidationError:
            if _is_map(payload) == row_first:  # the other form: a log written with the other layout
                return self.map_decoder.decode(payload) if row_first else self._from_row(payload)
            raise

    def _from_row(self, payload: bytes | memoryview) -> Message:
        assert self.row_decoder is not None
        row = self.row_decoder.decode(payload)
        block = row[-1]
        if type(block) is not tuple:
            raise CodecError(self.cls.__name__, "the last item is not an array block")
        if len(block) != len(self.arrays):
            raise CodecError(self.cls.__name__, f"block holds {len(block)} arrays, the type has {len(self.arrays)}")
        return self.cls(**dict(zip(self.names, row[:-1] + block)))

    def _block(self, arrays: tuple[np.ndarray | None, ...]) -> bytes | bytearray:
        key = tuple([None if a is None else (a.dtype, a.shape) for a in arrays])
        known = self.heads.get(key)
        if known is None:
            known = _plan(arrays)
            if len(self.heads) < _MAX_SPECS:
                self.heads[key] = known
        head, pads, total = known
        if total < _SMALL:  # a few small arrays: joining their bytes beats writing into a buffer
            parts = [head]
            for a, pad in zip(arrays, pads):
                if a is not None:
                    parts.append(a.tobytes())  # C order whatever the layout
                    if pad:
                        parts.append(bytes(pad))
            return b"".join(parts)
        out = bytearray(len(head) + total)  # one copy of each array, not two
        out[: len(head)] = head
        at = len(head)
        for a, pad in zip(arrays, pads):
            if a is not None:
                if not a.flags.c_contiguous:
                    a = np.ascontiguousarray(a)
                out[at : at + a.nbytes] = memoryview(a).cast("B")
                at += a.nbytes + pad
        return out


def _padded(nbytes: int) -> int:
    return -(-nbytes // _ALIGN) * _ALIGN


def _is_map(payload: bytes | memoryview | msgspec.Raw) -> bool:
    """Whether a msgpack payload starts with a map (fixmap, map16, map32).

    >>> _is_map(msgspec.msgpack.encode({"a": 1})), _is_map(msgspec.Raw(msgspec.msgpack.encode([1])))
    (True, False)
    """
    head = memoryview(payload)[:1].tobytes()
    return head != b"" and (head[0] & 0xF0 == 0x80 or head[0] in (0xDE, 0xDF))


def _plan(arrays: tuple[np.ndarray | None, ...]) -> tuple[bytes, tuple[int, ...], int]:
    """Header (with its length prefix), the zero padding after each array, and the data size."""
    parts, pads, at = [], [], 0
    for a in arrays:
        if a is None:
            parts.append(_ABSENT)
            pads.append(0)
            continue
        if a.dtype.kind not in _KINDS:
            raise CodecError("ndarray", f"dtype {a.dtype} cannot travel on the bus")
        parts.append(_header(a.dtype.str, a.shape))  # each array's header as a single array's
        pads.append(_padded(a.nbytes) - a.nbytes)
        at += _padded(a.nbytes)
    head = b"".join(parts)
    return _U32.pack(len(head)) + head, tuple(pads), at


class _Spec(NamedTuple):
    """A parsed block header: the data size and how to cut each array out of the data."""

    size: int
    dtype: np.dtype | None  # the one dtype of every array, if they share it (one frombuffer)
    cuts: tuple[tuple[np.dtype, int, int, tuple[int, ...] | None] | None, ...]  # dtype, start, stop, n-d shape


_SPECS: dict[bytes, _Spec] = {}


def _parse(head: bytes) -> _Spec:
    """Check a header once: dtypes that may travel, at most 32 dimensions, nothing left over."""
    found: list[tuple[np.dtype, int, int, tuple[int, ...]] | None] = []
    i, at = 0, 0
    try:
        while i < len(head):
            if head[i] == 0:
                found.append(None)
                i += 1
                continue
            ndt, ndim = head[i], head[i + 1]
            if ndim > 32:
                raise CodecError("ndarray", f"{ndim} dimensions")
            end = i + 2 + ndt + 8 * ndim
            if end > len(head):
                raise IndexError
            dtype, shape, nbytes = _spec(memoryview(head)[i:end], end - i)  # a single array's header
            i = end
            found.append((dtype, at, math.prod(shape), shape))
            at += _padded(nbytes)
    except (IndexError, struct.error):
        raise CodecError("ndarray", "truncated block header") from None
    dtypes = {f[0] for f in found if f is not None}
    shared = dtypes.pop() if len(dtypes) == 1 else None
    if shared is not None and any(f is not None and f[1] % shared.itemsize for f in found):
        shared = None  # an offset that is not a whole number of items: cut each array on its own
    cuts = tuple(None if f is None else (
        f[0], f[1] // f[0].itemsize if shared else f[1], f[2], None if len(f[3]) == 1 else f[3]) for f in found)
    spec = _Spec(at, shared, cuts)
    if len(_SPECS) < _MAX_SPECS:
        _SPECS[head] = spec
    return spec


def _block_hook(code: int, data: memoryview) -> tuple[np.ndarray | None, ...]:
    """Arrays of a block, each a view of one fresh, writable copy of the data."""
    if code != EXT_BLOCK:
        raise CodecError("ndarray", f"unknown msgpack extension code {code}")
    if len(data) < 4:
        raise CodecError("ndarray", "truncated block")
    end = 4 + _U32.unpack_from(data)[0]
    if end > len(data):
        raise CodecError("ndarray", f"block header of {end - 4} bytes in a block of {len(data)}")
    head = data[4:end].tobytes()
    spec = _SPECS.get(head) or _parse(head)
    if len(data) - end != spec.size:
        raise CodecError("ndarray", f"block has {len(data) - end} data bytes, its header says {spec.size}")
    buf = bytearray(data[end:])
    if spec.dtype is not None:  # one array over the data, each field a slice (a view) of it
        whole = np.frombuffer(buf, spec.dtype)
        return tuple([None if c is None else whole[c[1] : c[1] + c[2]] if c[3] is None
                      else whole[c[1] : c[1] + c[2]].reshape(c[3]) for c in spec.cuts])
    return tuple([None if c is None else np.frombuffer(buf, c[0], c[2], c[1]) if c[3] is None
                  else np.frombuffer(buf, c[0], c[2], c[1]).reshape(c[3]) for c in spec.cuts])


@cache
def layout(cls: type[Message]) -> Layout:
    """The (cached) :class:`Layout` of a message type.

    >>> from causalstream.stream.messages import Predictions
    >>> layout(Predictions).plain, layout(Predictions) is layout(Predictions)
    (('stamp_ns', 'agent_ids', 'model_id', 'latency_ms'), True)
    """
    return Layout(cls)

