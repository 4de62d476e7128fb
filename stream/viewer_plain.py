"""Plain JSON for a message the view cannot map: its fields as they are, a schema from its first value.

The live view maps each message through ``viewer_channels.py`` (and ``viewer_json.py``); a
user's own message type can defeat that (field names that collide with a shape or time key, a
field of a type msgspec does not know, a ragged nested list). Such a message is still shown:
:class:`PlainJson` turns it into plain JSON (``msgspec.to_builtins``; numpy arrays as lists, an
object msgspec cannot encode as its ``str``, an int ``*_ns`` as ``{sec, nsec}``, NaN as null)
and derives the channel's JSON Schema once, from the first message of the topic, by the rules
the viewers' parser takes: every property typed, arrays with typed items that are not arrays.
What the first value cannot type (a None, a nested or mixed list) is typed as JSON text, a
string; later messages are fitted to that schema, so every message matches it.

>>> rec = PlainJson().record("/mine", {"stamp_ns": 1_000_000_002, "xy": [[1, 2]], "tag": None})
>>> rec.schema_name, rec.data
('causalstream.plain./mine', b'{"stamp":{"sec":1,"nsec":2},"xy":"[[1,2]]","tag":null}')
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from causalstream.stream.viewer_channels import ViewerRecord
from causalstream.stream.viewer_json import MESSAGE_ENCODING, SCHEMA_ENCODING

__all__ = ["PlainJson", "plain_value"]

_NS = 1_000_000_000
_TEXT = {"type": "string", "description": "JSON text"}
_JSON = msgspec.json.Encoder()
_TEXT_JSON = msgspec.json.Encoder(order="sorted")  # JSON text inside a message: NaN as null, keys sorted


def _hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)  # a type msgspec does not know: its text, never a failure


def plain_value(msg: Any) -> Any:
    """``msg`` as plain data: ``msgspec.to_builtins``, arrays as lists, an int ``*_ns`` key as ``{sec, nsec}``.

    >>> plain_value({"t_ns": 3_000_000_001, "v": np.array([0.5])})
    {'t': {'sec': 3, 'nsec': 1}, 'v': [0.5]}
    """
    return _times(msgspec.to_builtins(msg, enc_hook=_hook))


def _times(v: Any) -> Any:
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            key = str(k)
            if key.endswith("_ns") and type(x) is int and key[:-3] not in v:
                out[key[:-3]] = {"sec": x // _NS, "nsec": x % _NS}
            else:
                out[key] = _times(x)
        return out
    if isinstance(v, list):
        return [_times(x) for x in v]
    return v


def _schema_of(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"type": "boolean"}
    if isinstance(v, int):
        return {"type": "integer"}
    if isinstance(v, float):
        return {"type": "number"}
    if isinstance(v, str):
        return {"type": "string"}
    if isinstance(v, dict):
        return {"type": "object", "properties": {k: _schema_of(x) for k, x in v.items()}}
    if isinstance(v, list):
        kinds = [_schema_of(x) for x in v if x is not None]
        types = {k["type"] for k in kinds}
        if types == {"integer", "number"}:
            return {"type": "array", "items": {"type": "number"}}
        if len(types) == 1 and "array" not in types and (types != {"object"} or all(k == kinds[0] for k in kinds)):
            return {"type": "array", "items": kinds[0]}
    return dict(_TEXT)  # None, an empty, nested or mixed list: JSON text


def _fit(schema: dict[str, Any], v: Any) -> Any:
    """``v`` made to match ``schema`` (derived from an earlier value): what does not fit is null or JSON text."""
    if v is None:
        return None
    kind = schema["type"]
    if kind == "object":
        props = schema["properties"]
        return {k: _fit(props[k], x) for k, x in v.items() if k in props} if isinstance(v, dict) else None
    if kind == "array":
        return [_fit(schema["items"], x) for x in v] if isinstance(v, list) else None
    if kind == "string":
        return _TEXT_JSON.encode(v).decode() if "description" in schema or not isinstance(v, str) else v
    if isinstance(v, bool) != (kind == "boolean"):
        return None
    if kind == "number":
        return float(v) if isinstance(v, (int, float)) else None
    return v if isinstance(v, int) else None


class PlainJson:
    """Plain-JSON records, one schema per topic, derived from its first message (module doc).

    >>> from causalstream.stream.messages import Clock
    >>> plain = PlainJson()
    >>> plain.record("/t", Clock(stamp_ns=5)).schema_data
    b'{"title":"causalstream.plain./t","type":"object","properties":{"stamp":{"type":"object","properties":{"sec":{"type":"integer"},"nsec":{"type":"integer"}}}}}'
    """

    def __init__(self) -> None:
        self._schemas: dict[str, tuple[dict[str, Any], bytes]] = {}

    def record(self, topic: str, msg: Any) -> ViewerRecord:
        """One message of ``topic`` as a plain-JSON :class:`ViewerRecord` (its schema fixed by the topic's first)."""
        value = plain_value(msg)
        if not isinstance(value, dict):
            value = {"value": value}
        known = self._schemas.get(topic)
        if known is None:
            schema = {"title": f"causalstream.plain.{topic}", "type": "object",
                      "properties": {k: _schema_of(x) for k, x in value.items()}}
            known = self._schemas[topic] = (schema, _JSON.encode(schema))
        stamp = getattr(msg, "stamp_ns", 0)
        return ViewerRecord(topic, known[0]["title"], SCHEMA_ENCODING, known[1], MESSAGE_ENCODING,
                            _JSON.encode(_fit(known[0], value)), stamp if isinstance(stamp, int) else 0)
