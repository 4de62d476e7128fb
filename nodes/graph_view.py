"""Views of a CausalGraph: tigramite's plots as PNG, and a rich table of links.

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
from rich.table import Table

from causalstream.nodes.graph_msg import graph_of
from causalstream.stream.messages import CausalGraph

__all__ = ["links_table", "render_png", "summary_line"]

log = logging.getLogger(__name__)


def links_table(graph: CausalGraph, max_rows: int = 40) -> Table:
    """One row per link, strongest first: source, target, lag, mark, strength (val), p, stability.

    >>> g = CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)))
    >>> links_table(g).row_count
    0
    """
    table = Table("source", "target", "lag", "link", "strength", "p", "stability", title=summary_line(graph))
    g = graph_of(graph)
    index = {n: k for k, n in enumerate(g.names)}
    rows = sorted(g.links(), key=lambda r: -abs(g.val[index[r[0]], index[r[1]], r[2]]))
    for src, dst, lag, mark in rows[:max_rows]:
        i, j = index[src], index[dst]
        v, p, s = g.val[i, j, lag], g.p[i, j, lag], g.stability[i, j, lag]
        colour = "red" if v > 0 else "blue"
        table.add_row(src, dst, f"-{lag}", mark, f"[{colour}]{v:+.3f}[/]", f"{p:.1e}", f"{s:.0%}")
    if len(rows) > max_rows:
        table.caption = f"... and {len(rows) - max_rows} more links"
    return table


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
    ax.set_title(summary_line(graph) + f"\nagent links: {int(adj.sum())} among {len(agents)} agents", fontsize=7)
    fig.savefig(out[0], dpi=110, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.5 * len(graph.names))))
    tp.plot_time_series_graph(graph=g.marks, val_matrix=g.val, var_names=g.names, fig_ax=(fig, ax))
    fig.savefig(out[1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    log.info("wrote %s and %s", out[0], out[1])
    return out
