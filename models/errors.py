"""Errors of the models package.

The root, :class:`CausalstreamError`, lives in ``causalstream.stream.errors``; this is the
one import that ``models`` takes from ``stream`` (see ARCHITECTURE.md), so that every error
of the project has a single root.

>>> str(ModelError(what="OnnxPredictor", reason="model file missing: x.onnx"))
'OnnxPredictor: model file missing: x.onnx'
"""

from __future__ import annotations

from causalstream.stream.errors import CausalstreamError

__all__ = ["CausalstreamError", "ModelError", "ParameterError"]


class ModelError(CausalstreamError):
    """A model could not be built, loaded or run.

    >>> isinstance(ModelError(what="x", reason="y"), CausalstreamError)
    True
    """

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class ParameterError(ModelError, ValueError):
    """A constructor or call argument is out of range.

    >>> str(ParameterError(what="WindowedPCMCI", reason="window must exceed 2 * tau_max + 1, got 5"))
    'WindowedPCMCI: window must exceed 2 * tau_max + 1, got 5'
    """
