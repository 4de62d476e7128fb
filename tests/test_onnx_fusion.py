"""Graph passes on the exported model: what they fold and fuse, what they leave, same outputs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from causalstream.models.trajectory.export import export_onnx
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig
from causalstream.models.trajectory.onnx_fusion import fold_linear_chains, fuse_skip_layer_norm
from causalstream.models.trajectory.predictor import session_options


def _model(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    """x [n, 4] -> nodes -> y; float constants as float32, integer ones (axes) as they are."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v.astype(np.float32) if v.dtype.kind == "f" else v, k)
                               for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_affine_chain_becomes_one_gemm_with_the_same_outputs() -> None:
    rng = np.random.default_rng(0)
    inits = {"w": rng.normal(size=(4, 6)), "b": rng.normal(size=6), "m": rng.normal(size=(2, 6)), "k": rng.normal(size=(6, 3)),
             "axes": np.array([1])}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Add", ["a", "b"], ["c"]),
             helper.make_node("Unsqueeze", ["c", "axes"], ["d"]), helper.make_node("Mul", ["d", "m"], ["e"]),
             helper.make_node("MatMul", ["e", "k"], ["y"])]
    model = _model(nodes, inits)
    folded = fold_linear_chains(model)
    assert [n.op_type for n in folded.graph.node] == ["Gemm", "Reshape"]
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(folded, x), _run(model, x), rtol=1e-5, atol=1e-5)


def test_non_affine_or_widening_chains_are_left_alone() -> None:
    rng = np.random.default_rng(1)
    relu = _model([helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
                   helper.make_node("MatMul", ["r", "w"], ["y"])], {"w": rng.normal(size=(4, 4))})
    assert [n.op_type for n in fold_linear_chains(relu).graph.node] == ["MatMul", "Relu", "MatMul"]
    # [n, 1, 4] + [20, 4]: one Gemm would need a [4, 80] matrix for 4 + 80 constants; kept
    wide = _model([helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Unsqueeze", ["a", "axes"], ["u"]),
                   helper.make_node("Add", ["u", "modes"], ["y"])],
                  {"w": np.eye(4), "modes": rng.normal(size=(20, 4)), "axes": np.array([1])})
    assert [n.op_type for n in fold_linear_chains(wide).graph.node] == ["MatMul", "Unsqueeze", "Add"]


def test_residual_layer_norm_is_fused_and_a_broadcast_one_is_not() -> None:
    gamma, beta = np.linspace(0.5, 1.5, 4), np.linspace(-1, 1, 4)
    same = _model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["x", "r"], ["a"]),
                   helper.make_node("LayerNormalization", ["a", "g", "b"], ["y"], epsilon=1e-5)], {"g": gamma, "b": beta})
    fused = fuse_skip_layer_norm(same)
    assert Counter(n.op_type for n in fused.graph.node) == {"Relu": 1, "SkipLayerNormalization": 1}
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(fused, x), _run(same, x), rtol=1e-5, atol=1e-5)
    bias = _model([helper.make_node("Add", ["x", "c"], ["a"]),
                   helper.make_node("LayerNormalization", ["a", "g", "b"], ["y"])], {"c": gamma, "g": gamma, "b": beta})
    assert [n.op_type for n in fuse_skip_layer_norm(bias).graph.node] == ["Add", "LayerNormalization"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    torch.manual_seed(5)
    net = CausalGatedPredictor(NetworkConfig(d_model=16, heads=2, layers=2, modes=3)).eval()
    return onnx.load(str(export_onnx(net, tmp_path_factory.mktemp("fusion") / "m.onnx")))


def test_exported_network_has_its_chains_folded_and_norms_fused(exported: onnx.ModelProto) -> None:
    ops = Counter(n.op_type for n in exported.graph.node)
    assert ops["SkipLayerNormalization"] == 4  # two per layer
    assert ops["LayerNormalization"] == 0
    folded = [n.name for n in exported.graph.node if n.op_type == "Gemm" and n.name.startswith("/fold")]
    assert len(folded) >= 4  # per layer: query -> pair space, pair mix -> output
