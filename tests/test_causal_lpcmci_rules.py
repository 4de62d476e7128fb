"""CovarianceLPCMCI's replacements inside tigramite's orientation rules equal tigramite's own methods.

The path search of rules ER09 / ER10 on random graphs (a stale graph_full_dict too, as
tigramite's rules leave it), and the sepset votes (lpcmci_votes.py) on the state of real runs,
asked again between random writes: same answers, same maximal p-values, same Ledger.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from test_causal_lpcmci_graph import MIDDLE, pair, random_graph
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.lpcmci import LPCMCI

from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.linkstatus import Ledger
from causalstream.models.causal.lpcmci import CovarianceLPCMCI, run_lpcmci
from causalstream.models.causal.lpcmci_citest import LPCMCITest
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.causal.toys import stationary

PATH_PATTERNS = [["-*>", "o*>", "o*o"], ["o*o", "o*>", "-*>"], ["-*>"], ["o*>", "o*o"]]


@pytest.mark.parametrize("seed", range(10))
def test_uncovered_paths_equal_tigramite(seed: int) -> None:
    """Every (start, end) pair and pattern list: the same paths in the same order, before and after writes
    that tigramite's graph_full_dict does not see."""
    rng = np.random.default_rng(seed)
    n, tau_max = 3 + seed % 3, 1 + seed % 2
    graph = random_graph(n, tau_max, 400 + seed, density=0.6 + 0.05 * (seed % 4))
    for links in graph.values():   # the marks a potentially directed path walks on, more often
        for key, link in links.items():
            if link and rng.random() < 0.5:
                links[key] = str(rng.choice(["o-o", "o->", "-->", "o?>", "-!>"]))
    for j, links in graph.items():   # lag 0 written both ways again
        for (i, lag), link in links.items():
            if lag == 0 and i < j:
                graph[i][(j, 0)] = "" if not link else ({">": "<"}.get(link[2], link[2]) + link[1] +
                                                        {"<": ">"}.get(link[0], link[0]))
    ours, ref = pair(n, tau_max, graph)
    for lp in (ours, ref):
        lp._initialize_full_graph()
    nodes = [(i, -lag) for i in range(n) for lag in range(tau_max + 1)]
    found = 0
    for round_ in range(2):
        for start in nodes:
            for end in nodes:
                if start == end:
                    continue
                for patterns in PATH_PATTERNS:
                    try:
                        want = ref._get_potentially_directed_uncovered_paths(start, end, patterns)
                    except UnboundLocalError:
                        with pytest.raises(UnboundLocalError):
                            ours._get_potentially_directed_uncovered_paths(start, end, patterns)
                        continue
                    assert ours._get_potentially_directed_uncovered_paths(start, end, patterns) == want
                    found += len(want)
        if round_ == 0:   # written after the full graph was made, as tigramite's rules do
            for _ in range(6):
                j, (i, lag) = int(rng.integers(n)), nodes[int(rng.integers(len(nodes)))]
                if (i, lag) != (j, 0):
                    new = str(rng.choice(["", "o-o", "-->", "o->"]))
                    for lp in (ours, ref):
                        lp._write_link((i, lag), (j, 0), new)
    assert found > 0, "no path found: a weak graph"


def _window(seed: int, n: int, tau_max: int) -> tuple[np.ndarray, CovParCorr]:
    X, _ = stationary(n + 2, tau_max, 600, seed, contemp_fraction=0.3)
    X = X[:, :n]
    return X, CovParCorr(LaggedCovariance(n, 600, tau_max).update_many(X).stats(), n)


