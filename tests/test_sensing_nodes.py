"""The sim, features and discovery node kinds through MockNode (in memory, real models).

WindowedPCMCI and FeatureExtractor are the oracles: the nodes must publish what they
compute on the same samples, whatever bad input arrives in between.
"""

from __future__ import annotations

import numpy as np
import pytest

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.graph import diff_graphs
from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.models.sim import HriSim
from causalstream.nodes.discovery import DiscoveryNode
from causalstream.nodes.errors import NodeError
from causalstream.nodes.features import FeaturesNode
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.sim import SimNode
from causalstream.nodes.testing import MockNode
from causalstream.stream.messages import AgentStates, CausalEvent, CausalGraph, Features

NAMES = ["a.x", "b.x", "c.x"]


def _toy(T: int, seed: int = 0, link: float = 0.8) -> np.ndarray:
    """a drives b at lag 1; c is noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    X[1:, 1] += link * X[:-1, 0]
    return X


def _samples(X: np.ndarray, names: list[str] = NAMES, start: int = 0) -> list[Features]:
    return [Features(stamp_ns=(start + k) * 1_000_000, names=names, values=x) for k, x in enumerate(X)]


# -- sim -------------------------------------------------------------------------------


def test_sim_publishes_the_simulator_frames_and_a_truth_the_features_share() -> None:
    mock = MockNode(SimNode, params={"n_steps": 40, "realtime": False, "stamp_origin": "zero", "seed": 4}).run(duration=5)
    frames = mock.outputs("agents/state")
    expected = HriSim(seed=4, rate_hz=20).run(40)
    assert len(frames) == 40 and mock.exit_code == 0
    assert [f.stamp_ns for f in frames] == [round(e.t * 1e9) for e in expected]
    assert np.array_equal(frames[-1].x, expected[-1].x) and frames[-1].roles == expected[-1].roles

    (truth,) = mock.outputs("sim/ground_truth")
    assert truth.names == MockNode(FeaturesNode).run(duration=0.1).node.extractor.names
    ids, adj = HriSim(seed=4).agent_graph()
    assert graph_of(truth).cross_links() == {(ids[a], ids[b]) for a, b in zip(*np.nonzero(adj))}
    held = np.array(truth.graph) != ""
    assert np.array_equal(truth.val == 1.0, held) and np.array_equal(truth.p == 0.0, held)


def test_sim_realtime_duration_counts_sim_time() -> None:
    mock = MockNode(SimNode, params={"rate_hz": 10, "duration_s": 2.0}).run(duration=10)
    assert len(mock.outputs("agents/state")) == 20 and mock.node.counters["steps"] == 20


# -- features --------------------------------------------------------------------------


def _frames(n: int, seed: int = 0) -> list[AgentStates]:
    return [AgentStates(stamp_ns=round(f.t * 1e9), ids=f.ids, roles=f.roles, x=f.x, y=f.y, vx=f.vx, vy=f.vy,
                        heading=f.heading, goal=f.goal) for f in HriSim(seed=seed, rate_hz=20).run(n)]


def test_features_equal_the_extractor_on_the_same_frames() -> None:
    frames = _frames(30)
    mock = MockNode(FeaturesNode).feed("agents/state", *frames).run()
    out = mock.outputs("features")
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "a"), humans=("h1", "h2", "h3", "h4", "h5"))
    want = FeatureExtractor(spec).transform(frames, times=[f.stamp_ns * 1e-9 for f in frames])
    assert [f.stamp_ns for f in out] == [f.stamp_ns for f in frames]
    assert np.array_equal(np.stack([f.values for f in out]), want, equal_nan=True)
    assert mock.statuses()[-1].counters["bad"] == 0


def test_features_survive_bad_frames_and_count_them() -> None:
    frames = _frames(8)
    nan_pos = frames[2]
    nan_pos.x[1] = np.nan                       # h1's position unknown
    inf_vel = frames[3]
    inf_vel.vy[0] = np.inf                      # the robot's velocity broken
    gone = frames[5]
    keep = [k for k, i in enumerate(gone.ids) if i != "h4"]
    gone = AgentStates(stamp_ns=gone.stamp_ns, ids=[gone.ids[k] for k in keep], roles=[gone.roles[k] for k in keep],
                       x=gone.x[keep], y=gone.y[keep], vx=gone.vx[keep], vy=gone.vy[keep])
    feed = frames[:2] + [nan_pos, inf_vel, frames[3], frames[1], frames[4], gone, frames[6], frames[7]]
    mock = MockNode(FeaturesNode).feed("agents/state", *feed).run()
    out = mock.outputs("features")
    names = out[0].names
    assert len(out) == 8                        # the repeated and the older stamp were dropped
    assert [f.stamp_ns for f in out] == sorted({f.stamp_ns for f in feed})
    assert np.isnan(out[2].values[names.index("h1.v")]) and np.isnan(out[2].values[names.index("h1.a")])
    assert np.isfinite(out[2].values[names.index("h2.v")])
    assert np.isnan(out[3].values[names.index("robot.v")])
    assert np.isnan(out[5].values[names.index("h4.v")]) and np.isfinite(out[6].values[names.index("h4.v")])
    assert all(np.isfinite(v) or np.isnan(v) for f in out for v in f.values)
    c = mock.node.counters
    assert (c["bad:nonfinite"], c["bad:stamp_order"], c["bad:missing_agent"]) == (2, 2, 1)
    assert mock.statuses()[-1].counters["bad"] == 5
    assert any("missing ['h4']" in line.msg for line in mock.logs())


def test_features_by_nearest_slots_keep_their_names() -> None:
    frames = _frames(10)
    mock = MockNode(FeaturesNode, params={"humans": None, "n_nearest": 2, "human_variables": ["v", "d_robot"]})
    out = mock.feed("agents/state", *frames).run().outputs("features")
    assert [f.names for f in out] == [["robot.v", "n1.v", "n1.d_robot", "n2.v", "n2.d_robot"]] * 10
    d = np.stack([f.values[[2, 4]] for f in out])
    assert np.isfinite(d).all() and mock.node.counters["bad"] == 0  # slots are filled, nobody counts as missing


# -- discovery -------------------------------------------------------------------------


def _discovery(params: dict, samples: list[Features]) -> MockNode:
    base = {"window": 200, "hop": 25, "min_samples": 100, "tau_max": 2, "alpha": 0.01, "threaded": False}
    return MockNode(DiscoveryNode, params=base | params).feed("features", *samples).run()


@pytest.mark.parametrize("method", ["pcmci", "pcmciplus"])
def test_discovery_publishes_every_hop_what_windowed_pcmci_computes(method: str) -> None:
    X = _toy(400)
    mock = _discovery({"method": method}, _samples(X))
    graphs = mock.outputs("causal/graph")
    ends = list(range(99, 400, 25))
    assert [g.window_end_ns for g in graphs] == [k * 1_000_000 for k in ends]
    assert [g.seq for g in graphs] == list(range(1, len(ends) + 1))
    for g, end in zip(graphs, ends):
        ref = WindowedPCMCI(3, 200, 2, method=method, alpha_level=0.01, var_names=NAMES).update_many(X[:end + 1]).results()
        assert np.array_equal(np.array(g.graph, dtype="<U3"), ref["graph"])
        assert np.allclose(g.val, ref["val_matrix"]) and np.allclose(g.p, ref["p_matrix"])
        assert g.n_samples == min(end + 1, 200) and g.window_start_ns == max(0, end - 199) * 1_000_000
        assert g.method == method and g.ci_test == "ParCorr" and g.alpha == 0.01
    assert graphs[-1].graph[0][1][1] == "-->" and graphs[-1].stability[0, 1, 1] == 1.0
    assert "partial_window" in graphs[0].flags and "partial_window" not in graphs[-1].flags


def test_discovery_events_follow_the_graph_changes() -> None:
    X = np.concatenate([_toy(300, seed=1), _toy(300, seed=2, link=0.0)])
    mock = _discovery({"hop": 50}, _samples(X))
    graphs = mock.outputs("causal/graph")
    events = [e for e in mock.outputs("causal/events") if e.kind == "graph_changed"]
    previous, expected = None, []
    for g in graphs:
        marks = np.array(g.graph, dtype="<U3")
        d = diff_graphs(previous, marks, g.names)
        if d.changed:
            expected.append((g.seq, d.shd, [tuple(l) for l in d.added], [tuple(l) for l in d.removed]))
        previous = marks
    got = [(e.graph_seq, e.shd, [(l.source, l.target, l.lag, l.mark) for l in e.added],
            [(l.source, l.target, l.lag, l.mark) for l in e.removed]) for e in events]
    assert got == expected and len(got) >= 2
    removed = {(l.source, l.target, l.lag) for e in events for l in e.removed}
    assert ("a.x", "b.x", 1) in removed           # the link went away with the second regime
    assert graphs[-1].graph[0][1][1] == ""


def test_discovery_counts_bad_samples_and_restarts_on_new_names() -> None:
    X = _toy(260)
    samples = _samples(X[:150])
    samples[10].values[1] = np.inf                # inf: missing, and counted
    samples[11].values[2] = np.nan                # NaN: missing, not bad
    samples.insert(20, samples[19])               # repeated stamp: dropped
    samples.insert(40, samples[5])                # out of order: dropped
    renamed = _samples(np.c_[X[150:], np.ones(110)], names=NAMES + ["d.const"], start=150)
    mock = _discovery({"hop": 10}, samples + renamed)
    c = mock.node.counters
    assert c["samples"] == 260 and c["variables_changed"] == 1
    assert (c["bad:nonfinite"], c["bad:stamp_order"]) == (1, 2) and mock.statuses()[-1].counters["bad"] == 3
    graphs = mock.outputs("causal/graph")
    before = [g for g in graphs if len(g.names) == 3]
    after = [g for g in graphs if len(g.names) == 4]
    assert before and after and after[0].names == NAMES + ["d.const"]
    assert "nan_in_window" in before[0].flags and before[0].n_missing == 2
    assert "variables_changed" in after[0].flags and after[0].n_samples == 100
    assert "constant_variable:d.const" in after[0].flags
    assert any("variables changed" in line.msg for line in mock.logs())


def test_discovery_drift_restart_empties_the_window() -> None:
    rng = np.random.default_rng(3)
    X = _toy(900, seed=3)
    X[500:, 1] = 4.0 * rng.normal(size=400)     # the link breaks and the noise grows
    mock = _discovery({"window": 300, "hop": 20, "drift": "adwin", "drift_restart": True}, _samples(X))
    drifts = [e for e in mock.outputs("causal/events") if e.kind == "drift"]
    assert drifts and mock.node.counters["drifts"] == len(drifts)
    assert 500 * 1_000_000 <= drifts[0].stamp_ns < 650 * 1_000_000 and drifts[0].variable == "b.x"
    restarted = [g for g in mock.outputs("causal/graph") if "drift_restart" in g.flags]
    assert restarted and restarted[0].window_start_ns >= drifts[0].stamp_ns


def test_discovery_keeps_receiving_while_a_slow_refresh_runs() -> None:
    # gpdc runs tigramite on the window: each refresh takes far longer than the in-memory
    # feed of all samples, so hops pile up and must coalesce, not block.
    X = _toy(400)
    mock = _discovery({"ci_test": "gpdc", "hop": 1, "tau_max": 1, "threaded": True}, _samples(X))
    c, worker = mock.node.counters, mock.node.worker
    assert c["samples"] == 400 and c["in"] == 400
    assert worker.submitted == 301
    assert worker.skipped >= 1 and c["refreshes"] + worker.skipped == worker.submitted
    assert mock.statuses()[-1].counters["skipped"] == worker.skipped


def test_discovery_rejects_bad_param_combinations() -> None:
    with pytest.raises(NodeError, match="window must exceed"):
        MockNode(DiscoveryNode, params={"window": 5, "tau_max": 2}).run(duration=0.1)
    with pytest.raises(NodeError, match="forgetting needs"):
        MockNode(DiscoveryNode, params={"forgetting": 0.99, "ci_test": "gpdc"}).run(duration=0.1)
