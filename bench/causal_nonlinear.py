"""Benchmark: our three streaming CI tests against tigramite's five on the same windows (issue 17).

One run, BLAS at one thread (threadpoolctl, and OMP/OPENBLAS/MKL_NUM_THREADS=1 in the
environment), the matrix N in {3, 5, 8} x tau_max in {1, 2} x W in {300, 1000} x three
models drawn from tigramite's toy generator (coefficients +-0.4, auto 0.3-0.5, Gaussian
noise, no contemporaneous links, N + 2 cross links): "nonlinear" (dependency_funcs
['nonlinear']), "linear" (['linear']) and "null" (the same auto-dependences, no cross link).
Window w of a configuration is the last W samples of the toy drawn with seed 100 w + 7
(every model redrawn until stationary), the same window for every test.

On each window, PCMCI (PC1 + MCI, tau_min 1, pc_alpha = alpha_level = 0.05):
- ours through the public engine: ``WindowedPCMCI(N, W, tau_max, tau_min=1, ci_test=...,
  alpha_level=0.05, pc_alpha=0.05).update_many(window)``, then ``results()`` timed
  (time.process_time, mean of 3 calls: one refresh) with ci_test "parcorr",
  "robustparcorr" and "rcot" (default settings, seed 0);
- tigramite 5.2.10.1's ``PCMCI(DataFrame(window), test).run_pcmci(...)`` with ParCorr(),
  RobustParCorr(), CMIknn(significance="fixed_thres", workers=1) and GPDC() (analytic null),
  and on one subset CMIknn's shuffle test (sig_samples 200, sig_blocklength 1: tigramite
  5.2.10.1's block-length estimate calls np.corrcoef(..., ddof=0), which this numpy refuses).

CMIknn's fixed_thres needs a CMI threshold, not a p-value: per W it is the 95% quantile of
CMIknn's value on null tests X_{t-1} _||_ Y_t | Y_{t-1}, X_{t-2} (a pilot on separate null
windows), recorded in the JSON.

Scores: F1 of the lagged cross links against the true graph (pooled over windows; the
auto-dependences, present in every model, are not scored) on "nonlinear" and "linear";
false-positive rate of the lagged cross links on "null". Mismatches: a window where ours and
its tigramite twin (parcorr / tig_parcorr, robustparcorr / tig_robustparcorr) differ in a
graph string or by more than 1e-8 in |val| or |p|. Speedup: the tigramite test's median CPU
ms per refresh over the windows it ran on, over ours (its twin, or rcot for CMIknn / GPDC)
on exactly those windows; ours' score on those windows is "ours_same_windows".

Ours and the two tigramite twins run on every window (``--windows``, 10); CMIknn and GPDC on
subsets (minutes per window at N=8 / W=1000), recorded per row ("windows") and in
``subsets``. Our refresh at N=8, tau_max 2, W=500 is timed on its own (goal <= 30 ms for
rcot). Configurations run in a process pool (``--workers``). Writes
bench/results/causal_nonlinear.json and
prints rich tables. The PCMCI+ and missing-data comparison of RobustParCorr stays in
bench/causal_robust.py.

    nice -n 10 .venv/bin/python bench/causal_nonlinear.py [--quick] [--workers 2]

A partial rerun (``--tests tig_parcorr,tig_robustparcorr,cmiknn:300 --merge OLD.json``) runs ours
and the named tigramite tests (``name:W`` only at window W) on every configuration and copies the
other tigramite rows from OLD.json unchanged (their speedups stay those of the old run, against
the old run's own times of ours); the JSON's ``merged`` says what was rerun, when, and from
which file the rest comes, and the goals name the source of each minimum.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.cmiknn import CMIknn
from tigramite.independence_tests.gpdc import GPDC
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.independence_tests.robust_parcorr import RobustParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.toys import lagged_links, stationary

ALPHA = 0.05
REPS = 3
MODELS = ("nonlinear", "linear", "null")
OURS = ("parcorr", "robustparcorr", "rcot")
TIGRAMITE = ("tig_parcorr", "tig_robustparcorr", "cmiknn", "gpdc", "cmiknn_shuffle")
TWIN = {"tig_parcorr": "parcorr", "tig_robustparcorr": "robustparcorr", "cmiknn": "rcot", "gpdc": "rcot",
        "cmiknn_shuffle": "rcot"}
Link = tuple[int, int, int]


def toy(n_vars: int, tau_max: int, T: int, seed: int, model: str) -> tuple[np.ndarray, set[Link]]:
    """A stationary toy series (float64) of ``model`` and its true lagged cross links (i, j, lag)."""
    data, links = stationary(n_vars, tau_max, T, seed, funcs="linear" if model == "linear" else "nonlinear",
                             contemp_fraction=0.0, n_links=0 if model == "null" else None, attempts=200)
    return data, lagged_links(links)


def found_links(graph: np.ndarray) -> set[Link]:
    """Lagged cross links of a graph (auto links are not scored)."""
    return {(int(i), int(j), int(lag) + 1) for i, j, lag in zip(*np.nonzero(graph[:, :, 1:] == "-->")) if i != j}


def ours(window: np.ndarray, tau_max: int, ci_test: str) -> tuple[dict, float]:
    """WindowedPCMCI's results() on the window and its CPU time per refresh (mean of REPS)."""
    model = WindowedPCMCI(window.shape[1], len(window), tau_max, tau_min=1, ci_test=ci_test,
                          alpha_level=ALPHA, pc_alpha=ALPHA).update_many(window)
    t0 = time.process_time()
    for _ in range(REPS):
        res = model.results()
    return res, (time.process_time() - t0) / REPS


