"""Benchmark: offline discovery (`discover`) against tigramite's run_sliding_window_of (issue 21).

One 20,000-sample toy log (tigramite's generator: N=8, linear links, lags up to 3, Gaussian
noise), windows of W=500 samples every hop=10, PCMCI with ParCorr, tau_max 3, pc_alpha 0.05,
alpha 0.01. Ours: ``discover(...)`` on the whole log in this process (1 worker) and on a local
Dask cluster of 2 worker processes (chunks of 200 windows; the cluster's start, what
``--workers 2`` pays first, is timed apart; a second, warm run has the engine imported in the
workers), wall time, windows per second. ``speedup_1_worker`` is tigramite's CPU time a window
over our wall time a window (the issue's figure); ``speedup_1_worker_cpu`` over our CPU time
(the same clock on both sides: on a busy machine our wall time also counts the others' turns).
tigramite: ``PCMCI(DataFrame(X), ParCorr()).run_sliding_window_of("run_pcmci", ...,
window_step=hop, window_length=W - 2 tau_max)`` on the first ``--tig-windows`` windows (it runs
~0.4 s a window here; all 1,951 would take a quarter of an hour), CPU time per window.

Same windows: tigramite's window has ``window_length`` reference points, whose lags (2 tau_max
deep: PCMCI's cut-off, so that every MCI test has the same rows) reach before its start; ours
holds W samples, of which W - 2 tau_max are reference points. Ours runs on X[hop - 2 tau_max:],
so that its window k has the reference points of tigramite's window k + 1 (tigramite's first
window is cut short by the same cut-off). Graph strings must be equal and |val|, |p| within 1e-8 (a mismatch is any window that
differs). BLAS at one thread for both. Writes bench/results/discover.json.

    nice -n 10 .venv/bin/python bench/discover.py [--tig-windows 60]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from dask.distributed import LocalCluster
from threadpoolctl import threadpool_limits
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.discover import discover_graphs
from causalstream.models.causal.toys import stationary

N, TAU, W, HOP, T = 8, 3, 500, 10, 20_000
SETTINGS = {"tau_max": TAU, "pc_alpha": 0.05, "alpha_level": 0.01}


def toy(seed: int = 3) -> np.ndarray:
    """A stationary 20,000-sample linear toy log (float64)."""
    return stationary(N, TAU, T + HOP, seed, contemp_fraction=0.0, seed_step=1, bound=np.inf)[0]


def ours(X: np.ndarray, cluster: str | None) -> tuple[dict, float, float]:
    """discover() over the log (here, or on the cluster): {window: (graph, val, p)}, the wall seconds
    and this process's CPU seconds (all of the work with 1 worker in this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = discover_graphs(X, window=W, hop=HOP, cluster=cluster, chunk=200, **SETTINGS)
    if res.failed:
        raise SystemExit(f"failed tasks: {res.failed}")
    return {w.index: (w.result.graph.marks, w.result.graph.val, w.result.graph.p) for w in res.graphs}, \
        time.perf_counter() - t0, time.process_time() - c0


def tigramite(X: np.ndarray, n_windows: int) -> tuple[dict, float]:
    """run_sliding_window_of over the first n_windows + 1 windows: {window: (graph, val, p)}, CPU seconds."""
    length = W - 2 * TAU
    data = X[: (n_windows + 1) * HOP + length + 1]
    t0 = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = PCMCI(DataFrame(data), ParCorr()).run_sliding_window_of(
            "run_pcmci", {"tau_min": 0, **SETTINGS}, window_step=HOP, window_length=length)
    cpu = time.process_time() - t0
    wr = res["window_results"]
    got = {iw: (wr["graph"][iw], wr["val_matrix"][iw], wr["p_matrix"][iw]) for iw in range(len(wr["graph"]))}
    return got, cpu / len(got)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tig-windows", type=int, default=60)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "discover.json"))
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    load0 = os.getloadavg()
    X = toy()
    with threadpool_limits(1):
        mine = X[HOP - 2 * TAU:]
        one, wall1, cpu1 = ours(mine, None)
        t0 = time.perf_counter()  # what --workers 2 starts first: a local cluster of 2 processes
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.CRITICAL) as cluster:
            startup = time.perf_counter() - t0
            two, wall2, _ = ours(mine, cluster.scheduler_address)  # cold: each worker imports the engine first
            _, warm2, _ = ours(mine, cluster.scheduler_address)
        ref, tig_cpu = tigramite(X, args.tig_windows)
    n = len(one)
    assert set(one) == set(two) == set(range(n)), "both runs give every window"
    mismatches, worst, compared = 0, 0.0, 0
    for k in range(n):
        a, b = one[k], two[k]
        if not (a[0] == b[0]).all() or np.abs(a[1] - b[1]).max() > 1e-8 or np.abs(a[2] - b[2]).max() > 1e-8:
            mismatches += 1
        if k + 1 in ref:
            g, v, p = ref[k + 1]
            compared += 1
            diff = max(float(np.abs(a[1] - v).max()), float(np.abs(a[2] - p).max()))
            worst = max(worst, diff)
            mismatches += int(not (a[0] == g).all() or diff > 1e-8)
    ours_cpu_window = wall1 / n
    out = {"bench": "discover", "what": __doc__.splitlines()[0], "python": platform.python_version(),
           "platform": platform.platform(), "cpus": os.cpu_count(), "tigramite_version": version("tigramite"),
           "blas_threads": 1, "loadavg_start": load0, "loadavg_end": os.getloadavg(),
           "log": {"samples": len(mine), "n_vars": N, "tau_max": TAU, "window": W, "hop": HOP, "windows": n},
           "ours_1_worker": {"wall_s": wall1, "cpu_s": cpu1, "windows_per_s": n / wall1,
                             "ms_per_window": wall1 / n * 1e3, "cpu_ms_per_window": cpu1 / n * 1e3},
           "ours_2_workers": {"wall_s": wall2, "windows_per_s": n / wall2, "scaling": wall1 / wall2,
                              "warm_wall_s": warm2, "warm_scaling": wall1 / warm2,
                              "cluster_startup_s": startup},
           "tigramite": {"windows": len(ref) - 1, "cpu_s_per_window": tig_cpu, "windows_per_s": 1 / tig_cpu},
           "speedup_1_worker": tig_cpu / ours_cpu_window,
           "speedup_1_worker_cpu": tig_cpu / (cpu1 / n),
           "compared_windows": compared, "mismatches": mismatches, "max_abs_diff": worst}
    print(json.dumps({k: out[k] for k in ("ours_1_worker", "ours_2_workers", "tigramite", "speedup_1_worker",
                                          "speedup_1_worker_cpu", "compared_windows", "mismatches", "max_abs_diff",
                                          "loadavg_start", "loadavg_end")}, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
