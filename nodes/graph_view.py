"""Views of a CausalGraph: tigramite's plots as PNG, and a rich table of links.

The table says what the graph knows: each link's status and rows (n_eff), the graph's status
line (why a graph is empty or partial), and a legend of the PAG marks it holds (LPCMCI's
``<->``, ``o->``, ``o-o``, ``x-x``). Deterministic links are listed after the findings.

>>> import numpy as np
>>> from causalstream.stream.messages import CausalGraph
>>> g = CausalGraph(names=["robot.v", "h1.v"], tau_max=1, graph=[[["", ""], ["", "-->"]], [["", ""], ["", ""]]],
...                 val=np.full((2, 2, 2), 0.4), p=np.full((2, 2, 2), 0.001))
>>> links_table(g).row_count
1
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType

import numpy as np  # noqa: F401 - the doctests build their graphs with it
from rich import box
from rich.table import Column, Table

from causalstream.models.causal.graph import LaggedGraph, legend
from causalstream.nodes.graph_msg import graph_of
from causalstream.stream.messages import CausalGraph

__all__ = ["echo_notes", "legend_lines", "links_table", "render_png", "status_line", "summary_line"]

log = logging.getLogger(__name__)


def links_table(graph: CausalGraph, max_rows: int = 40) -> Table:
    """One row per link, findings strongest first, then deterministic links: source, target, lag,
    mark, status, rows (n_eff), strength (val), p, stability; the graph's status line under the
    title, a legend of its PAG marks in the caption.

    >>> g = CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)))
    >>> links_table(g).row_count
    0
    """
    g = graph_of(graph)
    known = bool(graph.link_status.size)
    columns: list[str | Column] = ["source", "target", "lag", "link"]
    if known:
        columns += [Column("status", no_wrap=True, min_width=len("deterministic")), "rows"]
    columns += ["strength", "p", "stab." if known else "stability"]
    status = status_line(graph)
    table = Table(*columns, title=summary_line(graph) + (f"\n{status}" if status else ""), box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False)
    index = {n: k for k, n in enumerate(g.names)}
    rows = sorted(g.links(), key=lambda r: (g.status[index[r[0]], index[r[1]], r[2]] == "deterministic",
                                            -abs(g.val[index[r[0]], index[r[1]], r[2]])))
    for src, dst, lag, mark in rows[:max_rows]:
        i, j = index[src], index[dst]
        v, p, s = g.val[i, j, lag], g.p[i, j, lag], g.stability[i, j, lag]
        colour = "red" if v > 0 else "blue"
        cells = [src, dst, f"-{lag}", mark]
        if known:
            st = str(g.status[i, j, lag])
            cells += [f"[yellow]{st}[/]" if st != "tested" else st, _rows(int(g.n_eff[i, j, lag]))]
        table.add_row(*cells, f"[{colour}]{v:+.3f}[/]", f"{p:.1e}", f"{s:.0%}")
    caption = [f"... and {len(rows) - max_rows} more links"] if len(rows) > max_rows else []
    caption += legend_lines(g)
    if caption:
        table.caption = "\n".join(caption)
    return table


def _rows(n: int) -> str:
    return "-" if n < 0 else str(n)


def status_line(graph: CausalGraph) -> str:
    """What the graph knows, in one line: its status and why ("" for a graph from before statuses).

    An empty graph says which empty it is: no links found (a finding), or too little data.

    >>> g = CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)),
    ...                 graph_status="insufficient", status_reason="no lagged row yet")
    >>> status_line(g)
    'status insufficient: no graph, too little data: no lagged row yet'
    >>> g.graph_status, g.status_reason = "ok", "2 links tested on 498-499 rows"; status_line(g)
    'status ok: no links found (a finding): 2 links tested on 498-499 rows'
    """
    if not graph.graph_status:
        return ""
    g = graph_of(graph)
    empty = not g.links()
    what = {"insufficient": "no graph, too little data", "stale": "the last complete graph again (refresh over budget)",
            "ok": "no links found (a finding)" if empty else ""}.get(graph.graph_status, "")
    lacking = g.lacking()
    lack = f"; lacking data: {', '.join(lacking[:6])}{' ...' if len(lacking) > 6 else ''}" if lacking else ""
    det = "; deterministic links: functions of other variables, not findings" if (g.status == "deterministic").any() else ""
    head = f"status {graph.graph_status}" + (f": {what}" if what else "")
    return f"{head}: {graph.status_reason}{lack}{det}" if graph.status_reason else head + lack + det


def legend_lines(graph: LaggedGraph) -> list[str]:
    """One line per PAG mark the graph holds, saying what it means (none for ``-->`` only).

    >>> m = np.full((2, 2, 1), "", dtype="<U3"); m[0, 1, 0] = m[1, 0, 0] = "<->"
    >>> legend_lines(LaggedGraph(["a", "b"], m))
    ['<->  hidden common cause']
    """
    return [f"{mark}  {meaning}" for mark, meaning in legend(graph.marks)]


def echo_notes(graph: CausalGraph) -> list[str]:
    """What ``topic echo`` adds under a CausalGraph, as YAML comments: its status line and legend.

    >>> g = CausalGraph(names=["a", "b"], tau_max=0, graph=[[[""], ["<->"]], [["<->"], [""]]],
    ...                 val=np.zeros((2, 2, 1)), p=np.ones((2, 2, 1)), graph_status="ok", status_reason="1 link tested")
    >>> echo_notes(g)
    ['# status ok: 1 link tested', '# <->  hidden common cause']
    """
    lines = [status_line(graph)] + legend_lines(graph_of(graph))
    return [f"# {line}" for line in lines if line]


SHOWN_SETTINGS = ("n_features", "seed", "bandwidth_rule")
"""The CI test's settings the summary names (all of them travel in ``ci_settings``)."""


