"""Shift score and fallback (issue 22 item 1): real onnxruntime sessions on the committed weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from causalstream.models.errors import ParameterError
from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.data import read_windows
from causalstream.models.trajectory.metrics import constant_velocity
from causalstream.models.trajectory.shift import FallbackPolicy, ShiftScorer
from causalstream.nodes.errors import NodeError
from causalstream.nodes.predictor import PredictorNode
from causalstream.nodes.testing import MockNode
from causalstream.stream.codec import decode_payload, encode_payload
from causalstream.stream.messages import AgentStates

ROOT = Path(__file__).resolve().parents[1]
ETH_UCY = ROOT / "bench" / "data" / "eth_ucy"


def _walkers(n_scenes: int, speed: float, seed: int) -> list[np.ndarray]:
    """Fast steady walkers (2 m/s, 1 cm of noise): far from ETH/UCY's pedestrians, and CV's home."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_scenes):
        a = int(rng.integers(2, 6))
        heading = rng.uniform(0, 2 * np.pi, a)[:, None, None]
        step = speed * 0.4 * np.concatenate([np.cos(heading), np.sin(heading)], -1).repeat(8, axis=1)
        out.append(rng.uniform(-5, 5, (a, 1, 2)) + np.cumsum(step, axis=1) + rng.normal(0, 0.01, (a, 8, 2)))
    return out


def _scene_score(scorer: ShiftScorer, windows: list[np.ndarray]) -> float:
    scorer.reset()
    for w in windows:
        out = scorer.predict(np.ascontiguousarray(w[:, :8], dtype=np.float32))
    return out.scene_score


def test_the_score_is_higher_on_a_shifted_scene_than_on_in_domain_ones() -> None:
    scorer = ShiftScorer(OnnxPredictor(), FallbackPolicy("off"))
    shifted = _scene_score(scorer, _walkers(60, 2.0, 1))
    for name in ("crowds_zara01_val.txt", "biwi_hotel_val.txt"):
        in_domain = _scene_score(scorer, read_windows([ETH_UCY / "val" / name])[:60])
        assert in_domain < 1.2 < shifted, (name, in_domain, shifted)


def _policy_outputs(policy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scorer = ShiftScorer(OnnxPredictor(), FallbackPolicy(policy, 1.0, 1e3), warmup=0)
    h = _walkers(1, 2.0, 3)[0].astype(np.float32)
    out = scorer.predict(h)
    cv = constant_velocity(h.astype(np.float64))[:, 0]
    return out.trajectories, out.model_trajectories, cv, out.weight


def test_off_leaves_the_model_replace_is_constant_velocity_blend_lies_between() -> None:
    final, model, _, weight = _policy_outputs("off")
    np.testing.assert_array_equal(final, model)
    assert not weight.any()
    final, model, cv, weight = _policy_outputs("replace")
    assert np.all(weight == 1.0)
    np.testing.assert_allclose(final, np.broadcast_to(cv[:, None], final.shape), atol=1e-5)
    final, model, cv, weight = _policy_outputs("blend")
    assert np.all((weight > 0) & (weight < 1)), weight  # the ramp 1..1000 puts the score inside it
    w = weight[:, None, None, None].astype(np.float64)
    np.testing.assert_allclose(final, (1 - w) * model + w * cv[:, None], atol=1e-5)
    gap_model, gap_cv = np.abs(final - model), np.abs(final - cv[:, None])
    assert gap_model.max() > 0 and gap_cv.max() > 0
    span = np.abs(cv[:, None] - model)
    assert np.all(gap_model <= span + 1e-5) and np.all(gap_cv <= span + 1e-5)


def _frames(n: int) -> list[AgentStates]:
    """Two walkers on straight lines: constant velocity is exact, so the model is worse than CV."""
    return [AgentStates(stamp_ns=int(k * 0.4e9), ids=["h1", "h2"], roles=["human"] * 2,
                        x=np.array([0.5 * k, 5.0]), y=np.array([0.0, 0.4 * k]), vx=np.zeros(2), vy=np.zeros(2))
            for k in range(n)]


@pytest.mark.parametrize("policy", ["off", "blend", "replace"])
def test_the_node_publishes_the_score_and_the_policy_that_acted(policy: str) -> None:
    mock = MockNode(PredictorNode, params={"fallback": policy, "shift_warmup": 5})
    mock.feed("agents/state", *_frames(20)).run()
    out = mock.outputs("predictions")
    assert len(out) == 13 and all(p.fallback_policy == policy for p in out)
    first, last = out[0], out[-1]
    assert first.shift_score.shape == (2,) and np.all(first.shift_score == 1.0)  # warm-up: no evidence yet
    assert np.all(last.shift_score > 1.3) and last.scene_shift > 1.3
    again = decode_payload("Predictions", encode_payload(last))
    np.testing.assert_array_equal(again.fallback_weight, last.fallback_weight)
    assert again.fallback_policy == policy and again.scene_shift == pytest.approx(last.scene_shift)
    history = np.array([[[0.5 * k, 0.0] for k in range(12, 20)], [[5.0, 0.4 * k] for k in range(12, 20)]])
    cv = constant_velocity(history)[:, 0]
    if policy == "off":
        assert not last.fallback_weight.any()
        assert np.abs(last.trajectories[:, 0] - cv).max() > 1e-3
    else:
        assert np.all(last.fallback_weight == 1.0)
        np.testing.assert_allclose(last.trajectories[:, 0], cv, atol=1e-4)


@pytest.mark.parametrize("params, match", [
    ({"shift_low": 1.3, "shift_high": 1.2}, r"bad params: .*shift_low must be below shift_high, got 1.3 and 1.2"),
    ({"fallback": "maybe"}, r"bad params: fallback: Input should be 'off', 'blend' or 'replace'"),
    ({"shift_alpha": 0}, r"bad params: shift_alpha: Input should be greater than 0"),
])
def test_bad_fallback_params_are_one_line_errors(params: dict, match: str) -> None:
    with pytest.raises(NodeError, match=match) as err:
        MockNode(PredictorNode, params=params)
    assert "\n" not in str(err.value)


def test_bad_policy_thresholds_are_one_line_parameter_errors() -> None:
    with pytest.raises(ParameterError, match=r"^FallbackPolicy: thresholds must be finite, got low=nan, high=1.0$"):
        FallbackPolicy("blend", float("nan"), 1.0)
    with pytest.raises(ParameterError, match=r"^FallbackPolicy: policy must be one of off\|blend\|replace, got 'cv'$"):
        FallbackPolicy("cv")
