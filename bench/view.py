"""Benchmark: the live view at the demo's rates, one real viewer client connected (issue 19).

The demo (launch/demo.yaml: sim, features and discovery in one container, the predictor, at
20 Hz, window 300, a refresh every sample) runs ``--duration`` s of sim time, ``--rounds``
times three runs in turns, so a change of the machine's load falls on each: without the view,
with ``view:=true`` (the ``foxglove`` node in its own process) and no client, and with the view
and one @foxglove/ws-protocol FoxgloveClient (tests/js/view_client.mjs, under node, on the same
2 cores) subscribed to every channel for the whole run, decoding every message.

- **forwarded vs received**: the view's ``view:offered`` (messages handed to the sdk for a
  subscribed client; one client here) from its last heartbeat, against the messages the client
  decoded; the difference is what the sdk dropped or what was in flight when the view stopped.
- **the view's CPU per message**: user + system CPU of the view's process (psutil; the sdk's
  threads included) between its first heartbeat with the client subscribed and its last
  running one, over the bus messages it read (``in``) and over the records it sent (``out``);
  with no client too (first to last running heartbeat: it converts only what a viewer watches).
- **sample -> graph latency**: as bench/hri.py measures it (receipt of /causal/graph in this
  process minus the stamp of the newest sample in its window), with and without the view, as
  p50 / p99 and their ratios (goal: with the client, at most 1.10); the client's CPU share too
  (psutil, while it waits out its time after the run). This process subscribes to /causal/graph and
  /node/status only, so without the view the container's samples stay objects.
- **pictures**: the /view/graph messages the client received, a second (the view's param
  ``picture_hz`` caps its redraws, 2 a second by default).
- **graph picture draw time**: ``stream/viewer_graph_image.render`` of the graphs the run
  received (the discovered one beside the truth), per draw, and ``GraphPicture``'s cost per
  20 Hz graph (it redraws only when a link set changes); null if that module is not there.

    nice -n 10 .venv/bin/python bench/view.py [--duration 45] [--rounds 2] [--out bench/results/view.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from hri import free_port, pct
from rich.console import Console
from rich.table import Table

from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.messages import CausalGraph, NodeStatus

try:
    from causalstream.stream.viewer_graph_image import GraphPicture, render
except ImportError:  # the graph picture not built yet: its draw time is left null
    GraphPicture = render = None

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "tests" / "js"
VIEW = "/view"


def _cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return float("nan")
    return t.user + t.system


def run_demo(duration: float, view: bool, tag: str, with_client: bool = True) -> dict:
    """One demo run; what this process heard (graphs with receipt times, the view's heartbeats) and the client's report."""
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port()}")
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    log_path = ROOT / "bench" / "results" / f"view_{tag}.log.tmp"
    cmd = [sys.executable, "-m", "causalstream.nodes.cli", "launch", str(ROOT / "launch" / "demo.yaml"),
           "--bus", endpoints.pub, f"duration:={duration:g}", f"view:={'true' if view else 'false'}",
           f"view_port:={port}"]
    graphs: list[tuple[int, CausalGraph]] = []
    truth: CausalGraph | None = None
    beats: list[tuple[NodeStatus, float]] = []  # the view's heartbeats, with its CPU seconds when each came
    client = None
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with Subscriber(["/causal/graph", "/sim/ground_truth", "/node/status"], endpoints=endpoints) as sub:
                deadline = time.monotonic() + duration + 120
                while time.monotonic() < deadline:
                    got = sub.recv(timeout=0.5)
                    now = time.time_ns()
                    if got is None:
                        if proc.poll() is not None:
                            break
                        continue
                    msg = got.message
                    if got.topic == "/causal/graph" and isinstance(msg, CausalGraph):
                        graphs.append((now, msg))
                    elif got.topic == "/sim/ground_truth" and isinstance(msg, CausalGraph):
                        truth = msg
                    elif isinstance(msg, NodeStatus) and msg.name == VIEW:
                        beats.append((msg, _cpu(msg.pid)))
                        if client is None and with_client and msg.state == "running":  # serving: the viewer connects
                            client = subprocess.Popen(["node", str(JS / "view_client.mjs"), f"ws://127.0.0.1:{port}",
                                                       f"{duration + 25:g}"], cwd=JS, stdout=subprocess.PIPE,
                                                      stderr=subprocess.PIPE, text=True, start_new_session=True)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
    report, client_cpu = None, None
    if client is not None:
        client_cpu = _cpu(client.pid)  # the client waits out its time: still alive, its CPU so far
        out, err = client.communicate(timeout=120)
        report = json.loads(out) if client.returncode == 0 and out.strip() else {"error": err[-2000:]}
    return {"graphs": graphs, "truth": truth, "beats": beats, "client": report, "client_cpu_s": client_cpu}


def alone_cpu(run: dict) -> dict:
    """The view's CPU with no client (it converts only a channel's first message and the latched
    topics' records), between its first and its last running heartbeat."""
    live = [(s, cpu) for s, cpu in run["beats"] if s.state == "running"]
    if len(live) < 2:
        return {}
    (a, cpu_a), (b, cpu_b) = live[0], live[-1]
    n_in, window = b.counters["in"] - a.counters["in"], (b.stamp_ns - a.stamp_ns) / 1e9
    return {"cpu_s": cpu_b - cpu_a, "window_s": window, "messages_in": n_in,
            "cpu_us_per_message_in": 1e6 * (cpu_b - cpu_a) / n_in if n_in else None,
            "cpu_share_of_a_core": (cpu_b - cpu_a) / window if window else None,
            "view_counters": {k: v for k, v in b.counters.items() if k.startswith("view:") or k in ("in", "out")}}


def view_figures(run: dict) -> dict:
    """Forwarded vs received and CPU per message, from the view's heartbeats and the client's report."""
    beats = run["beats"]
    live = [(s, cpu) for s, cpu in beats if s.state == "running" and s.counters.get("view:clients", 0) >= 1]
    last = beats[-1][0].counters if beats else {}
    channels = (run["client"] or {}).get("channels", {})
    received = sum(c["messages"] for c in channels.values())
    bad = sum(c["bad"] for c in channels.values())
    offered = last.get("view:offered", 0)
    fig = {"offered": offered, "received": received, "received_share": received / offered if offered else None,
           "dropped": offered - received, "bad": bad, "channels": len(channels),
           "pictures_received": channels.get("/view/graph", {}).get("messages"),  # the view's redraws (capped)
           "client_errors": (run["client"] or {}).get("errors", [])[:5], "client_cpu_s": run["client_cpu_s"],
           "view_counters": {k: v for k, v in last.items() if k.startswith("view:") or k in ("in", "out", "gaps")}}
    if len(live) >= 2:
        (a, cpu_a), (b, cpu_b) = live[0], live[-1]
        n_in, n_out = b.counters["in"] - a.counters["in"], b.counters["out"] - a.counters["out"]
        fig.update(cpu_s=cpu_b - cpu_a, window_s=(b.stamp_ns - a.stamp_ns) / 1e9, messages_in=n_in, records_out=n_out,
                   cpu_us_per_message_in=1e6 * (cpu_b - cpu_a) / n_in if n_in else None,
                   cpu_us_per_record_out=1e6 * (cpu_b - cpu_a) / n_out if n_out else None,
                   cpu_share_of_a_core=(cpu_b - cpu_a) / ((b.stamp_ns - a.stamp_ns) / 1e9))
    return fig


def latencies(run: dict) -> list[float]:
    """Sample -> graph latency of each graph, ms (bench/hri.py's measure)."""
    return [(received - g.window_end_ns) / 1e6 for received, g in run["graphs"]]


def draw_times(graphs: list[CausalGraph], truth: CausalGraph | None) -> dict | None:
    """render() per draw over the run's graphs whose links changed; GraphPicture's cost per graph."""
    if render is None or GraphPicture is None or not graphs:
        return None
    pic, per_graph, draws = GraphPicture(), [], []
    if truth is not None:
        pic.update(truth, truth=True)
    for g in graphs:
        t0 = time.perf_counter()
        drawn = pic.update(g)
        dt = (time.perf_counter() - t0) * 1e3
        per_graph.append(dt)
        if drawn is not None:
            draws.append(dt)
    return {"graphs": len(graphs), "redraws": len(draws), "draw_ms_p50": pct(draws, 50), "draw_ms_p99": pct(draws, 99),
            "draw_ms_max": max(draws) if draws else None, "per_graph_ms_mean": sum(per_graph) / len(per_graph),
            "per_graph_ms_p99": pct(per_graph, 99)}


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def main() -> None:
    """Run the rounds, print the table, write the JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=45.0, help="Sim (= wall) seconds per run.")
    ap.add_argument("--rounds", type=int, default=2, help="Rounds of three runs: without the view, with it alone, with it and the client.")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "view.json"))
    args = ap.parse_args()
    if shutil.which("node") is None or not (JS / "node_modules" / "@foxglove" / "ws-protocol").is_dir():
        raise SystemExit("bench/view.py needs node and tests/js's packages (`make js-deps`) for its viewer client")
    t_start, load_before = time.monotonic(), os.getloadavg()
    lat: dict[str, list[float]] = {"without": [], "view_alone": [], "with": []}
    views, alone, per_round, graphs, truth = [], [], [], [], None
    for k in range(args.rounds):
        for mode in lat:
            run = run_demo(args.duration, mode != "without", f"{mode}_{k}", with_client=mode == "with")
            if not run["graphs"]:  # a free port taken by another process in between (bind race): once more
                print(f"round {k} {mode}: no graphs, running it again", flush=True)
                run = run_demo(args.duration, mode != "without", f"{mode}_{k}", with_client=mode == "with")
            if not run["graphs"]:
                raise SystemExit(f"round {k} {mode}: no graphs; see bench/results/view_{mode}_{k}.log.tmp")
            ms = latencies(run)
            lat[mode] += ms
            row = {"round": k, "view": mode, "graphs": len(ms), "latency_ms_p50": pct(ms, 50),
                   "latency_ms_p99": pct(ms, 99), "loadavg_1min": os.getloadavg()[0]}
            if mode == "with":
                views.append(view_figures(run))
                row["received_share"] = views[-1]["received_share"]
                graphs += [g for _, g in run["graphs"]]
                truth = run["truth"] or truth
            elif mode == "view_alone":
                alone.append(alone_cpu(run))
                row["view_cpu_us_per_message_in"] = alone[-1].get("cpu_us_per_message_in")
            per_round.append(row)
            print(json.dumps(row), flush=True)
    offered = sum(v["offered"] for v in views)
    received = sum(v["received"] for v in views)
    cpu = [v["cpu_us_per_message_in"] for v in views if v.get("cpu_us_per_message_in") is not None]
    window = sum(v.get("window_s", 0.0) for v in views)
    cpu_out = [v["cpu_us_per_record_out"] for v in views if v.get("cpu_us_per_record_out") is not None]
    summary = {
        "forwarded": offered, "received": received, "received_share": received / offered if offered else None,
        "goal_received_share": 1.0, "dropped": offered - received,
        "view_cpu_us_per_message_in": sum(cpu) / len(cpu) if cpu else None,
        "pictures_received_per_s": (sum(v.get("pictures_received") or 0 for v in views) / window) if window else None,
        "view_cpu_us_per_record_out": sum(cpu_out) / len(cpu_out) if cpu_out else None,
        "latency_ms_p50_without": pct(lat["without"], 50), "latency_ms_p50_with": pct(lat["with"], 50),
        "latency_ms_p99_without": pct(lat["without"], 99), "latency_ms_p99_with": pct(lat["with"], 99),
        "latency_ms_p50_view_alone": pct(lat["view_alone"], 50), "latency_ms_p99_view_alone": pct(lat["view_alone"], 99),
        "view_alone_cpu_us_per_message_in": _mean([a.get("cpu_us_per_message_in") for a in alone]),
        "view_alone_cpu_share_of_a_core": _mean([a.get("cpu_share_of_a_core") for a in alone]),
        "client_cpu_share_of_a_core": (sum(v["client_cpu_s"] or 0.0 for v in views) / sum(v.get("window_s", 0.0)
                                       for v in views)) if views else None,
        "view_cpu_share_of_a_core": (sum(v.get("cpu_s", 0.0) for v in views) / sum(v.get("window_s", 0.0)
                                     for v in views)) if views else None,
    }
    summary["latency_p50_ratio"] = summary["latency_ms_p50_with"] / summary["latency_ms_p50_without"]
    summary["latency_p99_ratio"] = summary["latency_ms_p99_with"] / summary["latency_ms_p99_without"]
    summary["latency_p50_ratio_view_alone"] = summary["latency_ms_p50_view_alone"] / summary["latency_ms_p50_without"]
    summary["latency_p99_ratio_view_alone"] = summary["latency_ms_p99_view_alone"] / summary["latency_ms_p99_without"]
    summary["goal_latency_ratio"] = 1.10
    summary["graph_picture"] = draw_times(graphs, truth)  # None: stream/viewer_graph_image.py not there (TODO)
    out = {"bench": "view", "python": platform.python_version(), "machine": platform.machine(),
           "duration_s": args.duration, "rounds": args.rounds, "rate_hz": 20, "launch": "launch/demo.yaml",
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "total_s": time.monotonic() - t_start,
           **summary, "views": views, "views_alone": alone, "per_round": per_round,
           "note": "one FoxgloveClient (tests/js/view_client.mjs) subscribed to every channel for each run with the "
                   "view; forwarded = the view's view:offered, received = what the client decoded; CPU = the view "
                   "process's user+system time over its bus messages; latency as bench/hri.py, this process "
                   "subscribed to /causal/graph and /node/status only; runs without the view, with it alone and with it and the client, in turns; "
                   "2 cores shared with other work (see loadavg)"}
    t = Table("", "without the view", "view, no client", "ratio", "view + client", "ratio",
              title="demo at 20 Hz: sample -> graph latency")
    for q in ("p50", "p99"):
        t.add_row(q, f"{summary[f'latency_ms_{q}_without']:.2f} ms", f"{summary[f'latency_ms_{q}_view_alone']:.2f} ms",
                  f"{summary[f'latency_{q}_ratio_view_alone']:.3f}", f"{summary[f'latency_ms_{q}_with']:.2f} ms",
                  f"{summary[f'latency_{q}_ratio']:.3f}")
    Console().print(t)
    Console().print(f"forwarded {offered}, received {received} ({summary['received_share']}), view CPU "
                    f"{summary['view_cpu_us_per_message_in']} us per bus message (no client: "
                    f"{summary['view_alone_cpu_us_per_message_in']}); picture {summary['graph_picture']}")
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
