"""Incremental windowed lagged causal discovery (PCMCI / PCMCI+ with ParCorr).

>>> import causalstream.models.causal
"""
