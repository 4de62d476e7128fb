"""PCMCI+'s phases in our code against tigramite's own methods (pcmciplus_*.py)."""

from __future__ import annotations

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.pcmciplus_rules import orient_rules

MARKS = ("o-o", "-->", "<--", "x-x")


def random_graph(rng: np.random.Generator, n: int, tau_max: int) -> np.ndarray:
    """A collider-phase-like graph: lagged '-->' or absent, lag-0 entries symmetric."""
    g = np.full((n, n, tau_max + 1), "", dtype="<U3")
    g[:, :, 1:][rng.random((n, n, tau_max)) < 0.3] = "-->"
    for i in range(n):
        for j in range(i + 1, n):
            u = rng.random()
            if u < 0.45:
                g[i, j, 0] = g[j, i, 0] = "o-o"
            elif u < 0.6:
                g[i, j, 0], g[j, i, 0] = "-->", "<--"
            elif u < 0.7:
                g[i, j, 0], g[j, i, 0] = "<--", "-->"
            elif u < 0.73:
                g[i, j, 0] = g[j, i, 0] = "x-x"
    return g


def random_triples(rng: np.random.Generator, n: int, tau_max: int, k: int) -> list:
    return [((int(rng.integers(n)), -int(rng.integers(tau_max + 1))), int(rng.integers(n)), int(rng.integers(n)))
            for _ in range(k)]


@pytest.mark.parametrize("conflict_resolution", [True, False])
def test_rules_equal_tigramite_on_random_graphs(conflict_resolution: bool) -> None:
    rng = np.random.default_rng(18)
    oracle = PCMCI(DataFrame(np.zeros((10, 7))), cond_ind_test=ParCorr())
    changed = 0
    for trial in range(300):
        n, tau_max = 7, int(rng.integers(0, 3))
        g = random_graph(rng, n, tau_max)
        amb = random_triples(rng, n, tau_max, int(rng.integers(0, 30))) if trial % 2 else []
        found = oracle._find_triples_rule1(g) + oracle._find_triples_rule2(g)
        amb += [t for t in found if rng.random() < 0.3]   # triples the rules would use
        want = oracle._pcalg_rules_timeseries(graph=g.copy(), ambiguous_triples=list(amb),
                                              conflict_resolution=conflict_resolution)
        got = orient_rules(g, amb, conflict_resolution)
        assert (got == want).all(), trial
        changed += int((want != g).any())
    assert changed > 50   # the rules did orient links in many trials