def summary_line(graph: CausalGraph) -> str:
    """A one-line description: sequence, method, window, links, compute time.

    >>> g = CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)))
    >>> summary_line(g)
    'graph #0  pcmci/ParCorr  alpha 0.05  window 0 samples (0 missing)  0 links  0.0 ms'
    >>> g.ci_test, g.ci_settings = "RCoT", {"n_features": 5, "seed": 0, "bandwidth_rule": "fixed", "ridge": 1e-6}
    >>> summary_line(g).split("  ")[1]
    'pcmci/RCoT(n_features=5,seed=0,bandwidth_rule=fixed)'
    """
    flags = f"  flags: {', '.join(graph.flags)}" if graph.flags else ""
    settings = ",".join(f"{k}={graph.ci_settings[k]}" for k in SHOWN_SETTINGS if k in graph.ci_settings)
    test = f"{graph.ci_test}({settings})" if settings else graph.ci_test
    return (
        f"graph #{graph.seq}  {graph.method}/{test}  alpha {graph.alpha:g}  window {graph.n_samples} samples "
        f"({graph.n_missing} missing)  {len(graph_of(graph).links())} links  {graph.compute_ms:.1f} ms{flags}"
    )


def _plotting() -> tuple[ModuleType, ModuleType]:
    # matplotlib and tigramite.plotting take seconds to import; every CLI command imports
    # this module, so they load on the first render only.
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")  # headless: the view renders files, the terminal shows tables
    return importlib.import_module("matplotlib.pyplot"), importlib.import_module("tigramite.plotting")


def render_png(graph: CausalGraph, path: str | Path) -> list[Path]:
    """Write tigramite's process graph to ``path`` and its time-series graph beside it.

    tigramite's plot_graph draws every mark (``<->`` with two heads, ``o->`` / ``o-o`` with
    circles, ``x-x`` with crosses); the title adds the status line and the marks' legend.

    Returns the files written (``X.png`` and ``X_timeseries.png``).

    >>> import tempfile
    >>> g = CausalGraph(names=["a.x", "b.x"], tau_max=1, graph=[[["", ""], ["", "-->"]], [["", ""], ["", ""]]],
    ...                 val=np.full((2, 2, 2), 0.5), p=np.full((2, 2, 2), 0.001))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in render_png(g, Path(d) / "g.png")]
    ['g.png', 'g_timeseries.png']
    """
    plt, tp = _plotting()
    path = Path(path)
    g = graph_of(graph)
    out = [path, path.with_name(path.stem + "_timeseries" + path.suffix)]
    fig, ax = plt.subplots(figsize=(7, 6))
    tp.plot_graph(graph=g.marks, val_matrix=g.val, var_names=g.names, fig_ax=(fig, ax),
                  link_colorbar_label="cross-MCI", node_colorbar_label="auto-MCI")
    agents, adj = g.agent_adjacency()
    extra = [status_line(graph)] + legend_lines(g)
    ax.set_title("\n".join([summary_line(graph), f"agent links ('-->' only): {int(adj.sum())} among {len(agents)} agents"]
                           + [line for line in extra if line]), fontsize=7)
    fig.savefig(out[0], dpi=110, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.5 * len(graph.names))))
    tp.plot_time_series_graph(graph=g.marks, val_matrix=g.val, var_names=g.names, fig_ax=(fig, ax))
    fig.savefig(out[1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    log.info("wrote %s and %s", out[0], out[1])
    return out
