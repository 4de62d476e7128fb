"""YAML with line numbers, and ``$(...)`` substitutions, for launch files.

:func:`load_with_lines` returns plain data plus a map from each path (``("nodes", 2,
"kind")``) to its 1-based line, built from ``yaml.compose`` node marks, so a validation
error anywhere can name the line. :func:`substitute` expands ``$(arg NAME)``,
``$(env NAME [default])`` and ``$(dirname)`` in every string; a string that is one
substitution keeps the argument's type (``$(arg rate)`` stays a number).

>>> data, lines = load_text("nodes:\\n  - name: a\\n    kind: talker\\n", "x.yaml")
>>> data["nodes"][0]["kind"], lines[("nodes", 0, "kind")]
('talker', 3)
>>> substitute({"rate": "$(arg r)", "s": "r=$(arg r)"}, {"r": 5}, "x.yaml", {}, ())
{'rate': 5, 's': 'r=5'}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from causalstream.nodes.errors import LaunchError

__all__ = ["Lines", "KeyPath", "field_name", "line_of", "load_text", "load_with_lines", "substitute"]

KeyPath = tuple[str | int, ...]
Lines = dict[KeyPath, int]
_SUBST = re.compile(r"\$\(([^()]*)\)")


def field_name(path: KeyPath) -> str:
    """``("nodes", 2, "kind")`` as ``nodes[2].kind``.

    >>> field_name(("nodes", 0, "params", "rate_hz")), field_name(())
    ('nodes[0].params.rate_hz', '(file)')
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def line_of(lines: Lines, path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one.

    >>> line_of({("nodes", 0): 4}, ("nodes", 0, "kind"))
    4
    """
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def _build(node: yaml.Node, path: KeyPath, lines: Lines, where: str, ctor: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise LaunchError(where, line, field_name(path), f"key {key!r} is not a name")
            key = str(key)
            if key in out:
                raise LaunchError(where, line, field_name((*path, key)), "duplicate key")
            lines[(*path, key)] = line
            out[key] = _build(value_node, (*path, key), lines, where, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(_build(item, (*path, i), lines, where, ctor))
        return items
    return ctor.construct_object(node, deep=True)


def load_text(text: str, where: str) -> tuple[Any, Lines]:
    """Parse YAML ``text`` (named ``where`` in errors) into data and a line map.

    >>> load_text("a: 1\\na: 2\\n", "d.yaml")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: d.yaml:2: a: duplicate key
    """
    ctor = yaml.SafeLoader("")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise LaunchError(where, line, "(syntax)", f"YAML does not parse: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise LaunchError(where, None, "(syntax)", f"YAML does not parse: {exc}") from None
    lines: Lines = {(): 1}
    if root is None:
        return {}, lines
    try:
        return _build(root, (), lines, where, ctor), lines
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise LaunchError(where, line, "(syntax)", str(exc.problem)) from None


def load_with_lines(path: str | Path) -> tuple[Any, Lines]:
    """Read and parse a YAML file; a missing file is a :class:`LaunchError` too.

    >>> load_with_lines("missing.yaml")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: missing.yaml: (file): No such file or directory
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LaunchError(str(path), None, "(file)", exc.strerror or str(exc)) from None
    return load_text(text, str(path))


def _one(expr: str, args: dict[str, Any], where: str, line: int | None, path: KeyPath) -> Any:
    verb, _, rest = expr.strip().partition(" ")
    rest = rest.strip()
    if verb == "arg":
        if rest not in args:
            known = ", ".join(sorted(args)) or "none declared"
            raise LaunchError(where, line, field_name(path), f"$(arg {rest}) is not a declared arg (args: {known})")
        return args[rest]
    if verb == "env":
        name, _, default = rest.partition(" ")
        if name not in os.environ and not default:
            raise LaunchError(where, line, field_name(path), f"$(env {name}): variable not set and no default")
        return os.environ.get(name, default)
    if verb == "dirname":
        return str(Path(where).resolve().parent)
    raise LaunchError(where, line, field_name(path), f"unknown substitution $({expr}); use arg, env or dirname")


def substitute(data: Any, args: dict[str, Any], where: str, lines: Lines, path: KeyPath) -> Any:
    """Expand substitutions in every string of ``data`` (``path`` locates it for errors).

    >>> substitute(["$(arg x)"], {}, "s.yaml", {("nodes",): 3}, ("nodes",))
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: s.yaml:3: nodes[0]: $(arg x) is not a declared arg (args: none declared)
    """
    if isinstance(data, dict):
        return {k: substitute(v, args, where, lines, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute(v, args, where, lines, (*path, i)) for i, v in enumerate(data)]
    if not isinstance(data, str) or "$(" not in data:
        return data
    line = line_of(lines, path)
    whole = _SUBST.fullmatch(data)
    if whole:
        return _one(whole[1], args, where, line, path)
    out = _SUBST.sub(lambda m: str(_one(m[1], args, where, line, path)), data)
    if "$(" in out:
        raise LaunchError(where, line, field_name(path), f"unclosed or nested substitution in {data!r}")
    return out
