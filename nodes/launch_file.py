"""Read a launch file into a :class:`LaunchPlan`: args, substitutions, includes, checked nodes.

Everything is checked before any process starts: YAML syntax, the schema, every
``$(arg ...)``, every include (missing files, cycles), every node's kind and its params
against the kind's own pydantic model, remaps, and duplicate node names. The first problem
is one :class:`LaunchError` naming the file, line and field. A node or include whose
``if:`` is false (or ``unless:`` true) is left out before its kind, params or file are
looked at, as in ROS 2. Nodes with the same ``container:`` name (qualified by the
namespace of the file that names them) form one :class:`ContainerSpec`, one process: its
respawn and required are its nodes' (any of them), and its nodes share one environment.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "inner.yaml").write_text("args: {rate: 1}\\nnodes:\\n  - {name: t, kind: talker, params: {rate_hz: $(arg rate)}}\\n")
>>> _ = (d / "top.yaml").write_text("args: {r: 4}\\ninclude:\\n  - {file: inner.yaml, args: {rate: $(arg r)}, namespace: robot1}\\n")
>>> plan = load_launch(d / "top.yaml", {"r": 8})
>>> [(n.qualified_name, n.params) for n in plan.nodes]
[('/robot1/t', {'rate_hz': 8})]
>>> _ = (d / "box.yaml").write_text("nodes:\\n  - {name: t, kind: talker, container: box}\\n"
...                                 "  - {name: l, kind: listener, container: box}\\n")
>>> [(p.qualified_name, [n.name for n in p.nodes]) for p in load_launch(d / "box.yaml").processes()]
[('/box', ['t', 'l'])]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causalstream.nodes.errors import LaunchError, UnknownKindError
from causalstream.nodes.launch_catalog import find_launch_file
from causalstream.nodes.launch_schema import ArgDecl, ArgsOnly, BusSection, LaunchFile, NodeEntry, check
from causalstream.nodes.launch_yaml import Lines, field_name, line_of, load_with_lines, substitute
from causalstream.nodes.names import join_namespace, qualified_name
from causalstream.nodes.registry import resolve

__all__ = ["ContainerSpec", "LaunchPlan", "NodeSpec", "Supervised", "load_launch"]


@dataclass(frozen=True, kw_only=True)
class Supervised:
    """How the launcher supervises one process (a node's or a container's); ``where``/``line`` locate its entry.

    >>> Supervised(respawn=True).respawn_delay
    0.5
    """

    respawn: bool = False
    respawn_delay: float = 0.5
    respawn_max_retries: int | None = None
    required: bool = False
    env: dict[str, str] = field(default_factory=dict)
    where: str = ""
    line: int | None = None


@dataclass(frozen=True)
class NodeSpec(Supervised):
    """One node to start, fully resolved.

    >>> NodeSpec(name="t", kind="talker", namespace="/r1").qualified_name
    '/r1/t'
    """

    name: str
    kind: str
    namespace: str = "/"
    params: dict[str, Any] = field(default_factory=dict)
    remap: dict[str, str] = field(default_factory=dict)
    entry: str = "nodes"
    container: str = ""  # the qualified name of its container, "" for a process of its own

    @property
    def qualified_name(self) -> str:
        """Namespace plus name, e.g. ``/robot1/talker``."""
        return qualified_name(self.name, self.namespace)


@dataclass(frozen=True)
class ContainerSpec(Supervised):
    """Several nodes in one process; the launcher supervises it as it does one node.

    >>> box = ContainerSpec("/pipeline", (NodeSpec(name="t", kind="talker"), NodeSpec(name="l", kind="listener")))
    >>> box.qualified_name, box.kind, [n["kind"] for n in box.node_args()]
    ('/pipeline', 'container', ['talker', 'listener'])
    """

    name: str
    nodes: tuple[NodeSpec, ...]
    kind: str = "container"

    @property
    def qualified_name(self) -> str:
        """The container's name with its namespace, e.g. ``/pipeline``."""
        return self.name

    def node_args(self) -> list[dict[str, Any]]:
        """Its nodes as the container process takes them (kind, name, namespace, params, remap)."""
        return [{"kind": n.kind, "name": n.name, "namespace": n.namespace, "params": n.params, "remap": n.remap}
                for n in self.nodes]


