"""Durability declared by the publisher, carried by the topic's registration (issue 16 item 3).

A topic is latched because its publisher says so, not because of its name: a remapped
latched topic stays latched, a user's own topic can be latched, and neither the recorder
nor ``bag play`` looks at the name. Real sockets and processes (``topic pub``, a launch
file) on a live broker, on the direct path and through the broker.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from causalstream.nodes.cli_topic import collect_stats
from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.log.player import Player
from causalstream.stream.log.reader import check_log
from causalstream.stream.log.recorder import Recorder
from causalstream.stream.messages import CausalGraph, Clock, NodeStatus, TopicStats

from launching import Launch
from support import CLI, cli_env, run_cli, stop

FIXTURE = Path(__file__).parent / "data" / "log_v1.mcap"
PATHS = pytest.mark.parametrize("direct", [True, False], ids=["direct", "via-broker"])


def _topic_pub(bus: Endpoints, topic: str, stamp: int, direct: bool, *flags: str) -> subprocess.Popen:
    """``causalstream topic pub TOPIC Clock`` once, staying up for a minute."""
    return subprocess.Popen(
        [*CLI, "topic", "pub", topic, "Clock", f"{{stamp_ns: {stamp}}}", "--once", "--keep-alive", "60", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=cli_env(bus, {"CAUSALSTREAM_DIRECT": "1" if direct else "0"}))


def _published(bus: Endpoints, topic: str, timeout: float = 30.0) -> TopicStats:
    """The publisher's own report of ``topic`` once it says one message has gone out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stats in collect_stats(bus, 1.2):
            for t in stats.topics:
                if t.topic == topic and t.role == "pub" and t.messages >= 1:
                    return t
    raise AssertionError(f"no publisher of {topic} reported a message within {timeout} s")


def _graph(seq: int) -> CausalGraph:
    return CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)), seq=seq)


@PATHS
def test_a_user_declared_latched_topic_reaches_a_late_joiner(bus: Endpoints, direct: bool, monkeypatch) -> None:
    monkeypatch.setenv("CAUSALSTREAM_DIRECT", "1" if direct else "0")
    proc = _topic_pub(bus, "/mine/state", 41, direct, "--latched")
    try:
        report = _published(bus, "/mine/state")  # sent, before anyone subscribed
        assert report.latched and report.type_name == "Clock" and report.path == ("direct" if direct else "broker")
        with Subscriber("/mine/state", endpoints=bus) as late:
            got = late.recv(timeout=10)
            assert got is not None, "the late joiner got nothing"
            assert got.message.stamp_ns == 41
            # the registration came first: by the time the message is delivered it is known
            assert late.latched("/mine/state") and late.registrations["/mine/state"].type_name == "Clock"
        info = run_cli("topic", "info", "/mine/state", "--wait", "2.5", endpoints=bus)
        assert info.returncode == 0, info.stderr
        assert "Type: Clock  (latched)" in info.stdout and "latched, 1 sent" in info.stdout, info.stdout
        listed = run_cli("topic", "list", "--wait", "2.5", endpoints=bus)
        row = next(line.split() for line in listed.stdout.splitlines() if line.strip().startswith("/mine/state"))
        assert row[1] == "Clock" and row[-1] == "yes", listed.stdout
    finally:
        stop(proc)


@PATHS
def test_a_topic_not_declared_latched_does_not_reach_a_late_joiner(bus: Endpoints, direct: bool, monkeypatch) -> None:
    monkeypatch.setenv("CAUSALSTREAM_DIRECT", "1" if direct else "0")
    proc = _topic_pub(bus, "/mine/plain", 42, direct)
    try:
        assert not _published(bus, "/mine/plain").latched
        with Subscriber("/mine/plain", endpoints=bus) as late:
            late.wait_ready(5)
            assert late.recv(timeout=1.0) is None
            assert not late.latched("/mine/plain")
        info = run_cli("topic", "info", "/mine/plain", "--wait", "2.5", endpoints=bus)
        assert "Type: Clock\n" in info.stdout and "(latched)" not in info.stdout, info.stdout
    finally:
        stop(proc)


def test_the_name_does_not_decide(bus: Endpoints) -> None:
    """No suffix match: a namespaced well-known name is not latched unless declared; the exact
    well-known name only supplies the default, which a declaration overrides."""
    assert not Publisher("/robot1/causal/graph", CausalGraph, endpoints=bus).latched
    assert Publisher("/causal/graph", CausalGraph, endpoints=bus).latched
    with Publisher("/causal/graph", CausalGraph, endpoints=bus, latched=False) as pub:
        pub.wait_ready(5)
        with Subscriber("/causal/graph", endpoints=bus) as first:
            first.wait_ready(5)
            pub.wait_for_subscriber(5)
            pub.publish(_graph(1))
            assert first.recv(timeout=5) is not None and not first.latched("/causal/graph")
            with Subscriber("/causal/graph", endpoints=bus) as late:
                late.wait_ready(5)
                assert late.recv(timeout=1.0) is None


