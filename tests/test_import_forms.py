"""Every ROS 2 bag form rosbags reads, and tables without a time column (issue 20 items 3 and 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_logs_files import _write_bag

from causalstream.stream.log.reader import read_log
from causalstream.stream.messages import AgentStates, Features

from support import run_cli


def _imported(src: Path, where: Path) -> list[AgentStates]:
    where.mkdir(exist_ok=True)
    out = where / "out.mcap"
    res = run_cli("bag", "import", str(src), "--from", "rosbag", "-o", str(out))
    assert res.returncode == 0, res.stderr
    return [e.message for e in read_log(out)]


def test_a_single_ros2_mcap_file_and_a_folder_without_metadata_import(tmp_path: Path) -> None:
    folder = _write_bag(tmp_path / "bag", "ros2-mcap")
    whole = _imported(folder, tmp_path / "a")
    assert len(whole) == 5
    (mcap,) = folder.glob("*.mcap")
    alone = tmp_path / "nav2_turtlebot.mcap"  # what `ros2 bag record -s mcap` leaves, copied on its own
    shutil.copy(mcap, alone)
    single = _imported(alone, tmp_path / "b")
    (folder / "metadata.yaml").unlink()  # a folder whose metadata was lost: its .mcap files are whole
    bare = _imported(folder, tmp_path / "c")
    def key(msgs: list[AgentStates]) -> list[str]:  # repr: NaN (a twist has no position) equals NaN
        return [repr((m.stamp_ns, m.ids, m.x.tolist(), m.y.tolist(), m.vx.tolist(), m.heading.tolist())) for m in msgs]

    assert key(single) == key(whole) and key(bare) == key(whole)


@pytest.mark.parametrize("case", ["sqlite3 folder without metadata", "empty folder", "missing path", "text file"])
def test_what_is_not_a_bag_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    if case == "sqlite3 folder without metadata":
        src = _write_bag(tmp_path / "bag", "ros2-sqlite3")
        (src / "metadata.yaml").unlink()
        want = "no metadata.yaml"
    elif case == "empty folder":
        src = tmp_path / "empty"
        src.mkdir()
        want = "no metadata.yaml"
    elif case == "missing path":
        src, want = tmp_path / "nope.db3", "no such file"
    else:
        src = tmp_path / "notes.txt"
        src.write_text("hello")
        want = "not a ROS bag"
    res = run_cli("bag", "import", str(src), "--from", "rosbag", "-o", str(tmp_path / "o.mcap"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and want in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_table_without_a_time_column_imports_at_a_given_rate(tmp_path: Path) -> None:
    csv = tmp_path / "sensors.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, np.nan, 1.5]}).to_csv(csv, index=False)
    res = run_cli("bag", "import", str(csv), "--from", "csv", "-o", str(tmp_path / "x.mcap"))
    assert res.returncode == 2 and "--rate HZ" in res.stderr  # the hint names the way out
    res = run_cli("bag", "import", str(csv), "--from", "csv", "--rate", "4", "--start", "10", "-o",
                  str(tmp_path / "o.mcap"))
    assert res.returncode == 0, res.stderr
    msgs = [e.message for e in read_log(tmp_path / "o.mcap")]
    assert all(isinstance(m, Features) for m in msgs)
    assert [m.stamp_ns for m in msgs] == [10_000_000_000, 10_250_000_000, 10_500_000_000]
    assert msgs[0].names == ["a", "b"] and np.isnan(msgs[1].values[1])
    for bad in (["--rate", "0"], ["--rate", "4", "--time-column", "a"]):
        res = run_cli("bag", "import", str(csv), "--from", "csv", *bad, "-o", str(tmp_path / "p.mcap"))
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
