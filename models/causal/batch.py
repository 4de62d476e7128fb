"""Batch engine: tigramite itself on the current window, for CI tests beyond ParCorr.

RobustParCorr, CMIknn and GPDC have no covariance shortcut, so ``results()`` builds a
tigramite DataFrame of the window and runs ``run_pcmci`` / ``run_pcmciplus``. This costs
what tigramite costs (seconds for CMIknn and GPDC), so use it with a slow refresh. Missing
samples go to tigramite as its ``missing_flag``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.independence_tests_base import CondIndTest
from tigramite.pcmci import PCMCI

from causalstream.models.errors import ModelError

__all__ = ["BATCH_TESTS", "MISSING_FLAG", "make_ci_test", "run_tigramite", "tigramite_frame"]

BATCH_TESTS: dict[str, tuple[str, str, str]] = {
    "robustparcorr": ("tigramite.independence_tests.robust_parcorr", "RobustParCorr", ""),
    "cmiknn": ("tigramite.independence_tests.cmiknn", "CMIknn", "numba"),
    "gpdc": ("tigramite.independence_tests.gpdc", "GPDC", "dcor, scikit-learn"),
}
"""CI tests run through tigramite, by name: (module, class, packages it needs beyond ours)."""

MISSING_FLAG = -9.87654321e300
"""The value NaN samples become in the DataFrame handed to tigramite (its ``missing_flag``)."""


def tigramite_frame(samples: np.ndarray, var_names: Sequence[str] | None = None) -> DataFrame:
    """A tigramite DataFrame of float64 samples; NaN becomes tigramite's missing flag.

    >>> tigramite_frame(np.array([[1.0], [np.nan], [3.0]])).missing_flag == MISSING_FLAG
    True
    """
    data = np.asarray(samples, dtype=np.float64)
    names = list(var_names) if var_names is not None else None
    if np.isnan(data).any():
        return DataFrame(np.where(np.isnan(data), MISSING_FLAG, data), var_names=names, missing_flag=MISSING_FLAG)
    return DataFrame(data, var_names=names)


def make_ci_test(name: str) -> CondIndTest:
    """A fresh tigramite CI test by name.

    CMIknn needs numba and GPDC needs dcor and scikit-learn (the ``nonlinear`` extra), so the
    module is imported when asked for, not at import time: the ParCorr engine must not
    depend on them.

    >>> type(make_ci_test("robustparcorr")).__name__
    'RobustParCorr'
    """
    module, cls, needs = BATCH_TESTS[name]
    try:
        return getattr(importlib.import_module(module), cls)()
    except ImportError as exc:
        raise ModelError(f"ci_test={name!r}", f"needs {needs} (pip install 'causalstream[nonlinear]'): {exc}") from exc


def run_tigramite(samples: np.ndarray, ci_test: str, method: str, tau_min: int, tau_max: int,
                  pc_alpha: float | None, alpha_level: float, max_conds_dim: int | None, fdr_method: str,
                  var_names: Sequence[str] | None = None) -> dict[str, Any]:
    """tigramite's run_pcmci / run_pcmciplus with ``ci_test`` on the samples.

    >>> X = np.random.default_rng(0).normal(size=(120, 2))
    >>> run_tigramite(X, "robustparcorr", "pcmci", 0, 1, 0.05, 0.05, None, "none")["p_matrix"].shape
    (2, 2, 2)
    """
    pcmci = PCMCI(tigramite_frame(samples, var_names), make_ci_test(ci_test))
    if method == "pcmciplus":
        res = pcmci.run_pcmciplus(tau_min=tau_min, tau_max=tau_max, pc_alpha=pc_alpha,
                                  max_conds_dim=max_conds_dim, fdr_method=fdr_method)
    else:
        res = pcmci.run_pcmci(tau_min=tau_min, tau_max=tau_max, pc_alpha=pc_alpha, max_conds_dim=max_conds_dim,
                              alpha_level=alpha_level, fdr_method=fdr_method)
    parents = getattr(pcmci, "all_lagged_parents", None) or getattr(pcmci, "all_parents", None)
    return {"graph": res["graph"], "val_matrix": res["val_matrix"], "p_matrix": res["p_matrix"], "parents": parents}
