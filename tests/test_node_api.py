"""The node API through its test double (MockNode), and the contract every node kind keeps.

The contract runs each registered kind twice: in memory with default params (starts,
heartbeats ``running``, stops, closes its transport), and as a real process with
``causalstream run`` on a real bus, stopped with SIGINT (exit 0, last heartbeat ``stopped``).
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from causalstream.nodes.errors import NodeError, UnknownKindError
from causalstream.nodes.generic import Relay, Talker
from causalstream.nodes.node import Input, Node, NodeParams, Tick
from causalstream.nodes.registry import available_kinds, register, resolve
from causalstream.nodes.testing import MockNode
from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.messages import Clock, NodeStatus

from support import spawn_cli


def test_namespace_and_remap_decide_the_topics() -> None:
    mock = MockNode(Relay, name="r", namespace="/robot1", remap={"in": "/chatter"})
    mock.feed("in", Clock(stamp_ns=5)).run()
    assert mock.node.topic("in") == "/chatter" and mock.node.topic("out") == "/robot1/out"
    assert [m.stamp_ns for m in mock.io.published["/robot1/out"]] == [5]
    assert mock.statuses()[-1].name == "/robot1/r" and mock.statuses()[-1].counters["out"] == 1


def test_bad_params_name_the_node_and_field() -> None:
    with pytest.raises(NodeError, match=r"node /t: bad params: rate_hz: Input should be greater than 0"):
        MockNode(Talker, name="t", params={"rate_hz": 0})


def test_plain_loop_sees_ticks_and_inputs_in_order() -> None:
    class Loop(Node):
        def setup(self) -> None:
            self.seen: list[str] = []
            self.subscribe("in")
            self.timer(1.0, name="sample")

        def loop(self) -> None:
            for event in self:
                self.seen.append(event.name if isinstance(event, Tick) else f"in:{event.message.stamp_ns}")
                if len(self.seen) == 4:
                    self.stop()

    mock = MockNode(Loop).feed("in", Clock(stamp_ns=1), Clock(stamp_ns=2))
    mock.io.on_idle = None
    mock.node.spin(duration=10)
    assert mock.node.seen == ["in:1", "in:2", "sample", "sample"]


def test_subscribing_after_start_is_an_error() -> None:
    class Late(Node):
        def loop(self) -> None:
            self.subscribe("in")

    with pytest.raises(NodeError, match="declare inputs in setup"):
        MockNode(Late).run(duration=1)


def test_logs_reach_the_log_topic_and_heartbeats_carry_params() -> None:
    mock = MockNode(Talker, name="t", params={"exit_after": 0.3, "exit_code": 5, "rate_hz": 2}).run(duration=5)
    assert mock.exit_code == 5
    assert any("exit_after" in line.msg and line.node == "/t" for line in mock.logs())
    last = mock.statuses()[-1]
    assert last.state == "stopped" and json.loads(last.params["rate_hz"]) == 2.0


def test_register_decorator_and_module_class() -> None:
    @register("test_echo_kind")
    class Echo(Node):
        def setup(self) -> None:
            self.out = self.publisher("out")
            self.subscribe("in", lambda e: self.out.publish(e.message))

    assert resolve("test_echo_kind") is Echo and "test_echo_kind" in available_kinds()
    assert resolve("user_nodes:Greeter").kind == "user_nodes:Greeter"
    with pytest.raises(UnknownKindError, match="not a subclass"):
        resolve("causalstream.nodes.node:NodeParams")
    with pytest.raises(UnknownKindError, match="already registered"):
        register("test_echo_kind")(type("Other", (Node,), {}))


def test_handlers_get_input_events() -> None:
    got: list[Input] = []

    class Sink(Node):
        class Params(NodeParams):
            pass

        def setup(self) -> None:
            self.subscribe("a", got.append)

    MockNode(Sink, remap={"a": "/x"}).feed("a", Clock(stamp_ns=3)).run()
    assert [(e.name, e.topic, e.message.stamp_ns) for e in got] == [("a", "/x", 3)]


# -- the contract: every registered kind ------------------------------------------------


@pytest.mark.parametrize("kind", available_kinds())
def test_contract_in_memory(kind: str) -> None:
    cls = resolve(kind)
    mock = MockNode(cls, name="contract").run(duration=2.5)
    states = [s.state for s in mock.statuses()]
    assert states[0] == "running" and states[-1] == "stopped" and len(states) >= 3
    assert mock.io.closed and mock.exit_code == 0
    assert set(mock.statuses()[-1].counters) >= {"in", "out", "gaps", "bad"}
    defaults = cls.Params().model_dump(mode="json")
    assert {k: json.loads(v) for k, v in mock.statuses()[-1].params.items()} == defaults


def _status(sub: Subscriber, name: str, state: str, timeout: float = 30.0) -> NodeStatus:
    while (got := sub.recv(timeout=timeout)) is not None:
        if got.message.name == name and got.message.state == state:
            return got.message
    raise AssertionError(f"no heartbeat {state!r} from {name} within {timeout} s")


@pytest.mark.parametrize("kind", available_kinds())
def test_contract_as_a_process(kind: str, bus: Endpoints) -> None:
    with Subscriber("/node/status", endpoints=bus) as sub:
        sub.wait_ready(5)
        proc = spawn_cli("run", kind, "--name", "contract", endpoints=bus)
        try:
            running = _status(sub, "/contract", "running")
            assert running.pid == proc.pid and running.kind == kind
            os.killpg(proc.pid, signal.SIGINT)
            _status(sub, "/contract", "stopped")
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_a_while_loop_with_sleep_keeps_the_heartbeat_going() -> None:
    class Poller(Node):
        def loop(self) -> None:
            self.polls = 0
            while self.ok:
                self.polls += 1
                self.sleep(0.5)

    mock = MockNode(Poller).run(duration=3.2)
    assert mock.node.polls == 7
    assert [s.state for s in mock.statuses()] == ["running"] * 4 + ["stopped"]


def test_a_failing_setup_still_closes_the_transport() -> None:
    class Broken(Node):
        def setup(self) -> None:
            self.timer(0)

    mock = MockNode(Broken)
    with pytest.raises(NodeError, match="timer period must be > 0"):
        mock.run(duration=1)
    assert mock.io.closed and mock.statuses()[-1].state == "stopped"
