"""Graph passes on the exported ONNX model for onnxruntime (onnx and onnxruntime only, no torch).

onnxruntime's optimiser folds constants only where every input of a node is constant: a
chain of linear maps applied to the data one after the other (a Gemm, a mask, a second
matrix) stays a chain, and two linear maps of the same rows stay two products.

* :func:`fold_linear_chains`: a chain of row-wise affine nodes on constants (Gemm, MatMul by
  a constant, Mul or Add of a constant, Unsqueeze, ReduceSum) becomes one Gemm, plus a Reshape
  on either side when the rows are not flat. The Gemm's matrix is measured by running the
  chain in float64 on the unit vectors, and kept only if a random input agrees.
* :func:`merge_sibling_gemms`: Gemms of the same input with constant weights become one Gemm
  and a Split (a [., 1] logit read-out beside a wider map costs almost nothing more; alone,
  onnxruntime's matrix-vector Gemm is slow).

The export checks onnxruntime against torch. (onnxruntime's SkipLayerNormalization, another
fusion tried, was no faster than Add + LayerNormalization on [A, 64] rows.)
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

__all__ = ["fold_linear_chains", "merge_sibling_gemms", "optimize_for_onnxruntime"]

log = logging.getLogger(__name__)

_AFFINE = {"Gemm", "MatMul", "Mul", "Add", "Unsqueeze", "ReduceSum"}
_DATA_FIRST = {"Gemm", "MatMul", "Unsqueeze", "ReduceSum"}  # the data must be input 0


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return consts


def _data_input(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> str | None:
    """The one non-constant input of an affine node on constants, else None."""
    if node.op_type not in _AFFINE or len(node.output) != 1:
        return None
    data = [i for i in node.input if i and i not in consts]
    if len(data) != 1 or (node.op_type in _DATA_FIRST and node.input[0] != data[0]):
        return None
    if node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute):
        return None
    return data[0]


def _chains(nodes: list[onnx.NodeProto], outputs: set[str], consts: dict[str, np.ndarray]) -> list[list[int]]:
    """Maximal runs of affine nodes (indices into ``nodes``), each feeding only the next, two or more."""
    users: dict[str, list[int]] = {}
    for k, node in enumerate(nodes):
        for name in node.input:
            users.setdefault(name, []).append(k)
    taken: set[int] = set()
    chains = []
    for k, node in enumerate(nodes):
        if k in taken or _data_input(node, consts) is None:
            continue
        chain = [k]
        while True:
            out = nodes[chain[-1]].output[0]
            nxt = users.get(out, [])
            if out in outputs or len(nxt) != 1 or _data_input(nodes[nxt[0]], consts) != out:
                break
            chain.append(nxt[0])
        if len(chain) > 1:
            taken.update(chain)
            chains.append(chain)
    return chains


def _run_chain(chain: list[onnx.NodeProto], consts: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The chain alone, in float64, on rows ``x``."""
    used = {i for n in chain for i in n.input if i in consts}
    inits = [numpy_helper.from_array(consts[k].astype(np.float64) if consts[k].dtype == np.float32 else consts[k], k)
             for k in used]
    nodes = [helper.make_node(n.op_type, list(n.input), list(n.output), **{a.name: helper.get_attribute_value(a)
                                                                          for a in n.attribute}) for n in chain]
    first = _data_input(chain[0], consts)
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info(first, onnx.TensorProto.DOUBLE, None)],
                              [helper.make_tensor_value_info(chain[-1].output[0], onnx.TensorProto.DOUBLE, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {first: x})[0]


def _affine_map(chain: list[onnx.NodeProto], consts: dict[str, np.ndarray],
                row_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None:
    """(matrix [D_in, D_out], bias [D_out], output row shape) of the chain, or None if not affine per row."""
    d_in = int(np.prod(row_shape))
    basis = np.vstack([np.zeros((1, d_in)), np.eye(d_in)]).reshape(-1, *row_shape)
    try:
        out = _run_chain(chain, consts, basis)
        probe = np.random.default_rng(0).normal(size=(3, *row_shape))
        check = _run_chain(chain, consts, probe)
    except Exception as exc:  # onnxruntime's own error types: an op it cannot run in float64
        log.debug("not folding %s: %s", [n.name for n in chain], exc)
        return None
    if out.shape[0] != d_in + 1 or check.shape[0] != 3:
        return None
    flat = out.reshape(d_in + 1, -1)
    bias, matrix = flat[0], flat[1:] - flat[0]
    if not np.allclose(check.reshape(3, -1), probe.reshape(3, -1) @ matrix + bias, rtol=1e-9, atol=1e-9):
        return None
    return matrix, bias, tuple(out.shape[1:])


def fold_linear_chains(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each chain of row-wise affine nodes on constants as one Gemm, if its matrix is not larger
    than twice the chain's constants (a broadcast that widens the rows stays as it is).

    >>> from onnx import TensorProto, helper, numpy_helper
    >>> w = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 2, "w")
    >>> nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("MatMul", ["a", "w"], ["y"])]
    >>> graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
    ...                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], [w])
    >>> folded = fold_linear_chains(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    >>> [n.op_type for n in folded.graph.node]
    ['Gemm']
    """
    shapes = _shapes(model)
    model = _clone(model)
    consts = _constants(model)
    nodes = [_copy(n) for n in model.graph.node]
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for k, indices in enumerate(_chains(nodes, {o.name for o in model.graph.output}, consts)):
        chain = [nodes[i] for i in indices]
        first, last = _data_input(chain[0], consts), chain[-1].output[0]
        dims = shapes.get(first)
        if not dims or len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            continue
        fit = _affine_map(chain, consts, tuple(dims[1:]))
        size = sum(consts[i].size for n in chain for i in n.input if i in consts and consts[i].dtype == np.float32)
        if fit is None or fit[0].size > 2 * size or 1 + (len(dims) != 2) + (len(fit[2]) != 1) >= len(chain):
            continue
        matrix, bias, out_row = fit
        prefix = f"/fold{k}"
        model.graph.initializer.extend([numpy_helper.from_array(matrix.astype(np.float32), f"{prefix}/W"),
                                        numpy_helper.from_array(bias.astype(np.float32), f"{prefix}/b")])
        new, src = [], first
        if len(dims) != 2:
            model.graph.initializer.append(numpy_helper.from_array(np.array([-1, matrix.shape[0]]), f"{prefix}/in_shape"))
            new.append(helper.make_node("Reshape", [src, f"{prefix}/in_shape"], [f"{prefix}/rows"], name=f"{prefix}/Reshape_in"))
            src = f"{prefix}/rows"
        gemm_out = last if len(out_row) == 1 else f"{prefix}/gemm"
        new.append(helper.make_node("Gemm", [src, f"{prefix}/W", f"{prefix}/b"], [gemm_out], name=f"{prefix}/Gemm"))
        if len(out_row) != 1:
            model.graph.initializer.append(numpy_helper.from_array(np.array([-1, *out_row]), f"{prefix}/out_shape"))
            new.append(helper.make_node("Reshape", [gemm_out, f"{prefix}/out_shape"], [last], name=f"{prefix}/Reshape_out"))
        replaced[indices[0]] = new
        dropped.update(indices[1:])
        log.debug("folded %d nodes into a Gemm %s", len(chain), matrix.shape)
    _set_nodes(model, [m for k, n in enumerate(nodes) if k not in dropped for m in replaced.get(k, [n])])
    return _drop_unused(model)


def merge_sibling_gemms(model: onnx.ModelProto) -> onnx.ModelProto:
    """Gemms reading the same input, with constant weights and bias (plain: alpha = beta = 1,
    no transA), as one Gemm whose output columns a Split hands back to the original outputs.

    >>> from onnx import TensorProto, helper, numpy_helper
    >>> inits = [numpy_helper.from_array(np.ones(s, np.float32), n) for n, s in
    ...          (("w1", (3, 4)), ("b1", (4,)), ("w2", (3, 1)), ("b2", (1,)))]
    >>> nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["y1"]), helper.make_node("Gemm", ["x", "w2", "b2"], ["y2"])]
    >>> io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("x", "y1", "y2")]
    >>> merged = merge_sibling_gemms(helper.make_model(helper.make_graph(nodes, "g", io[:1], io[1:], inits)))
    >>> [n.op_type for n in merged.graph.node]
    ['Gemm', 'Split']
    """
    model = _clone(model)
    consts = _constants(model)
    nodes = [_copy(n) for n in model.graph.node]
    groups: dict[str, list[int]] = {}
    for k, node in enumerate(nodes):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type == "Gemm" and len(node.input) == 3 and node.input[1] in consts and node.input[2] in consts
                and consts[node.input[2]].ndim == 1 and not attrs.get("transA", 0)
                and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0):
            groups.setdefault(node.input[0], []).append(k)
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for g, (source, members) in enumerate(groups.items()):
        if len(members) < 2:
            continue
        weights = [_weight_in_out(nodes[k], consts) for k in members]  # each [in, out]
        prefix = f"/merge{g}"
        model.graph.initializer.extend([
            numpy_helper.from_array(np.concatenate(weights, axis=1), f"{prefix}/W"),
            numpy_helper.from_array(np.concatenate([consts[nodes[k].input[2]] for k in members]), f"{prefix}/b"),
            numpy_helper.from_array(np.array([w.shape[1] for w in weights]), f"{prefix}/sizes")])
        replaced[members[0]] = [
            helper.make_node("Gemm", [source, f"{prefix}/W", f"{prefix}/b"], [f"{prefix}/y"], name=f"{prefix}/Gemm"),
            helper.make_node("Split", [f"{prefix}/y", f"{prefix}/sizes"], [nodes[k].output[0] for k in members],
                             name=f"{prefix}/Split", axis=1)]
        dropped.update(members[1:])
    _set_nodes(model, [m for k, n in enumerate(nodes) if k not in dropped for m in replaced.get(k, [n])])
    return _drop_unused(model)


def optimize_for_onnxruntime(model: onnx.ModelProto) -> onnx.ModelProto:
    """The passes ``export_onnx`` runs: linear chains folded, then sibling Gemms merged.

    >>> from onnx import TensorProto, helper
    >>> io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 2]) for n in ("x", "y")]
    >>> graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", io[:1], io[1:])
    >>> [n.op_type for n in optimize_for_onnxruntime(helper.make_model(graph)).graph.node]
    ['Relu']
    """
    return merge_sibling_gemms(fold_linear_chains(model))


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    """Every tensor's shape, symbolic where it depends on the inputs' (onnxruntime's shape inference)."""
    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    return {v.name: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]}


def _weight_in_out(gemm: onnx.NodeProto, consts: dict[str, np.ndarray]) -> np.ndarray:
    """A Gemm's constant weight as [in, out], whatever its transB."""
    weight = consts[gemm.input[1]]
    return weight.T if any(a.name == "transB" and a.i for a in gemm.attribute) else weight


def _clone(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    out = onnx.NodeProto()
    out.CopyFrom(node)
    return out


def _set_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _drop_unused(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove nodes whose outputs nothing reads (Constant nodes of folded chains), then initializers."""
    graph_outputs = {o.name for o in model.graph.output}
    nodes = [_copy(n) for n in model.graph.node]
    while True:
        read = {i for n in nodes for i in n.input} | graph_outputs
        alive = [n for n in nodes if any(o in read for o in n.output)]
        if len(alive) == len(nodes):
            break
        nodes = alive
    _set_nodes(model, nodes)
    read = {i for n in model.graph.node for i in n.input}
    unused = [i for i in model.graph.initializer if i.name not in read]
    for i in unused:
        model.graph.initializer.remove(i)
    return model
