"""Stability over refreshes, graph diffs, and residual drift detection (river) on WindowedPCMCI."""

from __future__ import annotations

import numpy as np
import pytest

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.drift import DriftMonitor
from causalstream.models.causal.graph import diff_graphs
from causalstream.models.causal.stability import LinkStability
from causalstream.models.errors import ParameterError


def _graph(n: int, tau: int, links: dict[tuple[int, int, int], str]) -> np.ndarray:
    g = np.zeros((n, n, tau + 1), dtype="<U3")
    for (i, j, lag), mark in links.items():
        g[i, j, lag] = mark
    return g


def test_stability_is_the_share_of_the_last_k_refreshes() -> None:
    s = LinkStability(k=4)
    on, off = _graph(2, 1, {(0, 1, 1): "-->"}), _graph(2, 1, {})
    for g in (on, on, off, on, off, off):
        s.update(g)
    assert s.n_graphs == 4
    assert s.get()[0, 1, 1] == pytest.approx(1 / 4)  # last four: off, on, off, off
    assert s.get()[1, 0, 1] == 0.0
    with pytest.raises(ParameterError):
        LinkStability(k=0)


def test_stability_of_a_real_stream_is_high_for_a_strong_link() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 3))
    X[1:, 2] += 0.8 * X[:-1, 1]
    model, s = WindowedPCMCI(3, 300, 1), LinkStability(k=5)
    for start in range(300, 900, 120):
        s.update(model.update_many(X[start - 120 if start > 300 else 0:start]).results()["graph"])
    assert s.get()[1, 2, 1] == 1.0


def test_diff_counts_added_removed_and_changed_marks() -> None:
    names = ["a", "b", "c"]
    old = _graph(3, 1, {(0, 1, 1): "-->", (0, 2, 0): "o-o", (2, 0, 0): "o-o"})
    new = _graph(3, 1, {(1, 2, 1): "-->", (0, 2, 0): "-->", (2, 0, 0): "<--"})
    d = diff_graphs(old, new, names)
    assert d.added == [("a", "c", 0, "-->"), ("b", "c", 1, "-->")]
    assert d.removed == [("a", "b", 1, "-->"), ("a", "c", 0, "o-o")]
    assert d.shd == 3 and d.changed
    assert diff_graphs(new, new, names).shd == 0
    assert diff_graphs(None, new, names).shd == 2
    with pytest.raises(ParameterError):
        diff_graphs(old, _graph(3, 2, {}), names)


def _regime_change(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 3))
    X[1:, 1] += 0.8 * X[:-1, 0]
    late = rng.normal(size=(1000, 3))
    late[1:, 1] = 2.5 * late[1:, 1] - 0.8 * late[:-1, 2]   # 0 -> 1 replaced by 2 -> 1, noisier
    X[2000:] = late
    return X


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley"])
def test_drift_fires_after_a_regime_change_and_restarts_the_window(detector: str) -> None:
    X = _regime_change(3)
    model = WindowedPCMCI(3, 400, 1).update_many(X[:400])
    mon = DriftMonitor(model, detector=detector, restart=True).refit()
    events = []
    for t, x in enumerate(X[400:], start=400):
        model.update(x)
        fired = mon.update(x).events
        if fired:  # the window's owner restarts it (DiscoveryLoop does; the monitor only reports)
            model.reset().update(x)
        events += fired
        if t % 200 == 0 and mon.regression is None and model.cov.n_samples >= 200:
            mon.refit()
    before = [e for e in events if e.index < 2000]
    after = [e for e in events if 2000 <= e.index < 2300]
    assert not before, before
    assert after and after[0].variable == "$1$" and after[0].restarted
    # the window restarted at the drift: the graph now shows the new parent 2 -> 1, not 0 -> 1
    model.update_many(X[2600:2800])
    g = model.results()["graph"]
    assert model.cov.n_samples == 400 and g[2, 1, 1] == "-->" and g[0, 1, 1] == ""


def test_drift_without_restart_only_reports() -> None:
    X = _regime_change(4)
    model = WindowedPCMCI(3, 400, 1).update_many(X[:1800])
    mon = DriftMonitor(model, detector="adwin").refit()
    fired = []
    for x in X[1800:2400]:
        model.update(x)
        fired += mon.update(x).events
    assert fired and not fired[0].restarted and model.cov.n_samples == 400
    with pytest.raises(ParameterError):
        DriftMonitor(model, detector="cusum")
