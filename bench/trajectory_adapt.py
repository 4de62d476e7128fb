"""Style adaptation curves (issue 22 item 2): the shifted domains before and after ``model adapt``.

Run: ``nice -n 10 .venv/bin/python bench/trajectory_adapt.py [--domains a,b] [--scratch-epochs N]``;
writes the ``adaptation`` key of bench/results/trajectory_shift.json (the rest of that file,
from bench/trajectory_shift.py, is kept: that bench is not rerun here). Needs the ``dev`` extra
(torch) and the shipped weights. One thread (torch and BLAS).

The domains and their test scenes are bench/trajectory_shift.py's (same generators, seeds and
counts, so "base" here is its "model" column up to float rounding); the shots come from
another seed. The base is the shipped ETH/UCY model (models/weights/trajectory.pt), as in the
shift bench. Per domain and for 10, 100 and 1000 shots (scene k the same in every count):

- ``adapted``: models/trajectory/adapt.py's style (FiLM, 624 numbers) on the shots, a fifth
  held out to pick the epoch;
- ``scratch``: a fresh network of the base's size trained on the same shots (same split),
  with the base's training recipe (TrainConfig from its metadata) and ``--scratch-epochs``
  (at least 600 steps); the adaptation takes 500..1500 steps (AdaptConfig's defaults);
- constant velocity (CV), and the base model before adaptation.

K=1 is the most probable mode, min-of-20 the best of the 20. The goal: with 100 shots, K=1
ADE at least 30% below CV's where CV is not near-perfect (CV K=1 ADE >= 0.1 m here). ETH/UCY
in-domain: adaptation writes new files and never touches the base's, checked by sha256 of the
shipped trajectory.pt / .onnx before and after.

ETH/UCY leave-one-out as a shift: the shipped models/weights/eth_ucy_loo models are ONNX only
(no style part; the refusal is recorded). ``--loo DIR`` takes checkpoints trained again with
their recorded commands (``model train --test-scene SCENE ... --out DIR``; DIR/trajectory_SCENE.pt)
and adapts each on its held-out scene: the scene's windows in time order, shots spread evenly
over the first half (as ``model adapt`` picks them), test scenes from the second after a gap of 20 windows (no shared frame), shots capped at
what the first half holds. ``--loo DIR --only-loo`` runs just that and replaces only the
``eth_ucy_leave_one_out`` entry of the ``adaptation`` key.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from causalstream.models.errors import ModelError
from causalstream.models.trajectory.adapt import AdaptConfig, adapt, split_shots
from causalstream.models.trajectory.adapt_release import resolve_base, sha256_of
from causalstream.models.trajectory.data import leave_one_out, read_windows
from causalstream.models.trajectory.metrics import constant_velocity, evaluate_windows
from causalstream.models.trajectory.training import TrainConfig, evaluate, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trajectory_shift import CROSSING, STYLES, crossing_windows, crowd_windows, hri_windows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "models" / "weights"
OUT = ROOT / "bench" / "results" / "trajectory_shift.json"
SHOTS = (10, 100, 1000)
NEAR_PERFECT_CV = 0.1  # metres: CV K=1 ADE below this is "already near-perfect"
console = Console(highlight=False)

Gen = Callable[[int, int], list[np.ndarray]]


def domains() -> dict[str, tuple[Gen, int, int, int]]:
    """name -> (generator(scenes, seed), test scenes, test seed, shot seed): the shift bench's tests."""
    out: dict[str, tuple[Gen, int, int, int]] = {}
    for style, p in STYLES.items():
        out[f"crowd_{style}"] = ((lambda n, s, p=p: crowd_windows(p, n, s)), 150, 11, 111)
    for name, sep in CROSSING.items():
        out[f"crossing_{name}"] = ((lambda n, s, sep=sep: crossing_windows(sep, n, s)), 300, 12, 112)
    out["sim_hri"] = (hri_windows, 200, 13, 113)
    return out


def _f32(windows: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(w, dtype=np.float32) for w in windows]


def _cv(windows: list[np.ndarray]) -> dict[str, float]:
    return evaluate_windows(lambda h: (constant_velocity(h.astype(np.float64)), np.ones((len(h), 1))), windows)


def _scratch(base: torch.nn.Module, meta: dict, shots: list[np.ndarray], epochs: int) -> tuple[dict[str, float], float, torch.nn.Module]:
    train_w, val_w = split_shots(shots, 0.2)
    val_w = val_w or train_w  # fewer than 5 shots: select on the training shots
    recipe = {**meta.get("training", {})}
    recipe["scale_range"] = tuple(recipe.get("scale_range", (1.0, 1.0)))
    batches = max(1, math.ceil(len(train_w) / recipe.get("batch_windows", 32)))
    schedule = TrainConfig(**{**recipe, "epochs": max(epochs, math.ceil(600 / batches)), "seed": 0})
    t0 = time.perf_counter()
    result = train(base.config, schedule, train_w, val_w)
    return result.val_metrics, round(time.perf_counter() - t0, 1), result.network


