"""Soak: a pipeline at 1 kHz for minutes; memory of every node, messages lost, respawn times,
and the cost of CURVE on the bus, all in one run.

1. Steady (most of the run): ``causalstream launch`` of talker (1 kHz) -> relay -> listener
   and a recorder, plus the pipeline kinds that are registered (sim -> features ->
   discovery -> predictor). Every node's resident memory (psutil) is sampled every few
   seconds; growth is measured from the end of the warm-up to the end. Messages lost are
   the sequence gaps seen by the listener node and by this script's own subscriber on the
   1 kHz topics, where the bus promises delivery (every queue under its high-water mark).
2. Respawn: each respawning node is SIGKILLed a few times; the time from the kill to the
   first message of the replacement (a new publisher id on its output, or for a node with
   no output its first heartbeat) is recorded.
3. CURVE vs plain tcp: the same flood of small messages through a broker in this process,
   once plain and once with CURVE keys (stream/bus/security.py), alternated, best of three.
   The flood is an unpaced burst: every message must be received or counted as dropped by
   its publisher (a full direct link waits 2 ms, then drops and counts).

Run: ``.venv/bin/python bench/soak.py --minutes 10`` (writes bench/results/soak.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from causalstream.nodes.registry import available_kinds
from causalstream.stream import Broker, Endpoints, Publisher, Subscriber
from causalstream.stream.bus.security import (
    CLIENT_KEY_ENV,
    SERVER_KEY_ENV,
    ClientKeys,
    ServerKeys,
    generate_keys,
)
from causalstream.stream.messages import Features, NodeStatus

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "soak.json"
DATA_TOPICS = ["/chatter", "/chatter_copy"]  # 1 kHz: gaps here are messages lost
WATCHED = [*DATA_TOPICS, "/agents/state", "/features", "/causal/graph", "/predictions"]
BASE_NODES = """\
  - {name: talker, kind: talker, params: {rate_hz: RATE}, remap: {chatter: /chatter}, respawn: true, respawn_delay: 0.1}
  - {name: relay, kind: relay, remap: {in: /chatter, out: /chatter_copy}, respawn: true, respawn_delay: 0.1}
  - {name: listener, kind: listener, params: {topics: [/chatter, /chatter_copy]}, respawn: true, respawn_delay: 0.1}
"""
# node kinds added when registered: (yaml line, the output topic that shows it is back)
_RESPAWN = "respawn: true, respawn_delay: 0.1"
OPTIONAL_NODES = {
    "recorder": (f"  - {{name: recorder, kind: recorder, params: {{path: LOG, topics: [/chatter_copy, /features, "
                 f"/causal/graph, /predictions]}}, {_RESPAWN}}}\n", None),
    "sim": (f"  - {{name: sim, kind: sim, params: {{rate_hz: 20}}, remap: {{agents/state: /agents/state}}, "
            f"{_RESPAWN}}}\n", "/agents/state"),
    "features": (f"  - {{name: features, kind: features, remap: {{agents/state: /agents/state, features: /features}}, "
                 f"{_RESPAWN}}}\n", "/features"),
    "discovery": (f"  - {{name: discovery, kind: discovery, "
                  f"params: {{window: 300, min_samples: 100, hop: 5, alpha: 0.01, state: STATE}}, "
                  f"remap: {{features: /features, causal/graph: /causal/graph}}, {_RESPAWN}}}\n", "/causal/graph"),
    "predictor": (f"  - {{name: predictor, kind: predictor, remap: {{agents/state: /agents/state, "
                  f"causal/graph: /causal/graph, predictions: /predictions}}, {_RESPAWN}}}\n", "/predictions"),
}
OUTPUTS = {"/talker": "/chatter", "/relay": "/chatter_copy", "/listener": None}


def free_port_pair() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


class Monitor:
    """A subscriber thread: node pids from heartbeats, and when each publisher and pid was first seen."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.sub = Subscriber(["/node/status", *WATCHED], endpoints=endpoints, hwm=200_000).wait_ready(10)
        self.lock = threading.Lock()
        self.pids: dict[str, int] = {}
        self.status: dict[str, NodeStatus] = {}
        self.first_seen: dict[tuple[str, str], float] = {}  # (topic or node, publisher id or pid) -> time
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            got = self.sub.recv(timeout=0.2)
            if got is None:
                continue
            now = time.monotonic()
            with self.lock:
                if isinstance(got.message, NodeStatus):
                    st = got.message
                    if st.state == "running":
                        self.pids[st.name] = st.pid
                        self.status[st.name] = st
                        self.first_seen.setdefault((st.name, str(st.pid)), now)
                else:
                    self.first_seen.setdefault((got.topic, got.envelope.publisher), now)

    def gaps(self) -> int:
        return sum(c.gaps for t, c in self.sub.counters.items() if t in DATA_TOPICS)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sub.close()


