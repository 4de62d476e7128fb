"""The launch file schema (pydantic), and pydantic errors turned into ``FILE:LINE: FIELD: reason``.

>>> f = LaunchFile.model_validate({"nodes": [{"name": "t", "kind": "talker", "respawn_delay": "0.2"}]})
>>> f.nodes[0].respawn_delay, f.nodes[0].required
(0.2, False)
>>> check(LaunchFile, {"nodes": [{"name": "t", "kind": "talker", "respawn_delay": -1}]}, "a.yaml",
...       {("nodes", 0, "respawn_delay"): 7})
Traceback (most recent call last):
...
causalstream.nodes.errors.LaunchError: a.yaml:7: nodes[0].respawn_delay: Input should be greater than or equal to 0
"""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from causalstream.nodes.errors import LaunchError
from causalstream.nodes.launch_yaml import KeyPath, Lines, field_name, line_of
from causalstream.nodes.names import NAME_RE, is_valid_topic
from causalstream.stream import Endpoints
from causalstream.stream.bus.security import is_loopback
from causalstream.stream.errors import BusError

__all__ = ["ArgDecl", "ArgsOnly", "BusSection", "Conditional", "IncludeEntry", "LaunchFile", "NodeEntry", "check"]

_NAMESPACE_RE = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?/?$")
_Strict = ConfigDict(extra="forbid")


def _namespace(value: str) -> str:
    if not _NAMESPACE_RE.match(value):
        raise ValueError(f"{value!r} is not a namespace (segments of letters, digits and '_', joined by '/')")
    return value


class BusSection(BaseModel):
    """``bus:``: the endpoint, whether the launcher starts the broker, and its CURVE keys.

    ``start: false`` uses a broker already running. ``keys`` (the broker's ``.key_secret``)
    and ``allowed_keys`` (a directory of client ``.key`` files) turn CURVE on, as
    ``causalstream bus --keys --allowed-keys`` does; paths are relative to the launch file.
    ``insecure: true`` allows binding beyond loopback without keys. ``client_key`` (this
    host's ``.key_secret``) and ``server_key`` (the broker's ``.key``) are the CURVE keys the
    nodes use as clients; the launcher exports them as ``CAUSALSTREAM_CLIENT_KEY`` and
    ``CAUSALSTREAM_SERVER_KEY`` (a node's own ``env`` wins).

    >>> BusSection.model_validate("tcp://127.0.0.1:9000").endpoint
    'tcp://127.0.0.1:9000'
    >>> BusSection(client_key="k/robot.key_secret", server_key="k/broker.key").start
    True
    """

    model_config = _Strict
    endpoint: str | None = None
    start: bool = True
    keys: str | None = None
    allowed_keys: str | None = None
    insecure: bool = False
    client_key: str | None = None
    server_key: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"endpoint": data} if isinstance(data, str) else data

    @field_validator("endpoint")
    @classmethod
    def _parse(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Endpoints.parse(value)
            except BusError as exc:
                raise ValueError(exc.reason) from None
        return value

    @model_validator(mode="after")
    def _keys_and_exposure(self) -> BusSection:
        if (self.keys is None) != (self.allowed_keys is None):
            raise ValueError("CURVE needs both keys (the broker's .key_secret) and allowed_keys (a directory)")
        if (self.client_key is None) != (self.server_key is None):
            raise ValueError("CURVE clients need both client_key (a .key_secret) and server_key (the broker's .key)")
        exposed = [ep for ep in Endpoints.parse(self.endpoint) if not is_loopback(ep)] if self.endpoint else []
        if exposed and self.start and self.keys is None and not self.insecure:
            raise ValueError(f"{exposed[0]} is beyond loopback: give keys and allowed_keys (CURVE), or insecure: true")
        return self


class ArgDecl(BaseModel):
    """One launch argument; written ``name: DEFAULT`` or ``name: {default: ..., description: ...}``.

    No ``default`` key means the argument must be given (``name:=value``).

    >>> ArgDecl.model_validate(5).default, ArgDecl.model_validate({"description": "x"}).required
    (5, True)
    """

    model_config = _Strict
    default: Any = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"default": data}

    @property
    def required(self) -> bool:
        """True when no default was written."""
        return "default" not in self.model_fields_set


class ArgsOnly(BaseModel):
    """The ``args`` section alone, checked before substitution (the rest is checked after).

    >>> ArgsOnly.model_validate({"args": {"rate": 10}}).args["rate"].default
    10
    """

    model_config = ConfigDict(extra="allow")
    args: dict[str, ArgDecl] = {}

    @field_validator("args")
    @classmethod
    def _names(cls, value: dict[str, ArgDecl]) -> dict[str, ArgDecl]:
        for name in value:
            if not NAME_RE.match(name):
                raise ValueError(f"arg name {name!r} is not letters, digits and '_'")
        return value


