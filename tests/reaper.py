"""A killed test run leaves nothing running, whatever the tests started and however.

:func:`die_with_test` (support.py) covers the children the test process starts itself. This is
the net under everything else: grandchildren, processes in their own session (roscore's master,
a node client, a ``Popen(start_new_session=True)`` of a test), children of a thread. At the start
of a run, :func:`start_reaper` puts a token in the environment, which every process the tests start
inherits, and starts a watchdog in its own session that holds the read end of a pipe only the test
process writes. When the test process is gone (killed, or its end: :func:`stop_reaper`), the read
returns and the watchdog SIGKILLs every process of this user whose environment carries the token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

RUN_ENV = "CAUSALSTREAM_TEST_RUN"
"""The environment variable that marks a process as started by this test run."""

_WATCHDOG = r"""
import os, signal, sys, time
entry, spare = sys.argv[1].encode(), {os.getpid(), int(sys.argv[2])}
sys.stdin.buffer.read()  # end of file: the test process has exited or was killed

def marked():
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in spare:
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if entry in f.read().split(b"\0"):
                        yield int(name)
            except OSError:  # gone, or another user's
                pass

for _ in range(5):  # a dying parent may still start a child: look again until none is left
    pids = list(marked())
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if not pids:
        break
    time.sleep(0.2)
"""


def start_reaper() -> subprocess.Popen:
    """Mark this process's future children with a fresh token and start the watchdog for them."""
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    clean = {k: v for k, v in os.environ.items() if k != RUN_ENV}
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, f"{RUN_ENV}={token}", str(os.getpid())],
                                stdin=subprocess.PIPE, env=clean, start_new_session=True)
    os.environ[RUN_ENV] = token
    return watchdog


def stop_reaper(watchdog: subprocess.Popen) -> None:
    """The run's end: the watchdog kills what is left of it, and exits."""
    if watchdog.stdin is not None:
        watchdog.stdin.close()
    watchdog.wait(30)
