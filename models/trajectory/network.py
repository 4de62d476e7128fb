"""The causal-attention-gated trajectory transformer (torch; the ``train`` extra).

After CRiTIC ("Curb Your Attention", ICRA 2025). Each agent is, in turn, a target: every
agent's history (positions and velocities) is expressed in the target's frame (origin at
its last position, x along its heading). A causal discovery network scores each directed
pair (source -> target) from those features; the score becomes a gate (relaxed Bernoulli
while training, thresholded at 0 in eval, self-loops always on), multiplied by the external
adjacency prior. Gated attention then lets the target attend only to its causal sources:
the weights are ``g * exp(s - max) / sum(g * exp(s - max))``, written by hand so a gate of 0
removes a source exactly and no row is ever empty (the self-loop), hence never NaN. A
multimodal head gives K trajectories over the horizon (each a correction to the target's
constant-velocity extrapolation) and their probabilities.

Adjacency convention (tigramite's): ``adjacency[i, j] = 1`` means agent i may influence j.

>>> net = CausalGatedPredictor(NetworkConfig(d_model=16, heads=2, layers=1, modes=3)).eval()
>>> out = net(torch.zeros(1, 4, 8, 2), torch.ones(1, 4, 4))
>>> tuple(out.trajectories.shape), tuple(out.probabilities.shape), tuple(out.gate.shape)
((1, 4, 3, 12, 2), (1, 4, 3), (1, 4, 4))
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch
from torch import nn

from causalstream.models.errors import ParameterError

__all__ = ["CausalGatedPredictor", "NetworkConfig", "NetworkOutput"]

GATES = ("learned", "open")
# Offset added to the heading vector so a standing agent gets the identity frame, smoothly.
_HEADING_BIAS = 1e-3
# Stand-in score for gated-off pairs: finite, so exp() is 0 and 0 * value never makes NaN.
_OFF_SCORE = -1e4


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network; stored in checkpoints and in the weights' metadata.

    >>> NetworkConfig().d_model, NetworkConfig(gate="open").gate
    (64, 'open')
    """

    d_model: int = 64
    d_pair: int = 32
    heads: int = 4
    layers: int = 2
    modes: int = 20
    observed: int = 8
    horizon: int = 12
    gate: str = "learned"
    temperature: float = 0.5
    gate_noise: float = 1.0  # scale of the logistic noise of the relaxed Bernoulli (training only)

    def __post_init__(self) -> None:
        if self.gate not in GATES:
            raise ParameterError(what="NetworkConfig", reason=f"gate must be one of {GATES}, got {self.gate!r}")
        if self.d_model % self.heads:
            raise ParameterError(what="NetworkConfig", reason=f"d_model {self.d_model} not divisible by heads {self.heads}")
        if self.observed < 3 or self.horizon < 1 or self.modes < 1:
            raise ParameterError(what="NetworkConfig", reason="need observed >= 3, horizon >= 1, modes >= 1")


class NetworkOutput(NamedTuple):
    """What the network returns; ``gate`` and ``edge_probability`` follow [source, target].

    >>> NetworkOutput._fields
    ('trajectories', 'probabilities', 'gate', 'edge_probability', 'mode_logits')
    """

    trajectories: torch.Tensor  # [B, A, K, H, 2] absolute positions
    probabilities: torch.Tensor  # [B, A, K]
    gate: torch.Tensor  # [B, A, A] the gate used, source -> target
    edge_probability: torch.Tensor  # [B, A, A] sigmoid of the discovery logits
    mode_logits: torch.Tensor  # [B, A, K]


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


