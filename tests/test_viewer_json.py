"""Viewer JSON (stream/viewer_json.py): schemas the viewers' parser takes, values that match, lossless back.

``parser_problems`` walks a schema with the rules of the jsonschema parser in Lichtblick's and
Foxglove's mcap-support (``parseJsonSchema``): an object has ``properties``; every property has
one ``type`` of boolean, string, number, integer, object or array (or is an enum: ``oneOf``
numeric ``const`` alternatives); an array's ``items`` is typed and is not itself an array; no
other ``anyOf``, ``oneOf``, ``allOf`` or ``$ref``. The log tests
(tests/test_viewer_logs.py) run it on every channel of the files written. ``decoded(rec)`` is a
record's message as plain data, whatever its encoding: JSON, or protobuf decoded with the
FileDescriptorSet of its schema (the ``protobuf`` package; field names as in the .proto).
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import jsonschema
import jsonschema.validators
import msgspec
import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message as ProtoMessage
from test_logs_fixture import expected
from test_messages import SAMPLES

from causalstream.stream.errors import CodecError
from causalstream.stream.messages import MESSAGE_TYPES, AgentStates, CausalGraph, Clock, Features, Message
from causalstream.stream.viewer_json import from_viewer, schema_name, to_viewer, viewer_schema

_TYPES = {"boolean", "string", "number", "integer", "object", "array"}


@functools.cache
def protobuf_class(name: str, schema: bytes) -> type[ProtoMessage]:
    """The message class of ``name`` in a FileDescriptorSet (a protobuf channel's schema)."""
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(schema).file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def _plain(msg: ProtoMessage) -> dict[str, Any]:
    """Every field of a protobuf message (defaults too, a message field only when set) as plain data."""
    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        v = getattr(msg, fd.name)
        repeated = fd.is_repeated
        if fd.message_type is None:
            out[fd.name] = list(v) if repeated else v
        elif repeated:
            out[fd.name] = [_plain(x) for x in v]
        elif msg.HasField(fd.name):
            out[fd.name] = _plain(v)
    return out


def decoded(rec: Any) -> dict[str, Any]:
    """A viewer record's (or an MCAP message's, given its schema) message as plain data."""
    if rec.message_encoding == "json":
        return json.loads(rec.data)
    assert (rec.schema_encoding, rec.message_encoding) == ("protobuf", "protobuf"), rec.schema_encoding
    cls = protobuf_class(rec.schema_name, bytes(rec.schema_data))
    return _plain(cls.FromString(bytes(rec.data)))


def parser_problems(schema: dict[str, Any], path: str = "") -> list[str]:
    """What the viewers' JSON Schema parser would refuse in ``schema`` (empty: it parses)."""
    out = [f"{path or '/'}: {k}" for k in ("anyOf", "oneOf", "allOf", "$ref") if k in schema]
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return [*out, f"{path or '/'}: not an object with properties ({schema.get('type')!r})"]
    for name, prop in schema["properties"].items():
        where = f"{path}/{name}"
        alternatives = prop.get("oneOf")
        if isinstance(alternatives, list) and all(isinstance(a.get("const"), (int, float)) for a in alternatives):
            continue  # an enum: the one oneOf the parser takes (numbers, as uint32 constants)
        out += [f"{where}: {k}" for k in ("anyOf", "oneOf", "allOf", "$ref") if k in prop]
        kind = prop.get("type")
        if kind not in _TYPES:
            out.append(f"{where}: unsupported type {kind!r}")
        elif kind == "object":
            out += parser_problems(prop, where)
        elif kind == "string" and prop.get("contentEncoding") not in (None, "base64"):
            out.append(f"{where}: contentEncoding {prop['contentEncoding']!r}")
        elif kind == "array":
            items = prop.get("items")
            if not isinstance(items, dict) or items.get("type") not in _TYPES - {"array"}:
                out.append(f"{where}: array items {None if items is None else items.get('type')!r}")
            elif items["type"] == "object":
                out += parser_problems(items, where + "[]")
            elif items.get("contentEncoding") is not None:
                out.append(f"{where}: array items with contentEncoding")
    return out


def validate(doc: Any, schema: dict[str, Any]) -> None:
    """jsonschema validation, where null also stands for a number: NaN (JSON has no NaN)."""
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "number", lambda c, x: x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)))
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)
    cls.check_schema(schema)
    cls(schema).validate(doc)


