"""ETH/UCY windows for training and benchmarking: pure numpy, no torch, no I/O beyond text files.

The Social-GAN protocol: scenes as ``frame  ped_id  x  y`` text (frames step 10, 2.5 Hz),
20-frame windows sliding by one frame, only agents present in all 20 frames, only windows
with at least two such agents; the first 8 steps are observed, the last 12 predicted.
Leave-one-out: train on every other scene's ``train/`` files, select on their ``val/``
files, test on the held-out scene's ``all_data/`` files (bench/data/eth_ucy/README.md).

>>> w = windows_from_array(np.array([[f, p, f / 10.0 + p, 0.0] for f in range(0, 200, 10) for p in (1, 2)]))
>>> len(w), w[0].shape
(1, (2, 20, 2))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from causalstream.models.errors import ParameterError

__all__ = [
    "FUTURE_STEPS",
    "OBSERVED_STEPS",
    "SCENES",
    "leave_one_out",
    "read_windows",
    "windows_from_array",
]

OBSERVED_STEPS = 8
FUTURE_STEPS = 12
WINDOW = OBSERVED_STEPS + FUTURE_STEPS
FRAME_STEP = 10

# Held-out scene -> the file stems that make it up (README.md of the data).
SCENES: dict[str, tuple[str, ...]] = {
    "eth": ("biwi_eth",),
    "hotel": ("biwi_hotel",),
    "univ": ("students001", "students003"),
    "zara1": ("crowds_zara01",),
    "zara2": ("crowds_zara02",),
}
ALL_STEMS = (
    "biwi_eth", "biwi_hotel", "crowds_zara01", "crowds_zara02", "crowds_zara03",
    "students001", "students003", "uni_examples",
)


def windows_from_array(rows: np.ndarray, min_agents: int = 2) -> list[np.ndarray]:
    """Cut ``[n, 4]`` rows (frame, id, x, y) into windows ``[A, 20, 2]`` (float32, oldest first).

    A window spans 20 consecutive frames (step 10); it keeps the agents seen in every one
    of them, and is kept if it has at least ``min_agents`` agents.

    >>> rows = np.array([[f, 1, f / 10.0, 0.0] for f in range(0, 210, 10)])
    >>> [w.shape for w in windows_from_array(rows, min_agents=1)]
    [(1, 20, 2), (1, 20, 2)]
    """
    if rows.ndim != 2 or rows.shape[1] != 4 or len(rows) == 0:
        raise ParameterError(what="windows_from_array", reason=f"rows must be [n, 4], got {rows.shape}")
    frame = np.rint((rows[:, 0] - rows[:, 0].min()) / FRAME_STEP).astype(np.int64)
    ids, agent = np.unique(rows[:, 1], return_inverse=True)
    grid = np.full((frame.max() + 1, len(ids), 2), np.nan, dtype=np.float64)
    grid[frame, agent] = rows[:, 2:4]
    present = np.isfinite(grid).all(axis=2).astype(np.int64)  # [F, P]
    run = np.concatenate([np.zeros((1, len(ids)), np.int64), present.cumsum(axis=0)])
    full = (run[WINDOW:] - run[:-WINDOW]) == WINDOW  # [F - 19, P]: present in all 20
    out = []
    for start in np.flatnonzero(full.sum(axis=1) >= min_agents):
        cols = np.flatnonzero(full[start])
        out.append(grid[start : start + WINDOW, cols].transpose(1, 0, 2).astype(np.float32))
    return out


def read_windows(paths: list[Path] | tuple[Path, ...]) -> list[np.ndarray]:
    """Windows of every file in ``paths`` (each file cut on its own).

    >>> import tempfile
    >>> rows = [[f, p, f / 25.0, p] for f in range(0, 250, 10) for p in (1, 2, 3)]  # 25 frames, 3 walkers
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.savetxt(Path(tmp) / "scene.txt", rows, fmt="%.2f", delimiter="\t")
    ...     w = read_windows([Path(tmp) / "scene.txt"])
    >>> len(w), w[0].shape  # 25 - 20 + 1 windows of all three
    (6, (3, 20, 2))
    """
    out: list[np.ndarray] = []
    for path in paths:
        try:
            rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as exc:
            raise ParameterError(what="read_windows", reason=f"cannot read {path}: {exc}") from exc
        out.extend(windows_from_array(rows))
    return out


def leave_one_out(root: Path, test_scene: str | None) -> dict[str, list[Path]]:
    """The train, val and test files of one leave-one-out split (``None``: train on all, no test).

    >>> split = leave_one_out(Path("eth_ucy"), "univ")
    >>> [p.name for p in split["test"]]
    ['students001.txt', 'students003.txt']
    >>> len(split["train"]), len(split["val"])
    (6, 6)
    """
    if test_scene is not None and test_scene not in SCENES:
        raise ParameterError(what="leave_one_out", reason=f"unknown scene {test_scene!r}, one of {sorted(SCENES)}")
    held = SCENES[test_scene] if test_scene else ()
    kept = [s for s in ALL_STEMS if s not in held]
    return {
        "train": [root / "train" / f"{s}_train.txt" for s in kept],
        "val": [root / "val" / f"{s}_val.txt" for s in kept],
        "test": [root / "all_data" / f"{s}.txt" for s in held],
    }