def run_domain(name: str, gen: Gen, n_test: int, test_seed: int, shot_seed: int, base: torch.nn.Module, meta: dict,
               scratch_epochs: int) -> dict:
    test = _f32(gen(n_test, test_seed))
    pool = _f32(gen(max(SHOTS), shot_seed))
    cv, before = _cv(test), evaluate(base, test)
    row: dict = {"test_scenes": n_test, "test_agents": int(sum(len(w) for w in test)), "cv": cv, "base": before,
                 "cv_near_perfect": cv["ade_top1"] < NEAR_PERFECT_CV, "shots": {}}
    for n in SHOTS:
        shots = pool[:n]
        res = adapt(base, shots, AdaptConfig())
        adapted = evaluate(res.network, test)
        _, scratch_s, scratch_net = _scratch(base, meta, shots, scratch_epochs)
        scratch = evaluate(scratch_net, test)
        row["shots"][str(n)] = {"adapted": adapted, "adapt_seconds": res.seconds, "best_epoch": res.best_epoch,
                                "scratch": scratch, "scratch_seconds": scratch_s,
                                "adapted_vs_cv": adapted["ade_top1"] / cv["ade_top1"],
                                "adapted_vs_base": adapted["ade_top1"] / before["ade_top1"],
                                "scratch_vs_cv": scratch["ade_top1"] / cv["ade_top1"]}
        console.print(f"{name} {n:>4} shots: CV {cv['ade_top1']:.3f} base {before['ade_top1']:.3f} "
                      f"adapted {adapted['ade_top1']:.3f} ({res.seconds:.0f} s) scratch {scratch['ade_top1']:.3f} "
                      f"({scratch_s:.0f} s)")
    return row


def run_loo(folder: Path, scratch_epochs: int) -> dict:
    """Each DIR/trajectory_SCENE.pt adapted on the first half of its held-out scene, tested on the second."""
    out: dict = {}
    for checkpoint in sorted(folder.glob("trajectory_*.pt")):
        scene = checkpoint.stem.removeprefix("trajectory_")
        base, meta, _ = resolve_base(checkpoint)
        windows = _f32(read_windows(leave_one_out(ROOT / "bench" / "data" / "eth_ucy", scene)["test"]))
        half = len(windows) // 2
        pool, test = windows[:half], windows[half + 20:]
        cv, before = _cv(test), evaluate(base, test)
        row: dict = {"checkpoint": str(checkpoint), "command": meta.get("command"), "windows": len(windows),
                     "shot_pool": len(pool), "test_windows": len(test), "cv": cv, "base": before,
                     "base_on_the_whole_scene": evaluate(base, windows), "shots": {}}
        for n in sorted({min(n, len(pool)) for n in SHOTS}):
            shots = [pool[i] for i in np.linspace(0, len(pool) - 1, n).round().astype(int)]  # as `model adapt` picks
            res = adapt(base, shots, AdaptConfig())
            adapted = evaluate(res.network, test)
            _, scratch_s, scratch_net = _scratch(base, meta, shots, scratch_epochs)
            scratch = evaluate(scratch_net, test)
            row["shots"][str(n)] = {"adapted": adapted, "adapt_seconds": res.seconds, "best_epoch": res.best_epoch,
                                    "scratch": scratch, "scratch_seconds": scratch_s,
                                    "adapted_vs_cv": adapted["ade_top1"] / cv["ade_top1"],
                                    "adapted_vs_base": adapted["ade_top1"] / before["ade_top1"]}
            console.print(f"eth_ucy_{scene} {n:>4} shots: CV {cv['ade_top1']:.3f} base {before['ade_top1']:.3f} "
                          f"adapted {adapted['ade_top1']:.3f} scratch {scratch['ade_top1']:.3f} "
                          f"(min-of-20 base {before['ade']:.3f} adapted {adapted['ade']:.3f})")
        out[scene] = row
    return out


def _table(res: dict) -> None:
    table = Table(title="Adaptation: K=1 ADE (m) on each domain's test scenes; adapted / scratch per shots")
    for col in ("domain", "CV", "base", *(f"{n} shots" for n in SHOTS), "100: vs CV"):
        table.add_column(col)
    for name, r in res.items():
        cells = [f"{r['shots'][str(n)]['adapted']['ade_top1']:.3f} / {r['shots'][str(n)]['scratch']['ade_top1']:.3f}"
                 for n in SHOTS]
        table.add_row(name, f"{r['cv']['ade_top1']:.3f}", f"{r['base']['ade_top1']:.3f}", *cells,
                      f"{r['shots']['100']['adapted_vs_cv'] - 1:+.0%}")
    console.print(table)


