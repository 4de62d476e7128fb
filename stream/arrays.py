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

import struct
from typing import Any

import msgspec
import numpy as np

from causalstream.stream.errors import CodecError

EXT_NDARRAY = 1
_HEAD = struct.Struct("<BB")  # dtype-string length, ndim
_DIM = struct.Struct("<Q")
_KINDS = frozenset("biufc?")  # numeric and bool; object and void dtypes never travel


def pack_array(a: np.ndarray) -> bytes:
    """Header + raw bytes of ``a`` (C order).

    >>> len(pack_array(np.zeros(3, dtype=np.float32)))
    25
    """
    if a.dtype.kind not in _KINDS:
        raise CodecError("ndarray", f"dtype {a.dtype} cannot travel on the bus")
    a = np.ascontiguousarray(a)
    dt = a.dtype.str.encode()
    shape = b"".join(_DIM.pack(n) for n in a.shape)
    return _HEAD.pack(len(dt), a.ndim) + dt + shape + a.tobytes()


def unpack_array(buf: bytes | memoryview) -> np.ndarray:
    """Inverse of :func:`pack_array`; checks that the sizes agree.

    >>> unpack_array(b"\\x03") # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode ndarray: truncated array header
    """
    mv = memoryview(buf)
    if len(mv) < _HEAD.size:
        raise CodecError("ndarray", "truncated array header")
    ndt, ndim = _HEAD.unpack_from(mv, 0)
    off = _HEAD.size
    end_head = off + ndt + ndim * _DIM.size
    if len(mv) < end_head:
        raise CodecError("ndarray", "truncated array header")
    try:
        dtype = np.dtype(bytes(mv[off : off + ndt]).decode())
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise CodecError("ndarray", f"bad dtype: {exc}") from None
    if dtype.kind not in _KINDS:
        raise CodecError("ndarray", f"dtype {dtype} cannot travel on the bus")
    off += ndt
    shape = tuple(_DIM.unpack_from(mv, off + k * _DIM.size)[0] for k in range(ndim))
    count = int(np.prod(shape, dtype=np.uint64)) if shape else 1
    body = mv[end_head:]
    if len(body) != count * dtype.itemsize:
        raise CodecError("ndarray", f"{len(body)} data bytes for shape {shape} of {dtype}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).copy()


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
        if isinstance(obj, np.ndarray):
            return obj
        if isinstance(obj, list):
            arr = np.asarray(obj, dtype=np.float64)
            return arr
    raise NotImplementedError(f"cannot decode {type(obj).__name__} as {typ.__name__}")


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