def same_values(a: Any, b: Any) -> bool:
    """Equal field by field; arrays by shape and value (NaN where NaN, float32 equal to its float64)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))
    if isinstance(a, msgspec.Struct):
        return type(a) is type(b) and all(same_values(getattr(a, f), getattr(b, f)) for f in a.__struct_fields__)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


def _all_messages() -> list[Message]:
    return list(SAMPLES.values()) + [m for _, _, m in expected()]


def test_the_checks_can_fail() -> None:
    assert parser_problems({"type": "object", "properties": {"a": {"type": "array"}}}) == ["/a: array items None"]
    assert parser_problems({"type": "object", "properties": {"g": {"anyOf": [{"type": "array"}, {"type": "null"}]}}})
    nested = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    assert parser_problems({"type": "object", "properties": {"v": nested}}) == ["/v: array items 'array'"]
    assert parser_problems({"type": "object", "properties": {"e": {"type": "array", "items": {"$ref": "#/x"}}}})
    enum = {"oneOf": [{"title": "A", "const": 0}, {"title": "B", "const": 1}]}
    assert parser_problems({"type": "object", "properties": {"kind": enum}}) == []
    assert parser_problems({"type": "object", "properties": {"kind": {"oneOf": [{"const": "a"}]}}})
    assert not same_values(Features(names=["a"], values=np.array([np.nan])), Features(names=["a"], values=np.zeros(1)))
    with pytest.raises(jsonschema.ValidationError):
        validate({"stamp": {"sec": 1}}, viewer_schema(Clock))


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_every_schema_passes_the_viewer_parser_rules(type_name: str) -> None:
    schema = viewer_schema(MESSAGE_TYPES[type_name])
    assert parser_problems(schema) == []
    assert schema["title"] == schema_name(MESSAGE_TYPES[type_name]) == f"causalstream.{type_name}"


def test_every_message_type_round_trips_through_json_text() -> None:
    seen = set()
    for msg in _all_messages():
        cls = type(msg)
        doc = to_viewer(msg)
        text = json.dumps(doc, allow_nan=False)  # JSON-ready: no NaN / Infinity tokens
        validate(json.loads(text), viewer_schema(cls))
        back = from_viewer(cls, json.loads(text))
        assert same_values(msg, back), (cls.__name__, msg, back)
        seen.add(cls.__name__)
    assert seen == set(MESSAGE_TYPES)


def test_time_is_sec_nsec_exact_beyond_2_53() -> None:
    stamp = 1_764_825_600_123_456_789  # > 2^53: a float64 (a JavaScript number) would round it
    assert float(stamp) != stamp
    doc = to_viewer(Clock(stamp_ns=stamp))
    assert doc == {"stamp": {"sec": 1_764_825_600, "nsec": 123_456_789}}
    assert from_viewer(Clock, doc).stamp_ns == stamp


def test_arrays_are_flat_with_their_shape_and_nan_inf_come_back() -> None:
    g = SAMPLES["CausalGraph"]
    doc = to_viewer(g)
    assert doc["val_shape"] == list(g.val.shape) and len(doc["val"]) == g.val.size
    assert doc["graph_shape"] == list(g.val.shape) and doc["graph"] == [m for r in g.graph for c in r for m in c]
    assert None in doc["val"]  # the sample's NaN
    f = Features(names=["a", "b", "c"], values=np.array([np.inf, -np.inf, np.nan]))
    back = from_viewer(Features, json.loads(json.dumps(to_viewer(f), allow_nan=False)))
    assert back.values[0] == np.inf and back.values[1] == -np.inf and np.isnan(back.values[2])


def test_a_none_field_is_left_out_and_its_schema_keeps_its_type() -> None:
    s = AgentStates(ids=["a"], roles=["r"], x=np.zeros(1), y=np.zeros(1), vx=np.zeros(1), vy=np.ones(1))
    s.goal = None  # what a struct built without __post_init__ (msgspec.structs.replace) could hold
    doc = to_viewer(s)
    assert "goal" not in doc and "goal_shape" not in doc
    props = viewer_schema(AgentStates)["properties"]
    assert props["goal"] == {"type": "array", "items": {"type": "number"}}
    assert "goal" not in viewer_schema(AgentStates)["required"]
    assert from_viewer(AgentStates, doc).goal.shape == (1, 2)  # the default again: NaN goals


def test_the_schema_follows_new_struct_fields() -> None:
    class Probe(Message, kw_only=True):
        window_ns: int = 0
        grid: list[list[int]] = []
        extra: dict[str, float] = {}
        mixed: int | str = 0

    props = viewer_schema(Probe)["properties"]
    assert set(props) == {"stamp", "window", "grid", "grid_shape", "extra", "mixed"}
    assert parser_problems(viewer_schema(Probe)) == []
    msg = Probe(stamp_ns=1, window_ns=2, grid=[[1, 2, 3], [4, 5, 6]], extra={"k": 0.5}, mixed="x")
    back = from_viewer(Probe, json.loads(json.dumps(to_viewer(msg))))
    assert same_values(back, msg)


def test_bad_viewer_json_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="CausalGraph"):
        from_viewer(CausalGraph, {"names": ["a"]})
    with pytest.raises(CodecError, match="Features"):
        from_viewer(Features, {"names": ["a", "b"], "values": [1.0], "values_shape": [1]})
