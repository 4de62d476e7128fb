"""numpy arrays on the wire: raw bytes + dtype + shape, never Python lists.

An array travels as a msgpack extension (code 1) whose body is a small header
(dtype string, shape) followed by the array's bytes in C order. Decoding copies the
bytes once into a fresh, writable array, so a message never pins a receive buffer.

>>> import numpy as np
>>> a = np.array([[1.0, np.nan], [3.0, 4.0]])
>>> b = unpack_array(pack_array(a))
>>> b.dtype == a.dtype, b.shape, bool(np.isnan(b[0, 1])), b.tobytes() == a.tobytes()
(True, (2, 2), True, True)
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np

from causalstream.stream.errors import CodecError

EXT_NDARRAY = 1
_HEAD = struct.Struct("<BB")  # dtype-string length, ndim
_DIMS = [struct.Struct(f"<{n}Q") for n in range(33)]  # shapes of up to 32 dimensions (numpy's limit)
_KINDS = frozenset("biufc?")  # numeric and bool; object and void dtypes never travel
_HEADS: dict[tuple[np.dtype, tuple[int, ...]], bytes] = {}  # (dtype, shape) -> header, for encoding
_MAX_SPECS = 4096  # cache sizes: a stream of ever-new shapes stops caching, never grows without bound


def pack_array(a: np.ndarray) -> bytes | bytearray:
    """Header + raw bytes of ``a`` (C order).

    >>> len(pack_array(np.zeros(3, dtype=np.float32)))
    25
    """
    head = _HEADS.get((a.dtype, a.shape))  # one dict lookup on the hot path, not a header build
    if head is None:
        if a.dtype.kind not in _KINDS:
            raise CodecError("ndarray", f"dtype {a.dtype} cannot travel on the bus")
        head = _header(a.dtype.str, a.shape)
        if len(_HEADS) < _MAX_SPECS:
            _HEADS[(a.dtype, a.shape)] = head
    if a.nbytes < 4096:
        return head + a.tobytes()  # tobytes is C order whatever the layout
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    out = bytearray(len(head) + a.nbytes)  # one copy of the data, not two
    out[: len(head)] = head
    out[len(head) :] = memoryview(a).cast("B")
    return out


@lru_cache(maxsize=1024)
def _header(dtype_str: str, shape: tuple[int, ...]) -> bytes:
    dt = dtype_str.encode()
    return _HEAD.pack(len(dt), len(shape)) + dt + struct.pack(f"<{len(shape)}Q", *shape)


@lru_cache(maxsize=256)
def _dtype(raw: bytes) -> np.dtype:
    try:
        dtype = np.dtype(raw.decode())
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise CodecError("ndarray", f"bad dtype: {exc}") from None
    if dtype.kind not in _KINDS:
        raise CodecError("ndarray", f"dtype {dtype} cannot travel on the bus")
    return dtype


_SPECS: dict[bytes, tuple[np.dtype, tuple[int, ...], int]] = {}  # header -> dtype, shape, data bytes


def _spec(mv: memoryview, end_head: int) -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse and check a header once; later arrays with the same header hit ``_SPECS``."""
    ndt, ndim = mv[0], mv[1]
    if ndim >= len(_DIMS):
        raise CodecError("ndarray", "truncated array header")
    dtype = _dtype(mv[2 : 2 + ndt].tobytes())
    shape = _DIMS[ndim].unpack_from(mv, 2 + ndt)
    spec = (dtype, shape, math.prod(shape) * dtype.itemsize)
    if len(_SPECS) < _MAX_SPECS:
        _SPECS[mv[:end_head].tobytes()] = spec
    return spec


def unpack_array(buf: bytes | memoryview) -> np.ndarray:
    """Inverse of :func:`pack_array`; checks that the sizes agree.

    The data is copied once into a ``bytearray`` that the array owns (writable, aligned, and
    the receive buffer is not pinned). Parsed headers are cached: a stream of same-shaped
    arrays pays for the dtype and shape parsing once.

    >>> unpack_array(b"\\x03") # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode ndarray: truncated array header
    """
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    size = len(mv)
    if size < 2:
        raise CodecError("ndarray", "truncated array header")
    end_head = 2 + mv[0] + 8 * mv[1]
    if size < end_head:
        raise CodecError("ndarray", "truncated array header")
    spec = _SPECS.get(mv[:end_head].tobytes())
    dtype, shape, nbytes = spec if spec is not None else _spec(mv, end_head)
    if size - end_head != nbytes:
        raise CodecError("ndarray", f"{size - end_head} data bytes for shape {shape} of {dtype}")
    arr = np.frombuffer(bytearray(mv[end_head:]), dtype=dtype)
    return arr if len(shape) == 1 else arr.reshape(shape)


def enc_hook(obj: Any) -> Any:
    """msgspec msgpack hook: numpy arrays and scalars.

    >>> isinstance(enc_hook(np.arange(2)), msgspec.msgpack.Ext)
    True
    """
    if isinstance(obj, np.ndarray):
        return msgspec.msgpack.Ext(EXT_NDARRAY, pack_array(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def ext_hook(code: int, data: memoryview) -> Any:
    """msgspec msgpack extension hook.

    >>> ext_hook(EXT_NDARRAY, memoryview(pack_array(np.ones(2)))).tolist()
    [1.0, 1.0]
    """
    if code == EXT_NDARRAY:
        return unpack_array(data)
    raise CodecError("ndarray", f"unknown msgpack extension code {code}")


def dec_hook(typ: type, obj: Any) -> Any:
    """msgspec hook: accept arrays (and, from JSON or YAML, nested lists) for ndarray fields.

    >>> dec_hook(np.ndarray, [[1, 2], [3, 4]]).shape
    (2, 2)
    """
    if typ is np.ndarray:
        if type(obj) is np.ndarray:  # what ext_hook made, on every array decoded: the cheapest test first
            return obj
        if isinstance(obj, np.ndarray):
            return obj
        if isinstance(obj, list):
            arr = np.asarray(obj, dtype=np.float64)
            return arr
    raise TypeError(f"cannot decode {type(obj).__name__} as {typ.__name__}")  # msgspec adds the path


def json_enc_hook(obj: Any) -> Any:
    """msgspec JSON hook: arrays become (nested) JSON arrays; NaN becomes null.

    >>> json_enc_hook(np.array([1.5, 2.0]))
    [1.5, 2.0]
    """
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def schema_hook(typ: type) -> dict[str, Any]:
    """JSON Schema for ndarray fields: a JSON array (nested for n-d arrays).

    >>> schema_hook(np.ndarray)["type"]
    'array'
    """
    if typ is np.ndarray:
        return {"type": "array", "description": "numpy array, row-major nested lists"}
    raise NotImplementedError(f"no JSON schema for {typ.__name__}")
