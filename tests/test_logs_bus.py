"""Logs against a live bus: record (and kill -9) with the CLI, recover, replay at rate 0."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from causalstream.stream import Broker, Endpoints, Player, Publisher, Recorder, Subscriber, read_log
from causalstream.stream.codec import encode_payload
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import AgentStates, CausalGraph, Clock, Features
from causalstream.stream.bus.security import ClientKeys, ServerKeys, generate_keys

from support import ROOT, free_port_pair, run_cli, spawn_cli, stop


def _wait_for_line(proc: subprocess.Popen, needle: str, limit: int = 50) -> None:
    for _ in range(limit):
        line = proc.stderr.readline()
        if needle in line:
            return
        assert line, f"process ended before printing {needle!r}"
    raise AssertionError(f"no {needle!r} in the first {limit} lines")


@contextlib.contextmanager
def _recording(bus: Endpoints, *args: str) -> Iterator[subprocess.Popen]:
    """`causalstream bag record ARGS` as a subprocess, ready (subscribed) on entry, stopped on exit."""
    rec = spawn_cli("bag", "record", *args, endpoints=bus)
    try:
        _wait_for_line(rec, "recording")
        yield rec
    finally:
        stop(rec)


def _agents(i: int) -> AgentStates:
    t = i * 0.1
    return AgentStates(stamp_ns=int(round(t * 1e9)), ids=["p1", "p2", "p3"], roles=["human"] * 3,
                       x=np.array([t, 2.0 * t, 1.0]), y=np.array([0.0, -t, 3.0 * t]),
                       vx=np.array([1.0, 2.0, 0.0]), vy=np.array([0.0, -1.0, 3.0]))


def test_kill_9_then_recover_keeps_everything_before_the_last_flush(bus: Endpoints, tmp_path: Path) -> None:
    path = tmp_path / "killed.mcap"
    with _recording(bus, "/features", "-o", str(path), "--flush-interval", "0.5") as rec:
        pub = Publisher("/features", Features, endpoints=bus).wait_ready(10).wait_for_subscriber(10)
        sent_at: list[float] = []
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 3.0:
            pub.publish(Features(stamp_ns=i + 1, names=["i"], values=np.array([float(i)])))
            sent_at.append(time.monotonic())
            i += 1
            time.sleep(0.0005)
        os.killpg(rec.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        rec.wait(timeout=10)
        pub.close()
    must_have = sum(1 for t in sent_at if t < killed_at - 1.5)
    assert must_have > 500

    info = run_cli("bag", "info", str(path))
    assert info.returncode == 2
    assert "messages are readable" in info.stderr and "bag recover" in info.stderr, info.stderr

    fixed = tmp_path / "fixed.mcap"
    res = run_cli("bag", "recover", str(path), "-o", str(fixed))
    assert res.returncode == 0, res.stderr
    stamps = [e.message.stamp_ns for e in read_log(fixed)]
    assert len(stamps) >= must_have, f"{len(stamps)} recovered, {must_have} sent more than 1.5 s before the kill"
    assert stamps == list(range(1, len(stamps) + 1)), "recovered messages are not the published ones, in order"
    assert run_cli("bag", "info", str(fixed)).returncode == 0


def _replay_log(path: Path) -> list[tuple[str, int, bytes]]:
    """A log of three topics, one latched; returns what it holds as (topic, stamp, payload)."""
    rng = np.random.default_rng(3)
    expected = []
    with LogWriter(path) as w:
        graph = CausalGraph(stamp_ns=1, names=["a", "b"], tau_max=1, graph=[[["", "-->"], ["", ""]], [["", ""], ["", ""]]],
                            val=np.full((2, 2, 2), 0.3), p=np.full((2, 2, 2), 0.01), seq=1)
        w.write("/causal/graph", graph, log_time_ns=1)
        expected.append(("/causal/graph", 1, encode_payload(graph)))
        for i in range(1500):
            msg = (_agents(i) if i % 2 else
                   Features(stamp_ns=i * 1_000_000 + 2, names=["x", "y"], values=rng.normal(size=2)))
            topic = "/agents/state" if i % 2 else "/features"
            w.write(topic, msg, log_time_ns=i * 1_000_000 + 2)
            expected.append((topic, msg.stamp_ns, encode_payload(msg)))
    return expected


def _collect(bus: Endpoints, proc_args: list[str], want: int) -> list[tuple[str, int, bytes]]:
    got = []
    with Subscriber(["/features", "/agents/state", "/causal/graph"], endpoints=bus) as sub:
        sub.wait_ready(10)
        player = spawn_cli(*proc_args, endpoints=bus)
        try:
            while len(got) < want:
                r = sub.recv(timeout=15)
                if r is None:
                    break
                got.append((r.topic, r.envelope.stamp_ns, bytes(r.envelope.payload)))
            player.wait(timeout=30)
        finally:
            stop(player)
        assert sum(c.gaps for c in sub.counters.values()) == 0
    return got


def test_replay_at_rate_0_twice_is_identical_and_complete(bus: Endpoints, tmp_path: Path) -> None:
    path = tmp_path / "replay.mcap"
    expected = _replay_log(path)
    first = _collect(bus, ["bag", "play", str(path), "--rate", "0"], len(expected))
    second = _collect(bus, ["bag", "play", str(path), "--rate", "0"], len(expected))
    assert len(first) == len(expected), f"{len(first)} of {len(expected)} arrived"
    assert first == second
    assert first == expected


def test_offset_re_emits_latched_and_clock_carries_log_time(bus: Endpoints, tmp_path: Path) -> None:
    path = tmp_path / "offset.mcap"
    _replay_log(path)  # graph at 1 ns, then 1500 messages 1 ms apart
    with Subscriber(["/causal/graph", "/features", "/clock"], endpoints=bus) as sub:
        sub.wait_ready(10)
        res = run_cli("bag", "play", str(path), "--rate", "0", "--start-offset", "1.0", "--clock",
                      "--wait-subscribers", "2", endpoints=bus)
        assert res.returncode == 0, res.stderr
        got = []
        while (r := sub.recv(timeout=3)) is not None:
            got.append(r)
    topics = [r.topic for r in got]
    assert topics[0] == "/causal/graph", topics[:5]
    features = [r.message.stamp_ns for r in got if r.topic == "/features"]
    assert features and min(features) >= 1_000_000_000 and len(features) == 250, (
        len(features), features[:3], {t: (c.messages, c.gaps) for t, c in sub.counters.items()}, res.stderr)
    clocks = [r.message.stamp_ns for r in got if r.topic == "/clock"]
    assert clocks and clocks == sorted(clocks) and clocks[0] >= 1_000_000_000


def test_agent_states_round_trip_record_export_import(bus: Endpoints, tmp_path: Path) -> None:
    path = tmp_path / "agents.mcap"
    with _recording(bus, "/agents/state", "-o", str(path)) as rec, \
            Publisher("/agents/state", AgentStates, endpoints=bus).wait_ready(10).wait_for_subscriber(10) as pub:
        for i in range(40):
            pub.publish(_agents(i))
            time.sleep(0.002)
        time.sleep(0.5)
    assert rec.returncode == 0
    sent = [_agents(i) for i in range(40)]
    # export: long format, one row per agent
    csv = tmp_path / "agents.csv"
    assert run_cli("bag", "export", str(path), "--format", "csv", "-o", str(csv)).returncode == 0
    table = pd.read_csv(csv)
    assert len(table) == 40 * 3 and list(table["agent_id"][:3]) == ["p1", "p2", "p3"]
    # back in as ETH/UCY text (one 0.1 s step = 10 frames = 0.4 s at 2.5 Hz; ped = agent number)
    eth = tmp_path / "agents.txt"
    frames = np.round(table["stamp_ns"] / 1e8 * 10).astype(int)
    peds = table["agent_id"].str[1:].astype(int)
    pd.DataFrame({"f": frames, "p": peds, "x": table["x"], "y": table["y"]}).to_csv(eth, sep="\t", header=False, index=False)
    back = tmp_path / "back.mcap"
    res = run_cli("bag", "import", str(eth), "--from", "eth-ucy", "-o", str(back))
    assert res.returncode == 0, res.stderr
    again = [e.message for e in read_log(back)]
    assert len(again) == 40
    for orig, new in zip(sent, again):
        assert new.ids == orig.ids and new.stamp_ns == orig.stamp_ns * 4  # 0.1 s steps became 0.4 s frames
        np.testing.assert_allclose(new.x, orig.x)
        np.testing.assert_allclose(new.y, orig.y)
    # velocities come back from finite differences of the positions, in the new time base
    np.testing.assert_allclose(again[10].vx, np.array([1.0, 2.0, 0.0]) / 4)
    # the mcap-json export reads back to the same messages
    assert run_cli("bag", "export", str(path), "--format", "mcap-json", "-o", str(tmp_path / "j.mcap")).returncode == 0
    from_json = [e.message for e in read_log(tmp_path / "j.mcap")]
    assert [m.ids for m in from_json] == [m.ids for m in sent]
    np.testing.assert_allclose(np.stack([m.y for m in from_json]), np.stack([m.y for m in sent]))


def test_record_all_topics_skips_bus_stats_and_keeps_types(bus: Endpoints, tmp_path: Path) -> None:
    path = tmp_path / "all.mcap"
    with _recording(bus, "-a", "-o", str(path)), \
            Publisher("/clock", Clock, endpoints=bus).wait_ready(10).wait_for_subscriber(10) as pub:
        for i in range(20):
            pub.publish(Clock(stamp_ns=i + 1))
        time.sleep(1.5)  # long enough for /bus/stats reports to pass by
    topics = {e.topic for e in read_log(path)}
    assert topics == {"/clock"}
    res = run_cli("bag", "info", str(path))
    assert res.returncode == 0 and "Clock" in res.stdout and "20" in res.stdout


def test_launch_replay_yaml_replays_into_a_recorder(tmp_path: Path) -> None:
    src = tmp_path / "eth.txt"
    src.write_text("".join((ROOT / "bench/data/eth_ucy/all_data/biwi_eth.txt").read_text().splitlines(True)[:300]))
    log = tmp_path / "eth.mcap"
    assert run_cli("bag", "import", str(src), "--from", "eth-ucy", "-o", str(log)).returncode == 0
    out = tmp_path / "out.mcap"
    port = free_port_pair()
    res = run_cli("launch", str(ROOT / "launch" / "replay.yaml"), f"log:={log}", "rate:=0", f"out:={out}", "delay:=4",
                  "--bus", f"tcp://127.0.0.1:{port}", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "required node /replay exited with status 0" in res.stdout + res.stderr
    sent = [(e.topic, e.message.stamp_ns, e.message.ids) for e in read_log(log)]
    got = [(e.topic, e.message.stamp_ns, e.message.ids) for e in read_log(out, ["/agents/state"])]
    assert got == sent and len(sent) == 50
    assert {e.topic for e in read_log(out)} >= {"/agents/state", "/features"}  # the pipeline ran on it


def test_record_and_replay_on_a_curve_bus(tmp_path: Path) -> None:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    allowed.mkdir()
    generate_keys(keys, "broker")
    generate_keys(keys, "robot1")
    shutil.copy(keys / "robot1.key", allowed)
    client = ClientKeys.load(keys / "robot1.key_secret", keys / "broker.key")
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
    path = tmp_path / "secure.mcap"
    with Broker(endpoints, keys=ServerKeys.load(keys / "broker.key_secret", allowed)):
        with Recorder(path, ["/clock"], endpoints=endpoints, keys=client).wait_ready(10) as rec:
            with Publisher("/clock", Clock, endpoints=endpoints, keys=client).wait_ready(10) as pub:
                pub.wait_for_subscriber(10)
                for i in range(10):
                    pub.publish(Clock(stamp_ns=i + 1))
                rec.run(duration=1.0)
        with Subscriber("/clock", endpoints=endpoints, keys=client).wait_ready(10) as sub:
            with Player(path, endpoints=endpoints, rate=0, keys=client) as player:
                player.run()
            got = [sub.recv(5.0) for _ in range(10)]
    assert [r.message.stamp_ns for r in got if r is not None] == list(range(1, 11))


def test_loop_and_topic_filter_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "loop.mcap"
    _replay_log(path)  # 750 /features, 750 /agents/state, 1 /causal/graph
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
    stop_event = threading.Event()
    with Broker(endpoints), Subscriber(["/features", "/agents/state"], endpoints=endpoints).wait_ready(10) as sub:
        with Player(path, endpoints=endpoints, rate=0, loop=True, topics=["/features"]) as player:
            thread = threading.Thread(target=lambda: player.run(stop=stop_event))
            thread.start()
            got = [sub.recv(10) for _ in range(2000)]
            stop_event.set()
            thread.join(timeout=30)
            assert not thread.is_alive()
    assert all(r is not None and r.topic == "/features" for r in got)
    assert player.stats.loops >= 2 and sub.counters["/features"].gaps == 0
    stamps = [r.message.stamp_ns for r in got]
    assert stamps[:750] == stamps[750:1500]  # the second pass repeats the first
