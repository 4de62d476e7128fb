"""Containers: several nodes in one process, messages between them passed as objects.

In process (a Container in this test's process, a broker on loopback) the encodes are
counted where the only encoder of a topic's frames is, its bus Publisher (``seq``: the
frames it built). With real processes (``causalstream launch``), the container's own
/bus/stats report counts them from outside; a third process (this one) subscribes and
gets the messages; kill -9 of the container respawns all of its nodes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from causalstream.nodes.container import Container
from causalstream.nodes.errors import LaunchError
from causalstream.nodes.launch_file import ContainerSpec, load_launch
from causalstream.stream import Broker, Endpoints, Publisher, Subscriber, read_log
from causalstream.stream.messages import BusStats, Clock, Features

from launching import Launch, alive, heartbeats
from support import free_port_pair, run_cli

PAIR = """
nodes:
  - name: talker
    kind: talker
    container: box
    respawn: true
    respawn_delay: 0.1
    params: {rate_hz: 50}
    remap: {chatter: /chatter}
  - name: listener
    kind: listener
    container: box
    params: {topics: [/chatter]}
"""


def _box(**talker: object) -> list[dict]:
    return [{"kind": "talker", "name": "talker", "params": {"rate_hz": 100, **talker}, "remap": {"chatter": "/chatter"}},
            {"kind": "listener", "name": "listener", "params": {"topics": ["/chatter"]}}]


def _sink(box: Container, topic: str):
    return next(s for n in box.nodes for s in n.io._sinks if s.topic == topic)


@contextlib.contextmanager
def _running(nodes: list[dict]) -> Iterator[tuple[Container, Endpoints]]:
    """A container of ``nodes`` running in a thread of this process, on a broker of its own."""
    with Broker(Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")) as broker:
        box = Container(nodes, endpoints=broker.endpoints)
        runner = threading.Thread(target=box.run, daemon=True)
        runner.start()
        try:
            assert box.running.wait(20)
            yield box, broker.endpoints
        finally:
            box.stop()
            runner.join(timeout=10)
    assert not runner.is_alive()


def test_two_nodes_in_one_process_pass_objects_and_the_bus_sees_them_once_wanted() -> None:
    with Broker(Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")) as broker:
        box = Container(_box(), endpoints=broker.endpoints)
        runner = threading.Thread(target=box.run, daemon=True)
        runner.start()
        try:
            assert box.running.wait(20)
            talker, listener = box.nodes
            sink = _sink(box, "/chatter")
            deadline = time.monotonic() + 20
            while listener.counters["in:/chatter"] < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            heard = listener.counters["in:/chatter"]
            assert heard >= 50
            # nothing outside listens: not one frame of /chatter was encoded
            assert sink.bus.seq == 0 and sink.encoded == 0 and sink.seq >= heard
            with Subscriber("/chatter", endpoints=broker.endpoints) as outside:
                outside.wait_ready(5)
                got = [outside.recv(timeout=5) for _ in range(20)]
            assert all(isinstance(g.message, Features) for g in got)
            seqs = [g.envelope.seq for g in got]
            assert seqs == list(range(seqs[0], seqs[0] + 20))  # in order, no gap
            assert sink.bus.seq == sink.encoded > 0  # one encode per message sent on the bus
            assert sink.seq - sink.encoded >= heard  # the container's own deliveries encoded nothing
            assert listener.status().counters["gaps"] == 0
        finally:
            box.stop()
            runner.join(timeout=10)
    assert not runner.is_alive()


def test_a_message_from_another_process_reaches_the_container_and_is_relayed_inside_without_encoding() -> None:
    nodes = [{"kind": "relay", "name": "relay", "remap": {"in": "/in", "out": "/out"}},
             {"kind": "listener", "name": "listener", "params": {"topics": ["/out"]}}]
    with _running(nodes) as (box, bus):
        relay, listener = box.nodes
        with Publisher("/in", Clock, endpoints=bus) as outside:
            outside.wait_for_subscriber(10)
            for i in range(40):
                outside.publish(Clock(stamp_ns=i + 1))
                time.sleep(0.002)
            deadline = time.monotonic() + 20
            while listener.counters["in:/out"] < 40 and time.monotonic() < deadline:
                time.sleep(0.02)
        assert relay.counters["in"] == 40 and listener.counters["in:/out"] == 40
        assert _sink(box, "/out").encoded == 0 and _sink(box, "/out").seq == 40
        assert relay.status().counters["gaps"] == 0 and listener.status().counters["gaps"] == 0


def test_a_recorder_in_the_container_records_its_neighbours_messages(tmp_path: Path) -> None:
    path = tmp_path / "box.mcap"
    nodes = [*_box(), {"kind": "recorder", "name": "rec", "params": {"path": str(path), "topics": ["/chatter"],
                                                                     "flush_interval": 0.1}}]
    with _running(nodes) as (box, _):
        rec = box.nodes[2]
        deadline = time.monotonic() + 20
        while rec.counters["recorded"] < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rec.counters["recorded"] >= 30  # the raw subscriber gets the container's frames off the bus
    got = [msg for topic, _, msg in read_log(path) if topic == "/chatter"]
    assert len(got) >= 30 and all(isinstance(m, Features) for m in got)


def test_a_node_ending_ends_the_container_with_its_exit_code() -> None:
    with Broker(Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")) as broker:
        box = Container(_box(exit_after=0.3, exit_code=3), endpoints=broker.endpoints)
        assert box.run(duration=20) == 3
    assert [n.state for n in box.nodes] == ["stopped", "stopped"]


def _stats(sub: Subscriber, node: str, topic: str, timeout: float = 30) -> tuple[int, int]:
    """(pid, frames published on ``topic``) from the next /bus/stats report of ``node``'s process."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        got = sub.recv(timeout=left)
        if got is not None and isinstance(got.message, BusStats) and got.message.node == node:
            pubs = [t.messages for t in got.message.topics if t.topic == topic and t.role == "pub"]
            if pubs:
                return got.message.pid, pubs[0]
    raise AssertionError(f"no /bus/stats from {node} within {timeout} s")


