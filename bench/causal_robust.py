"""Benchmark: RobustParCorr from the lagged covariance against tigramite's RobustParCorr (issue 17).

On the same sliding windows of tigramite's toy models (dependency_funcs 'nonlinear' and
'linear'), tigramite's ``PCMCI(DataFrame(window), RobustParCorr())`` run_pcmci / run_pcmciplus
against our refresh: CovRobustParCorr.from_lagcov (the window's Gaussian-copula transform)
then PC1 + MCI, or PCMCI+ through tigramite's control flow, on a LaggedCovariance that has
slid. Both timed in this run, BLAS at one thread (threadpoolctl), CPU time of this process
(time.process_time; wall-clock medians in the JSON too). A window mismatches when a graph
string differs or |val|, |p| differ by more than 1e-8. F1 of lagged links against the toy's
true graph is ours (equal to tigramite's when there is no mismatch). One configuration has
0.5% of the values missing (NaN here, tigramite's missing_flag there: ranks per row set).
``transform_ms`` is CovRobustParCorr.from_lagcov alone (with NaN, the per-row-set ranks are
taken later, inside the tests).
Writes
bench/results/causal_robust.json and prints a rich table.

    .venv/bin/python bench/causal_robust.py [--quick] [--out bench/results/causal_robust.json]
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
from causal import SLIDE, scores, toy
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.batch import tigramite_frame
from causalstream.models.causal.lagcov import LaggedCovariance
from causalstream.models.causal.mci import run_mci
from causalstream.models.causal.pc1 import run_pc1_select
from causalstream.models.causal.pcmciplus import CovariancePCMCI, run_pcmciplus
from causalstream.models.causal.robust import CovRobustParCorr

PC_ALPHA = 0.05


def refresh(lagcov: LaggedCovariance, method: str, plus: CovariancePCMCI) -> dict:
    """Our refresh on the window the LaggedCovariance holds: transform, then the tests."""
    n, tau = lagcov.n_vars, lagcov.max_lag // 2
    engine = CovRobustParCorr.from_lagcov(lagcov, n)
    if method == "pcmciplus":
        return run_pcmciplus(plus, engine, 0, tau, PC_ALPHA)
    pc = run_pc1_select(engine, n, 0, tau, PC_ALPHA, None)
    return run_mci(engine, pc.parents, n, 0, tau, 0.05, "none", None, None)


def bench_one(funcs: str, n: int, tau: int, W: int, method: str, n_windows: int, reps: int, seed: int,
              missing: float = 0.0) -> dict:
    data, true = toy(n, tau, W + SLIDE * n_windows + 50, seed, funcs=funcs)
    data[np.random.default_rng(seed).random(data.shape) < missing] = np.nan  # tigramite: missing_flag
    lagcov = LaggedCovariance(n, W, 2 * tau).update_many(data[:W + 50])  # slid 50 samples
    plus = CovariancePCMCI(n, tau)
    end, ours_t, ref_t, ours_wall, ref_wall, transform_t = W + 50, [], [], [], [], []
    mismatches, worst, tp, fp, fn = 0, 0.0, 0, 0, 0
    for k in range(n_windows):
        if k:
            for x in data[end:end + SLIDE]:
                lagcov.update(x)
            end += SLIDE
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(reps):
            ours = refresh(lagcov, method, plus)
        ours_t.append((time.process_time() - c0) / reps)
        ours_wall.append((time.perf_counter() - w0) / reps)
        c0 = time.process_time()
        for _ in range(reps):
            CovRobustParCorr.from_lagcov(lagcov, n)
        transform_t.append((time.process_time() - c0) / reps)
        c0, w0 = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pcmci = PCMCI(tigramite_frame(data[end - W:end]), RobustParCorr())
            ref = getattr(pcmci, "run_" + method)(tau_max=tau, pc_alpha=PC_ALPHA)
        ref_t.append(time.process_time() - c0)
        ref_wall.append(time.perf_counter() - w0)
        diff = max(np.abs(ours[key] - ref[key]).max() for key in ("val_matrix", "p_matrix"))
        worst = max(worst, float(diff))
        mismatches += int(not (ours["graph"] == ref["graph"]).all() or diff > 1e-8)
        a, b, c = scores(ours["graph"], true)
        tp, fp, fn = tp + a, fp + b, fn + c
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    ours_ms, ref_ms = statistics.median(ours_t) * 1e3, statistics.median(ref_t) * 1e3
    return {"funcs": funcs, "missing": missing, "method": method, "N": n, "tau_max": tau, "W": W,
            "windows": n_windows,
            "tigramite_ms": ref_ms, "ours_ms": ours_ms, "speedup": ref_ms / ours_ms,
            "transform_ms": statistics.median(transform_t) * 1e3, "mismatches": mismatches, "max_abs_diff": worst,
            "tigramite_wall_ms": statistics.median(ref_wall) * 1e3, "ours_wall_ms": statistics.median(ours_wall) * 1e3,
            "precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}


def table(rows: list[dict]) -> Table:
    t = Table(title=f"RobustParCorr: ours vs tigramite (pc_alpha {PC_ALPHA}, 1 BLAS thread, CPU ms)")
    for col in ("funcs", "NaN", "method", "N", "tau", "W", "tigramite ms", "ours ms", "transform ms", "speedup",
                "mismatch", "max |diff|", "F1 lagged"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(r["funcs"], f"{r['missing']:.1%}", r["method"], str(r["N"]), str(r["tau_max"]), str(r["W"]),
                  f"{r['tigramite_ms']:.0f}",
                  f"{r['ours_ms']:.1f}", f"{r['transform_ms']:.2f}", f"{r['speedup']:.0f}x",
                  f"{r['mismatches']}/{r['windows']}", f"{r['max_abs_diff']:.1e}", f"{r['f1']:.2f}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the headline configuration only, 2 windows")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "causal_robust.json"))
    args = ap.parse_args()
    configs = [("nonlinear", 8, 3, 500, 0.0), ("linear", 8, 3, 500, 0.0), ("nonlinear", 5, 2, 300, 0.0),
               ("nonlinear", 8, 2, 1000, 0.0), ("nonlinear", 8, 3, 500, 0.005)]
    if args.quick:
        configs = configs[:1]
    rows, start = [], time.perf_counter()
    with threadpool_limits(limits=1):
        for method in ("pcmci", "pcmciplus"):
            for funcs, n, tau, W, missing in configs:
                rows.append(bench_one(funcs, n, tau, W, method, n_windows=2 if args.quick else 4,
                                      reps=2 if missing else 5, seed=10 * n + tau, missing=missing))
                Console(stderr=True).print(f"{method} {funcs} N={n} tau={tau} W={W} NaN {missing:.1%}: "
                                           f"{rows[-1]['speedup']:.0f}x, {rows[-1]['mismatches']} mismatches")
    Console().print(table(rows))
    out = {"bench": "causal_robust", "python": platform.python_version(), "machine": platform.machine(),
           "blas_threads": 1, "pc_alpha": PC_ALPHA, "slide": SLIDE, "total_s": time.perf_counter() - start,
           "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
