"""Displacement errors and the constant-velocity baseline (numpy).

ADE is the mean Euclidean error over the 12 predicted steps, FDE the error at the last;
``min-of-K`` takes, per agent, the mode with the lowest ADE (the usual best-of-20), and the
deterministic score takes the most probable mode.

>>> truth = np.zeros((1, 12, 2)); pred = np.ones((1, 1, 12, 2))
>>> [round(v, 3) for v in displacement_errors(pred, truth)]
[1.414, 1.414]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = ["constant_velocity", "displacement_errors", "evaluate_windows"]

PredictFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def displacement_errors(
    trajectories: np.ndarray, truth: np.ndarray, probabilities: np.ndarray | None = None
) -> tuple[float, float]:
    """Mean (ADE, FDE) over agents: min-of-K if ``probabilities`` is None, else of the most probable mode.

    ``trajectories`` [N, K, H, 2], ``truth`` [N, H, 2], ``probabilities`` [N, K].

    >>> truth = np.zeros((1, 12, 2))
    >>> pred = np.stack([np.full((12, 2), 3.0), np.zeros((12, 2))])[None]
    >>> displacement_errors(pred, truth), displacement_errors(pred, truth, np.array([[0.9, 0.1]]))[0] > 4
    ((0.0, 0.0), True)
    """
    if trajectories.ndim != 4 or truth.shape != (trajectories.shape[0],) + trajectories.shape[2:]:
        raise ParameterError(
            what="displacement_errors", reason=f"shapes {trajectories.shape} and {truth.shape} do not match"
        )
    err = np.linalg.norm(trajectories - truth[:, None], axis=-1)  # [N, K, H]
    ade = err.mean(axis=-1)
    if probabilities is None:
        pick = ade.argmin(axis=1)
    else:
        pick = np.asarray(probabilities).argmax(axis=1)
    rows = np.arange(len(err))
    return float(ade[rows, pick].mean()), float(err[rows, pick, -1].mean())


def constant_velocity(history: np.ndarray, horizon: int = 12) -> np.ndarray:
    """Extrapolate each agent's last step: ``history`` [A, T, 2] -> ``[A, 1, horizon, 2]``.

    >>> constant_velocity(np.array([[[0.0, 0.0], [1.0, 0.5]]]), horizon=2)[0, 0].tolist()
    [[2.0, 1.0], [3.0, 1.5]]
    """
    if history.ndim != 3 or history.shape[1] < 2:
        raise ParameterError(what="constant_velocity", reason=f"history must be [A, T>=2, 2], got {history.shape}")
    step = history[:, -1] - history[:, -2]
    ahead = np.arange(1, horizon + 1, dtype=history.dtype)[:, None]
    return (history[:, -1, None] + step[:, None] * ahead)[:, None]


def evaluate_windows(predict: PredictFn, windows: Iterable[np.ndarray], observed: int = 8) -> dict[str, float]:
    """Errors of ``predict(history [A, 8, 2]) -> (trajectories [A, K, H, 2], probabilities [A, K])``.

    Returns min-of-K ``ade``/``fde`` and most-probable-mode ``ade_top1``/``fde_top1``, in
    metres, averaged over every agent of every window [A, 8 + H, 2].

    >>> w = np.cumsum(np.ones((2, 20, 2)), axis=1)
    >>> cv = lambda h: (constant_velocity(h), np.ones((len(h), 1)))
    >>> evaluate_windows(cv, [w])
    {'ade': 0.0, 'fde': 0.0, 'ade_top1': 0.0, 'fde_top1': 0.0}
    """
    trajs, probs, truths = [], [], []
    for w in windows:
        traj, prob = predict(np.ascontiguousarray(w[:, :observed], dtype=np.float32))
        trajs.append(traj)
        probs.append(prob)
        truths.append(w[:, observed : observed + traj.shape[2]])
    traj, prob, truth = np.concatenate(trajs), np.concatenate(probs), np.concatenate(truths)
    ade, fde = displacement_errors(traj, truth)
    ade1, fde1 = displacement_errors(traj, truth, prob)
    return {"ade": ade, "fde": fde, "ade_top1": ade1, "fde_top1": fde1}
