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
_HEADING_BIAS_XY = torch.tensor([_HEADING_BIAS, 0.0])
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


def _linear_maps(steps: int, horizon: int) -> dict[str, torch.Tensor]:
    """Constant matrices on the flat history (x0, y0, x1, y1, ...) [2T] and flat points.

    A frame change is ``cos * p + sin * (p @ turn)`` on flat points (a rotation as two
    elementwise products: onnxruntime would run a broadcast matmul as one tiny matmul per
    agent pair, and reshapes or small last axes cost it more than the arithmetic).
    ``motion_map``: history -> (x, y, vx, vy) per step, the first velocity copied from the
    second; ``anchor_map``: -> the last position in every position slot; ``heading_map``:
    -> last minus third-last position; ``velocity_map``: -> the constant-velocity future
    (x, y per step ahead); ``square_map``: squared (x, y, vx, vy) -> squared distance per step.

    >>> maps = _linear_maps(3, 2)
    >>> h = torch.tensor([0.0, 0.0, 1.0, 0.0, 2.0, 1.0])  # (0, 0), (1, 0), (2, 1)
    >>> (h @ maps["motion_map"]).tolist()
    [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 2.0, 1.0, 1.0, 1.0]
    >>> (h @ maps["velocity_map"]).tolist(), (h @ maps["heading_map"]).tolist()
    ([3.0, 2.0, 4.0, 3.0], [2.0, 1.0])
    """
    t = steps
    motion, anchor = torch.zeros(2 * t, 4 * t), torch.zeros(2 * t, 4 * t)
    for k in range(t):
        for xy in (0, 1):
            motion[2 * k + xy, 4 * k + xy] = 1.0
            cur, prev = max(k, 1), max(k, 1) - 1
            motion[2 * cur + xy, 4 * k + 2 + xy] += 1.0
            motion[2 * prev + xy, 4 * k + 2 + xy] -= 1.0
            anchor[2 * (t - 1) + xy, 4 * k + xy] = 1.0
    heading = torch.zeros(2 * t, 2)
    velocity = torch.zeros(2 * t, 2 * horizon)
    for xy in (0, 1):
        heading[2 * (t - 1) + xy, xy], heading[2 * (t - 3) + xy, xy] = 1.0, -1.0
        for k in range(horizon):
            velocity[2 * (t - 1) + xy, 2 * k + xy] = 2.0 + k
            velocity[2 * (t - 2) + xy, 2 * k + xy] = -1.0 - k
    square = torch.zeros(4 * t, t)
    for k in range(t):
        square[4 * k, k] = square[4 * k + 1, k] = 1.0
    # (x, y) @ turn: (y, -x) into a target's frame (x' = c x + s y), (-y, x) back to the world
    into = torch.block_diag(*[torch.tensor([[0.0, -1.0], [1.0, 0.0]])] * (2 * t))
    back = torch.block_diag(*[torch.tensor([[0.0, 1.0], [-1.0, 0.0]])] * horizon)
    return {"motion_map": motion, "anchor_map": anchor, "heading_map": heading, "velocity_map": velocity,
            "square_map": square, "to_local_turn": into, "to_world_turn": back}


def _composite_linear(n_in: int, n_mid: int, outs: list[int]) -> nn.Linear:
    """One linear map initialised as the product of default-initialised layers n_in -> n_mid
    -> each of ``outs``: the scale the gate training was tuned with (a pair embedding, then a
    key/value map and a discovery map), but one matmul in the graph.

    >>> tuple(_composite_linear(4, 4, [6, 2]).weight.shape)
    (8, 4)
    """
    first = nn.Linear(n_in, n_mid)
    layer = nn.Linear(n_in, sum(outs))
    with torch.no_grad():
        heads = [nn.Linear(n_mid, n) for n in outs]
        layer.weight.copy_(torch.cat([h.weight @ first.weight for h in heads]))
        layer.bias.copy_(torch.cat([h.weight @ first.bias + h.bias for h in heads]))
    return layer


