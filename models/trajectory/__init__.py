"""Causal-attention-gated trajectory prediction.

Importing this package loads the onnxruntime runtime only (:class:`OnnxPredictor`); the
torch model, training and export live in ``network``, ``training`` and ``export`` (the
``train`` extra) and are imported by name when needed.

>>> from causalstream.models.trajectory import OnnxPredictor
>>> OnnxPredictor().modes
20
"""

from causalstream.models.trajectory.predictor import OnnxPredictor

__all__ = ["OnnxPredictor"]
