"""The viewers' own JavaScript clients for the tests (tests/js: @foxglove/ws-protocol, @mcap/core).

`make test` installs them (`make js-deps`: npm ci from tests/js/package-lock.json). Without node,
or with the packages not installed, the tests that need them skip with one line saying why; CI
has node, so there they always run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from support import die_with_test

JS_DIR = Path(__file__).resolve().parent / "js"
"""tests/js: package.json, its lock file, node_modules and the client scripts."""


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node not found: the viewer-client tests skip (install Node.js; CI has it)"
    for pkg in ("@foxglove/ws-protocol", "@mcap/core"):
        if not (JS_DIR / "node_modules" / pkg / "package.json").is_file():
            return f"{pkg} not installed in tests/js: run `make js-deps` (the viewer-client tests skip)"
    return None


needs_node = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
"""Mark a test that runs a script of tests/js under node."""


def run_node(script: str, *args: str, timeout: float = 60.0, **kw) -> subprocess.CompletedProcess:
    """Run ``tests/js/<script>`` under node with ``args``; stdout and stderr captured as text."""
    return subprocess.run(die_with_test(["node", str(JS_DIR / script), *args]), cwd=JS_DIR, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True, **kw)


def start_client(url: str, *args: str) -> subprocess.Popen:
    """tests/js/view_client.mjs on ``url`` (its own session), stdout and stderr piped as text; end it
    with :func:`stop_client` and read it with :func:`client_report`."""
    return subprocess.Popen(die_with_test(["node", str(JS_DIR / "view_client.mjs"), url, *args]), cwd=JS_DIR, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def stop_client(client: subprocess.Popen | None) -> None:
    """Kill a view client (its own session) that is still running."""
    if client is not None and client.poll() is None:
        os.killpg(client.pid, signal.SIGKILL)
        client.wait()


def client_report(client: subprocess.Popen, out: str, err: str) -> dict:
    """The JSON report of tests/js/view_client.mjs, once it exited 0 and decoded every message."""
    assert client.returncode == 0, err
    got = json.loads(out)
    assert got["errors"] == [], got["errors"][:10]
    return got
