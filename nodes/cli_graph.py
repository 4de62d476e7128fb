"""``causalstream graph show``: the latest causal graph, live in the terminal and as PNG.

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer()
>>> register(app)
>>> "--png" in CliRunner().invoke(app, ["graph", "show", "--help"]).output
True
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import typer
from rich.console import Console
from rich.live import Live

from causalstream.nodes.errors import CommandError
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.graph_view import links_table, render_png
from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.bus.endpoints import ENV_VAR
from causalstream.stream.errors import BusTimeoutError
from causalstream.stream.messages import CausalGraph

__all__ = ["register"]

BUS_WAIT_S = 5.0
"""How long ``graph show`` waits for a broker before saying there is none."""

graph_app = typer.Typer(help="Look at causal graphs on the bus.", no_args_is_help=True)
_OUT = Console(highlight=False)
_ERR = Console(stderr=True, highlight=False)


@graph_app.command()
def show(
    topic: str = typer.Option("/causal/graph", "--topic", "-t", help="Topic carrying CausalGraph messages."),
    png: str = typer.Option("", "--png", help="Also render each graph with tigramite to this PNG (and *_timeseries.png)."),
    once: bool = typer.Option(False, "--once", help="Show the next graph (the latched one, if any) and exit."),
    timeout: float = typer.Option(0.0, help="Exit with status 1 after this many seconds without a graph (0: wait)."),
    duration: float = typer.Option(0.0, help="Exit after this many seconds (0: until Ctrl-C)."),
    bus: str = typer.Option(None, "--bus", envvar=ENV_VAR, help="Bus endpoint."),
) -> None:
    """Show the latest causal graph as a live table of links, refreshing as graphs arrive.

    Each row is one link, source at lag -tau driving target: its status (tested, deterministic:
    a function of other variables, not a finding; insufficient; assumed) and the rows its test
    used, its strength (the MCI partial correlation, red positive, blue negative), p-value, and
    stability (the share of recent windows that held it). Under the title, the graph's status
    (ok, partial, insufficient: too little data, stale) and why; an empty graph says whether no
    links were found or the data were too few. LPCMCI's marks are explained under the table
    (<-> hidden common cause, o-> i causes j or they share a hidden cause, o-o, x-x conflict).
    With --png the graph is also drawn with tigramite's plot_graph
    and plot_time_series_graph. When the output is not a terminal (a pipe, a file), the table
    is printed again each time the set of links or the graph's status changes, instead of
    refreshing in place.
    """
    end = time.monotonic() + duration if duration else float("inf")
    endpoints = Endpoints.from_env(bus)
    with Subscriber(topic, endpoints=endpoints, types={topic: CausalGraph}) as sub:
        try:
            sub.wait_ready(timeout=BUS_WAIT_S)
        except BusTimeoutError:
            raise CommandError("graph show", f"no bus answers at {endpoints.sub} (within {BUS_WAIT_S:g} s): start "
                               "one with `causalstream bus`, or a pipeline with `causalstream launch FILE`; "
                               "for a recorded log, `causalstream discover LOG`") from None
        first = _next(sub, topic, timeout)
        if first is None:
            raise typer.Exit(1)
        _emit(first, png)
        if once:
            _OUT.print(links_table(first))
            return
        if not _OUT.is_terminal:  # a Live display would print only its last table, at exit
            _print_changes(first, _graphs_until(sub, end, png))
            return
        with Live(links_table(first), console=_OUT, refresh_per_second=4, transient=False) as live:
            for graph in _graphs_until(sub, end, png):
                live.update(links_table(graph))


def _next(sub: Subscriber, topic: str, timeout: float) -> CausalGraph | None:
    start = time.monotonic()
    noted = False
    while True:
        got = sub.recv(timeout=1.0)
        if got is not None and isinstance(got.message, CausalGraph):
            return got.message
        if not noted:
            _ERR.print(f"waiting for a graph on {topic} ...")
            noted = True
        if timeout and time.monotonic() - start > timeout:
            return None


def _graphs_until(sub: Subscriber, end: float, png: str) -> Iterator[CausalGraph]:
    """Each graph that arrives before ``end`` (monotonic), drawn to ``png`` first if asked."""
    while time.monotonic() < end:
        got = sub.recv(timeout=min(0.5, max(0.01, end - time.monotonic())))
        if got is not None and isinstance(got.message, CausalGraph):
            _emit(got.message, png)
            yield got.message


def _print_changes(first: CausalGraph, graphs: Iterable[CausalGraph]) -> None:
    """Print ``first``'s table, then a graph's table whenever its links or status differ from the last printed."""
    shown = _picture(first)
    _OUT.print(links_table(first))
    for graph in graphs:
        if (picture := _picture(graph)) != shown:
            shown = picture
            _OUT.print(links_table(graph))


def _picture(graph: CausalGraph) -> tuple[frozenset, str, tuple[str, ...]]:
    """What a reader would see change: the links, the graph's status and the variables lacking data."""
    g = graph_of(graph)
    return frozenset(g.links()), graph.graph_status, tuple(g.lacking())


def _emit(graph: CausalGraph, png: str) -> None:
    if png:
        render_png(graph, png)


def register(app: typer.Typer) -> None:
    """Add the ``graph`` command group to the root app."""
    app.add_typer(graph_app, name="graph")
