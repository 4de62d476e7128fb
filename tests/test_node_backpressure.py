"""Backpressure at the node level: a slow node keeps bounded memory and counts its drops;
the fast node feeding it is never held back.

Two real node processes on a broker with a small high-water mark: ``rel_nodes:Flood``
publishes 100,000 messages of 1.3 kB (130 MB) as fast as it can, then a short tail at 20 Hz;
``rel_nodes:Sleeper`` takes 0.5 ms over each. The flood finishes while the sleeper has
handled a small part; the sleeper's memory grows by far less than what was sent; and once
it has caught up, what it handled plus what its heartbeat counts as dropped is everything
the flood sent.
"""

from __future__ import annotations

import time

import psutil

from causalstream.stream import Subscriber
from causalstream.stream.messages import NodeStatus

from support import ROOT, spawn_cli, start_bus, stop

N, TAIL, SIZE = 100_000, 150, 100
SENT_MB = N * SIZE * 13 / 2**20  # 8 bytes a value, ~5 a name


def _status(sub: Subscriber, name: str, until, timeout: float = 30) -> NodeStatus:
    deadline = time.monotonic() + timeout
    last = None
    while (left := deadline - time.monotonic()) > 0:
        got = sub.recv(timeout=left)
        if got is not None and isinstance(got.message, NodeStatus) and got.message.name == name:
            last = got.message
            if until(last):
                return last
    raise AssertionError(f"no matching heartbeat from {name} within {timeout} s (last: {last})")


def test_slow_node_bounded_memory_drops_counted_fast_node_not_blocked(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests"))
    endpoints, broker = start_bus("--hwm", "1000")
    procs = []
    try:
        with Subscriber("/node/status", endpoints=endpoints) as sub:
            sub.wait_ready(5)
            procs.append(spawn_cli("run", "rel_nodes:Sleeper", "--name", "sleeper", "--param", "sleep_s=0.0005",
                                   "--remap", "in:=/flood", endpoints=endpoints))
            sleeper = _status(sub, "/sleeper", lambda s: s.state == "running")
            rss = psutil.Process(sleeper.pid)
            rss_start = rss.memory_info().rss
            procs.append(spawn_cli("run", "rel_nodes:Flood", "--name", "flood", "--param", f"n={N}",
                                   "--param", f"tail={TAIL}", "--param", f"size={SIZE}", "--param", "wait_s=1",
                                   "--remap", "out:=/flood", endpoints=endpoints))
            peak = rss_start
            done = None
            while done is None:
                got = sub.recv(timeout=60)
                assert got is not None, "heartbeats stopped"
                peak = max(peak, rss.memory_info().rss)
                msg = got.message
                if msg.name == "/flood" and msg.counters["out"] >= N:
                    done = msg
                    behind = _status(sub, "/sleeper", lambda s: True)
            caught_up = _status(sub, "/sleeper", lambda s: s.counters["in"] + s.counters["gaps"] >= N + TAIL
                                or s.counters["in"] >= N + TAIL)
            peak = max(peak, rss.memory_info().rss)
    finally:
        for proc in procs:
            stop(proc)
        stop(broker)
    grew_mb = (peak - rss_start) / 2**20
    c = caught_up.counters
    print(f"flood done while the sleeper had handled {behind.counters['in']} of {N}; finally in {c['in']}, "
          f"dropped {c['gaps']}; sleeper RSS grew {grew_mb:.1f} MB while {SENT_MB:.0f} MB were sent")
    assert done.counters["out"] >= N and behind.counters["in"] < N // 2  # the publisher did not wait for it
    assert c["gaps"] > 0 and c["in"] + c["gaps"] == N + TAIL  # every message handled or counted lost
    # bounded by the queues (the node's 10,000 messages), not by what was sent: an unbounded
    # queue would have held all of it, as the sleeper handled a tenth
    assert grew_mb < SENT_MB / 2
