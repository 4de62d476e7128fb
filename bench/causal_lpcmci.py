"""Benchmark: LPCMCI on the lagged covariance against tigramite's LPCMCI (issue 23).

Toy models of N + 2 variables (tigramite's random SCMs, contemporaneous links too) with the
last 2 dropped: hidden causes of the observed N. For N in {3, 5, 8}, tau_max in {1, 2}, W in
{500, 1000}, on the same sliding windows (every 25 samples, our WindowedPCMCI updated sample
by sample): tigramite's ``LPCMCI(DataFrame(window), ParCorr()).run_lpcmci`` against our
``WindowedPCMCI(method="lpcmci").results()``, CPU time of this process (time.process_time),
BLAS at one thread. A window mismatches when a graph string differs or |val|, |p| differ by
more than 1e-8. F1 against the true ancestral graph (the MAG of the observed variables: the
full model with its 2 hidden variables marginalised, models/causal/ancestral.py, checked equal
to tigramite's OracleCI(graph_is_mag=True).get_graph_from_links in every row): of the
adjacencies, and of the arrowheads (each end of a link that is '>' or '<'), for LPCMCI and for
PCMCI+ (ours, equal to tigramite's) side by side, on the timing rows' windows. Goal: at least 50x tigramite at N=5, tau_max 2, W 500.
Writes bench/results/causal_lpcmci.json (a file of its own, as the other causal_* benches:
bench/causal.py's rows belong to another run) and prints a rich table.

    .venv/bin/python bench/causal_lpcmci.py [--quick] [--windows 5]
"""

from __future__ import annotations

import argparse
import json
import os
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
from tigramite.independence_tests.oracle_conditional_independence import OracleCI
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.lpcmci import LPCMCI

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.ancestral import ancestral_graph
from causalstream.models.causal.toys import stationary

SLIDE = 25
HIDDEN = 2
ALPHA = 0.05


def marks(graph: np.ndarray) -> tuple[set, set]:
    """Adjacencies (i, j, tau; lag 0 once, i < j) and arrowheads (i, j, tau, end) of a graph of strings."""
    adj, heads = set(), set()
    for i, j, tau in zip(*np.nonzero(graph != ""), strict=True):
        if tau == 0 and i > j:
            continue
        link = str(graph[i, j, tau])
        adj.add((int(i), int(j), int(tau)))
        if link[2] == ">":
            heads.add((int(i), int(j), int(tau), "j"))
        if link[0] == "<":
            heads.add((int(i), int(j), int(tau), "i"))
    return adj, heads


def f1(found: set, true: set) -> float:
    tp = len(found & true)
    return 2 * tp / (len(found) + len(true)) if found or true else 1.0


def same(ours: dict, ref: dict) -> bool:
    """Graph strings equal; val and p equal within 1e-8 (NaN and inf where tigramite has them)."""
    if not (ours["graph"] == ref["graph"]).all():
        return False
    for key in ("val_matrix", "p_matrix"):
        a, b = np.asarray(ours[key], float), np.asarray(ref[key], float)
        if not (np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.isinf(a), np.isinf(b))):
            return False
        finite = np.isfinite(a)
        if np.abs(a[finite] - b[finite]).max(initial=0.0) > 1e-8 or (a[np.isinf(a)] != b[np.isinf(b)]).any():
            return False
    return True