def _launch_file(tmp: Path, rate: float) -> tuple[Path, list[str]]:
    text = "nodes:\n" + BASE_NODES.replace("RATE", str(rate))
    names = list(OUTPUTS)
    for kind, (line, output) in OPTIONAL_NODES.items():
        if kind in available_kinds():
            text += line.replace("LOG", str(tmp / "soak.mcap")).replace("STATE", str(tmp / "discovery.npz"))
            names.append(f"/{kind}")
            OUTPUTS.setdefault(f"/{kind}", output)
    path = tmp / "soak.yaml"
    path.write_text(text)
    return path, names


def _rss(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            pass
    return out


def steady(mon: Monitor, launcher_pid: int, seconds: float, every: float) -> dict:
    """Sample memory every ``every`` s for ``seconds``; gaps and node counters at the end."""
    series: list[dict] = []
    with mon.lock:
        talker_start = mon.status["/talker"].counters["out"]
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        with mon.lock:
            pids = {**mon.pids, "launcher+broker": launcher_pid}
        series.append({"t": round(elapsed, 1), "rss_mb": _rss(pids)})
        time.sleep(min(every, max(0.0, seconds - elapsed)))
    with mon.lock:
        status = {n: dict(s.counters) for n, s in mon.status.items()}
    rate = (status["/talker"]["out"] - talker_start) / (time.monotonic() - t0)
    return {"series": series, "gaps_seen_by_monitor": mon.gaps(), "node_counters": status,
            "talker_rate_hz": round(rate, 1)}


def growth(series: list[dict], warmup: float) -> dict[str, dict[str, float]]:
    """Per node: RSS at the end of warm-up and at the end (median of 3 samples), and growth in %."""
    after = [s for s in series if s["t"] >= warmup]
    out = {}
    for name in after[0]["rss_mb"] if after else []:
        vals = [s["rss_mb"][name] for s in after if name in s["rss_mb"]]
        if len(vals) < 4:
            continue
        start, end = statistics.median(vals[:3]), statistics.median(vals[-3:])
        out[name] = {"warm_mb": round(start, 1), "end_mb": round(end, 1), "peak_mb": round(max(vals), 1),
                     "growth_pct": round(100 * (end - start) / start, 2)}
    return out


def respawns(mon: Monitor, names: list[str], kills_each: int, rng: random.Random, gap: float) -> list[dict]:
    """SIGKILL each node ``kills_each`` times. Per kill: seconds to the replacement's first
    message (its first heartbeat, sent when its setup is done) and to its first output."""
    out = []
    for victim in [n for _ in range(kills_each) for n in rng.sample(names, len(names))]:
        time.sleep(gap)  # the warm spare of the last replacement finishes importing
        with mon.lock:
            pid = mon.pids[victim]
            known = set(mon.first_seen)
        os.kill(pid, signal.SIGKILL)
        t_kill = time.monotonic()
        topic = OUTPUTS.get(victim)
        up = output = None
        while (up is None or (topic and output is None)) and time.monotonic() < t_kill + 30:
            time.sleep(0.01)
            with mon.lock:
                new = [(k, t) for k, t in mon.first_seen.items() if k not in known and t >= t_kill]
            for (what, who), t in new:
                if what == victim and who != str(pid):
                    up = t if up is None else min(up, t)
                if topic and what == topic and who.startswith(victim + "/"):
                    output = t if output is None else min(output, t)
        out.append({"node": victim, "up_s": None if up is None else round(up - t_kill, 3),
                    "output_s": None if output is None else round(output - t_kill, 3)})
    return out


def _summary(values: list[float | None]) -> dict:
    got = [v for v in values if v is not None]
    return {"p50": round(statistics.median(got), 3) if got else None, "max": max(got) if got else None,
            "n": len(got), "not_back": len(values) - len(got)}


FLOOD_SCRIPT = """
import sys, numpy as np
from causalstream.stream import Publisher
from causalstream.stream.messages import Features
n = int(sys.argv[1])
msg = Features(names=[f"v{i}" for i in range(8)], values=np.arange(8.0))
with Publisher("/flood", Features, hwm=n + 10) as pub:
    pub.wait_ready(10).wait_for_subscriber(10)
    for i in range(n):
        pub.publish(msg, stamp_ns=i + 1)
    print(pub.link_drops, flush=True)  # frames its full links dropped (a burst may outrun a starved I/O thread)
    sys.stdin.read()  # stay connected until the receiver has everything
"""


def _flood(endpoints: Endpoints, keys: ClientKeys | None, key_files: dict[str, str], n: int) -> tuple[float, int]:
    """Messages per second decoded by this process from a publisher process, and the frames the
    publisher counted as dropped at a full link; every one of the ``n`` is received or counted.

    An unpaced burst of thousands of frames can outrun the publisher's link when its I/O
    thread is starved on two busy cores (a full link waits 2 ms, then drops and counts): the
    bus promises to count such drops, not to block the publisher."""
    env = {**os.environ, "CAUSALSTREAM_BUS": str(endpoints), "CAUSALSTREAM_STATS": "0", **key_files}
    with Subscriber("/flood", endpoints=endpoints, keys=keys, hwm=n + 10).wait_ready(10) as sub:
        proc = subprocess.Popen([sys.executable, "-c", FLOOD_SCRIPT, str(n)], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            first = sub.recv(timeout=30)
            t0 = t_last = time.perf_counter()
            got = 1 if first is not None else 0
            while got < n and sub.recv(timeout=2) is not None:
                got += 1
                t_last = time.perf_counter()
        finally:
            out, _ = proc.communicate("", timeout=30)
    dropped = int(out.split()[0]) if out.split() else -1
    if got + dropped != n:
        raise SystemExit(f"flood lost messages: {got} received + {dropped} counted as dropped of {n}")
    return (got - 1) / max(t_last - t0, 1e-9), dropped


def curve_cost(n: int, rounds: int = 3) -> dict:
    """Plain tcp and CURVE floods through a broker in this process, alternated; best of ``rounds``."""
    with tempfile.TemporaryDirectory() as d:
        keys = Path(d)
        (keys / "allowed").mkdir()
        _, broker_secret = generate_keys(keys, "broker")
        generate_keys(keys / "allowed", "client")
        files = {CLIENT_KEY_ENV: str(keys / "allowed" / "client.key_secret"), SERVER_KEY_ENV: str(keys / "broker.key")}
        client = ClientKeys.load(files[CLIENT_KEY_ENV], files[SERVER_KEY_ENV])
        server = ServerKeys.load(broker_secret, keys / "allowed")
        rates: dict[str, list[float]] = {"plain_tcp": [], "curve": []}
        dropped: dict[str, list[int]] = {"plain_tcp": [], "curve": []}
        for _ in range(rounds):
            for name, skeys, ckeys, env in (("plain_tcp", None, None, {}), ("curve", server, client, files)):
                ep = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
                with Broker(ep, keys=skeys):
                    rate, lost = _flood(ep, ckeys, env, n)
                rates[name].append(rate)
                dropped[name].append(lost)
    best = {k: max(v) for k, v in rates.items()}
    return {"messages": n, "payload": "Features, 8 values (~180 B)",
            "setup": "publisher process -> broker -> this process",
            "msgs_per_s": {k: round(v) for k, v in best.items()},
            "curve_vs_plain": round(best["curve"] / best["plain_tcp"], 3),
            "all_rounds": {k: [round(x) for x in v] for k, v in rates.items()},
            "dropped_by_publisher": dropped}


def run_pipeline(args: argparse.Namespace, tmp: Path) -> dict:
    launch_file, names = _launch_file(tmp, args.rate)
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
    out = open(tmp / "launch.out", "w")
    proc = subprocess.Popen([sys.executable, "-m", "causalstream.nodes.cli", "launch", str(launch_file), "--bus",
                             endpoints.pub], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        mon = Monitor(endpoints)
        deadline = time.monotonic() + 60
        while set(mon.pids) < set(names):
            if time.monotonic() > deadline:
                raise SystemExit(f"nodes never came up: {sorted(set(names) - set(mon.pids))}")
            time.sleep(0.2)
        seconds = args.minutes * 60
        result = steady(mon, proc.pid, seconds, args.sample_every)
        result["memory"] = growth(result["series"], min(args.warmup, seconds / 3))
        result["respawns"] = respawns(mon, names, args.kills, random.Random(8), args.kill_gap)
        mon.close()
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        out.close()


def report(res: dict) -> None:
    con = Console()
    table = Table("node", "RSS after warm-up (MB)", "end (MB)", "peak (MB)", "growth %", box=None)
    for name, m in sorted(res["memory"].items()):
        table.add_row(name, *(f"{m[k]:.1f}" for k in ("warm_mb", "end_mb", "peak_mb")), f"{m['growth_pct']:+.2f}")
    con.print(table)
    con.print(f"lost where delivery was promised: {res['lost']} (listener gaps {res['listener_dropped']}, "
              f"monitor gaps {res['gaps_seen_by_monitor']}); talker {res['talker_rate_hz']} Hz")
    r = res["respawn_seconds"]
    con.print(f"respawn (SIGKILL to the replacement's first message): p50 {r['p50']} s, max {r['max']} s, n {r['n']}")
    for node, o in res["output_back_seconds"].items():
        con.print(f"  {node}: first output after the kill p50 {o['p50']} s, max {o['max']} s")
    c = res["curve"]
    con.print(f"CURVE {c['msgs_per_s']['curve']} msg/s vs plain tcp {c['msgs_per_s']['plain_tcp']} msg/s: "
              f"ratio {c['curve_vs_plain']}; counted as dropped by the flood's publisher: {c['dropped_by_publisher']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="Length of the steady phase.")
    ap.add_argument("--rate", type=float, default=1000.0, help="Talker rate (Hz).")
    ap.add_argument("--warmup", type=float, default=60.0, help="Seconds before memory growth is measured.")
    ap.add_argument("--sample-every", type=float, default=5.0, help="Seconds between memory samples.")
    ap.add_argument("--kills", type=int, default=3, help="SIGKILLs per node in the respawn phase.")
    ap.add_argument("--kill-gap", type=float, default=2.5, help="Seconds between kills (spares need ~2 s to import).")
    ap.add_argument("--curve-messages", type=int, default=50_000, help="Messages per CURVE/plain flood.")
    ap.add_argument("--curve-rounds", type=int, default=3, help="Floods of each kind (the best counts).")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        res = run_pipeline(args, Path(d))
    res["respawn_seconds"] = _summary([r["up_s"] for r in res["respawns"]])
    res["output_back_seconds"] = {
        node: _summary([r["output_s"] for r in res["respawns"] if r["node"] == node])
        for node in sorted({r["node"] for r in res["respawns"] if OUTPUTS.get(r["node"])})}
    res["listener_dropped"] = res["node_counters"].get("/listener", {}).get("gaps", 0)
    res["lost"] = res["listener_dropped"] + res["gaps_seen_by_monitor"]
    res["curve"] = curve_cost(args.curve_messages, args.curve_rounds)
    res["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    res["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                      "load_avg": [round(x, 2) for x in os.getloadavg()]}
    report(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
