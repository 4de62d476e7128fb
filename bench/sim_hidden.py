"""Benchmark: the simulator's hidden driver (issue 23 item 4): PCMCI / PCMCI+ report a false link, LPCMCI `<->`.

HriSim(scene="hidden_driver") with a robot, one reactive human (h1), one distractor (h2) and
two companions (h3, h4) whose pace one hidden group impulse pushes: no directed link between
h3 and h4, and on the observed speeds their true ancestral graph has ``h3.v <-> h4.v`` at lag 0
(models/sim/truth.py). The speeds of all five (``v``, N = 5) and speeds with headings (``v,heading``, N = 9; the heading is no one's hidden cause) at
10 Hz, tau_max 2 (and 1 for the speeds), pc_alpha (and PCMCI's alpha_level) 0.01 (``--alpha``), ParCorr; sliding windows of W
samples every 50, our WindowedPCMCI updated sample by sample, several seeds. Per window:

- pair: does the method link the companions falsely (``pair_false_link``: PCMCI and PCMCI+ assume
  no hidden cause, so any mark between them, any lag; LPCMCI: any mark but ``<->``)? does it
  write a ``-->`` between them (at agent level, a false agent link)? LPCMCI: is the lag-0 pair
  ``<->``, and which mark it writes there;
- variable level: F1 of adjacencies and of arrowheads against the truth (as bench/causal_lpcmci.py);
- agent level (LaggedGraph.agent_adjacency: ``-->`` only, what the predictor reads): precision,
  recall against HriSim.agent_graph, and whether h3 - h4 is among the agent links; for LPCMCI
  also with ``o->`` read as a link (``*_with_circles``): its PAG rarely has a tail across agents;
- tigramite's ``LPCMCI(DataFrame(window), ParCorr()).run_lpcmci`` on the same window: mismatches
  (graph strings, |val|, |p| within 1e-8) and CPU time beside ours (1 BLAS thread).

Writes bench/results/sim_hidden.json and prints a table.

    .venv/bin/python bench/sim_hidden.py [--seeds 3] [--windows 12] [--window 500] [--configs 'v:2;v,heading:2']
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
from causal_lpcmci import f1, marks, same
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.lpcmci import LPCMCI

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.graph import LaggedGraph
from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.models.sim import HriSim

SLIDE, BURN = 50, 50
METHODS = ("pcmci", "pcmciplus", "lpcmci")
PAIR = ("h3", "h4")


def scene(seed: int) -> HriSim:
    return HriSim(n_reactive=1, n_followers=0, n_distractors=1, scene="hidden_driver", seed=seed)


def pair_marks(graph: np.ndarray, names: list[str]) -> list[str]:
    """Every non-empty mark between a variable of h3 and one of h4, any lag, either direction."""
    agents = [n.split(".")[0] for n in names]
    return [str(graph[i, j, t]) for i, j, t in zip(*np.nonzero(graph != ""), strict=True)
            if {agents[i], agents[j]} == set(PAIR)]


def agent_score(graph: np.ndarray, names: list[str], ids: list[str], agent_truth: np.ndarray,
                key: str) -> dict:
    """Precision, recall of the agent links read off ``graph`` and whether h3 - h4 is among them."""
    _, found = LaggedGraph(names, graph).agent_adjacency(ids)
    found_links = {(a, b) for a, b in zip(*np.nonzero(found), strict=True)}
    true_links = {(a, b) for a, b in zip(*np.nonzero(agent_truth), strict=True)}
    tp = len(found_links & true_links)
    h3, h4 = ids.index(PAIR[0]), ids.index(PAIR[1])
    return {f"agent_precision{key}": tp / len(found_links) if found_links else 1.0,
            f"agent_recall{key}": tp / len(true_links) if true_links else 1.0,
            f"agent_pair_link{key}": bool(found[h3, h4] or found[h4, h3])}


def score(graph: np.ndarray, names: list[str], truth: np.ndarray, ids: list[str], agent_truth: np.ndarray,
          pag: bool) -> dict:
    adj, heads = marks(graph)
    true_adj, true_heads = marks(truth)
    in_pair = pair_marks(graph, names)
    out = {"f1_adjacency": f1(adj, true_adj), "f1_arrowhead": f1(heads, true_heads),
           # A false link: any mark from a method that assumes no hidden cause; from LPCMCI, any but <->.
           "pair_false_link": any(m != "<->" for m in in_pair) if pag else bool(in_pair),
           "pair_adjacent": bool(in_pair), "pair_directed": any(m in ("-->", "<--") for m in in_pair)}
    out |= agent_score(graph, names, ids, agent_truth, "")
    if pag:  # o-> ("i causes j, or they share a hidden cause") read as a link too
        out |= agent_score(np.where(graph == "o->", "-->", np.where(graph == "<-o", "<--", graph)), names, ids,
                           agent_truth, "_with_circles")
    return out


def run_seed(seed: int, variables: tuple[str, ...], tau_max: int, W: int, n_windows: int, alpha: float) -> dict:
    sim = scene(seed)
    spec = FeatureSpec(robot_variables=("v",), human_variables=variables, humans=tuple(sim.ids[1:]))
    names = list(spec.names)
    X = FeatureExtractor(spec).transform(sim.run(BURN + W + SLIDE * n_windows))[BURN:]
    truth = sim.ground_truth(spec, tau_max).graph
    ids, agent_truth = sim.agent_graph()
    a, b = names.index(f"{PAIR[0]}.v"), names.index(f"{PAIR[1]}.v")
    models = {m: WindowedPCMCI(len(names), W, tau_max, method=m, pc_alpha=alpha, alpha_level=alpha,
                               var_names=names) for m in METHODS}
    for m in models.values():
        m.update_many(X[:W])
    rows: dict[str, list[dict]] = {m: [] for m in METHODS}
    ours_t, ref_t, mismatches, lag0 = [], [], 0, []
    for k in range(n_windows):
        if k:
            for m in models.values():
                m.update_many(X[W + SLIDE * (k - 1):W + SLIDE * k])
        end = W + SLIDE * k
        for name, model in models.items():
            c0 = time.process_time()
            res = model.results()
            if name == "lpcmci":
                ours_t.append(time.process_time() - c0)
                ours = res
            rows[name].append(score(res["graph"], names, truth, ids, agent_truth, pag=name == "lpcmci"))
        c0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LPCMCI(DataFrame(X[end - W:end]), ParCorr()).run_lpcmci(tau_max=tau_max, pc_alpha=alpha)
        ref_t.append(time.process_time() - c0)
        mismatches += int(not same(ours, ref))
        lag0.append(str(ours["graph"][a, b, 0]))
    return {"rows": rows, "ours_t": ours_t, "ref_t": ref_t, "mismatches": mismatches, "lpcmci_pair_lag0": lag0,
            "truth_pair": str(truth[a, b, 0]), "truth_bidirected": len(sim.ground_truth(spec, tau_max).confounded()),
            "names": names}


def summarise(per_seed: list[dict], variables: tuple[str, ...], tau_max: int, W: int, n_windows: int) -> dict:
    windows = len(per_seed) * n_windows
    out: dict = {"variables": list(variables), "N": len(per_seed[0]["names"]), "W": W, "tau_max": tau_max,
                 "windows": windows, "seeds": len(per_seed), "truth_pair_lag0": per_seed[0]["truth_pair"],
                 "truth_bidirected_links": per_seed[0]["truth_bidirected"]}
    for m in METHODS:
        rows = [r for s in per_seed for r in s["rows"][m]]
        out[m] = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    marks0 = [mk for s in per_seed for mk in s["lpcmci_pair_lag0"]]
    out["lpcmci"]["pair_bidirected_lag0"] = marks0.count("<->") / windows
    out["lpcmci"]["pair_marks_lag0"] = {mk or "(none)": marks0.count(mk) for mk in sorted(set(marks0))}
    ours = [t for s in per_seed for t in s["ours_t"]]
    ref = [t for s in per_seed for t in s["ref_t"]]
    out["tigramite_lpcmci_ms"] = statistics.median(ref) * 1e3
    out["ours_lpcmci_ms"] = statistics.median(ours) * 1e3
    out["speedup"] = out["tigramite_lpcmci_ms"] / out["ours_lpcmci_ms"]
    out["mismatches"] = sum(s["mismatches"] for s in per_seed)
    return out


def table(rows: list[dict]) -> Table:
    t = Table(title="Hidden driver (HriSim scene hidden_driver): the companions h3, h4 (share of windows)")
    for col in ("vars", "N", "tau", "windows", "method", "false link", "pair -->", "agent pair link", "pair <-> lag 0",
                "F1 adj", "F1 heads", "agent P / R"):
        t.add_column(col, justify="right")
    for r in rows:
        for m in METHODS:
            s = r[m]
            bidir = f"{s['pair_bidirected_lag0']:.2f}" if m == "lpcmci" else ""
            t.add_row(",".join(r["variables"]), str(r["N"]), str(r["tau_max"]), str(r["windows"]), m, f"{s['pair_false_link']:.2f}",
                      f"{s['pair_directed']:.2f}", f"{s['agent_pair_link']:.2f}", bidir, f"{s['f1_adjacency']:.2f}",
                      f"{s['f1_arrowhead']:.2f}", f"{s['agent_precision']:.2f} / {s['agent_recall']:.2f}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "-").splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=12, help="sliding windows per seed")
    ap.add_argument("--window", type=int, default=500, help="W, samples per window")
    ap.add_argument("--alpha", type=float, default=0.01, help="pc_alpha of all three, alpha_level of PCMCI")
    ap.add_argument("--configs", default="v:2;v:1;v,heading:2", help="feature sets and tau_max, ';'-separated")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "sim_hidden.json"))
    args = ap.parse_args()
    rows, start = [], time.perf_counter()
    with threadpool_limits(limits=1):
        for config in args.configs.split(";"):
            var_set, tau = config.split(":")
            variables, tau_max = tuple(var_set.split(",")), int(tau)
            per_seed = [run_seed(seed, variables, tau_max, args.window, args.windows, args.alpha)
                        for seed in range(args.seeds)]
            rows.append(summarise(per_seed, variables, tau_max, args.window, args.windows))
            Console(stderr=True).print(f"{config}: {rows[-1]['mismatches']} mismatches, {rows[-1]['speedup']:.1f}x")
    Console(width=160).print(table(rows))
    out = {"bench": "sim_hidden", "python": platform.python_version(), "machine": platform.machine(),
           "blas_threads": 1, "pc_alpha": args.alpha, "slide": SLIDE, "total_s": time.perf_counter() - start,
           "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
