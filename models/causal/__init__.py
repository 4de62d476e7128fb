"""Incremental windowed lagged causal discovery (PCMCI / PCMCI+ with ParCorr).

:class:`WindowedPCMCI` keeps the covariance of the lagged embedding over a sliding window
and recomputes the graph from it, identical to tigramite on the same window.
:class:`LinkStability`, :func:`diff_graphs` and :class:`DriftMonitor` are the small pieces
a discovery node calls around it.

>>> from causalstream.models.causal import WindowedPCMCI
>>> WindowedPCMCI(n_vars=2, window=100, tau_max=1).results()["graph"].shape
(2, 2, 2)
"""

from causalstream.models.causal.diff import GraphDiff, diff_graphs
from causalstream.models.causal.drift import DriftEvent, DriftMonitor
from causalstream.models.causal.stability import LinkStability
from causalstream.models.causal.windowed import WindowedPCMCI

__all__ = ["DriftEvent", "DriftMonitor", "GraphDiff", "LinkStability", "WindowedPCMCI", "diff_graphs"]
