"""Benchmark: WindowedPCMCI against tigramite on the same windows (issue 5).

For N in {5, 8, 12}, tau_max in {3, 5}, W in {500, 2000} and both methods (PCMCI, PCMCI+,
ParCorr, pc_alpha 0.05): tigramite's run_pcmci / run_pcmciplus on DataFrame(window) vs
WindowedPCMCI.results() on the same window, time per refresh and speedup, the number of
windows whose graphs differ (want 0), the per-sample ``update`` cost, and precision /
recall / F1 of the lagged links against the toy model's true graph. BLAS is capped to one
thread for both (threadpoolctl). Times are CPU time of this process (time.process_time),
which a shared machine's other load does not inflate; wall-clock medians are in the JSON
too. Writes bench/results/causal.json and prints a rich table.

    .venv/bin/python bench/causal.py [--quick] [--out bench/results/causal.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI
from tigramite.toymodels import structural_causal_processes as toys

from causalstream.models.causal import WindowedPCMCI

SLIDE = 25  # samples between the windows compared


def toy(n_vars: int, tau_max: int, T: int, seed: int,
        funcs: str = "linear") -> tuple[np.ndarray, set[tuple[int, int, int]]]:
    """Stationary Gaussian-noise toy data (float64, dependency_funcs [funcs]) and its true lagged links (i, j, lag)."""
    for attempt in range(100):
        links, _ = toys.generate_structural_causal_process(
            N=n_vars, L=n_vars + 2, dependency_funcs=[funcs], dependency_coeffs=[-0.4, 0.4],
            auto_coeffs=[0.3, 0.5], contemp_fraction=0.3, max_lag=tau_max, noise_dists=["gaussian"],
            noise_sigmas=[1.0], seed=seed + 1000 * attempt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, nonstat = toys.structural_causal_process(links, T=T, seed=seed)
        if not nonstat and np.isfinite(data).all() and np.abs(data).max() < 100:  # no explosive model
            true = {(i, j, -lag) for j, ls in links.items() for (i, lag), c, _ in ls if lag < 0 and c != 0}
            return data.astype(np.float64), true
    raise SystemExit("no stationary toy model")


def scores(graph: np.ndarray, true: set[tuple[int, int, int]]) -> tuple[int, int, int]:
    """True positives, false positives, false negatives of the lagged links."""
    found = {(int(i), int(j), int(lag) + 1) for i, j, lag in zip(*np.nonzero(graph[:, :, 1:] == "-->"))}
    return len(found & true), len(found - true), len(true - found)


def bench_one(n: int, tau: int, W: int, method: str, n_windows: int, reps: int, seed: int) -> dict:
    data, true = toy(n, tau, W + SLIDE * n_windows + 200, seed)
    model = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.05)
    model.update_many(data[:W])
    t0 = time.process_time()
    for x in data[W:W + 200]:
        model.update(x)
    update_us = (time.process_time() - t0) / 200 * 1e6
    end, ours_t, ref_t, ours_wall, ref_wall, mismatches = W + 200, [], [], [], [], 0
    tp = fp = fn = 0
    for k in range(n_windows):
        if k:
            model.update_many(data[end:end + SLIDE])
            end += SLIDE
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(reps):
            ours = model.results()
        ours_t.append((time.process_time() - c0) / reps)
        ours_wall.append((time.perf_counter() - w0) / reps)
        c0, w0 = time.process_time(), time.perf_counter()
        ref = getattr(PCMCI(DataFrame(data[end - W:end]), ParCorr()), "run_" + method)(tau_max=tau, pc_alpha=0.05)
        ref_t.append(time.process_time() - c0)
        ref_wall.append(time.perf_counter() - w0)
        same = (ours["graph"] == ref["graph"]).all()
        close = max(np.abs(ours["val_matrix"] - ref["val_matrix"]).max(), np.abs(ours["p_matrix"] - ref["p_matrix"]).max())
        mismatches += int(not same or close > 1e-8)
        a, b, c = scores(ours["graph"], true)
        tp, fp, fn = tp + a, fp + b, fn + c
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    ours_ms, ref_ms = statistics.median(ours_t) * 1e3, statistics.median(ref_t) * 1e3
    return {"method": method, "N": n, "tau_max": tau, "W": W, "windows": n_windows,
            "tigramite_ms": ref_ms, "ours_ms": ours_ms, "speedup": ref_ms / ours_ms, "mismatches": mismatches,
            "tigramite_wall_ms": statistics.median(ref_wall) * 1e3, "ours_wall_ms": statistics.median(ours_wall) * 1e3,
            "update_us": update_us, "precision": prec, "recall": rec,
            "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}


def table(rows: list[dict]) -> Table:
    t = Table(title="WindowedPCMCI vs tigramite (ParCorr, pc_alpha 0.05, 1 BLAS thread)")
    for col in ("method", "N", "tau", "W", "tigramite ms", "ours ms (CPU)", "speedup", "mismatch", "update us", "F1 lagged"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(r["method"], str(r["N"]), str(r["tau_max"]), str(r["W"]), f"{r['tigramite_ms']:.1f}",
                  f"{r['ours_ms']:.2f}", f"{r['speedup']:.0f}x", f"{r['mismatches']}/{r['windows']}",
                  f"{r['update_us']:.1f}", f"{r['f1']:.2f}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one configuration per method (smoke run)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "causal.json"))
    args = ap.parse_args()
    configs = [(n, tau, W) for n in (5, 8, 12) for tau in (3, 5) for W in (500, 2000)]
    if args.quick:
        configs = [(8, 5, 500)]
    rows, start = [], time.perf_counter()
    with threadpool_limits(limits=1):
        for method in ("pcmci", "pcmciplus"):
            for n, tau, W in configs:
                heavy = n * W >= 12 * 2000
                rows.append(bench_one(n, tau, W, method, n_windows=2 if heavy else 4, reps=3 if heavy else 10,
                                      seed=10 * n + tau))
                Console(stderr=True).print(f"{method} N={n} tau={tau} W={W}: {rows[-1]['speedup']:.0f}x")
    Console().print(table(rows))
    out = {"bench": "causal", "python": platform.python_version(), "machine": platform.machine(),
           "blas_threads": 1, "total_s": time.perf_counter() - start, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
