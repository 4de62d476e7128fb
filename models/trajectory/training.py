"""Training of :class:`CausalGatedPredictor` on scene windows (torch; the ``train`` extra).

Windows are [A, 20, 2] arrays (8 observed + 12 future steps). Batches group windows of
similar size, padded; padding agents get a prior of 0, so the gate removes them exactly.
Loss: winner-takes-all ADE over the K modes, ADE of the most probable mode (a good single
guess), cross-entropy of the mode probabilities on soft targets softmax(-ADE_k / t), and a
sparsity penalty on the discovered edges (mean edge probability). With ``det_weight`` > 0,
mode 0 is the deterministic mode: trained with plain ADE on every agent (the best single
guess in expectation), left out of the winner-takes-all term; with a large
``mode_temperature`` the probabilities rank modes by expected error, so the most probable
mode is the best single guess. Each batch can be augmented by a random rotation, mirror
(``augment``) and scale (``scale_range``: ETH's walkers are about twice as fast as UCY's),
and its observed steps jittered (``obs_noise``, on a share ``obs_noise_share`` of the scenes;
targets stay clean): the BIWI scenes' annotations jitter from frame to frame, UCY's are
smooth splines, and a network that has only seen smooth tracks reads the jitter as motion.
The epoch with the best validation score (min-of-K ADE + most-probable-mode ADE) is kept.

>>> TrainConfig(epochs=3).gate_warmup
0.25
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from causalstream.models.errors import ModelError
from causalstream.models.trajectory.metrics import evaluate_windows
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig

__all__ = [
    "TrainConfig",
    "TrainEvent",
    "TrainResult",
    "augment",
    "collate",
    "evaluate",
    "jitter",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training schedule.

    >>> TrainConfig().epochs
    10
    """

    epochs: int = 10
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_windows: int = 32
    batch_pairs: int = 12_000  # cap on windows x agents^2 in a batch
    cls_weight: float = 0.5
    mode_temperature: float = 0.5  # metres: soft targets softmax(-ADE_k / t) for the probabilities
    top1_weight: float = 1.0  # extra ADE on the most probable mode, so it is a good single guess
    sparsity_weight: float = 0.3
    gate_warmup: float = 0.25  # share of epochs with the gate open, so attention learns what to use first
    prior_dropout: float = 0.1  # share of batches trained with a random external prior
    fde_weight: float = 0.0  # winner-takes-all on ADE + fde_weight x FDE
    det_weight: float = 0.0  # > 0: mode 0 is trained with plain ADE on every agent (deterministic mode)
    augment: bool = False  # random rotation and mirror of each batch's scenes
    scale_range: tuple[float, float] = (1.0, 1.0)  # random scale of each batch's scenes (speed augmentation)
    obs_noise: float = 0.0  # metres: observed steps get N(0, s^2) jitter, s ~ U(0, obs_noise) per scene
    obs_noise_share: float = 1.0  # share of scenes jittered (the others stay clean)
    seed: int = 0


class TrainEvent(NamedTuple):
    """Progress report: once per step (``val_ade`` NaN) and once per epoch.

    >>> TrainEvent(1, 5, 10, 10, 0.3, float("nan")).epoch
    1
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val_ade: float


class TrainResult(NamedTuple):
    """The best network (by validation min-of-K + top-1 ADE) and its numbers.

    >>> TrainResult._fields
    ('network', 'val_metrics', 'best_epoch', 'history')
    """

    network: CausalGatedPredictor
    val_metrics: dict[str, float]
    best_epoch: int
    history: list[dict[str, float]]


def collate(windows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad windows [A_b, 20, 2] into (scene [B, A, 20, 2], valid [B, A], prior [B, A, A]).

    >>> scene, valid, prior = collate([np.zeros((2, 20, 2)), np.zeros((3, 20, 2))])
    >>> tuple(scene.shape), valid.sum().item(), prior[0].sum().item()
    ((2, 3, 20, 2), 5, 4.0)
    """
    n = max(len(w) for w in windows)
    steps = windows[0].shape[1]
    scene = np.zeros((len(windows), n, steps, 2), dtype=np.float32)
    valid = np.zeros((len(windows), n), dtype=bool)
    for b, w in enumerate(windows):
        scene[b, : len(w)] = w
        scene[b, len(w) :] = w[:1]  # padding copies a real agent: finite, far from degenerate
        valid[b, : len(w)] = True
    v = torch.from_numpy(valid)
    prior = (v[:, :, None] & v[:, None, :]).float()
    return torch.from_numpy(scene), v, prior


