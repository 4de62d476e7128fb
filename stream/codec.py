"""Envelope and frames: how a typed message becomes one ZeroMQ frame and back.

A frame is ``topic`` + ``b"\\0"`` + envelope, the envelope a msgpack array
``[stamp_ns, seq, publisher, type, payload]``. The topic comes first so ZeroMQ's prefix
filter can match ``topic + b"\\0"`` exactly; the payload is decoded with the typed decoder
that the type name selects.

>>> import numpy as np
>>> from causalstream.stream.messages import Features
>>> frame = encode_frame("/features", Features(stamp_ns=7, names=["a"], values=np.array([np.nan])), seq=3, publisher="p")
>>> env, msg = decode_frame(frame)
>>> env.topic, env.seq, env.type, msg.stamp_ns, bool(np.isnan(msg.values[0]))
('/features', 3, 'Features', 7, True)
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import msgspec

from causalstream.stream import wire
from causalstream.stream.arrays import dec_hook, enc_hook, json_enc_hook, schema_hook
from causalstream.stream.errors import BadFrameError, CodecError, UnknownTypeError
from causalstream.stream.messages import MESSAGE_TYPES, Message

SEP = b"\x00"

__all__ = [
    "SEP",
    "Envelope",
    "decode_frame",
    "decode_payload",
    "encode_frame",
    "encode_frame_into",
    "encode_payload",
    "json_schema",
    "to_builtins",
    "to_json",
    "from_builtins",
    "message_type",
    "split_frame",
]


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


_ENCODER = msgspec.msgpack.Encoder(enc_hook=enc_hook)
_ENV_DECODER = msgspec.msgpack.Decoder(Envelope)
_JSON_ENCODER = msgspec.json.Encoder(enc_hook=json_enc_hook)
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
    """msgpack bytes of one message (arrays as raw bytes; the layout is ``stream/wire.py``'s).

    >>> from causalstream.stream.messages import Clock
    >>> decode_payload("Clock", encode_payload(Clock(stamp_ns=3))).stamp_ns
    3
    """
    try:
        return _ENCODER.encode(wire.layout(type(msg)).to_wire(msg))
    except (TypeError, NotImplementedError) as exc:
        raise CodecError(type(msg).__name__, str(exc)) from None


def decode_payload(type_name: str, payload: bytes | memoryview) -> Message:
    """Decode and validate a payload of the named type.

    >>> decode_payload("Clock", b"\\x81\\xa8stamp_ns\\xa1x")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode Clock: Expected `int`, got `str` - at `$.stamp_ns`
    """
    from_wire = _FROM_WIRE.get(type_name)
    if from_wire is None:
        from_wire = _FROM_WIRE[type_name] = wire.layout(message_type(type_name)).from_wire
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
        _ENCODER.encode_into((stamp, seq, publisher, type(msg).__name__, wire.layout(type(msg)).to_wire(msg)), buf, len(buf))
    except (TypeError, NotImplementedError) as exc:
        raise CodecError(type(msg).__name__, str(exc)) from None
    return buf


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


def to_builtins(msg: Message) -> Any:
    """Plain Python data (dicts, lists) for printing, JSON or YAML; arrays become lists.

    >>> from causalstream.stream.messages import Clock
    >>> to_builtins(Clock(stamp_ns=2))
    {'stamp_ns': 2}
    """
    return msgspec.to_builtins(msg, enc_hook=json_enc_hook)


def from_builtins(type_name: str, data: Any) -> Message:
    """Build a typed message from plain data (as ``topic pub`` reads it from YAML).

    >>> from_builtins("Features", {"names": ["a", "b"], "values": [1, 2]}).values.tolist()
    [1.0, 2.0]
    """
    cls = message_type(type_name)
    try:
        return msgspec.convert(data, cls, dec_hook=dec_hook)
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
    raw = msgspec.json.schema(cls, schema_hook=schema_hook)
    defs = raw.get("$defs", {})
    top = dict(defs[cls.__name__])
    rest = {k: v for k, v in defs.items() if k != cls.__name__}
    if rest:
        top["$defs"] = rest
    top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(top, sort_keys=True)