@dataclass(frozen=True)
class LaunchPlan:
    """What the launcher starts: the bus settings, the effective args, the nodes in order.

    >>> LaunchPlan(path="x.yaml").bus.start
    True
    """

    path: str
    bus: BusSection = field(default_factory=BusSection)
    args: dict[str, Any] = field(default_factory=dict)
    nodes: list[NodeSpec] = field(default_factory=list)
    containers: list[ContainerSpec] = field(default_factory=list)

    def processes(self) -> list[NodeSpec | ContainerSpec]:
        """What the launcher starts, in order: each node of its own, each container where its first node is.

        >>> a, b = NodeSpec(name="a", kind="talker", container="/box"), NodeSpec(name="b", kind="listener")
        >>> plan = LaunchPlan(path="x.yaml", nodes=[a, b], containers=[ContainerSpec("/box", (a,))])
        >>> [p.qualified_name for p in plan.processes()]
        ['/box', '/b']
        """
        boxes = {c.name: c for c in self.containers}
        out: list[NodeSpec | ContainerSpec] = []
        for spec in self.nodes:
            if not spec.container:
                out.append(spec)
            elif boxes.get(spec.container) is not None:
                out.append(boxes.pop(spec.container))
        return out


@dataclass(frozen=True)
class _Site:
    """Where a file was included from (for errors about the include itself)."""

    where: str
    lines: Lines
    index: int


def load_launch(path: str | Path, args: Mapping[str, Any] | None = None) -> LaunchPlan:
    """Load, substitute, include and check ``path`` (a file, or a shipped name); ``args`` as from ``name:=value``.

    >>> [n.kind for n in load_launch("talker", {"rate": 5}).nodes]
    ['talker', 'relay', 'listener']
    >>> load_launch("no/such.yaml")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.LaunchError: no/such.yaml: (file): no such launch file (shipped: demo, ...)
    """
    path = find_launch_file(path)
    bus, values, nodes = _load(path, dict(args or {}), "/", (), None)
    seen: dict[str, NodeSpec] = {}
    for spec in nodes:
        first = seen.setdefault(spec.qualified_name, spec)
        if first is not spec:
            raise LaunchError(spec.where, spec.line, f"{spec.entry}.name",
                              f"duplicate node name {spec.qualified_name} (first at {first.where}:{first.line})")
    return LaunchPlan(path=str(path), bus=bus or BusSection(), args=values, nodes=nodes,
                      containers=_containers(nodes))


def _containers(nodes: list[NodeSpec]) -> list[ContainerSpec]:
    """Group the nodes by container: one process, so one respawn policy and one environment.

    A container respawns if one of its nodes does (all that do agree on delay and retries)
    and is required if one is; both at once, or two environments, is a :class:`LaunchError`
    naming the node that brings the conflict in.
    """
    groups: dict[str, list[NodeSpec]] = {}
    for spec in nodes:
        if spec.container:
            groups.setdefault(spec.container, []).append(spec)
    node_names = {spec.qualified_name for spec in nodes}
    out = []
    for name, members in groups.items():
        first = members[0]
        if name in node_names:
            raise LaunchError(first.where, first.line, f"{first.entry}.container", f"container {name} has the name of a node")
        respawn = next((m for m in members if m.respawn), None)
        required = next((m for m in members if m.required), None)
        if respawn is not None and required is not None:  # the later of the two brings the conflict in
            m, other = (respawn, required) if members.index(respawn) >= members.index(required) else (required, respawn)
            raise LaunchError(m.where, m.line, f"{m.entry}.{'respawn' if m is respawn else 'required'}",
                              f"container {name} cannot both respawn and be required ({other.qualified_name} "
                              f"{'is required' if other is required else 'respawns'}): they apply to the whole container")
        for m in members:
            if m.respawn and respawn is not None and (m.respawn_delay, m.respawn_max_retries) != (
                    respawn.respawn_delay, respawn.respawn_max_retries):
                raise LaunchError(m.where, m.line, f"{m.entry}.respawn_delay",
                                  f"respawn_delay and respawn_max_retries differ from {respawn.qualified_name}'s in "
                                  f"container {name} (one process, one respawn)")
            if m.env != first.env:
                raise LaunchError(m.where, m.line, f"{m.entry}.env", f"env differs from {first.qualified_name}'s in "
                                                                     f"container {name} (one process, one environment)")
        policy = respawn or Supervised()
        out.append(ContainerSpec(
            name=name, nodes=tuple(members), respawn=respawn is not None, respawn_delay=policy.respawn_delay,
            respawn_max_retries=policy.respawn_max_retries, required=required is not None, env=dict(first.env),
            where=first.where, line=first.line))
    return out


