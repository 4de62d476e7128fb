"""The bus with real sockets and processes: broker, pub/sub, latching, gaps, fuzz."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zmq

from causalstream.stream import Endpoints, Publisher, Subscriber, subscribe
from causalstream.stream.codec import SEP, encode_frame, encode_payload
from causalstream.stream.bus.endpoints import configure_socket
from causalstream.stream.messages import CausalGraph, Clock, Features

from support import cli_env, run_cli, start_bus, stop, wait_for_broker

PUBLISHER_SCRIPT = textwrap.dedent(
    """
    import sys, time, numpy as np
    from causalstream.stream import Publisher
    from causalstream.stream.messages import Features, CausalGraph
    topic, n, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if topic == "/causal/graph":
        pub = Publisher(topic, CausalGraph).wait_ready(10)
        g = CausalGraph(stamp_ns=77, names=["a", "b"], tau_max=1, graph=[[["", ""], ["", "-->"]], [["", ""], ["", ""]]],
                        val=np.full((2, 2, 2), 0.5), p=np.full((2, 2, 2), 0.01), seq=3)
        pub.publish(g)
    else:
        pub = Publisher(topic, Features).wait_ready(10).wait_for_subscriber(10)
        for i in range(n):
            pub.publish(Features(stamp_ns=i + 1, names=["a", "b"], values=np.array([i, np.nan])))
            time.sleep(0.001)
    print("published", flush=True)
    time.sleep(linger)
    pub.close()
    """
)


def _publisher_process(bus: Endpoints, topic: str, n: int, linger: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PUBLISHER_SCRIPT, topic, str(n), str(linger)],
                            env=cli_env(bus), stdout=subprocess.PIPE, text=True)


def test_two_processes_through_the_broker(bus: Endpoints) -> None:
    with Subscriber("/features", endpoints=bus) as sub:
        sub.wait_ready(5)
        proc = _publisher_process(bus, "/features", 300, 0.5)
        got = []
        while len(got) < 300:
            r = sub.recv(timeout=10)
            assert r is not None, f"only {len(got)} of 300 arrived"
            got.append(r)
        proc.wait(timeout=20)
    assert [r.message.stamp_ns for r in got] == list(range(1, 301))
    assert [r.envelope.seq for r in got] == list(range(300))
    assert all(np.isnan(r.message.values[1]) for r in got)
    assert sub.counters["/features"].gaps == 0 and sub.bad_frames == 0


def test_late_joiner_gets_the_latched_value(bus: Endpoints) -> None:
    proc = _publisher_process(bus, "/causal/graph", 1, 10.0)
    try:
        assert proc.stdout.readline().strip() == "published"
        time.sleep(0.3)  # the message is long gone when the subscriber starts
        t0 = time.monotonic()
        with Subscriber("/causal/graph", endpoints=bus) as sub:
            r = sub.recv(timeout=5)
            latency = time.monotonic() - t0
        assert r is not None, "late joiner got nothing"
        assert isinstance(r.message, CausalGraph) and r.message.seq == 3 and r.message.links() == [("a", "b", 1, "-->")]
        print(f"latched value reached the late joiner in {latency * 1000:.1f} ms")
        # a second late joiner gets it too; the first one sees no duplicate delivered
        with Subscriber("/causal/graph", endpoints=bus) as second:
            assert second.recv(timeout=5) is not None
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "via-broker"])
def test_latched_resend_reaches_the_late_joiner_and_no_one_else(bus: Endpoints, direct: bool, monkeypatch) -> None:
    monkeypatch.setenv("CAUSALSTREAM_DIRECT", "1" if direct else "0")
    with Publisher("/sim/ground_truth", CausalGraph, endpoints=bus) as pub:
        pub.wait_ready(5)
        assert pub.direct is direct
        with Subscriber("/sim/ground_truth", endpoints=bus) as first:
            first.wait_ready(5)
            pub.wait_for_subscriber(5)
            g = CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)))
            pub.publish(g)
            assert first.recv(timeout=5) is not None
            with Subscriber("/sim/ground_truth", endpoints=bus) as late:
                assert late.recv(timeout=5) is not None  # the re-send reaches the late joiner ...
            assert first.recv(timeout=0.5) is None  # ... and the first subscriber does not deliver it again:
            # through the broker the re-send goes to every subscriber, which drops it by sequence
            # number; on the direct path it goes down the late joiner's own link only
            assert first.counters["/sim/ground_truth"].duplicates == (0 if direct else 1)


def test_one_raw_publisher_on_many_topics_keeps_their_order_and_latches(bus: Endpoints) -> None:
    """The player's publisher: raw payloads on any topic, one ordered connection, per-topic sequence
    numbers, and the last frame of a latched topic re-sent to a late joiner."""
    payload = encode_payload(Clock(stamp_ns=5))
    with Subscriber(["/a", "/b"], endpoints=bus) as sub, Publisher(None, endpoints=bus, ordered=True) as pub:
        sub.wait_ready(5)
        pub.wait_ready(5)
        assert not pub.direct and pub.wait_for_subscribers(["/a", "/b"], 5) == []
        for topic in ("/a", "/b", "/a", "/causal/graph"):
            pub.publish_raw("Clock" if topic != "/causal/graph" else "CausalGraph",
                            payload if topic != "/causal/graph" else encode_payload(_graph()), 5, topic)
        got = [sub.recv(timeout=5) for _ in range(3)]
        assert [(r.topic, r.envelope.seq) for r in got] == [("/a", 0), ("/b", 0), ("/a", 1)]
        assert pub.seqs == {"/a": 2, "/b": 1, "/causal/graph": 1}
        with Subscriber("/causal/graph", endpoints=bus) as late:
            late.wait_ready(5)
            deadline = time.monotonic() + 5
            r = None
            while r is None and time.monotonic() < deadline:
                pub.drain(10)  # the player drains while it waits for a message's time
                r = late.recv(timeout=0.05)
            assert r is not None and r.message.seq == 3


def _graph() -> CausalGraph:
    return CausalGraph(names=["a"], tau_max=0, graph=[[[""]]], val=np.zeros((1, 1, 1)), p=np.ones((1, 1, 1)), seq=3)


def test_sequence_gaps_are_counted_per_publisher(bus: Endpoints) -> None:
    ctx = zmq.Context.instance()
    raw = configure_socket(ctx.socket(zmq.PUB))
    raw.connect(bus.pub)
    with Subscriber("/clock", endpoints=bus) as sub:
        sub.wait_ready(5)
        time.sleep(0.3)
        for seq, who in [(0, "a"), (1, "a"), (5, "a"), (0, "b"), (6, "a"), (2, "b")]:
            raw.send(encode_frame("/clock", Clock(stamp_ns=seq + 1), seq, who))
        seen = [sub.recv(timeout=5) for _ in range(6)]
    raw.close()
    assert all(r is not None for r in seen)
    assert sub.counters["/clock"].gaps == 3 + 1


def _malformed_frames(n: int, rng: np.random.Generator) -> list[bytes]:
    prefix = b"/features" + SEP
    good = encode_frame("/features", Features(names=["a", "b"], values=np.array([1.0, 2.0])), 0, "fuzz")
    wrong_type = encode_frame("/features", Clock(stamp_ns=1), 0, "fuzz")
    bad_shape = good.replace(b"\x92\xa1a\xa1b", b"\x91\xa1a")
    unknown_type = good.replace(b"Features", b"Featurez")
    frames = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            frames.append(prefix + rng.bytes(int(rng.integers(0, 200))))
        elif kind == 1:
            frames.append(good[: int(rng.integers(len(prefix), len(good) - 1))])
        elif kind == 2:
            frames.append(wrong_type)
        elif kind == 3:
            frames.append(bad_shape)
        elif kind == 4:
            frames.append(unknown_type)
        else:
            body = bytearray(good)
            body[int(rng.integers(len(prefix), len(good)))] ^= 0xFF
            frames.append(bytes(body))
    return frames


def test_fuzz_ten_thousand_malformed_frames(bus: Endpoints) -> None:
    rng = np.random.default_rng(1)
    frames = _malformed_frames(10_000, rng)
    ctx = zmq.Context.instance()
    raw = configure_socket(ctx.socket(zmq.PUB), hwm=100_000)
    raw.connect(bus.pub)
    with Subscriber("/features", endpoints=bus, hwm=100_000) as sub:
        sub.wait_ready(5)
        time.sleep(0.3)
        for f in frames:
            raw.send(f)
        good = Features(stamp_ns=99, names=["x"], values=np.array([4.0]))
        raw.send(encode_frame("/features", good, 0, "good-publisher"))
        by_chance = 0  # a flipped data byte can still make a valid message: delivered, not bad
        while (r := sub.recv(timeout=20)) is not None and r.message.stamp_ns != 99:
            by_chance += 1
    raw.close()
    assert r is not None and r.message.stamp_ns == 99, "the good message after the garbage never came"
    c = sub.counters["/features"]
    assert c.bad + by_chance + c.duplicates == 10_000
    assert c.bad >= 9_000 and sub.bad_frames == c.bad


def test_callback_form(bus: Endpoints) -> None:
    seen: list[Clock] = []
    thread = subscribe("/clock", seen.append, endpoints=bus, timeout=2.0)
    with Publisher("/clock", Clock, endpoints=bus) as pub:
        pub.wait_ready(5).wait_for_subscriber(5)
        for i in range(5):
            pub.publish(Clock(stamp_ns=i + 1))
    thread.join(10)
    assert [m.stamp_ns for m in seen] == [1, 2, 3, 4, 5]


def test_sigusr1_dumps_every_thread_and_the_process_goes_on() -> None:
    """A hung CLI process can be asked where it is: `kill -USR1 PID` (faulthandler)."""
    endpoints, proc = start_bus()
    try:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        assert proc.poll() is None
        wait_for_broker(endpoints, timeout=5, proc=proc)  # still forwarding
    finally:
        _, err = stop(proc)
    assert err.count("Thread 0x") + err.count("Current thread 0x") >= 3  # main, proxy, control
    assert "broker.py" in err  # where the threads were
    assert proc.returncode in (0, 130)


def test_ctrl_c_stops_the_broker_even_when_started_with_sigint_ignored() -> None:
    """A shell script's `causalstream bus &` inherits SIGINT ignored; Ctrl-C must still stop it."""
    _, proc = start_bus(preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=4)
    finally:
        stop(proc)
    assert proc.returncode in (0, 130)


def test_sigterm_stops_the_broker_cleanly_and_a_burst_never_hangs_it() -> None:
    """SIGTERM stops the broker with status 0. Its handler only sets a flag, so signals that land
    while close() runs cannot deadlock on a lock (a burst: every broker exits; one signalled
    after its handlers are gone, in the interpreter's exit, dies of it: -15)."""
    _, proc = start_bus()
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=4)
    finally:
        stop(proc)
    assert proc.returncode == 0
    for _ in range(3):
        _, proc = start_bus()
        try:
            for _ in range(20):
                proc.send_signal(signal.SIGTERM)
                time.sleep(0.005)
            proc.wait(timeout=4)
        finally:
            stop(proc)
        assert proc.returncode in (0, -signal.SIGTERM)


def test_endpoint_taken_is_one_line_and_exit_2(bus: Endpoints) -> None:
    res = run_cli("bus", "--endpoint", bus.pub, timeout=30)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "address already in use" in lines[0] and bus.pub in lines[0]
    assert "Traceback" not in res.stderr
