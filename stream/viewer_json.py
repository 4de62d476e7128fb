"""Messages as JSON that Foxglove and Lichtblick decode: the schema, the value, the inverse.

The viewers read a ``json`` channel through its ``jsonschema`` schema, and their schema parser
takes little: every property has one ``type`` (boolean, string, number, integer, object,
array), every array has typed ``items`` that are not arrays, no ``anyOf`` / ``oneOf`` /
``$ref``. So the shape is derived here from each struct's msgspec fields (no hand list per
type), with these rules:

- an int field named ``*_ns`` is a time: key without ``_ns``, value ``{"sec", "nsec"}``
  (a stamp above 2^53 ns would round in JavaScript);
- a numpy array is its flat values plus ``<key>_shape`` beside them; so is a nested list;
- ``X | None``: X's schema; a None value leaves the key out of the JSON;
- a dict is a list of ``{"key", "value"}``; another union (or ``Any``) travels as JSON text;
- NaN is ``null`` (JSON has no NaN), +-inf is +-DBL_MAX; both come back on the way in.

:func:`from_viewer` inverts :func:`to_viewer` (values exact; array dtypes come back float64).

>>> import numpy as np
>>> from causalstream.stream.messages import Features
>>> msg = Features(stamp_ns=3_000_000_001, names=["a", "b"], values=np.array([1.5, np.nan]))
>>> to_viewer(msg)
{'stamp': {'sec': 3, 'nsec': 1}, 'names': ['a', 'b'], 'values': [1.5, None], 'values_shape': [2]}
>>> back = from_viewer(Features, to_viewer(msg))
>>> back.stamp_ns, back.values.tolist()
(3000000001, [1.5, nan])
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import msgspec
import msgspec.inspect as mi
import numpy as np

from causalstream.stream.errors import CodecError
from causalstream.stream.messages import Message

__all__ = ["MESSAGE_ENCODING", "SCHEMA_ENCODING", "from_viewer", "schema_name", "to_viewer", "viewer_schema"]

MESSAGE_ENCODING = "json"
SCHEMA_ENCODING = "jsonschema"
_NS = 1_000_000_000
_BIG = sys.float_info.max
_TIME_SCHEMA = {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}},
                "required": ["sec", "nsec"], "additionalProperties": False}
_SCALARS: dict[type, dict[str, Any]] = {
    mi.IntType: {"type": "integer"}, mi.FloatType: {"type": "number"}, mi.BoolType: {"type": "boolean"},
    mi.StrType: {"type": "string"}, mi.BytesType: {"type": "string", "contentEncoding": "base64"},
}
_SHAPE = {"type": "array", "items": {"type": "integer"}}

Out = Callable[[Any], Any]


class _Field(NamedTuple):
    """One struct field: its JSON key(s), its schema properties, and the two conversions."""

    attr: str  # the Python attribute
    wire: str  # msgspec's encode name (what msgspec.convert reads)
    key: str  # the viewer JSON key
    props: dict[str, dict[str, Any]]  # key (and key_shape) -> schema
    required: bool  # always present in the JSON (False: X | None, left out when None)
    out: Callable[[Any, dict[str, Any]], None]  # value -> writes into the JSON object
    back: Callable[[dict[str, Any]], Any]  # JSON object -> builtins for msgspec.convert (or _MISSING)


_MISSING = object()


def _float_out(v: float) -> float | None:
    if math.isfinite(v):
        return v
    return None if math.isnan(v) else math.copysign(_BIG, v)


def _float_back(v: float | None) -> float:
    if v is None:
        return math.nan
    return math.copysign(math.inf, v) if abs(v) == _BIG else float(v)


def _array_out(a: Any) -> tuple[list[Any], list[int]]:
    arr = a if type(a) is np.ndarray else np.asarray(a)
    values = arr.ravel().tolist()
    if arr.dtype.kind == "f":
        # a sum is finite iff every value is (or it overflowed: then the slow path is merely slower)
        finite = math.isfinite(sum(values)) if len(values) <= 512 else bool(np.isfinite(arr).all())
        if not finite:
            values = [v if math.isfinite(v) else _float_out(v) for v in values]
    return values, list(arr.shape)


def _array_back(values: list[Any], shape: list[int]) -> np.ndarray:
    flat = np.array(values, dtype=np.float64)  # None -> NaN
    big = np.abs(flat) == _BIG
    if big.any():
        flat[big] = np.copysign(np.inf, flat[big])
    return flat.reshape(shape)


def _nesting(t: Any) -> tuple[int, Any]:
    """How many list levels wrap the leaf type (``list[list[str]]`` -> (2, str))."""
    depth = 0
    while isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        depth, t = depth + 1, t.item_type
    return depth, t


def _flatten(v: Any, depth: int) -> tuple[list[Any], list[int]]:
    """Nested lists -> (leaves row-major, shape); the shape stops at the first empty level."""
    shape: list[int] = []
    level = v
    for _ in range(depth):
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    flat = list(v)
    for d in range(1, len(shape)):
        if any(len(x) != shape[d] for x in flat):
            raise ValueError(f"ragged nested list (want shape {shape})")
        flat = [y for x in flat for y in x]
    return flat, shape


def _unflatten(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) <= 1 or 0 in shape:
        return list(flat) if len(shape) == 1 or not flat else []
    out: list[Any] = flat
    for n in reversed(shape[1:]):
        out = [out[i:i + n] for i in range(0, len(out), n)]
    return out


class _Leaf(NamedTuple):
    schema: dict[str, Any]
    out: Out
    back: Out


def _ident(v: Any) -> Any:
    return v


def _json_text_leaf() -> _Leaf:
    return _Leaf({"type": "string", "description": "JSON text"},
                 lambda v: json.dumps(msgspec.to_builtins(v), sort_keys=True), json.loads)


def _leaf(t: Any, owner: str) -> _Leaf:
    """A value that sits in one place of the JSON (a property or an array item)."""
    if isinstance(t, mi.FloatType):
        return _Leaf({"type": "number"}, _float_out, _float_back)
    if isinstance(t, mi.BytesType):
        return _Leaf(dict(_SCALARS[mi.BytesType]), lambda v: msgspec.to_builtins(v), _ident)
    if type(t) in _SCALARS:
        return _Leaf(dict(_SCALARS[type(t)]), _ident, _ident)
    if isinstance(t, mi.StructType):
        return _struct_leaf(t.cls)
    if isinstance(t, mi.DictType):
        key, val = _leaf(t.key_type, owner), _leaf(t.value_type, owner)
        if key.schema.get("type") != "string" and key.schema.get("type") != "integer":
            key = _json_text_leaf()
        if val.schema.get("type") in (None, "array"):
            val = _json_text_leaf()
        schema = {"type": "array", "items": {
            "type": "object", "properties": {"key": key.schema, "value": val.schema},
            "required": ["key", "value"], "additionalProperties": False}}
        return _Leaf(schema, lambda d: [{"key": key.out(k), "value": val.out(x)} for k, x in d.items()],
                     lambda items: {key.back(e["key"]): val.back(e["value"]) for e in items})
    if isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        depth, inner = _nesting(t)
        item = _leaf(inner, owner)
        if depth == 1 and item.schema.get("type") != "array":
            return _Leaf({"type": "array", "items": item.schema}, lambda v: [item.out(x) for x in v],
                         lambda v: [item.back(x) for x in v])
    return _json_text_leaf()  # unions, Any, literals, nested lists inside lists: JSON text


def _struct_leaf(cls: type) -> _Leaf:
    fields = _fields(cls)
    return _Leaf(_object_schema(fields), lambda v: _write(fields, v), lambda o: _read(fields, o))


def _field(f: mi.Field, owner: str) -> _Field:
    t, required = f.type, True
    if isinstance(t, mi.UnionType) and any(isinstance(x, mi.NoneType) for x in t.types):
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(rest) == 1:
            t, required = rest[0], False
    name = f.name

    if isinstance(t, mi.IntType) and name.endswith("_ns"):
        key = name[:-3]

        def out_time(v: int, o: dict[str, Any]) -> None:
            o[key] = {"sec": v // _NS, "nsec": v % _NS}
        return _Field(name, f.encode_name, key, {key: dict(_TIME_SCHEMA)}, required, out_time,
                      lambda o: o[key]["sec"] * _NS + o[key]["nsec"] if key in o else _MISSING)

    shape_key = name + "_shape"
    if isinstance(t, mi.CustomType) and t.cls is np.ndarray:
        def out_array(v: Any, o: dict[str, Any]) -> None:
            o[name], o[shape_key] = _array_out(v)
        return _Field(name, f.encode_name, name, {name: {"type": "array", "items": {"type": "number"}},
                                                  shape_key: dict(_SHAPE)}, required, out_array,
                      lambda o: _array_back(o[name], o[shape_key]) if name in o else _MISSING)

    depth, inner = _nesting(t)
    if depth > 1:
        item = _leaf(inner, owner)
        if item.schema.get("type") != "array":
            def out_nested(v: Any, o: dict[str, Any]) -> None:
                flat, shape = _flatten(v, depth)
                o[name], o[shape_key] = [item.out(x) for x in flat], shape
            return _Field(name, f.encode_name, name, {name: {"type": "array", "items": item.schema},
                                                      shape_key: dict(_SHAPE)}, required, out_nested,
                          lambda o: (_unflatten([item.back(x) for x in o[name]], o[shape_key])
                                     if name in o else _MISSING))

    leaf = _leaf(t, owner)

    def out_leaf(v: Any, o: dict[str, Any]) -> None:
        o[name] = leaf.out(v)
    return _Field(name, f.encode_name, name, {name: leaf.schema}, required, out_leaf,
                  lambda o: leaf.back(o[name]) if name in o else _MISSING)


@cache
def _fields(cls: type) -> tuple[_Field, ...]:
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        raise CodecError(getattr(cls, "__name__", str(cls)), "not a msgspec struct")
    fields = tuple(_field(f, cls.__name__) for f in info.fields)
    keys = [k for f in fields for k in f.props]
    clash = sorted({k for k in keys if keys.count(k) > 1})
    if clash:
        raise CodecError(cls.__name__, f"viewer JSON keys collide: {', '.join(clash)}")
    return fields


def _object_schema(fields: tuple[_Field, ...]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        props.update(f.props)
        if f.required:
            required.extend(f.props)
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _write(fields: tuple[_Field, ...], msg: Any) -> dict[str, Any]:
    o: dict[str, Any] = {}
    for f in fields:
        v = getattr(msg, f.attr)
        if v is not None or f.required:
            f.out(v, o)
    return o


def _read(fields: tuple[_Field, ...], obj: dict[str, Any]) -> dict[str, Any]:
    data = {}
    for f in fields:
        v = f.back(obj)
        if v is not _MISSING:
            data[f.wire] = v
    return data


def schema_name(cls: type[Message]) -> str:
    """The schema (and channel type) name of a message type in the viewers.

    >>> from causalstream.stream.messages import AgentStates
    >>> schema_name(AgentStates)
    'causalstream.AgentStates'
    """
    return f"causalstream.{cls.__name__}"


@cache
def _schema(cls: type[Message]) -> dict[str, Any]:
    top = _object_schema(_fields(cls))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": schema_name(cls), **top}


def viewer_schema(cls: type[Message]) -> dict[str, Any]:
    """The JSON Schema of ``cls``'s viewer JSON (a fresh copy: callers may change it).

    >>> from causalstream.stream.messages import CausalGraph
    >>> s = viewer_schema(CausalGraph)["properties"]
    >>> s["graph"], s["graph_shape"]
    ({'type': 'array', 'items': {'type': 'string'}}, {'type': 'array', 'items': {'type': 'integer'}})
    >>> s["window_start"]["properties"]
    {'sec': {'type': 'integer'}, 'nsec': {'type': 'integer'}}
    """
    return json.loads(json.dumps(_schema(cls)))


def to_viewer(msg: Message) -> dict[str, Any]:
    """JSON-ready plain data of a message, matching :func:`viewer_schema`.

    >>> from causalstream.stream.messages import Clock
    >>> to_viewer(Clock(stamp_ns=1_500_000_000))
    {'stamp': {'sec': 1, 'nsec': 500000000}}
    """
    try:
        return _write(_fields(type(msg)), msg)
    except (TypeError, ValueError, AttributeError) as exc:
        raise CodecError(type(msg).__name__, f"cannot write viewer JSON: {exc}") from None


def _dec_hook(typ: type, obj: Any) -> Any:
    if typ is np.ndarray and isinstance(obj, np.ndarray):
        return obj
    raise TypeError(f"cannot decode {type(obj).__name__} as {typ.__name__}")


def from_viewer(cls: type[Message], obj: dict[str, Any]) -> Message:
    """The message that :func:`to_viewer` made ``obj`` from (its inverse); :class:`CodecError` if not one.

    >>> from causalstream.stream.messages import Clock
    >>> from_viewer(Clock, {"stamp": {"sec": 2, "nsec": 5}})
    Clock(stamp_ns=2000000005)
    >>> from_viewer(Clock, {"stamp": 7})
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.CodecError: cannot encode/decode Clock: not viewer JSON: ...
    """
    try:
        return msgspec.convert(_read(_fields(cls), obj), cls, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CodecError(cls.__name__, f"not viewer JSON: {type(exc).__name__}: {exc}") from None
