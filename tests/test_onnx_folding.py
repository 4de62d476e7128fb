"""The graph pass on the exported model: what it folds, what it leaves, same outputs."""

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
from causalstream.models.trajectory.onnx_folding import fold_linear_chains, merge_sibling_gemms
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


def test_sibling_gemms_merge_into_one_with_the_same_outputs() -> None:
    rng = np.random.default_rng(3)
    inits = {"w1": rng.normal(size=(6, 4)), "b1": rng.normal(size=6), "w2": rng.normal(size=(1, 4)), "b2": rng.normal(size=1),
             "w3": rng.normal(size=(4, 2)), "b3": rng.normal(size=2)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["a"], transB=1), helper.make_node("Gemm", ["x", "w2", "b2"], ["b"], transB=1),
             helper.make_node("Gemm", ["x", "w3", "b3"], ["c"]),  # weight [in, out]: merged too
             helper.make_node("Gemm", ["x", "w1", "b1"], ["d"], transB=1, alpha=2.0),  # scaled: left alone
             helper.make_node("Concat", ["a", "b", "c", "d"], ["y"], axis=1)]
    model = _model(nodes, inits)
    merged = merge_sibling_gemms(model)
    assert Counter(n.op_type for n in merged.graph.node) == {"Gemm": 2, "Split": 1, "Concat": 1}  # 3 merged, 1 left
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(merged, x), _run(model, x), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    torch.manual_seed(5)
    net = CausalGatedPredictor(NetworkConfig(d_model=16, heads=2, layers=2, modes=3)).eval()
    return onnx.load(str(export_onnx(net, tmp_path_factory.mktemp("folding") / "m.onnx")))


def test_exported_network_has_its_chains_folded(exported: onnx.ModelProto) -> None:
    ops = Counter(n.op_type for n in exported.graph.node)
    assert ops["ReduceSum"] == 0  # the per-head sums of the values went into Gemms
    folded = [n.name for n in exported.graph.node if n.op_type == "Gemm" and n.name.startswith("/fold")]
    assert len(folded) >= 4  # per layer: query -> pair space, pair mix -> output
