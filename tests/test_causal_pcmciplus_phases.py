"""PCMCI+'s skeleton and collider phases in our code (pcmciplus_skeleton.py, pcmciplus_colliders.py,
asked in batches through pcmciplus_ask.py) against tigramite's own phase methods.

The oracle is tigramite's ``_pcmciplus_mci_skeleton_phase`` / ``_pcmciplus_collider_phase`` run
on a CovariancePCMCI, whose CI test answers one test at a time from an engine equal to ours: the
control flow is tigramite's, the numbers the same, so graph, sepsets, ambiguous triples, p / val
(to 1e-12), each link's last test (Ledger n_eff, code) and n_degenerate must all agree. A
whole run is also checked against tigramite's PCMCI with its own ParCorr on the window (1e-8).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI

sys.path.insert(0, str(Path(__file__).parent))
from causalstream.models.causal import pcmciplus_skeleton as skeleton_module  # noqa: E402
from causalstream.models.causal.lagcov import LaggedCovariance  # noqa: E402
from causalstream.models.causal.links import LinkAssumptions  # noqa: E402
from causalstream.models.causal.linkstatus import Ledger  # noqa: E402
from causalstream.models.causal.masked import MaskedParCorr  # noqa: E402
from causalstream.models.causal.parcorr import CovParCorr  # noqa: E402
from causalstream.models.causal.pc1 import run_pc1_select  # noqa: E402
from causalstream.models.causal.pcmciplus import CovariancePCMCI, run_pcmciplus  # noqa: E402
from causalstream.models.causal.pcmciplus_ask import Asker  # noqa: E402
from causalstream.models.causal.pcmciplus_colliders import collider_phase  # noqa: E402
from causalstream.models.causal.pcmciplus_skeleton import skeleton_phase  # noqa: E402

from causal_toys import assert_same, random_link_assumptions, toy_data  # noqa: E402

RULES = ("majority", "conservative", "none")


def case(seed: int, testwise: bool = False, assume: bool = False, degenerate: bool = False):
    """Random data (N 3-7, tau_max 1-3, many lag-0 links), and a factory of equal engines (Ledgers)."""
    rng = np.random.default_rng(seed)
    n, tau = int(rng.integers(3, 8)), int(rng.integers(1, 4))
    T = int(rng.integers(80, 300))
    data, _ = toy_data(n, tau, T=T, seed=seed, contemp_fraction=0.6)
    if degenerate:   # a constant variable: its tests are answered val 0, p 1 and counted in n_degenerate
        data[:, 0] = 1.5
    if testwise:
        data[rng.random(data.shape) < 0.08] = np.nan
    cov = LaggedCovariance(n, T, 2 * tau).update_many(data)
    links = LinkAssumptions.check(random_link_assumptions(n, 0, tau, seed), n, 0, tau) if assume else None

    def engine() -> Ledger:
        inner = MaskedParCorr.from_lagcov(cov, n) if testwise else CovParCorr(cov.stats(), n)
        return Ledger(inner, n, tau, testwise=testwise)

    alpha = float(rng.choice([0.01, 0.05, 0.1, 0.3]))
    return n, tau, alpha, links, engine, data


def oracle(n: int, tau: int, engine: Ledger) -> CovariancePCMCI:
    pc = CovariancePCMCI(n, tau)
    pc.cond_ind_test.use(engine)
    return pc


def same_ledgers(a: Ledger, b: Ledger) -> None:
    assert (a.n_eff == b.n_eff).all() and (a.code == b.code).all()
    assert a.n_degenerate == b.n_degenerate


def ints(triples: list) -> list:
    return [((int(i), int(t)), int(k), int(j)) for (i, t), k, j in triples]


def skeletons(seed: int, testwise: bool, assume: bool, degenerate: bool = False, max_py: int | None = None):
    """Our skeleton and tigramite's, from the same PC1 parents, with their ledgers."""
    n, tau, alpha, links, engine, _ = case(seed, testwise, assume, degenerate)
    ours_eng, ref_eng = engine(), engine()
    pc1 = run_pc1_select(engine(), n, 0, tau, alpha, None, links)
    full = links if links is not None else LinkAssumptions.default(n, 0, tau)
    py = n * (tau + 1) if max_py is None else max_py
    asker = Asker(ours_eng, n, tau, alpha, pc1.parents, py, n * (tau + 1))
    ours = skeleton_phase(asker, full, pc1.parents, 0, tau, None, "none", pc1.p_matrix.copy(), pc1.val_matrix.copy())
    ref_pc = oracle(n, tau, ref_eng)
    ref = ref_pc._pcmciplus_mci_skeleton_phase(
        lagged_parents=pc1.parents, link_assumptions=ref_pc._set_link_assumptions(None if links is None else links.links, 0, tau),
        pc_alpha=alpha, tau_min=0, tau_max=tau, max_conds_dim=None, max_combinations=None, max_conds_py=max_py,
        max_conds_px=None, max_conds_px_lagged=None, reset_lagged_links=False, fdr_method="none",
        p_matrix=pc1.p_matrix.copy(), val_matrix=pc1.val_matrix.copy())
    return ours, ref, asker, ours_eng, ref_pc, ref_eng, pc1.parents, alpha, tau


