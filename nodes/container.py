"""A container: several nodes in one process, one thread each, sharing an in-process bus.

As ROS 2's component containers: the same node kinds run alone or together, only their
transport changes (:class:`~causalstream.nodes.local_bus.ContainerIO`): between the nodes
of a container a message is handed over as an object, and the rest of the bus still sees
it. Every node is built and started (``setup``, publishers, inputs) before any of them
runs, so no node misses its neighbour's first message; then each node's loop runs in its
own thread. The container ends when its first node ends (its exit code is the
container's), or on SIGINT/SIGTERM; the others are stopped and closed. That is why
respawn and required apply to the container as a whole.

The launcher starts a container as ``python -m causalstream.nodes.container SPEC``, SPEC
the JSON list of its nodes (:func:`container_command`).

>>> from causalstream.stream import Broker, Endpoints
>>> nodes = [{"kind": "talker", "name": "t", "params": {"rate_hz": 50, "exit_after": 0.3}, "remap": {"chatter": "/c"}},
...          {"kind": "listener", "name": "l", "params": {"topics": ["/c"]}}]
>>> with Broker(Endpoints.parse("inproc://doc-container")) as b:
...     box = Container(nodes, endpoints=b.endpoints)
...     box.run(), box.nodes[1].counters["in:/c"] >= 10
(0, True)
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from causalstream.nodes.errors import CausalstreamError, NodeError
from causalstream.nodes.local_bus import ContainerIO, LocalHub
from causalstream.nodes.node import Node
from causalstream.nodes.registry import resolve
from causalstream.nodes.runner import die_with_parent, run_stoppable
from causalstream.stream import Endpoints

__all__ = ["Container", "container_command", "main"]

log = logging.getLogger(__name__)
_NODE_KEYS = {"kind", "name", "namespace", "params", "remap"}


def container_command(name: str, nodes: Sequence[Mapping[str, Any]], python: str = sys.executable,
                      standby: bool = False) -> list[str]:
    """The command line that runs a container of ``nodes`` (dicts of kind, name, namespace, params, remap).

    >>> container_command("box", [{"kind": "talker", "name": "t"}], python="python")
    ['python', '-m', 'causalstream.nodes.container', '--name', 'box', '[{"kind": "talker", "name": "t"}]']
    """
    cmd = [python, "-m", "causalstream.nodes.container", "--name", name, json.dumps(list(nodes))]
    return cmd + ["--standby"] if standby else cmd


class Container:
    """The nodes of one container, built on one :class:`LocalHub`; :meth:`run` returns the exit code.

    ``nodes`` are dicts with ``kind`` and optional ``name``, ``namespace``, ``params`` and
    ``remap``; a bad one raises :class:`NodeError` before anything runs.

    >>> Container([{"kind": "talker", "colour": "red"}], endpoints="inproc://doc-bad")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.NodeError: node container: unknown key colour in a container's node
    """

    def __init__(self, nodes: Sequence[Mapping[str, Any]], endpoints: Endpoints | str | None = None,
                 name: str = "container") -> None:
        self.name = name
        self.endpoints = endpoints if isinstance(endpoints, Endpoints) else Endpoints.from_env(endpoints)
        self.hub = LocalHub(self.endpoints)
        self.nodes: list[Node] = []
        for entry in nodes:
            unknown = sorted(set(entry) - _NODE_KEYS)
            if unknown or "kind" not in entry:
                what = f"unknown key {unknown[0]}" if unknown else "no kind"
                raise NodeError(name, f"{what} in a container's node")
            cls = resolve(entry["kind"])
            self.nodes.append(cls(name=entry.get("name") or cls.kind.rpartition(":")[2].lower(),
                                  params=entry.get("params"), namespace=entry.get("namespace", "/"),
                                  remap=entry.get("remap"), io=ContainerIO(self.hub)))
        self.exit_code = 0
        self.running = threading.Event()  # set once every node is started and connected
        self._ended = threading.Event()

    def _loop(self, node: Node) -> None:
        try:
            node.loop()
        except Exception:  # noqa: BLE001 - one node's crash ends the container, as a crash ends a process
            log.exception("%s crashed", node.qualified_name)
            node.exit_code = node.exit_code or 1
        finally:
            if not self._ended.is_set():
                self.exit_code = node.exit_code
                self._ended.set()

    def stop(self) -> None:
        """Ask every node to stop; safe from a signal handler."""
        for node in self.nodes:
            node.stop()
        self._ended.set()

    def run(self, duration: float | None = None) -> int:
        """Start every node, run their loops until one ends (or ``duration``, or :meth:`stop`), close all."""
        threads = []
        try:
            for node in self.nodes:
                node.start()
            self.hub.connect()
            self.running.set()
            for node in self.nodes:
                t = threading.Thread(target=self._loop, args=(node,), name=f"node{node.qualified_name}", daemon=True)
                t.start()
                threads.append(t)
            self._ended.wait(duration)
        finally:
            for node in self.nodes:
                node.stop()
            for t in threads:
                t.join(timeout=10.0)
            for node in reversed(self.nodes):
                node.close()
        return self.exit_code


def main(argv: list[str] | None = None) -> int:
    """``python -m causalstream.nodes.container [--name NAME] NODES_JSON [--standby]``; returns the exit status.

    A usage error is one line on stderr and status 2, as on every command line of the project:

    >>> main(["--name", "box", "not json"])
    2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    standby = "--standby" in args
    args = [a for a in args if a != "--standby"]
    name = "container"
    if len(args) >= 2 and args[0] == "--name":
        name, args = args[1], args[2:]
    try:
        if len(args) != 1:
            raise NodeError(name, "usage: python -m causalstream.nodes.container [--name NAME] NODES_JSON [--standby]")
        try:
            nodes = json.loads(args[0])
        except json.JSONDecodeError as exc:
            raise NodeError(name, f"NODES_JSON does not parse: {exc}") from None
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise NodeError(name, "NODES_JSON is a list of node objects")
        logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True,
                            format="%(levelname)s %(name)s: %(message)s")
        die_with_parent()
        box = Container(nodes, name=name)
        if standby and not sys.stdin.readline():  # end of input: the launcher no longer needs this spare
            return 0
        return run_stoppable(name, box.stop, box.run)
    except CausalstreamError as exc:
        sys.stderr.write(f"error: {exc}\n")  # the command line's one error line, as nodes/cli.py prints it
        return 2


if __name__ == "__main__":
    sys.exit(main())
