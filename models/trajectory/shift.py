"""Shift score and constant-velocity fallback: know when the predictor is lost (issue 22 item 1).

The score is the model's error on the agents' own recent past, against constant velocity's:
the last ``check`` observed steps are predicted from the steps before them (the earliest steps
are extrapolated backwards at the first step's velocity to fill the model's 8 inputs), in the
same onnxruntime call as the real prediction (the two scenes side by side, block-diagonal
adjacency, so neither sees the other). Per agent, ``score`` = (model error + 2 cm) / (CV
error + 2 cm) on those steps; the scene's ``scene_score`` is the running ratio of their sums
over every agent and call, and the fallback reads it (above 1: the model has been doing worse
than CV on this scene's recent past). bench/trajectory_shift.py measures both, and the
spread of the modes, as detectors of "model worse than CV" on shifted domains.

The fallback blends every mode towards constant velocity with weight
``w = clip((scene_score - low) / (high - low), 0, 1)`` (``blend``), replaces the prediction
by CV where ``scene_score >= low`` (``replace``), or leaves the model alone (``off``; the
score is still computed).

>>> from causalstream.models.trajectory import OnnxPredictor
>>> scorer = ShiftScorer(OnnxPredictor(), warmup=0)  # no warm-up: act from the first call
>>> history = np.cumsum(np.full((2, 8, 2), 0.4, dtype=np.float32), axis=1)
>>> out = scorer.predict(history)
>>> out.trajectories.shape, out.score.shape, out.weight.tolist()  # a straight walk: CV is exact, so CV it is
((2, 20, 12, 2), (2,), [1.0, 1.0])
>>> bool(np.allclose(out.trajectories[:, 0], out.trajectories[:, 1], atol=1e-5))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from causalstream.models.errors import ParameterError
from causalstream.models.trajectory.metrics import constant_velocity
from causalstream.models.trajectory.predictor import OnnxPredictor

__all__ = ["POLICIES", "FallbackPolicy", "ShiftScorer", "ScoredPrediction", "apply_fallback",
           "mode_spread", "past_input"]

POLICIES = ("off", "blend", "replace")
_EPS = 0.005  # metres added to both running sums: a scene of still agents is not a shift


@dataclass(frozen=True)
class FallbackPolicy:
    """How the predictor falls back to constant velocity as the shift score grows.

    ``policy``: off | blend | replace; ``low`` and ``high`` bound the ramp of the score (the
    scene's model / CV ratio of past errors; ``low < high``; replace acts from ``low``).

    >>> FallbackPolicy("blend", low=1.0, high=2.0).weight(np.array([0.5, 1.5, 3.0])).tolist()
    [0.0, 0.5, 1.0]
    >>> FallbackPolicy("replace", low=1.0, high=2.0).weight(np.array([0.5, 1.5])).tolist()
    [0.0, 1.0]
    >>> FallbackPolicy("blend", low=0.2, high=0.1)
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: FallbackPolicy: low must be below high, got low=0.2, high=0.1
    """

    policy: str = "blend"
    low: float = 1.1
    high: float = 1.2

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ParameterError(what="FallbackPolicy", reason=f"policy must be one of {'|'.join(POLICIES)}, got {self.policy!r}")
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            raise ParameterError(what="FallbackPolicy", reason=f"thresholds must be finite, got low={self.low}, high={self.high}")
        if not self.low < self.high:
            raise ParameterError(what="FallbackPolicy", reason=f"low must be below high, got low={self.low}, high={self.high}")

    def weight(self, score: np.ndarray) -> np.ndarray:
        """Per-agent weight of constant velocity in [0, 1] (0 everywhere for ``off``)."""
        s = np.asarray(score, dtype=np.float64)
        if self.policy == "off":
            return np.zeros_like(s)
        if self.policy == "replace":
            return (s >= self.low).astype(np.float64)
        return np.clip((s - self.low) / (self.high - self.low), 0.0, 1.0)


def past_input(history: np.ndarray, check: int) -> np.ndarray:
    """The input that predicts ``history``'s last ``check`` steps: the steps before them, the
    earliest extrapolated backwards at the first step's velocity to keep the length.

    >>> past_input(np.arange(8, dtype=float)[None, :, None].repeat(2, axis=2), 3)[0, :, 0].tolist()
    [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    """
    t = history.shape[1]
    if not 1 <= check <= t - 2:
        raise ParameterError(what="past_input", reason=f"check must be in 1..{t - 2}, got {check}")
    head = history[:, : t - check]
    v0 = head[:, 1] - head[:, 0]
    back = head[:, :1] - v0[:, None] * np.arange(check, 0, -1, dtype=history.dtype)[None, :, None]
    return np.concatenate([back, head], axis=1)


def mode_spread(trajectories: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Probability-weighted spread (m) of the modes' final points around their mean, per agent.

    >>> t = np.zeros((1, 2, 3, 2)); t[0, 1, -1] = [2.0, 0.0]
    >>> mode_spread(t, np.array([[0.5, 0.5]])).tolist()
    [1.0]
    """
    p = probabilities / probabilities.sum(axis=1, keepdims=True)
    end = trajectories[:, :, -1]
    mean = (p[:, :, None] * end).sum(axis=1)
    return np.sqrt((p * ((end - mean[:, None]) ** 2).sum(-1)).sum(axis=1))


def apply_fallback(trajectories: np.ndarray, history: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Every mode moved towards constant velocity: ``(1 - w) * model + w * CV`` per agent.

    >>> h = np.array([[[0.0, 0.0], [1.0, 0.0]]]); model = np.zeros((1, 2, 2, 2))
    >>> apply_fallback(model, h, np.array([0.5]))[0, :, :, 0].tolist()
    [[1.0, 1.5], [1.0, 1.5]]
    """
    cv = constant_velocity(np.asarray(history, dtype=np.float64), horizon=trajectories.shape[2])
    w = np.asarray(weight, dtype=np.float64)[:, None, None, None]
    return ((1.0 - w) * trajectories + w * cv).astype(trajectories.dtype)


class ScoredPrediction(NamedTuple):
    """A prediction after the fallback, with its shift evidence.

    >>> ScoredPrediction._fields
    ('trajectories', 'probabilities', 'model_trajectories', 'score', 'scene_score', 'running', 'spread', 'weight')
    """

    trajectories: np.ndarray  # [A, K, H, 2] after the fallback
    probabilities: np.ndarray  # [A, K]
    model_trajectories: np.ndarray  # [A, K, H, 2] the model's own
    score: np.ndarray  # [A] past check per agent: (model error + 2 cm) / (CV error + 2 cm)
    scene_score: float  # running ratio of the scene's summed past errors, model / CV (1.0: no evidence yet)
    running: np.ndarray  # [A] the running score each agent's fallback read (the scene's without ids)
    spread: np.ndarray  # [A] mode spread, metres
    weight: np.ndarray  # [A] weight of constant velocity that acted


class ShiftScorer:
    """An :class:`OnnxPredictor` with the past-check score and a fallback policy.

    Each call predicts the last ``check`` observed steps (default 5 of 8) from the steps
    before, in the same onnxruntime call as the real prediction. The per-agent ``score`` is
    that agent's error ratio, model / CV; the ``scene_score`` is a running ratio of the sums
    over all agents (exponential average of both sums, weight ``alpha`` per check; 1.0, no
    evidence, for the first ``warmup`` checks), the one the fallback reads: a domain's shift
    is the scene's, single agents' ratios are noise (bench/results/trajectory_shift.json:
    per-agent AUROC about 0.5). :meth:`reset` forgets it. ``every`` > 1 runs the check on
    every n-th call only (the others: the model alone, ``score`` NaN, the running scores as
    they stand), for latency.

    >>> from causalstream.models.trajectory import OnnxPredictor
    >>> s = ShiftScorer(OnnxPredictor(), FallbackPolicy("replace", 1.2, 1.3), alpha=1.0, warmup=0)
    >>> h = np.cumsum(np.full((1, 8, 2), 0.4, dtype=np.float32), axis=1)
    >>> out = s.predict(h)
    >>> out.score.shape, round(s.scene_score, 1) > 1.3, out.weight.tolist()
    ((1,), True, [1.0])
    >>> s.reset(); s.scene_score
    1.0
    """

    def __init__(self, predictor: OnnxPredictor, policy: FallbackPolicy | None = None, check: int = 5,
                 alpha: float = 0.05, warmup: int = 20, every: int = 1) -> None:
        self.predictor = predictor
        self.policy = policy or FallbackPolicy()
        if not 1 <= check <= min(predictor.observed - 2, predictor.horizon):
            raise ParameterError(what="ShiftScorer", reason=f"check must be in 1..{predictor.observed - 2}, got {check}")
        if not 0 < alpha <= 1:
            raise ParameterError(what="ShiftScorer", reason=f"alpha must be in (0, 1], got {alpha}")
        if warmup < 0:
            raise ParameterError(what="ShiftScorer", reason=f"warmup must be >= 0, got {warmup}")
        if every < 1:
            raise ParameterError(what="ShiftScorer", reason=f"every must be >= 1, got {every}")
        self.check, self.alpha, self.warmup, self.every = check, alpha, warmup, every
        self._tick = 0
        self.reset()

    def reset(self) -> None:
        """Forget every running sum (a new domain)."""
        self._sums: dict[str | None, list[float]] = {}  # key -> [model, cv, calls]

    @property
    def scene_score(self) -> float:
        """The running model / CV ratio of past errors over all agents (``ids=None``); 1.0 before any evidence."""
        return self._ratio(None)

    def _ratio(self, key: str | None) -> float:
        got = self._sums.get(key)
        return (got[0] + _EPS) / (got[1] + _EPS) if got and got[2] >= self.warmup else 1.0

    def _update(self, key: str | None, model: float, cv: float) -> float:
        got = self._sums.setdefault(key, [0.0, 0.0, 0.0])
        a = max(self.alpha, 1.0 / (got[2] + 1))  # the first calls average evenly
        got[0], got[1], got[2] = (1 - a) * got[0] + a * model, (1 - a) * got[1] + a * cv, got[2] + 1
        return self._ratio(key)

    def predict(self, history: np.ndarray, adjacency: np.ndarray | None = None,
                ids: list[str] | None = None) -> ScoredPrediction:
        """``history`` [A, 8, 2] (as :meth:`OnnxPredictor.predict`); one onnxruntime call for both.

        Without ``ids`` one running score pools every agent (the scene's). With ``ids`` each
        agent keeps its own, pooled over the agents the ``adjacency`` prior lets act on it
        (column j), so an agent the graph cuts off moves no one else's fallback either.
        """
        h = np.asarray(history, dtype=np.float32)[:, -self.predictor.observed :]
        n = h.shape[0]
        prior = np.ones((n, n), dtype=np.float32) if adjacency is None else np.asarray(adjacency, dtype=np.float32)
        self._tick += 1
        if (self._tick - 1) % self.every:  # not a check call: the model alone, the running scores as they are
            plain = self.predictor.predict_full(h, prior)
            keys: list[str | None] = [None] * n if ids is None else list(ids)
            scores = np.array([self._ratio(k) for k in keys])
            return self._finish(h, plain.trajectories, plain.probabilities, np.full(n, np.nan), scores, ids)
        both = np.concatenate([h, past_input(h, self.check)])
        adj = np.zeros((2 * n, 2 * n), dtype=np.float32)
        adj[:n, :n] = prior
        adj[n:, n:] = prior
        out = self.predictor.predict_full(both, adj)
        traj, prob = out.trajectories[:n], out.probabilities[:n]
        truth = h[:, -self.check :].astype(np.float64)
        past_model = out.trajectories[n:, 0, : self.check].astype(np.float64)
        past_cv = constant_velocity(h[:, : -self.check].astype(np.float64), horizon=self.check)[:, 0]
        e_model = np.linalg.norm(past_model - truth, axis=-1).mean(-1)
        e_cv = np.linalg.norm(past_cv - truth, axis=-1).mean(-1)
        if ids is None:
            scores = np.full(n, self._update(None, float(e_model.mean()), float(e_cv.mean())))
        else:
            pool = (prior > 0).astype(np.float64)  # [source, target]
            count = pool.sum(0)
            pm, pc = (pool * e_model[:, None]).sum(0) / count, (pool * e_cv[:, None]).sum(0) / count
            scores = np.array([self._update(a, pm[j], pc[j]) for j, a in enumerate(ids)])
            for gone in [k for k in self._sums if k is not None and k not in set(ids)]:
                del self._sums[gone]
        return self._finish(h, traj, prob, (e_model + 0.02) / (e_cv + 0.02), scores, ids)

    def _finish(self, h: np.ndarray, traj: np.ndarray, prob: np.ndarray, score: np.ndarray, scores: np.ndarray,
                ids: list[str] | None) -> ScoredPrediction:
        scene = float(scores[0]) if ids is None else float(np.median(scores))
        weight = self.policy.weight(scores)
        final = apply_fallback(traj, h, weight) if weight.any() else traj
        return ScoredPrediction(trajectories=final, probabilities=prob, model_trajectories=traj,
                                score=score.astype(np.float32), scene_score=scene,
                                running=scores.astype(np.float32), spread=mode_spread(traj, prob).astype(np.float32),
                                weight=weight.astype(np.float32))
