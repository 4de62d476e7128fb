"""Broken launch files: one line naming file, line and field, exit status 2, no node started.

Each file in tests/data/launch_bad/ says on its first line what the error must name:
``# expect: FILE:LINE: FIELD``. The CLI runs as a subprocess; every file also holds a
``user_nodes:Marker`` node, which leaves a file behind if a node process ever starts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from causalstream.nodes.errors import LaunchError
from causalstream.nodes.launch_file import load_launch

from support import CLI, ROOT, cli_env, free_port_pair

BAD = ROOT / "tests" / "data" / "launch_bad"
EXPECT = re.compile(r"^# expect: (?P<file>\S+):(?P<line>\d+): (?P<field>\S+)$")


def _expectation(path: Path) -> re.Match[str]:
    m = EXPECT.match(path.read_text().splitlines()[0])
    assert m, f"{path.name}: first line must be '# expect: FILE:LINE: FIELD'"
    return m


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_launch_file_is_one_line_and_exit_2(path: Path, tmp_path: Path) -> None:
    want = _expectation(path)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = cli_env(extra={"CAUSALSTREAM_TEST_MARKERS": str(markers), "PYTHONPATH": str(ROOT / "tests")})
    cmd = [*CLI, "launch", str(path), "--duration", "3", "--bus", f"tcp://127.0.0.1:{free_port_pair()}"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    print(res.stderr)
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and "Traceback" not in res.stderr
    m = re.search(r"(?P<file>\S+\.yaml):(?P<line>\d+): (?P<field>\S+): \S", lines[0])
    assert m, f"not FILE:LINE: FIELD: reason: {lines[0]}"
    assert m["file"].endswith(want["file"]) and m["line"] == want["line"] and m["field"] == want["field"], lines[0]
    assert "started" not in res.stdout and not list(markers.iterdir()), "a node process was started"


def test_corpus_is_broad() -> None:
    files = sorted(BAD.glob("*.yaml"))
    fields = {_expectation(p)["field"] for p in files}
    assert len(files) >= 15 and len(fields) >= 12


def test_command_line_arg_that_is_not_declared() -> None:
    with pytest.raises(LaunchError, match=r"args\.nope: given on the command line but not declared"):
        load_launch(ROOT / "launch" / "talker.yaml", {"nope": 1})


def test_command_line_arg_of_the_wrong_type_names_the_param_line() -> None:
    with pytest.raises(LaunchError) as err:
        load_launch(ROOT / "launch" / "talker.yaml", {"rate": "fast"})
    assert err.value.field == "nodes[0].params.rate_hz" and err.value.line == 12
