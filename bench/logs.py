"""Logs benchmark: the raw `mcap` Writer/Reader against our record and replay paths.

Same payloads, same file settings (zstd chunks of 1 MiB), one run:

- write: raw ``mcap.Writer.add_message`` vs our recorder's writer path
  (``Recorder.record_frame`` on frames already received: envelope split, duplicate check,
  channel lookup, MCAP write);
- read: raw ``mcap`` reader ``iter_messages`` vs our replay path (``Player.run`` at rate 0:
  read, envelope, send on a ZeroMQ socket; the broker is running, nobody subscribes);
- end to end through the bus (broker and the other side in their own processes): record
  (a publisher process at full speed -> broker -> our recorder) and replay (our player at
  rate 0 -> broker -> a raw SUB socket process counting frames);
- export for the viewers: ``export_log`` to ``mcap-json`` and ``foxglove`` (decode, viewer JSON,
  write) against the raw ``mcap`` read of the same file, as a ratio. ``--export-only`` runs this
  part alone and keeps the other figures of bench/results/logs.json.

Writes bench/results/logs.json and prints a table with ratios (ours / raw mcap).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from causalstream.stream import Broker, Endpoints, Player, Recorder
from causalstream.stream.codec import encode_frame, encode_payload, json_schema
from causalstream.stream.log.export import export_log
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import AgentStates, Features, Message, Predictions

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "logs.json"


def payloads() -> dict[str, tuple[str, Message, int]]:
    """name -> (topic, message, count)."""
    agents = AgentStates(stamp_ns=1, ids=["robot", "h1", "h2"], roles=["robot", "human", "human"],
                         x=np.arange(3.0), y=np.ones(3), vx=np.zeros(3), vy=np.zeros(3))
    feats = Features(stamp_ns=1, names=[f"a{i}.v" for i in range(10)], values=np.linspace(0, 1, 10))
    preds = Predictions(agent_ids=[f"h{i}" for i in range(8)], trajectories=np.random.default_rng(0).normal(size=(8, 6, 12, 2)),
                        probabilities=np.ones((8, 6)) / 6)
    return {"Features[10]": ("/features", feats, 200_000), "AgentStates[3]": ("/agents/state", agents, 200_000),
            "Predictions[8x6x12]": ("/predictions", preds, 20_000)}


def best_rate(fn, n: int, repeats: int = 3) -> float:  # noqa: ANN001
    """Messages per second of the best of ``repeats`` runs of ``fn()`` (which handles n messages)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def raw_write(path: str, topic: str, type_name: str, payload: bytes, n: int) -> None:
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=1 << 20, compression=CompressionType.ZSTD)
        w.start()
        sid = w.register_schema(type_name, "jsonschema", json_schema(type_name).encode())
        cid = w.register_channel(topic, "msgpack", sid)
        for i in range(n):
            w.add_message(cid, i, payload, i, i)
        w.finish()


def our_write(path: str, frames: list[bytes]) -> None:
    rec = Recorder(path, ["/x"], endpoints="inproc://bench-none", flush_interval=0.5)
    for i, frame in enumerate(frames):
        rec.record_frame(frame, i)
    rec.close()


