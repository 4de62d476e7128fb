"""A ``causalstream launch`` subprocess for the reliability tests, and the pids it ran."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.messages import NodeStatus

from support import CLI, ROOT, cli_env, die_with_test, free_port_pair


class Launch:
    """``causalstream launch FILE ARGS`` on fresh loopback ports (or ``endpoints``), output in a file."""

    def __init__(self, file: Path, *args: str, tmp: Path, endpoints: Endpoints | None = None,
                 env: dict[str, str] | None = None, bus_flag: bool = True) -> None:
        self.endpoints = endpoints or Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
        self.out_path = tmp / f"launch-{Path(file).stem}-{time.monotonic_ns()}.out"
        extra = {"PYTHONPATH": str(ROOT / "tests"), **(env or {})}
        cmd = [*CLI, "launch", str(file), *(["--bus", self.endpoints.pub] if bus_flag else []), *args]
        with open(self.out_path, "w") as out:
            self.proc = subprocess.Popen(die_with_test(cmd), env=cli_env(extra=extra), stdout=out, stderr=subprocess.STDOUT,
                                         text=True, start_new_session=True)

    def output(self) -> str:
        return self.out_path.read_text()

    def descendants(self) -> list[int]:
        """Pids of every process under the launcher now (nodes and warm spares)."""
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def close(self, timeout: float = 30) -> int:
        """SIGINT the launcher and wait; SIGKILL its group if it hangs. Returns its status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def alive(pids: list[int] | set[int]) -> list[int]:
    """The pids that still run (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def heartbeats(sub: Subscriber, names: set[str], timeout: float = 60, not_pid: int = 0) -> dict[str, NodeStatus]:
    """Block until every node in ``names`` sent a running heartbeat (from a pid other than ``not_pid``); the last of each."""
    seen: dict[str, NodeStatus] = {}
    deadline = time.monotonic() + timeout
    while set(seen) != names:
        left = deadline - time.monotonic()
        assert left > 0, f"never heard from {sorted(names - set(seen))}"
        got = sub.recv(timeout=left)
        m = got.message if got is not None else None
        if isinstance(m, NodeStatus) and m.state == "running" and m.name in names and m.pid != not_pid:
            seen[m.name] = m
    return seen


def wait_for_nodes(sub: Subscriber, names: set[str], timeout: float = 60) -> dict[str, int]:
    """Block until every node in ``names`` sent a running heartbeat; their pids."""
    return {name: status.pid for name, status in heartbeats(sub, names, timeout).items()}