def tigramite(window: np.ndarray, tau_max: int, test: str, thres: float) -> tuple[dict, float]:
    """tigramite's run_pcmci with one of its tests, and its CPU time."""
    t0 = time.process_time()
    alpha = ALPHA
    if test == "tig_parcorr":
        ci = ParCorr()
    elif test == "tig_robustparcorr":
        ci = RobustParCorr()
    elif test == "cmiknn":
        ci, alpha = CMIknn(significance="fixed_thres", workers=1), thres
    elif test == "cmiknn_shuffle":
        ci = CMIknn(significance="shuffle_test", sig_samples=200, sig_blocklength=1, workers=1, seed=0)
    else:
        ci = GPDC()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = PCMCI(DataFrame(window), ci).run_pcmci(tau_min=1, tau_max=tau_max, pc_alpha=alpha, alpha_level=alpha)
    return res, time.process_time() - t0


def cmi_threshold(window_size: int, n_pilot: int) -> float:
    """95% quantile of CMIknn's value on null tests (separate null windows, N=3, tau_max 1)."""
    vals = []
    for k in range(n_pilot):
        X, _ = toy(3, 1, window_size + 100, 5000 + k, "null")
        frame = CMIknn(significance="fixed_thres", workers=1)
        for i, j in [(0, 1), (1, 2), (2, 0)]:
            arr = np.stack([X[-window_size + 1:-1, i], X[-window_size + 2:, j], X[-window_size + 1:-1, j],
                            X[-window_size:-2, i]])
            vals.append(frame.get_dependence_measure(arr, np.array([0, 1, 2, 2])))
    return float(np.quantile(vals, 0.95))


def mismatch(a: dict, b: dict) -> tuple[bool, float]:
    """Whether two results differ (graph strings, or |val|, |p| beyond 1e-8), and the largest difference."""
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in ("val_matrix", "p_matrix"))
    return bool((a["graph"] != b["graph"]).any() or diff > 1e-8), diff


