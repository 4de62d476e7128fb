"""Message <-> bytes: the frame and its envelope, the one payload layout, numpy arrays, JSON.

**Frame.** ``topic`` + ``b"\\0"`` + envelope, the envelope a msgpack array
``[stamp_ns, seq, publisher, type, payload]``. The topic comes first so ZeroMQ's prefix
filter can match ``topic + b"\\0"`` exactly; the payload is decoded with the decoder that
the type name selects.

**Payload**, for every type: a msgpack map of the type's plain (non-array) fields by name
and, when it has arrays, one extension (code 3) under the key ``"~"`` holding all of them::

    u32 header length | header | data

The header has one entry per array present (an optional array that is None has none):
u8 name length, name, then the array header: u8 dtype-string length, u8 ndim, the dtype
string, ndim u64 dimensions. The data holds the arrays' bytes in C order, in header
order, each starting at a multiple of 8 bytes. Fields and arrays go by name, so a field
added with a default leaves older payloads readable. Same-shaped messages repeat the same
header, which is parsed once; every array is then a view of one fresh, writable copy of
the data (one ``np.frombuffer`` when the arrays share a dtype): no per-array hook.

**Older payloads** (logs written before 2026-12-03) still decode; nothing writes them any
more. They had an extension (code 1: array header, then bytes) for each array field of the
map, and AgentStates travelled as a row ``[plain fields..., block]`` whose block (code 2)
had unnamed entries, a zero byte for an absent array.

>>> import numpy as np
>>> from causalstream.stream.messages import Features
>>> frame = encode_frame("/features", Features(stamp_ns=7, names=["a"], values=np.array([np.nan])), seq=3, publisher="p")
>>> env, msg = decode_frame(frame)
>>> env.topic, env.seq, env.type, msg.stamp_ns, bool(np.isnan(msg.values[0]))
('/features', 3, 'Features', 7, True)
"""

from __future__ import annotations

import json
import math
import operator
import struct
from functools import cache, lru_cache
from typing import Any, NamedTuple

import msgspec
import numpy as np

from causalstream.stream.errors import BadFrameError, CodecError, UnknownTypeError
from causalstream.stream.messages import MESSAGE_TYPES, Message

__all__ = [
    "BLOCK_KEY", "EXT_BLOCK", "SEP", "Envelope", "Layout", "array_header", "decode_frame", "decode_payload",
    "encode_frame", "encode_frame_into", "encode_payload", "encode_raw_frame", "from_builtins", "json_schema", "layout",
    "message_type", "split_frame", "to_builtins", "to_json",
]

SEP = b"\x00"
EXT_BLOCK = 3  # the arrays of a payload
BLOCK_KEY = "~"
_EXT_OLD_ARRAY = 1  # older payloads: one array
_EXT_OLD_BLOCK = 2  # older payloads: a row's unnamed block
_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<BB")  # dtype-string length, ndim
_DIMS = [struct.Struct(f"<{n}Q") for n in range(33)]  # shapes of up to 32 dimensions (numpy's limit)
_KINDS = frozenset("biufc?")  # numeric and bool; object and void dtypes never travel
_ALIGN = 8
_SMALL = 4096  # below this many data bytes, joining the arrays' bytes beats writing into a buffer
_MAX_CACHE = 4096  # a stream of ever-new shapes stops caching, never grows without bound


class Envelope(msgspec.Struct, array_like=True):
    """Header of a frame. ``payload`` is the still-encoded message.

    >>> Envelope(1, 2, "pub", "Clock", msgspec.Raw(b"\\x80")).seq
    2
    """

    stamp_ns: int
    seq: int
    publisher: str
    type: str
    payload: msgspec.Raw
    topic: str = ""


# -- arrays -----------------------------------------------------------------------------


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
    if dtype.kind not in _KINDS:
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


