"""Node and topic names: namespaces, private names and remapping, as in ROS 2.

A node author names topics as it pleases (``"in"``, ``"chatter"``, ``"/features"``); the
launch file decides where they land. A relative name is resolved under the node's
namespace, ``~/x`` under the node itself, an absolute name stays; a remap rule then
replaces a name, matched either as the author wrote it or as resolved.

>>> resolve_topic("chatter", namespace="/robot1")
'/robot1/chatter'
>>> resolve_topic("in", namespace="/robot1", remap={"in": "/features"})
'/features'
>>> resolve_topic("~/debug", namespace="/", node="relay")
'/relay/debug'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["NAME_RE", "TOPIC_RE", "is_valid_topic", "join_namespace", "resolve_topic", "qualified_name"]

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOPIC_RE = re.compile(r"^(~/|/)?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def is_valid_topic(name: str) -> bool:
    """True for ``/a/b``, ``a/b`` or ``~/a``: segments of letters, digits and ``_``.

    >>> is_valid_topic("/robot1/chatter"), is_valid_topic("chat ter"), is_valid_topic("/")
    (True, False, False)
    """
    return bool(TOPIC_RE.match(name))


def join_namespace(outer: str, inner: str) -> str:
    """Nest namespace ``inner`` under ``outer`` (an absolute ``inner`` wins); always absolute.

    >>> join_namespace("/robots", "r1"), join_namespace("/robots", "/abs"), join_namespace("", "")
    ('/robots/r1', '/abs', '/')
    """
    if inner.startswith("/"):
        return "/" + inner.strip("/") if inner.strip("/") else "/"
    parts = [p for p in (outer.strip("/"), inner.strip("/")) if p]
    return "/" + "/".join(parts)


def qualified_name(name: str, namespace: str = "/") -> str:
    """The fully qualified node name: namespace plus name.

    >>> qualified_name("talker", "/robot1"), qualified_name("talker")
    ('/robot1/talker', '/talker')
    """
    return join_namespace(namespace, name)


def _resolve(name: str, namespace: str, node: str) -> str:
    if name.startswith("/"):
        return name
    if name.startswith("~"):
        return join_namespace(qualified_name(node or "node", namespace), name[1:].lstrip("/"))
    return join_namespace(namespace, name)


def resolve_topic(name: str, namespace: str = "/", remap: Mapping[str, str] | None = None, node: str = "") -> str:
    """The topic a node's ``name`` refers to, after namespace and remapping.

    A remap key matches the name as written or as resolved; a relative target is resolved
    under the namespace too.

    >>> resolve_topic("/chatter", "/ns", {"/chatter": "talk"})
    '/ns/talk'
    """
    remap = remap or {}
    resolved = _resolve(name, namespace, node)
    target = remap.get(name, remap.get(resolved))
    return resolved if target is None else _resolve(target, namespace, node)
