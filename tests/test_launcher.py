"""The launcher with real processes: respawn, required nodes, signals, args and includes.

Every launch runs ``causalstream launch`` as a subprocess on fresh loopback ports; the
test watches the bus (``/node/status`` heartbeats, data topics) and the processes (psutil).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from causalstream.nodes.launch_file import load_launch
from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.bus.security import CLIENT_KEY_ENV, SERVER_KEY_ENV, generate_keys
from causalstream.stream.messages import NodeStatus

from support import CLI, ROOT, cli_env, free_port_pair, run_cli

DATA = ROOT / "tests" / "data" / "launch"


class Launch:
    """A ``causalstream launch`` subprocess, its output in a file, its bus endpoints."""

    def __init__(self, file: Path, *args: str, tmp: Path) -> None:
        self.endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
        self.out_path = tmp / "launch.out"
        env = cli_env(extra={"PYTHONPATH": str(ROOT / "tests")})
        with open(self.out_path, "w") as out:
            self.proc = subprocess.Popen([*CLI, "launch", str(file), "--bus", self.endpoints.pub, *args], env=env,
                                         stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def output(self) -> str:
        return self.out_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator:
    started: list[Launch] = []

    def start(file: Path, *args: str) -> Launch:
        started.append(Launch(file, *args, tmp=tmp_path))
        return started[-1]

    yield start
    for item in started:
        item.close()


def _heartbeat(sub: Subscriber, name: str, timeout: float = 30.0, state: str = "running") -> NodeStatus:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        got = sub.recv(timeout=left)
        if got is not None and isinstance(got.message, NodeStatus) and got.message.name == name \
                and got.message.state == state:
            return got.message
    raise AssertionError(f"no {state!r} heartbeat from {name} within {timeout} s")


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def _next_publisher(sub: Subscriber, topic: str, other_than: str, within: float) -> str:
    """The publisher id of the first message on ``topic`` not from ``other_than``."""
    t0 = time.monotonic()
    while (left := t0 + within - time.monotonic()) > 0:
        got = sub.recv(timeout=left)
        if got is not None and got.topic == topic and got.envelope.publisher != other_than:
            return got.envelope.publisher
    raise AssertionError(f"nothing new on {topic} within {within} s")


def test_a_killed_node_is_respawned_and_publishes_again(launch) -> None:
    run = launch(DATA / "respawn.yaml")
    with Subscriber(["/node/status", "/chatter"], endpoints=run.endpoints) as sub:
        publisher = _next_publisher(sub, "/chatter", "", 30)
        killed: list[int] = []
        for attempt in (1, 2):
            victim = _heartbeat(sub, "/talker")
            while victim.pid in killed:  # a heartbeat still in flight from the last one
                victim = _heartbeat(sub, "/talker")
            killed.append(victim.pid)
            time.sleep(3)  # let the warm spare finish importing
            os.kill(victim.pid, signal.SIGKILL)
            t0 = time.monotonic()
            publisher = _next_publisher(sub, "/chatter", publisher, 10)
            print(f"respawn {attempt}: SIGKILL to the first message of the new process in "
                  f"{time.monotonic() - t0:.2f} s (respawn_delay 0.1 s)")
            assert time.monotonic() - t0 < 10
    run.close()
    assert run.proc.returncode == 0
    out = run.output()
    assert "killed by SIGKILL" in out and "respawning /talker in 0.1 s (respawn 2 of 3)" in out
    assert out.count("respawned /talker from its warm spare") == 2


def test_a_required_node_exit_ends_the_launch(launch) -> None:
    run = launch(DATA / "required.yaml")
    assert run.proc.wait(timeout=60) == 1
    out = run.output()
    assert "/quitter (pid" in out and "exited with status 3" in out
    assert "shutting down: required node /quitter exited with status 3" in out
    pids = [int(line.rsplit("pid ", 1)[1]) for line in out.splitlines() if "] started /" in line]
    assert len(pids) == 2 and not _alive(pids)


def _children_when_up(run: Launch, n: int) -> list[int]:
    with Subscriber("/node/status", endpoints=run.endpoints) as sub:
        deadline = time.monotonic() + 30
        seen: dict[str, int] = {}
        while len(seen) < n and time.monotonic() < deadline:
            got = sub.recv(timeout=1)
            if got is not None:
                seen[got.message.name] = got.message.pid
    assert len(seen) == n, f"only {sorted(seen)} came up"
    kids = [p.pid for p in psutil.Process(run.proc.pid).children(recursive=True)]
    assert set(seen.values()) <= set(kids)
    return kids


def test_sigint_to_the_launcher_leaves_no_child(launch) -> None:
    run = launch(DATA / "three.yaml")
    kids = _children_when_up(run, 3)
    run.proc.send_signal(signal.SIGINT)  # the launcher alone: it must pass the signal on
    assert run.proc.wait(timeout=30) == 0
    assert not _alive(kids), f"left behind: {_alive(kids)}"
    assert run.output().count("exited with status 0") == 3


def test_a_killed_launcher_takes_its_nodes_along(launch) -> None:
    run = launch(DATA / "three.yaml")
    kids = _children_when_up(run, 3)
    run.proc.kill()
    run.proc.wait()
    deadline = time.monotonic() + 15
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kids), f"orphans: {_alive(kids)}"


def test_args_and_includes_reach_the_nodes(launch) -> None:
    plan = load_launch(DATA / "args_top.yaml", {"rate": 4, "greeting": "bonjour"})
    assert [(n.qualified_name, n.params) for n in plan.nodes] == [
        ("/robot1/greeter", {"greeting": "bonjour_from_robot1", "rate_hz": 4}),
        ("/robot1/talker", {"rate_hz": 4}),
    ]
    run = launch(DATA / "args_top.yaml", "rate:=4", "greeting:=bonjour", "robot:=r2")
    with Subscriber(["/node/status", "/r2/greetings"], endpoints=run.endpoints) as sub:
        status = _heartbeat(sub, "/r2/greeter")
        assert status.kind == "user_nodes:Greeter"
        assert {k: json.loads(v) for k, v in status.params.items()} == {"greeting": "bonjour_from_r2", "rate_hz": 4.0}
        while (got := sub.recv(timeout=10)) is not None and got.topic != "/r2/greetings":
            pass
        assert got is not None and got.message.names == ["bonjour_from_r2"], "the user's node published nothing"
    listed = run_cli("node", "list", endpoints=run.endpoints)
    assert listed.returncode == 0, listed.stderr
    assert "/r2/greeter" in listed.stdout and "user_nodes:Greeter" in listed.stdout and "/r2/talker" in listed.stdout
    info = run_cli("node", "info", "/r2/greeter", endpoints=run.endpoints)
    assert "bonjour_from_r2" in info.stdout, info.stdout + info.stderr
    for typed in ("r2/greeter", "greeter"):  # as ros2 takes them: no leading slash; a unique last part
        info = run_cli("node", "info", typed, endpoints=run.endpoints)
        assert info.returncode == 0 and "bonjour_from_r2" in info.stdout, info.stdout + info.stderr


def test_run_one_node_with_params_and_remap(bus: Endpoints) -> None:
    with Subscriber("/elsewhere", endpoints=bus) as sub:
        sub.wait_ready(5)
        proc = subprocess.Popen([*CLI, "run", "talker", "--name", "solo", "--param", "rate_hz=20",
                                 "--param", "name=speed", "--remap", "chatter:=/elsewhere"],
                                env=cli_env(bus), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            got = sub.recv(timeout=30)
            assert got is not None and got.message.names == ["speed"]
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    bad = run_cli("run", "talker", "--param", "rate_hz=-1", endpoints=bus)
    assert bad.returncode == 2 and "rate_hz: Input should be greater than 0" in bad.stderr


def test_a_curve_bus_from_the_launch_file(tmp_path: Path) -> None:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    allowed.mkdir()
    generate_keys(keys, "broker")
    generate_keys(keys, "robot1")
    shutil.copy(keys / "robot1.key", allowed)
    port = free_port_pair()
    file = tmp_path / "curve.yaml"
    file.write_text(f"bus: {{endpoint: tcp://127.0.0.1:{port}, keys: keys/broker.key_secret, allowed_keys: allowed}}\n"
                    "nodes:\n  - {name: talker, kind: talker}\n")
    client = {CLIENT_KEY_ENV: str(keys / "robot1.key_secret"), SERVER_KEY_ENV: str(keys / "broker.key")}
    with open(tmp_path / "out", "w") as out:
        proc = subprocess.Popen([*CLI, "launch", str(file)], env=cli_env(extra=client), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        endpoints = Endpoints.parse(f"tcp://127.0.0.1:{port}")
        deadline = time.monotonic() + 45  # the launcher, its bus and the talker start up first (slow under load)
        while True:
            listed = run_cli("node", "list", "--wait", "3", endpoints=endpoints, env_extra=client)
            if "/talker" in listed.stdout or time.monotonic() > deadline:
                break
        assert "/talker" in listed.stdout, listed.stdout + listed.stderr + (tmp_path / "out").read_text()
        stranger = run_cli("node", "list", "--wait", "1.5", endpoints=endpoints)  # no keys: hears nothing
        assert stranger.returncode == 1 and "/talker" not in stranger.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
