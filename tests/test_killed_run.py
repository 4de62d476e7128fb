"""A killed test run leaves nothing running: what support.py starts dies with the test process.

A stand-in for a test run (a Python process that starts a bus and a launch the way the tests
do) is killed with SIGKILL, so no finally block or fixture runs; the bus, the launcher and its
nodes must all be gone a few seconds later.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from support import _SETPRIV, ROOT

_RUN = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from support import start_bus
from launching import Launch
endpoints, bus = start_bus()
launch = Launch(Path({launch!r}), tmp=Path({tmp!r}))
print(bus.pid, launch.proc.pid, flush=True)
time.sleep(120)
"""

_PAIR = """
nodes:
  - {name: talker, kind: talker, params: {rate_hz: 20}}
  - {name: listener, kind: listener, params: {topics: [/chatter]}}
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its reaper is dead
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(_SETPRIV is None, reason="util-linux's setpriv is not installed")
def test_a_killed_test_run_leaves_no_bus_no_launcher_and_no_node(tmp_path) -> None:
    launch_file = tmp_path / "pair.yaml"
    launch_file.write_text(_PAIR)
    code = _RUN.format(tests=str(ROOT / "tests"), launch=str(launch_file), tmp=str(tmp_path))
    run = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    left: list[int] = [run.pid]
    try:
        bus, launcher = (int(p) for p in run.stdout.readline().split())
        left += [bus, launcher]
        deadline = time.monotonic() + 30
        while len(nodes := _children(launcher)) < 2:
            assert time.monotonic() < deadline, "the launch did not start its two nodes"
            time.sleep(0.2)
        left += nodes
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in left) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in left[1:] if _alive(p)], "left running after the test process was killed"
    finally:  # if the assertion failed, this test must not leave them either
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run.wait(10)


_LOOSE = """
import subprocess, sys, time
sys.path.insert(0, {tests!r})
from reaper import start_reaper
start_reaper()
sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
own_session = subprocess.Popen(sleep, start_new_session=True)  # what die_with_test does not reach
spawner = subprocess.Popen([sys.executable, "-c",
                            "import subprocess, sys, time; p = subprocess.Popen(sys.argv[1:], start_new_session=True);"
                            " print(p.pid, flush=True); time.sleep(120)", *sleep], stdout=subprocess.PIPE, text=True)
grandchild = int(spawner.stdout.readline())
print(own_session.pid, spawner.pid, grandchild, flush=True)
time.sleep(120)
"""


def test_a_killed_test_run_leaves_no_process_of_its_own_session_or_a_grandchild(tmp_path) -> None:
    """reaper.py: children in their own session and grandchildren die with a killed run too."""
    run = subprocess.Popen([sys.executable, "-c", _LOOSE.format(tests=str(ROOT / "tests"))], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    left: list[int] = [run.pid]
    try:
        left += [int(p) for p in run.stdout.readline().split()]
        assert len(left) == 4 and all(_alive(p) for p in left)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in left[1:]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in left[1:] if _alive(p)], "left running after the test process was killed"
    finally:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run.wait(10)
