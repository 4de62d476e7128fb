"""``causalstream discover SRC...``: the causal graphs of recorded logs, in one command, no bus.

Reads each source (:mod:`~causalstream.nodes.offline`: MCAP logs, or anything ``bag import``
reads with ``--from``), runs the discovery node's loop over it
(:func:`~causalstream.models.causal.discover.discover_graphs`, here or on ``--workers``
processes or a Dask ``--cluster``), writes one row per link per window (``-o X.parquet`` or
``.csv``) or a ``/causal/graph`` channel (``-o X.mcap``), and prints the most stable graph.

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer(); register(app)
>>> "--workers" in CliRunner().invoke(app, ["discover", "--help"]).output
True
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from causalstream.models.causal.graph import LaggedGraph
from causalstream.nodes.errors import CommandError
from causalstream.nodes.graph_msg import graph_message
from causalstream.nodes.graph_view import render_png
from causalstream.stream.log.writer import LogWriter

__all__ = ["register", "stable_graph"]

_OUT = Console(highlight=False)
_ERR = Console(stderr=True, highlight=False)
_MIRROR = {"-->": "<--", "<--": "-->", "o-o": "o-o", "x-x": "x-x", "<->": "<->", "o->": "<-o", "<-o": "o->"}
log = logging.getLogger(__name__)


def _lazy(module: str) -> Any:
    """A module loaded on first use: the engine (tigramite, Dask) is not for every CLI command."""
    return importlib.import_module(f"causalstream.{module}")


def _ci_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError("discover", f"--ci-param wants KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def _rules(items: list[str]) -> list[dict]:
    rules = []
    for item in items:
        try:
            rule = yaml.safe_load(item)
        except yaml.YAMLError as exc:
            raise CommandError("discover", f"--assume {item!r}: not YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(rule, dict):
            raise CommandError("discover", f"--assume wants a rule such as '{{forbid: \"a -> b\"}}', got {item!r}")
        rules.append(rule)
    return rules


def stable_graph(summary: Any, share: float) -> Any:
    """The LaggedGraph of the links held in at least ``share`` of the windows (val: median, stability: share).

    >>> import pandas as pd
    >>> s = pd.DataFrame({"source": ["a"], "target": ["b"], "lag": [0], "mark": ["-->"], "logs": [1.0],
    ...                   "windows": [0.9], "median_val": [0.4]})
    >>> g = stable_graph(s, 0.5); g.links(), float(g.stability[0, 1, 0])
    ([('a', 'b', 0, '-->'), ('b', 'a', 0, '<--')], 0.9)
    """
    rows = summary[summary["windows"] >= share]
    names = sorted(set(rows["source"]) | set(rows["target"]))
    tau = int(rows["lag"].max()) if len(rows) else 0
    index = {n: k for k, n in enumerate(names)}
    marks = np.full((len(names), len(names), tau + 1), "", dtype="<U3")
    val, stab = np.zeros(marks.shape), np.zeros(marks.shape)
    for r in rows.itertuples():
        i, j, lag = index[r.source], index[r.target], int(r.lag)
        marks[i, j, lag], val[i, j, lag], stab[i, j, lag] = r.mark, r.median_val, r.windows
        if lag == 0:
            marks[j, i, 0], val[j, i, 0], stab[j, i, 0] = _MIRROR.get(r.mark, r.mark), r.median_val, r.windows
    return LaggedGraph(names, marks, val, np.where(marks != "", 0.0, 1.0), stab)  # p: held (0) or not (1)


def _write(out: Path, df: Any, graphs: list) -> str:
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        df.to_parquet(out, index=False)
    elif suffix == ".csv":
        df.to_csv(out, index=False)
    elif suffix == ".mcap":
        graph_messages = _lazy("nodes.discovery_worker").graph_messages
        logs = sorted({w.log for w in graphs})
        with LogWriter(out) as writer:
            for w in sorted(graphs, key=lambda w: (w.result.end_ns, w.log, w.index)):
                graph, event = graph_messages(w.result)
                ns = "" if len(logs) == 1 else "/" + re.sub(r"[^A-Za-z0-9_]", "_", Path(w.log).stem)
                writer.write(f"{ns}/causal/graph", graph, log_time_ns=w.result.end_ns)
                if event is not None:
                    writer.write(f"{ns}/causal/events", event, log_time_ns=w.result.end_ns)
    else:
        raise CommandError("discover", f"-o {out}: want a .parquet, .csv or .mcap file")
    return f"wrote {out}"


def _print_summary(df: Any, share: float, max_rows: int) -> Any:
    table = _lazy("models.causal.discover").summary(df)
    n_logs, n_win = df["log"].nunique(), len(df[["log", "window"]].drop_duplicates())
    stable = table[table["windows"] >= share]
    t = Table(title=f"most stable graph: links in >= {share:.0%} of {n_win} windows of {n_logs} log(s)")
    for col in ("source", "target", "lag", "mark", "windows", "logs", "median val"):
        t.add_column(col, justify="right" if col in ("lag", "windows", "logs", "median val") else "left")
    for r in stable.head(max_rows).itertuples():
        t.add_row(r.source, r.target, str(r.lag), r.mark, f"{r.windows:.0%}", f"{r.logs:.0%}", f"{r.median_val:+.3f}")
    _OUT.print(t)
    if len(stable) > max_rows:
        _OUT.print(f"... and {len(stable) - max_rows} more (--max-rows)")
    if stable.empty:
        _OUT.print(f"no link is held in {share:.0%} of the windows (see -o for every window's graph)")
    return table


def discover_command(
    sources: list[str] = typer.Argument(..., help="MCAP logs, folders of them, globs; or files `bag import` reads (--from)."),
    kind: str = typer.Option(None, "--from", help="Source format: mcap (default), csv (also Parquet), eth-ucy, rosbag."),
    topic: str = typer.Option(None, help="Topic to take (default /features; else the features of /agents/state)."),
    time_column: str = typer.Option(None, help="csv: the time column (as bag import)."),
    time_unit: str = typer.Option(None, help="csv: unit of the time column: s, ms, us, ns."),
    agent_by: str = typer.Option(None, help="rosbag: name agents by 'topic' or 'frame'."),
    rate: float = typer.Option(None, help="csv without a time column: rows per second (as bag import)."),
    start: float = typer.Option(0.0, help="csv with --rate: the first row's time, in seconds."),
    window: int = typer.Option(500, help="Samples in each window."),
    hop: int = typer.Option(10, help="Samples between two windows."),
    tau_min: int = typer.Option(0, help="Smallest lag tested."),
    tau_max: int = typer.Option(2, help="Largest lag tested."),
    method: str = typer.Option("pcmci", help="pcmci, pcmciplus or lpcmci (latent confounders)."),
    lpcmci_param: list[str] = typer.Option([], help="LPCMCI's settings, KEY=VALUE (repeat): n_preliminary_iterations=1."),
    time_budget_ms: float = typer.Option(None, help="Budget of one window's graph (over: counted, graph stale)."),
    ci_test: str = typer.Option("parcorr", help="parcorr, robustparcorr, rcot (or tigramite's cmiknn, gpdc: slow)."),
    ci_param: list[str] = typer.Option([], help="The CI test's settings, KEY=VALUE (repeat): n_features=8."),
    alpha: float = typer.Option(0.01, help="MCI significance level (the discovery node's default)."),
    pc_alpha: float = typer.Option(0.05, help="PC1 condition-selection level."),
    max_conds_dim: int = typer.Option(None, help="Cap on conditions in PC1."),
    missing: str = typer.Option("complete", help="NaN handling: complete (tigramite's missing_flag) or testwise (each test on its own observed rows)."),
    fdr_method: str = typer.Option("none", help="none or fdr_bh."),
    stability_k: int = typer.Option(10, help="Stability = share of the last k graphs holding a link."),
    assume: list[str] = typer.Option([], help="A link rule in YAML (repeat): '{forbid: \"h*.a -> robot.v\", lag: 0}'."),
    workers: int = typer.Option(1, help="Worker processes on this machine (a local Dask cluster)."),
    cluster: str = typer.Option(None, help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    chunk: int = typer.Option(200, help="Windows per task: a long log is cut into stretches (0: one task per log)."),
    output: Path = typer.Option(None, "-o", "--output", help="OUT.parquet or .csv (rows), or OUT.mcap (/causal/graph)."),
    png: str = typer.Option("", "--png", help="Draw the most stable graph to this PNG."),
    share: float = typer.Option(0.5, help="The most stable graph: links in at least this share of the windows."),
    max_rows: int = typer.Option(40, help="Rows of the printed table."),
) -> None:
    """Causal graphs of recorded logs: the discovery node's windowed loop run offline, in one command."""
    discovery = _lazy("models.causal.discover")
    if output is not None and output.suffix.lower() not in (".parquet", ".csv", ".mcap"):
        raise CommandError("discover", f"-o {output}: want a .parquet, .csv or .mcap file")
    tables, notes = _lazy("nodes.offline").load_tables(sources, kind, topic, time_column=time_column, time_unit=time_unit, agent_by=agent_by,
                                                      rate=rate, start=start)
    for note in notes:
        _ERR.print(note)
    if not tables:
        raise CommandError("discover", "no samples in the sources")
    model = {"tau_min": tau_min, "method": method, "ci_test": ci_test, "ci_params": _ci_params(ci_param),
             "pc_alpha": pc_alpha, "alpha_level": alpha, "max_conds_dim": max_conds_dim, "fdr_method": fdr_method,
             "missing": missing, "lpcmci_params": _ci_params(lpcmci_param), "time_budget_ms": time_budget_ms}
    rules = _rules(assume)
    if rules:
        model["link_rules"] = rules
    with Progress(TextColumn("discover"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"),
                  TimeElapsedColumn(), console=_ERR, transient=True) as bar:
        job = bar.add_task("discover", total=None)
        out = discovery.discover_graphs(tables, window=window, hop=hop, tau_max=tau_max, stability_k=stability_k,
                              workers=workers, cluster=cluster, chunk=chunk or None,
                              progress=lambda done, total: bar.update(job, completed=done, total=total), **model)
    for line in out.short:
        _ERR.print(line)
    for what, why in out.failed:
        _ERR.print(f"failed: {what}: {why}")
    if not out.graphs:
        _ERR.print("no window to compute: nothing written")
        raise typer.Exit(1)
    df = discovery.table_of(out.graphs)
    if output is not None:
        _ERR.print(_write(output, df, out.graphs))
    table = _print_summary(df, share, max_rows)
    if png:
        first = out.graphs[0].result.results
        ci_test_name = _lazy("nodes.discovery_worker").ci_test_name
        msg = graph_message(stable_graph(table, share), method=method, ci_test=ci_test_name(str(first.get("ci_test", ci_test))),
                            alpha=alpha, n_samples=window)
        for path in render_png(msg, png):
            _ERR.print(f"wrote {path}")
    if out.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``discover`` command to the root app."""
    app.command("discover", no_args_is_help=True)(discover_command)