_SPECS: dict[int, dict[bytes, _Spec]] = {EXT_BLOCK: {}, _EXT_OLD_ARRAY: {}, _EXT_OLD_BLOCK: {}}  # code -> header -> spec


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
        elif code == _EXT_OLD_BLOCK and head[i] == 0:  # an older block's absent array
            found.append(None)
            i += 1
            continue
        dtype, shape, i = _read_header(head, i)
        nbytes = math.prod(shape) * dtype.itemsize
        found.append((dtype, at, math.prod(shape), None if len(shape) == 1 else shape))
        at += nbytes if code == _EXT_OLD_ARRAY else _padded(nbytes)
        if code == _EXT_OLD_ARRAY:
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
    if len(_SPECS[code]) < _MAX_CACHE:
        _SPECS[code][head] = spec
    return spec


def _unpack(code: int, data: memoryview) -> tuple[tuple[str, ...], tuple[np.ndarray | None, ...]]:
    """Names and arrays of an extension (a block, or an older single array), each array a view
    of one fresh, writable copy of the data."""
    if code == _EXT_OLD_ARRAY:
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
    spec = _SPECS[code].get(head) or _parse(code, head, start)
    if len(data) - end != spec.size:
        raise CodecError("ndarray", f"block has {len(data) - end} data bytes, its header says {spec.size}")
    buf = bytearray(data[end:])
    if spec.dtype is not None:  # one array over the data, each field a slice (a view) of it
        whole = np.frombuffer(buf, spec.dtype, len(buf) // spec.dtype.itemsize)
        return spec.names, tuple([None if c is None else whole[c[0]] if c[1] is None else whole[c[0]].reshape(c[1])
                                  for c in spec.cuts])
    return spec.names, tuple([None if c is None else np.frombuffer(buf, c[0], c[2], c[1]) if c[3] is None
                              else np.frombuffer(buf, c[0], c[2], c[1]).reshape(c[3]) for c in spec.cuts])


def _block_hook(code: int, data: memoryview) -> Any:
    """Extensions of a payload map: the block as ``(names, arrays)``, an older array as itself."""
    if code == EXT_BLOCK:
        return _unpack(code, data)
    if code == _EXT_OLD_ARRAY:
        return _unpack(code, data)[1][0]
    raise CodecError("ndarray", f"unknown msgpack extension code {code}")


def _old_row_hook(code: int, data: memoryview) -> Any:
    """Extensions of an older row payload: its unnamed block as a tuple of arrays."""
    if code != _EXT_OLD_BLOCK:
        raise CodecError("ndarray", f"unknown msgpack extension code {code}")
    return _unpack(code, data)[1]


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__} (arrays travel only in array fields)")


def _dec_hook(typ: type, obj: Any) -> Any:
    """Arrays for ndarray fields: what the extension hook made, or (from JSON or YAML) nested lists."""
    if typ is np.ndarray:
        if isinstance(obj, np.ndarray):
            return obj
        if isinstance(obj, list):
            return np.asarray(obj, dtype=np.float64)
    raise TypeError(f"cannot decode {type(obj).__name__} as {typ.__name__}")  # msgspec adds the path


def _json_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _schema_hook(typ: type) -> dict[str, Any]:
    if typ is np.ndarray:
        return {"type": "array", "description": "numpy array, row-major nested lists"}
    raise NotImplementedError(f"no JSON schema for {typ.__name__}")


# -- the payload layout -----------------------------------------------------------------


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


