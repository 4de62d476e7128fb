"""Run one node in this process: build it from kind and settings, stop it cleanly on a signal.

What ``causalstream run`` and every process the launcher starts do. SIGINT or SIGTERM
asks the node to stop (its loop ends, ``on_shutdown`` runs, the last heartbeat says
``stopped``); a second signal interrupts at once. Under the launcher
(``$CAUSALSTREAM_PARENT_PID`` set) the process also asks Linux to SIGTERM it when the
launcher dies (``PR_SET_PDEATHSIG``), so no node outlives a killed launcher.

>>> parse_assignments(["rate_hz=5", "topics=[a, b]", "name=x=y"], "=")
{'rate_hz': 5, 'topics': ['a', 'b'], 'name': 'x=y'}
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

import yaml

from causalstream.nodes.errors import NodeError
from causalstream.nodes.node import Node
from causalstream.nodes.registry import resolve
from causalstream.nodes.transport import BusIO
from causalstream.stream import Endpoints
from causalstream.stream.bus.counters import registry as bus_registry

__all__ = ["PARENT_ENV", "build_node", "die_with_parent", "parse_assignments", "run_node", "run_stoppable"]

PARENT_ENV = "CAUSALSTREAM_PARENT_PID"
_PR_SET_PDEATHSIG = 1

log = logging.getLogger(__name__)


def parse_assignments(items: list[str], sep: str, typed: bool = True, what: str = "run") -> dict[str, Any]:
    """``key<sep>value`` strings to a dict; values parsed as YAML when ``typed`` (``5`` is an int).

    >>> parse_assignments(["in:=/chatter"], ":=", typed=False)
    {'in': '/chatter'}
    >>> parse_assignments(["oops"], "=")
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.NodeError: node run: expected key=value, got 'oops'
    """
    out: dict[str, Any] = {}
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise NodeError(what, f"expected key{sep}value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if typed and value else value
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def build_node(kind: str, name: str = "", namespace: str = "/", params: Mapping[str, Any] | None = None,
               remap: Mapping[str, str] | None = None, endpoints: Endpoints | str | None = None) -> Node:
    """A node of ``kind`` on the bus (``endpoints``, else ``$CAUSALSTREAM_BUS``); bad params raise :class:`NodeError`.

    >>> build_node("talker", name="t", params={"rate_hz": 2}).params.rate_hz
    2.0
    """
    cls = resolve(kind)
    return cls(name=name or cls.kind.rpartition(":")[2].lower(), params=params, namespace=namespace, remap=remap,
               io=BusIO(endpoints))


def die_with_parent() -> None:
    """Under the launcher: get SIGTERM when it dies; exit now if it is already gone.

    >>> die_with_parent()  # no $CAUSALSTREAM_PARENT_PID: nothing to do
    """
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # the launcher died before prctl took effect
        raise NodeError(os.environ.get("CAUSALSTREAM_NODE", "?"), f"launcher (pid {parent}) is gone")


def run_stoppable(name: str, stop: Callable[[], object], spin: Callable[[float | None], int],
                  duration: float | None = None) -> int:
    """``spin(duration)`` with SIGINT/SIGTERM calling ``stop()`` (a second signal interrupts at once); its exit code.

    ``name`` (a node's or a container's) names the process in the bus's /bus/stats reports.

    >>> run_stoppable("/box", lambda: None, lambda duration: 3)
    3
    """
    bus_registry.node = name if name.startswith("/") else "/" + name
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s: %s, stopping", name, signal.Signals(signum).name)
        stop()
        for sig in previous:  # a second signal interrupts at once
            signal.signal(sig, signal.default_int_handler)

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        return spin(duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_node(node: Node, duration: float | None = None) -> int:
    """Spin ``node`` until a signal, its own stop, or ``duration``; returns its exit code.

    >>> from causalstream.nodes.testing import MockIO
    >>> from causalstream.nodes.generic import Talker
    >>> run_node(Talker(name="t", params={"exit_after": 0.2, "exit_code": 4}, io=MockIO()))
    4
    """
    return run_stoppable(node.qualified_name, node.stop, node.spin, duration)