def _condition(value: Any) -> bool:
    """A condition's value as ROS 2 reads it: true, false, 1 or 0 in any case (YAML's booleans too)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"{value!r} is not a condition (true, false, 1 or 0)")


class Conditional(BaseModel):
    """``if:`` / ``unless:`` of a node or an include, as in ROS 2; read after ``$(arg ...)`` substitution.

    An entry whose ``if`` is false, or whose ``unless`` is true, is left out: not checked
    further, not started (an include's file is not even read).

    >>> [Conditional.model_validate({"if": v}).active for v in ("True", 1, " false ", "0")]
    [True, True, False, False]
    >>> Conditional.model_validate({"unless": True}).active
    False
    >>> check(Conditional, {"if": "yes"}, "a.yaml", {("if",): 3})
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: a.yaml:3: if: 'yes' is not a condition (true, false, 1 or 0)
    """

    model_config = _Strict
    if_: bool | None = Field(None, alias="if")
    unless: bool | None = None

    @field_validator("if_", "unless", mode="before")
    @classmethod
    def _read(cls, value: Any) -> Any:
        return value if value is None else _condition(value)

    @field_validator("unless")
    @classmethod
    def _not_both(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("if_") is not None:
            raise ValueError("give if or unless, not both (as in ROS 2)")
        return value

    @property
    def active(self) -> bool:
        """False when the condition leaves this entry out."""
        return self.if_ is not False and self.unless is not True


class IncludeEntry(Conditional):
    """``include:`` item: another launch file (relative to this one), its args, a namespace for its nodes.

    >>> IncludeEntry(file="talker.yaml").namespace
    ''
    """

    model_config = _Strict
    file: str = Field(min_length=1)
    args: dict[str, Any] = {}
    namespace: str = ""

    _ns = field_validator("namespace")(_namespace)


class NodeEntry(Conditional):
    """``nodes:`` item: one node process and how the launcher supervises it.

    ``container: NAME`` runs the node in the process of every node with the same container
    name (nodes/container.py); ``""`` (the default) in a process of its own.

    >>> NodeEntry(name="t", kind="talker", remap=["in:=/chatter"]).remap
    {'in': '/chatter'}
    >>> check(NodeEntry, {"name": "t", "kind": "talker", "container": "my box"}, "a.yaml", {("container",): 4})
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: a.yaml:4: container: 'my box' is not a container name (letters, digits and '_')
    """

    model_config = _Strict
    name: str = Field(pattern=NAME_RE.pattern)
    kind: str = Field(min_length=1)
    namespace: str = ""
    params: dict[str, Any] = {}
    remap: dict[str, str] = {}
    respawn: bool = False
    respawn_delay: float = Field(0.5, ge=0)
    respawn_max_retries: int | None = Field(None, ge=0)
    required: bool = False
    env: dict[str, str] = {}
    container: str = ""

    _ns = field_validator("namespace")(_namespace)

    @field_validator("container")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if value and not NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a container name (letters, digits and '_')")
        return value

    @field_validator("remap", mode="before")
    @classmethod
    def _remap_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = {}
        for item in value:
            src, found, dst = str(item).partition(":=")
            if not found:
                raise ValueError(f"{item!r} is not FROM:=TO")
            out[src.strip()] = dst.strip()
        return out

    @field_validator("remap")
    @classmethod
    def _remap_names(cls, value: dict[str, str]) -> dict[str, str]:
        for src, dst in value.items():
            for name in (src, dst):
                if not is_valid_topic(name):
                    raise ValueError(f"{name!r} is not a topic name ({src!r} -> {dst!r})")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        # YAML reads `DEBUG: 1` and `FLAG: true` as numbers and booleans; env values are text
        scalar = (bool, int, float)
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) if isinstance(v, scalar) else v
                for k, v in value.items()}

    @model_validator(mode="after")
    def _respawn_or_required(self) -> NodeEntry:
        if self.respawn and self.required:
            raise ValueError("a node cannot both respawn and be required (its exit would end the launch)")
        return self


class LaunchFile(BaseModel):
    """A whole launch file after substitution: ``bus``, ``args``, ``include``, ``nodes``.

    >>> LaunchFile.model_validate({}).nodes
    []
    """

    model_config = _Strict
    bus: BusSection | None = None
    args: dict[str, ArgDecl] = {}
    include: list[IncludeEntry] = []
    nodes: list[NodeEntry] = []


def _strip_none(tp: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(tp) else tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model found by walking ``loc`` into ``model``'s fields, lists and dicts."""
    tp: Any = model
    for part in loc:
        tp = _strip_none(tp)
        if isinstance(part, str) and _is_model(tp):
            field = tp.model_fields.get(part)
            if field is None:
                return None
            tp = field.annotation
        else:  # an item of a list or dict: its element type
            args = typing.get_args(tp)
            tp = args[-1] if args else None
    tp = _strip_none(tp)
    return tp if _is_model(tp) else None


def _reason(model: type[BaseModel], err: dict[str, Any]) -> str:
    if err["type"] == "missing":
        return "required field missing"
    if err["type"] == "extra_forbidden":
        parent = _model_at(model, tuple(err["loc"][:-1]))
        known = ", ".join(parent.model_fields) if parent is not None else ""
        return f"unknown key (expected one of: {known})" if known else "unknown key"
    return str(err["msg"]).removeprefix("Value error, ")


def check(model: type[BaseModel], data: Any, where: str, lines: Lines, prefix: KeyPath = ()) -> Any:
    """Validate ``data`` with ``model``; the first error (by line) becomes a :class:`LaunchError`.

    ``prefix`` places ``data`` inside the file (``("nodes", 2, "params")`` for a node's params).

    >>> check(NodeEntry, {"name": "t"}, "a.yaml", {("nodes", 1): 9}, prefix=("nodes", 1))
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: a.yaml:9: nodes[1].kind: required field missing
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = []
        for err in exc.errors():
            path = (*prefix, *err["loc"])
            found.append((line_of(lines, path) or 0, path, _reason(model, err)))
        line, path, reason = min(found, key=lambda f: f[0])
        raise LaunchError(where, line or None, field_name(path), reason) from None
