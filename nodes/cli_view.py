"""``causalstream view``: the running bus, live in Foxglove or Lichtblick (the ``foxglove`` node kind).

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer()
>>> register(app)
>>> out = CliRunner().invoke(app, ["view", "--help"]).output
>>> "--port" in out and "--topics" in out
True
"""

from __future__ import annotations

import threading

import typer
from rich.console import Console

from causalstream.nodes.cli_topic import BusOpt
from causalstream.nodes.errors import CommandError
from causalstream.nodes.node import Node
from causalstream.nodes.runner import build_node, run_stoppable
from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.errors import BusTimeoutError

__all__ = ["register", "view"]

BUS_WAIT_S = 5.0
"""How long ``view`` waits for a broker before saying there is none (as ``graph show``)."""

_OUT = Console(highlight=False, soft_wrap=True)


def view(
    port: int = typer.Option(8765, "--port", "-p", help="WebSocket port (0: any free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    topics: list[str] = typer.Option(None, "--topics", help="Bus topics to serve (default: every well-known topic)."),
    backlog: int = typer.Option(1024, "--backlog", help="Messages buffered per viewer; a slow one loses the oldest."),
    picture_hz: float = typer.Option(2.0, "--picture-hz", min=0,
                                     help="Most graph picture redraws a second (0: on every link change)."),
    nice: int = typer.Option(0, "--nice", help="Niceness added to this process (0: none): the view yields the CPU."),
    name: str = typer.Option("view", "--name", "-n", help="Node name on the bus."),
    duration: float = typer.Option(None, "--duration", "-d", help="Stop after this many seconds."),
    bus: str = BusOpt,
) -> None:
    """Serve the running bus to Foxglove or Lichtblick over WebSocket; prints the ws:// URL to open.

    Starts the `foxglove` node kind (what `view:=true` adds to the demo) against a bus that is
    already running: every topic becomes a JSON channel, plus the view's scene, predictions,
    features, links and graph picture (protobuf: the scene, the predictions, the picture). In the viewer: Open connection, Foxglove WebSocket, the printed URL
    (protocol foxglove.sdk.v1: Foxglove, Lichtblick since its PR #819). No bus, or a port that
    is taken: one error line and exit status 2. Ctrl-C (or SIGTERM) stops it cleanly.
    """
    endpoints = Endpoints.from_env(bus)
    with Subscriber("/node/status", endpoints=endpoints) as probe:
        try:
            probe.wait_ready(timeout=BUS_WAIT_S)
        except BusTimeoutError:
            raise CommandError("view", f"no bus answers at {endpoints.sub} (within {BUS_WAIT_S:g} s): start one "
                               "with `causalstream bus`, or a pipeline with `causalstream launch FILE`") from None
    params: dict[str, object] = {"host": host, "port": port, "backlog": backlog, "nice": nice,
                                 "picture_hz": picture_hz}
    if topics:
        params["topics"] = list(topics)
    node = build_node("foxglove", name=name, params=params, endpoints=endpoints)
    if duration is not None:
        timer = threading.Timer(duration, node.stop)
        timer.daemon = True
        timer.start()
    raise typer.Exit(run_stoppable(node.qualified_name, node.stop, lambda _: _serve(node, host)))


def _serve(node: Node, host: str) -> int:
    """Start the node, print its URL once the server listens, run it until stopped; its exit code."""
    try:
        node.start()
        server = getattr(node, "server", None)
        if server is not None and node.ok:
            _OUT.print(f"ws://{host}:{server.port}")
        node.loop()
    finally:
        node.close()
    return node.exit_code


def register(app: typer.Typer) -> None:
    """Add ``view`` to the root app."""
    app.command("view")(view)
