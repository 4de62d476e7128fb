"""A log written by an older version of the code still reads.

tests/data/log_v1.mcap was written on 2026-12-03 by ``LogWriter`` before the codec merge (issue 16):
payloads in that day's two layouts (AgentStates as one array block, extension 2; every other type
as a msgpack map with one extension 1 per array). It holds a few messages of every message type.
``expected()`` is the list it was written from; ``python tests/test_logs_fixture.py PATH`` wrote
it, and must never be used to overwrite the committed file: its point is that the bytes are old.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import numpy as np

from causalstream.stream import read_log
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import (
    MESSAGE_TYPES,
    AgentStates,
    BusStats,
    CausalEvent,
    CausalGraph,
    Clock,
    Features,
    Link,
    LogLine,
    Message,
    NodeStatus,
    Predictions,
    TopicStats,
)

FIXTURE = Path(__file__).parent / "data" / "log_v1.mcap"


def _graph(i: int) -> CausalGraph:
    rng = np.random.default_rng(i)
    marks = [["", "-->"], ["o-o", ""]] if i else [["", ""], ["", ""]]
    graph = [[[marks[a][b], "-->" if (a + b + i) % 2 else ""] for b in range(2)] for a in range(2)]
    return CausalGraph(stamp_ns=3_000 + i, names=["robot.v", "h1.v"], tau_max=1, graph=graph,
                       val=rng.normal(size=(2, 2, 2)), p=rng.uniform(size=(2, 2, 2)),
                       stability=np.full((2, 2, 2), 0.25 * i) if i else None, method="pcmciplus",
                       window_start_ns=10 * i, window_end_ns=20 * i, n_samples=100 + i, seq=i,
                       compute_ms=1.5 * i, flags=["restored"] if i else [])


def expected() -> list[tuple[str, int, Message]]:
    """(topic, log time, message) of every message in the fixture, in log-time order."""
    out: list[tuple[str, int, Message]] = []
    for i in range(3):
        t = 1_000_000 * (i + 1)
        n = i + 2
        ids = [f"a{k}" for k in range(n)]
        out.append(("/clock", t, Clock(stamp_ns=t)))
        states = AgentStates(stamp_ns=t, ids=ids, roles=["robot"] + ["human"] * (n - 1),
                             x=np.arange(n, dtype=float) + i, y=np.full(n, np.nan if i == 1 else 2.0),
                             vx=np.linspace(-1, 1, n), vy=np.ones(n),
                             heading=None if i == 0 else np.full(n, 0.5),
                             goal=None if i != 2 else np.arange(2 * n, dtype=float).reshape(n, 2))
        out.append(("/agents/state", t + 1, states))
        out.append(("/features", t + 2, Features(stamp_ns=t, names=[f"{a}.v" for a in ids],
                                                  values=np.where(np.arange(n) == 1, np.nan, np.arange(n) * 0.5))))
        out.append(("/causal/graph", t + 3, _graph(i)))
        out.append(("/causal/events", t + 4, CausalEvent(stamp_ns=t, kind="graph_changed" if i else "drift",
                                                          added=[Link("a", "b", i, "-->")], removed=[], shd=i,
                                                          graph_seq=i, variable="h1.v", detail=f"d{i}")))
        out.append(("/predictions", t + 5, Predictions(
            stamp_ns=t, agent_ids=ids, trajectories=np.arange(n * 2 * 3 * 2, dtype=float).reshape(n, 2, 3, 2) / 7,
            probabilities=np.full((n, 2), 0.5), model_id="m1", latency_ms=0.25 * i)))
        out.append(("/node/status", t + 6, NodeStatus(stamp_ns=t, name="/sim", kind="sim", pid=100 + i,
                                                      counters={"in": i, "out": 2 * i}, params={"rate": "10"})))
        out.append(("/log", t + 7, LogLine(stamp_ns=t, node="sim", level=20, logger="x", msg=f"line {i}")))
        out.append(("/bus/stats", t + 8, BusStats(stamp_ns=t, participant="h/1", pid=1, node="sim", bad_frames=i,
                                                  topics=[TopicStats(topic="/features", role="sub", messages=i,
                                                                     gaps=1, rate_hz=2.5)])))
    return out


def _same(a: object, b: object) -> bool:
    """Equal field by field, arrays bit for bit (NaN where NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, msgspec.Struct):
        return type(a) is type(b) and all(_same(getattr(a, f), getattr(b, f)) for f in a.__struct_fields__)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_the_old_log_reads_message_for_message() -> None:
    got = [(e.topic, e.stamp_ns, e.message) for e in read_log(FIXTURE)]
    want = expected()
    assert [(t, s) for t, s, _ in got] == [(t, s) for t, s, _ in want]
    for (topic, _, g), (_, _, w) in zip(got, want):
        assert _same(g, w), (topic, g, w)


def test_the_fixture_holds_every_message_type() -> None:
    assert {type(m).__name__ for _, _, m in expected()} == set(MESSAGE_TYPES)


def test_same_checks_arrays_bit_for_bit() -> None:
    a = Features(names=["a"], values=np.array([np.nan]))
    assert _same(a, Features(names=["a"], values=np.array([np.nan])))
    assert not _same(a, Features(names=["a"], values=np.array([1.0])))


def write(path: str) -> None:
    """Write the fixture (done once, with the code of its day)."""
    with LogWriter(path) as w:
        for topic, log_time, msg in expected():
            w.write(topic, msg, log_time_ns=log_time)


if __name__ == "__main__":
    write(sys.argv[1])