def score(counts: list[int], model: str) -> float:
    """F1 from (tp, fp, fn, negatives) on a toy model (0 when nothing is found), FPR on the null."""
    tp, fp, fn, neg = counts
    if model == "null":
        return fp / max(neg, 1)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def run_model(job: dict) -> dict:
    """All windows of one (N, tau_max, W, model): ours on each, the tigramite tests on their subsets."""
    with threadpool_limits(1):
        n, tau, W, model = job["n"], job["tau_max"], job["window"], job["model"]
        cand = {(i, j, lag) for i in range(n) for j in range(n) for lag in range(1, tau + 1) if i != j}
        acc: dict[str, dict] = {}
        for w in range(job["n_windows"]):
            X, true = toy(n, tau, W + 100, 100 * w + 7, model)
            window = X[-W:]
            res = {name: ours(window, tau, name) for name in OURS}
            res.update({t: tigramite(window, tau, t, job["thres"]) for t, k in job["tig_windows"].items() if w < k})
            for name, (r, t) in res.items():
                found = found_links(r["graph"])
                a = acc.setdefault(name, {"counts": [0, 0, 0, 0], "ms": [], "paired": [0, 0, 0, 0],
                                          "mismatches": 0, "max_abs_diff": 0.0})
                a["counts"] = [x + y for x, y in zip(a["counts"], counts_of(found, true, cand))]
                a["ms"].append(1e3 * t)
                if name in TWIN:
                    twin = found_links(res[TWIN[name]][0]["graph"])
                    a["paired"] = [x + y for x, y in zip(a["paired"], counts_of(twin, true, cand))]
                    if TWIN[name] != "rcot":
                        bad, diff = mismatch(r, res[TWIN[name]][0])
                        a["mismatches"] += int(bad)
                        a["max_abs_diff"] = max(a["max_abs_diff"], diff)
        return {"n": n, "tau_max": tau, "window": W, "model": model, "tests": summarise(acc, model)}


def counts_of(found: set[Link], true: set[Link], cand: set[Link]) -> list[int]:
    """tp, fp, fn, negatives."""
    return [len(found & true), len(found - true), len(true - found), len(cand - true)]


def summarise(acc: dict, model: str) -> dict:
    """Per test: windows, F1 or FPR, median refresh ms; for tigramite's: ours on the same windows, speedup."""
    out = {}
    key = "fpr" if model == "null" else "f1"
    for name, a in acc.items():
        row = {"windows": len(a["ms"]), "refresh_ms": statistics.median(a["ms"]), key: score(a["counts"], model)}
        if name in TWIN:
            mine = acc[TWIN[name]]["ms"][:len(a["ms"])]
            row.update({"ours": TWIN[name], "ours_same_windows": score(a["paired"], model),
                        "speedup": statistics.median(a["ms"]) / statistics.median(mine)})
            if TWIN[name] != "rcot":
                row.update({"mismatches": a["mismatches"], "max_abs_diff": a["max_abs_diff"]})
        out[name] = row
    return out


def refresh_goal(repeats: int) -> dict:
    """Our refreshes at N=8, tau_max 2, W=500 on a nonlinear toy window (median of repeats), and update cost."""
    with threadpool_limits(1):
        X, _ = toy(8, 2, 600, 11, "nonlinear")
        out = {"n": 8, "tau_max": 2, "window": 500}
        for name in OURS:
            out[f"{name}_refresh_ms"] = 1e3 * statistics.median(ours(X[-500:], 2, name)[1] for _ in range(repeats))
            model = WindowedPCMCI(8, 500, 2, tau_min=1, ci_test=name)
            t0 = time.process_time()
            model.update_many(X)
            out[f"{name}_update_us"] = 1e6 * (time.process_time() - t0) / len(X)
    return out


def subsets(n: int, tau: int, W: int, model: str) -> dict[str, int]:
    """How many windows each tigramite test runs on in one (N, tau_max, W, model)."""
    out = {}
    lin = model == "linear"
    out["cmiknn"] = (3 if lin else 5) if W == 300 else (2 if lin else 3)
    if W == 300:
        out["gpdc"] = 2 if lin or n == 8 else 4
    elif (n, tau) == (3, 1) and not lin:
        out["gpdc"] = 2
    if (n, tau, W) == (3, 1, 300) and not lin:
        out["cmiknn_shuffle"] = 2
    return out


SUBSETS = ("tig_parcorr, tig_robustparcorr and ours on every window (--windows). CMIknn (fixed_thres): 5 windows "
           "at W 300 and 3 at W 1000 (nonlinear, null), 3 / 2 (linear). GPDC: at W 300 4 windows (N 3, 5; nonlinear, "
           "null), 2 (N 8, or linear); at W 1000 only N=3, tau_max 1, nonlinear and null, 2 windows (a window of "
           "N=3, tau 1, W 1000 takes ~2 min, N=8 tau 2 W 500 ~4 min). CMIknn shuffle (200 shuffles): only N=3, "
           "tau_max 1, W 300, nonlinear and null, 2 windows.")


