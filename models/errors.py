"""Errors of the models package.

The root, :class:`CausalstreamError`, lives in ``causalstream.stream.errors``; this is the
one import that ``models`` takes from ``stream`` (see ARCHITECTURE.md), so that every error
of the project has a single root.

>>> str(ModelError(what="OnnxPredictor", reason="model file missing: x.onnx"))
'OnnxPredictor: model file missing: x.onnx'
"""

from __future__ import annotations

from causalstream.stream.errors import CausalstreamError

__all__ = ["CausalstreamError", "ClusterError", "ModelError", "ParameterError", "RuleError"]


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


class RuleError(ParameterError):
    """A link rule (causal/assumptions.py) is wrong: ``index`` of the rule (None: the rules
    as a whole) and its ``field``, so that a launch file can point at file:line.

    >>> e = RuleError(index=2, field="forbid", reason="'h9.*' matches no variable")
    >>> str(e), e.index, e.field
    ("link rule 2 (forbid): 'h9.*' matches no variable", 2, 'forbid')
    """

    def __init__(self, index: int | None, field: str, reason: str) -> None:
        self.index = index
        self.field = field
        where = "link rules" if index is None else f"link rule {index}"
        super().__init__(what=f"{where} ({field})", reason=reason)


class ClusterError(ModelError):
    """Offline discovery's distributed engine cannot be reached or used (``what``: its address).

    >>> str(ClusterError("tcp://10.0.0.9:8786", "no Dask scheduler answered within 10 s"))
    'tcp://10.0.0.9:8786: no Dask scheduler answered within 10 s'
    """
