"""``causalstream node list | info``: the live nodes, from their heartbeats on /node/status.

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer()
>>> register(app)
>>> result = CliRunner().invoke(app, ["node", "--help"])
>>> "list" in result.output and "info" in result.output
True
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping

import typer
from rich.console import Console
from rich.table import Table

from causalstream.nodes.cli_topic import BusOpt, latest_by
from causalstream.nodes.errors import NodeError
from causalstream.stream import Endpoints
from causalstream.stream.messages import NodeStatus

__all__ = ["register", "collect_statuses"]

node_app = typer.Typer(help="Inspect the nodes on the bus: list, info.", no_args_is_help=True)
# Not a terminal (a pipe, a test): wide enough that names and kinds are never cut short.
_OUT = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
_ERR = Console(stderr=True, highlight=False)
_STATUS_TOPIC = "/node/status"


def collect_statuses(endpoints: Endpoints, seconds: float) -> dict[str, tuple[NodeStatus, float]]:
    """The latest heartbeat of every node heard within ``seconds``, with when it arrived.

    >>> from causalstream.stream import Broker
    >>> with Broker(Endpoints.parse("inproc://doc-nodes")) as b:
    ...     collect_statuses(b.endpoints, 0.1)
    {}
    """
    return latest_by(_STATUS_TOPIC, lambda m: m.name, endpoints, seconds)


@node_app.command("list")
def list_nodes(
    wait: float = typer.Option(1.5, help="Seconds to listen for heartbeats (nodes send one a second)."),
    show_all: bool = typer.Option(False, "--all", "-a", help="Also show nodes whose last heartbeat said stopped."),
    bus: str = BusOpt,
) -> None:
    """List live nodes: name, kind, pid, state and counters (in, out, gaps, bad)."""
    heard = collect_statuses(Endpoints.from_env(bus), wait)
    rows = [(s, t) for s, t in heard.values() if show_all or s.state != "stopped"]
    if not rows:
        _ERR.print(f"no node heartbeats in {wait:.1f} s (is a bus running at {Endpoints.from_env(bus).pub}?)")
        raise typer.Exit(1)
    table = Table("node", "kind", "pid", "state", "in", "out", "gaps", "bad", "last seen", box=None)
    now = time.monotonic()
    for status, seen in sorted(rows, key=lambda r: r[0].name):
        c = status.counters
        table.add_row(status.name, status.kind, str(status.pid), status.state,
                      *(str(c.get(k, 0)) for k in ("in", "out", "gaps", "bad")), f"{now - seen:.1f} s ago")
    _OUT.print(table)


@node_app.command()
def info(
    name: str = typer.Argument(..., help="Node name, e.g. /robot1/talker (the leading / may be left out)."),
    wait: float = typer.Option(1.5, help="Seconds to listen for its heartbeat."),
    bus: str = BusOpt,
) -> None:
    """Show one node's kind, pid, state, effective parameters and every counter."""
    heard = collect_statuses(Endpoints.from_env(bus), wait)
    name = qualified(name, heard)
    if name not in heard:
        raise NodeError(name, f"no heartbeat within {wait:.1f} s (live: {', '.join(sorted(heard)) or 'none'})")
    status = heard[name][0]
    _OUT.print(f"{status.name}  kind {status.kind}  pid {status.pid}  state {status.state}")
    table = Table("parameter", "value", box=None)
    for key, value in sorted(status.params.items()):
        table.add_row(key, json.dumps(json.loads(value)))
    _OUT.print(table)
    _OUT.print("counters: " + ", ".join(f"{k} {v}" for k, v in status.counters.items()))


def qualified(name: str, heard: Mapping[str, object]) -> str:
    """A node name as the user typed it -> the live node's full name: with or without the leading
    slash, and a bare name that is the last part of exactly one live node's name.

    >>> live = {"/discovery": 0, "/robot1/talker": 0, "/robot2/talker": 0}
    >>> qualified("discovery", live), qualified("robot1/talker", live), qualified("talker", live)
    ('/discovery', '/robot1/talker', 'talker')
    """
    full = name if name.startswith("/") else "/" + name
    if full in heard:
        return full
    tails = [n for n in heard if n.rsplit("/", 1)[-1] == name]
    return tails[0] if len(tails) == 1 else name


def register(app: typer.Typer) -> None:
    """Add the ``node`` command group to the root app."""
    app.add_typer(node_app, name="node")
