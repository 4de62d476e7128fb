"""Student's t p-values of partial correlations, as tigramite's ParCorr gives them, and the
decision p <= alpha without them (what PC1 asks: :func:`significant`).

p = 2 stdtr(df, -|t|), t = val sqrt(df / (1 - val^2)), df = n - 2 - |Z| (scipy's t.sf is the same
call); |val| = 1 gives p 0, df < 1 p NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import stdtr, stdtrit

__all__ = ["NEAR", "significant", "t_pvalue", "t_pvalue_one"]

_TINY = np.finfo(float).tiny


def t_pvalue_one(val: float, df: float) -> float:
    """:func:`t_pvalue` of one test, without the arrays.

    >>> t_pvalue_one(0.0, 10.0), t_pvalue_one(1.0, 10.0), t_pvalue_one(0.5, 0.0)
    (1.0, 0.0, nan)
    """
    if df < 1:
        return float("nan")
    if abs(abs(val) - 1.0) <= np.finfo(float).tiny:
        return 0.0
    return float(stdtr(df, -abs(val * np.sqrt(df / (1.0 - val * val)))) * 2.0)


NEAR = 1e-9
"""Relative distance of |val| from the critical correlation within which :func:`significant`
computes the exact p-value."""


def significant(val: np.ndarray, df: np.ndarray, alpha: float) -> np.ndarray:
    """``t_pvalue(val, df) <= alpha``, mostly without the p-values: p <= alpha exactly when
    |val| >= r_c = t_c / sqrt(df + t_c^2), t_c Student's critical t of df at alpha / 2; within
    :data:`NEAR` of r_c the p-value decides.

    >>> val = np.array([0.05, 0.25, -0.35, np.nan, 1.0, 0.9]); df = np.array([90.0, 90.0, 40.0, 90.0, 5.0, 0.0])
    >>> significant(val, df, 0.05).tolist(), (t_pvalue(val, df) <= 0.05).tolist()
    ([False, True, True, False, True, False], [False, True, True, False, True, False])
    """
    val = np.asarray(val, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    if df.shape != val.shape:
        df = np.broadcast_to(df, val.shape)
    if not 0.0 < alpha < 1.0 or len(val) == 0:
        return t_pvalue(val, df) <= alpha
    if (df == df[0]).all():   # one df (a clean window's PC1 level): the critical correlation once
        d = float(df[0])
        if not d >= 1:
            return np.zeros(len(val), dtype=bool)   # p NaN
        t_c = -float(stdtrit(d, alpha / 2.0))
        r_c: float | np.ndarray = t_c / math.sqrt(d + t_c * t_c)
    else:
        levels, back = np.unique(df, return_inverse=True)
        with np.errstate(invalid="ignore"):
            t_c = -stdtrit(np.where(levels >= 1, levels, np.nan), alpha / 2.0)
            r_c = (t_c / np.sqrt(levels + t_c * t_c))[back.ravel()]   # NaN where df < 1: never kept
    a = np.abs(val)
    keep = a >= r_c * (1.0 + NEAR)
    near = (a >= r_c * (1.0 - NEAR)) != keep
    if near.any():
        keep[near] = t_pvalue(val[near], df[near]) <= alpha
    return keep


def t_pvalue(val: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a correlation with ``df`` degrees of freedom, as tigramite's ParCorr.

    >>> t_pvalue(np.array([0.0, 1.0, 0.5]), np.array([10.0, 10.0, 0.0]))
    array([ 1.,  0., nan])
    """
    val = np.asarray(val, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    if df.shape != val.shape:
        df = df * np.ones_like(val)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = val * np.sqrt(df / (1.0 - val * val))
        p = stdtr(df, -np.abs(t)) * 2.0
    p[np.abs(np.abs(val) - 1.0) <= _TINY] = 0.0
    p[df < 1] = np.nan
    return p
