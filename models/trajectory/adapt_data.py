"""Scenes of a new domain for ``causalstream model adapt``: tracks at any rate -> 2.5 Hz windows (numpy).

The model reads 8 observed and 12 predicted steps 0.4 s apart (2.5 Hz). Data recorded faster
is resampled: each agent's track is interpolated linearly onto a 0.4 s grid shared by every
agent (only between samples at most ``max_gap_s`` apart: a track that vanished is cut, not
bridged), then cut into windows as ETH/UCY's text is (:func:`~.data.windows_from_array`).
Data slower than 2.5 Hz is refused with its rate named: interpolating between samples more
than 0.4 s apart would invent motion.

ETH/UCY text files (``frame id x y``) count frames of 25 Hz video: a frame step of 10 is the
model's rate and is read as ``model train`` reads it (:func:`~.data.read_windows`); a step of
2 (12.5 Hz) is resampled; a step of 25 (1 Hz) refused.

>>> t = np.arange(0, 10, 0.1)  # 10 Hz, two walkers, 10 s
>>> ids = np.array(["a", "b"]).repeat(len(t))
>>> xy = np.concatenate([np.stack([t, 0 * t], 1), np.stack([t, 1 + 0 * t], 1)])
>>> windows, rate = windows_at_rate(np.tile(t, 2), ids, xy)
>>> round(rate, 1), len(windows), windows[0].shape, round(float(windows[0][0, 1, 0] - windows[0][0, 0, 0]), 3)
(10.0, 6, (2, 20, 2), 0.4)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from causalstream.models.errors import ParameterError
from causalstream.models.trajectory.data import FRAME_STEP, windows_from_array

__all__ = ["MODEL_RATE_HZ", "data_rate", "text_windows", "windows_at_rate"]

MODEL_RATE_HZ = 2.5
VIDEO_HZ = 25.0  # ETH/UCY's frame numbers count 25 Hz video frames
_TOLERANCE = 0.02  # a rate within 2% of 2.5 Hz is 2.5 Hz


def data_rate(times_s: np.ndarray, ids: np.ndarray) -> float:
    """The data's rate in Hz: 1 / the median step between an agent's consecutive samples.

    >>> data_rate(np.array([0.0, 0.1, 0.2, 0.0, 0.1]), np.array([1, 1, 1, 2, 2]))
    10.0
    >>> data_rate(np.array([0.0, 0.0]), np.array([1, 2]))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: adapt data: no agent is seen twice: no rate to read
    """
    steps = []
    for agent in np.unique(ids):
        t = np.unique(times_s[ids == agent])
        steps.append(np.diff(t))
    steps_all = np.concatenate(steps) if steps else np.zeros(0)
    steps_all = steps_all[steps_all > 0]
    if not len(steps_all):
        raise ParameterError(what="adapt data", reason="no agent is seen twice: no rate to read")
    return float(round(1.0 / np.median(steps_all), 6))


def windows_at_rate(times_s: np.ndarray, ids: np.ndarray, xy: np.ndarray, max_gap_s: float | None = None,
                    min_agents: int = 2) -> tuple[list[np.ndarray], float]:
    """(windows [A, 20, 2] at 2.5 Hz, the data's rate in Hz) from samples (time s, agent id, x y).

    ``max_gap_s`` (default: two of the data's steps, at least 0.4 s) is the longest step
    interpolated across. Below 2.5 Hz raises :class:`ParameterError` naming the rate.

    >>> t = np.arange(0, 30, 1.0)  # 1 Hz
    >>> windows_at_rate(np.tile(t, 2), np.repeat([1, 2], 30), np.zeros((60, 2)))
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: adapt data: the data is at 1 Hz, slower than the model's 2.5 Hz (8 observed, 12 predicted steps 0.4 s apart): not resampled
    """
    times_s, ids, xy = np.asarray(times_s, np.float64), np.asarray(ids), np.asarray(xy, np.float64)
    rate = data_rate(times_s, ids)
    if rate < MODEL_RATE_HZ * (1 - _TOLERANCE):
        raise ParameterError(what="adapt data", reason=f"the data is at {rate:g} Hz, slower than the model's "
                             f"{MODEL_RATE_HZ:g} Hz (8 observed, 12 predicted steps 0.4 s apart): not resampled")
    gap = max_gap_s if max_gap_s is not None else max(2.0 / rate, 1.0 / MODEL_RATE_HZ) + 1e-9
    step = 1.0 / MODEL_RATE_HZ
    origin = times_s.min()
    rows = []
    for k, agent in enumerate(np.unique(ids)):
        mine = ids == agent
        t, order = np.unique(times_s[mine], return_index=True)
        p = xy[mine][order]
        grid = np.arange(np.ceil((t[0] - origin) / step - 1e-9), np.floor((t[-1] - origin) / step + 1e-9) + 1)
        at = origin + grid * step
        right = np.clip(np.searchsorted(t, at - 1e-9), 1, len(t) - 1) if len(t) > 1 else np.zeros(len(at), int)
        ok = (t[right] - t[right - 1] <= gap) if len(t) > 1 else np.ones(len(at), bool)
        x, y = np.interp(at, t, p[:, 0]), np.interp(at, t, p[:, 1])
        keep = ok & np.isfinite(x) & np.isfinite(y)
        rows.append(np.stack([grid[keep] * FRAME_STEP, np.full(keep.sum(), k), x[keep], y[keep]], 1))
    table = np.concatenate(rows) if rows else np.zeros((0, 4))
    return (windows_from_array(table, min_agents) if len(table) else []), rate


def text_windows(path: Path) -> tuple[list[np.ndarray], float]:
    """(windows, rate in Hz) of an ETH/UCY-style text file ``frame id x y`` (25 Hz frame numbers).

    >>> import tempfile
    >>> rows = [[f, p, f / 25.0, p] for f in range(0, 500, 5) for p in (1, 2)]  # frame step 5: 5 Hz
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.savetxt(Path(tmp) / "s.txt", rows, fmt="%.2f", delimiter="\\t")
    ...     windows, rate = text_windows(Path(tmp) / "s.txt")
    >>> rate, len(windows), windows[0].shape
    (5.0, 31, (2, 20, 2))
    """
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ParameterError(what="adapt data", reason=f"cannot read {path}: {exc}") from exc
    if rows.shape[1] != 4 or not len(rows):
        raise ParameterError(what="adapt data", reason=f"{path}: need rows 'frame id x y', got shape {rows.shape}")
    rate = data_rate(rows[:, 0] / VIDEO_HZ, rows[:, 1])
    if abs(rate / MODEL_RATE_HZ - 1) <= _TOLERANCE:
        return windows_from_array(rows), rate  # as `model train` reads ETH/UCY
    try:
        return windows_at_rate(rows[:, 0] / VIDEO_HZ, rows[:, 1], rows[:, 2:4])
    except ParameterError as exc:
        raise ParameterError(what="adapt data", reason=f"{path}: {exc.reason}") from exc
