"""Test helpers: free ports, CLI subprocesses, waiting for a broker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.errors import BusTimeoutError

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "causalstream.nodes.cli"]


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise OSError("no free port pair")


def cli_env(endpoints: Endpoints | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONUNBUFFERED"] = "1"
    if endpoints is not None:
        env["CAUSALSTREAM_BUS"] = str(endpoints)
    return env


def run_cli(*args: str, endpoints: Endpoints | None = None, timeout: float = 60, env_extra: dict[str, str] | None = None,
            **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=cli_env(endpoints, env_extra), capture_output=True, text=True,
                          timeout=timeout, **kw)


def spawn_cli(*args: str, endpoints: Endpoints | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *args], env=cli_env(endpoints), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, **kw,
    )


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> tuple[str, str]:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            return proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()


def wait_for_broker(endpoints: Endpoints, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        sub = Subscriber("/probe", endpoints=endpoints)
        try:
            sub.wait_ready(0.5)
            return
        except BusTimeoutError:
            if time.monotonic() > deadline:
                raise
        finally:
            sub.close()


