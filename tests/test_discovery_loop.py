"""DiscoveryLoop by plain calls (no node, no bus): the pieces it owns, each against its oracle."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.graph import diff_graphs
from causalstream.models.causal.loop import DiscoveryLoop, Step
from causalstream.models.causal.stability import LinkStability
from causalstream.models.errors import ParameterError

NAMES = ["a.x", "b.x", "c.x"]
SETTINGS = {"window": 120, "tau_max": 2, "hop": 15, "min_samples": 60, "stability_k": 4}


def _data(T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    for t in range(1, T):  # a -> b at lag 1, switched on and off; b -> c at lag 2
        X[t, 1] += 0.8 * X[t - 1, 0] * ((t // 100) % 2 == 0)
        if t >= 2:
            X[t, 2] += 0.6 * X[t - 2, 1]
    return X


def _feed(loop: DiscoveryLoop, X: np.ndarray, start: int = 0) -> list[Step]:
    return [loop.update(1_000 * (start + k), NAMES, x) for k, x in enumerate(X)]


@pytest.mark.parametrize("in_line", [False, True])
def test_graphs_stability_and_diffs_equal_their_pieces_run_by_hand(in_line: bool) -> None:
    # in_line (offline discovery): each snapshot is refreshed before the next sample, so it holds the model itself
    X = _data(500)
    loop = DiscoveryLoop(**SETTINGS, in_line=in_line)
    model = WindowedPCMCI(3, 120, 2, var_names=NAMES)
    stability, previous, seen = LinkStability(4), None, 0
    for t, step in enumerate(loop.update(1_000 * k, NAMES, x) for k, x in enumerate(X)):  # each refreshed when due
        model.update(X[t])
        if step.refresh is None:
            continue
        seen += 1
        assert (step.refresh.model is loop.model) == in_line
        result, ref = loop.refresh(step.refresh), model.results()
        marks = ref["graph"]
        stability.update(marks)
        assert np.array_equal(result.graph.marks, marks) and np.allclose(result.graph.p, ref["p_matrix"])
        assert np.array_equal(result.graph.stability, stability.get())
        assert result.diff == diff_graphs(previous, marks, NAMES)
        assert result.seq == seen and result.end_ns == 1_000 * t and result.results["n_samples"] == min(t + 1, 120)
        assert (t + 1 >= 60) and (seen == 1 or (t + 1 - 60) % 15 == 0)
        previous = marks
    assert seen == 1 + (500 - 60) // 15 and loop.seq == seen


def test_a_snapshot_is_the_window_when_it_was_due_whatever_came_after() -> None:
    X = _data(300)
    loop = DiscoveryLoop(**SETTINGS)
    steps = _feed(loop, X[:200])
    snap = next(s.refresh for s in reversed(steps) if s.refresh is not None)
    expected = WindowedPCMCI(3, 120, 2, var_names=NAMES).update_many(X[:195]).results()
    results = []
    worker = threading.Thread(target=lambda: results.append(loop.refresh(snap)))
    worker.start()
    _feed(loop, X[200:], start=200)  # the receive side goes on while the worker computes
    worker.join()
    assert snap.end_ns == 194_000 and np.array_equal(results[0].graph.marks, expected["graph"])
    assert np.allclose(results[0].graph.val, expected["val_matrix"]) and loop.n_samples == 120


def test_restore_goes_on_as_if_the_loop_had_never_stopped() -> None:
    X = _data(400, seed=2)
    whole = DiscoveryLoop(**SETTINGS)
    ref = [whole.refresh(s.refresh) for s in _feed(whole, X) if s.refresh is not None]
    first = DiscoveryLoop(**SETTINGS)
    done = [first.refresh(s.refresh) for s in _feed(first, X[:253]) if s.refresh is not None]
    state = first.state()
    assert state.since_hop == (253 - 60) % 15 and state.graph_seq == len(done) and len(state.samples) == 120
    again = DiscoveryLoop(**SETTINGS, state_max_gap_s=1.0).restore(state)
    got = [again.refresh(s.refresh) for s in _feed(again, X[253:], start=253) if s.refresh is not None]
    assert got[0].flags[:1] == ["restored"]
    assert [r.seq for r in done + got] == [r.seq for r in ref]
    for g, r in zip(got, ref[len(done):], strict=True):
        assert np.array_equal(g.graph.marks, r.graph.marks) and np.array_equal(g.graph.stability, r.graph.stability)
        assert g.diff == r.diff and np.allclose(g.graph.p, r.graph.p, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("first_stamp, restart", [(252_000, "stale_state"), (253_000 + 2_000_000_000, "stale_state"),
                                                  (253_000, "")])
def test_a_restored_window_is_kept_only_if_the_stream_goes_on_from_it(first_stamp: int, restart: str) -> None:
    loop = DiscoveryLoop(**SETTINGS)
    _feed(loop, _data(253))
    back = DiscoveryLoop(**SETTINGS, state_max_gap_s=1.0).restore(loop.state())
    step = back.update(first_stamp, NAMES, np.zeros(3))
    assert step.restart == restart and back.n_samples == (1 if restart else 120)


def test_new_variable_names_restart_the_window_and_flag_the_first_graph() -> None:
    loop = DiscoveryLoop(**SETTINGS)
    _feed(loop, _data(100))
    step = loop.update(200_000, NAMES[:2], np.zeros(2))
    assert step.restart == "variables_changed" and "variables changed" in step.detail and loop.n_samples == 1
    due = [s for s in (loop.update(201_000 + k, NAMES[:2], x) for k, x in enumerate(_data(80)[:, :2]))
           if s.refresh is not None]
    result = loop.refresh(due[0].refresh)
    assert result.flags[0] == "variables_changed" and result.graph.names == NAMES[:2]
    assert result.diff.shd == len(result.graph.links(mirrors=False))  # a new epoch: every link is new


def test_drift_restart_is_the_loops_own_reset() -> None:
    rng = np.random.default_rng(3)
    X = _data(900, seed=3)
    X[500:, 1] = 4.0 * rng.normal(size=400)  # the link breaks and the noise grows
    loop = DiscoveryLoop(**{**SETTINGS, "window": 300}, drift="adwin", drift_restart=True)
    drifts, after = [], []
    for t, x in enumerate(X):
        step = loop.update(1_000 * t, NAMES, x)
        if step.drifts:
            drifts.append(t)
            assert step.restart == "drift_restart" and loop.n_samples == 1  # the window starts at the drift sample
        if step.refresh is not None:
            result = loop.refresh(step.refresh)
            if drifts and not after:
                after.append(result)
    assert drifts and 500 <= drifts[0] < 650
    assert after and after[0].flags[0] == "drift_restart" and after[0].start_ns == 1_000 * drifts[0]
    assert set(np.unique(after[0].graph.stability)) <= {0.0, 1.0}  # a fresh history: one graph


def test_bad_settings_fail_at_construction() -> None:
    with pytest.raises(ParameterError, match="window must exceed"):
        DiscoveryLoop(window=5, tau_max=2)
    with pytest.raises(ParameterError, match="detector"):
        DiscoveryLoop(window=50, tau_max=1, drift="cusum")
    with pytest.raises(ParameterError, match="hop"):
        DiscoveryLoop(window=50, tau_max=1, hop=0)
    with pytest.raises(ParameterError, match="forgetting needs"):
        DiscoveryLoop(window=50, tau_max=1, model={"forgetting": 0.9, "ci_test": "gpdc"})