def _loo_note() -> dict:
    try:
        resolve_base(WEIGHTS / "eth_ucy_loo" / "trajectory_eth.onnx")
        shipped = "adaptable"
    except ModelError as exc:
        shipped = str(exc)
    return {"shipped_loo_models": shipped,
            "split": "the held-out scene's windows in time order: shots from the first half, test from the second "
                     "after a gap of 20 windows; checkpoints trained again with the shipped models' commands"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="", help="Comma-separated subset of the domains (default: all).")
    parser.add_argument("--scratch-epochs", type=int, default=20, help="Epochs of the from-scratch baseline (at least 600 steps).")
    parser.add_argument("--loo", type=Path, help="Folder of leave-one-out checkpoints trajectory_SCENE.pt to adapt too.")
    parser.add_argument("--only-loo", action="store_true", help="Run only --loo; keep the rest of the adaptation key.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.only_loo:
        whole = json.loads(OUT.read_text())
        with threadpool_limits(limits=1):
            whole["adaptation"]["eth_ucy_leave_one_out"] = {**_loo_note(), "scenes": run_loo(args.loo, args.scratch_epochs)}
        OUT.write_text(json.dumps(whole, indent=2, default=float) + "\n")
        console.print(f"wrote adaptation.eth_ucy_leave_one_out of {OUT.relative_to(ROOT)}")
        return
    chosen = domains()
    if args.domains:
        chosen = {k: v for k, v in chosen.items() if k in args.domains.split(",")}
    shipped = [WEIGHTS / "trajectory.pt", WEIGHTS / "trajectory.onnx"]
    sha_before = {p.name: sha256_of([p]) for p in shipped}
    base, meta, _ = resolve_base("trajectory")
    started = time.time()
    with threadpool_limits(limits=1):
        res = {name: run_domain(name, *spec, base=base, meta=meta, scratch_epochs=args.scratch_epochs)
               for name, spec in chosen.items()}
    _table(res)
    loo = {**_loo_note(), "scenes": run_loo(args.loo, args.scratch_epochs) if args.loo else {}}
    judged = {k: r for k, r in res.items() if not r["cv_near_perfect"]}
    summary = {
        "goal_100_shots_30pct_below_cv": {k: r["shots"]["100"]["adapted_vs_cv"] <= 0.7 for k, r in judged.items()},
        "met_on": sum(r["shots"]["100"]["adapted_vs_cv"] <= 0.7 for r in judged.values()), "judged": len(judged),
        "not_judged_cv_near_perfect": sorted(k for k, r in res.items() if r["cv_near_perfect"]),
        "adapted_better_than_scratch": {n: sum(r["shots"][str(n)]["adapted"]["ade_top1"] < r["shots"][str(n)]["scratch"]["ade_top1"]
                                               for r in res.values()) for n in map(str, SHOTS)},
        "median_adapted_vs_cv": {n: float(np.median([r["shots"][str(n)]["adapted_vs_cv"] for r in res.values()])) for n in map(str, SHOTS)},
    }
    sha_after = {p.name: sha256_of([p]) for p in shipped}
    result = {
        "bench": "bench/trajectory_adapt.py (this key only; bench/trajectory_shift.py wrote the rest and was not rerun)",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "note": "2 cores shared with other workers; torch and BLAS threads 1; nice 10"},
        "base": "models/weights/trajectory.pt (ETH/UCY, all scenes)", "style": "FiLM, AdaptConfig defaults",
        "adapt_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in AdaptConfig().__dict__.items()},
        "scratch": f"a fresh network of the base's size, the base's TrainConfig, max({args.scratch_epochs} epochs, 600 steps), "
                   "the same 80/20 split of the shots",
        "near_perfect_cv_m": NEAR_PERFECT_CV, "domains": res,
        "domains_left_out": sorted(set(domains()) - set(res)), "summary": summary,
        "eth_ucy_in_domain": {"base_files_unchanged": sha_before == sha_after, "sha256": sha_after,
                              "note": "the base is never written; its ETH/UCY figures are the shift bench's and "
                                      "bench/trajectory.py's"},
        "eth_ucy_leave_one_out": loo,
        "seconds": round(time.time() - started, 1),
    }
    whole = json.loads(OUT.read_text()) if OUT.is_file() else {}
    whole["adaptation"] = result
    OUT.write_text(json.dumps(whole, indent=2, default=float) + "\n")
    console.print(summary)
    console.print(f"wrote the adaptation key of {OUT.relative_to(ROOT)} in {result['seconds']} s")


if __name__ == "__main__":
    main()
