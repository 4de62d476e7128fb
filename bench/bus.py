"""Bus benchmark: raw pyzmq vs causalstream vs Zenoh, side by side in one run.

(a) raw pyzmq PUB -> SUB, single 200-byte frames, no broker: the ceiling (msgs/s); for context,
    raw frames (no codec) through the same broker, and 64 KiB raw frames direct and via the broker;
(b) causalstream Publisher -> Subscriber on a local bus (the direct path: frames go publisher ->
    subscriber inbox, the broker process only introduces them), decoded messages/s, and latency
    p50/p99 at 1 kHz paced, for a ~350-byte AgentStates and a 64 KiB array; and the same through
    the broker process (CAUSALSTREAM_DIRECT=0, the multi-host path), for comparison;
(c) eclipse-zenoh pub/sub (peer mode over loopback tcp, congestion control BLOCK) with the
    same encoded payloads, decoded the same way (``decode_payload``, as our subscriber does).
Publisher and subscriber are separate processes; latency is wall-clock stamp to decode. The 1 kHz
pacing sleeps and spins only the last 0.3 ms of each period, for both systems. The machine is
shared, so (b) and (c) run ``--rounds`` times (default 3), interleaved: each case reports the
median over rounds (and every round), and each ratio is the median of the per-round ratios.
Writes bench/results/bus.json. Run: `.venv/bin/python bench/bus.py [--rounds 3]` (or `make bench`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import zmq
from rich.console import Console
from rich.table import Table

from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.codec import decode_payload, encode_payload
from causalstream.stream.messages import AgentStates, Predictions

OUT = Path(__file__).resolve().parent / "results" / "bus.json"
N_THROUGHPUT = {"small": 100_000, "large": 5_000}
N_LATENCY = 5_000  # at 1 kHz: five seconds per case


def payloads() -> dict[str, object]:
    rng = np.random.default_rng(0)
    small = AgentStates(ids=["robot", "h1", "h2"], roles=["robot", "human", "human"], x=rng.normal(size=3),
                        y=rng.normal(size=3), vx=rng.normal(size=3), vy=rng.normal(size=3))
    # 64 KiB of array data: 34 agents x 20 modes x 12 steps x 2 (float32), as the predictor sends
    large = Predictions(agent_ids=[f"h{i}" for i in range(34)], trajectories=rng.normal(size=(34, 20, 12, 2)).astype(np.float32),
                        probabilities=np.full((34, 20), 0.05, dtype=np.float32), model_id="bench")
    return {"small": small, "large": large}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- subscriber processes ---------------------------------------------------------------

def _zenoh_version() -> str:
    try:
        return metadata.version("eclipse-zenoh")
    except metadata.PackageNotFoundError:
        return "not installed"


def _finish(conn, n: int, t_first: float, t_last: float, lat: list[float], got: int) -> None:
    conn.send({"received": got, "seconds": t_last - t_first, "latencies_ms": lat})


def sub_raw(endpoint: str, n: int, conn) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.set(zmq.RCVHWM, 0)
    s.connect(endpoint)
    s.subscribe(b"")
    conn.send("ready")
    got, t0 = 0, 0.0
    while got < n and s.poll(3000):
        s.recv(copy=False)
        if got == 0:
            t0 = time.perf_counter()
        got += 1
    _finish(conn, n, t0, time.perf_counter(), [], got)


def sub_causalstream(endpoints: str, topic: str, n: int, conn) -> None:
    sub = Subscriber(topic, endpoints=endpoints, hwm=0).wait_ready(10)
    conn.send("ready")
    got, t0, lat = 0, 0.0, []
    while got < n:
        r = sub.recv(timeout=3.0)
        if r is None:
            break
        now = time.time_ns()
        if got == 0:
            t0 = time.perf_counter()
        lat.append((now - r.envelope.stamp_ns) / 1e6)
        got += 1
    _finish(conn, n, t0, time.perf_counter(), lat, got)


def _zenoh_session(listen: str | None, connect: str | None):
    import zenoh  # noqa: PLC0415 - bench-only dependency, imported in the child process

    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("scouting/multicast/enabled", "false")
    if listen:
        conf.insert_json5("listen/endpoints", json.dumps([listen]))
    if connect:
        conf.insert_json5("connect/endpoints", json.dumps([connect]))
    return zenoh, zenoh.open(conf)


def sub_zenoh(endpoint: str, type_name: str, n: int, conn) -> None:
    zenoh, session = _zenoh_session(None, endpoint)
    state = {"got": 0, "t0": 0.0, "t1": 0.0, "lat": []}
    finished = threading.Event()

    def on_sample(sample) -> None:
        raw = sample.payload.to_bytes()
        now = time.time_ns()
        stamp = int.from_bytes(raw[:8], "little")
        decode_payload(type_name, raw[8:])
        if state["got"] == 0:
            state["t0"] = time.perf_counter()
        state["lat"].append((now - stamp) / 1e6)
        state["got"] += 1
        state["t1"] = time.perf_counter()
        if state["got"] >= n:
            finished.set()

    sub = session.declare_subscriber("bench/data", on_sample)
    time.sleep(0.5)
    conn.send("ready")
    finished.wait(timeout=60 + n / 1000)
    sub.undeclare()
    _finish(conn, n, state["t0"], state["t1"], state["lat"], state["got"])
    session.close()


# -- runs ---------------------------------------------------------------------------------

def _start(target, *args):
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=target, args=(*args, child))
    proc.start()
    assert parent.recv() == "ready"
    return proc, parent


def _result(proc, conn) -> dict:
    out = conn.recv()
    proc.join(10)
    return out


def _pace(i: int, t0: float, period: float) -> None:
    """Wait for the i-th tick: sleep most of the way, spin the last 0.3 ms (as a real 1 kHz
    source does; spinning the whole period would take a core from the bus it measures)."""
    if period:
        target = t0 + i * period
        left = target - time.perf_counter()
        if left > 4e-4:
            time.sleep(left - 3e-4)
        while time.perf_counter() < target:
            pass


def run_raw(n: int, size: int = 200, via: Endpoints | None = None) -> dict:
    """Raw frames, no encoding or decoding: PUB -> SUB directly, or through the broker ``via``."""
    ctx = zmq.Context()
    if via is None:
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        pub = ctx.socket(zmq.PUB)
        pub.set(zmq.SNDHWM, 0)
        pub.bind(endpoint)
    else:
        endpoint = via.sub
        pub = ctx.socket(zmq.XPUB)
        pub.set(zmq.SNDHWM, 0)
        pub.connect(via.pub)
    proc, conn = _start(sub_raw, endpoint, n)
    time.sleep(0.5)
    frame = b"/x\x00" + os.urandom(size)
    for _ in range(n):
        pub.send(frame)
    res = _result(proc, conn)
    pub.close()
    return res


def run_causalstream(endpoints: Endpoints, msg, n: int, period: float, direct: bool = True) -> dict:
    topic = "/bench"
    os.environ["CAUSALSTREAM_DIRECT"] = "1" if direct else "0"  # read by both ends (the child inherits it)
    proc, conn = _start(sub_causalstream, str(endpoints), topic, n)
    pub = Publisher(topic, type(msg), endpoints=endpoints, hwm=0).wait_ready(10).wait_for_subscriber(10)
    assert pub.direct is direct
    t0 = time.perf_counter()
    for i in range(n):
        _pace(i, t0, period)
        pub.publish(msg, stamp_ns=time.time_ns())
    res = _result(proc, conn)
    pub.close()
    return res


def run_zenoh(msg, n: int, period: float) -> dict:
    endpoint = f"tcp/127.0.0.1:{free_port()}"
    zenoh, session = _zenoh_session(endpoint, None)
    pub = session.declare_publisher("bench/data", congestion_control=zenoh.CongestionControl.BLOCK)
    proc, conn = _start(sub_zenoh, endpoint, type(msg).__name__, n)
    t0 = time.perf_counter()
    for i in range(n):
        _pace(i, t0, period)
        pub.put(time.time_ns().to_bytes(8, "little") + encode_payload(msg))
    res = _result(proc, conn)
    pub.undeclare()
    session.close()
    return res


def summarize(res: dict, n: int) -> dict:
    lat = np.array(res["latencies_ms"]) if res["latencies_ms"] else np.array([np.nan])
    return {
        "sent": n,
        "received": res["received"],
        "msgs_per_s": res["received"] / res["seconds"] if res["seconds"] > 0 else 0.0,
        "latency_p50_ms": float(np.nanpercentile(lat, 50)),
        "latency_p99_ms": float(np.nanpercentile(lat, 99)),
    }


def _round(endpoints: Endpoints) -> dict:
    """One round of (b) and (c): every peer and payload, throughput then latency at 1 kHz."""
    cases = {}
    for name, msg in payloads().items():
        size = len(encode_payload(msg))
        n = N_THROUGHPUT[name]
        for peer, fn in (("causalstream", lambda m, k, p: run_causalstream(endpoints, m, k, p)),
                         ("causalstream_via_broker", lambda m, k, p: run_causalstream(endpoints, m, k, p, False)),
                         ("zenoh", run_zenoh)):
            thr = summarize(fn(msg, n, 0.0), n)
            lat = summarize(fn(msg, N_LATENCY, 1e-3), N_LATENCY)
            cases[f"{peer}_{name}"] = {
                "payload_bytes": size, "throughput_msgs_per_s": thr["msgs_per_s"],
                "throughput_received": f"{thr['received']}/{thr['sent']}",
                "latency_1khz_p50_ms": lat["latency_p50_ms"], "latency_1khz_p99_ms": lat["latency_p99_ms"],
                "latency_received": f"{lat['received']}/{lat['sent']}",
            }
    return cases


_RATIOS = {  # name: (numerator case, denominator case, field)
    "small_vs_zenoh": ("causalstream_small", "zenoh_small", "throughput_msgs_per_s"),
    "large_vs_zenoh": ("causalstream_large", "zenoh_large", "throughput_msgs_per_s"),
    "p99_small_vs_zenoh": ("causalstream_small", "zenoh_small", "latency_1khz_p99_ms"),
    "p99_large_vs_zenoh": ("causalstream_large", "zenoh_large", "latency_1khz_p99_ms"),
    "small_direct_vs_via_broker": ("causalstream_small", "causalstream_via_broker_small", "throughput_msgs_per_s"),
    "large_direct_vs_via_broker": ("causalstream_large", "causalstream_via_broker_large", "throughput_msgs_per_s"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the causalstream and Zenoh cases")
    args = ap.parse_args()
    console = Console(width=140)
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port()}")
    broker = subprocess.Popen([sys.executable, "-m", "causalstream.nodes.cli", "bus", "-e", endpoints.pub],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "zmq": zmq.zmq_version(), "pyzmq": zmq.__version__, "zenoh": _zenoh_version(),
                                 "loadavg_before": os.getloadavg()}, "rounds": args.rounds, "cases": {}}
    rounds = []
    try:
        results["cases"]["raw_pyzmq_200B"] = summarize(run_raw(N_THROUGHPUT["small"]), N_THROUGHPUT["small"])
        # transport ceilings, for context: raw frames (no codec) through the same broker, and 64 KiB direct
        for key, n, size, via in (("raw_via_broker_200B", N_THROUGHPUT["small"], 200, endpoints),
                                  ("raw_pyzmq_64KiB", N_THROUGHPUT["large"], 65536, None),
                                  ("raw_via_broker_64KiB", N_THROUGHPUT["large"], 65536, endpoints)):
            results["cases"][key] = summarize(run_raw(n, size, via), n)
        for r in range(args.rounds):
            rounds.append(_round(endpoints))
            console.print(f"round {r + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})")
    finally:
        broker.terminate()
        broker.wait(10)
    results["machine"]["loadavg_after"] = os.getloadavg()
    c = results["cases"]
    for key in rounds[0]:
        med = dict(rounds[0][key])
        for field in ("throughput_msgs_per_s", "latency_1khz_p50_ms", "latency_1khz_p99_ms"):
            values = [rd[key][field] for rd in rounds]
            med[field] = float(np.median(values))
            med[f"{field}_rounds"] = values
        med["throughput_received"] = ", ".join(rd[key]["throughput_received"] for rd in rounds)
        med["latency_received"] = ", ".join(rd[key]["latency_received"] for rd in rounds)
        c[key] = med
    ratios = {name: float(np.median([rd[a][f] / rd[b][f] for rd in rounds])) for name, (a, b, f) in _RATIOS.items()}
    ratios["small_vs_raw_pyzmq"] = c["causalstream_small"]["throughput_msgs_per_s"] / c["raw_pyzmq_200B"]["msgs_per_s"]
    ratios["raw_via_broker_64KiB_vs_zenoh"] = c["raw_via_broker_64KiB"]["msgs_per_s"] / c["zenoh_large"]["throughput_msgs_per_s"]
    results["ratios"] = ratios
    results["ratios_per_round"] = {name: [rd[a][f] / rd[b][f] for rd in rounds] for name, (a, b, f) in _RATIOS.items()}
    results["goals"] = {"throughput >= zenoh (small)": ratios["small_vs_zenoh"] >= 1.0,
                        "p99 <= zenoh (small)": ratios["p99_small_vs_zenoh"] <= 1.0,
                        "throughput >= zenoh (64 KiB)": ratios["large_vs_zenoh"] >= 1.0,
                        "p99 <= zenoh (64 KiB)": ratios["p99_large_vs_zenoh"] <= 1.0}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    table = Table("case", "bytes", "msgs/s", "p50 ms @1kHz", "p99 ms @1kHz", "received", title="bus benchmark")
    for key, label, size in (("raw_pyzmq_200B", "raw pyzmq PUB/SUB", "200"), ("raw_via_broker_200B", "raw via broker", "200"),
                             ("raw_pyzmq_64KiB", "raw pyzmq PUB/SUB", "65536"),
                             ("raw_via_broker_64KiB", "raw via broker", "65536")):
        table.add_row(label, size, f"{c[key]['msgs_per_s']:,.0f}", "-", "-", str(c[key]["received"]))
    for key in ("causalstream_small", "causalstream_via_broker_small", "zenoh_small",
                "causalstream_large", "causalstream_via_broker_large", "zenoh_large"):
        r = c[key]
        table.add_row(key, str(r["payload_bytes"]), f"{r['throughput_msgs_per_s']:,.0f}",
                      f"{r['latency_1khz_p50_ms']:.3f}", f"{r['latency_1khz_p99_ms']:.3f}",
                      f"{r['throughput_received']} / {r['latency_received']}")
    console.print(table)
    console.print({k: round(v, 3) for k, v in ratios.items()})
    console.print(results["goals"])


if __name__ == "__main__":
    main()
