"""A discovery node with a state file goes on after a restart as if it had never stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from causalstream.nodes.discovery import DiscoveryNode
from causalstream.nodes.discovery_state import WindowState, load_state, save_state
from causalstream.nodes.errors import StateFileError
from causalstream.nodes.testing import MockNode
from causalstream.stream.messages import CausalEvent, CausalGraph, Features

NAMES = ["a.x", "b.x", "c.x"]
PARAMS = {"window": 120, "hop": 7, "min_samples": 60, "tau_max": 2, "alpha": 0.01, "threaded": False,
          "stability_k": 4}


def _samples(n: int, seed: int = 0, start: int = 0) -> list[Features]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(start + n, 3))
    for t in range(1, start + n):  # a -> b at lag 1, b -> c at lag 2, switched on and off
        X[t, 1] += 0.7 * X[t - 1, 0] * (1 if (t // 90) % 2 == 0 else 0)
        if t >= 2:
            X[t, 2] += 0.6 * X[t - 2, 1]
    X[start + 40 :: 37, 0] = np.nan  # some missing values too
    return [Features(stamp_ns=1_000 + 10 * k, names=NAMES, values=X[k]) for k in range(start, start + n)]


def _run(samples: list[Features], **params: object) -> MockNode:
    return MockNode(DiscoveryNode, name="disc", params={**PARAMS, **params}).feed("features", *samples).run()


def _same_graphs(ours: list[CausalGraph], ref: list[CausalGraph]) -> None:
    assert [g.seq for g in ours] == [g.seq for g in ref]
    for g, r in zip(ours, ref, strict=True):
        assert g.graph == r.graph and g.n_samples == r.n_samples and g.n_missing == r.n_missing
        assert (g.window_start_ns, g.window_end_ns) == (r.window_start_ns, r.window_end_ns)
        np.testing.assert_allclose(g.val, r.val, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(g.p, r.p, rtol=1e-7, atol=1e-12)
        np.testing.assert_array_equal(g.stability, r.stability)


def test_a_restarted_node_publishes_what_an_uninterrupted_one_does(tmp_path: Path) -> None:
    data = _samples(400)
    whole = _run(data)
    state = tmp_path / "disc.npz"
    first = _run(data[:253], state=str(state))  # stops (shutdown saves) 253 samples in, mid-hop
    assert load_state(state, DiscoveryNode(name="d", params=PARAMS)._fingerprint()).since_hop > 0
    second = _run(data[253:], state=str(state))
    assert second.node.counters["restored"] == 120 and second.node.counters["state_errors"] == 0
    ref = [g for g in whole.outputs("causal/graph") if g.window_end_ns > data[252].stamp_ns]
    got = second.outputs("causal/graph")
    assert got[0].flags[:1] == ["restored"] and len(got) > 10
    for g in got:
        g.flags = [f for f in g.flags if f != "restored"]
    _same_graphs(got, ref)
    events = [e for e in whole.outputs("causal/events") if e.graph_seq > got[0].seq - 1]
    assert [(e.graph_seq, e.added, e.removed) for e in second.outputs("causal/events")] == \
        [(e.graph_seq, e.added, e.removed) for e in events]
    assert [g.seq for g in first.outputs("causal/graph")] + [g.seq for g in got] == \
        [g.seq for g in whole.outputs("causal/graph")]


class _Keeping(DiscoveryNode):
    """Keeps a copy of every state it saves (to restart from a save made mid-run, as after SIGKILL)."""

    def _save(self, state: WindowState) -> None:
        self.saved = [*getattr(self, "saved", []), state]
        super()._save(state)


def test_a_killed_node_goes_on_from_its_last_save_after_a_refresh(tmp_path: Path) -> None:
    data = _samples(330, seed=1)
    whole = _run(data)
    mock = MockNode(_Keeping, name="disc", params={**PARAMS, "state": str(tmp_path / "x.npz"),
                                                     "state_every_s": 1e-9}).feed("features", *data[:300]).run()
    on_refresh = mock.node.saved[-2]  # the last save a refresh made; the last one is the shutdown's
    assert on_refresh.since_hop == 0 and len(mock.node.saved) == len(mock.outputs("causal/graph")) + 1
    crashed = tmp_path / "crashed.npz"
    save_state(crashed, on_refresh, mock.node._fingerprint())
    end = int(on_refresh.stamps[-1])
    rest = [s for s in data if s.stamp_ns > end]
    again = _run(rest, state=str(crashed))
    got = again.outputs("causal/graph")
    for g in got:
        g.flags = [f for f in g.flags if f != "restored"]
    _same_graphs(got, [g for g in whole.outputs("causal/graph") if g.window_end_ns > end])


def test_a_corrupt_or_foreign_state_file_is_logged_and_the_node_starts_empty(tmp_path: Path) -> None:
    data = _samples(100, seed=2)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    other = tmp_path / "other.npz"
    _run(data, state=str(other), window=80)
    for path, needle in ((junk, "not a state file"), (other, "written with window=80, this node has window=120")):
        mock = _run(data, state=str(path))
        assert mock.node.counters["state_errors"] == 1 and mock.node.counters["restored"] == 0
        assert any(needle in line.msg for line in mock.logs()), [line.msg for line in mock.logs()]
        graphs = mock.outputs("causal/graph")
        assert graphs and graphs[0].seq == 1 and graphs[0].n_samples == 60  # started empty, did its work


def test_a_stream_that_went_back_in_time_restarts_the_window(tmp_path: Path) -> None:
    state = tmp_path / "disc.npz"
    _run(_samples(150, seed=3), state=str(state))
    again = _run(_samples(100, seed=4), state=str(state))  # stamps start over at 1000 ns
    assert again.node.counters["restored"] == 120
    assert any("not after the restored window's end" in line.msg for line in again.logs())
    graphs = again.outputs("causal/graph")
    assert graphs[0].n_samples == 60 and "restored" not in graphs[0].flags


def test_a_window_older_than_state_max_gap_s_is_not_taken_back(tmp_path: Path) -> None:
    state, copy = tmp_path / "disc.npz", tmp_path / "copy.npz"
    _run(_samples(150, seed=3), state=str(state))
    copy.write_bytes(state.read_bytes())
    later = [Features(stamp_ns=s.stamp_ns + 60 * 10**9, names=s.names, values=s.values) for s in _samples(100, seed=4, start=150)]
    again = _run(later, state=str(state), state_max_gap_s=30.0)
    assert any("after the restored window's end (state_max_gap_s 30)" in line.msg for line in again.logs())
    assert again.outputs("causal/graph")[0].n_samples == 60
    kept = _run([Features(stamp_ns=s.stamp_ns + 20 * 10**9, names=s.names, values=s.values)
                 for s in _samples(100, seed=4, start=150)], state=str(copy), state_max_gap_s=30.0)
    assert kept.outputs("causal/graph")[0].flags[:1] == ["restored"]


def test_other_variables_than_the_saved_ones_restart_the_window(tmp_path: Path) -> None:
    state = tmp_path / "disc.npz"
    _run(_samples(150), state=str(state))
    renamed = [Features(stamp_ns=10**9 + k, names=["p", "q", "r"], values=s.values) for k, s in enumerate(_samples(80))]
    again = _run(renamed, state=str(state))
    assert again.node.counters["variables_changed"] == 1
    assert again.outputs("causal/graph")[0].flags[:1] == ["variables_changed"]


def test_a_state_file_that_cannot_be_written_is_counted_and_the_node_runs_on(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    mock = _run(_samples(120), state=str(blocker / "disc.npz"))
    assert mock.node.counters["state_errors"] >= 1 and mock.outputs("causal/graph")
    assert any("cannot save state" in line.msg for line in mock.logs())


@pytest.mark.parametrize("damage, needle", [
    (lambda s: s._replace(stamps=s.stamps[::-1].copy()), "not increasing"),
    (lambda s: s._replace(samples=s.samples[:, :2].copy()), "do not fit 3 variables"),
    (lambda s: s._replace(history=np.full((1, 2, 2, 3), "", dtype="<U3")), "graph history of shape"),
])
def test_a_state_that_does_not_hold_together_is_refused(tmp_path: Path, damage, needle: str) -> None:
    good = WindowState(NAMES, np.zeros((3, 3)), np.array([1, 2, 3]), 2)
    save_state(tmp_path / "s.npz", damage(good), {"window": 3})
    with pytest.raises(StateFileError, match=needle):
        load_state(tmp_path / "s.npz", {"window": 3})


def test_events_never_repeat_links_already_reported_before_a_restart(tmp_path: Path) -> None:
    data = _samples(300, seed=5)
    state = tmp_path / "disc.npz"
    _run(data[:200], state=str(state))
    again = _run(data[200:], state=str(state))
    events = [e for e in again.outputs("causal/events") if isinstance(e, CausalEvent)]
    first = again.outputs("causal/graph")[0]
    assert all(e.graph_seq > first.seq - 1 for e in events)
    # a node starting empty would report every link of its first graph as added
    assert not any(e.graph_seq == first.seq and len(e.added) == len(first.links()) and first.links() for e in events)
