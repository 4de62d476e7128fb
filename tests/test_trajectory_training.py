"""Training runs, improves a network, keeps the best epoch; checkpoints round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.export import SceneModule
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig
from causalstream.models.trajectory.training import (TrainConfig, TrainEvent, evaluate, jitter, load_checkpoint,
                                                     save_checkpoint, train)


def _walkers(n: int, seed: int) -> list[np.ndarray]:
    """Scenes of 3 agents walking straight at ~1.3 m/s (0.5 m a step) in random directions."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        angle = rng.uniform(0, 2 * np.pi, (3, 1, 1))
        step = 0.5 * np.concatenate([np.cos(angle), np.sin(angle)], axis=-1)
        start = rng.uniform(-5, 5, (3, 1, 2))
        out.append((start + step * np.arange(20)[None, :, None]).astype(np.float32))
    return out


def test_training_beats_the_untrained_network_and_reports_progress() -> None:
    cfg = NetworkConfig(d_model=16, heads=2, layers=1, modes=2)
    train_set, val_set = _walkers(32, 0), _walkers(8, 1)
    torch.manual_seed(0)
    untrained = evaluate(CausalGatedPredictor(cfg), val_set)
    events: list[TrainEvent] = []
    result = train(cfg, TrainConfig(epochs=6, seed=0, batch_windows=4), train_set, val_set, events.append)
    assert result.val_metrics["ade"] < 0.5 * untrained["ade"]
    assert result.val_metrics["ade"] + result.val_metrics["ade_top1"] == min(h["ade"] + h["ade_top1"] for h in result.history)
    assert [e.epoch for e in events if not np.isnan(e.val_ade)] == list(range(6))
    assert not result.network.training


def test_jittered_histories_train_against_clean_targets() -> None:
    """With obs_noise the network still learns the walks: the noise is on its input only."""
    cfg = NetworkConfig(d_model=16, heads=2, layers=1, modes=2)
    train_set, val_set = _walkers(32, 0), _walkers(8, 1)
    torch.manual_seed(0)
    untrained = evaluate(CausalGatedPredictor(cfg), val_set)
    schedule = TrainConfig(epochs=6, seed=0, batch_windows=4, obs_noise=0.05, obs_noise_share=0.5)
    result = train(cfg, schedule, train_set, val_set)
    assert result.val_metrics["ade"] < 0.5 * untrained["ade"]
    history = torch.zeros(4, 3, 8, 2)
    assert jitter(history, TrainConfig(obs_noise=0.05, obs_noise_share=0.0), np.random.default_rng(0)) is None
    noise = jitter(history, TrainConfig(obs_noise=0.05, obs_noise_share=1.0), np.random.default_rng(0))
    assert noise is not None and noise.shape == history.shape and bool((noise != 0).all())


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path: Path) -> None:
    net = CausalGatedPredictor(NetworkConfig(d_model=16, heads=2, layers=1, modes=2)).eval()
    back, meta = load_checkpoint(save_checkpoint(net, tmp_path / "m.pt", {"data": "x"}))
    x = torch.randn(1, 4, 8, 2)
    prior = torch.ones(1, 4, 4)
    with torch.no_grad():
        assert torch.equal(net(x, prior).trajectories, back(x, prior).trajectories)
    assert meta == {"data": "x"}


def test_shipped_checkpoints_load_and_agree_with_their_onnx() -> None:
    """trajectory_sim.pt was saved by the first network layout: load_checkpoint upgrades it."""
    weights = Path(__file__).resolve().parents[1] / "models" / "weights"
    rng = np.random.default_rng(0)
    for name in ("trajectory", "trajectory_sim"):
        net, _ = load_checkpoint(weights / f"{name}.pt")
        session = OnnxPredictor(weights / f"{name}.onnx").session
        history = np.cumsum(rng.normal(0, 0.4, (5, 8, 2)), axis=1).astype(np.float32)
        adjacency = np.ones((5, 5), np.float32)
        got = session.run(None, {"history": history, "adjacency": adjacency})
        with torch.no_grad():
            want = SceneModule(net)(torch.from_numpy(history), torch.from_numpy(adjacency))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.numpy(), rtol=0, atol=1e-5)
