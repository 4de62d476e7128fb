"""PCMCI+'s MCI skeleton phase (tigramite's ``_pcmciplus_mci_skeleton_phase``), asked in batches.

The graph starts from the link assumptions: PC1's lagged parents (marks '-?>' / '-->') and
every lag-0 link. Level p tests each remaining pair (i, j, tau) given the size-p subsets S of
j's contemporaneous adjacencies (without i), plus the lagged parents of j and of i (as MCI);
a pair stops at its first test with p > pc_alpha: the link goes (both directions at lag 0) and
S is its sepset. tigramite's order is kept exactly: pairs in (i, j, tau) order, subsets in
``itertools.combinations`` order over the adjacencies as sorted at the end of the previous
level (by the smallest |val| so far, stable); a lag-0 pair removed by (i, j) is not tested
again as (j, i); p_matrix / val_matrix hold each pair's test with the largest p ('>=': ties go
to the later test); a link with middle mark '-' is never tested (val 1, p 0).

A level's tests are asked ahead (pcmciplus_ask.Asker) in two engine batches: the first FIRST
subsets of every pair, then the rest of the pairs still dependent; then the level is replayed
in tigramite's order from the answers, which alone leaves a trace (Ledger, n_degenerate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.pcmciplus_ask import Asker, Test
from causalstream.models.causal.postprocess import fdr_bh, symmetrize_contemp

__all__ = ["Skeleton", "mci_skeleton", "skeleton_phase"]

Node = tuple[int, int]
Pair = tuple[int, int, int]
FIRST = 8
"""Subsets per pair asked in a level's first round; the rest of the still-dependent pairs' go in a second."""


@dataclass
class Skeleton:
    """The skeleton phase's graph, sepsets and p / val matrices (tigramite's dict, as fields).

    >>> Skeleton(np.zeros((1, 1, 1), "<U3"), {}, np.ones((1, 1, 1)), np.zeros((1, 1, 1))).sepsets
    {}
    """

    graph: np.ndarray
    sepsets: dict[tuple[Node, int], list[Node]]
    p_matrix: np.ndarray
    val_matrix: np.ndarray


def _contemp_adj(marks: dict[Pair, str], n: int, val_min: dict[int, dict[Node, float]] | None = None
                 ) -> list[list[Node]]:
    """Per j, the (i, 0) linked to j at lag 0: i ascending, or (val_min given) by |val_min|, largest first
    (stable), as tigramite's _get_adj_time_series_contemp."""
    out: list[list[Node]] = [[] for _ in range(n)]
    for i, j, tau in sorted(marks):
        if tau == 0:
            out[j].append((i, 0))
    if val_min is not None:
        for j in range(n):
            present = set(out[j])
            vals = {k: abs(v) for k, v in val_min[j].items() if k in present}
            out[j] = sorted(vals, key=vals.__getitem__, reverse=True)
    return out


def _remaining(marks: dict[Pair, str], adjt: list[list[Node]], p: int) -> list[Pair]:
    """tigramite's _remaining_pairs: (i, j, tau) with a link and >= p other adjacencies of j, in that order."""
    # (i, 0) is among adjt[j] exactly when the lag-0 link i - j is there
    return [(i, j, tau) for i, j, tau in sorted(marks) if len(adjt[j]) - (tau == 0) >= p]


def _ask_ahead(asker: Asker, chains: dict[Pair, list[tuple[Node, ...]]], pairs: list[Pair]) -> None:
    """Answer the level's tests in rounds: the first FIRST subsets of every pair, then all the
    rest of the pairs not yet independent. A lag-0 pair (i, j), i > j, whose (j, i) was found
    independent is dropped: tigramite will not test it."""
    pos, size = 0, FIRST
    alive = [pair for pair in pairs if pair in chains]
    gone: set[tuple[int, int]] = set()
    while alive:
        batch: dict[Pair, list[Test]] = {}
        for i, j, tau in alive:
            batch[(i, j, tau)] = [asker.test(i, tau, j, S) for S in chains[(i, j, tau)][pos:pos + size]]
        asker.prefetch(t for ts in batch.values() for t in ts)
        pos, size, nxt = pos + size, 1 << 30, []
        for (i, j, tau), ts in batch.items():
            if not all(asker.dependent(t) for t in ts):
                if tau == 0:
                    gone.add((i, j))
            elif pos < len(chains[(i, j, tau)]):
                nxt.append((i, j, tau))
        alive = [(i, j, tau) for i, j, tau in nxt if not (tau == 0 and i > j and (j, i) in gone)]


