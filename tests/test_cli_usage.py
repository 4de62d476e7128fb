"""The command line as ROS 2 users expect it (issue 20 item 5): one-line usage errors, --topics /a /b."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from causalstream.stream import Subscriber
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import Clock

from support import run_cli, start_bus, stop


@pytest.mark.parametrize("args, words", [
    (["bag", "play", "--nope"], "causalstream bag play: No such option: --nope"),
    (["topic", "echo"], "causalstream topic echo: Missing argument"),
    (["no-such-command"], "No such command 'no-such-command'"),
    (["bag", "play", "x.mcap", "--rate", "fast"], "Invalid value for '--rate'"),
])
def test_a_usage_error_is_one_line_naming_the_command_and_exit_2(args: list[str], words: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert words in res.stderr and "--help" in res.stderr and "╭" not in res.stderr


def test_topics_takes_several_topics_after_one_flag(tmp_path: Path) -> None:
    log = tmp_path / "three.mcap"
    with LogWriter(log) as w:
        for k, topic in enumerate(["/a", "/b", "/c"] * 2):
            w.write(topic, Clock(stamp_ns=k + 1))
    out = tmp_path / "ab.jsonl"
    res = run_cli("bag", "export", str(log), "--format", "jsonl", "--topics", "/a", "/b", "-o", str(out))
    assert res.returncode == 0, res.stderr
    topics = [json.loads(line)["topic"] for line in out.read_text().splitlines()]
    assert sorted(set(topics)) == ["/a", "/b"] and len(topics) == 4


def _ten_hz_log(path: Path, seconds: int = 3) -> Path:
    with LogWriter(path) as w:
        for k in range(10 * seconds):
            stamp = 10**9 + k * 100_000_000
            w.write("/tick", Clock(stamp_ns=stamp), log_time_ns=stamp)
    return path


def test_bag_info_takes_several_logs_and_t_lists_topic_names(tmp_path: Path) -> None:
    a, b = _ten_hz_log(tmp_path / "a.mcap"), tmp_path / "b.mcap"
    with LogWriter(b) as w:
        w.write("/other", Clock(stamp_ns=1))
    res = run_cli("bag", "info", str(a), str(b))
    assert res.returncode == 0 and res.stdout.count("Files:") == 2 and "/tick" in res.stdout and "/other" in res.stdout
    res = run_cli("bag", "info", "-t", str(a), str(b))
    assert res.returncode == 0 and res.stdout.split() == ["/tick", "/other"]


def test_play_with_a_playback_duration_a_delay_and_a_clock_rate(tmp_path: Path) -> None:
    log = _ten_hz_log(tmp_path / "a.mcap")
    endpoints, broker = start_bus()
    try:
        with Subscriber(["/tick", "/clock"], endpoints=endpoints).wait_ready(10) as sub:
            res = run_cli("bag", "play", str(log), "-r", "0", "-d", "0.2", "--playback-duration", "1.0",
                          "--clock", "20", "--wait-subscribers", "5", endpoints=endpoints)
            assert res.returncode == 0, res.stderr
            got: dict[str, list[int]] = {"/tick": [], "/clock": []}
            while (r := sub.recv(timeout=2.0)) is not None:
                got[r.topic].append(r.message.stamp_ns)
    finally:
        stop(broker)
    assert got["/tick"] == [10**9 + k * 100_000_000 for k in range(11)]  # the first second of log time
    assert len(got["/clock"]) == 11 and got["/clock"][1] - got["/clock"][0] == 100_000_000  # 20 Hz: every tick