def test_a_launched_container_runs_its_nodes_in_one_process_and_respawns_them_all(tmp_path: Path) -> None:
    file = tmp_path / "pair.yaml"
    file.write_text(PAIR)
    run = Launch(file, tmp=tmp_path)
    try:
        with Subscriber(["/node/status", "/bus/stats"], endpoints=run.endpoints) as sub:
            first = heartbeats(sub, {"/talker", "/listener"})
            pid = first["/talker"].pid
            assert first["/listener"].pid == pid  # one process
            time.sleep(1.5)
            status = heartbeats(sub, {"/listener"})["/listener"]
            assert status.counters["in:/chatter"] >= 25
            assert _stats(sub, "/box", "/chatter") == (pid, 0)  # no remote subscriber: no encode
            with Subscriber("/chatter", endpoints=run.endpoints) as outside:  # the third process
                got = outside.wait_ready(10).recv(timeout=10)
                assert isinstance(got.message, Features)
                assert _stats(sub, "/box", "/chatter")[1] > 0
            time.sleep(3)  # let the warm spare finish importing
            os.kill(pid, signal.SIGKILL)
            again = heartbeats(sub, {"/talker", "/listener"}, timeout=30, not_pid=pid)
            assert again["/talker"].pid == again["/listener"].pid != pid
            assert not alive([pid])
    finally:
        run.close()
    out = run.output()
    assert "/box (pid" in out and "killed by SIGKILL" in out and "respawned /box from its warm spare" in out
    assert run.proc.returncode == 0


def test_the_demo_runs_sim_features_and_discovery_in_one_container() -> None:
    plan = load_launch("demo")
    boxes = [p for p in plan.processes() if isinstance(p, ContainerSpec)]
    assert [[n.name for n in b.nodes] for b in boxes] == [["sim", "features", "discovery"]]
    assert boxes[0].required and not boxes[0].respawn
    apart = load_launch("demo", {"container": ""})
    assert not any(isinstance(p, ContainerSpec) for p in apart.processes())


@pytest.mark.parametrize("nodes, field, reason", [
    ("  - {name: a, kind: talker, container: 'my box'}\n", "nodes[0].container", "is not a container name"),
    ("  - {name: a, kind: talker, container: b, required: true}\n  - {name: b2, kind: listener, container: b, "
     "respawn: true}\n", "nodes[1].respawn", "cannot both respawn and be required"),
    ("  - {name: a, kind: talker, container: b, env: {X: '1'}}\n  - {name: c, kind: listener, container: b}\n",
     "nodes[1].env", "env differs from /a's in container /b"),
    ("  - {name: a, kind: talker, container: b, respawn: true}\n  - {name: c, kind: listener, container: b, "
     "respawn: true, respawn_delay: 2}\n", "nodes[1].respawn_delay", "differ from /a's"),
    ("  - {name: a, kind: talker, container: c}\n  - {name: c, kind: listener}\n", "nodes[0].container",
     "has the name of a node"),
])
def test_bad_container_fields_name_file_line_and_field(tmp_path: Path, nodes: str, field: str, reason: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("# a comment\nnodes:\n" + nodes)
    with pytest.raises(LaunchError) as err:
        load_launch(file)
    line = 3 + int(field.split("[")[1][0])
    assert str(err.value).startswith(f"{file}:{line}: {field}: ") and reason in str(err.value)
    result = run_cli("launch", str(file), "--check")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and f":{line}: {field}:" in result.stderr
