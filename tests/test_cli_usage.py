"""The command line as ROS 2 users expect it (issue 20 item 5): one-line usage errors, --topics /a /b."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import Clock

from support import run_cli


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
