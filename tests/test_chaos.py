"""Chaos: SIGKILL a random node of a running pipeline every few seconds; it must come back.

The pipeline (tests/data/launch/chaos.yaml: the demo's sim -> features -> discovery ->
predictor with a recorder) runs under the real launcher with every node set to respawn. The test kills one
node at a time (each in turn, in a shuffled order, 21 kills in about a minute) and after
each kill waits until the node is back: a heartbeat from a new pid and, for a node with an
output, a message on that output from the new process (a new publisher id). At the end
every process the launch ever ran is gone, every respawned discovery went on from the window
its killed process saved (its first graph is flagged ``restored`` and does not start the
sequence over), and the recorder's logs (one per life: a
respawned recorder never overwrites the log of the one killed) are all recoverable with
``causalstream bag recover``.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from causalstream.stream import Subscriber
from causalstream.stream.messages import CausalGraph, NodeStatus

from causalstream.stream import read_log

from launching import Launch, alive, wait_for_nodes
from support import ROOT, run_cli

CHAOS = ROOT / "tests" / "data" / "launch" / "chaos.yaml"
# node -> the output topic that must resume after it is killed (None: its heartbeat's `in` must move)
NODES: dict[str, str | None] = {"/sim": "/agents/state", "/features": "/features", "/discovery": "/causal/graph",
                                "/predictor": "/predictions", "/recorder": None}
RECORDED = {"/agents/state", "/features", "/causal/graph", "/predictions"}
KILLS = 21


def _kill_order(rng: random.Random) -> list[str]:
    order: list[str] = []
    while len(order) < KILLS:
        names = sorted(NODES)
        rng.shuffle(names)
        if order and names[0] == order[-1]:
            names.reverse()
        order += names
    return order[:KILLS]


class Watch:
    """What the test knows of the pipeline: live pid per node, publisher ids per node, dead pids."""

    def __init__(self, sub: Subscriber, pids: dict[str, int]) -> None:
        self.sub = sub
        self.pids = dict(pids)
        self.all_pids = set(pids.values())
        self.recorder_pids = {pids["/recorder"]}
        self.dead: set[int] = set()
        self.publishers: dict[str, set[str]] = {name: set() for name in NODES}
        self.received: dict[str, int] = {}
        self.first_graphs: list[CausalGraph] = []  # the first graph seen from each discovery process, in order
        self.restored: dict[int, int] = {}  # discovery pid -> samples it took back from the state file

    def recovered(self, victim: str, timeout: float, first: bool = False) -> float:
        """Wait until ``victim`` runs again in a new process and its output resumes; seconds taken.

        ``first``: any process of the node will do (before the first kill)."""
        t0 = time.monotonic()
        topic = NODES[victim]
        known = set() if first else set(self.publishers[victim])
        new_pid = output_back = None
        while new_pid is None or not output_back:
            left = t0 + timeout - time.monotonic()
            assert left > 0, f"{victim} not back within {timeout} s (pid {new_pid}, output {output_back})"
            got = self.sub.recv(timeout=left)
            if got is None:
                continue
            msg = got.message
            if isinstance(msg, NodeStatus):
                if msg.name == "/discovery":
                    self.restored[msg.pid] = msg.counters.get("restored", 0)
                if msg.state == "running" and msg.pid not in self.dead and msg.name in NODES:
                    self.pids[msg.name] = msg.pid
                    self.all_pids.add(msg.pid)
                    if msg.name == "/recorder":
                        self.recorder_pids.add(msg.pid)
                    if msg.name == victim:
                        new_pid = msg.pid
                        if topic is None and msg.counters["in"] > 0:
                            output_back = True
                continue
            self.received[got.topic] = self.received.get(got.topic, 0) + 1
            owner = got.envelope.publisher.rsplit("/", 1)[0]
            if owner == "/discovery" and got.topic == "/causal/graph" and got.envelope.publisher not in self.publishers[owner]:
                self.first_graphs.append(msg)
            if owner in self.publishers:
                self.publishers[owner].add(got.envelope.publisher)
            if owner == victim and got.topic == topic and got.envelope.publisher not in known:
                output_back = True
        return time.monotonic() - t0


def test_pipeline_survives_random_sigkills(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    run = Launch(CHAOS, f"log:={logs / 'chaos.mcap'}", f"state:={tmp_path / 'discovery.npz'}", tmp=tmp_path)
    rng = random.Random(8)
    outputs = sorted({t for t in NODES.values() if t})
    try:
        with Subscriber(["/node/status", *outputs], endpoints=run.endpoints) as sub:
            watch = Watch(sub, wait_for_nodes(sub, set(NODES)))
            for name in NODES:  # every output flowing before the first kill
                watch.recovered(name, 30, first=True)
            time.sleep(2.0)  # warm spares finish importing
            took = []
            for victim in _kill_order(rng):
                pid = watch.pids[victim]
                os.kill(pid, signal.SIGKILL)
                watch.dead.add(pid)
                took.append(watch.recovered(victim, 20))
                time.sleep(rng.uniform(1.0, 2.0))
            launched = set(run.descendants()) | watch.all_pids
        print(f"{KILLS} kills; back (heartbeat and output) in median {sorted(took)[KILLS // 2]:.2f} s, "
              f"max {max(took):.2f} s; messages seen {watch.received}")
    finally:
        status = run.close()
    out = run.output()
    assert status == 0, out[-3000:]
    assert out.count("killed by SIGKILL") == KILLS, out[-3000:]
    assert len(watch.dead) == KILLS and all(watch.pids[n] not in watch.dead for n in NODES)
    assert not alive(launched), f"left behind: {alive(launched)}"
    first_pid, *respawned = watch.restored  # in the order the heartbeats came
    assert watch.restored[first_pid] == 0 and len(respawned) == sum(v == "/discovery" for v in _kill_order(random.Random(8)))
    assert all(watch.restored[pid] > 0 for pid in respawned), watch.restored
    assert all(g.seq > 1 for g in watch.first_graphs[1:]), [(g.seq, g.flags) for g in watch.first_graphs]
    _check_logs(logs, 1 + sum(1 for pid in watch.dead if pid in watch.recorder_pids))


def _check_logs(folder: Path, lives: int) -> None:
    """One log per recorder life, each recoverable; together they hold every recorded topic."""
    files = sorted(folder.glob("*.mcap"))
    seen: set[str] = set()
    assert len(files) == lives, [f.name for f in files]
    for f in files:
        fixed = folder / "recovered" / f.name
        fixed.parent.mkdir(exist_ok=True)
        res = run_cli("bag", "recover", str(f), "-o", str(fixed))
        assert res.returncode == 0 and fixed.exists(), res.stdout + res.stderr
        topics = {e.topic for e in read_log(fixed)}
        assert "/features" in topics and topics <= RECORDED, (f.name, topics)
        seen |= topics
    assert seen == RECORDED
