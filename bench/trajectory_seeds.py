"""How much of the ETH/UCY K=1 figure is the seed: the shipped recipe trained with several seeds.

For each seed and held-out scene, `causalstream model train --test-scene SCENE --seed S` (the
CLI's defaults are the shipped recipe) trains one leave-one-out model into
bench/.cache/trajectory_seeds/seedS (a model already there is not trained again; two trainings
run at a time, one thread each). Each model is then scored on its held-out scene: K=1 as the predictor gives it
(the most probable mode), mode 0 (the deterministic mode, trained on plain ADE), min-of-20; and
the same for the mean of the seeds' trajectories (an ensemble, seeds x the inference). Writes
bench/results/trajectory_seeds.json. Not part of `make bench` (about 15 min for three seeds on
two cores); run it as `python bench/trajectory_seeds.py [--seeds 0 1 2]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.data import SCENES, leave_one_out, read_windows
from causalstream.models.trajectory.metrics import displacement_errors

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "trajectory_seeds"
OUT = ROOT / "bench" / "results" / "trajectory_seeds.json"
console = Console()


def _train(seed: int, scene: str) -> Path:
    """One leave-one-out model of ``seed`` (skipped when its ONNX file is already there)."""
    folder = CACHE / f"seed{seed}"
    path = folder / f"trajectory_{scene}.onnx"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "causalstream.nodes.cli", "model", "train", "--test-scene", scene,
               "--root", str(ROOT / "bench" / "data" / "eth_ucy"), "--seed", str(seed), "--threads", "1", "--no-int8",
               "--out", str(folder),
               "--name", f"trajectory_{scene}"]
        with open(folder / f"{scene}.log", "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return path


def _errors(trajectories: np.ndarray, truth: np.ndarray, probabilities: np.ndarray | None = None) -> dict[str, float]:
    """ADE / FDE of [N, K, H, 2]: min-of-K, or of the most probable mode given ``probabilities``."""
    ade, fde = displacement_errors(trajectories, truth, probabilities)
    return {"ade": ade, "fde": fde}


def held_out_windows(scene: str) -> list[np.ndarray]:
    """The held-out scene's windows [A, 20, 2] (bench/data)."""
    return read_windows(leave_one_out(ROOT / "bench" / "data" / "eth_ucy", scene)["test"])


def raw_outputs(path: Path, windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A model's trajectories [N, K, 12, 2] and probabilities [N, K] over every agent of
    ``windows``, modes in network order (mode 0 first; the predictor sorts them), no prior."""
    session = OnnxPredictor(path).session
    outs = [session.run(["trajectories", "probabilities"],
                        {"history": np.ascontiguousarray(w[:, :8], np.float32),
                         "adjacency": np.ones((len(w), len(w)), np.float32)}) for w in windows]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def _score(paths: dict[int, Path], scene: str) -> dict[str, dict[str, float]]:
    """K=1 (most probable), mode 0 and min-of-20 per model, and of their mean, on ``scene``."""
    windows = held_out_windows(scene)
    truth = np.concatenate([w[:, 8:20] for w in windows])
    runs = [raw_outputs(path, windows) for path in paths.values()]
    row: dict[str, dict[str, float]] = {}
    for seed, (traj, prob) in zip(paths, runs):
        row[f"seed{seed}_top1"] = _errors(traj, truth, prob)
        row[f"seed{seed}_mode0"] = _errors(traj[:, :1], truth)
        row[f"seed{seed}_min20"] = _errors(traj, truth)
    top = [traj[np.arange(len(traj)), prob.argmax(1)] for traj, prob in runs]
    row["ensemble_top1"] = _errors(np.mean(top, axis=0)[:, None], truth)
    row["ensemble_mode0"] = _errors(np.mean([traj[:, :1] for traj, _ in runs], axis=0), truth)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    start = time.perf_counter()
    jobs = [(seed, scene) for seed in args.seeds for scene in SCENES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        paths = dict(zip(jobs, pool.map(lambda job: _train(*job), jobs)))
    scenes = {scene: _score({seed: paths[(seed, scene)] for seed in args.seeds}, scene) for scene in SCENES}
    average = {k: {m: float(np.mean([scenes[s][k][m] for s in SCENES])) for m in ("ade", "fde")}
               for k in scenes["eth"]}
    table = Table(title="ETH/UCY leave-one-out by seed, ADE / FDE (m), average of the five scenes")
    table.add_column("model")
    table.add_column("K=1 (most probable)")
    table.add_column("mode 0")
    table.add_column("min-of-20")
    for prefix in [f"seed{seed}" for seed in args.seeds] + ["ensemble"]:
        cells = [average.get(f"{prefix}_{k}") for k in ("top1", "mode0", "min20")]
        table.add_row(prefix, *(f"{c['ade']:.4f} / {c['fde']:.3f}" if c else "-" for c in cells))
    console.print(table)
    commands = {scene: json.loads(paths[(args.seeds[0], scene)].with_suffix(".json").read_text())["command"]
                for scene in SCENES}
    result = {
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "seeds": args.seeds,
        "recipe": "the CLI's defaults (the shipped leave-one-out command), --seed varied; commands per scene below",
        "commands_first_seed": commands,
        "scenes": scenes,
        "average": average,
        "goal_top1": [0.46, 1.0],
        "seconds": round(time.perf_counter() - start, 1),
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
