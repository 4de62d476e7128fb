"""Incremental windowed lagged causal discovery (PCMCI / PCMCI+ with ParCorr).

:class:`WindowedPCMCI` keeps the covariance of the lagged embedding over a sliding window
and recomputes the graph from it, identical to tigramite on the same window.

>>> from causalstream.models.causal import WindowedPCMCI
>>> WindowedPCMCI(n_vars=2, window=100, tau_max=1).results()["graph"].shape
(2, 2, 2)
"""

from causalstream.models.causal.windowed import WindowedPCMCI

__all__ = ["WindowedPCMCI"]
