"""``causalstream launch FILE`` and ``causalstream run KIND``: start a pipeline, or one node.

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer()
>>> register(app)
>>> result = CliRunner().invoke(app, ["launch", "--help"])
>>> "NAME:=VALUE" in result.output and "--duration" in result.output
True
>>> result = CliRunner().invoke(app, ["launch", "--list"])
>>> result.exit_code, "demo" in result.output and "demo.yaml" in result.output
(0, True)
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading

import typer
from rich.console import Console
from rich.text import Text

from causalstream.nodes.cli_topic import BusOpt
from causalstream.nodes.errors import CommandError
from causalstream.nodes.launch_catalog import shipped_launch_files
from causalstream.nodes.launch_file import ContainerSpec, LaunchPlan, load_launch
from causalstream.nodes.launch_schema import BusSection
from causalstream.nodes.launcher import Launcher, node_command
from causalstream.nodes.runner import build_node, die_with_parent, parse_assignments, run_node
from causalstream.stream import Endpoints

__all__ = ["register", "launch", "run"]

_OUT = Console(highlight=False, soft_wrap=True)
_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta",
            "bright_green", "bright_yellow", "bright_blue")


class _Printer:
    """Prints ``[source] line`` with one colour per source; safe from the reader threads."""

    def __init__(self) -> None:
        self.colours: dict[str, str] = {"launch": "bold"}
        self.lock = threading.Lock()

    def __call__(self, source: str, line: str) -> None:
        colour = self.colours.setdefault(source, _COLOURS[(len(self.colours) - 1) % len(_COLOURS)])
        with self.lock:
            _OUT.print(Text(f"[{source}] ", style=colour) + Text(line))


def _show_plan(plan: LaunchPlan) -> None:
    _OUT.print(f"{plan.path}: {len(plan.nodes)} node(s), args {plan.args}")
    for spec in plan.processes():
        flags = [f for f, on in (("required", spec.required), ("respawn", spec.respawn)) if on]
        inside = f" of {', '.join(n.qualified_name for n in spec.nodes)}" if isinstance(spec, ContainerSpec) else ""
        _OUT.print(Text(f"  {spec.qualified_name} ({spec.kind}{inside}) {' '.join(flags)}\n    ")
                   + Text(" ".join(node_command(spec, python="python")), style="dim"))


def _show_shipped() -> None:
    files = shipped_launch_files()
    width = max((len(f.name) for f in files), default=0)
    for f in files:
        _OUT.print(Text(f"{f.name:<{width}}  ", style="bold") + Text(f.summary) + Text(f"  {f.path}", style="dim"))


def launch(
    file: str = typer.Argument(None, metavar="FILE", show_default=False,
                               help="Launch file (YAML): a path, or the name of a shipped one (demo, see --list)."),
    assignments: list[str] = typer.Argument(None, metavar="[NAME:=VALUE]...", help="Launch arguments, e.g. rate:=20."),
    duration: float = typer.Option(None, "--duration", "-d", help="Stop everything after this many seconds."),
    bus: str = typer.Option(None, "--bus", help="Bus endpoint (overrides the file's bus: and $CAUSALSTREAM_BUS)."),
    no_bus: bool = typer.Option(False, "--no-bus", help="Do not start a broker; use one already running."),
    check: bool = typer.Option(False, "--check", help="Validate the file, print the nodes it would start, exit."),
    list_files: bool = typer.Option(False, "--list", help="List the shipped launch files and exit."),
) -> None:
    """Start a pipeline from a launch file: the bus, then every node, supervised.

    The file is checked completely before anything starts; an error is one line
    `FILE:LINE: FIELD: reason` and exit status 2. Each node's output is prefixed with its
    name. Nodes that die are respawned if their entry says `respawn: true`; when a
    `required: true` node exits, everything stops. Ctrl-C sends SIGINT to every node,
    SIGTERM after 5 s, SIGKILL after 5 more. Exit status: 0 for a clean stop, 1 when a
    required node failed, 2 for a bad launch file. FILE is a path, or the name of a launch
    file shipped with the package (`causalstream launch demo`, as `ros2 launch` finds a
    package's files); `--list` shows them.
    """
    if list_files:
        _show_shipped()
        return
    if file is None:
        raise CommandError("launch", "give a launch file (a path, or a shipped name: see --list)")
    plan = load_launch(file, parse_assignments(assignments or [], ":=", what="launch"))
    if no_bus:
        plan = dataclasses.replace(plan, bus=BusSection(endpoint=plan.bus.endpoint, start=False))
    if check:
        _show_plan(plan)
        return
    endpoints = Endpoints.from_env(bus or plan.bus.endpoint)
    logging.getLogger("causalstream.stream.bus.broker").setLevel(logging.WARNING)  # the launcher says it itself
    status = Launcher(plan, endpoints=endpoints, duration=duration, echo=_Printer()).run()
    raise typer.Exit(status)


def run(
    kind: str = typer.Argument(..., help="Node kind: a registered name (talker, relay, ...) or package.module:Class."),
    name: str = typer.Option("", "--name", "-n", help="Node name (default: the kind's)."),
    namespace: str = typer.Option("/", "--namespace", help="Namespace for the node and its relative topics."),
    param: list[str] = typer.Option(None, "--param", "-p", help="A parameter, key=value (value read as YAML). Repeatable."),
    remap: list[str] = typer.Option(None, "--remap", "-r", help="A remap rule, from:=to. Repeatable."),
    duration: float = typer.Option(None, "--duration", "-d", help="Stop after this many seconds."),
    bus: str = BusOpt,
    standby: bool = typer.Option(False, "--standby", hidden=True,
                                 help="Build the node, then wait for a line on stdin (the launcher's warm spare)."),
) -> None:
    """Run one node against a running bus (start one with `causalstream bus`).

    Parameters are checked against the kind's own model first: a bad one is one error
    line and exit status 2. Ctrl-C (or SIGTERM) stops the node cleanly; its last
    heartbeat on /node/status says `stopped`. The exit status is the node's own.
    """
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True,
                        format="%(levelname)s %(name)s: %(message)s")
    die_with_parent()
    node = build_node(kind, name=name, namespace=namespace, params=parse_assignments(param or [], "="),
                      remap=parse_assignments(remap or [], ":=", typed=False), endpoints=bus)
    if standby and not sys.stdin.readline():  # end of input: the launcher no longer needs this spare
        raise typer.Exit(0)
    raise typer.Exit(run_node(node, duration))


def register(app: typer.Typer) -> None:
    """Add ``launch`` and ``run`` to the root app."""
    app.command("launch")(launch)
    app.command("run")(run)