def _batches(windows: Sequence[np.ndarray], cfg: TrainConfig, rng: np.random.Generator) -> list[list[int]]:
    order = sorted(range(len(windows)), key=lambda i: (len(windows[i]), rng.random()))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        size = len(windows[i])
        if current and (len(current) >= cfg.batch_windows or (len(current) + 1) * size * size > cfg.batch_pairs):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def augment(scene: torch.Tensor, cfg: TrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """Rotate, mirror and scale each scene of ``scene`` [B, A, T, 2] at random (per ``cfg``).

    >>> x = torch.randn(4, 3, 20, 2)
    >>> y = augment(x, TrainConfig(augment=True), np.random.default_rng(0))
    >>> torch.allclose(torch.cdist(x[0, :, 0], x[0, :, 0]), torch.cdist(y[0, :, 0], y[0, :, 0]), atol=1e-4)
    True
    """
    if not cfg.augment and cfg.scale_range == (1.0, 1.0):
        return scene
    n = scene.shape[0]
    angle = rng.uniform(0, 2 * np.pi, n) if cfg.augment else np.zeros(n)
    mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0) if cfg.augment else np.ones(n)
    scale = rng.uniform(*cfg.scale_range, n)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    # [B, 2, 2]: rotation x scale, then a mirror of y
    m = np.stack([np.stack([c, -s * mirror], -1), np.stack([s, c * mirror], -1)], -2)
    return scene @ torch.from_numpy(m.transpose(0, 2, 1)).to(scene.dtype)[:, None]


def jitter(history: torch.Tensor, cfg: TrainConfig, rng: np.random.Generator) -> torch.Tensor | None:
    """Noise for observed steps ``history`` [B, A, T, 2]: a share ``obs_noise_share`` of the
    scenes gets N(0, s^2) with s ~ U(0, ``obs_noise``) per scene, the rest zeros; ``None`` when off.

    >>> h = torch.zeros(1000, 2, 8, 2)
    >>> _ = torch.manual_seed(0)
    >>> noise = jitter(h, TrainConfig(obs_noise=0.1, obs_noise_share=0.5), np.random.default_rng(0))
    >>> clean = (noise.flatten(1) == 0).all(1).float().mean().item()
    >>> 0.45 < clean < 0.55, noise.std(dim=(1, 2, 3)).max().item() < 0.15
    (True, True)
    >>> jitter(h, TrainConfig(), np.random.default_rng(0)) is None
    True
    """
    if cfg.obs_noise <= 0 or cfg.obs_noise_share <= 0:
        return None
    n = history.shape[0]
    sigma = rng.uniform(0, cfg.obs_noise, n) * (rng.random(n) < cfg.obs_noise_share)
    return torch.randn_like(history) * torch.from_numpy(sigma).to(history.dtype)[:, None, None, None]


def _loss(net: CausalGatedPredictor, scene: torch.Tensor, valid: torch.Tensor, prior: torch.Tensor,
          cfg: TrainConfig, noise: torch.Tensor | None = None) -> torch.Tensor:
    obs = net.config.observed
    history = scene[:, :, :obs] if noise is None else scene[:, :, :obs] + noise
    out = net(history, prior)
    future = scene[:, :, obs : obs + net.config.horizon]
    err = torch.linalg.vector_norm(out.trajectories - future.unsqueeze(2), dim=-1)  # [B, A, K, H]
    ade = err.mean(-1)  # [B, A, K]
    deterministic = cfg.det_weight > 0 and ade.shape[-1] > 1
    multi = ade + cfg.fde_weight * err[..., -1]  # the winner's ADE (+ FDE)
    wta = multi[..., 1:].amin(dim=-1) if deterministic else multi.amin(dim=-1)
    top = ade.gather(-1, out.mode_logits.argmax(dim=-1, keepdim=True))[..., 0]
    target = torch.softmax(-ade.detach() / cfg.mode_temperature, dim=-1)
    cls = torch.nn.functional.cross_entropy(out.mode_logits[valid], target[valid])
    index = torch.arange(valid.shape[1])
    pairs = (prior > 0) & (index[:, None] != index[None, :])
    sparsity = out.edge_probability[pairs].mean() if pairs.any() and not net.force_open else wta.new_zeros(())
    reg = wta[valid].mean() + cfg.top1_weight * top[valid].mean()
    if deterministic:
        reg = reg + cfg.det_weight * ade[..., 0][valid].mean()
    return reg + cfg.cls_weight * cls + cfg.sparsity_weight * sparsity