def test_a_remapped_latched_topic_reaches_a_late_joiner(bus: Endpoints, tmp_path: Path) -> None:
    """The sim node declares its truth latched; a launch file remaps it; a late subscriber, the
    recorder and ``topic info`` all see it latched under the new name."""
    launch = tmp_path / "remap.yaml"
    launch.write_text(
        "nodes:\n"
        "  - name: sim\n"
        "    kind: sim\n"
        "    params: {rate_hz: 5, seed: 0, n_reactive: 1, n_followers: 0, n_distractors: 0}\n"
        "    remap: {sim/ground_truth: /robot1/truth, agents/state: /robot1/agents}\n")
    run = Launch(launch, "--no-bus", tmp=tmp_path, endpoints=bus)
    try:
        with Subscriber("/node/status", endpoints=bus) as status:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = status.recv(timeout=1.0)
                if got is not None and isinstance(got.message, NodeStatus) and got.message.state == "running":
                    break
            else:
                raise AssertionError(f"the sim never ran:\n{run.output()}")
        _published(bus, "/robot1/truth")  # the truth went out before anyone listened
        with Subscriber("/robot1/truth", endpoints=bus) as late:
            got = late.recv(timeout=10)
            assert got is not None and isinstance(got.message, CausalGraph), run.output()
            assert late.latched("/robot1/truth")
        path = tmp_path / "late.mcap"
        with Recorder(path, ["/robot1/truth", "/robot1/agents"], endpoints=bus).wait_ready(5) as rec:
            rec.run(duration=1.5)
        meta = {ch.topic: ch.metadata for ch in check_log(path).channels.values()}
        assert meta["/robot1/truth"].get("latched") == "true" and "latched" not in meta["/robot1/agents"], meta
        info = run_cli("topic", "info", "/robot1/truth", "--wait", "2.5", endpoints=bus)
        assert "Type: CausalGraph  (latched)" in info.stdout, info.stdout
    finally:
        assert run.close() == 0, run.output()


def test_recorder_and_player_keep_the_declared_latch(bus: Endpoints, tmp_path: Path) -> None:
    """Record: channel metadata from the registrations (a user's latched topic yes; the well-known
    /causal/graph declared not latched, no). Play: latched channels are latched again (a late
    joiner gets the last value; an offset re-emits it), the others are not."""
    path = tmp_path / "round.mcap"
    with Recorder(path, endpoints=bus).wait_ready(5) as rec, \
            Publisher("/mine/state", Clock, endpoints=bus, latched=True) as state, \
            Publisher("/causal/graph", CausalGraph, endpoints=bus, latched=False) as graph, \
            Publisher("/mine/ticks", Clock, endpoints=bus) as ticks:
        for pub in (state, graph, ticks):
            pub.wait_ready(5).wait_for_subscriber(5)
        state.publish(Clock(stamp_ns=7))
        graph.publish(_graph(2))
        rec.spin_once(0.2)
        for i in range(8):
            ticks.publish(Clock(stamp_ns=100 + i))
            time.sleep(0.05)
            rec.spin_once(0.0)
        deadline = time.monotonic() + 5
        while rec.count < 10 and time.monotonic() < deadline:
            rec.spin_once(0.1)
        assert rec.count == 10
    meta = {ch.topic: ch.metadata.get("latched") for ch in check_log(path).channels.values()}
    assert meta == {"/mine/state": "true", "/causal/graph": None, "/mine/ticks": None}

    with Subscriber(["/mine/state", "/causal/graph", "/mine/ticks"], endpoints=bus) as sub:
        sub.wait_ready(5)
        with Player(path, endpoints=bus, rate=0, start_offset=0.2, wait_subscribers=5) as player:
            assert player.latched_topics == ["/mine/state"]
            stats = player.run()
            got = [sub.recv(timeout=5) for _ in range(stats.messages)]
            topics = [r.topic for r in got if r is not None]
            # the offset re-emits the latched state, not the graph (a well-known name, not latched here)
            assert topics[0] == "/mine/state" and "/causal/graph" not in topics and len(topics) == stats.messages
            assert sub.latched("/mine/state") and not sub.latched("/mine/ticks")
            with Subscriber("/mine/state", endpoints=bus) as late:  # the player latches it too
                deadline = time.monotonic() + 5
                r = None
                while r is None and time.monotonic() < deadline:
                    player.publisher.drain(10)
                    r = late.recv(timeout=0.05)
                assert r is not None and r.message.stamp_ns == 7


def test_an_old_log_replays_with_its_latched_topics_latched(bus: Endpoints) -> None:
    """tests/data/log_v1.mcap's /causal/graph channel says latched: an offset re-emits its last
    graph before the offset; /clock, not latched, starts at the offset."""
    with Subscriber(["/causal/graph", "/clock"], endpoints=bus) as sub:
        sub.wait_ready(5)
        with Player(FIXTURE, endpoints=bus, rate=0, start_offset=0.0015, topics=["/causal/graph", "/clock"],
                    wait_subscribers=5) as player:
            assert player.latched_topics == ["/causal/graph"]
            stats = player.run()
        got = [sub.recv(timeout=5) for _ in range(stats.messages)]
    assert [(r.topic, r.message.stamp_ns) for r in got] == [("/causal/graph", 3_001), ("/clock", 3_000_000),
                                                            ("/causal/graph", 3_002)]
