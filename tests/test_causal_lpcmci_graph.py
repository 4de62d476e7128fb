"""CovarianceLPCMCI's graph searches and CI-test plug-in equal tigramite's own, on random graphs and windows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.lpcmci import LPCMCI

from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.linkstatus import Ledger
from causalstream.models.causal.lpcmci import CovarianceLPCMCI
from causalstream.models.causal.lpcmci_citest import LPCMCITest
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.causal.pcmciplus import CovarianceCITest

LEFT, MIDDLE, RIGHT = "oo<<-x", "?---!LRx", "oo>>-x"   # marks drawn, the common ones more often

# The (pattern_ij, pattern_jk, pattern_ik) tigramite's rules search for (tigramite/lpcmci.py)
TRIPLES = [("**>", "o*+", ""), ("-*>", "**>", "+*o"), ("**>", "-*>", "+*o"), ("<-*", "o-+", "-->"),
           ("-*>", "-*>", "o*+"), ("o*o", "o*>", ""), ("<*o", "o*>", ""), ("<*-", "o*>", ""),
           ("o*>", "<*-", ""), ("o*>", "<*-", "***"), ("**>", "o!+", ""), ("**>", "oR+", ""), ("**>", "oL+", ""),
           ("*-*", "o!+", ""), ("*-*", "oR+", ""), ("*-*", "oL+", ""), ("*-o", "o-*", ""), ("*->", "o-*", "")]
QUADRUPLES = [("**>", "<**", "", "+*o", "o*+", "+*o"), ("*-*", "***", "", "o*+", "", "***")]


def reverse(link: str) -> str:
    return "" if link == "" else {">": "<"}.get(link[2], link[2]) + link[1] + {"<": ">"}.get(link[0], link[0])


def random_graph(n: int, tau_max: int, seed: int, density: float) -> dict:
    """A graph_dict as tigramite keeps it: every key, lag-0 links written both ways, all marks."""
    rng = np.random.default_rng(seed)

    def mark() -> str:
        if rng.random() > density:
            return ""
        return str(rng.choice(list(LEFT))) + str(rng.choice(list(MIDDLE))) + str(rng.choice(list(RIGHT)))

    graph: dict = {j: {} for j in range(n)}
    for j in range(n):
        for i in range(n):
            if i < j:
                link = mark()
                graph[j][(i, 0)], graph[i][(j, 0)] = link, reverse(link)
        for i in range(n):
            for tau in range(1, tau_max + 1):
                graph[j][(i, -tau)] = mark()
    return {j: dict(sorted(links.items(), key=lambda kv: (-kv[0][1], kv[0][0]))) for j, links in graph.items()}


def pair(n: int, tau_max: int, graph: dict) -> tuple[CovarianceLPCMCI, LPCMCI]:
    ours = CovarianceLPCMCI(n, tau_max)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LPCMCI(DataFrame(np.zeros((10, n))), ParCorr())
    for lp in (ours, ref):
        lp.tau_max, lp.graph_dict = tau_max, {j: dict(links) for j, links in graph.items()}
    return ours, ref


@pytest.mark.parametrize("seed", range(12))
def test_triples_quadruples_and_adjacencies_equal_tigramite(seed: int) -> None:
    """Same lists in the same order (tigramite's rules iterate them), each graph asked twice (the second from memory)."""
    n, tau_max = 3 + seed % 3, 1 + seed % 2
    ours, ref = pair(n, tau_max, random_graph(n, tau_max, seed, density=0.75 + 0.05 * (seed % 4)))
    found = 0
    for _ in range(2):
        for patterns in TRIPLES:
            got = ours._find_triples(*patterns)
            assert got == ref._find_triples(*patterns), patterns
            found += len(got)
        for patterns in QUADRUPLES:
            assert ours._find_quadruples(*patterns) == ref._find_quadruples(*patterns), patterns
    graph = ref._dict2graph()
    for node in [(i, -lag) for i in range(n) for lag in range(tau_max + 1)]:
        for patterns in ["*-*", ["o*o", "-*>"], "<*o"]:
            assert ours._find_adj(graph, node, patterns, exclude=[(0, 0)], ignore_time_bounds=False) == \
                ref._find_adj(graph, node, patterns, exclude=[(0, 0)], ignore_time_bounds=False)
    assert found > 0, "no triple matched: a weak graph"


def test_a_graph_changed_in_place_is_searched_again() -> None:
    """graph_dict written between two searches (tigramite's _write_link / _fix_all_edges): no stale answer."""
    ours, ref = pair(4, 1, random_graph(4, 1, 5, density=0.6))
    before = ours._find_triples("*-*", "*-*", "")
    for lp in (ours, ref):
        lp._fix_all_edges()
        lp._write_link((0, -1), (1, 0), "")
    after = ours._find_triples("*-*", "*-*", "")
    assert after == ref._find_triples("*-*", "*-*", "") and after != before


@pytest.mark.parametrize(("missing", "testwise"), [(False, False), (True, True)])
def test_ci_plugin_equals_the_covariance_test(missing: bool, testwise: bool) -> None:
    """LPCMCITest (fast path, repeats from memory) = CovarianceCITest over Ledger.test_one: answers, n_eff, status codes."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    X[:, 1] += 0.7 * X[:, 0]
    X[:, 4] = 1.5   # a constant variable: val 0, p 1, counted in n_degenerate
    X[:, 3] = X[:, 2] * 2.0 if not missing else X[:, 3]   # a deterministic pair: status 'deterministic'
    if missing:
        X[rng.random(X.shape) < 0.05] = np.nan
    lc = LaggedCovariance(5, 400, 2).update_many(X)
    tests = [((0, -1), (1, 0), []), ((1, 0), (0, -1), [(2, 0)]), ((2, 0), (3, 0), [(0, -1), (1, -2)]),
             ((0, 0), (1, 0), [(2, -1), (2, -1), (0, 0)]), ((3, -2), (1, 0), [(0, -1), (2, 0), (3, -1)]),
             ((0, -1), (1, 0), []), ((3, 0), (2, 0), [(1, -2), (0, -1)]), ((4, -1), (0, 0), [(1, 0)]),
             ((2, 0), (4, 0), [])]
    ledgers, answers = [], []
    for plugin in (LPCMCITest(), CovarianceCITest()):
        led = Ledger(CovParCorr(lc.stats(), 5), 5, 2, testwise=testwise)
        plugin.use(led)
        answers.append([plugin.run_test([x], [y], z, alpha_or_thres=0.05) for x, y, z in tests])
        ledgers.append(led)
    for a, b in zip(*answers, strict=True):
        assert a[2] == b[2] and np.allclose(a[:2], b[:2], rtol=0, atol=1e-12, equal_nan=True), (a, b)
    assert (ledgers[0].n_eff == ledgers[1].n_eff).all() and (ledgers[0].code == ledgers[1].code).all()
    assert ledgers[0].n_degenerate == ledgers[1].n_degenerate >= 2
    assert missing or (ledgers[0].code == 2).any(), "no deterministic test: a weak check"


@pytest.mark.parametrize("seed", range(8))
def test_apr_and_search_order_equal_tigramite(seed: int) -> None:
    """_apply_APR (both only_lagged) and _sort_search_set (ties, -inf, inf) = tigramite's own."""
    rng = np.random.default_rng(seed)
    n, tau_max = 3 + seed % 3, 1 + seed % 2
    graph = random_graph(n, tau_max, 100 + seed, density=0.8)
    graph[0][(n - 1, -1)], graph[2][(1, -1)] = "-!>", "-R>"
    graph[0][(1, 0)], graph[1][(0, 0)] = "-L>", "<L-"   # from the larger node at lag 0: APR applies
    ours, ref = pair(n, tau_max, graph)
    applied = 0
    for lp in (ours, ref):
        lp.no_apr = 0
    for only_lagged in (False, True):
        got = ours._apply_APR(only_lagged)
        assert got == ref._apply_APR(only_lagged)
        applied += len(got)
    assert applied > 0, "APR never applied: a weak graph"
    values = [-np.inf, np.inf, 0.25, -0.25, 0.5]
    pvv = {j: {(i, -tau): float(rng.choice(values)) if rng.random() < 0.5 else float(rng.normal())
               for i in range(n) for tau in range(tau_max + 1) if tau > 0 or i < j} for j in range(n)}
    for lp in (ours, ref):
        lp.pval_max_val = pvv
    nodes = [(i, -tau) for i in range(n) for tau in range(tau_max + 1)]
    for ref_var in range(n):
        Y = (ref_var, 0)
        search = {node for node in nodes if node != Y and rng.random() < 0.7}
        assert ours._sort_search_set(search, Y) == ref._sort_search_set(search, Y)


@pytest.mark.parametrize("seed", range(4))
def test_get_link_equals_tigramite(seed: int) -> None:
    """_get_link between every two nodes within 2 tau_max (beyond tau_max: ''), and _reverse_link of every mark."""
    n, tau_max = 3 + seed % 2, 1 + seed % 2
    ours, ref = pair(n, tau_max, random_graph(n, tau_max, 200 + seed, density=0.8))
    nodes = [(i, -lag) for i in range(n) for lag in range(2 * tau_max + 1)]
    for A in nodes:
        for B in nodes:
            if A != B:
                assert ours._get_link(A, B) == ref._get_link(A, B), (A, B)
    for link in {lk for links in ours.graph_dict.values() for lk in links.values()}:
        assert ours._reverse_link(link) == ref._reverse_link(link)


@pytest.mark.parametrize("seed", range(4))
def test_parents_equal_tigramite_through_writes(seed: int) -> None:
    """_get_parents, _get_a_pds_t (kept between writes) = tigramite's after each of 60 random writes, middle marks alone among them."""
    rng = np.random.default_rng(seed)
    n, tau_max = 4, 1 + seed % 2
    ours, ref = pair(n, tau_max, random_graph(n, tau_max, 300 + seed, density=0.8))
    nodes = [(i, -lag) for i in range(n) for lag in range(tau_max + 1)]
    for lp in (ours, ref):
        lp.parents_of_lagged = bool(seed % 2)
    for _ in range(60):
        j, (i, lag) = int(rng.integers(n)), nodes[int(rng.integers(len(nodes)))]
        if (i, lag) == (j, 0):
            continue
        old = ref._get_link((i, lag), (j, 0))
        if old and rng.random() < 0.5:
            new = old[0] + str(rng.choice(list(MIDDLE))) + old[2]       # a middle mark alone
        else:
            new = str(rng.choice(["", "-->", "<->", "o->", "-!>", "o-o"]))
        for lp in (ours, ref):
            lp._write_link((i, lag), (j, 0), new)
        for A in nodes[::2]:
            for B in nodes[1::2]:
                assert ours._get_parents(A, B) == ref._get_parents(A, B)
                assert ours._get_a_pds_t(A, B) == ref._get_a_pds_t(A, B)
