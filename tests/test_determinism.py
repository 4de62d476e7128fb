"""Replaying the same log at rate 0 gives the same /causal/graph messages, run after run.

A short sim -> features run is recorded to MCAP; then, twice, ``replay`` (rate 0: as fast
as the bus takes it) feeds the recorded /features to a discovery node (refreshes on the
receive path, in order) while a recorder logs /causal/graph. The two graph sequences must
agree bit for bit in everything but the stamps of when they were computed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from causalstream.stream import Subscriber, read_log
from causalstream.stream.messages import CausalGraph, NodeStatus

from launching import Launch
from support import ROOT

DATA = ROOT / "tests" / "data" / "launch"


def _replay(tmp: Path, log: Path, out: Path, n_features: int) -> list[CausalGraph]:
    run = Launch(DATA / "determinism_replay.yaml", f"log:={log}", f"out:={out}", tmp=tmp)
    try:
        with Subscriber("/node/status", endpoints=run.endpoints) as sub:
            deadline = time.monotonic() + 120
            done = False
            while not done:  # every sample taken, and the recorder has the last graph
                assert time.monotonic() < deadline and run.proc.poll() is None, run.output()[-3000:]
                got = sub.recv(timeout=1.0)
                if got is None or not isinstance(got.message, NodeStatus):
                    continue
                st = got.message
                if st.name == "/discovery" and st.counters.get("samples", 0) >= n_features:
                    graphs = st.counters["graphs"]
                    rec = _latest(sub, "/recorder")
                    done = rec.counters["in"] >= graphs
    finally:
        assert run.close() == 0, run.output()[-3000:]
    return [e.message for e in read_log(out) if e.topic == "/causal/graph"]


def _latest(sub: Subscriber, name: str) -> NodeStatus:
    while True:
        got = sub.recv(timeout=5.0)
        assert got is not None, f"no heartbeat from {name}"
        if got.message.name == name:
            return got.message


def _essence(g: CausalGraph) -> tuple:
    """Everything of a graph but when it was computed (stamp_ns, compute_ms)."""
    arrays = tuple(None if a is None else (a.dtype.str, a.shape, a.tobytes()) for a in (g.val, g.p, g.stability))
    return (g.names, g.tau_min, g.tau_max, g.graph, arrays, g.method, g.ci_test, g.alpha, g.window_start_ns,
            g.window_end_ns, g.n_samples, g.n_missing, g.seq, g.flags)


def test_replay_at_rate_zero_gives_identical_graphs(tmp_path: Path) -> None:
    log = tmp_path / "sim.mcap"
    rec = Launch(DATA / "determinism_record.yaml", f"log:={log}", tmp=tmp_path)
    assert rec.proc.wait(timeout=120) == 0, rec.output()[-3000:]
    n_features = sum(1 for e in read_log(log) if e.topic == "/features")
    assert n_features >= 200, n_features
    runs = [_replay(tmp_path, log, tmp_path / f"graphs{i}.mcap", n_features) for i in (1, 2)]
    first, second = ([_essence(g) for g in run] for run in runs)
    assert len(first) >= (n_features - 60) // 5 - 1, len(first)
    print(f"{n_features} samples replayed twice: {len(first)} graphs each")
    assert first == second
    assert any(np.any(g.p < 0.01) for g in runs[0]), "no link in any graph: nothing was compared"
