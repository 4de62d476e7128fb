"""Message <-> bytes: the frame and its envelope, the one payload layout, JSON.

**Frame.** ``topic`` + ``b"\\0"`` + envelope, the envelope a msgpack array
``[stamp_ns, seq, publisher, type, payload]``. The topic comes first so ZeroMQ's prefix
filter can match ``topic + b"\\0"`` exactly; the payload is decoded with the decoder that
the type name selects.

**Payload**, for every type: a msgpack map of the type's plain (non-array) fields by name
and, when it has arrays, one extension (code 3) under the key ``"~"`` holding all of them,
the block of codec_arrays.py. Fields and arrays go by name, so a field added with a default
leaves older payloads readable. Older payloads (logs written before 2026-12-03: an
extension for each array field, AgentStates as a row) still decode; nothing writes them.

>>> import numpy as np
>>> from causalstream.stream.messages import Features
>>> frame = encode_frame("/features", Features(stamp_ns=7, names=["a"], values=np.array([np.nan])), seq=3, publisher="p")
>>> env, msg = decode_frame(frame)
>>> env.topic, env.seq, env.type, msg.stamp_ns, bool(np.isnan(msg.values[0]))
('/features', 3, 'Features', 7, True)
"""

from __future__ import annotations

import json
import operator
from functools import cache
from typing import Any

import msgspec
import numpy as np

from causalstream.stream.codec_arrays import (
    EXT_BLOCK,
    MAX_CACHE,
    Plan,
    array_header,
    block_hook,
    old_row_hook,
    plan_block,
    write_block,
)
from causalstream.stream.errors import BadFrameError, CodecError, UnknownTypeError
from causalstream.stream.messages import MESSAGE_TYPES, Message

__all__ = [
    "BLOCK_KEY", "EXT_BLOCK", "SEP", "Envelope", "Layout", "array_header", "decode_frame", "decode_payload",
    "encode_frame", "encode_frame_into", "encode_payload", "encode_raw_frame", "from_builtins", "json_schema", "layout",
    "message_type", "split_frame", "to_builtins", "to_json",
]

SEP = b"\x00"
BLOCK_KEY = "~"


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
        self.heads: dict[tuple[Any, ...], Plan] = {}
        if self.arrays:
            self.decoder = msgspec.msgpack.Decoder(_twin(cls, self.arrays), ext_hook=block_hook, dec_hook=_dec_hook)
            plain_types = tuple(f.type for f in msgspec.structs.fields(cls) if f.name in self.plain)
            self.old_row_decoder = msgspec.msgpack.Decoder(tuple[(*plain_types, Any)], ext_hook=old_row_hook)
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
        plan = self.heads.get(key)
        if plan is None:
            plan = plan_block(self.arrays, arrays)
            if len(self.heads) < MAX_CACHE:
                self.heads[key] = plan
        return write_block(plan, arrays)


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
