"""Style adaptation: fine-tune only a small style part of a trained predictor on a new domain.

After Liu et al., "Towards Robust and Adaptive Motion Forecasting: A Causal Representation
Perspective" (CVPR 2022) and GCRL (ICML 2023): the invariant mechanisms (the encoders, the
causal discovery, the gated attention) stay frozen and only a domain's style is learnt from a
few scenes. The style part here is FiLM, a per-channel scale and shift of features (no weight
matrix is learnt), on five kinds of sites of :class:`CausalGatedPredictor` (:data:`STYLE_SITES`):
the agent encoder's output (``encoder``), the pair encoder's before its ReLU (``pairs``), each
attention layer's feed-forward output (``attention``), the decoder's hidden layer before the
per-mode bias (``decoder``) and the trajectory read-out (``output``: offsets to constant
velocity in the agent's frame); 624 numbers for the shipped models (d_model 64, 2 layers).
Initialised to identity (scale 1, shift 0), so the model is the base one, exactly, before
adaptation. Each site follows a linear layer, so the style folds into that layer's weight and
bias (:meth:`StyleFiLM.fold`): the adapted model is a plain network again, the ONNX graph is
the base one with other weights, and its checkpoint loads with ``load_checkpoint``.

Training runs the network in eval mode (the gate thresholded, as it runs on the robot) with
gradients; loss: ADE of the most probable mode + ADE of mode 0 + min-of-K ADE + the mode
classification, plus an L2 pull towards identity. The last share of the shots is held out to pick
the epoch (epoch 0, the base model, included), so adaptation never does worse than the base
on those held-out shots.

>>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2)).eval()
>>> style = StyleFiLM(net)
>>> h, prior = torch.randn(3, 8, 2), torch.ones(3, 3)
>>> with torch.no_grad():
...     base = net(h, prior).trajectories
...     with style.attached(net):
...         styled = net(h, prior).trajectories
...     folded = style.fold(net)(h, prior).trajectories
>>> torch.equal(base, styled), torch.equal(base, folded), style.size()
(True, True, 160)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from causalstream.models.errors import ModelError, ParameterError
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig  # noqa: F401 (doctests)
from causalstream.models.trajectory.training import collate, evaluate

__all__ = ["STYLE_SITES", "AdaptConfig", "AdaptResult", "StyleFiLM", "adapt", "site_layers", "split_shots"]

log = logging.getLogger(__name__)

# site name -> the linear layers whose outputs it scales and shifts (``*``: every attention layer)
STYLE_SITES = {"encoder": "self_encoder.2", "pairs": "pair_encoder.0", "attention": "layers.*.ffn.2",
               "decoder": "head_in", "output": "trajectory_out"}


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """The adaptation schedule.

    >>> AdaptConfig().sites, AdaptConfig(epochs=5).epochs
    (('encoder', 'pairs', 'attention', 'decoder', 'output'), 5)
    """

    epochs: int = 60
    lr: float = 2e-2
    batch_windows: int = 16
    identity_weight: float = 1e-3  # L2 of (scale - 1, shift) per number
    val_share: float = 0.2  # share of the shots held out to pick the epoch (none below 5 shots)
    min_steps: int = 500  # few shots: more epochs, so that every run takes at least this many steps
    max_steps: int = 1500  # many shots: fewer epochs, so that no run takes more (seconds to a few minutes)
    sites: tuple[str, ...] = tuple(STYLE_SITES)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.sites if s not in STYLE_SITES]
        if unknown or not self.sites:
            raise ParameterError(what="AdaptConfig", reason=f"sites must be some of {sorted(STYLE_SITES)}, got {list(self.sites)}")
        if self.epochs < 1 or not 0 <= self.val_share < 1 or self.max_steps < self.min_steps:
            raise ParameterError(what="AdaptConfig", reason="need epochs >= 1, 0 <= val_share < 1, max_steps >= min_steps")


class AdaptResult(NamedTuple):
    """The adapted network (style folded in), its style, and the held-out shots' numbers before/after.

    >>> AdaptResult._fields
    ('network', 'style', 'before', 'after', 'best_epoch', 'seconds', 'history')
    """

    network: CausalGatedPredictor
    style: StyleFiLM
    before: dict[str, float]  # held-out shots, the base model ({} when none held out)
    after: dict[str, float]
    best_epoch: int  # 0: the base model was kept
    seconds: float
    history: list[dict[str, float]]


def site_layers(net: nn.Module, sites: Sequence[str]) -> dict[str, nn.Linear]:
    """The linear layers of ``sites`` in ``net``, by module path.

    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=2, modes=2))
    >>> list(site_layers(net, ["attention", "output"]))
    ['layers.0.ffn.2', 'layers.1.ffn.2', 'trajectory_out']
    """
    paths = []
    for site in sites:
        head, star, tail = STYLE_SITES[site].partition(".*.")
        count = sum(1 for _ in net.get_submodule(head).children()) if star else 0
        paths += [f"{head}.{i}.{tail}" for i in range(count)] if star else [STYLE_SITES[site]]
    layers = {}
    for path in paths:
        try:
            layer = net.get_submodule(path)
        except AttributeError as exc:
            raise ModelError(what="model adapt", reason=f"the network has no style part: no layer {path}") from exc
        if not isinstance(layer, nn.Linear):
            raise ModelError(what="model adapt", reason=f"the network has no style part: {path} is not a linear layer")
        layers[path] = layer
    return layers


def _key(path: str) -> str:
    return path.replace(".", "_")  # ParameterDict keys hold no dots


class StyleFiLM(nn.Module):
    """Per-channel scale and shift on the outputs of the style sites of ``net`` (identity at start).

    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2))
    >>> StyleFiLM(net, ("output",)).paths, StyleFiLM(net, ("output",)).size()
    (['trajectory_out'], 48)
    """

    def __init__(self, net: CausalGatedPredictor, sites: Sequence[str] = tuple(STYLE_SITES)) -> None:
        super().__init__()
        self.paths = list(site_layers(net, sites))
        widths = {_key(p): layer.out_features for p, layer in site_layers(net, sites).items()}
        self.scale = nn.ParameterDict({s: nn.Parameter(torch.ones(n)) for s, n in widths.items()})
        self.shift = nn.ParameterDict({s: nn.Parameter(torch.zeros(n)) for s, n in widths.items()})

    def size(self) -> int:
        """How many numbers the style part has."""
        return sum(p.numel() for p in self.parameters())

    def distance(self) -> torch.Tensor:
        """Squared distance from identity, summed over every number."""
        return sum((((self.scale[s] - 1) ** 2).sum() + (self.shift[s] ** 2).sum() for s in self.scale),
                   torch.zeros(()))

    @contextlib.contextmanager
    def attached(self, net: CausalGatedPredictor) -> Iterator[CausalGatedPredictor]:
        """``net`` with the style applied to its sites (forward hooks), removed on exit."""
        hooks = []
        for path in self.paths:
            def film(_m: nn.Module, _i: object, out: torch.Tensor, s: str = _key(path)) -> torch.Tensor:
                return out * self.scale[s] + self.shift[s]
            hooks.append(net.get_submodule(path).register_forward_hook(film))
        try:
            yield net
        finally:
            for h in hooks:
                h.remove()

    def fold(self, net: CausalGatedPredictor) -> CausalGatedPredictor:
        """A copy of ``net`` (eval mode) with the style folded into its sites' weights and biases."""
        out = copy.deepcopy(net).eval()
        with torch.no_grad():
            for path in self.paths:
                layer, scale, shift = out.get_submodule(path), self.scale[_key(path)].detach(), self.shift[_key(path)].detach()
                assert isinstance(layer, nn.Linear)
                layer.weight.mul_(scale[:, None])
                layer.bias.mul_(scale).add_(shift)
        return out


