"""The arrays of a payload: one block of named numpy arrays, written and read without a hook per array.

A payload's arrays travel in one msgpack extension (code 3, :data:`EXT_BLOCK`)::

    u32 header length | header | data

The header has one entry per array present (an optional array that is None has none):
u8 name length, name, then the array header (:func:`array_header`): u8 dtype-string length,
u8 ndim, the dtype string, ndim u64 dimensions. The data holds the arrays' bytes in C order,
in header order, each starting at a multiple of 8 bytes. Same-shaped messages repeat the same
header, which is parsed once; every array is then a view of one fresh, writable copy of the
data (one ``np.frombuffer`` when the arrays share a dtype).

Older payloads (logs written before 2026-12-03) still decode: an extension (code 1) for each
array field, and AgentStates as a row whose block (code 2) had unnamed entries, a zero byte
for an absent array. Nothing writes them any more.

>>> import numpy as np
>>> block = write_block(plan_block(("a", "b"), (np.arange(3.0), None)), (np.arange(3.0), None))
>>> names, arrays = unpack(EXT_BLOCK, memoryview(block))
>>> names, arrays[0].tolist()
(('a',), [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from causalstream.stream.errors import CodecError

__all__ = ["EXT_BLOCK", "array_header", "block_hook", "old_row_hook", "plan_block", "unpack", "write_block"]

EXT_BLOCK = 3  # the arrays of a payload
EXT_OLD_ARRAY = 1  # older payloads: one array
EXT_OLD_BLOCK = 2  # older payloads: a row's unnamed block
KINDS = frozenset("biufc?")  # numeric and bool; object and void dtypes never travel
MAX_CACHE = 4096  # a stream of ever-new shapes stops caching, never grows without bound
_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<BB")  # dtype-string length, ndim
_DIMS = [struct.Struct(f"<{n}Q") for n in range(33)]  # shapes of up to 32 dimensions (numpy's limit)
_ALIGN = 8
_SMALL = 4096  # below this many data bytes, joining the arrays' bytes beats writing into a buffer


@lru_cache(maxsize=1024)
def array_header(dtype_str: str, shape: tuple[int, ...]) -> bytes:
    """The header of one array: dtype-string length, ndim, dtype string, dimensions (u64).

    >>> array_header("<f8", (2, 3))
    b'\\x03\\x02<f8\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x03\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
    """
    dt = dtype_str.encode()
    return _HEAD.pack(len(dt), len(shape)) + dt + _DIMS[len(shape)].pack(*shape)


@lru_cache(maxsize=256)
def _dtype(raw: bytes) -> np.dtype:
    try:
        dtype = np.dtype(raw.decode())
    except (TypeError, ValueError, SyntaxError, UnicodeDecodeError) as exc:  # numpy parses some strings as code
        raise CodecError("ndarray", f"bad dtype: {exc}") from None
    if dtype.kind not in KINDS:
        raise CodecError("ndarray", f"dtype {dtype} cannot travel on the bus")
    return dtype


def _padded(nbytes: int) -> int:
    return -(-nbytes // _ALIGN) * _ALIGN


def _read_header(head: bytes, i: int) -> tuple[np.dtype, tuple[int, ...], int]:
    """dtype, shape and end of the array header at ``head[i:]``."""
    try:
        ndt, ndim = head[i], head[i + 1]
        if ndim > 32:
            raise CodecError("ndarray", f"{ndim} dimensions")
        end = i + 2 + ndt + 8 * ndim
        if end > len(head):
            raise IndexError
        return _dtype(head[i + 2 : i + 2 + ndt]), _DIMS[ndim].unpack_from(head, i + 2 + ndt), end
    except (IndexError, struct.error):
        raise CodecError("ndarray", "truncated block header") from None


class _Spec(NamedTuple):
    """A parsed header: the arrays' names, the data size and how to cut each array out."""

    names: tuple[str, ...]
    size: int
    dtype: np.dtype | None  # the one dtype of every array, if they share it (one frombuffer)
    cuts: tuple[tuple[Any, ...] | None, ...]  # (slice of items, n-d shape) if shared, else (dtype, start, count, shape)


_HEADERS: dict[int, dict[bytes, _Spec]] = {EXT_BLOCK: {}, EXT_OLD_ARRAY: {}, EXT_OLD_BLOCK: {}}  # code -> header -> spec


