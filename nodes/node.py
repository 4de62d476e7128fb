"""The Node runtime: the whole API a node author needs.

A node kind is a :class:`Node` subclass with a pydantic ``Params`` model. It declares its
inputs, outputs and timers in :meth:`Node.setup` by names of its own choosing; the launch
file's namespace and remaps decide which topics those are, so a node never names its
peers. Then either handlers run (``subscribe(name, handler)``, ``timer(period, callback)``)
or the author writes a plain loop, dora style: ``for event in self: ...``.

The runtime adds what every node has: a heartbeat on ``/node/status`` (state and counters
``in``, ``out``, ``gaps``, ``bad``), logging to ``/log``, and a clean stop on
:meth:`Node.stop` (which the runner calls on SIGINT/SIGTERM).

>>> from causalstream.nodes.testing import MockNode
>>> from causalstream.stream.messages import Clock
>>> class Doubler(Node):
...     class Params(NodeParams):
...         factor: int = 2
...     def setup(self):
...         self.out = self.publisher("out", Clock)
...         self.subscribe("in", self.on_clock)
...     def on_clock(self, event):
...         self.out.publish(Clock(stamp_ns=event.message.stamp_ns * self.params.factor))
>>> mock = MockNode(Doubler, params={"factor": 3}).feed("in", Clock(stamp_ns=7)).run()
>>> [m.stamp_ns for m in mock.outputs("out")], mock.node.counters["in"]
([21], 1)
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from causalstream.nodes.errors import NodeError
from causalstream.nodes.names import join_namespace, qualified_name, resolve_topic
from causalstream.nodes.transport import ALL_TOPICS, BusIO, NodeIO, Sink
from causalstream.stream.codec import Envelope
from causalstream.stream.messages import LogLine, Message, NodeStatus

__all__ = ["Input", "Node", "NodeParams", "Output", "Tick", "format_validation_error"]

STATUS_TOPIC = "/node/status"
LOG_TOPIC = "/log"
_POLL_S = 0.1  # longest wait before the loop looks at the stop flag again


class NodeParams(BaseModel):
    """Base of every node kind's parameters: typed, unknown keys rejected, frozen.

    >>> class P(NodeParams):
    ...     rate_hz: float = 10.0
    >>> P(rate_hz="5").rate_hz
    5.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Input:
    """A message arrived on an input: ``name`` as the node subscribed it, ``topic`` as resolved.

    A node with ``raw_inputs`` gets ``message`` None and the ``envelope`` with the payload
    still encoded.

    >>> from causalstream.stream.messages import Clock
    >>> Input("in", "/chatter", Clock(stamp_ns=1)).message.stamp_ns
    1
    """

    name: str
    topic: str
    message: Message
    envelope: Envelope | None = None


@dataclass(frozen=True)
class Tick:
    """A timer without a callback fired; ``name`` is the timer's.

    >>> Tick("sample").name
    'sample'
    """

    name: str


@dataclass
class Output:
    """An output of a node: publishes on the resolved topic and counts ``out``.

    >>> from causalstream.stream.messages import Clock
    >>> class Listed:  # a Sink: the bus publisher in a running node
    ...     def __init__(self): self.sent = []
    ...     def publish(self, msg): self.sent.append(msg); return len(self.sent)
    ...     def close(self): pass
    >>> out = Output("tick", "/tick", Listed(), Node(name="n"))
    >>> out.publish(Clock(stamp_ns=1)), out.publish(Clock(stamp_ns=2)), out.node.counters["out"]
    (1, 2, 2)
    """

    name: str
    topic: str
    sink: Sink
    node: Node

    def publish(self, msg: Message) -> int:
        """Send one message; returns its sequence number."""
        self.node.counters["out"] += 1
        return self.sink.publish(msg)


@dataclass
class _Timer:
    name: str
    period: float
    callback: Callable[[], object] | None
    due: float = 0.0


@dataclass
class _Input:
    name: str
    handler: Callable[[Input], object] | None
    msg_type: type[Message] | None = None


def format_validation_error(exc: ValidationError) -> str:
    """One line per pydantic error: ``field: reason``, joined by ``; ``.

    >>> class P(NodeParams):
    ...     n: int = 1
    >>> try:
    ...     P(n="x")
    ... except ValidationError as exc:
    ...     format_validation_error(exc)
    'n: Input should be a valid integer, unable to parse string as an integer'
    """
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors())


class _LogToBus(logging.Handler):
    """Publishes a node's log records on ``/log`` (never re-entering itself)."""

    def __init__(self, node: Node) -> None:
        super().__init__(logging.INFO)
        self.node = node
        self._lock = threading.RLock()
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        sink = self.node._log_sink
        if sink is None or self._busy:
            return
        with self._lock:
            self._busy = True
            try:
                sink.publish(LogLine(stamp_ns=time.time_ns(), node=self.node.qualified_name,
                                     level=record.levelno, logger=record.name, msg=record.getMessage()))
            except Exception:  # noqa: BLE001 - a log line must never take the node down
                self.handleError(record)
            finally:
                self._busy = False


