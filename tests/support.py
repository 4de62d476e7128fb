"""Test helpers: free ports, CLI subprocesses, waiting for a broker."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.errors import BusTimeoutError

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "causalstream.nodes.cli"]
_SETPRIV = shutil.which("setpriv")


def die_with_test(cmd: list[str]) -> list[str]:
    """``cmd`` run so that Linux kills it (SIGKILL) when this test process dies, even by SIGKILL:
    util-linux's ``setpriv --pdeathsig`` sets it and execs ``cmd`` (same pid). Only from the main
    thread: the signal follows the thread that started the child, and a test's own thread ends early.
    (A launcher's nodes follow their launcher by themselves: nodes/runner.py.)"""
    if _SETPRIV is None or threading.current_thread() is not threading.main_thread():
        return cmd
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd]


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free on 127.0.0.1 right now.

    Ports come from below the kernel's ephemeral range (32768-60999 on Linux). A port from that range
    can be taken by a reconnecting client: ZeroMQ retries `connect` to a port nobody listens on yet,
    and the kernel may give the client that very port as its source port (a TCP self-connection),
    after which the broker cannot bind it.
    """
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(20000, min(low, 32768) - 2)
        if all(_free(p) for p in (port, port + 1)):
            return port
    raise OSError("no free port pair")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cli_env(endpoints: Endpoints | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONUNBUFFERED"] = "1"
    if endpoints is not None:
        env["CAUSALSTREAM_BUS"] = str(endpoints)
    return env


def run_cli(*args: str, endpoints: Endpoints | None = None, timeout: float = 60, env_extra: dict[str, str] | None = None,
            **kw) -> subprocess.CompletedProcess:
    return subprocess.run(die_with_test([*CLI, *args]), env=cli_env(endpoints, env_extra), capture_output=True,
                          text=True, timeout=timeout, **kw)


def run_on_taken_port(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI on a bus of its own with ``{port}`` in ``args`` a loopback port already taken;
    assert it failed as a taken port must: exit 2 and one "cannot listen" line naming the port."""
    endpoints, broker = start_bus()
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            res = run_cli(*(a.format(port=port) for a in args), endpoints=endpoints, timeout=timeout)
    finally:
        stop(broker)
    assert res.returncode == 2, (res.stdout, res.stderr)
    errors = [line for line in (res.stdout + res.stderr).splitlines() if "cannot listen" in line]
    assert len(errors) == 1 and str(port) in errors[0], res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    return res, port


def spawn_cli(*args: str, endpoints: Endpoints | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        die_with_test([*CLI, *args]), env=cli_env(endpoints), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, **kw,
    )


def start_bus(*args: str, **kw) -> tuple[Endpoints, subprocess.Popen]:
    """A broker process (`causalstream bus ARGS`) on fresh loopback ports, answering; stop it with :func:`stop`."""
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
    proc = spawn_cli("bus", "--endpoint", endpoints.pub, *args, **kw)
    try:
        wait_for_broker(endpoints, proc=proc)
    except BaseException:
        stop(proc)
        raise
    return endpoints, proc


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> tuple[str, str]:
    """Ctrl-C the process group; one still running after ``timeout`` dumps its threads'
    stacks (SIGUSR1, the CLI's faulthandler) into a pytest warning and is killed."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            return proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGUSR1)
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            warnings.warn(f"{proc.args} still running {timeout} s after SIGINT; its stderr ends:\n{err[-3000:]}", stacklevel=2)
            return out, err
    return proc.communicate()


def wait_for_broker(endpoints: Endpoints, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until a broker answers on `endpoints`; fail at once with its stderr if `proc` has exited."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise BusTimeoutError(endpoints.sub, f"broker exited with {proc.returncode}: {proc.stderr.read().strip()}")
        sub = Subscriber("/probe", endpoints=endpoints)
        try:
            sub.wait_ready(0.5)
            return
        except BusTimeoutError:
            if time.monotonic() > deadline:
                raise
        finally:
            sub.close()