@pytest.mark.parametrize("testwise", [False, True], ids=["complete", "testwise"])
@pytest.mark.parametrize("assume", [False, True], ids=["free", "assumptions"])
def test_skeleton_phase_equals_tigramite(testwise: bool, assume: bool) -> None:
    removed = degenerate = 0
    for seed in range(12):
        ours, ref, _, ours_eng, _, ref_eng, _, _, _ = skeletons(seed, testwise, assume, degenerate=seed % 4 == 3,
                                                                 max_py=1 if seed % 5 == 4 else None)
        degenerate += ref_eng.n_degenerate
        assert (ours.graph == ref["graph"]).all(), seed
        assert ours.sepsets == ref["sepsets"], seed
        np.testing.assert_allclose(ours.p_matrix, ref["p_matrix"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours.val_matrix, ref["val_matrix"], rtol=0, atol=1e-12)
        same_ledgers(ours_eng, ref_eng)
        removed += sum(1 for s in ours.sepsets.values() if s)
    assert removed > 20   # links were removed given non-empty sepsets
    assert degenerate > 0   # and tests were answered val 0, p 1 (the constant variable)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("conflict_resolution", [True, False])
def test_collider_phase_equals_tigramite(rule: str, conflict_resolution: bool) -> None:
    decided = ambiguous = 0
    for seed in range(12):
        testwise, assume = seed % 3 == 1, seed % 2 == 1
        ours_sk, ref_sk, asker, ours_eng, ref_pc, ref_eng, parents, alpha, tau = skeletons(seed, testwise, assume)
        ours = collider_phase(asker, ours_sk.graph, ours_sk.sepsets, rule, conflict_resolution)
        ref = ref_pc._pcmciplus_collider_phase(
            skeleton_graph=ref_sk["graph"], sepsets=ref_sk["sepsets"], lagged_parents=parents, pc_alpha=alpha,
            tau_min=0, tau_max=tau, max_conds_py=None, max_conds_px=None, max_conds_px_lagged=None,
            conflict_resolution=conflict_resolution, contemp_collider_rule=rule)
        assert (ours.graph == ref["graph"]).all(), seed
        assert ours.sepsets == ref["sepsets"], seed
        assert ours.ambiguous == ints(ref["ambiguous_triples"]), seed
        same_ledgers(ours_eng, ref_eng)
        decided += int((ours.graph == "-->").sum())
        ambiguous += len(ours.ambiguous)
    assert decided > 10
    assert rule == "none" or ambiguous > 0


@pytest.mark.parametrize("seed", range(6))
def test_direct_run_equals_tigramite_control_flow(seed: int) -> None:
    """run_pcmciplus at a float pc_alpha (our phases) = tigramite's run_pcmciplus on CovariancePCMCI."""
    n, tau, alpha, links, engine, _ = case(seed, testwise=seed % 2 == 1, assume=seed % 3 != 0, degenerate=seed == 4)
    rule, cr = RULES[seed % 3], seed % 4 != 1
    a_eng, b_eng = engine(), engine()
    a = run_pcmciplus(CovariancePCMCI(n, tau), a_eng, 0, tau, alpha, links=links, contemp_collider_rule=rule,
                      conflict_resolution=cr, fdr_method="fdr_bh" if seed % 2 else "none")
    ref = oracle(n, tau, b_eng)
    ref.links = links
    b = ref.run_pcmciplus(tau_min=0, tau_max=tau, pc_alpha=alpha, link_assumptions=None if links is None else links.links,
                          contemp_collider_rule=rule, conflict_resolution=cr, fdr_method="fdr_bh" if seed % 2 else "none")
    assert (a["graph"] == b["graph"]).all()
    np.testing.assert_allclose(a["p_matrix"], b["p_matrix"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a["val_matrix"], b["val_matrix"], rtol=0, atol=1e-12)
    assert a["sepsets"] == b["sepsets"] and a["ambiguous_triples"] == ints(b["ambiguous_triples"])
    same_ledgers(a_eng, b_eng)


@pytest.mark.parametrize("rule", RULES)
def test_direct_run_equals_tigramite_parcorr(rule: str) -> None:
    """Against tigramite itself (its ParCorr on the window), every collider rule, with and without assumptions."""
    for seed in range(20, 26):
        n, tau, alpha, links, engine, data = case(seed, assume=seed % 2 == 0)
        ours = run_pcmciplus(CovariancePCMCI(n, tau), engine(), 0, tau, alpha, links=links, contemp_collider_rule=rule,
                             conflict_resolution=seed % 3 != 0)
        ref = PCMCI(DataFrame(data), ParCorr()).run_pcmciplus(
            tau_max=tau, pc_alpha=alpha, contemp_collider_rule=rule, conflict_resolution=seed % 3 != 0,
            link_assumptions=None if links is None else links.links)
        assert_same(ours, ref)


def test_fallbacks_run_tigramite_flow() -> None:
    """pc_alpha None / a list and reset_lagged_links=True stay on tigramite's control flow, equal to tigramite."""
    n, tau, _, _, engine, data = case(7)
    for kwargs in ({"pc_alpha": None}, {"pc_alpha": [0.05, 0.2]}, {"pc_alpha": 0.05, "reset_lagged_links": True}):
        ours = run_pcmciplus(CovariancePCMCI(n, tau), engine(), 0, tau, **kwargs)  # pyright: ignore[reportArgumentType]
        ref = PCMCI(DataFrame(data), ParCorr()).run_pcmciplus(tau_max=tau, **kwargs)  # pyright: ignore[reportArgumentType]
        assert_same(ours, ref)


def test_asked_ahead_tests_leave_no_trace() -> None:
    """Answers asked ahead but never asked in tigramite's order count nowhere (n_degenerate, Ledger)."""
    n, tau, alpha, _, engine, _ = case(3, degenerate=True)
    eng = engine()
    asker = Asker(eng, n, tau, alpha, {j: [] for j in range(n)})
    tests = [asker.test(0, 0, j, ()) for j in range(1, n)]     # X = the constant variable: degenerate
    asker.prefetch(tests)
    assert len(asker.answers) == n - 1 and eng.n_degenerate == 0 and not eng.n_eff.any()
    asker.ask(tests[0])
    asker.ask(tests[0])
    asker.flush()       # the end of a phase: each asked link's last test recorded
    assert eng.n_degenerate == 1 and eng.n_eff[0, 1, 0] > 0 and not eng.n_eff[0, 2, 0]


def test_tests_asked_ahead_save_batches_not_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next level's and the collider phase's tests asked with a level's batch (SPECULATE): the
    same run, ledger and n_degenerate, in fewer engine batches."""

    def run(speculate: int, seed: int):
        monkeypatch.setattr(skeleton_module, "SPECULATE", speculate)
        n, tau, alpha, links, engine, _ = case(seed, assume=seed % 2 == 1)
        eng = engine()
        calls = []
        answer = eng.answer
        monkeypatch.setattr(eng, "answer", lambda *a: calls.append(1) or answer(*a))
        res = run_pcmciplus(CovariancePCMCI(n, tau), eng, 0, tau, alpha, links=links)
        return res, eng, len(calls)

    fewer = 0
    for seed in range(8):
        (a, a_eng, a_calls), (b, b_eng, b_calls) = run(0, seed), run(64, seed)
        assert (a["graph"] == b["graph"]).all() and a["sepsets"] == b["sepsets"]
        np.testing.assert_allclose(a["p_matrix"], b["p_matrix"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(a["val_matrix"], b["val_matrix"], rtol=0, atol=1e-12)
        same_ledgers(a_eng, b_eng)
        assert b_calls <= a_calls
        fewer += b_calls < a_calls
    assert fewer > 0