@pytest.mark.parametrize("seed", range(6))
def test_sepset_votes_equal_tigramite(seed: int) -> None:
    """_B_in_SepSet_AC / _B_not_in_SepSet_AC on a real run's state, each asked twice among random writes:
    answers, pval_max / pval_max_val / pval_max_card and the Ledger (n_eff, status codes) as tigramite's."""
    rng = np.random.default_rng(seed)
    n, tau_max = 3 + seed % 3, 1 + seed % 2
    _, engine = _window(60 + seed, n, tau_max)
    ours = CovarianceLPCMCI(n, tau_max)
    run_lpcmci(ours, engine, 0, tau_max, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LPCMCI(DataFrame(np.zeros((10, n))), ParCorr())
    for name in ("tau_max", "tau_min", "graph_dict", "sepsets", "pval_max", "pval_max_val", "pval_max_card",
                 "max_cond_px", "max_p_global", "max_q_global", "use_a_pds_t_for_majority", "pc_alpha",
                 "parents_of_lagged", "verbosity"):
        setattr(ref, name, copy.deepcopy(getattr(ours, name)))
    ledgers = [Ledger(engine, n, tau_max), Ledger(engine, n, tau_max)]
    ref.cond_ind_test = LPCMCITest()
    for lp, led in zip((ours, ref), ledgers, strict=True):
        lp.cond_ind_test.use(led)
    nodes = [(i, -lag) for i in range(n) for lag in range(tau_max + 1)]
    votes = []
    for _ in range(40):
        A, B, C = (nodes[int(k)] for k in rng.choice(len(nodes), 3, replace=False))
        votes.append((A, B, C))
        for A, B, C in [votes[-1], votes[int(rng.integers(len(votes)))]]:   # a new vote and one asked before
            for method in ("_B_in_SepSet_AC", "_B_not_in_SepSet_AC"):
                assert getattr(ours, method)(A, B, C) == getattr(ref, method)(A, B, C), (method, A, B, C)
        if rng.random() < 0.3:
            j, (i, lag) = int(rng.integers(n)), nodes[int(rng.integers(len(nodes)))]
            if (i, lag) != (j, 0):
                old = ref._get_link((i, lag), (j, 0))
                new = (old[0] + str(rng.choice(list(MIDDLE))) + old[2] if old and rng.random() < 0.5
                       else str(rng.choice(["", "o-o", "-->", "<->", "o->"])))
                for lp in (ours, ref):
                    lp._write_link((i, lag), (j, 0), new)
    for name in ("pval_max", "pval_max_val", "pval_max_card"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert (ledgers[0].n_eff == ledgers[1].n_eff).all() and (ledgers[0].code == ledgers[1].code).all()
    assert ours._remembered_votes() > 0, "no vote ran its tests: a weak state"


@pytest.mark.parametrize("seed", range(6))
def test_triples_of_sparse_graphs_equal_tigramite(seed: int) -> None:
    """Sparse graphs, where several nodes have the same (or no) links: what is kept per row of a node's links
    must not be another node's answer (triples and quadruples of every pattern = tigramite's, in order)."""
    from test_causal_lpcmci_graph import QUADRUPLES, TRIPLES
    n, tau_max = 4 + seed % 3, 1 + seed % 2
    ours, ref = pair(n, tau_max, random_graph(n, tau_max, 500 + seed, density=0.12 + 0.04 * (seed % 3)))
    for patterns in TRIPLES + [("***", "***", ""), ("***", "***", "***")]:
        assert ours._find_triples(*patterns) == ref._find_triples(*patterns), patterns
    for patterns in QUADRUPLES:
        assert ours._find_quadruples(*patterns) == ref._find_quadruples(*patterns), patterns


def test_nodes_with_the_same_links_keep_their_own_triples() -> None:
    """0 and 1 both linked to 2 and 3 alike: their rows of links are equal, their triples are not."""
    graph = random_graph(4, 1, 0, density=0.0)
    for a in (0, 1):
        for b in (2, 3):
            graph[b][(a, 0)], graph[a][(b, 0)] = "o->", "<-o"
    ours, ref = pair(4, 1, graph)
    for patterns in [("***", "***", ""), ("**>", "<**", ""), ("<**", "**>", "")]:
        got = ours._find_triples(*patterns)
        assert got == ref._find_triples(*patterns) and len(got) >= 4, patterns


@pytest.mark.parametrize("seed", range(3))
def test_sepsets_equal_tigramite(seed: int) -> None:
    """_get_sepsets of every two nodes within tau_max (either order, any lags) = tigramite's, on random sepsets."""
    rng = np.random.default_rng(seed)
    n, tau_max = 3 + seed, 1 + seed % 2
    ours, ref = pair(n, tau_max, random_graph(n, tau_max, 600 + seed, density=0.5))
    nodes = [(i, -lag) for i in range(n) for lag in range(tau_max + 1)]
    sepsets = {j: {(i, -tau): {(frozenset(nodes[int(k)] for k in rng.choice(len(nodes), int(rng.integers(4)))),
                                str(rng.choice(["wm", "nwm"]))) for _ in range(int(rng.integers(3)))}
                   for i in range(n) for tau in range(tau_max + 1) if tau > 0 or i < j} for j in range(n)}
    for lp in (ours, ref):
        lp.sepsets = sepsets
    nodes = [(i, -lag) for i in range(n) for lag in range(2 * tau_max + 1)]
    asked = 0
    for A in nodes:
        for B in nodes:
            if A != B and abs(A[1] - B[1]) <= tau_max:
                assert ours._get_sepsets(A, B) == ref._get_sepsets(A, B), (A, B)
                asked += 1
    assert asked > 0
