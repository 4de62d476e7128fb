"""The seam where CI tests plug into the windowed engine: one small class per test, one registry.

A :class:`WindowTest` owns whatever statistics its test keeps beyond the lagged covariance
(that one :class:`~causalstream.models.causal.lagcov.LaggedCovariance` is shared and kept by
:class:`~causalstream.models.causal.windowed.WindowedPCMCI`), and hands out, at each
refresh, an *engine*: an object with CovParCorr's methods (``run_masks``, ``run``,
``test_one``, ``clean_z``, ``col``, ``aic``) that PC1, MCI and PCMCI+ call. Registering a
test is one decorator, :func:`register`. Tests with no streaming form (CMIknn, GPDC) are
not here: they run tigramite on the window (batch.py).

>>> sorted(TESTS)[:2]
['parcorr', 'rcot']
>>> make_test("parcorr", n_vars=2, window=50, max_lag=2).settings()
{}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.parcorr import CovParCorr
from causalstream.models.causal.fourier import FourierFeatures
from causalstream.models.causal.robust import CovRobustParCorr
from causalstream.models.errors import ParameterError

__all__ = ["TESTS", "WindowTest", "make_test", "register"]

TESTS: dict[str, type[WindowTest]] = {}
"""Streaming CI tests by ``ci_test`` name."""


def register(name: str) -> Callable[[type[WindowTest]], type[WindowTest]]:
    """Class decorator: make a :class:`WindowTest` available as ``ci_test=name``.

    >>> @register("demo_parcorr")
    ... class Demo(WindowTest):
    ...     pass
    >>> TESTS.pop("demo_parcorr").__name__
    'Demo'
    """

    def add(cls: type[WindowTest]) -> type[WindowTest]:
        cls.name = name
        TESTS[name] = cls
        return cls

    return add


class WindowTest:
    """Base: ParCorr's plumbing; a test overrides what it keeps and the engine it builds.

    ``settings`` are the test's own parameters (``ci_params``); they go into every result
    so that a graph can be reproduced.

    >>> t = WindowTest(n_vars=1, window=20, max_lag=1)
    >>> t.update(np.zeros(1)) is t, t.tigramite_name
    (True, 'ParCorr')
    """

    name = "parcorr"
    tigramite_name = "ParCorr"
    supports_forgetting = False

    def __init__(self, n_vars: int, window: int, max_lag: int, **params: Any) -> None:
        if params:
            raise ParameterError(f"ci_test={self.name!r}", f"takes no ci_params, got {sorted(params)}")
        self.n_vars = n_vars
        self.window = window
        self.max_lag = max_lag

    def update(self, x: np.ndarray) -> WindowTest:
        """Take one sample beyond the shared lagged covariance (nothing, here); returns self.

        >>> WindowTest(1, 10, 1).update(np.ones(1)).n_vars
        1
        """
        return self

    def reset(self) -> WindowTest:
        """Forget every sample; returns self.

        >>> WindowTest(1, 10, 1).reset().window
        10
        """
        return self

    def engine(self, lagcov: LaggedCovariance) -> Any:
        """The CI engine for this refresh.

        >>> lc = LaggedCovariance(1, 10, 1).update_many(np.arange(10.0)[:, None] % 3)
        >>> type(WindowTest(1, 10, 1).engine(lc)).__name__
        'CovParCorr'
        """
        return CovParCorr(lagcov.stats(), self.n_vars)

    def settings(self) -> dict[str, Any]:
        """The test's parameters, for results and messages.

        >>> WindowTest(1, 10, 1).settings()
        {}
        """
        return {}


@register("parcorr")
class ParCorrTest(WindowTest):
    """tigramite's ParCorr, exact, from the lagged covariance (forgetting allowed).

    >>> ParCorrTest(2, 30, 2).tigramite_name
    'ParCorr'
    """

    supports_forgetting = True


@register("robustparcorr")
class RobustParCorrTest(WindowTest):
    """tigramite's RobustParCorr, exact: the window's copula transform at each refresh.

    >>> RobustParCorrTest(2, 30, 2).tigramite_name
    'RobustParCorr'
    """

    tigramite_name = "RobustParCorr"

    def engine(self, lagcov: LaggedCovariance) -> Any:
        """A ParCorr engine over the Gaussian-copula transform of the window's embedding.

        >>> lc = LaggedCovariance(1, 20, 1).update_many(np.arange(20.0)[:, None] ** 2)
        >>> type(RobustParCorrTest(1, 20, 1).engine(lc)).__name__
        'CovRobustParCorr'
        """
        return CovRobustParCorr.from_lagcov(lagcov, self.n_vars)


@register("rcot")
class RCoTTest(WindowTest):
    """The streaming kernel test: random Fourier features, RCoT statistic (rcot.py).

    ``ci_params`` are FourierFeatures' settings (``n_features``, ``seed``, ``bandwidth``, ...).

    >>> RCoTTest(2, 50, 2, seed=3).settings()["seed"]
    3
    >>> RCoTTest(2, 50, 2, features=3)
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: ci_test='rcot': unknown ci_params ['features']; known: ['n_features', ...]
    """

    tigramite_name = "RCoT"

    def __init__(self, n_vars: int, window: int, max_lag: int, **params: Any) -> None:
        super().__init__(n_vars, window, max_lag)
        known = [k for k in inspect.signature(FourierFeatures).parameters if k not in ("n_vars", "window", "max_lag")]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ParameterError("ci_test='rcot'", f"unknown ci_params {unknown}; known: {known}")
        self.features = FourierFeatures(n_vars, window, max_lag, **params)

    def update(self, x: np.ndarray) -> RCoTTest:
        """Add the sample's features to the feature moments; returns self.

        >>> RCoTTest(1, 20, 1).update(np.ones(1)).features.n_samples
        1
        """
        self.features.update(x)
        return self

    def reset(self) -> RCoTTest:
        """Empty the feature moments; returns self.

        >>> RCoTTest(1, 20, 1).update(np.ones(1)).reset().features.n_samples
        0
        """
        self.features.reset()
        return self

    def engine(self, lagcov: LaggedCovariance) -> Any:
        """The RCoT engine over the feature moments (the lagged covariance is not needed).

        >>> t = RCoTTest(1, 40, 1).update_many(np.random.default_rng(0).normal(size=(40, 1)))
        >>> type(t.engine(None)).__name__
        'RCoT'
        """
        return self.features.engine()

    def update_many(self, X: np.ndarray) -> RCoTTest:
        """Add a block of samples; returns self.

        >>> RCoTTest(1, 20, 1).update_many(np.zeros((5, 1))).features.n_samples
        5
        """
        for x in np.asarray(X, dtype=np.float64).reshape(-1, self.n_vars):
            self.update(x)
        return self

    def settings(self) -> dict[str, Any]:
        """FourierFeatures' settings (what reproduces a graph).

        >>> RCoTTest(1, 20, 1, n_features=3).settings()["n_features"]
        3
        """
        return dict(self.features.settings())


def make_test(name: str, n_vars: int, window: int, max_lag: int, **params: Any) -> WindowTest:
    """The registered test ``name`` for this window shape; a ParameterError for unknown names.

    >>> make_test("rcot", 2, 50, 2, n_features=4).settings()["n_features"]
    4
    >>> make_test("kernel", 2, 50, 2)
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: WindowedPCMCI: unknown streaming ci_test 'kernel'
    """
    if name not in TESTS:
        raise ParameterError("WindowedPCMCI", f"unknown streaming ci_test {name!r}")
    return TESTS[name](n_vars, window, max_lag, **params)
