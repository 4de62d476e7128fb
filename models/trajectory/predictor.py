"""Trajectory prediction with onnxruntime only: what runs on the robot (no torch here).

>>> predictor = OnnxPredictor()  # the shipped default model
>>> history = np.cumsum(np.full((3, 8, 2), 0.4, dtype=np.float32), axis=1)
>>> trajectories, probabilities = predictor.predict(history)
>>> trajectories.shape, probabilities.shape, bool(np.all(np.diff(probabilities, axis=1) <= 0))
((3, 20, 12, 2), (3, 20), True)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from causalstream.models.errors import ModelError

__all__ = ["DEFAULT_MODEL", "MAX_AGENTS", "OnnxPredictor", "Prediction", "session_options"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "weights" / "trajectory.onnx"
MAX_AGENTS = 256
_INPUTS = ("history", "adjacency")
_OUTPUTS = ("trajectories", "probabilities", "gate")


class Prediction(NamedTuple):
    """One scene's prediction; modes sorted by probability, highest first.

    >>> Prediction._fields
    ('trajectories', 'probabilities', 'gate')
    """

    trajectories: np.ndarray  # [A, K, H, 2] metres
    probabilities: np.ndarray  # [A, K]
    gate: np.ndarray  # [A, A] source -> target: which agents the model let act on which


def _resolve(path: str | Path | None) -> Path:
    if path is None:
        return DEFAULT_MODEL
    p = Path(path)
    if len(p.parts) == 1 and not p.suffix and not p.exists():  # a shipped model's name
        return DEFAULT_MODEL.parent / f"{p.name}.onnx"
    return p


class OnnxPredictor:
    """A causal-attention-gated trajectory model served by onnxruntime (one intra-op thread).

    ``path=None`` loads the shipped default (models/weights/trajectory.onnx: ETH/UCY); a bare
    name such as ``"trajectory_sim"`` (the simulator-trained model) loads that shipped model.
    Its metadata (data, split, metrics, command, commit) is read from the JSON beside it, if any.
    ``session`` is the onnxruntime InferenceSession, for callers that want raw outputs.

    >>> p = OnnxPredictor()
    >>> p.observed, p.horizon, p.modes, p.model_id
    (8, 12, 20, 'trajectory')
    >>> OnnxPredictor("trajectory_sim").metadata["network"]["gate"]
    'open'
    >>> OnnxPredictor("/no/such/model.onnx")
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ModelError: OnnxPredictor: model file missing: /no/such/model.onnx
    """

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = _resolve(path)
        self.threads = threads
        if not self.path.is_file():
            raise ModelError(what="OnnxPredictor", reason=f"model file missing: {self.path}")
        options = session_options(threads)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail, ...)
            raise ModelError(what="OnnxPredictor", reason=f"cannot load {self.path}: {_first_line(exc)}") from exc
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if set(inputs) != set(_INPUTS) or not set(_OUTPUTS) <= set(outputs):
            raise ModelError(
                what="OnnxPredictor",
                reason=f"{self.path} is not a trajectory model (inputs {sorted(inputs)}, outputs {sorted(outputs)})",
            )
        if not isinstance(inputs["history"][1], int):
            raise ModelError(what="OnnxPredictor", reason=f"{self.path}: history steps must be fixed, got {inputs['history']}")
        self.observed = int(inputs["history"][1])
        # Output shapes are not always static in the graph: one probe run gives K and H.
        probe = self._run(np.zeros((1, self.observed, 2), np.float32), np.ones((1, 1), np.float32))
        self.modes, self.horizon = int(probe[0].shape[1]), int(probe[0].shape[2])
        self.metadata = _read_metadata(self.path)
        self.model_id = str(self.metadata.get("model_id", self.path.stem))

    def predict(self, history: np.ndarray, adjacency: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``history`` [A, 8, 2] metres at 2.5 Hz, oldest first; ``adjacency`` [A, A] prior or None.

        Returns ``(trajectories [A, K, 12, 2], probabilities [A, K])``, modes sorted by
        probability. ``adjacency[i, j]`` in [0, 1] scales how much agent i may act on j (0:
        not at all); it is combined with the model's own discovered graph, self-loops kept.
        A longer history is cut to its last 8 steps.

        >>> p = OnnxPredictor()
        >>> p.predict(np.zeros((2, 5, 2)))
        Traceback (most recent call last):
        ...
        causalstream.models.errors.ModelError: OnnxPredictor.predict: history needs at least 8 steps, got shape (2, 5, 2)
        """
        out = self.predict_full(history, adjacency)
        return out.trajectories, out.probabilities

    def predict_full(self, history: np.ndarray, adjacency: np.ndarray | None = None) -> Prediction:
        """Like :meth:`predict`, plus the gate [A, A] the model used (source -> target).

        >>> out = OnnxPredictor().predict_full(np.zeros((2, 8, 2)), np.eye(2))
        >>> out.gate.tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        """
        h, adj = self._check(history, adjacency)
        traj, prob, gate = self._run(h, adj)
        order = np.argsort(-prob, axis=1, kind="stable")
        traj = np.take_along_axis(traj, order[:, :, None, None], axis=1)
        return Prediction(trajectories=traj, probabilities=np.take_along_axis(prob, order, axis=1), gate=gate)

    def _run(self, history: np.ndarray, adjacency: np.ndarray) -> list[np.ndarray]:
        try:
            return list(self.session.run(list(_OUTPUTS), {"history": history, "adjacency": adjacency}))
        except Exception as exc:  # onnxruntime's own error types
            raise ModelError(what="OnnxPredictor.predict", reason=f"onnxruntime failed: {_first_line(exc)}") from exc

    def _check(self, history: np.ndarray, adjacency: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        what = "OnnxPredictor.predict"
        h = np.asarray(history, dtype=np.float32)
        if h.ndim != 3 or h.shape[2] != 2:
            raise ModelError(what=what, reason=f"history must be [agents, steps, 2], got shape {h.shape}")
        if h.shape[1] < self.observed:
            raise ModelError(what=what, reason=f"history needs at least {self.observed} steps, got shape {h.shape}")
        if not 1 <= h.shape[0] <= MAX_AGENTS:
            raise ModelError(what=what, reason=f"need 1..{MAX_AGENTS} agents, got {h.shape[0]}")
        h = np.ascontiguousarray(h[:, -self.observed :])
        bad = np.flatnonzero(~np.isfinite(h).all(axis=(1, 2)))
        if bad.size:
            raise ModelError(what=what, reason=f"history of agents {bad.tolist()} holds NaN or inf")
        n = h.shape[0]
        if adjacency is None:
            return h, np.ones((n, n), dtype=np.float32)
        adj = np.ascontiguousarray(np.asarray(adjacency, dtype=np.float32))
        if adj.shape != (n, n):
            raise ModelError(what=what, reason=f"adjacency must be [{n}, {n}], got shape {adj.shape}")
        if not np.isfinite(adj).all() or adj.min() < 0 or adj.max() > 1:
            raise ModelError(what=what, reason="adjacency values must be finite and in [0, 1]")
        return h, adj


def session_options(threads: int = 1) -> ort.SessionOptions:
    """onnxruntime options for a small model on the robot: every graph optimisation,
    sequential execution, ``threads`` intra-op threads, one inter-op thread, warnings off.

    >>> o = session_options()
    >>> o.intra_op_num_threads, o.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    (1, True)
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _read_metadata(path: Path) -> dict[str, Any]:
    """The JSON beside the model (``x.onnx`` or ``x.int8.onnx`` -> ``x.json``), or {}."""
    stem = path.name.removesuffix(".onnx").removesuffix(".int8")
    meta = path.with_name(stem + ".json")
    if not meta.is_file():
        return {}
    try:
        return dict(json.loads(meta.read_text()))
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable model metadata %s: %s", meta, exc)
        return {}
