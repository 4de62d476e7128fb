"""Benchmark: the live HRI pipeline with each CI test, against ROS-Causal's way, on the simulator's truth.

Ours, per CI test (``--tests``, default parcorr, robustparcorr, rcot): sim -> features ->
discovery as real processes over the bus, launched from a launch file this script writes
(the demo's sim, features and discovery nodes, no predictor): the sim in realtime at 20 Hz
(robot + 2 reactive, 1 follower, 2 distractor humans), the features node (``--robot`` and
``--human`` variables; default robot.v and each human's v and d_robot: 11 variables whose
truth is unambiguous, see ARCHITECTURE.md "Ground truth from the code"), the discovery node
(WindowedPCMCI, window 300 = 15 s, tau_max 2, alpha 0.001, a refresh every sample). This
process subscribes to /features, /causal/graph and /sim/ground_truth and measures, per
graph, the sample-to-graph latency: receipt time minus the stamp of the newest sample in
the window (sim stamps start at the wall clock, so they are comparable), and the refresh
time the node reports (``compute_ms``).

ROS-Causal's way, on the same samples (those received on /features in the ParCorr run):
tigramite ``PCMCI.run_pcmci`` with ``ParCorr`` on fixed, non-overlapping 30 s windows
(ROS-Causal dumps a CSV per window and runs PCMCI on it), same tau_max and alpha. Its
latency is the window length plus the compute time: a link is seen only once its window
closed.

Scores, at steady state (full windows), summed over graphs: precision / recall / F1 of the
cross-agent links (agent level, ``LaggedGraph.cross_links``, directed ``-->`` links), raw
and for links held by >= 50 % of the last ``stability_k`` graphs (ours); and of the
lagged cross-variable links at variable level. BLAS is capped to one thread (threadpoolctl
here, OMP_NUM_THREADS=1 for the nodes).

Sample -> graph latency, separate processes against a container (``--latency-only``): the
ParCorr pipeline per seed twice, sim, features and discovery each in its own process, then
the three in one container (``container: pipeline``, as launch/demo.yaml runs them: the
samples pass between them as objects; this process then leaves /features alone, so they
stay objects); p50/p99, with and without the refresh's own time, go to the JSON's
``latency`` field, the file's other figures kept. ``--layout container`` runs the full
benchmark in the container.

    .venv/bin/python bench/hri.py [--seeds 0 1] [--duration 60] [--tests parcorr rcot] [--out bench/results/hri.json]
    .venv/bin/python bench/hri.py --latency-only [--seeds 0 1] [--duration 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.batch import tigramite_frame
from causalstream.nodes.graph_msg import graph_of
from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.messages import CausalGraph, Features, NodeStatus

ROOT = Path(__file__).resolve().parents[1]
RATE, WINDOW, TAU_MAX, ALPHA, ROS_WINDOW_S = 20, 300, 2, 0.001, 30.0
HUMANS = ["h1", "h2", "h3", "h4", "h5"]


def free_port() -> int:
    """A free loopback port p whose neighbour p + 1 is free too (the broker binds both)."""
    for _ in range(100):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise OSError("no free port pair")


def launch_file(path: Path, seed: int, duration: float, ci_test: str, robot: list[str], human: list[str],
                ci_params: dict | None = None, container: bool = False) -> Path:
    """Write the launch file of one run: the demo's sim, features and discovery nodes (in one container if asked)."""
    variables = {"robot_variables": robot, "human_variables": human}
    spec = {"nodes": [
        {"name": "sim", "kind": "sim", "required": True, "params": {
            "rate_hz": RATE, "seed": seed, "duration_s": duration, "n_reactive": 2, "n_followers": 1,
            "n_distractors": 2, **variables}, "remap": {"agents/state": "/agents/state", "sim/ground_truth": "/sim/ground_truth"}},
        {"name": "features", "kind": "features", "params": {**variables, "humans": HUMANS},
         "remap": {"agents/state": "/agents/state", "features": "/features"}},
        {"name": "discovery", "kind": "discovery", "params": {
            "window": WINDOW, "hop": 1, "tau_max": TAU_MAX, "alpha": ALPHA, "stability_k": 20, "ci_test": ci_test,
            "ci_params": ci_params or {}},
         "remap": {"features": "/features", "causal/graph": "/causal/graph", "causal/events": "/causal/events"}},
    ]}
    if container:
        for node in spec["nodes"]:
            node["container"] = "pipeline"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_pipeline(seed: int, duration: float, ci_test: str, robot: list[str], human: list[str],
                 ci_params: dict | None = None, container: bool = False, features: bool = True) -> dict:
    """Launch sim -> features -> discovery; return what this process heard: truth, graphs with receipt times, features.

    ``features=False``: this process does not subscribe to /features, so in a container the
    samples stay objects (a subscriber outside would have them encoded for it).
    """
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port()}")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    tmp = ROOT / "bench" / "results" / f"hri_{ci_test}_{seed}"
    spec = launch_file(tmp.with_suffix(".yaml.tmp"), seed, duration, ci_test, robot, human, ci_params, container)
    log = open(tmp.with_suffix(".log.tmp"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "causalstream.nodes.cli", "launch", str(spec), "--bus", endpoints.pub],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    truth, graphs, features, feature_age, status = None, [], [], [], {}
    topics = ["/sim/ground_truth", "/causal/graph", "/node/status"] + (["/features"] if features else [])
    try:
        with Subscriber(topics, endpoints=endpoints) as sub:
            deadline = time.monotonic() + duration + 120
            while time.monotonic() < deadline:
                got = sub.recv(timeout=0.5)
                now = time.time_ns()
                if got is None:
                    if proc.poll() is not None:
                        break
                    continue
                msg = got.message
                if got.topic == "/causal/graph":
                    graphs.append((now, msg))
                elif got.topic == "/features":
                    features.append(msg)
                    feature_age.append((now - msg.stamp_ns) / 1e6)
                elif got.topic == "/sim/ground_truth":
                    truth = msg
                elif isinstance(msg, NodeStatus):
                    status[msg.name] = msg.counters
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
    return {"truth": truth, "graphs": graphs, "features": features, "feature_age": feature_age, "status": status}


def prf(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall, F1 from counts."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp, "fn": fn}


def variable_links(g: CausalGraph) -> set[tuple[str, str]]:
    """Lagged (tau >= 1) directed links between different variables, lag ignored."""
    return {(s, t) for s, t, lag, mark in g.links() if lag >= 1 and mark == "-->" and s != t}


def with_marks(g: CausalGraph, marks: np.ndarray) -> CausalGraph:
    """``g`` with its graph replaced by ``marks``."""
    return CausalGraph(names=g.names, tau_max=g.tau_max, graph=marks.tolist(), val=g.val, p=g.p)


class Score:
    """Sums TP/FP/FN of agent-level and variable-level links over graphs."""

    def __init__(self, truth: CausalGraph) -> None:
        self.agents, self.variables = graph_of(truth).cross_links(), variable_links(truth)
        self.counts = {"agent": [0, 0, 0], "variable": [0, 0, 0]}

    def add(self, g: CausalGraph) -> None:
        """Score one graph."""
        for level, true, found in (("agent", self.agents, graph_of(g).cross_links()), ("variable", self.variables, variable_links(g))):
            c = self.counts[level]
            c[0] += len(found & true)
            c[1] += len(found - true)
            c[2] += len(true - found)

    def merge(self, other: Score) -> None:
        """Add another run's counts."""
        for level in self.counts:
            self.counts[level] = [a + b for a, b in zip(self.counts[level], other.counts[level])]

    def results(self) -> dict:
        """P/R/F1 per level."""
        return {level: prf(*c) for level, c in self.counts.items()}


def ros_causal(features: list[Features], truth: CausalGraph) -> tuple[Score, list[float]]:
    """tigramite PCMCI on fixed non-overlapping 30 s windows of the received samples."""
    X = np.stack([f.values for f in features])
    n = int(ROS_WINDOW_S * RATE)
    score, compute_ms = Score(truth), []
    for start in range(0, len(X) - n + 1, n):
        data = X[start:start + n]
        t0 = time.process_time()
        res = PCMCI(tigramite_frame(data, truth.names), ParCorr()).run_pcmci(tau_max=TAU_MAX, pc_alpha=0.05,
                                                                               alpha_level=ALPHA)
        compute_ms.append((time.process_time() - t0) * 1e3)
        score.add(with_marks(truth, np.asarray(res["graph"])))
    return score, compute_ms


def ours(run: dict) -> tuple[Score, Score, list[float], list[float]]:
    """Score the steady-state graphs (full window); latencies and compute times."""
    truth = run["truth"]
    raw, stable, latency, compute = Score(truth), Score(truth), [], []
    for received, g in run["graphs"]:
        latency.append((received - g.window_end_ns) / 1e6)
        compute.append(g.compute_ms)
        if g.n_samples < WINDOW:
            continue
        raw.add(g)
        stable.add(with_marks(g, np.where(g.stability >= 0.5, np.array(g.graph, dtype="<U3"), "")))
    return raw, stable, latency, compute


def pct(values: list[float], q: float) -> float:
    """Percentile (NaN when empty)."""
    return float(np.percentile(values, q)) if values else float("nan")


def table(rows: list[dict], n_vars: int) -> Table:
    """The rich summary table."""
    t = Table("method", "graphs", "agent P", "agent R", "agent F1", "var P", "var R", "var F1", "latency p50",
              "latency p99", "refresh p50", "refresh p99",
              title=f"HRI: cross-link discovery vs the simulator's truth ({RATE} Hz, {n_vars} variables)")
    for r in rows:
        a, v = r["agent"], r["variable"]
        t.add_row(r["method"], str(r["graphs"]), f"{a['precision']:.3f}", f"{a['recall']:.3f}", f"{a['f1']:.3f}",
                  f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", f"{r['latency_ms_p50']:.1f} ms",
                  f"{r['latency_ms_p99']:.1f} ms", f"{r['compute_ms_p50']:.1f} ms", f"{r['compute_ms_p99']:.1f} ms")
    return t


def our_rows(name: str, totals: dict[str, Score], latency: list[float], compute: list[float], skipped: int,
             feature_age: list[float], per_seed: list[dict]) -> list[dict]:
    """The raw and the stable-links rows of one CI test."""
    common = {"latency_ms_p50": pct(latency, 50), "latency_ms_p99": pct(latency, 99),
              "latency_ms_max": max(latency), "compute_ms_p50": pct(compute, 50), "compute_ms_p99": pct(compute, 99),
              "update_every": "50 ms"}
    return [
        {"method": f"causalstream {name} (hop 1, window 15 s)", "ci_test": name, "graphs": len(latency),
         **totals["raw"].results(), **common, "refreshes_skipped": skipped,
         "features_age_ms_p50": pct(feature_age, 50), "features_age_ms_p99": pct(feature_age, 99), "per_seed": per_seed},
        {"method": f"causalstream {name}, stable links (>= 50 % of last 20)", "ci_test": name, "graphs": len(latency),
         **totals["stable"].results(), **common},
    ]


def run_test(name: str, args: argparse.Namespace, ci_params: dict) -> tuple[list[dict], list[dict]]:
    """Every seed with one CI test; its rows and the runs (for the ROS-Causal way)."""
    totals: dict[str, Score] = {}
    latency, compute, feature_age, skipped, per_seed, runs = [], [], [], 0, [], []
    for seed in args.seeds:
        run = run_pipeline(seed, args.duration, name, args.robot, args.human, ci_params, args.layout == "container")
        if run["truth"] is None or not run["graphs"]:
            raise SystemExit(f"{name} seed {seed}: no truth or no graphs; see bench/results/hri_{name}_{seed}.log.tmp")
        r, s, lat, comp = ours(run)
        for key, part in (("raw", r), ("stable", s)):
            if key in totals:
                totals[key].merge(part)
            else:
                totals[key] = part
        latency += lat
        compute += comp
        feature_age += run["feature_age"]
        skipped += run["status"].get("/discovery", {}).get("skipped", 0)
        per_seed.append({"seed": seed, "latency_ms_p50": pct(lat, 50), "latency_ms_p99": pct(lat, 99),
                         "compute_ms_p99": pct(comp, 99), "variable_f1": r.results()["variable"]["f1"],
                         "features_age_ms_p99": pct(run["feature_age"], 99), "loadavg_1min": os.getloadavg()[0]})
        runs.append(run)
        print(f"{name} seed {seed}: {len(run['graphs'])} graphs, {len(run['features'])} samples, variable F1 "
              f"{r.results()['variable']['f1']:.3f}, latency p50 {pct(lat, 50):.1f} ms p99 {pct(lat, 99):.1f} ms, "
              f"refresh p99 {pct(comp, 99):.1f} ms", flush=True)
    return our_rows(name, totals, latency, compute, skipped, feature_age, per_seed), runs


def latency_only(args: argparse.Namespace) -> None:
    """Sample -> graph latency with ParCorr, separate processes and one container, in turns; into the JSON's ``latency``.

    Seed by seed the two layouts run one after the other, so a change of the machine's load
    falls on both. Besides the latency, its part outside the refresh (latency minus the
    graph's ``compute_ms``): the hops and the waits.
    """
    t_start, load_before = time.monotonic(), os.getloadavg()
    got: dict[str, dict[str, list]] = {k: {"latency": [], "hops": [], "compute": [], "per_seed": []}
                                       for k in ("processes", "container")}
    for seed in args.seeds:
        for layout, acc in got.items():
            run = run_pipeline(seed, args.duration, "parcorr", args.robot, args.human, None, layout == "container",
                               features=False)
            if not run["graphs"] or run["truth"] is None:
                raise SystemExit(f"{layout} seed {seed}: no truth or graphs; see bench/results/hri_parcorr_{seed}.log.tmp")
            _, _, lat, comp = ours(run)
            hops = [a - b for a, b in zip(lat, comp)]
            acc["latency"] += lat
            acc["hops"] += hops
            acc["compute"] += comp
            acc["per_seed"].append({"seed": seed, "graphs": len(lat), "latency_ms_p50": pct(lat, 50),
                                    "latency_ms_p99": pct(lat, 99), "hops_ms_p50": pct(hops, 50),
                                    "hops_ms_p99": pct(hops, 99), "compute_ms_p99": pct(comp, 99),
                                    "loadavg_1min": os.getloadavg()[0]})
            print(f"{layout} seed {seed}: {len(lat)} graphs, latency p50 {pct(lat, 50):.2f} ms p99 {pct(lat, 99):.2f} ms,"
                  f" without the refresh p50 {pct(hops, 50):.2f} p99 {pct(hops, 99):.2f} ms", flush=True)
    layouts = {layout: {"graphs": len(acc["latency"]), "latency_ms_p50": pct(acc["latency"], 50),
                        "latency_ms_p99": pct(acc["latency"], 99), "latency_ms_max": max(acc["latency"]),
                        "hops_ms_p50": pct(acc["hops"], 50), "hops_ms_p99": pct(acc["hops"], 99),
                        "compute_ms_p50": pct(acc["compute"], 50), "compute_ms_p99": pct(acc["compute"], 99),
                        "per_seed": acc["per_seed"]} for layout, acc in got.items()}
    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {"bench": "hri"}
    out["latency"] = {
        "ci_test": "parcorr", "seeds": args.seeds, "duration_s": args.duration, "rate_hz": RATE, "window": WINDOW,
        "goal_container_p99_ms": 5.0, "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "total_s": time.monotonic() - t_start, **layouts,
        "note": "sample -> graph: receipt of /causal/graph in this process minus the stamp of the newest sample in "
                "its window (the graph's refresh included); hops: that minus the graph's compute_ms (the refresh's "
                "wall time in the discovery node); processes: sim, features, discovery each a process; container: "
                "the three in one process (launch/demo.yaml's default), this process not subscribed to /features; "
                "the layouts in turns, seed by seed; 2 cores shared with other work (see loadavg)"}
    t = Table("layout", "graphs", "latency p50", "latency p99", "max", "without refresh p50", "p99", "refresh p99",
              title=f"HRI sample -> graph latency ({RATE} Hz, ParCorr)")
    for layout, r in layouts.items():
        t.add_row(layout, str(r["graphs"]), f"{r['latency_ms_p50']:.2f} ms", f"{r['latency_ms_p99']:.2f} ms",
                  f"{r['latency_ms_max']:.1f} ms", f"{r['hops_ms_p50']:.2f} ms", f"{r['hops_ms_p99']:.2f} ms",
                  f"{r['compute_ms_p99']:.2f} ms")
    Console().print(t)
    out_path.write_text(json.dumps(out, indent=1) + "\n")


def main() -> None:
    """Run the seeds with every CI test, score, print and write the JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--duration", type=float, default=60.0, help="Simulated (= wall) seconds per seed.")
    ap.add_argument("--tests", nargs="+", default=["parcorr", "robustparcorr", "rcot"])
    ap.add_argument("--robot", nargs="+", default=["v"], help="Robot variables.")
    ap.add_argument("--human", nargs="+", default=["v", "d_robot"], help="Human variables.")
    ap.add_argument("--rcot", default="{}", help="ci_params of rcot, as JSON.")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "hri.json"))
    ap.add_argument("--layout", choices=["processes", "container"], default="processes",
                    help="sim, features and discovery: one process each, or one container.")
    ap.add_argument("--latency-only", action="store_true",
                    help="Only the sample -> graph latency, processes and container (ParCorr), into the JSON's latency.")
    args = ap.parse_args()
    if args.latency_only:
        with threadpool_limits(limits=1):
            latency_only(args)
        return
    t_start, load_before = time.monotonic(), os.getloadavg()
    rows, runs, received = [], None, 0
    with threadpool_limits(limits=1):
        for name in args.tests:
            test_rows, test_runs = run_test(name, args, json.loads(args.rcot) if name == "rcot" else {})
            rows += test_rows
            if runs is None:
                runs = test_runs
                received = sum(len(r["features"]) for r in runs)
        ros, ros_ms = Score(runs[0]["truth"]), []
        for run in runs:
            o, ms = ros_causal(run["features"], run["truth"])
            ros.merge(o)
            ros_ms += ms
    rows.append({"method": "ROS-Causal way (tigramite ParCorr, 30 s windows)", "graphs": len(ros_ms), **ros.results(),
                 "latency_ms_p50": ROS_WINDOW_S * 1e3 + pct(ros_ms, 50),
                 "latency_ms_p99": ROS_WINDOW_S * 1e3 + pct(ros_ms, 99),
                 "compute_ms_p50": pct(ros_ms, 50), "compute_ms_p99": pct(ros_ms, 99), "update_every": f"{ROS_WINDOW_S:g} s"})
    n_vars = len(runs[0]["truth"].names)
    out = {"bench": "hri", "python": platform.python_version(), "machine": platform.machine(), "blas_threads": 1,
           "seeds": args.seeds, "duration_s": args.duration, "rate_hz": RATE, "window": WINDOW, "tau_max": TAU_MAX,
           "alpha": ALPHA, "robot_variables": args.robot, "human_variables": args.human, "n_variables": n_vars,
           "rcot_params": json.loads(args.rcot), "samples_received": received,
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "total_s": time.monotonic() - t_start,
           "note": "measured on a 2-core machine shared with other workers (see loadavg): latencies are noisy "
                   "and include scheduling delays of four processes (the launcher with the broker, sim, features, "
                   "discovery) and this one; compute times are CPU time (ROS-Causal way) and wall time inside the "
                   "discovery node (ours); the ROS-Causal way runs on the samples of the first test's runs",
           "rows": rows}
    Console().print(table(rows, n_vars))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