def _twin(cls: type[Message], arrays: tuple[str, ...]) -> type[msgspec.Struct]:
    """The struct a payload map decodes into: the plain fields as ``cls`` has them, the block
    under ``"~"``, and each array field as an older payload carried it (an extension of its own)."""
    fields: list[tuple[Any, ...]] = []
    for f in msgspec.structs.fields(cls):
        if f.name in arrays:
            fields.append((f.name, np.ndarray | None, None))
        elif f.default is not msgspec.NODEFAULT:
            fields.append((f.name, f.type, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((f.name, f.type, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, f.type))
    fields.append(("arrays_block", Any, None))
    return msgspec.defstruct(f"{cls.__name__}Payload", fields, kw_only=True, rename={"arrays_block": BLOCK_KEY})


class Layout:
    """How one message type travels: its plain fields by name, then its arrays in one block.

    >>> from causalstream.stream.messages import AgentStates, Clock
    >>> layout(AgentStates).arrays, layout(Clock).arrays
    (('x', 'y', 'vx', 'vy', 'heading', 'goal'), ())
    """

    def __init__(self, cls: type[Message]) -> None:
        info = msgspec.inspect.type_info(cls)
        self.cls = cls
        self.plain = tuple(f.name for f in info.fields if not _is_array_field(f.type))
        self.arrays = tuple(f.name for f in info.fields if _is_array_field(f.type))
        self.plain_values = _getter(self.plain)
        self.array_values = _getter(self.arrays)
        self.heads: dict[tuple[Any, ...], tuple[bytes, tuple[int, ...], int]] = {}
        if self.arrays:
            self.decoder = msgspec.msgpack.Decoder(_twin(cls, self.arrays), ext_hook=_block_hook, dec_hook=_dec_hook)
            plain_types = tuple(f.type for f in msgspec.structs.fields(cls) if f.name in self.plain)
            self.old_row_decoder = msgspec.msgpack.Decoder(tuple[(*plain_types, Any)], ext_hook=_old_row_hook)
        else:
            self.decoder = msgspec.msgpack.Decoder(cls)

    def to_wire(self, msg: Message) -> Any:
        """What the encoder writes for ``msg``: the struct itself, or its plain fields and the block."""
        if not self.arrays:
            return msg
        try:
            block = self._block(self.array_values(msg))
        except AttributeError:  # a field set to a list or a number after construction
            kinds = sorted({type(a).__name__ for a in self.array_values(msg) if not isinstance(a, np.ndarray | None)})
            raise CodecError(self.cls.__name__, f"array fields must hold numpy arrays, not {', '.join(kinds)}") from None
        out = dict(zip(self.plain, self.plain_values(msg)))
        out[BLOCK_KEY] = msgspec.msgpack.Ext(EXT_BLOCK, block)
        return out

    def from_wire(self, payload: bytes | memoryview | msgspec.Raw) -> Message:
        """The message of ``payload``; raises msgspec or codec errors."""
        if not self.arrays:
            return self.decoder.decode(payload)
        first = memoryview(payload)[:1].tobytes()
        if first and (first[0] & 0xF0 == 0x90 or first[0] in (0xDC, 0xDD)):
            return self._from_old_row(payload)
        got = self.decoder.decode(payload)
        fields = dict(zip(self.plain, self.plain_values(got)))
        block = got.arrays_block
        if block is None:  # an older payload: each array under its own name
            fields.update((k, v) for k, v in zip(self.arrays, self.array_values(got)) if v is not None)
        elif type(block) is not tuple:
            raise CodecError(self.cls.__name__, f"{BLOCK_KEY!r} does not hold an array block")
        elif block[0] == self.arrays:
            fields.update(zip(*block))
        else:  # some optional arrays absent; a name the type does not have is skipped, as unknown keys are
            fields.update((k, v) for k, v in zip(*block) if k in self.arrays)
        return self.cls(**fields)

    def _from_old_row(self, payload: bytes | memoryview | msgspec.Raw) -> Message:
        row = self.old_row_decoder.decode(payload)
        block = row[-1]
        if type(block) is not tuple:
            raise CodecError(self.cls.__name__, "the last item is not an array block")
        if len(block) != len(self.arrays):
            raise CodecError(self.cls.__name__, f"block holds {len(block)} arrays, the type has {len(self.arrays)}")
        return self.cls(**dict(zip(self.plain + self.arrays, row[:-1] + block)))

    def _block(self, arrays: tuple[np.ndarray | None, ...]) -> bytes | bytearray:
        key = tuple([None if a is None else (a.dtype, a.shape) for a in arrays])
        known = self.heads.get(key)
        if known is None:
            known = self._plan(arrays)
            if len(self.heads) < _MAX_CACHE:
                self.heads[key] = known
        head, pads, total = known
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

    def _plan(self, arrays: tuple[np.ndarray | None, ...]) -> tuple[bytes, tuple[int, ...], int]:
        """Header (with its length prefix), the zero padding after each array, and the data size."""
        parts, pads, at = [], [], 0
        for name, a in zip(self.arrays, arrays):
            pads.append(0 if a is None else _padded(a.nbytes) - a.nbytes)
            if a is None:
                continue
            if a.dtype.kind not in _KINDS:
                raise CodecError("ndarray", f"dtype {a.dtype} cannot travel on the bus")
            parts.append(bytes([len(name)]) + name.encode() + array_header(a.dtype.str, a.shape))
            at += _padded(a.nbytes)
        head = b"".join(parts)
        return _U32.pack(len(head)) + head, tuple(pads), at


@cache
def layout(cls: type[Message]) -> Layout:
    """The (cached) :class:`Layout` of a message type.

    >>> from causalstream.stream.messages import Predictions
    >>> layout(Predictions).plain, layout(Predictions) is layout(Predictions)
    (('stamp_ns', 'agent_ids', 'model_id', 'latency_ms', 'scene_shift', 'fallback_policy'), True)
    """
    return Layout(cls)


# -- payloads and frames ----------------------------------------------------------------

_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_ENV_DECODER = msgspec.msgpack.Decoder(Envelope)
_JSON_ENCODER = msgspec.json.Encoder(enc_hook=_json_hook)
_FROM_WIRE: dict[str, Any] = {}  # type name -> its layout's decoder (two lookups fewer per message)


def message_type(type_name: str) -> type[Message]:
    """The message class registered under ``type_name``.

    >>> message_type("Features").__name__
    'Features'
    """
    try:
        return MESSAGE_TYPES[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None


def encode_payload(msg: Message) -> bytes:
    """msgpack bytes of one message, in the layout of the module docstring.

    >>> from causalstream.stream.messages import Clock
    >>> decode_payload("Clock", encode_payload(Clock(stamp_ns=3))).stamp_ns
    3
    """
    try:
        return _ENCODER.encode(layout(type(msg)).to_wire(msg))
    except (TypeError, NotImplementedError) as exc:
        raise CodecError(type(msg).__name__, str(exc)) from None


def decode_payload(type_name: str, payload: bytes | memoryview | msgspec.Raw) -> Message:
    """Decode and validate a payload of the named type (older layouts too).

    >>> decode_payload("Clock", b"\\x81\\xa8stamp_ns\\xa1x")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode Clock: Expected `int`, got `str` - at `$.stamp_ns`
    """
    from_wire = _FROM_WIRE.get(type_name)
    if from_wire is None:
        from_wire = _FROM_WIRE[type_name] = layout(message_type(type_name)).from_wire
    try:
        return from_wire(payload)
    except (msgspec.DecodeError, ValueError, TypeError, OverflowError, CodecError) as exc:
        raise CodecError(type_name, str(exc)) from None


def encode_frame(topic: str, msg: Message, seq: int, publisher: str, stamp_ns: int | None = None) -> bytes:
    """One frame for ``msg`` on ``topic``; ``stamp_ns`` defaults to the message's own stamp.

    >>> from causalstream.stream.messages import Clock
    >>> encode_frame("/clock", Clock(stamp_ns=1), 0, "p")[:7]
    b'/clock\\x00'
    """
    return bytes(encode_frame_into(bytearray(topic.encode() + SEP), msg, seq, publisher, stamp_ns))


def encode_frame_into(buf: bytearray, msg: Message, seq: int, publisher: str, stamp_ns: int | None = None) -> bytearray:
    """Encode the envelope after the topic prefix already in ``buf`` (one pass, no copies).

    The message is encoded in place as the envelope's last item, which is byte for byte what
    decoding reads back as the raw payload.

    >>> from causalstream.stream.messages import Clock
    >>> bytes(encode_frame_into(bytearray(b"/clock\\x00"), Clock(stamp_ns=1), 0, "p")) == encode_frame("/clock", Clock(stamp_ns=1), 0, "p")
    True
    """
    stamp = msg.stamp_ns if stamp_ns is None else stamp_ns
    try:
        _ENCODER.encode_into((stamp, seq, publisher, type(msg).__name__, layout(type(msg)).to_wire(msg)), buf, len(buf))
    except (TypeError, NotImplementedError) as exc:
        raise CodecError(type(msg).__name__, str(exc)) from None
    return buf


def encode_raw_frame(prefix: bytes, type_name: str, payload: bytes | msgspec.Raw, seq: int, publisher: str,
                     stamp_ns: int) -> bytes:
    """A frame for an already-encoded payload (replay: payloads go back on the bus as recorded).

    >>> from causalstream.stream.messages import Clock
    >>> frame = encode_raw_frame(b"/clock\\x00", "Clock", encode_payload(Clock(stamp_ns=1)), 0, "p", 1)
    >>> frame == encode_frame("/clock", Clock(stamp_ns=1), 0, "p")
    True
    """
    raw = payload if isinstance(payload, msgspec.Raw) else msgspec.Raw(payload)
    return prefix + _ENCODER.encode((stamp_ns, seq, publisher, type_name, raw))


def split_frame(frame: bytes | memoryview) -> tuple[str, Envelope]:
    """Topic and envelope of a frame, payload not yet decoded.

    >>> split_frame(b"no separator")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.BadFrameError: bad frame: no topic separator
    """
    raw = bytes(frame) if isinstance(frame, memoryview) else frame
    cut = raw.find(SEP)
    if cut <= 0:
        raise BadFrameError("no topic separator")
    try:
        topic = raw[:cut].decode()
    except UnicodeDecodeError:
        raise BadFrameError("topic is not UTF-8") from None
    try:
        env = _ENV_DECODER.decode(memoryview(raw)[cut + 1 :])
    except (msgspec.DecodeError, ValueError, TypeError, OverflowError) as exc:  # UnicodeDecodeError too
        raise BadFrameError(f"bad envelope: {exc}", topic) from None
    env.topic = topic
    return topic, env


def decode_frame(frame: bytes | memoryview, expect: type[Message] | None = None) -> tuple[Envelope, Message]:
    """Envelope and typed message of a frame; raises :class:`BadFrameError` on anything wrong.

    >>> from causalstream.stream.messages import Clock, Features
    >>> decode_frame(encode_frame("/clock", Clock(), 0, "p"), expect=Features)
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.BadFrameError: bad frame on /clock: type Clock where Features was expected
    """
    topic, env = split_frame(frame)
    if expect is not None and env.type != expect.__name__:
        raise BadFrameError(f"type {env.type} where {expect.__name__} was expected", topic)
    try:
        msg = decode_payload(env.type, env.payload)
    except (CodecError, UnknownTypeError) as exc:
        raise BadFrameError(str(exc), topic) from None
    return env, msg


# -- plain data and JSON ----------------------------------------------------------------


def to_builtins(msg: Message) -> Any:
    """Plain Python data (dicts, lists) for printing, JSON or YAML; arrays become lists.

    >>> from causalstream.stream.messages import Clock
    >>> to_builtins(Clock(stamp_ns=2))
    {'stamp_ns': 2}
    """
    return msgspec.to_builtins(msg, enc_hook=_json_hook)


def from_builtins(type_name: str, data: Any) -> Message:
    """Build a typed message from plain data (as ``topic pub`` reads it from YAML).

    >>> from_builtins("Features", {"names": ["a", "b"], "values": [1, 2]}).values.tolist()
    [1.0, 2.0]
    """
    cls = message_type(type_name)
    try:
        return msgspec.convert(data, cls, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise CodecError(type_name, str(exc)) from None


def to_json(msg: Message) -> bytes:
    """JSON bytes of a message; arrays as JSON arrays, NaN as null.

    >>> from causalstream.stream.messages import Clock
    >>> to_json(Clock(stamp_ns=2))
    b'{"stamp_ns":2}'
    """
    return _JSON_ENCODER.encode(msg)


@cache
def json_schema(type_name: str) -> str:
    """JSON Schema (draft 2020-12) of a message type, as a string, self-contained.

    >>> json.loads(json_schema("Features"))["type"]
    'object'
    """
    cls = message_type(type_name)
    raw = msgspec.json.schema(cls, schema_hook=_schema_hook)
    defs = raw.get("$defs", {})
    top = dict(defs[cls.__name__])
    rest = {k: v for k, v in defs.items() if k != cls.__name__}
    if rest:
        top["$defs"] = rest
    top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(top, sort_keys=True)
