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
    .venv/bin/python bench/causal.py --missing    # only the missing-data rows ("missing_rows")
    .venv/bin/python bench/causal.py --method pcmciplus   # only PCMCI+'s rows, the others kept

Missing-data rows (issue 18 item 1): 0 / 10 / 13 / 30 % of values missing per variable, at
random and in bursts (tests/test_causal_missing.py's masks), both modes, PCMCI at N=36, tau_max 2,
W 500, and PCMCI / PCMCI+ at N=8, with and without link assumptions: refresh time against tigramite on the same window
("complete": tigramite's missing_flag; "testwise": the rows oracle of
tests/test_causal_missing.py, tigramite's control flow with run_test_raw on each test's
rows), mismatches, and the rows kept: median n_eff of the tested links against the
complete-case rows n_rows. --missing rewrites only "missing_rows" in the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
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

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_causal_missing import holes, oracle  # noqa: E402  (the oracle the tests use)

from causal_toys import random_link_assumptions  # noqa: E402

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


def bench_missing(n: int, tau: int, W: int, method: str, kind: str, rate: float, missing: str, seed: int,
                  windows: int = 1, reps: int = 3, assume: bool = False) -> dict:
    """One missing-data row: our refresh vs tigramite (complete) or the rows oracle (testwise).

    A window that missing="complete" refuses by contract (fewer than 3 complete lagged rows:
    graph_status "insufficient", every link insufficient) is counted in "declined", not compared:
    tigramite's missing_flag still answers there (it drops, per test, only the rows where that
    test's own nodes are missing), so it is no equality case; missing="testwise" answers it.
    """
    data, _ = toy(n, tau, W + SLIDE * windows + 50, seed)
    data[holes(data.shape, rate, kind, seed)] = np.nan
    links = random_link_assumptions(n, 0, tau, seed) if assume else None
    extra = {"link_assumptions": links} if assume else {}
    model = WindowedPCMCI(n, W, tau, method=method, pc_alpha=0.05, missing=missing,
                          link_assumptions=links).update_many(data[:W + 50])
    ours_t, ref_t, mismatches, empty, kept, complete_rows, declined = [], [], 0, 0, [], [], 0
    for k in range(windows):
        if k:
            model.update_many(data[W + 50 + SLIDE * (k - 1):W + 50 + SLIDE * k])
        end = model.cov.n_seen
        window = data[end - W:end]
        c0 = time.process_time()
        for _ in range(reps):
            ours = model.results()
        ours_t.append((time.process_time() - c0) / reps)
        c0 = time.process_time()
        if missing == "complete":
            frame = DataFrame(np.where(np.isnan(window), 999.0, window), missing_flag=999.0)
            ref = getattr(PCMCI(frame, ParCorr()), "run_" + method)(tau_max=tau, pc_alpha=0.05, **extra)
        else:
            ref, _ = oracle(window, method, tau, pc_alpha=0.05, **extra)
        ref_t.append(time.process_time() - c0)
        refused = missing == "complete" and ours["n_rows"] < 3
        if refused:   # by contract: empty, every link insufficient, and the reason said
            declined += 1
            found = np.isin(ours["link_status"], ["tested", "deterministic"])   # else insufficient, assumed, untested
            mismatches += int((ours["graph"] != "").any() or found.any() or not (ours["link_status"] == "insufficient").any()
                              or "lagged rows complete" not in ours["status_reason"])
        else:
            same = (ours["graph"] == ref["graph"]).all() and all(
                np.array_equal(np.isnan(ours[key]), np.isnan(ref[key]))
                and np.nanmax(np.abs(ours[key] - ref[key]), initial=0.0) <= 1e-8 for key in ("val_matrix", "p_matrix"))
            mismatches += int(not same)
        empty += int(ours["graph_status"] == "insufficient")
        tested = ours["n_eff"][ours["link_status"] == "tested"]
        kept.append(float(np.median(tested)) if len(tested) else 0.0)
        complete_rows.append(float(ours["n_rows"]))
    ours_ms, ref_ms = statistics.median(ours_t) * 1e3, statistics.median(ref_t) * 1e3
    return {"method": method, "N": n, "tau_max": tau, "W": W, "missing_kind": kind, "missing_rate": rate,
            "missing": missing, "windows": windows, "ours_ms": ours_ms, "reference_ms": ref_ms,
            "reference": "tigramite missing_flag" if missing == "complete" else "rows oracle (tigramite run_test_raw)",
            "link_assumptions": assume, "speedup": None if declined == windows else ref_ms / ours_ms, "mismatches": mismatches,
            "declined": declined, "insufficient_graphs": empty,
            "median_n_eff": statistics.median(kept), "complete_case_rows": statistics.median(complete_rows),
            "status_reason": ours["status_reason"]}


def missing_rows(quick: bool) -> list[dict]:
    """The missing-data rows: N=36 PCMCI refresh and N=8 PCMCI / PCMCI+, every rate, kind and mode."""
    masks = [("random", 0.0)] + [(kind, rate) for kind in ("random", "bursts") for rate in (0.1, 0.13, 0.3)]
    configs = [(36, 2, 500, "pcmci", False)] + ([] if quick else [
        (8, 2, 500, "pcmci", False), (8, 2, 500, "pcmciplus", False), (8, 2, 500, "pcmci", True),
        (8, 2, 500, "pcmciplus", True)])
    rows = []
    for n, tau, W, method, assume in configs:
        for kind, rate in (masks if not assume else [("random", 0.13), ("bursts", 0.13)]):
            for missing in ("complete", "testwise"):
                rows.append(bench_missing(n, tau, W, method, kind, rate, missing, seed=10 * n + int(100 * rate),
                                          assume=assume))
                r = rows[-1]
                Console(stderr=True).print(f"{method} N={n} {kind} {rate:.0%} {missing}: {r['ours_ms']:.0f} ms "
                                           f"({r['speedup'] or 0:.0f}x), {r['mismatches']} mismatches, {r['declined']} declined, "
                                           f"n_eff {r['median_n_eff']:.0f} vs {r['complete_case_rows']:.0f}")
    return rows


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
    ap.add_argument("--missing", action="store_true", help="only the missing-data rows (kept beside the others)")
    ap.add_argument("--method", choices=("pcmci", "pcmciplus"), default=None,
                    help="only this method's rows (the JSON keeps the other method's rows)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "causal.json"))
    args = ap.parse_args()
    configs = [(n, tau, W) for n in (5, 8, 12) for tau in (3, 5) for W in (500, 2000)]
    if args.quick:
        configs = [(8, 5, 500)]
    rows, start = [], time.perf_counter()
    if args.missing:
        with threadpool_limits(limits=1):
            extra = missing_rows(args.quick)
        path = Path(args.out)
        out = json.loads(path.read_text()) if path.exists() else {"bench": "causal", "rows": []}
        out["missing_rows"] = extra
        out["missing_total_s"] = time.perf_counter() - start
        path.write_text(json.dumps(out, indent=1) + "\n")
        return
    methods = ("pcmci", "pcmciplus") if args.method is None else (args.method,)
    with threadpool_limits(limits=1):
        for method in methods:
            for n, tau, W in configs:
                heavy = n * W >= 12 * 2000
                rows.append(bench_one(n, tau, W, method, n_windows=2 if heavy else 4, reps=3 if heavy else 10,
                                      seed=10 * n + tau))
                Console(stderr=True).print(f"{method} N={n} tau={tau} W={W}: {rows[-1]['speedup']:.0f}x")
    Console().print(table(rows))
    out = {"bench": "causal", "python": platform.python_version(), "machine": platform.machine(),
           "blas_threads": 1, "total_s": time.perf_counter() - start, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if Path(args.out).exists():   # the missing-data rows are run apart (--missing): keep them
        kept = json.loads(Path(args.out).read_text())
        out.update({k: kept[k] for k in ("missing_rows", "missing_total_s") if k in kept})
        if args.method is not None:   # one method rerun: the other's rows (and their run time) stay
            others = [r for r in kept.get("rows", []) if r["method"] != args.method]
            out["rows"] = sorted(others + rows, key=lambda r: r["method"] == "pcmciplus")   # stable: PCMCI's first
            out["total_s_" + args.method] = out.pop("total_s")
            out["total_s"] = kept.get("total_s")
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