def split_shots(windows: Sequence[np.ndarray], val_share: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(train, held out): the last ``val_share`` of the shots, in their order, held out (none below 5 shots).

    The last, not a random share: a log's windows slide by one step, so neighbours share most
    of their frames, and a held-out window between two training ones would not be held out.

    >>> tr, va = split_shots([np.full((2, 20, 2), i) for i in range(10)], 0.2)
    >>> len(tr), [int(w[0, 0, 0]) for w in va], len(split_shots([np.zeros((2, 20, 2))] * 4, 0.2)[1])
    (8, [8, 9], 0)
    """
    n_val = int(round(len(windows) * val_share)) if len(windows) >= 5 else 0
    cut = len(windows) - n_val
    return list(windows[:cut]), list(windows[cut:])


def _loss(net: CausalGatedPredictor, scene: torch.Tensor, valid: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    obs, horizon = net.config.observed, net.config.horizon
    out = net(scene[:, :, :obs], prior)
    err = torch.linalg.vector_norm(out.trajectories - scene[:, :, None, obs: obs + horizon], dim=-1)
    ade = err.mean(-1)  # [B, A, K]
    top = ade.gather(-1, out.mode_logits.argmax(dim=-1, keepdim=True))[..., 0]
    target = torch.softmax(-ade.detach() / 2.0, dim=-1)
    cls = nn.functional.cross_entropy(out.mode_logits[valid], target[valid])
    return top[valid].mean() + ade[..., 0][valid].mean() + 0.5 * ade.amin(-1)[valid].mean() + 0.5 * cls


def _score(metrics: dict[str, float]) -> float:
    return metrics["ade_top1"]


def adapt(base: CausalGatedPredictor, shots: Sequence[np.ndarray], config: AdaptConfig = AdaptConfig(),
          progress: Callable[[int, int, float], None] | None = None) -> AdaptResult:
    """Learn a style for ``base`` (left unchanged) from ``shots``, windows [A, 20, 2] of the new domain.

    ``progress(epoch, epochs, loss)`` is called after each epoch. The epoch with the lowest
    most-probable-mode ADE on the held-out shots is kept (with too few shots to hold any out,
    the last).

    >>> rng = np.random.default_rng(0)
    >>> walks = [np.cumsum(rng.normal(0.3, 0.05, (3, 20, 2)), axis=1).astype(np.float32) for _ in range(6)]
    >>> base = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2)).eval()
    >>> result = adapt(base, walks, AdaptConfig(epochs=2, min_steps=0))
    >>> result.style.size(), len(result.history), result.after["ade_top1"] <= result.before["ade_top1"]
    (160, 2, True)
    """
    if not shots:
        raise ParameterError(what="adapt", reason="no scenes to adapt on")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = copy.deepcopy(base).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    style = StyleFiLM(net, config.sites)
    train_w, val_w = split_shots(shots, config.val_share)
    batches = math.ceil(len(train_w) / config.batch_windows)
    epochs = min(max(config.epochs, math.ceil(config.min_steps / batches)), max(1, config.max_steps // batches))
    opt = torch.optim.Adam(style.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * batches)
    before = evaluate(net, val_w) if val_w else {}
    best = (_score(before) if val_w else math.inf, 0, copy.deepcopy(style.state_dict()), before)
    history: list[dict[str, float]] = []
    with style.attached(net):
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(train_w))
            losses = []
            for b in range(batches):
                scene, valid, prior = collate([train_w[i] for i in order[b * config.batch_windows:(b + 1) * config.batch_windows]])
                loss = _loss(net, scene, valid, prior) + config.identity_weight * style.distance()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            row = {"epoch": epoch, "loss": float(np.mean(losses))}
            if val_w:
                metrics = evaluate(net, val_w)
                row.update(metrics)
                if _score(metrics) < best[0]:
                    best = (_score(metrics), epoch, copy.deepcopy(style.state_dict()), metrics)
            elif epoch == epochs:
                best = (math.nan, epoch, copy.deepcopy(style.state_dict()), {})
            history.append(row)
            if progress:
                progress(epoch, epochs, row["loss"])
    style.load_state_dict(best[2])
    log.info("style adapted on %d shots (%d held out): best epoch %d of %d", len(train_w), len(val_w), best[1], epochs)
    return AdaptResult(network=style.fold(base), style=style, before=before, after=best[3], best_epoch=best[1],
                       seconds=round(time.perf_counter() - started, 2), history=history)