def _heads(d_model: int, heads: int) -> torch.Tensor:
    """[d_model, heads] indicator: which head each feature belongs to (no reshapes in the graph)."""
    return (torch.arange(d_model)[:, None] // (d_model // heads) == torch.arange(heads)[None]).float()


class GatedAttentionLayer(nn.Module):
    """One round of target-to-source attention with gates, then a feed-forward block.

    Keys [B, A(target), d, A(source)] and values [B, A(target), A(source), d] are projected
    once from the pair embeddings and shared by every layer; each layer has its own query.
    Heads are split with a [heads, d] indicator matrix instead of reshapes (the query is
    masked per head, and the mixed values are summed per head), so the exported graph has
    no shape arithmetic, and scores stay [heads, sources] per target: per-pair work is one
    small matmul per target, not a product over all d features of every pair.

    >>> layer = GatedAttentionLayer(8, 2)
    >>> h, kv, g = torch.zeros(1, 3, 8), torch.randn(1, 3, 3, 8), torch.eye(3)[None, :, None, :]
    >>> tuple(layer(h, kv.transpose(-1, -2), kv, g).shape)
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
        member = _heads(d_model, heads).t().contiguous()  # [heads, d]
        self.register_buffer("query_heads", member / math.sqrt(d_model // heads), persistent=False)
        self.register_buffer("value_heads", member, persistent=False)

    def forward(self, h: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, gate: torch.Tensor,
                off: torch.Tensor | None = None) -> torch.Tensor:
        """``h`` [B, A, d]; ``keys`` [B, A(target), d, A(source)]; ``values`` [B, A(target), A(source), d];
        ``gate`` [B, A(target), 1, A(source)]; ``off`` (eval only): the same shape, a large
        negative score where the gate is shut, else 0."""
        scores = (self.query(h).unsqueeze(-2) * self.query_heads) @ keys  # [B, A, heads, A]
        if off is not None:
            scores = scores + off
        # While training, a shut edge keeps its real score: its weight is still exactly 0 in
        # the forward pass (g = 0, exp finite), but the loss reaches its gate through the
        # straight-through estimator, so an edge shut too early can open again.
        top = scores.amax(dim=-1, keepdim=True).detach()
        weights = torch.exp(scores - top) * gate
        total = weights.sum(dim=-1, keepdim=True)
        # In eval the row maximum is an open edge (shut ones are pushed down by ``off``), so
        # the sum is at least its gate; while training a shut edge may hold the maximum.
        weights = weights / (total.clamp_min(1e-20) if off is None else total)
        mixed = ((weights @ values) * self.value_heads).sum(dim=-2)  # [B, A, d]
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
        # Pair work grows with A^2, so pairs are narrow (d_pair) and one linear map takes a
        # pair's hidden features to its keys, values and discovery features at once; the mode
        # heads add a per-mode bias after the first linear map (the same as adding a mode
        # embedding before it) so h is projected once per agent.
        d, dp, steps = config.d_model, config.d_pair, config.observed
        self.self_encoder = _mlp(4 * steps, d, d)  # own (x, y, vx, vy) per step, own frame
        # the source's (x, y, vx, vy) per step in the target's frame, + distance per step
        self.pair_encoder = nn.Sequential(nn.Linear(5 * steps, dp), nn.ReLU())
        self.pair_out = _composite_linear(dp, dp, [2 * d, dp])  # keys, values, discovery features
        self.discover_target = nn.Linear(d, dp)
        self.discover_out = nn.Linear(dp, 1)
        self.layers = nn.ModuleList(GatedAttentionLayer(d, config.heads) for _ in range(config.layers))
        self.head_in = nn.Linear(d, d)
        self.mode_bias = nn.Parameter(torch.randn(config.modes, d) * 0.5)
        self.trajectory_out = nn.Linear(d, 2 * config.horizon)
        self.mode_out = nn.Linear(d, 1)
        # True: ignore the discovered graph (gate = prior only); for gate warm-up and ablations.
        self.force_open = False
        for name, value in _linear_maps(config.observed, config.horizon).items():
            self.register_buffer(name, value, persistent=False)

    def forward(self, history: torch.Tensor, prior: torch.Tensor) -> NetworkOutput:
        """Run the network; ``prior`` [B, A, A] is the external adjacency (all ones: none).

        Unbatched input (``history`` [A, T, 2], ``prior`` [A, A]) gives unbatched outputs: the
        export uses it, so per-agent linear maps are 2-D (one Gemm node each in ONNX)."""
        # Everything before the encoders is linear in the flat history (x0, y0, x1, ...) but
        # for the rotation into each target's frame; see _linear_maps.
        flat = history.flatten(-2)  # [B, A, 2T]
        heading = flat @ self.heading_map + _HEADING_BIAS_XY
        unit = heading / torch.sqrt((heading * heading).sum(dim=-1, keepdim=True))  # (cos, sin) [B, A, 2]
        cos, sin = unit[..., :1], unit[..., 1:]  # [B, A, 1]
        motion = flat @ self.motion_map  # [B, A, 4T]: (x, y, vx, vy) per step
        turned = motion @ self.to_local_turn
        anchor = flat @ self.anchor_map
        anchor = cos * anchor + sin * (anchor @ self.to_local_turn)  # own last position, own frame

        # pairs [B, target j, source i, 4T]: source history in the target's frame
        local = cos.unsqueeze(-2) * motion.unsqueeze(-3) + sin.unsqueeze(-2) * turned.unsqueeze(-3) - anchor.unsqueeze(-2)
        dist = torch.sqrt((local * local) @ self.square_map + 1e-6)  # [B, A, A, T]
        d = self.config.d_model
        keys, values, discover = self.pair_out(self.pair_encoder(torch.cat([local, dist], dim=-1))).split(
            [d, d, self.config.d_pair], dim=-1)  # [B, A, A, d | d | dp]
        h = self.self_encoder(cos * motion + sin * turned - anchor)  # [B, A, d]

        logits = self.discover_out(torch.relu(self.discover_target(h).unsqueeze(-2) + discover))[..., 0]
        gate = self._gate(logits, prior.transpose(-1, -2)).unsqueeze(-2)  # [B, target, 1, source]
        off = None if self.training else torch.where(gate > 0, 0.0, _OFF_SCORE)
        keys = keys.transpose(-1, -2)  # [B, target, d, source]
        for layer in self.layers:
            h = layer(h, keys, values, gate, off)

        z = torch.relu(self.head_in(h).unsqueeze(-2) + self.mode_bias)  # [B, A, K, d]
        # Each mode is a correction to the constant-velocity guess, made in the target's frame.
        offsets = self.trajectory_out(z)  # [B, A, K, 2H]
        c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)
        world = c * offsets + s * (offsets @ self.to_world_turn) + (flat @ self.velocity_map).unsqueeze(-2)
        mode_logits = self.mode_out(z)[..., 0]
        cfg = self.config
        # an unbatched scene gets a constant target shape: one Reshape node in the graph
        shape = (-1, cfg.modes, cfg.horizon, 2) if history.dim() == 3 else (*world.shape[:-1], cfg.horizon, 2)
        return NetworkOutput(
            trajectories=world.reshape(shape),
            probabilities=torch.softmax(mode_logits, dim=-1),
            gate=gate[..., 0, :].transpose(-1, -2),
            edge_probability=torch.sigmoid(logits).transpose(-1, -2),
            mode_logits=mode_logits,
        )

    def _gate(self, logits: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """Gate [B, target, source]: discovery (unless open) x prior, self-loops forced on."""
        eye = torch.ones_like(logits).triu().tril()
        if self.config.gate == "open" or self.force_open:
            learned = torch.ones_like(logits)
        elif self.training:  # relaxed Bernoulli, hard in the forward pass (straight-through)
            u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
            noise = self.config.gate_noise * (torch.log(u) - torch.log1p(-u))
            soft = torch.sigmoid((logits + noise) / self.config.temperature)
            learned = (soft > 0.5).to(soft.dtype) + soft - soft.detach()
        else:  # eval: every term is in [0, 1] and the diagonal of eye is 1, so max == the formula below
            return torch.maximum(torch.where(logits > 0, prior, 0.0), eye)
        return learned * prior * (1 - eye) + eye