class GatedAttentionLayer(nn.Module):
    """One round of target-to-source attention with gates, then a feed-forward block.

    Keys and values [B, A(target), H, A(source), dh] are projected once from the pair
    embeddings and shared by every layer; each layer has its own query.

    >>> layer = GatedAttentionLayer(8, 2)
    >>> h, kv, g = torch.zeros(1, 3, 8), torch.randn(1, 3, 2, 3, 4), torch.eye(3)[None]
    >>> tuple(layer(h, kv, kv, g).shape)
    (1, 3, 8)
    """

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.heads = heads
        self.query = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = _mlp(d_model, 2 * d_model, d_model)

    def forward(self, h: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """``h`` [B, A, d] targets, ``keys``/``values`` [B, A, H, A, dh], ``gate`` [B, A(target), A(source)]."""
        n_head, d_head = self.heads, self.d_model // self.heads
        q = self.query(h).unflatten(-1, (n_head, d_head)).unsqueeze(-2)  # [B, A, H, 1, dh]
        scores = (q @ keys.transpose(-1, -2))[..., 0, :] / math.sqrt(d_head)  # [B, A, H, A]
        g = gate.unsqueeze(2)  # [B, A, 1, A]
        if not self.training:
            scores = torch.where(g > 0, scores, torch.full_like(scores, _OFF_SCORE))
        # While training, a shut edge keeps its real score: its weight is still exactly 0 in
        # the forward pass (g = 0, exp finite), but the loss reaches its gate through the
        # straight-through estimator, so an edge shut too early can open again.
        top = scores.amax(dim=-1, keepdim=True).detach()
        weights = torch.exp(scores - top) * g
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-20)
        mixed = (weights.unsqueeze(-2) @ values)[..., 0, :].flatten(-2)  # [B, A, d]
        h = self.norm1(h + self.out(mixed))
        return self.norm2(h + self.ffn(h))


