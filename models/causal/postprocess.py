"""Matrix post-processing shared by PCMCI and PCMCI+: FDR, string graphs, symmetrisation.

Each function follows tigramite's PCMCIbase method of the same purpose
(``get_corrected_pvalues``, ``convert_to_string_graph``, ``symmetrize_p_and_val_matrix``)
for the default link assumptions (every link of lag tau_min..tau_max possible).
They are steps of a run (mci.py, pcmciplus.py), replayed bit for bit from tigramite, not
readings of a finished graph: those are in graph.py.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["fdr_bh", "string_graph", "symmetrize_contemp"]


def fdr_bh(p_matrix: np.ndarray, tau_min: int, fdr_method: str = "fdr_bh") -> np.ndarray:
    """Benjamini-Hochberg q-values over the lagged links (lag >= max(1, tau_min)).

    >>> p = np.full((1, 1, 3), 0.02); q = fdr_bh(p, tau_min=0); q[0, 0].tolist()
    [0.02, 0.02, 0.02]
    """
    if fdr_method in (None, "none"):
        return p_matrix
    if fdr_method != "fdr_bh":
        raise ParameterError("fdr", f"fdr_method must be 'none' or 'fdr_bh', got {fdr_method!r}")
    mask = np.zeros(p_matrix.shape, dtype=bool)
    mask[:, :, max(1, tau_min):] = True
    q = np.array(p_matrix)
    pvs = p_matrix[mask]
    order = np.argsort(pvs)
    ranked = pvs[order] / (np.arange(1, len(pvs) + 1) / float(len(pvs)))
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    ranked[ranked > 1] = 1
    out = np.empty_like(ranked)
    out[order] = ranked
    q[mask] = out
    return q


def string_graph(graph_bool: np.ndarray) -> np.ndarray:
    """Boolean (or 0/1/2) link matrix to tigramite's string graph.

    >>> b = np.zeros((2, 2, 2), dtype=int); b[0, 1, 1] = 1; b[0, 1, 0] = 1
    >>> string_graph(b)[:, :, 0].tolist(), str(string_graph(b)[0, 1, 1])
    ([['', '-->'], ['<--', '']], '-->')
    """
    g = np.zeros(graph_bool.shape, dtype="<U3")
    g[:, :, 1:][graph_bool[:, :, 1:] == 1] = "-->"
    b0 = graph_bool[:, :, 0]
    if not b0.any():
        return g
    g0 = g[:, :, 0]
    g0[(b0 == 1) & (b0.T == 1)] = "o-o"
    g0[(b0 == 2) & (b0.T == 2)] = "x-x"
    # tigramite's loop over the one-sided pairs i -> j: (i, j) '-->', (j, i) '<--' (no two visits meet)
    one = (b0 == 1) & (b0.T == 0)
    g0[one] = "-->"
    g0[one.T] = "<--"
    return g


def symmetrize_contemp(p_matrix: np.ndarray, val_matrix: np.ndarray, present: np.ndarray | None = None) -> None:
    """Give both directions of each lag-0 pair the values of the larger p (in place).

    ``present[i, j]`` says the pair i - j is among the link assumptions (default: all i != j).
    Ties go to the entry (i, j) with i < j, as tigramite's loop order does.

    >>> p = np.ones((2, 2, 1)); p[0, 1, 0] = 0.1; p[1, 0, 0] = 0.3
    >>> v = np.zeros((2, 2, 1)); v[1, 0, 0] = 0.5
    >>> symmetrize_contemp(p, v); float(p[0, 1, 0]), float(v[0, 1, 0])
    (0.3, 0.5)
    """
    # tigramite's double loop visits (i, j) before (j, i) for i < j and no other visit touches
    # that pair: the two visits, one array operation each over the upper triangle.
    i, j = _upper(p_matrix.shape[0])
    p0, v0 = p_matrix[:, :, 0], val_matrix[:, :, 0]
    p_ij, p_ji, v_ij, v_ji = p0[i, j], p0[j, i], v0[i, j], v0[j, i]
    first = p_ij >= p_ji if present is None else present[i, j] & (p_ij >= p_ji)
    p_ji, v_ji = np.where(first, p_ij, p_ji), np.where(first, v_ij, v_ji)
    second = p_ji >= p_ij if present is None else present[j, i] & (p_ji >= p_ij)
    p_ij, v_ij = np.where(second, p_ji, p_ij), np.where(second, v_ji, v_ij)
    p0[i, j], p0[j, i], v0[i, j], v0[j, i] = p_ij, p_ji, v_ij, v_ji


@lru_cache(maxsize=64)
def _upper(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs i < j of n variables (cached: the same arrays serve every window).

    >>> [a.tolist() for a in _upper(3)]
    [[0, 0, 1], [1, 2, 2]]
    """
    i, j = np.triu_indices(n, 1)
    i.flags.writeable = j.flags.writeable = False
    return i, j