class Node:
    """Base class of every node kind; see the module docstring for a complete example.

    Constructor arguments come from the launch file or ``causalstream run``: ``params`` a
    mapping (validated by ``Params``) or a ``Params`` instance; ``remap`` maps names the node
    uses to topics. ``io`` defaults to the bus at ``$CAUSALSTREAM_BUS``.

    >>> Node(name="n", namespace="robot1").qualified_name
    '/robot1/n'
    """

    Params: ClassVar[type[NodeParams]] = NodeParams
    kind: ClassVar[str] = ""
    raw_inputs: ClassVar[bool] = False  # True: inputs arrive encoded (Input.envelope), as the recorder wants

    def __init__(
        self,
        name: str = "",
        params: NodeParams | Mapping[str, Any] | None = None,
        namespace: str = "/",
        remap: Mapping[str, str] | None = None,
        io: NodeIO | None = None,
        heartbeat_s: float = 1.0,
    ) -> None:
        self.name = name or self.kind or type(self).__name__.lower()
        self.namespace = join_namespace("", namespace)
        self.remap = dict(remap or {})
        self.qualified_name = qualified_name(self.name, self.namespace)
        self.params = self.validate_params(params, self.qualified_name)
        self.io: NodeIO = io if io is not None else BusIO()
        self.heartbeat_s = heartbeat_s
        self.counters: collections.Counter[str] = collections.Counter({"in": 0, "out": 0, "gaps": 0, "bad": 0})
        self.state = "created"
        self.exit_code = 0
        self.log = logging.getLogger("causalstream.node" + self.qualified_name.replace("/", "."))
        if self.log.level == logging.NOTSET:  # /log carries INFO and up, whatever the root logger says
            self.log.setLevel(logging.INFO)
        self._inputs: dict[str, _Input] = {}
        self._timers: list[_Timer] = []
        self._pending: collections.deque[Input | Tick] = collections.deque(maxlen=10_000)
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._status_sink: Sink | None = None
        self._log_sink: Sink | None = None
        self._log_handler = _LogToBus(self)

    @classmethod
    def validate_params(cls, params: NodeParams | Mapping[str, Any] | None, node: str = "") -> NodeParams:
        """``params`` checked against ``cls.Params``; a bad one raises :class:`NodeError`.

        >>> Node.validate_params({"x": 1}, "n")
        Traceback (most recent call last):
        ...
        causalstream.nodes.errors.NodeError: node n: bad params: x: Extra inputs are not permitted
        """
        if isinstance(params, cls.Params):
            return params
        try:
            return cls.Params.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise NodeError(node or cls.kind, f"bad params: {format_validation_error(exc)}") from None

    # -- what the author calls ---------------------------------------------------------

    def setup(self) -> None:
        """Override: declare outputs, inputs and timers. Runs once, in :meth:`start`."""

    def on_event(self, event: Input | Tick) -> None:
        """Override: handle an event that has no handler of its own (the default loop calls this)."""

    def on_shutdown(self) -> None:
        """Override: release what :meth:`setup` acquired. Runs once, in :meth:`close`."""

    def loop(self) -> None:
        """The node's main loop; override with a plain loop of your own if you like."""
        for event in self:
            self.on_event(event)

    def topic(self, name: str) -> str:
        """The topic ``name`` resolves to for this node (namespace, then remap)."""
        return resolve_topic(name, self.namespace, self.remap, self.name)

    def publisher(self, name: str, msg_type: type[Message] | None = None, latched: bool | None = None) -> Output:
        """An output on ``name`` (resolved); ``msg_type`` None takes any message type.

        ``latched=True`` declares the topic latched: a late subscriber gets its last message,
        wherever a launch file remaps it (None: the well-known table's default for the
        resolved name).
        """
        topic = self.topic(name)
        return Output(name, topic, self.io.open_publisher(topic, msg_type, self.qualified_name, latched), self)

    def subscribe(self, name: str, handler: Callable[[Input], object] | None = None,
                  msg_type: type[Message] | None = None) -> str:
        """Receive ``name`` (resolved; :data:`ALL_TOPICS`: every topic): ``handler(event)`` per message,
        or as events of the loop."""
        if self.state != "created" and self.state != "starting":
            raise NodeError(self.qualified_name, f"subscribe({name!r}) after start: declare inputs in setup()")
        topic = ALL_TOPICS if name == ALL_TOPICS else self.topic(name)
        self._inputs[topic] = _Input(name, handler, msg_type)
        return topic

    def timer(self, period_s: float, callback: Callable[[], object] | None = None, name: str = "") -> None:
        """Call ``callback`` every ``period_s`` seconds, or yield a :class:`Tick` to the loop."""
        if period_s <= 0:
            raise NodeError(self.qualified_name, f"timer period must be > 0, got {period_s}")
        self._timers.append(_Timer(name or f"timer{len(self._timers)}", period_s, callback, self.io.now() + period_s))

    @property
    def ok(self) -> bool:
        """True until the node is asked to stop (signal, :meth:`stop`, or its duration ran out)."""
        return not self._stop.is_set() and self.io.now() < self._deadline

    def stop(self, exit_code: int = 0) -> None:
        """Ask the loop to end; safe from a signal handler or another thread."""
        self.exit_code = exit_code or self.exit_code
        self._stop.set()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` while still running handlers, timers and the heartbeat."""
        end = self.io.now() + seconds
        while self.ok and (left := end - self.io.now()) > 0:
            event = self._next_event(left)
            if event is not None:
                self._pending.append(event)

    def __iter__(self) -> Iterator[Input | Tick]:
        """Events without a handler, until the node stops."""
        while self.ok:
            if self._pending:
                yield self._pending.popleft()
                continue
            event = self._next_event(_POLL_S)
            if event is not None:
                yield event

    # -- the runtime -------------------------------------------------------------------

    def _next_event(self, timeout: float) -> Input | Tick | None:
        now = self.io.now()
        for t in self._timers:
            if now >= t.due:
                # Next tick on the timer's own grid: ticks missed by a late wake-up are skipped,
                # never bunched, and the phase is kept (re-phasing on ``now`` would make every
                # later tick late by the stall, for good).
                t.due += t.period * (1 + (now - t.due) // t.period)
                if t.callback is None:
                    return Tick(t.name)
                t.callback()
                return None
        wait = min([timeout, self._deadline - now] + [t.due - now for t in self._timers])
        got = self.io.recv(max(0.0, wait))
        if got is None:
            return None
        self.counters["in"] += 1
        spec = self._inputs.get(got.topic) or self._inputs.get(ALL_TOPICS)
        event = Input(spec.name if spec else got.topic, got.topic, got.message,  # type: ignore[arg-type]
                      got.envelope if self.raw_inputs else None)
        if spec is not None and spec.handler is not None:
            spec.handler(event)
            return None
        return event

    def status(self) -> NodeStatus:
        """The heartbeat message as of now.

        >>> Node(name="n").status().counters
        {'in': 0, 'out': 0, 'gaps': 0, 'bad': 0}
        """
        # ``bad`` in the heartbeat is the node's own bad samples plus the bad frames its
        # subscriber dropped; ``gaps`` is the subscriber's sequence gaps.
        gaps, bad_frames = self.io.drops()
        counters = dict(self.counters)
        counters["gaps"] = gaps
        counters["bad"] = self.counters["bad"] + bad_frames
        params = {k: json.dumps(v, default=str) for k, v in self.params.model_dump(mode="json").items()}
        return NodeStatus(stamp_ns=time.time_ns(), name=self.qualified_name, kind=self.kind, pid=os.getpid(),
                          state=self.state, counters=counters, params=params)

    def _heartbeat(self) -> None:
        if self._status_sink is not None:
            self._status_sink.publish(self.status())

    def start(self) -> Node:
        """Open the runtime's topics, run :meth:`setup`, subscribe, start the heartbeat."""
        self.state = "starting"
        self._status_sink = self.io.open_publisher(STATUS_TOPIC, NodeStatus, self.qualified_name)
        self._log_sink = self.io.open_publisher(LOG_TOPIC, LogLine, self.qualified_name)
        self.log.addHandler(self._log_handler)
        self.setup()
        if self._inputs:
            types = {t: s.msg_type for t, s in self._inputs.items() if s.msg_type is not None}
            self.io.open_subscriber(list(self._inputs), types, self.qualified_name, raw=self.raw_inputs)
        self.timer(self.heartbeat_s, self._heartbeat, name="heartbeat")
        self.state = "running"
        self._heartbeat()
        self.log.info("%s (%s) running, pid %d", self.qualified_name, self.kind or "node", os.getpid())
        return self

    def close(self) -> None:
        """Run :meth:`on_shutdown`, send the last heartbeat (``stopped``), close every socket."""
        if self.state in ("stopped", "created"):
            return
        self.state = "stopping"
        try:
            self.on_shutdown()
        finally:
            self.state = "stopped"
            self._heartbeat()
            self.log.removeHandler(self._log_handler)
            self.io.close()

    def spin(self, duration: float | None = None) -> int:
        """Start, run :meth:`loop` until stopped (or for ``duration`` s), close; returns the exit code."""
        if duration is not None:
            self._deadline = self.io.now() + duration
        try:
            self.start()
            self.loop()
        finally:
            self.close()
        return self.exit_code