def mci_skeleton(asker: Asker, graph: np.ndarray, tau_min: int, tau_max: int, max_conds_dim: int) -> Skeleton:
    """tigramite's ``_pcalg_skeleton`` in mode 'contemp_conds' on ``graph`` (changed in place).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 3)); X[:, 1] += X[:, 0]; X[:, 2] += X[:, 1]
    >>> eng = CovParCorr(LaggedCovariance(3, 300, 0).update_many(X).stats(), 3)
    >>> g = np.full((3, 3, 1), "o?o"); sk = mci_skeleton(Asker(eng, 3, 0, 0.01, {0: [], 1: [], 2: []}), g, 0, 0, 3)
    >>> sk.graph[:, :, 0].tolist(), sk.sepsets[((0, 0), 2)]
    ([['', 'o?o', ''], ['o?o', '', 'o?o'], ['', 'o?o', '']], [(1, 0)])
    """
    N = graph.shape[0]
    graph[range(N), range(N), 0] = ""
    # the links as a dict (i, j, tau) -> mark: tigramite's loops read single entries, which numpy is slow at
    where = np.nonzero(graph != "")
    marks = dict(zip(zip(*(w.tolist() for w in where)), graph[where].tolist()))
    in_range = {pair: m for pair, m in marks.items() if tau_min <= pair[2] <= tau_max}
    adjt = _contemp_adj(marks, N)
    val_min: dict[int, dict[Node, float]] = {j: {} for j in range(N)}
    for i, j, t in sorted(marks, key=lambda pair: (pair[1], pair[0], pair[2])):
        val_min[j][(i, -t)] = np.inf
    pmax: dict[Pair, float] = {pair: 0.0 for pair in marks}
    vals: dict[Pair, float] = {pair: 0.0 for pair in marks}
    sepsets: dict[tuple[Node, int], list[Node]] = {((i, -tau), j): [] for tau in range(tau_min, tau_max + 1)
                                                   for i in range(N) for j in range(N)}
    p = 0
    while p <= max_conds_dim:
        pairs = _remaining(in_range, adjt, p)
        if not pairs:
            break
        conds = {(i, j, tau): list(itertools.combinations([a for a in adjt[j] if a != (i, -tau)], p))
                 for i, j, tau in pairs}
        _ask_ahead(asker, {pair: c for pair, c in conds.items() if marks[pair][1] != "-"}, pairs)
        for pair in pairs:
            if pair not in in_range:
                continue     # removed earlier in this level, as (j, i)
            i, j, tau = pair
            fixed = marks[pair][1] == "-"
            key = (i, -tau)
            for S in conds[pair]:
                val, pval, dependent = (1.0, 0.0, True) if fixed else asker.ask(asker.test(i, tau, j, S))
                val_min[j][key] = min(abs(val), val_min[j].get(key))  # pyright: ignore[reportArgumentType]
                if pval >= pmax[pair]:
                    pmax[pair], vals[pair] = pval, val
                if not dependent:
                    if tau == 0:
                        for gone in (pair, (j, i, 0)):
                            del marks[gone], in_range[gone]
                            graph[gone] = ""
                        sepsets[((i, 0), j)] = sepsets[((j, 0), i)] = list(S)
                        pmax[(j, i, 0)] = pmax[pair]
                    else:
                        del marks[pair], in_range[pair]
                        graph[pair] = ""
                        sepsets[((i, -tau), j)] = list(S)
                    break
        p += 1
        adjt = _contemp_adj(marks, N, val_min)
    p_matrix = np.ones((N, N, tau_max + 1))
    val_matrix = np.zeros((N, N, tau_max + 1))
    if pmax:
        idx = tuple(np.array(list(pmax)).T)
        p_matrix[idx] = list(pmax.values())
        val_matrix[idx] = [vals[pair] for pair in pmax]
    return Skeleton(graph, sepsets, p_matrix, val_matrix)


def skeleton_phase(asker: Asker, links: LinkAssumptions, parents: dict[int, list[Node]], tau_min: int, tau_max: int,
                   max_conds_dim: int | None, fdr_method: str, p_matrix: np.ndarray, val_matrix: np.ndarray) -> Skeleton:
    """The skeleton phase after PC1: its graph and sepsets, and PC1's matrices (changed in place)
    updated with the skeleton's values (lag 0 symmetrised, the tested lagged links), then FDR.

    ``links``: the checked link assumptions (LinkAssumptions.default when none were given).

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> from causalstream.models.causal.parcorr import CovParCorr
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2)); X[:, 1] += X[:, 0]
    >>> eng = CovParCorr(LaggedCovariance(2, 300, 2).update_many(X).stats(), 2)
    >>> par = {0: [], 1: []}
    >>> sk = skeleton_phase(Asker(eng, 2, 1, 0.01, par), LinkAssumptions.default(2, 0, 1), par, 0, 1, None, "none",
    ...                     np.ones((2, 2, 2)), np.zeros((2, 2, 2)))
    >>> str(sk.graph[0, 1, 0]), bool(sk.p_matrix[0, 1, 0] == sk.p_matrix[1, 0, 0] < 1e-10)
    ('o?o', True)
    """
    N = links.n_vars
    marks = links.marks
    initial = np.zeros((N, N, tau_max + 1), dtype="<U3")
    initial[:, :, 0] = marks[:, :, 0]
    for j in range(N):
        for i, lag in parents[j]:
            if marks[i, j, -lag] in ("-?>", "-->"):
                initial[i, j, -lag] = marks[i, j, -lag]
    tested = initial != ""
    sk = mci_skeleton(asker, initial.copy(), tau_min, tau_max, N if max_conds_dim is None else max_conds_dim)
    sp, sv = sk.p_matrix, sk.val_matrix
    m0 = initial[:, :, 0]
    for i, j in zip(*np.nonzero((m0 == "-->") | (m0 == "-?>"))):
        sp[j, i, 0], sv[j, i, 0] = sp[i, j, 0], sv[i, j, 0]
    symmetrize_contemp(sp, sv, present=(m0 == "o-o") | (m0 == "o?o"))
    p_matrix[:, :, 0], val_matrix[:, :, 0] = sp[:, :, 0], sv[:, :, 0]
    copy = tested & (initial != "<--") & (initial != "<?-")
    p_matrix[copy], val_matrix[copy] = sp[copy], sv[copy]
    if fdr_method not in (None, "none"):
        lagged = links.candidates.copy()
        lagged[:, :, 0] = False
        flat = np.concatenate(([1.0], p_matrix[lagged]))[None, None, :]   # fdr_bh corrects lags >= 1
        p_matrix = np.array(p_matrix)
        p_matrix[lagged] = fdr_bh(flat, 1, fdr_method)[0, 0, 1:]
    return Skeleton(sk.graph, sk.sepsets, p_matrix, val_matrix)
