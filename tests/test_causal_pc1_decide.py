"""PC1 asked only "p <= pc_alpha?" (what PCMCI's MCI needs) decides every test as the p-values do.

``significant`` compares |val| with the critical correlation of each df and takes the exact
p-value near it; ``run_pc1(values=False)`` uses it through the engine's ``run_decide``. Both
must agree with the p-value path everywhere, the boundary included.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import stdtrit

from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.linkstatus import Ledger, as_zmask
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.causal.pc1 import run_pc1
from causalstream.models.causal.pvalues import significant, t_pvalue
from causalstream.models.causal.robust import CovRobustParCorr
from causalstream.models.causal.toys import stationary


@pytest.mark.parametrize("alpha", [1e-6, 0.01, 0.05, 0.3, 0.99])
def test_significant_equals_the_p_value_decision(alpha: float) -> None:
    rng = np.random.default_rng(int(alpha * 1e6))
    df = rng.choice([1.0, 2.0, 7.0, 40.0, 493.0, 0.0, -1.0, 250.5], size=4000)
    val = rng.uniform(-1, 1, size=4000) ** 3
    # values at the critical correlation and one or two ulps either side of it
    t_c = -stdtrit(np.maximum(df, 1.0), alpha / 2)
    r_c = t_c / np.sqrt(np.maximum(df, 1.0) + t_c ** 2)
    edge = slice(0, 1500)
    val[edge] = np.nextafter(r_c[edge], r_c[edge] + rng.choice([-1.0, 0.0, 1.0], size=1500))
    val[1500:1510] = [np.nan, 1.0, -1.0, 0.0, np.nan, 1.0, 0.5, -0.5, 0.0, 1.0]
    keep = significant(val, df, alpha)
    assert np.array_equal(keep, t_pvalue(val, df) <= alpha)
    one = np.full(100, 493.0)   # one df for the whole batch (a clean window's PC1 level)
    assert np.array_equal(significant(val[:100], one, alpha), t_pvalue(val[:100], one) <= alpha)


def _window(seed: int, constant: bool = False) -> LaggedCovariance:
    X = stationary(5, 2, 400, seed, contemp_fraction=0.0, seed_step=1, bound=np.inf)[0]
    if constant:
        X[:, 3] = 1.5
    return LaggedCovariance(5, 300, 4).update_many(X)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("engine", ["parcorr", "robust"])
def test_parents_only_pc1_equals_the_full_run(seed: int, engine: str) -> None:
    lc = _window(seed, constant=seed == 3)
    make = {"parcorr": lambda: CovParCorr(lc.stats(), 5), "robust": lambda: CovRobustParCorr.from_lagcov(lc, 5)}[engine]
    for alpha in (0.01, 0.2, 0.5):
        full, fast = Ledger(make(), 5, 2), Ledger(make(), 5, 2)
        a = run_pc1(full, 5, 0, 2, alpha)
        b = run_pc1(fast, 5, 0, 2, alpha, values=False)
        assert a.parents == b.parents
        assert b.val_matrix.shape == b.p_matrix.shape == (0, 0, 0)
        assert full.n_degenerate == fast.n_degenerate
        assert np.array_equal(full.n_eff, fast.n_eff) and np.array_equal(full.code, fast.code)


def test_a_table_of_z_columns_is_the_mask_it_stands_for() -> None:
    # PC1 hands run_decide each test's Z as columns; the batch is the mask's, bit for bit,
    # also where the table holds a constant column (the mask's path drops it)
    for constant in (False, True):
        lc = _window(4, constant=constant)
        rng = np.random.default_rng(2)
        cx = rng.choice(np.arange(5, 15), size=40)
        cy = rng.integers(0, 5, size=40)
        zc = np.array([rng.choice([c for c in range(5, 25) if c != x], size=3, replace=False) for x in cx])
        a, b = CovParCorr(lc.stats(), 5), CovParCorr(lc.stats(), 5)
        va, ka = a.run_decide(cx, cy, zc, 0.05)
        vb, kb = b.run_decide(cx, cy, as_zmask(zc, 25), 0.05)
        assert np.array_equal(va, vb) and np.array_equal(ka, kb) and a.n_degenerate == b.n_degenerate
        assert np.array_equal(a.last.df, b.last.df) and np.array_equal(a.last.n, b.last.n)