def evaluate(net: CausalGatedPredictor, windows: Sequence[np.ndarray]) -> dict[str, float]:
    """Min-of-K (``ade``, ``fde``) and most-probable-mode (``*_top1``) errors, in metres.

    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2))
    >>> sorted(evaluate(net, [np.zeros((2, 20, 2), np.float32)]))
    ['ade', 'ade_top1', 'fde', 'fde_top1']
    """
    was_training = net.training
    net.eval()

    def predict(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = net(torch.from_numpy(history)[None], torch.ones(1, len(history), len(history)))
        return out.trajectories[0].numpy(), out.probabilities[0].numpy()

    with torch.no_grad():
        metrics = evaluate_windows(predict, windows, net.config.observed)
    net.train(was_training)
    return metrics


def train(
    config: NetworkConfig,
    schedule: TrainConfig,
    train_windows: Sequence[np.ndarray],
    val_windows: Sequence[np.ndarray],
    progress: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Train a fresh network; returns the epoch with the best validation min-of-K + top-1 ADE.

    >>> rng = np.random.default_rng(0)
    >>> walk = [np.cumsum(rng.normal(0.3, 0.05, (3, 20, 2)), axis=1).astype(np.float32) for _ in range(8)]
    >>> cfg = NetworkConfig(d_model=8, heads=2, layers=1, modes=2)
    >>> result = train(cfg, TrainConfig(epochs=1, seed=0), walk, walk[:2])
    >>> sorted(result.val_metrics)
    ['ade', 'ade_top1', 'fde', 'fde_top1']
    """
    if not train_windows or not val_windows:
        raise ModelError(what="train", reason="need at least one training and one validation window")
    torch.manual_seed(schedule.seed)
    rng = np.random.default_rng(schedule.seed)
    net = CausalGatedPredictor(config)
    torch.nn.init.constant_(net.discover_out.bias, 2.0)  # start with most edges open, prune later
    opt = torch.optim.AdamW(net.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    n_steps = schedule.epochs * len(_batches(train_windows, schedule, np.random.default_rng(0)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=schedule.lr, total_steps=max(n_steps, 1), pct_start=0.1)
    best: tuple[float, int, dict[str, Any], dict[str, float]] = (math.inf, -1, {}, {})
    history: list[dict[str, float]] = []
    warmup = math.ceil(schedule.gate_warmup * schedule.epochs) if schedule.epochs > 1 else 0
    for epoch in range(schedule.epochs):
        net.train()
        net.force_open = epoch < warmup
        batches = _batches(train_windows, schedule, rng)
        losses = []
        for step, idx in enumerate(batches):
            scene, valid, prior = collate([train_windows[i] for i in idx])
            scene = augment(scene, schedule, rng)
            if rng.random() < schedule.prior_dropout:
                prior = prior * (torch.rand_like(prior) > 0.3).float()
            loss = _loss(net, scene, valid, prior, schedule, jitter(scene[:, :, : config.observed], schedule, rng))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            if progress:
                progress(TrainEvent(epoch, schedule.epochs, step + 1, len(batches), losses[-1], math.nan))
        net.force_open = False
        metrics = evaluate(net, val_windows)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), **metrics})
        log.info("epoch %d loss %.4f val %s", epoch, np.mean(losses), metrics)
        score = metrics["ade"] + metrics["ade_top1"]  # both goals: min-of-K and the single best guess
        if score < best[0] or epoch == warmup:  # never keep a warm-up epoch: it was trained ungated
            best = (score, epoch, copy.deepcopy(net.state_dict()), metrics)
        if progress:
            progress(TrainEvent(epoch, schedule.epochs, len(batches), len(batches), float(np.mean(losses)), metrics["ade"]))
    net.load_state_dict(best[2])
    return TrainResult(network=net.eval(), val_metrics=best[3], best_epoch=best[1], history=history)


def save_checkpoint(net: CausalGatedPredictor, path: Path, metadata: dict[str, Any] | None = None) -> Path:
    """Save config + weights (+ metadata) with ``torch.save``; reload with :func:`load_checkpoint`.

    >>> import tempfile
    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back, meta = load_checkpoint(save_checkpoint(net, Path(tmp) / "m.pt", {"seed": 1}))
    >>> back.config == net.config, meta
    (True, {'seed': 1})
    """
    torch.save({"config": dataclasses.asdict(net.config), "state_dict": net.state_dict(),
                "metadata": metadata or {}}, path)
    return Path(path)


def _upgrade(state: dict[str, torch.Tensor], steps: int) -> dict[str, torch.Tensor]:
    """Weights of the first network layout (pair MLP of two layers, then separate key/value and
    discovery maps; pair features ordered feature-major) in the current one: the same function."""
    if "memory.weight" not in state:
        return state
    state = dict(state)
    order = [f * steps + t for t in range(steps) for f in range(4)] + [4 * steps + t for t in range(steps)]
    state["pair_encoder.0.weight"] = state["pair_encoder.0.weight"][:, order]
    w2, b2 = state.pop("pair_encoder.2.weight"), state.pop("pair_encoder.2.bias")
    maps = [(state.pop(f"{k}.weight"), state.pop(f"{k}.bias")) for k in ("memory", "discover_pair")]
    state["pair_out.weight"] = torch.cat([w @ w2 for w, _ in maps])
    state["pair_out.bias"] = torch.cat([w @ b2 + b for w, b in maps])
    return state


def load_checkpoint(path: Path) -> tuple[CausalGatedPredictor, dict[str, Any]]:
    """The network (eval mode) and metadata saved by :func:`save_checkpoint`.

    >>> load_checkpoint(Path("/no/such.pt"))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ModelError: load_checkpoint: cannot read /no/such.pt: ...
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = CausalGatedPredictor(NetworkConfig(**blob["config"]))
        net.load_state_dict(_upgrade(blob["state_dict"], net.config.observed))
    except (OSError, KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise ModelError(what="load_checkpoint", reason=f"cannot read {path}: {exc}") from exc
    return net.eval(), dict(blob.get("metadata", {}))
