"""ETH/UCY windowing, leave-one-out splits, metrics and the constant-velocity baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from causalstream.models.errors import ParameterError
from causalstream.models.trajectory.data import leave_one_out, read_windows, windows_from_array
from causalstream.models.trajectory.metrics import constant_velocity, displacement_errors

ROOT = Path(__file__).resolve().parents[1] / "bench" / "data" / "eth_ucy"


def _rows(agents: dict[int, range]) -> np.ndarray:
    return np.array([[f, a, f / 10.0, a] for a, frames in agents.items() for f in frames], dtype=float)


def test_windows_keep_only_agents_present_in_all_twenty_frames() -> None:
    rows = _rows({1: range(0, 300, 10), 2: range(0, 300, 10), 3: range(50, 300, 10)})
    windows = windows_from_array(rows)
    assert len(windows) == 11  # 30 frames -> 11 windows of 20
    assert [len(w) for w in windows] == [2] * 5 + [3] * 6
    np.testing.assert_allclose(windows[0][0, :, 0], np.arange(20))


def test_a_missing_frame_splits_the_track_and_single_agents_are_dropped() -> None:
    frames = [f for f in range(0, 300, 10) if f != 150]
    windows = windows_from_array(_rows({1: frames, 2: frames}))
    assert windows == [] or all(len(w) == 2 for w in windows)
    assert len(windows) == 0  # 15 frames before the hole, 14 after: no 20-frame window
    assert windows_from_array(_rows({1: range(0, 200, 10)})) == []
    assert len(windows_from_array(_rows({1: range(0, 200, 10)}), min_agents=1)) == 1


def test_constant_velocity_reproduces_the_readme_numbers() -> None:
    want = {"eth": (0.995, 2.234), "hotel": (0.323, 0.617), "zara1": (0.431, 0.960)}
    for scene, (ade, fde) in want.items():
        x = np.concatenate(read_windows(leave_one_out(ROOT, scene)["test"]))
        got = displacement_errors(constant_velocity(x[:, :8]), x[:, 8:])
        assert got == pytest.approx((ade, fde), abs=1e-3), scene


def test_leave_one_out_never_trains_on_the_test_scene() -> None:
    for scene in ("eth", "hotel", "univ", "zara1", "zara2"):
        split = leave_one_out(ROOT, scene)
        test_stems = {p.stem for p in split["test"]}
        assert test_stems
        for part in ("train", "val"):
            assert all(p.is_file() for p in split[part])
            assert not {p.stem.rsplit("_", 1)[0] for p in split[part]} & test_stems
    assert leave_one_out(ROOT, None)["test"] == []
    with pytest.raises(ParameterError, match="unknown scene"):
        leave_one_out(ROOT, "zara3")


def test_min_of_k_and_most_probable_mode() -> None:
    truth = np.zeros((2, 12, 2))
    modes = np.stack([np.zeros((12, 2)), np.full((12, 2), [3.0, 4.0])])  # errors 0 and 5
    pred = np.stack([modes, modes[::-1]])
    assert displacement_errors(pred, truth) == (0.0, 0.0)
    assert displacement_errors(pred, truth, np.array([[0.2, 0.8], [0.2, 0.8]])) == (2.5, 2.5)
    with pytest.raises(ParameterError):
        displacement_errors(pred, truth[:1])