def bench_one(n: int, tau: int, W: int, n_windows: int, seed: int) -> dict:
    X, links = stationary(n + HIDDEN, tau, W + SLIDE * n_windows + 50, seed, contemp_fraction=0.3)
    X = X[:, :n]
    truth = ancestral_graph(links, list(range(n)), tau)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = OracleCI(links=links, observed_vars=list(range(n)), graph_is_mag=True).get_graph_from_links(tau_max=tau)
    true_adj, true_heads = marks(truth)
    lp = WindowedPCMCI(n, W, tau, method="lpcmci", pc_alpha=ALPHA)
    plus = WindowedPCMCI(n, W, tau, method="pcmciplus", pc_alpha=ALPHA)
    for m in (lp, plus):
        m.update_many(X[:W])
    ours_t, ref_t, mismatches = [], [], 0
    scores = {"lpcmci": [], "pcmciplus": []}
    for k in range(n_windows):
        if k:
            chunk = X[W + SLIDE * (k - 1):W + SLIDE * k]
            lp.update_many(chunk)
            plus.update_many(chunk)
        end = W + SLIDE * k
        c0 = time.process_time()
        ours = lp.results()
        ours_t.append(time.process_time() - c0)
        c0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LPCMCI(DataFrame(X[end - W:end]), ParCorr()).run_lpcmci(tau_max=tau, pc_alpha=ALPHA)
        ref_t.append(time.process_time() - c0)
        mismatches += int(not same(ours, ref))
        for name, graph in (("lpcmci", ours["graph"]), ("pcmciplus", plus.results()["graph"])):
            adj, heads = marks(graph)
            scores[name].append((f1(adj, true_adj), f1(heads, true_heads)))
    ours_ms, ref_ms = statistics.median(ours_t) * 1e3, statistics.median(ref_t) * 1e3
    row = {"N": n, "tau_max": tau, "W": W, "windows": n_windows, "seed": seed, "tigramite_ms": ref_ms,
           "ours_ms": ours_ms, "speedup": ref_ms / ours_ms, "mismatches": mismatches,
           "truth_equals_oracle": bool((truth == oracle).all()), "truth_adjacencies": len(true_adj),
           "truth_bidirected": int(sum(str(truth[i, j, t]) == "<->" for i, j, t in true_adj))}
    for name, vals in scores.items():
        row[f"{name}_f1_adjacency"] = float(np.mean([a for a, _ in vals]))
        row[f"{name}_f1_arrowhead"] = float(np.mean([h for _, h in vals]))
    return row


def table(rows: list[dict]) -> Table:
    t = Table(title="LPCMCI: WindowedPCMCI vs tigramite (ParCorr, pc_alpha 0.05, 1 BLAS thread)")
    for col in ("N", "tau", "W", "tigramite ms", "ours ms", "speedup", "mismatch", "F1 adj LPCMCI / PCMCI+",
                "F1 heads LPCMCI / PCMCI+"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(str(r["N"]), str(r["tau_max"]), str(r["W"]), f"{r['tigramite_ms']:.0f}", f"{r['ours_ms']:.1f}",
                  f"{r['speedup']:.1f}x", str(r["mismatches"]),
                  f"{r['lpcmci_f1_adjacency']:.2f} / {r['pcmciplus_f1_adjacency']:.2f}",
                  f"{r['lpcmci_f1_arrowhead']:.2f} / {r['pcmciplus_f1_arrowhead']:.2f}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "-").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=5, tau_max 2, W 500 only")
    ap.add_argument("--windows", type=int, default=5, help="sliding windows per configuration")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "causal_lpcmci.json"))
    args = ap.parse_args()
    configs = [(n, tau, W) for n in (3, 5, 8) for tau in (1, 2) for W in (500, 1000)]
    if args.quick:
        configs = [(5, 2, 500)]
    rows, start, load_start = [], time.perf_counter(), os.getloadavg()[0]
    with threadpool_limits(limits=1):
        for n, tau, W in configs:
            rows.append(bench_one(n, tau, W, args.windows, seed=10 * n + tau))
            Console(stderr=True).print(f"N={n} tau={tau} W={W}: {rows[-1]['speedup']:.1f}x, "
                                       f"{rows[-1]['mismatches']} mismatches")
    Console().print(table(rows))
    out = {"bench": "causal_lpcmci", "python": platform.python_version(), "machine": platform.machine(),
           "blas_threads": 1, "total_s": time.perf_counter() - start,
           "load_1min": [load_start, os.getloadavg()[0]], "rows": rows}   # the machine is shared: its load then
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