def raw_read(path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        for _, _, m in make_reader(f).iter_messages(log_time_order=True):
            n += len(m.data) > 0
    return n


SUB_COUNTER = """
import sys, time, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.SUB); s.set(zmq.RCVHWM, 1_000_000)
s.connect(sys.argv[1]); s.subscribe(sys.argv[2].encode() + b"\\0")
want = int(sys.argv[3]); print("ready", flush=True)
n = 0; t0 = None
while n < want and s.poll(10_000):
    s.recv(); n += 1
    if t0 is None: t0 = time.perf_counter()
print(n, time.perf_counter() - t0, flush=True)
"""

PUB_FLOOD = """
import sys, time, numpy as np
from causalstream.stream import Publisher
from causalstream.stream.messages import AgentStates
pub = Publisher("/agents/state", AgentStates, hwm=1_000_000).wait_ready(10).wait_for_subscriber(10)
msg = AgentStates(stamp_ns=1, ids=["robot", "h1", "h2"], roles=["robot", "human", "human"],
                  x=np.arange(3.0), y=np.ones(3), vx=np.zeros(3), vy=np.zeros(3))
for i in range(int(sys.argv[1])):
    pub.publish(msg, stamp_ns=i + 1)
time.sleep(3); pub.close()
"""


def bus_process(endpoints: Endpoints) -> subprocess.Popen:
    env = {**os.environ, "CAUSALSTREAM_STATS": "0"}
    return subprocess.Popen([sys.executable, "-m", "causalstream.nodes.cli", "bus", "--endpoint", endpoints.pub,
                             "--hwm", "1000000"], env=env, stderr=subprocess.DEVNULL)


def end_to_end(tmp: str, n: int) -> dict[str, float]:
    endpoints = Endpoints.parse("tcp://127.0.0.1:7790")
    env = {**os.environ, "CAUSALSTREAM_BUS": str(endpoints), "CAUSALSTREAM_STATS": "0"}
    bus = bus_process(endpoints)
    try:
        time.sleep(1.0)
        # record: publisher process -> broker -> our recorder
        path = os.path.join(tmp, "e2e.mcap")
        rec = Recorder(path, ["/agents/state"], endpoints=endpoints, hwm=1_000_000).wait_ready(10)
        pub = subprocess.Popen([sys.executable, "-c", PUB_FLOOD, str(n)], env=env)
        first = None
        while rec.count < n:
            if rec.spin_once(0.5) and first is None:
                first = time.perf_counter()
            if pub.poll() is not None and not rec.spin_once(0.5):
                break
        record_rate = rec.count / (time.perf_counter() - first)
        recorded = rec.count
        rec.close()
        pub.wait()
        # replay: our player -> broker -> a raw SUB socket in another process
        sub = subprocess.Popen([sys.executable, "-c", SUB_COUNTER, endpoints.sub, "/agents/state", str(recorded)],
                               stdout=subprocess.PIPE, text=True)
        assert sub.stdout.readline().strip() == "ready"
        with Player(path, endpoints=endpoints, rate=0, wait_subscribers=5.0) as player:
            player.run()
        got, secs = sub.stdout.readline().split()
        sub.wait()
        return {"record_msgs_per_s": record_rate, "recorded": recorded, "published": n,
                "replay_msgs_per_s": int(got) / float(secs), "replayed_received": int(got)}
    finally:
        bus.terminate()
        bus.wait()


def export_rates(tmp: str, scale: float = 0.1) -> dict[str, dict[str, float]]:
    """Messages per second of export_log to mcap-json and foxglove, beside the raw mcap read of the same log."""
    out: dict[str, dict[str, float]] = {}
    for name, (topic, msg, n) in payloads().items():
        n = int(n * scale)
        src = os.path.join(tmp, "export_src.mcap")
        with LogWriter(src, fsync=False) as w:
            for i in range(n):
                w.write(topic, msg, log_time_ns=i + 1)
        raw = best_rate(lambda: raw_read(src), n)
        row = {"messages": n, "raw_mcap_read_msgs_per_s": raw}
        for fmt in ("mcap-json", "foxglove"):
            rate = best_rate(lambda: export_log(src, fmt, out=os.path.join(tmp, "export_out.mcap")), n)  # noqa: B023
            row[f"export_{fmt}_msgs_per_s"] = rate
            row[f"export_{fmt}_vs_raw_read"] = rate / raw
        out[name] = row
    return out


def export_only(console: Console) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        results["export"] = {"load_average_at_start": os.getloadavg()[0], **export_rates(tmp)}
    _print_export(console, results["export"])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {RESULTS.relative_to(ROOT.parent)} (export only)")


def _print_export(console: Console, rows: dict) -> None:
    table = Table("payload", "messages", "raw mcap read", "export mcap-json", "ratio", "export foxglove", "ratio",
                  title="export for the viewers, messages per second")
    for name, r in rows.items():
        if not isinstance(r, dict):
            continue
        table.add_row(name, str(r["messages"]), f"{r['raw_mcap_read_msgs_per_s']:,.0f}",
                      f"{r['export_mcap-json_msgs_per_s']:,.0f}", f"{r['export_mcap-json_vs_raw_read']:.2f}",
                      f"{r['export_foxglove_msgs_per_s']:,.0f}", f"{r['export_foxglove_vs_raw_read']:.2f}")
    console.print(table)


def main() -> None:
    console = Console(width=150)
    if "--export-only" in sys.argv[1:]:
        export_only(console)
        return
    results: dict[str, object] = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
                                  "load_average_at_start": os.getloadavg()[0],
                                  "note": "shared 2-core machine; best of 3 runs; zstd chunks of 1 MiB", "payloads": {}}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        endpoints = Endpoints.parse("tcp://127.0.0.1:7780")
        with Broker(endpoints, hwm=1_000_000):
            for name, (topic, msg, n) in payloads().items():
                type_name = type(msg).__name__
                payload = encode_payload(msg)
                frames = [encode_frame("/x", msg, i, "bench", i + 1) for i in range(n)]
                raw_path, our_path = os.path.join(tmp, "raw.mcap"), os.path.join(tmp, "ours.mcap")
                raw_w = best_rate(lambda: raw_write(raw_path, topic, type_name, payload, n), n)
                our_w = best_rate(lambda: our_write(our_path, frames), n)
                raw_r = best_rate(lambda: raw_read(raw_path), n)

                def replay() -> None:
                    with Player(our_path, endpoints=endpoints, rate=0, wait_subscribers=0.0) as p:
                        p.run()

                our_r = best_rate(replay, n)
                results["payloads"][name] = {
                    "payload_bytes": len(payload), "messages": n,
                    "raw_mcap_write_msgs_per_s": raw_w, "record_writer_path_msgs_per_s": our_w,
                    "raw_mcap_read_msgs_per_s": raw_r, "replay_rate0_no_subscriber_msgs_per_s": our_r,
                    "file_bytes_per_msg": os.path.getsize(our_path) / n,
                }
        results["end_to_end_AgentStates[3]"] = end_to_end(tmp, 100_000)
        results["export"] = {"load_average_at_start": os.getloadavg()[0], **export_rates(tmp)}
    _print_export(console, results["export"])
    table = Table("payload", "bytes", "raw mcap write", "our record (writer path)", "ratio",
                  "raw mcap read", "our replay (rate 0)", "ratio", title="messages per second")
    for name, r in results["payloads"].items():
        table.add_row(name, str(r["payload_bytes"]), f"{r['raw_mcap_write_msgs_per_s']:,.0f}",
                      f"{r['record_writer_path_msgs_per_s']:,.0f}",
                      f"{r['record_writer_path_msgs_per_s'] / r['raw_mcap_write_msgs_per_s']:.2f}",
                      f"{r['raw_mcap_read_msgs_per_s']:,.0f}", f"{r['replay_rate0_no_subscriber_msgs_per_s']:,.0f}",
                      f"{r['replay_rate0_no_subscriber_msgs_per_s'] / r['raw_mcap_read_msgs_per_s']:.2f}")
    console.print(table)
    e2e = results["end_to_end_AgentStates[3]"]
    console.print(f"end to end through the bus (AgentStates[3]): record {e2e['record_msgs_per_s']:,.0f} msg/s "
                  f"({e2e['recorded']} of {e2e['published']} kept), replay at rate 0 {e2e['replay_msgs_per_s']:,.0f} msg/s "
                  f"({e2e['replayed_received']} received)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {RESULTS.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