def _parse(code: int, head: bytes, i: int) -> _Spec:
    """Check a header once (from ``head[i]``): names, dtypes that may travel, at most 32 dimensions."""
    names: list[str] = []
    found: list[tuple[np.dtype, int, int, tuple[int, ...] | None] | None] = []
    at = 0
    while i < len(head):
        if code == EXT_BLOCK:
            end = i + 1 + head[i]
            if end > len(head):
                raise CodecError("ndarray", "truncated block header")
            try:
                names.append(head[i + 1 : end].decode())
            except UnicodeDecodeError:
                raise CodecError("ndarray", "an array name is not UTF-8") from None
            i = end
        elif code == EXT_OLD_BLOCK and head[i] == 0:  # an older block's absent array
            found.append(None)
            i += 1
            continue
        dtype, shape, i = _read_header(head, i)
        nbytes = math.prod(shape) * dtype.itemsize
        found.append((dtype, at, math.prod(shape), None if len(shape) == 1 else shape))
        at += nbytes if code == EXT_OLD_ARRAY else _padded(nbytes)
        if code == EXT_OLD_ARRAY:
            break
    dtypes = {f[0] for f in found if f is not None}
    shared = dtypes.pop() if len(dtypes) == 1 else None
    if shared is not None and any(f is not None and f[1] % shared.itemsize for f in found):
        shared = None  # an offset that is not a whole number of items: cut each array on its own
    if shared is not None:
        cuts = tuple(None if f is None else (slice(f[1] // shared.itemsize, f[1] // shared.itemsize + f[2]), f[3])
                     for f in found)
    else:
        cuts = tuple(found)
    spec = _Spec(tuple(names), at, shared, cuts)
    if len(_HEADERS[code]) < MAX_CACHE:
        _HEADERS[code][head] = spec
    return spec


def unpack(code: int, data: memoryview) -> tuple[tuple[str, ...], tuple[np.ndarray | None, ...]]:
    """Names and arrays of an extension (a block, or an older single array), each array a view
    of one fresh, writable copy of the data.

    >>> block = write_block(plan_block(("x", "n"), (np.ones(2), np.arange(2))), (np.ones(2), np.arange(2)))
    >>> names, (x, n) = unpack(EXT_BLOCK, memoryview(block))
    >>> names, x.tolist(), n.dtype.kind, x.flags.writeable
    (('x', 'n'), [1.0, 1.0], 'i', True)
    >>> unpack(EXT_BLOCK, memoryview(block[:-1]))
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode ndarray: block has 31 data bytes, its header says 32
    """
    if code == EXT_OLD_ARRAY:
        start = 0
        end = 2 + data[0] + 8 * data[1] if len(data) >= 2 else 3
        if end > len(data):
            raise CodecError("ndarray", "truncated array header")
    else:
        start = 4
        if len(data) < 4:
            raise CodecError("ndarray", "truncated block")
        end = 4 + _U32.unpack_from(data)[0]
        if end > len(data):
            raise CodecError("ndarray", f"block header of {end - 4} bytes in a block of {len(data)}")
    head = data[:end].tobytes()
    spec = _HEADERS[code].get(head) or _parse(code, head, start)
    if len(data) - end != spec.size:
        raise CodecError("ndarray", f"block has {len(data) - end} data bytes, its header says {spec.size}")
    buf = bytearray(data[end:])
    if spec.dtype is not None:  # one array over the data, each field a slice (a view) of it
        whole = np.frombuffer(buf, spec.dtype, len(buf) // spec.dtype.itemsize)
        return spec.names, tuple([None if c is None else whole[c[0]] if c[1] is None else whole[c[0]].reshape(c[1])
                                  for c in spec.cuts])
    return spec.names, tuple([None if c is None else np.frombuffer(buf, c[0], c[2], c[1]) if c[3] is None
                              else np.frombuffer(buf, c[0], c[2], c[1]).reshape(c[3]) for c in spec.cuts])


def block_hook(code: int, data: memoryview) -> Any:
    """Extensions of a payload map: the block as ``(names, arrays)``, an older array as itself.

    >>> block_hook(EXT_BLOCK, memoryview(write_block(plan_block(("v",), (np.ones(1),)), (np.ones(1),))))[0]
    ('v',)
    >>> block_hook(9, memoryview(b""))
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode ndarray: unknown msgpack extension code 9
    """
    if code == EXT_BLOCK:
        return unpack(code, data)
    if code == EXT_OLD_ARRAY:
        return unpack(code, data)[1][0]
    raise CodecError("ndarray", f"unknown msgpack extension code {code}")


def old_row_hook(code: int, data: memoryview) -> Any:
    """Extensions of an older row payload: its unnamed block as a tuple of arrays.

    >>> old_row_hook(EXT_BLOCK, memoryview(b""))
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode ndarray: unknown msgpack extension code 3
    """
    if code != EXT_OLD_BLOCK:
        raise CodecError("ndarray", f"unknown msgpack extension code {code}")
    return unpack(code, data)[1]


class Plan(NamedTuple):
    """How a block of arrays of given dtypes and shapes is written: its header (with the length
    prefix), the zero padding after each array, and the data size."""

    head: bytes
    pads: tuple[int, ...]
    size: int


def plan_block(names: tuple[str, ...], arrays: tuple[np.ndarray | None, ...]) -> Plan:
    """The :class:`Plan` of a block of ``arrays`` under ``names`` (None: absent, no entry).

    >>> plan_block(("v",), (np.zeros(3),)).size, plan_block(("v",), (np.zeros(3, "<f4"),)).pads
    (24, (4,))
    """
    parts, pads, at = [], [], 0
    for name, a in zip(names, arrays):
        pads.append(0 if a is None else _padded(a.nbytes) - a.nbytes)
        if a is None:
            continue
        if a.dtype.kind not in KINDS:
            raise CodecError("ndarray", f"dtype {a.dtype} cannot travel on the bus")
        parts.append(bytes([len(name)]) + name.encode() + array_header(a.dtype.str, a.shape))
        at += _padded(a.nbytes)
    head = b"".join(parts)
    return Plan(_U32.pack(len(head)) + head, tuple(pads), at)


def write_block(plan: Plan, arrays: tuple[np.ndarray | None, ...]) -> bytes | bytearray:
    """The block of ``arrays`` (the dtypes and shapes ``plan`` was made for), C order whatever their layout.

    >>> a = np.arange(4.0).reshape(2, 2).T  # not C-contiguous
    >>> unpack(EXT_BLOCK, memoryview(write_block(plan_block(("m",), (a,)), (a,))))[1][0].tolist()
    [[0.0, 2.0], [1.0, 3.0]]
    """
    head, pads, total = plan
    if total < _SMALL:
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