def chosen(spec: str | None) -> dict[str, int | None]:
    """``--tests``: tigramite test -> the one window size it runs at (None: every size).

    >>> chosen("tig_parcorr,cmiknn:300")
    {'tig_parcorr': None, 'cmiknn': 300}
    """
    if spec is None:
        return dict.fromkeys(TIGRAMITE)
    out: dict[str, int | None] = {}
    for item in spec.split(","):
        name, _, w = item.partition(":")
        if name not in TIGRAMITE:
            raise SystemExit(f"causal_nonlinear: --tests names {name!r}, not one of {TIGRAMITE}")
        out[name] = int(w) if w else None
    return out


def jobs(n_windows: int, quick: bool, tests: dict[str, int | None] | None = None) -> list[dict]:
    """One job per (N, tau_max, W, model), the slowest first (only the ``tests`` tigramite runs)."""
    out = []
    for W in (300, 1000):
        for n in (3, 5, 8):
            for tau in (1, 2):
                for model in MODELS:
                    tig = {"tig_parcorr": n_windows, "tig_robustparcorr": n_windows} | subsets(n, tau, W, model)
                    if quick:
                        tig = {k: min(v, 1) for k, v in tig.items() if k != "cmiknn_shuffle"}
                    if tests is not None:
                        tig = {k: v for k, v in tig.items() if k in tests and tests[k] in (None, W)}
                    out.append({"n": n, "tau_max": tau, "window": W, "model": model, "n_windows": n_windows,
                                "tig_windows": tig, "cost": W * W * n * tau * (4 if "gpdc" in tig else 1)})
    return sorted(out, key=lambda j: -j["cost"])


def merge(rows: list[dict], old_rows: list[dict]) -> list[dict]:
    """Rows with the tigramite tests this run did not rerun copied from an old run (marked ``from_old_run``)."""
    old = {(r["n"], r["tau_max"], r["window"], r["model"]): r["tests"] for r in old_rows}
    for r in rows:
        for name, t in old[(r["n"], r["tau_max"], r["window"], r["model"])].items():
            if name in TIGRAMITE and name not in r["tests"]:
                r["tests"][name] = t | {"from_old_run": True}
    return rows


def goals(rows: list[dict], refresh: dict) -> dict:
    """The issue's three goals, read off the rows (a minimum over copied rows says so)."""
    robust = [r["tests"]["tig_robustparcorr"] for r in rows]
    power_miss, speed = [], {"cmiknn": [], "gpdc": []}
    source: dict[str, list[tuple[float, bool]]] = {"cmiknn": [], "gpdc": []}
    for r in rows:
        for ref in ("cmiknn", "gpdc"):
            t = r["tests"].get(ref)
            if t is None:
                continue
            speed[ref].append(t["speedup"])
            source[ref].append((t["speedup"], bool(t.get("from_old_run"))))
            if r["model"] == "nonlinear" and t["ours_same_windows"] < t["f1"] - 0.03:
                power_miss.append({"n": r["n"], "tau_max": r["tau_max"], "window": r["window"], "vs": ref,
                                   "rcot": t["ours_same_windows"], "ref": t["f1"], "windows": t["windows"]})
    sources = {f"rcot_min_speedup_vs_{ref}_source": "old run" if min(source[ref])[1] else "this run"
               for ref in source if source[ref]}
    return sources | {"robustparcorr_min_speedup": min(t["speedup"] for t in robust),
            "robustparcorr_mismatches": sum(t["mismatches"] for t in robust),
            "robustparcorr_windows": sum(t["windows"] for t in robust),
            "parcorr_mismatches": sum(r["tests"]["tig_parcorr"]["mismatches"] for r in rows),
            "rcot_power_misses_nonlinear": power_miss,
            "rcot_min_speedup_vs_cmiknn": min(speed["cmiknn"]), "rcot_min_speedup_vs_gpdc": min(speed["gpdc"]),
            "rcot_refresh_ms_n8_tau2_w500": refresh["rcot_refresh_ms"]}


def fmt(t: dict | None, key: str) -> str:
    """A score with its window count, or a dash."""
    return "-" if t is None else f"{t[key]:.2f} ({t['windows']})"


