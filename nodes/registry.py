"""Node kinds by name: the built-in table, the ``register`` decorator, ``package.module:Class``.

A launch file's ``kind:`` is looked up here. Built-in kinds are one line each in
:data:`BUILTIN_KINDS` (imported only when used, so the launcher does not load onnxruntime
to start a talker); a kind defined elsewhere registers itself with ``@register("name")``;
and any ``package.module:Class`` that subclasses :class:`Node` works without registering.

>>> resolve("relay").__name__
'Relay'
>>> resolve("causalstream.nodes.generic:Talker").kind
'talker'
>>> resolve("simm")
Traceback (most recent call last):
...
causalstream.nodes.errors.UnknownKindError: node kind 'simm': not registered (known: ...)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from causalstream.nodes.errors import NodeError, UnknownKindError
from causalstream.nodes.names import NAME_RE
from causalstream.nodes.node import Node

__all__ = ["BUILTIN_KINDS", "available_kinds", "register", "resolve"]

# One line per built-in kind: name -> "module:Class".
BUILTIN_KINDS: dict[str, str] = {
    "discovery": "causalstream.nodes.discovery:DiscoveryNode",
    "features": "causalstream.nodes.features:FeaturesNode",
    "foxglove": "causalstream.nodes.foxglove_view:FoxgloveView",
    "listener": "causalstream.nodes.generic:Listener",
    "predictor": "causalstream.nodes.predictor:PredictorNode",
    "recorder": "causalstream.nodes.log_nodes:RecorderNode",
    "relay": "causalstream.nodes.generic:Relay",
    "replay": "causalstream.nodes.log_nodes:Replay",
    "ros1_bridge": "causalstream.nodes.ros1_bridge:Ros1BridgeNode",
    "sim": "causalstream.nodes.sim:SimNode",
    "talker": "causalstream.nodes.generic:Talker",
}

_REGISTERED: dict[str, type[Node]] = {}


def register(name: str) -> Callable[[type[Node]], type[Node]]:
    """Class decorator: make a :class:`Node` subclass available as kind ``name``.

    >>> @register("doc_echo")
    ... class Echo(Node):
    ...     pass
    >>> resolve("doc_echo") is Echo, Echo.kind
    (True, 'doc_echo')
    """
    if not NAME_RE.match(name):
        raise NodeError(name, "a node kind name is letters, digits and '_'")

    def deco(cls: type[Node]) -> type[Node]:
        _check_node_class(name, cls)
        known = _REGISTERED.get(name)
        if known is not None and known is not cls:
            raise UnknownKindError(name, f"already registered by {known.__module__}.{known.__qualname__}")
        cls.kind = name
        _REGISTERED[name] = cls
        return cls

    return deco


def available_kinds() -> list[str]:
    """Every kind name known without importing anything: built-in and registered.

    >>> {"relay", "talker", "listener"} <= set(available_kinds())
    True
    """
    return sorted(set(BUILTIN_KINDS) | set(_REGISTERED))


def resolve(kind: str) -> type[Node]:
    """The Node class of ``kind``: registered, built-in, or ``package.module:Class``.

    >>> resolve("causalstream.nodes.node:NodeParams")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.UnknownKindError: node kind 'causalstream.nodes.node:NodeParams': <class '...NodeParams'> is not a subclass of causalstream.nodes.node.Node
    """
    if kind in _REGISTERED:
        return _REGISTERED[kind]
    if kind in BUILTIN_KINDS:
        cls = _import(kind, BUILTIN_KINDS[kind])
        if "kind" not in vars(cls):
            cls.kind = kind
        return cls
    if ":" in kind:
        builtin = next((name for name, target in BUILTIN_KINDS.items() if target == kind), None)
        if builtin is not None:
            return resolve(builtin)
        cls = _import(kind, kind)
        if "kind" not in vars(cls):
            cls.kind = kind
        return cls
    known = ", ".join(available_kinds())
    raise UnknownKindError(kind, f"not registered (known: {known}; or give package.module:Class)")


def _import(kind: str, target: str) -> type[Node]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownKindError(kind, f"cannot import {module_name}: {exc}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise UnknownKindError(kind, f"module {module_name} has no {attr!r}")
    _check_node_class(kind, cls)
    return cls


def _check_node_class(kind: str, cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise UnknownKindError(kind, f"{cls!r} is not a subclass of causalstream.nodes.node.Node")
