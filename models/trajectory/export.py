"""Export a :class:`CausalGatedPredictor` to ONNX (dynamic agent count) and quantise it (int8).

The ONNX graph takes one scene: ``history`` [A, 8, 2] float32 and ``adjacency`` [A, A]
float32 (source -> target prior; all ones when there is none), and returns
``trajectories`` [A, K, 12, 2], ``probabilities`` [A, K] (modes in the network's order) and
``gate`` [A, A] (the gate used, source -> target). A is dynamic, 1..256 verified.

The TorchScript exporter (``dynamo=False``) is used: on this graph it gives one symbolic
agent dimension without the 0/1 specialisation that ``torch.export`` applies to A = 1.

>>> import tempfile
>>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2))
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = export_onnx(net, Path(tmp) / "m.onnx")
...     path.stat().st_size > 1000
True
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from torch import nn

from causalstream.models.errors import ModelError
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig
from causalstream.models.trajectory.onnx_folding import optimize_for_onnxruntime

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "SceneModule", "export_onnx", "quantize_int8"]

log = logging.getLogger(__name__)

INPUT_NAMES = ("history", "adjacency")
OUTPUT_NAMES = ("trajectories", "probabilities", "gate")
OPSET = 17


class SceneModule(nn.Module):
    """The network on one unbatched scene, as exported: (history, adjacency) -> 3 outputs.

    >>> m = SceneModule(CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2)).eval())
    >>> [tuple(t.shape) for t in m(torch.zeros(3, 8, 2), torch.ones(3, 3))]
    [(3, 2, 12, 2), (3, 2), (3, 3)]
    """

    def __init__(self, network: CausalGatedPredictor) -> None:
        super().__init__()
        self.network = network

    def forward(self, history: torch.Tensor, adjacency: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The network on the unbatched scene (its per-agent linear maps export as Gemm)."""
        out = self.network(history, adjacency)
        return out.trajectories, out.probabilities, out.gate


def export_onnx(network: CausalGatedPredictor, path: Path, agents: int = 5) -> Path:
    """Write ``network`` (in eval mode) as ONNX to ``path``; returns ``path``.

    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2))
    >>> export_onnx(net, Path("/nonexistent/dir/m.onnx"))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ModelError: export_onnx: cannot write /nonexistent/dir/m.onnx: ...
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ModelError(what="export_onnx", reason=f"cannot write {path}: no directory {path.parent}")
    module = SceneModule(network).eval()
    cfg: NetworkConfig = network.config
    example = (torch.randn(agents, cfg.observed, 2), torch.ones(agents, agents))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={
                "history": {0: "agents"},
                "adjacency": {0: "agents", 1: "agents"},
                "trajectories": {0: "agents"},
                "probabilities": {0: "agents"},
                "gate": {0: "agents", 1: "agents"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    network.train(network.training)
    onnx.save(optimize_for_onnxruntime(onnx.load(str(path))), str(path))
    log.info("exported %s (%d bytes)", path, path.stat().st_size)
    return path


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation (onnxruntime.quantization) of the learned MatMul/Gemm weights.

    Only learned matrices of 256 weights or more: the constant geometry maps (whole numbers:
    the flat history to positions, velocities, heading, the constant-velocity future) stay
    exact in float32, and a matrix-vector product (a logit read-out) gains nothing from int8;
    each quantised product also quantises its input, which costs a node and the positions'
    precision.

    >>> quantize_int8(Path("/no/such.onnx"), Path("/tmp/x.onnx"))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ModelError: quantize_int8: no model file /no/such.onnx
    """
    if not Path(source).is_file():
        raise ModelError(what="quantize_int8", reason=f"no model file {source}")
    model = onnx.load(str(source))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    learned = [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in weights
               and weights[n.input[1]].size >= 256 and not np.array_equal(weights[n.input[1]], np.round(weights[n.input[1]]))]
    learned += [f"{name}_MatMul" for name in learned]  # the quantiser first splits a Gemm into MatMul + Add
    logging.disable(logging.WARNING)  # quantize_dynamic logs a line per tensor (and a hint) on the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, nodes_to_quantize=learned)
    finally:
        logging.disable(logging.NOTSET)
    return Path(target)