class CausalGatedPredictor(nn.Module):
    """History [B, A, T, 2] + adjacency prior [B, A, A] -> :class:`NetworkOutput`.

    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2)).eval()
    >>> prior = torch.ones(1, 3, 3); prior[0, 2, :] = 0; prior[0, :, 2] = 0  # agent 2 cut off
    >>> out = net(torch.randn(1, 3, 8, 2), prior)
    >>> out.gate[0, 2].tolist(), bool(torch.isfinite(out.trajectories).all())
    ([0.0, 0.0, 1.0], True)
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        # Pair work grows with A^2, so pairs are narrow (d_pair) and projected to keys and
        # values once; the mode heads add a per-mode bias after the first linear map
        # (the same as adding a mode embedding before it) so h is projected once per agent.
        d, dp, steps = config.d_model, config.d_pair, config.observed
        self.self_encoder = _mlp(4 * steps, d, d)
        self.pair_encoder = _mlp(5 * steps, dp, dp)
        self.discover_target = nn.Linear(d, dp)
        self.discover_pair = nn.Linear(dp, dp)
        self.discover_out = nn.Linear(dp, 1)
        self.memory = nn.Linear(dp, 2 * d)
        self.layers = nn.ModuleList(GatedAttentionLayer(d, config.heads) for _ in range(config.layers))
        self.head_in = nn.Linear(d, d)
        self.mode_bias = nn.Parameter(torch.randn(config.modes, d) * 0.5)
        self.trajectory_out = nn.Linear(d, 2 * config.horizon)
        self.mode_out = nn.Linear(d, 1)
        # True: ignore the discovered graph (gate = prior only); for gate warm-up and ablations.
        self.force_open = False

    def forward(self, history: torch.Tensor, prior: torch.Tensor) -> NetworkOutput:
        """Run the network; ``prior`` [B, A, A] is the external adjacency (all ones: none)."""
        last = history[:, :, -1]  # [B, A, 2]
        heading = last - history[:, :, -3]
        ux = heading[..., 0] + _HEADING_BIAS
        norm = torch.sqrt(ux * ux + heading[..., 1] * heading[..., 1])
        cos, sin = ux / norm, heading[..., 1] / norm  # [B, A]
        steps = history[:, :, 1:] - history[:, :, :-1]
        velocity = torch.cat([steps[:, :, :1], steps], dim=2)  # [B, A, T, 2]

        # pairs [B, target j, source i, T, 2]: source history in the target's frame
        rel = history.unsqueeze(1) - last[:, :, None, None, :]
        vel = velocity.unsqueeze(1).expand_as(rel)
        c, s = cos[:, :, None, None], sin[:, :, None, None]
        rx, ry = c * rel[..., 0] + s * rel[..., 1], c * rel[..., 1] - s * rel[..., 0]
        vx, vy = c * vel[..., 0] + s * vel[..., 1], c * vel[..., 1] - s * vel[..., 0]
        dist = torch.sqrt(rx * rx + ry * ry + 1e-6)
        pair_feat = torch.cat([rx, ry, vx, vy, dist], dim=-1)  # [B, A, A, 5T]
        pairs = self.pair_encoder(pair_feat)
        own = torch.diagonal(torch.stack([rx, ry, vx, vy], dim=-1), dim1=1, dim2=2)  # [B, T, 4, A]
        h = self.self_encoder(own.permute(0, 3, 1, 2).flatten(-2))  # [B, A, d]

        logits = self.discover_out(torch.relu(self.discover_target(h).unsqueeze(2) + self.discover_pair(pairs)))[..., 0]
        gate = self._gate(logits, prior.transpose(1, 2))  # [B, target, source]
        n_head, d_head = self.config.heads, self.config.d_model // self.config.heads
        keys, values = self.memory(pairs).unflatten(-1, (2, n_head, d_head)).permute(3, 0, 1, 4, 2, 5)
        for layer in self.layers:
            h = layer(h, keys, values, gate)

        z = torch.relu(self.head_in(h).unsqueeze(2) + self.mode_bias)  # [B, A, K, d]
        # Each mode is a correction to the constant-velocity guess, in the target's frame.
        c, s = cos[:, :, None, None], sin[:, :, None, None]
        step = velocity[:, :, -1]  # [B, A, 2]
        ahead = torch.arange(1, self.config.horizon + 1, dtype=history.dtype, device=history.device)[:, None]
        cv_x = (cos * step[..., 0] + sin * step[..., 1])[:, :, None, None] * ahead[:, 0]
        cv_y = (cos * step[..., 1] - sin * step[..., 0])[:, :, None, None] * ahead[:, 0]
        local = self.trajectory_out(z).unflatten(-1, (self.config.horizon, 2))  # [B, A, K, H, 2]
        local = local + torch.stack([cv_x, cv_y], dim=-1)
        x = c * local[..., 0] - s * local[..., 1]
        y = s * local[..., 0] + c * local[..., 1]
        trajectories = torch.stack([x, y], dim=-1) + last[:, :, None, None, :]
        mode_logits = self.mode_out(z)[..., 0]
        return NetworkOutput(
            trajectories=trajectories,
            probabilities=torch.softmax(mode_logits, dim=-1),
            gate=gate.transpose(1, 2),
            edge_probability=torch.sigmoid(logits).transpose(1, 2),
            mode_logits=mode_logits,
        )

    def _gate(self, logits: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """Gate [B, target, source]: discovery (unless open) x prior, self-loops forced on."""
        n = logits.shape[-1]
        index = torch.arange(n, device=logits.device)
        eye = (index.unsqueeze(0) == index.unsqueeze(1)).to(logits.dtype)
        if self.config.gate == "open" or self.force_open:
            learned = torch.ones_like(logits)
        elif self.training:  # relaxed Bernoulli, hard in the forward pass (straight-through)
            u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
            noise = self.config.gate_noise * (torch.log(u) - torch.log1p(-u))
            soft = torch.sigmoid((logits + noise) / self.config.temperature)
            learned = (soft > 0.5).to(soft.dtype) + soft - soft.detach()
        else:
            learned = (logits > 0).to(logits.dtype)
        return learned * prior * (1 - eye) + eye
