"""Supervise a launch: the bus broker in this process, every node as a child process.

Each node runs as ``python -m causalstream.nodes.cli run KIND ...`` in its own process
group, with ``$CAUSALSTREAM_BUS`` set and stdout and stderr merged into one pipe that a
reader thread passes, line by line, to ``echo(source, line)``. The main thread polls the
children: a node that exits is respawned (after ``respawn_delay``, at most
``respawn_max_retries`` times) if it asked for it, from a warm spare (a process started
with ``--standby`` that has imported everything and waits for a line on stdin), so a
respawn does not wait for Python to start; a ``required`` node's exit ends the launch. Stopping (SIGINT/SIGTERM, ``duration``, a required exit) sends SIGINT to every
node's group, SIGTERM after ``sigint_grace`` s, SIGKILL after ``sigterm_grace`` more; a
second signal to the launcher skips to the next step. Nodes also die with the launcher
(``PR_SET_PDEATHSIG``, set by the runner), and whatever child is left at the end is killed.
A container (several nodes in one process, nodes/container.py) is supervised as one node:
one process, one warm spare, its respawn and required; kill it and all its nodes respawn.

>>> from causalstream.nodes.launch_file import NodeSpec
>>> node_command(NodeSpec(name="t", kind="talker", params={"rate_hz": 5}, remap={"chatter": "/c"}))[3:]
['run', 'talker', '--name', 't', '--namespace', '/', '--param', 'rate_hz=5', '--remap', 'chatter:=/c']
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import psutil

from causalstream.nodes.container import container_command
from causalstream.nodes.launch_file import ContainerSpec, LaunchPlan, NodeSpec
from causalstream.nodes.runner import PARENT_ENV
from causalstream.stream import Broker, Endpoints
from causalstream.stream.bus.endpoints import ENV_VAR
from causalstream.stream.bus.security import CLIENT_KEY_ENV, SERVER_KEY_ENV, ServerKeys

__all__ = ["Launcher", "ShutdownPolicy", "node_command"]

log = logging.getLogger(__name__)
Echo = Callable[[str, str], None]
_TICK_S = 0.02


@dataclass(frozen=True)
class ShutdownPolicy:
    """Seconds to wait after SIGINT before SIGTERM, and after SIGTERM before SIGKILL.

    >>> ShutdownPolicy().sigint_grace
    5.0
    """

    sigint_grace: float = 5.0
    sigterm_grace: float = 5.0


def node_command(spec: NodeSpec | ContainerSpec, python: str = sys.executable, standby: bool = False) -> list[str]:
    """The command line that runs ``spec`` (params JSON-encoded, which YAML reads back typed), or a container.

    >>> from causalstream.nodes.launch_file import NodeSpec
    >>> node_command(NodeSpec(name="l", kind="listener", params={"topics": ["/a"]}), python="python")[-2:]
    ['--param', 'topics=["/a"]']
    >>> node_command(ContainerSpec("/box", (NodeSpec(name="l", kind="listener"),)), python="python")[:5]
    ['python', '-m', 'causalstream.nodes.container', '--name', '/box']
    """
    if isinstance(spec, ContainerSpec):
        return container_command(spec.name, spec.node_args(), python, standby)
    cmd = [python, "-m", "causalstream.nodes.cli", "run", spec.kind, "--name", spec.name, "--namespace", spec.namespace]
    for key, value in spec.params.items():
        cmd += ["--param", f"{key}={json.dumps(value)}"]
    for src, dst in spec.remap.items():
        cmd += ["--remap", f"{src}:={dst}"]
    return cmd + ["--standby"] if standby else cmd


def _wake(spare: subprocess.Popen[str]) -> bool:
    """Tell a warm spare to start its node; False if it is gone."""
    if spare.poll() is not None or spare.stdin is None:
        return False
    try:
        spare.stdin.write("go\n")
        spare.stdin.close()
    except BrokenPipeError:
        return False
    return True


def _log_echo(source: str, line: str) -> None:
    log.info("[%s] %s", source, line)


@dataclass
class _Child:
    """One node under supervision, across its respawns."""

    spec: NodeSpec | ContainerSpec
    proc: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None
    spare: subprocess.Popen[str] | None = None  # a warm standby process, for respawn
    spare_reader: threading.Thread | None = None
    respawns: int = 0
    restart_at: float | None = None
    done: bool = False
    pids: list[int] = field(default_factory=list)


class Launcher:
    """Run a :class:`LaunchPlan` until stopped; :meth:`run` returns the exit status.

    ``endpoints`` overrides the plan's bus; ``duration`` stops the launch after that many
    seconds; ``echo(source, line)`` receives every line of output (nodes' and the launcher's).

    >>> from causalstream.nodes.launch_file import LaunchPlan
    >>> Launcher(LaunchPlan(path="empty.yaml"), endpoints=Endpoints.parse("inproc://doc-launch")).run()
    0
    """

    def __init__(self, plan: LaunchPlan, endpoints: Endpoints | None = None, duration: float | None = None,
                 policy: ShutdownPolicy | None = None, echo: Echo | None = None) -> None:
        self.plan = plan
        self.endpoints = endpoints or Endpoints.from_env(plan.bus.endpoint)
        self.duration = duration
        self.policy = policy or ShutdownPolicy()
        self.echo = echo or _log_echo
        self.children = [_Child(spec) for spec in plan.processes()]
        self.status = 0
        self._signals = 0
        self._stopping = ""

    # -- processes ---------------------------------------------------------------------

    def _popen(self, spec: NodeSpec | ContainerSpec, standby: bool) -> tuple[subprocess.Popen[str], threading.Thread]:
        bus = self.plan.bus
        keys = {}  # the launch file's client keys; a node's own env wins
        if bus.client_key and bus.server_key:
            keys = {CLIENT_KEY_ENV: bus.client_key, SERVER_KEY_ENV: bus.server_key}
        env = {**os.environ, **keys, **spec.env, ENV_VAR: str(self.endpoints), "PYTHONUNBUFFERED": "1",
               PARENT_ENV: str(os.getpid()), "CAUSALSTREAM_NODE": spec.qualified_name}
        proc = subprocess.Popen(node_command(spec, standby=standby), env=env,
                                stdin=subprocess.PIPE if standby else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        reader = threading.Thread(target=self._read, args=(spec.qualified_name, proc), daemon=True,
                                  name=f"out{spec.qualified_name}")
        reader.start()
        return proc, reader

    def _spawn(self, child: _Child) -> None:
        """Start the node: promote its warm spare if it has a live one, else a new process."""
        spec, spare = child.spec, child.spare
        child.spare = None
        if spare is not None and _wake(spare):
            child.proc, child.reader = spare, child.spare_reader
            self.echo("launch", f"respawned {spec.qualified_name} from its warm spare, pid {spare.pid}")
        else:
            child.proc, child.reader = self._popen(spec, standby=False)
            self.echo("launch", f"started {spec.qualified_name} ({spec.kind}), pid {child.proc.pid}")
        child.restart_at = None
        child.pids.append(child.proc.pid)
        retries = spec.respawn_max_retries
        if spec.respawn and (retries is None or child.respawns < retries):
            # imported and waiting on stdin: a respawn skips Python's start-up
            child.spare, child.spare_reader = self._popen(spec, standby=True)

    def _read(self, source: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.echo(source, line.rstrip("\n"))

    def _on_exit(self, child: _Child, now: float) -> None:
        proc, spec = child.proc, child.spec
        assert proc is not None and proc.returncode is not None
        if child.reader is not None:
            child.reader.join(timeout=1.0)
        child.proc = None
        code = proc.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        self.echo("launch", f"{spec.qualified_name} (pid {proc.pid}) {how}")
        retries = spec.respawn_max_retries
        if spec.required:
            self.status = 0 if code == 0 else 1
            self._stopping = f"required node {spec.qualified_name} {how}"
        elif spec.respawn and (retries is None or child.respawns < retries):
            child.respawns += 1
            child.restart_at = now + spec.respawn_delay
            limit = "" if retries is None else f" of {retries}"
            self.echo("launch", f"respawning {spec.qualified_name} in {spec.respawn_delay:g} s "
                                f"(respawn {child.respawns}{limit})")
        else:
            child.done = True
            if spec.respawn:
                self.echo("launch", f"{spec.qualified_name}: gave up after {child.respawns} respawns")

    # -- main loop ---------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        self._stopping = self._stopping or signal.Signals(signum).name

    def _supervise(self) -> None:
        end = time.monotonic() + self.duration if self.duration is not None else float("inf")
        while not self._stopping:
            now = time.monotonic()
            if now >= end:
                self._stopping = f"duration {self.duration:g} s reached"
                break
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    self._on_exit(child, now)
                elif child.proc is None and child.restart_at is not None and now >= child.restart_at:
                    self._spawn(child)
            if all(c.done for c in self.children):
                self._stopping = "every node has exited"
                break
            time.sleep(_TICK_S)

    def run(self) -> int:
        """Start the bus and the nodes, supervise, shut down; 0 unless a required node failed."""
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bus = self.plan.bus
        keys = ServerKeys.load(bus.keys, bus.allowed_keys) if bus.keys and bus.allowed_keys else None
        broker = Broker(self.endpoints, keys=keys, insecure=bus.insecure) if bus.start else None
        try:
            if broker is not None:
                broker.start()
                self.echo("launch", f"bus: broker in the launcher (pid {os.getpid()}), {self.endpoints}")
            for child in self.children:
                if not self._stopping:
                    self._spawn(child)
            self._supervise()
            self.echo("launch", f"shutting down: {self._stopping}")
        finally:
            self.shutdown()
            if broker is not None:
                broker.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return self.status

    # -- shutdown ----------------------------------------------------------------------

    def _live(self) -> list[subprocess.Popen[str]]:
        procs = [p for c in self.children for p in (c.proc, c.spare) if p is not None]
        return [p for p in procs if p.poll() is None]

    def _signal_all(self, sig: signal.Signals) -> None:
        for proc in self._live():
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass

    def _wait_all(self, grace: float) -> bool:
        """Wait up to ``grace`` s for every child to exit; a new signal to us cuts it short."""
        seen, end = self._signals, time.monotonic() + grace
        while self._live() and time.monotonic() < end and self._signals == seen:
            time.sleep(_TICK_S)
        return not self._live()

    def shutdown(self) -> None:
        """SIGINT every node, then SIGTERM, then SIGKILL; then kill any descendant left over."""
        descendants = []
        for proc in self._live():
            try:
                descendants += psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for sig, grace in ((signal.SIGINT, self.policy.sigint_grace), (signal.SIGTERM, self.policy.sigterm_grace),
                           (signal.SIGKILL, 5.0)):
            for child in self.children:  # end of input tells a warm spare it is not needed
                if child.spare is not None and child.spare.stdin is not None and not child.spare.stdin.closed:
                    child.spare.stdin.close()
            if not self._live():
                break
            if sig != signal.SIGINT:
                self.echo("launch", f"sending {sig.name} to {', '.join(str(p.pid) for p in self._live())}")
            self._signal_all(sig)
            self._wait_all(grace)
        for child in self.children:
            if child.proc is not None:
                child.proc.wait()
                if child.reader is not None:
                    child.reader.join(timeout=1.0)
                self.echo("launch", f"{child.spec.qualified_name} (pid {child.proc.pid}) exited with status "
                                    f"{child.proc.returncode}")
                child.proc = None
            if child.spare is not None:
                child.spare.wait()
                child.spare = None
        for orphan in descendants:  # a node's own child that left its process group
            try:
                if orphan.is_running():
                    self.echo("launch", f"killing leftover process {orphan.pid}")
                    orphan.kill()
            except psutil.NoSuchProcess:
                pass
