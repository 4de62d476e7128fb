"""From an agent-level causal graph to the predictor's adjacency prior.

Two ways to gate attention with a discovered graph (``adj[i, j] = 1``: agent i drives j):

- ``"links"``: a source reaches a target only along a discovered link. Strict, and on the
  simulator's scenes it costs accuracy: in a bounded arena the other agents' positions tell
  a target where it is, even when they do not cause its motion (bench/trajectory.py,
  ``robustness_sim``).
- ``"agents"``: a source is shut off from every target when the graph links it to nobody,
  neither as cause nor as effect: the non-causal agents (distractors) of CRiTIC's robustness
  test. Every other pair stays open, so the learned gate decides.

Self-loops are always 1.

>>> adj = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]])  # 0 drives 1; agent 2 takes no part
>>> adjacency_prior(adj, "links").tolist()
[[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
>>> adjacency_prior(adj, "agents").tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["PRIOR_MODES", "adjacency_prior", "unlinked"]

PRIOR_MODES = ("links", "agents")


def adjacency_prior(adjacency: np.ndarray, mode: str = "agents") -> np.ndarray:
    """Prior [A, A] (float32, source -> target) from an agent adjacency [A, A] (0/1).

    >>> adjacency_prior(np.zeros((2, 2)), "every")
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: adjacency_prior: mode must be one of ('links', 'agents'), got 'every'
    """
    if mode not in PRIOR_MODES:
        raise ParameterError(what="adjacency_prior", reason=f"mode must be one of {PRIOR_MODES}, got {mode!r}")
    adj = (np.asarray(adjacency) != 0).astype(np.float32)
    np.fill_diagonal(adj, 0.0)
    if mode == "links":
        prior = adj
    else:
        prior = np.repeat(~unlinked(adj)[:, None], len(adj), axis=1).astype(np.float32)
    np.fill_diagonal(prior, 1.0)
    return prior


def unlinked(adjacency: np.ndarray) -> np.ndarray:
    """Agents [A] (bool) that the adjacency links to nobody, as cause or effect (self-loops aside).

    >>> unlinked(np.array([[1, 1, 0], [0, 0, 0], [0, 0, 1]])).tolist()
    [False, False, True]
    """
    off = (np.asarray(adjacency) != 0) & ~np.eye(len(adjacency), dtype=bool)
    return ~(off.any(axis=0) | off.any(axis=1))
