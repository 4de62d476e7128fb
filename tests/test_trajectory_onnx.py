"""ONNX export and the onnxruntime predictor: parity with torch, gating, bad input, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from causalstream.models.errors import ModelError
from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.export import SceneModule, export_onnx, quantize_int8
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[CausalGatedPredictor, Path]:
    torch.manual_seed(3)
    net = CausalGatedPredictor(NetworkConfig(d_model=16, heads=2, layers=2, modes=3)).eval()
    torch.nn.init.normal_(net.discover_out.weight, 0.0, 2.0)  # logits spread around 0:
    torch.nn.init.zeros_(net.discover_out.bias)  # some gates open, some shut
    path = export_onnx(net, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return net, path


def _scene(agents: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    start = rng.uniform(-8, 8, (agents, 1, 2))
    steps = rng.normal(0.0, 0.5, (agents, 1, 2)) + rng.normal(0, 0.05, (agents, 8, 2))
    return (start + np.cumsum(steps, axis=1)).astype(np.float32)


def _isolate(adjacency: np.ndarray, agent: int) -> np.ndarray:
    adjacency = adjacency.copy()
    adjacency[agent, :] = 0
    adjacency[:, agent] = 0
    return adjacency


@pytest.mark.parametrize("agents", [1, 2, 5, 17, 64])
def test_onnx_matches_torch(tiny: tuple[CausalGatedPredictor, Path], agents: int) -> None:
    net, path = tiny
    history = _scene(agents, agents)
    adjacency = _isolate(np.ones((agents, agents), np.float32), 0)  # agent 0 gated off from everyone
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"history": history, "adjacency": adjacency})
    with torch.no_grad():
        want = SceneModule(net)(torch.from_numpy(history), torch.from_numpy(adjacency))
    for g, w in zip(got, want):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, w.numpy(), rtol=0, atol=1e-5)
    assert got[2][0].tolist() == [1.0] + [0.0] * (agents - 1)  # only its self-loop left


def test_predictor_sorts_modes_and_matches_raw_session(tiny: tuple[CausalGatedPredictor, Path]) -> None:
    _, path = tiny
    history = _scene(6, 0)
    traj, prob = OnnxPredictor(path).predict(history)
    raw_traj, raw_prob, _ = ort.InferenceSession(str(path)).run(None, {"history": history, "adjacency": np.ones((6, 6), np.float32)})
    assert traj.shape == (6, 3, 12, 2) and prob.shape == (6, 3)
    assert np.all(np.diff(prob, axis=1) <= 0)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.sort(prob, axis=1), np.sort(raw_prob, axis=1))
    best = raw_prob.argmax(axis=1)
    np.testing.assert_array_equal(traj[:, 0], raw_traj[np.arange(6), best])


def test_gated_off_agent_has_exactly_no_influence(tiny: tuple[CausalGatedPredictor, Path]) -> None:
    predictor = OnnxPredictor(tiny[1])
    history = _scene(9, 1)
    gate = predictor.predict_full(history).gate  # the model's own graph, no prior
    np.fill_diagonal(gate, 0)
    src = int(gate.sum(axis=1).argmax())  # an agent the model lets act on others
    reached = gate[src] > 0
    assert reached.any()
    moved = history.copy()
    moved[src] += 2.5
    # without a prior, moving it changes the prediction of the agents it acts on ...
    assert not np.array_equal(predictor.predict(history)[0][reached], predictor.predict(moved)[0][reached])
    # ... and once the prior cuts it off, nobody else's prediction changes, bit for bit
    adjacency = _isolate(np.ones((9, 9), np.float32), src)
    others = np.arange(9) != src
    before = predictor.predict(history, adjacency)[0]
    after = predictor.predict(moved, adjacency)[0]
    np.testing.assert_array_equal(before[others], after[others])


def test_int8_variant_runs_close_to_fp32(tiny: tuple[CausalGatedPredictor, Path], tmp_path: Path) -> None:
    int8 = quantize_int8(tiny[1], tmp_path / "tiny.int8.onnx")
    history = _scene(16, 2)
    fp, _ = OnnxPredictor(tiny[1]).predict(history)
    q, _ = OnnxPredictor(int8).predict(history)
    assert np.isfinite(q).all() and np.abs(q - fp).mean() < 0.5


@pytest.mark.parametrize(
    ("history", "adjacency", "message"),
    [
        (np.zeros((0, 8, 2)), None, "need 1..256 agents"),
        (np.zeros((257, 8, 2)), None, "need 1..256 agents"),
        (np.zeros((3, 7, 2)), None, "at least 8 steps"),
        (np.zeros((3, 8)), None, "must be [agents, steps, 2]"),
        (np.where(np.arange(48).reshape(3, 8, 2) == 17, np.nan, 0.0), None, "agents [1] holds NaN"),
        (np.zeros((3, 8, 2)), np.ones((2, 2)), "adjacency must be [3, 3]"),
        (np.zeros((3, 8, 2)), np.full((3, 3), 2.0), "in [0, 1]"),
        (np.zeros((3, 8, 2)), np.full((3, 3), np.nan), "in [0, 1]"),
    ],
)
def test_bad_input_is_a_model_error(tiny: tuple[CausalGatedPredictor, Path], history: np.ndarray,
                                    adjacency: np.ndarray | None, message: str) -> None:
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        OnnxPredictor(tiny[1]).predict(history, adjacency)


def test_longer_history_uses_the_last_eight_steps(tiny: tuple[CausalGatedPredictor, Path]) -> None:
    predictor = OnnxPredictor(tiny[1])
    history = _scene(4, 5)
    longer = np.concatenate([np.full((4, 3, 2), 99.0, np.float32), history], axis=1)
    np.testing.assert_array_equal(predictor.predict(history)[0], predictor.predict(longer)[0])


def test_missing_corrupt_or_foreign_model_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file missing"):
        OnnxPredictor(tmp_path / "absent.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07not a protobuf at all" * 10)
    with pytest.raises(ModelError, match="cannot load"):
        OnnxPredictor(corrupt)
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(foreign))
    with pytest.raises(ModelError, match="not a trajectory model"):
        OnnxPredictor(foreign)


def test_shipped_default_model_loads_and_predicts() -> None:
    predictor = OnnxPredictor()
    traj, prob = predictor.predict(_scene(5, 7))
    assert traj.shape == (5, predictor.modes, 12, 2) and np.isfinite(traj).all()
    assert predictor.metadata.get("command", "").startswith("causalstream model train")


def test_runtime_never_imports_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from causalstream.models.trajectory import OnnxPredictor\n"
        "t, p = OnnxPredictor().predict(np.cumsum(np.ones((3, 8, 2), np.float32), axis=1))\n"
        "assert t.shape[0] == 3\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