def tables(rows: list[dict]) -> tuple[Table, Table]:
    """Scores per test; times, speedups and mismatches."""
    names = OURS + TIGRAMITE
    s = Table(title="F1 of lagged cross links (toys) / FPR (null), PCMCI tau_min 1, alpha 0.05 (windows)")
    t = Table(title="CPU ms per refresh (1 BLAS thread), speedup on the same windows, mismatches")
    for col in ("N", "tau", "W", "model") + names:
        s.add_column(col, justify="right")
    for col in ("N", "tau", "W", "model", "parcorr ms", "robust ms", "rcot ms", "x parcorr", "x robust",
                "x cmiknn", "x gpdc", "mism. parcorr", "mism. robust"):
        t.add_column(col, justify="right")
    for r in rows:
        key = "fpr" if r["model"] == "null" else "f1"
        head = [str(r["n"]), str(r["tau_max"]), str(r["window"]), r["model"]]
        s.add_row(*head, *(fmt(r["tests"].get(name), key) for name in names))
        x = {k: r["tests"].get(k) for k in TIGRAMITE}
        t.add_row(*head, *(f"{r['tests'][k]['refresh_ms']:.1f}" for k in OURS),
                  *("-" if x[k] is None else f"{x[k]['speedup']:.0f}x" for k in TIGRAMITE[:4]),
                  *(f"{x[k]['mismatches']}/{x[k]['windows']}" for k in TIGRAMITE[:2]))
    return s, t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 windows, tigramite's slow tests on 1, no shuffle")
    ap.add_argument("--windows", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "causal_nonlinear.json"))
    ap.add_argument("--tests", help="tigramite tests to run, comma-separated, name or name:W (default: all)")
    ap.add_argument("--merge", help="an earlier JSON whose rows of the tests not run here are copied")
    args = ap.parse_args()
    n_windows = 2 if args.quick else args.windows
    start, load0 = time.perf_counter(), os.getloadavg()
    old = json.loads(Path(args.merge).read_text()) if args.merge else None
    thres = {W: cmi_threshold(W, 2 if args.quick else 8) for W in (300, 1000)}
    todo = jobs(n_windows, args.quick, chosen(args.tests) if args.tests else None)
    for job in todo:
        job["thres"] = thres[job["window"]]
    with ProcessPoolExecutor(args.workers) as pool:
        done = list(pool.map(run_model, todo))
    order = {(W, n, tau, m): k for k, (W, n, tau, m) in enumerate(
        (W, n, tau, m) for W in (300, 1000) for n in (3, 5, 8) for tau in (1, 2) for m in MODELS)}
    rows = sorted(done, key=lambda r: order[(r["window"], r["n"], r["tau_max"], r["model"])])
    if old is not None:
        rows = merge(rows, old["configs"])
    refresh = refresh_goal(5)
    for table in tables(rows):
        Console(width=220).print(table)
    out = {"bench": "causal_nonlinear", "what": __doc__.splitlines()[0], "quick": args.quick,
           "python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "tigramite": version("tigramite"), "numpy": version("numpy"), "blas_threads": 1,
           "loadavg_start": load0, "loadavg_end": os.getloadavg(), "workers": args.workers,
           "settings": {"alpha": ALPHA, "pc_alpha": ALPHA, "tau_min": 1, "method": "pcmci", "reps_ours": REPS,
                        "windows": n_windows, "rcot": WindowedPCMCI(8, 500, 2, ci_test="rcot").results()["ci_settings"],
                        "cmiknn_fixed_thres": thres, "cmiknn_shuffle": {"sig_samples": 200, "sig_blocklength": 1}},
           "subsets": SUBSETS, "goals": goals(rows, refresh), "refresh_goal": refresh, "configs": rows,
           "wall_s": time.perf_counter() - start}
    if old is not None:
        out["merged"] = {"rerun": args.tests or "all", "rerun_at_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                         "copied_from": args.merge, "copied_run_wall_s": old.get("wall_s"),
                         "copied_run_loadavg": [old.get("loadavg_start"), old.get("loadavg_end")],
                         "note": "rows marked from_old_run are the old run's, speedups included (old ours)"}
    Console().print(out["goals"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
