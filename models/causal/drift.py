"""Drift detection on each variable's one-step residual given its current parents (river).

After each graph refresh, :meth:`DriftMonitor.refit` fits, from the window's covariance,
the linear regression of every variable on its lagged parents (the PC1 parents of the
last ``results()``). Each new sample then yields one standardised squared residual per
variable, ``z^2 = (x_j - prediction_j)^2 / sigma_j^2`` (mean 1 while the model holds), fed
to one river detector per variable (ADWIN or PageHinkley). A change of coefficients,
of noise level or of a parent set moves that mean, and the detector fires. With
``restart=True`` the events say ``restarted`` and the monitor drops its regression until
the next refit; the owner of the window (:class:`~causalstream.models.causal.loop.DiscoveryLoop`)
empties it, so the next graphs are computed on the new regime only. The monitor never
resets the model itself: one reset, one owner.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import drift as river_drift

from causalstream.models.causal.lagcov import LagStats
from causalstream.models.causal.pc1 import Node
from causalstream.models.causal.windowed import WindowedPCMCI
from causalstream.models.errors import ParameterError

__all__ = ["DriftEvent", "DriftMonitor", "ParentRegression"]

DETECTORS = {"adwin": river_drift.ADWIN, "page_hinkley": river_drift.PageHinkley}
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "adwin": {},
    # z^2 is chi-square(1) while nothing changes (mean 1, variance 2): watch increases only,
    # and let the cumulative sum forget 0.25 a sample so noise alone does not reach the threshold.
    "page_hinkley": {"mode": "up", "delta": 0.25, "threshold": 50.0},
}


@dataclass(frozen=True)
class DriftEvent:
    """A detector fired: which variable, at which absolute sample index, and how.

    >>> DriftEvent(variable="v", index=10, detector="adwin", restarted=False).variable
    'v'
    """

    variable: str
    index: int
    detector: str
    restarted: bool
    detail: str = ""


@dataclass(frozen=True)
class ParentRegression:
    """Linear regression of each variable on its lagged parents, from the lagged covariance.

    >>> from causalstream.models.causal.lagcov import LaggedCovariance
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(500, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
    >>> reg = ParentRegression.fit(LaggedCovariance(2, 500, 2).update_many(X).stats(), {0: [], 1: [(0, -1)]}, 2)
    >>> round(float(reg.beta[1][0]), 1), reg.cols[1].tolist()
    (0.8, [2])
    """

    cols: list[np.ndarray]
    beta: list[np.ndarray]
    intercept: np.ndarray
    sigma: np.ndarray

    @classmethod
    def fit(cls, stats: LagStats, parents: dict[int, list[Node]], n_vars: int) -> ParentRegression:
        """Least squares on the window's covariance (pseudo-inverse: constant parents are harmless).

        >>> from causalstream.models.causal.lagcov import LaggedCovariance
        >>> ParentRegression.fit(LaggedCovariance(1, 50, 2).update_many(np.ones((50, 1))).stats(), {0: []}, 1).sigma
        array([0.])
        """
        cols, beta = [], []
        intercept, sigma = np.zeros(n_vars), np.zeros(n_vars)
        for j in range(n_vars):
            c = np.array([-lag * n_vars + v for v, lag in parents.get(j, [])], dtype=np.intp)
            b = np.linalg.pinv(stats.cov[np.ix_(c, c)]) @ stats.cov[c, j] if len(c) else np.zeros(0)
            cols.append(c)
            beta.append(b)
            intercept[j] = stats.mean[j] - b @ stats.mean[c]
            sigma[j] = np.sqrt(max(stats.cov[j, j] - b @ stats.cov[c, j], 0.0))
        return cls(cols=cols, beta=beta, intercept=intercept, sigma=sigma)

    def residuals(self, lagged: np.ndarray) -> np.ndarray:
        """One-step residuals [N] given the lagged row [x_t, x_{t-1}, ...] (NaN where missing).

        >>> ParentRegression([np.array([1])], [np.array([2.0])], np.zeros(1), np.ones(1)).residuals(np.array([5.0, 2.0]))
        array([1.])
        """
        pred = np.array([self.intercept[j] + self.beta[j] @ lagged[c] for j, c in enumerate(self.cols)])
        return lagged[:len(pred)] - pred


class DriftMonitor:
    """Residual drift detection for a :class:`WindowedPCMCI` (one river detector per variable).

    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(1500, 2)); X[1:, 1] += 0.9 * X[:-1, 0]
    >>> X[900:, 1] = 3.0 * rng.normal(size=600)            # the link breaks, the noise grows
    >>> model = WindowedPCMCI(2, 300, 1).update_many(X[:600])
    >>> mon = DriftMonitor(model, detector="adwin", restart=True).refit()
    >>> events = []
    >>> for x in X[600:]:
    ...     _ = model.update(x)
    ...     events += mon.update(x).events
    >>> events[0].variable, 900 <= events[0].index < 1000, events[0].restarted, model.cov.n_samples
    ('$1$', True, True, 300)
    """

    def __init__(self, model: WindowedPCMCI, detector: str = "adwin", restart: bool = False,
                 detector_params: dict[str, Any] | None = None) -> None:
        if detector not in DETECTORS:
            raise ParameterError("DriftMonitor", f"detector must be one of {tuple(DETECTORS)}, got {detector!r}")
        self.model = model
        self.detector = detector
        self.restart = restart
        self.detector_params = DEFAULT_PARAMS.get(detector, {}) | dict(detector_params or {})
        self.events: list[DriftEvent] = []
        self.regression: ParentRegression | None = None
        self._history: deque[np.ndarray] = deque(maxlen=model.tau_max + 1)
        self._detectors = self._fresh()

    def _fresh(self) -> list[Any]:
        return [DETECTORS[self.detector](**self.detector_params) for _ in range(self.model.n_vars)]

    def refit(self, results: dict[str, Any] | None = None) -> DriftMonitor:
        """Fit the residual model to the model's window and parents (those of ``results``, or fresh ones).

        >>> m = WindowedPCMCI(1, 50, 1).update_many(np.random.default_rng(0).normal(size=(60, 1)))
        >>> DriftMonitor(m).refit().regression is not None
        True
        """
        res = results if results is not None else self.model.results()
        parents = res.get("parents") or {}
        if self.model.cov.n_rows < 3:
            self.regression = None
            return self
        self.regression = ParentRegression.fit(self.model.cov.stats(), parents, self.model.n_vars)
        self._detectors = self._fresh()
        return self

    def update(self, x: np.ndarray) -> DriftMonitor:
        """Feed the sample the model just took; ``events`` then lists the drifts it caused.

        >>> m = WindowedPCMCI(1, 50, 1)
        >>> DriftMonitor(m).update(np.zeros(1)).events
        []
        """
        x = np.asarray(x, dtype=np.float64)
        self._history.appendleft(x)
        self.events = []
        if self.regression is None or len(self._history) <= self.model.tau_max:
            return self
        resid = self.regression.residuals(np.concatenate(list(self._history)))
        with np.errstate(divide="ignore", invalid="ignore"):
            z2 = (resid / self.regression.sigma) ** 2
        for j, value in enumerate(z2):
            if not np.isfinite(value):
                continue
            det = self._detectors[j]
            det.update(float(value))
            if det.drift_detected:
                self.events.append(self._event(j))
        if self.events and self.restart:  # the window's owner restarts it at x; until a refit, no model
            self.regression = None
            self._history.clear()
            self._history.appendleft(x)
        return self

    def _event(self, j: int) -> DriftEvent:
        return DriftEvent(variable=self.model.var_names[j], index=self.model.cov.n_seen - 1,
                          detector=self.detector, restarted=self.restart,
                          detail=f"squared standardised residual of {self.model.var_names[j]} changed level")