def _arg_values(decls: dict[str, ArgDecl], given: dict[str, Any], where: str, lines: Lines,
                site: _Site | None) -> dict[str, Any]:
    for name in given:
        if name not in decls:
            declared = ", ".join(decls) or "none"
            if site is None:
                raise LaunchError(where, None, f"args.{name}", f"given on the command line but not declared (declared: {declared})")
            at = ("include", site.index, "args", name)
            raise LaunchError(site.where, line_of(site.lines, at), field_name(at), f"not an arg of {where} (declared: {declared})")
    values: dict[str, Any] = {}
    for name, decl in decls.items():
        if name in given:
            values[name] = given[name]
        elif decl.required:
            raise LaunchError(where, line_of(lines, ("args", name)), f"args.{name}", f"required arg not given (pass {name}:=VALUE)")
        else:  # a default may use the args declared before it
            values[name] = substitute(decl.default, values, where, lines, ("args", name, "default"))
    return values


def _load(path: Path, given: dict[str, Any], namespace: str, stack: tuple[Path, ...],
          site: _Site | None) -> tuple[BusSection | None, dict[str, Any], list[NodeSpec]]:
    where = str(path)
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise LaunchError(where, 1, "(file)", "a launch file is a mapping with keys bus, args, include, nodes")
    decls = check(ArgsOnly, {"args": data.get("args") or {}}, where, lines).args
    values = _arg_values(decls, given, where, lines, site)
    rest = substitute({k: v for k, v in data.items() if k != "args"}, values, where, lines, ())
    launch: LaunchFile = check(LaunchFile, {**rest, "args": data.get("args") or {}}, where, lines)
    bus = launch.bus
    if bus is not None and bus.keys is not None and bus.allowed_keys is not None:
        bus = bus.model_copy(update={"keys": str(path.parent / bus.keys),
                                     "allowed_keys": str(path.parent / bus.allowed_keys)})
    if bus is not None and bus.client_key is not None and bus.server_key is not None:
        bus = bus.model_copy(update={"client_key": str(path.parent / bus.client_key),
                                     "server_key": str(path.parent / bus.server_key)})
    nodes: list[NodeSpec] = []
    here = stack + (path.resolve(),)
    for j, inc in enumerate(launch.include):
        if not inc.active:  # as in ROS 2: a false condition leaves the file unread
            continue
        at = ("include", j, "file")
        target = path.parent / inc.file
        if target.resolve() in here:
            chain = " -> ".join(p.name for p in (*here, target.resolve()))
            raise LaunchError(where, line_of(lines, at), field_name(at), f"include cycle: {chain}")
        if not target.is_file():
            raise LaunchError(where, line_of(lines, at), field_name(at), f"no such file {target}")
        inner_bus, _, inner = _load(target, dict(inc.args), join_namespace(namespace, inc.namespace), here,
                                    _Site(where, lines, j))
        bus = bus or inner_bus
        nodes.extend(inner)
    nodes.extend(_node_spec(entry, i, namespace, where, lines) for i, entry in enumerate(launch.nodes) if entry.active)
    return bus, values, nodes


def _node_spec(entry: NodeEntry, i: int, namespace: str, where: str, lines: Lines) -> NodeSpec:
    at = ("nodes", i)
    try:
        cls = resolve(entry.kind)
    except UnknownKindError as exc:
        raise LaunchError(where, line_of(lines, (*at, "kind")), field_name((*at, "kind")), exc.reason) from None
    check(cls.Params, entry.params, where, lines, prefix=(*at, "params"))
    return NodeSpec(
        name=entry.name, kind=entry.kind, namespace=join_namespace(namespace, entry.namespace),
        params=dict(entry.params), remap=dict(entry.remap), respawn=entry.respawn,
        respawn_delay=entry.respawn_delay, respawn_max_retries=entry.respawn_max_retries,
        required=entry.required, env=dict(entry.env), where=where, line=line_of(lines, at), entry=field_name(at),
        container=qualified_name(entry.container, namespace) if entry.container else "",
    )
