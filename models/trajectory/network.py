"""The causal-attention-gated trajectory transformer (torch; the ``train`` extra).

After CRiTIC ("Curb Your Attention", ICRA 2025). Each agent is, in turn, a target: every
agent's history (positions and velocities) is expressed in the target's frame (origin at
its last position, x along its heading). A causal discovery network scores each directed
pair (source -> target) from those features; the score becomes a gate (relaxed Bernoulli
while training, thresholded at 0 in eval, self-loops always on), multiplied by the external
adjacency prior. Gated attention then lets the target attend only to its causal sources:
the weights are ``g * exp(s - max) / sum(g * exp(s - max))`` (in eval ``softmax(s + log g)``,
the same), so a gate of 0 removes a source exactly and no row is ever empty (the self-loop),
hence never NaN. A
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

    A frame change into a target's frame is ``cos * p + sin * (p @ turn)`` on flat points (a
    rotation as two elementwise products: onnxruntime would run a broadcast matmul as one tiny
    matmul per agent pair); the way back, per agent only, is one 2 x 2 matrix from
    ``rotation_map``. ``motion_map``: history -> (x, y, vx, vy) per step, the first velocity
    copied from the second; ``last_map``: (x, y, vx, vy) per step -> the last position in every
    position slot (velocity slots 0); ``heading_map``: -> last minus third-last position;
    ``velocity_map``: -> the constant-velocity future (x, y per step ahead); ``square_map``:
    squared (x, y, vx, vy) -> squared distance per step.

    >>> maps = _linear_maps(3, 2)
    >>> h = torch.tensor([0.0, 0.0, 1.0, 0.0, 2.0, 1.0])  # (0, 0), (1, 0), (2, 1)
    >>> (h @ maps["motion_map"]).tolist()
    [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 2.0, 1.0, 1.0, 1.0]
    >>> (h @ maps["velocity_map"]).tolist(), (h @ maps["heading_map"]).tolist()
    ([3.0, 2.0, 4.0, 3.0], [2.0, 1.0])
    """
    t = steps
    motion, last = torch.zeros(2 * t, 4 * t), torch.zeros(4 * t, 4 * t)
    for k in range(t):
        for xy in (0, 1):
            motion[2 * k + xy, 4 * k + xy] = 1.0
            cur, prev = max(k, 1), max(k, 1) - 1
            motion[2 * cur + xy, 4 * k + 2 + xy] += 1.0
            motion[2 * prev + xy, 4 * k + 2 + xy] -= 1.0
            last[4 * (t - 1) + xy, 4 * k + xy] = 1.0
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
    # (x, y) @ turn: (y, -x), into a target's frame (x' = c x + s y)
    into = torch.block_diag(*[torch.tensor([[0.0, -1.0], [1.0, 0.0]])] * (2 * t))
    return {"motion_map": motion, "last_map": last, "heading_map": heading, "velocity_map": velocity,
            "square_map": square, "to_local_turn": into,
            # (cos, sin) -> the rotation [[c, s], [-s, c]] (flat) that takes (x, y) back to the world
            "rotation_map": torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, -1.0, 0.0]])}


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

    Keys and values are linear maps of the pair embeddings ``pairs`` [B, A(target), A(source),
    dp], shared by every layer (``maps``: key matrix [d, dp], value matrix [dp, d], value bias
    [d]); each layer has its own query. Neither is ever formed: the query is taken into pair
    space (``q @ key``; the key bias adds a constant per row, which the softmax ignores), and
    the weighted sum of pair embeddings into value space afterwards (the value bias enters
    times the weights' sum, 1 in eval). Per pair that is a product over dp, not d, features.
    Heads are split with a [heads, d] indicator matrix instead of reshapes (the query is
    masked per head, and the mixed values are summed per head).

    >>> layer = GatedAttentionLayer(8, 2)
    >>> h, pairs, g = torch.zeros(1, 3, 8), torch.randn(1, 3, 3, 4), torch.eye(3)[None, :, None, :]
    >>> maps = (torch.randn(8, 4), torch.randn(4, 8), torch.zeros(8))
    >>> tuple(layer(h, pairs, g, torch.log(g), maps).shape)
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

    def forward(self, h: torch.Tensor, pairs: torch.Tensor, gate: torch.Tensor, log_gate: torch.Tensor | None,
                maps: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``h`` [B, A, d]; ``gate`` [B, A(target), 1, A(source)]; ``log_gate`` (eval only, else
        None): its log, -inf where the gate is shut."""
        key, value, value_bias = maps
        query = (self.query(h).unsqueeze(-2) * self.query_heads) @ key  # [B, A, heads, dp]
        scores = query @ pairs.transpose(-1, -2)  # [B, A, heads, A]
        if log_gate is None:
            # While training, a shut edge keeps its real score: its weight is still exactly 0
            # (g = 0, exp finite), but the loss reaches its gate through the straight-through
            # estimator, so an edge shut too early can open again.
            weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True).detach()) * gate
            weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-20)
            values = (weights @ pairs) @ value + weights.sum(dim=-1, keepdim=True) * value_bias
            mixed = (values * self.value_heads).sum(dim=-2)
        else:
            # g exp(s - m) / sum(g exp(s - m)): exactly 0 where g = 0 (exp(-inf)); the
            # self-loop (g = 1) keeps the row maximum finite, so never NaN
            weights = torch.softmax(scores + log_gate, dim=-1)
            mixed = (((weights @ pairs) @ value) * self.value_heads).sum(dim=-2) + value_bias  # [B, A, d]
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
        # Pair work grows with A^2, so pairs are narrow (d_pair); ``pair_out`` holds the maps of
        # a pair's embedding to its keys, values and discovery features (keys and values are
        # never formed, see GatedAttentionLayer; the discovery features are); the mode
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
        # the constant-velocity future once per mode: added to [B * A, K * 2H] rows as they are
        self.register_buffer("modes_velocity_map", self.velocity_map.repeat(1, config.modes), persistent=False)

    def forward(self, history: torch.Tensor, prior: torch.Tensor) -> NetworkOutput:
        """Run the network; ``prior`` [B, A, A] is the external adjacency (all ones: none).

        Unbatched input (``history`` [A, T, 2], ``prior`` [A, A]) gives unbatched outputs: the
        export uses it, so per-agent and per-pair linear maps are 2-D (one Gemm node each in
        ONNX: onnxruntime adds a bias to a 3-D product slowly) and reshapes have constant
        targets but one, read from the prior's size."""
        cfg = self.config
        flat = history.flatten(-2) if history.dim() == 4 else history.reshape(-1, 2 * cfg.observed)  # [B, A, 2T]
        unit, motion, turned, own, anchor = self._frames(flat)
        cos, sin = unit[..., :1], unit[..., 1:]
        n = prior.shape[-1]
        grid = prior.shape if prior.dim() == 3 else (n, n)  # [B, A(target), A(source)]
        pairs = self._pairs(cos, sin, motion, turned, anchor, grid)  # [B, A, A, dp]
        h = self.self_encoder(own - anchor)  # [B, A, d], own history in own frame

        d, weight, bias = cfg.d_model, self.pair_out.weight, self.pair_out.bias
        target = nn.functional.linear(h, self.discover_target.weight, self.discover_target.bias + bias[2 * d:])
        hidden = torch.relu(target.unsqueeze(-2) + pairs @ weight[2 * d:].t())
        logits = self.discover_out(hidden.reshape(-1, cfg.d_pair)).reshape(grid)  # [B, target, source]
        eye = torch.eye(n, dtype=prior.dtype, device=prior.device)
        gate = self._gate(logits, prior.transpose(-1, -2), eye)  # [B, target, source]
        rows = gate.unsqueeze(-2)  # [B, target, 1, source]
        log_gate = None if self.training else torch.log(rows)
        maps = (weight[:d], weight[d:2 * d].t(), bias[d:2 * d])
        for layer in self.layers:
            h = layer(h, pairs, rows, log_gate, maps)
        trajectories, mode_logits = self._head(h, flat, unit, history.shape[:-2])
        return NetworkOutput(
            trajectories=trajectories,
            probabilities=torch.softmax(mode_logits, dim=-1),
            gate=gate.transpose(-1, -2),
            edge_probability=torch.sigmoid(logits).transpose(-1, -2),
            mode_logits=mode_logits,
        )

    def _frames(self, flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(cos, sin) [B, A, 2] of each agent's heading; its (x, y, vx, vy) per step [B, A, 4T]
        (``motion``) and the same turned by 90 degrees; ``own``: its motion in its own frame
        before the shift to its last position, ``anchor``: that last position (own frame)."""
        heading = flat @ self.heading_map + _HEADING_BIAS_XY
        unit = heading / torch.linalg.vector_norm(heading, dim=-1, keepdim=True)
        motion = flat @ self.motion_map
        turned = motion @ self.to_local_turn
        own = unit[..., :1] * motion + unit[..., 1:] * turned
        return unit, motion, turned, own, own @ self.last_map

    def _pairs(self, cos: torch.Tensor, sin: torch.Tensor, motion: torch.Tensor, turned: torch.Tensor,
               anchor: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
        """Pair embeddings [B, A(target), A(source), dp]: the source's history in the target's
        frame and their distance per step, through the pair encoder (2-D, then reshaped)."""
        if cos.dim() == 3:  # batched: sources along the third axis (unbatched [A, 4T] broadcasts as [1, A, 4T])
            motion, turned = motion.unsqueeze(-3), turned.unsqueeze(-3)
        local = cos.unsqueeze(-2) * motion + sin.unsqueeze(-2) * turned - anchor.unsqueeze(-2)
        dist = torch.sqrt((local * local) @ self.square_map + 1e-6)  # [B, A, A, T]
        pairs = self.pair_encoder(torch.cat([local, dist], dim=-1).reshape(-1, 5 * self.config.observed))
        return pairs.reshape(grid + (self.config.d_pair,))

    def _head(self, h: torch.Tensor, flat: torch.Tensor, unit: torch.Tensor,
              agents: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Trajectories [B, A, K, H, 2] and mode logits [B, A, K]; ``agents`` is [B, A] or [A].

        Modes are rows [B * A * K, d]; each mode's offsets, a correction to the constant-velocity
        guess made in the target's frame, are turned back by one 2 x 2 rotation per agent (a
        batched matmul over its K * H points), then added to the guess on rows [B * A, K * 2H]."""
        cfg = self.config
        k, width = cfg.modes, cfg.modes * 2 * cfg.horizon
        z = torch.relu(self.head_in(h).unsqueeze(-2) + self.mode_bias).reshape(-1, cfg.d_model)
        offsets = self.trajectory_out(z)  # [B * A * K, 2H]
        if len(agents) > 1:
            flat, unit = flat.reshape(-1, flat.shape[-1]), unit.reshape(-1, 2)
        rot = (unit @ self.rotation_map).reshape(-1, 2, 2)
        world = (offsets.reshape(-1, k * cfg.horizon, 2) @ rot).reshape(-1, width) + flat @ self.modes_velocity_map
        lead = (-1,) if len(agents) == 1 else tuple(agents)  # a constant target shape when unbatched
        return world.reshape(lead + (k, cfg.horizon, 2)), self.mode_out(z).reshape(lead + (k,))

    def _gate(self, logits: torch.Tensor, prior: torch.Tensor, eye: torch.Tensor) -> torch.Tensor:
        """Gate [B, target, source]: discovery (unless open) x prior, self-loops (``eye``) forced on."""
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
