"""``causalstream view`` (issue 19 item 1): the live view started against a running bus, end to end.

Real parts only: a launched simulator on a live bus, ``causalstream view`` in its own session,
@foxglove/ws-protocol's FoxgloveClient (tests/js/view_client.mjs) on the URL it prints; no bus
and a taken port are one error line and exit 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from jsclients import needs_node, run_node

from causalstream.stream import Subscriber

from launching import Launch
from support import free_port_pair, run_cli, run_on_taken_port, spawn_cli, stop

SIM_ONLY = """\
nodes:
  - name: sim
    kind: sim
    required: true
    params: {rate_hz: 20, n_reactive: 1, n_followers: 1, n_distractors: 0}
    remap: {agents/state: /agents/state, sim/ground_truth: /sim/ground_truth}
"""


def _url(proc: subprocess.Popen, timeout: float = 60) -> str:
    """The first stdout line of ``causalstream view``: the ws:// URL it serves."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ws://"):
            return line.strip()
        assert line or proc.poll() is None, f"view exited {proc.returncode}: {proc.stderr.read()[-3000:]}"
    raise AssertionError("view printed no URL")


@needs_node
def test_view_serves_a_running_launch_to_the_viewer_client_and_stops_on_sigterm(tmp_path: Path) -> None:
    launch_file = tmp_path / "sim.yaml"
    launch_file.write_text(SIM_ONLY)
    launch = Launch(launch_file, tmp=tmp_path)
    port = free_port_pair()
    view = None
    try:
        with Subscriber("/agents/state", endpoints=launch.endpoints) as sub:  # the sim is running
            assert sub.recv(timeout=60) is not None, launch.output()[-3000:]
        view = spawn_cli("view", "--port", str(port), "--topics", "/agents/state", "/sim/ground_truth",
                         endpoints=launch.endpoints)
        url = _url(view)
        assert url == f"ws://127.0.0.1:{port}"
        res = run_node("view_client.mjs", url, "4", timeout=60)
        os.killpg(view.pid, signal.SIGTERM)
        out, err = view.communicate(timeout=20)
    finally:
        if view is not None and view.poll() is None:
            stop(view)
        launch.close()
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["errors"] == [], got["errors"][:10]
    ch = got["channels"]
    assert {"/agents/state", "/view/scene", "/sim/ground_truth"} <= set(ch), sorted(ch)
    assert not set(ch) & {"/features", "/causal/graph", "/causal/events", "/node/status"}, sorted(ch)  # --topics only
    assert ch["/agents/state"]["messages"] > 40 and ch["/view/scene"]["messages"] > 40  # 20 Hz for 4 s
    assert ch["/sim/ground_truth"]["messages"] >= 1  # latched: sent before the viewer came, re-sent to it
    assert view.returncode == 0, err[-3000:]
    assert "stopping" in err and "Traceback" not in out + err


def test_view_without_a_bus_is_one_line_and_exit_2() -> None:
    port = free_port_pair()
    res = run_cli("view", "--bus", f"tcp://127.0.0.1:{port}", timeout=60)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "no bus answers" in lines[0] and "causalstream bus" in lines[0], lines


def test_view_on_a_taken_port_is_one_line_and_exit_2() -> None:
    res, _ = run_on_taken_port("view", "--port", "{port}")
    assert "ws://" not in res.stdout
