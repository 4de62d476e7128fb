"""Benchmark: WindowedPCMCI with link assumptions against tigramite with the same dict (issue 18 item 4).

For N in {5, 8}, tau_max 3, W 500, PCMCI and PCMCI+, ParCorr and RobustParCorr, and three
assumption sets: none (tigramite's default), "rules" (the issue's examples compiled by
assumptions.py over robot.* / h*.* names: no lag-0 link within an agent, h* never drives
robot*, a recording order of the humans, robot.v -(1)-> h1.v required) and "random" (a valid
dict with every mark): tigramite's run_pcmci / run_pcmciplus(link_assumptions=...) on
DataFrame(window) against WindowedPCMCI(link_assumptions=...).results() on the same sliding
windows. CPU time per refresh (time.process_time, 1 BLAS thread), speedup, windows whose
graph, val or p differ by more than 1e-8 (want 0), and the share of links left to test.
Writes bench/results/causal_assumptions.json and prints a rich table.

    .venv/bin/python bench/causal_assumptions.py [--quick] [--out bench/results/causal_assumptions.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from causal import SLIDE, toy
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal.assumptions import compile as compile_rules
from causalstream.models.causal.links import LinkAssumptions
from causalstream.models.causal.windowed import WindowedPCMCI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from causal_toys import random_link_assumptions  # noqa: E402  (the tests' generator, one source)

TESTS = {"parcorr": ParCorr, "robustparcorr": RobustParCorr}


def names(n: int) -> list[str]:
    """robot.v, robot.w, then h1.v, h1.a, h2.v ... up to n variables."""
    out = ["robot.v", "robot.w"]
    k = 1
    while len(out) < n:
        out += [f"h{k}.v", f"h{k}.a"]
        k += 1
    return out[:n]


def assumptions(kind: str, n: int, tau: int) -> dict | None:
    if kind == "none":
        return None
    if kind == "random":
        return random_link_assumptions(n, 0, tau, seed=n)
    humans = sorted({v.split(".")[0] for v in names(n) if v.startswith("h")})
    rules = [{"forbid": "* -- *", "lag": 0, "within": "agent"}, {"forbid": "h*.* -> robot.*"},
             {"require": "robot.v -> h1.v", "lag": 1}]
    if len(humans) > 1:
        rules.append({"order": [f"{h}.*" for h in humans]})
    return compile_rules(rules, names(n), 0, tau)


def bench_one(n: int, tau: int, W: int, method: str, ci_test: str, kind: str, n_windows: int, reps: int) -> dict:
    data, _ = toy(n, tau, W + SLIDE * n_windows, seed=10 * n + tau, funcs="linear" if ci_test == "parcorr" else "nonlinear")
    links = assumptions(kind, n, tau)
    model = WindowedPCMCI(n, W, tau, method=method, ci_test=ci_test, pc_alpha=0.05, link_assumptions=links)
    model.update_many(data[:W])
    end, ours_t, ref_t, mismatches = W, [], [], 0
    for k in range(n_windows):
        if k:
            model.update_many(data[end:end + SLIDE])
            end += SLIDE
        c0 = time.process_time()
        for _ in range(reps):
            ours = model.results()
        ours_t.append((time.process_time() - c0) / reps)
        c0 = time.process_time()
        ref = getattr(PCMCI(DataFrame(data[end - W:end]), TESTS[ci_test]()), "run_" + method)(
            tau_max=tau, pc_alpha=0.05, link_assumptions=links)
        ref_t.append(time.process_time() - c0)
        same = (ours["graph"] == ref["graph"]).all()
        close = max(np.abs(ours["val_matrix"] - ref["val_matrix"]).max(), np.abs(ours["p_matrix"] - ref["p_matrix"]).max())
        mismatches += int(not same or close > 1e-8)
    la = LinkAssumptions.check(links, n, 0, tau) if links is not None else LinkAssumptions.default(n, 0, tau)
    open_share = float((la.candidates & ~la.fixed).sum() / LinkAssumptions.default(n, 0, tau).candidates.sum())
    ours_ms, ref_ms = statistics.median(ours_t) * 1e3, statistics.median(ref_t) * 1e3
    return {"method": method, "ci_test": ci_test, "assumptions": kind, "N": n, "tau_max": tau, "W": W,
            "windows": n_windows, "links_tested_share": open_share, "n_assumed": int(la.assumed.sum()),
            "tigramite_ms": ref_ms, "ours_ms": ours_ms, "speedup": ref_ms / ours_ms, "mismatches": mismatches}


def table(rows: list[dict]) -> Table:
    t = Table(title="WindowedPCMCI vs tigramite with link_assumptions (pc_alpha 0.05, 1 BLAS thread)")
    for col in ("method", "test", "assumptions", "N", "tested", "tigramite ms", "ours ms", "speedup", "mismatch"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(r["method"], r["ci_test"], r["assumptions"], str(r["N"]), f"{r['links_tested_share']:.2f}",
                  f"{r['tigramite_ms']:.1f}", f"{r['ours_ms']:.2f}", f"{r['speedup']:.0f}x",
                  f"{r['mismatches']}/{r['windows']}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=5, ParCorr only (smoke run)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "causal_assumptions.json"))
    args = ap.parse_args()
    sizes, tests = ((5,), ("parcorr",)) if args.quick else ((5, 8), ("parcorr", "robustparcorr"))
    rows, start = [], time.perf_counter()
    with threadpool_limits(limits=1):
        for ci_test in tests:
            for method in ("pcmci", "pcmciplus"):
                for n in sizes:
                    for kind in ("none", "rules", "random"):
                        rows.append(bench_one(n, 3, 500, method, ci_test, kind, n_windows=3, reps=5))
                        r = rows[-1]
                        Console(stderr=True).print(f"{ci_test} {method} N={n} {kind}: {r['speedup']:.0f}x, "
                                                   f"{r['mismatches']} mismatches")
    Console().print(table(rows))
    out = {"bench": "causal_assumptions", "python": platform.python_version(), "machine": platform.machine(),
           "blas_threads": 1, "total_s": time.perf_counter() - start, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
