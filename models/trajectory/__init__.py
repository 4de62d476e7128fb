"""Causal-attention-gated trajectory prediction: torch model (train extra) and ONNX runtime.

>>> import causalstream.models.trajectory
"""
