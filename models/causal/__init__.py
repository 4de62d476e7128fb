"""Incremental windowed lagged causal discovery (PCMCI / PCMCI+ with ParCorr, RobustParCorr, RCoT).

:class:`WindowedPCMCI` keeps the covariance of the lagged embedding over a sliding window
and recomputes the graph from it, identical to tigramite on the same window.
:class:`DiscoveryLoop` (loop.py) is the streaming loop around it: hop, stability, drift
policy, restarts, saved state. :class:`LaggedGraph` (graph.py) is the graph it returns:
links, diff, agent adjacency, tigramite's results dict. :func:`discover` (discover.py) runs
the loop offline over whole tables, on worker processes or a Dask cluster.

The names below load on first use: the graph module is read by the predictor, the views
and the CLI, which must not pay for tigramite and river (about 2 s) to read a graph.

>>> from causalstream.models.causal import WindowedPCMCI
>>> WindowedPCMCI(n_vars=2, window=100, tau_max=1).results()["graph"].shape
(2, 2, 2)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the type checker and editors see; at run time __getattr__ loads them
    from causalstream.models.causal.discover import discover
    from causalstream.models.causal.drift import DriftEvent, DriftMonitor
    from causalstream.models.causal.graph import GraphDiff, LaggedGraph, diff_graphs
    from causalstream.models.causal.loop import DiscoveryLoop
    from causalstream.models.causal.stability import LinkStability
    from causalstream.models.causal.windowed import WindowedPCMCI

__all__ = ["DiscoveryLoop", "DriftEvent", "DriftMonitor", "GraphDiff", "LaggedGraph", "LinkStability",
           "WindowedPCMCI", "diff_graphs", "discover"]

_HOME = {
    "DiscoveryLoop": "loop",
    "DriftEvent": "drift",
    "DriftMonitor": "drift",
    "GraphDiff": "graph",
    "LaggedGraph": "graph",
    "LinkStability": "stability",
    "WindowedPCMCI": "windowed",
    "diff_graphs": "graph",
    "discover": "discover",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
