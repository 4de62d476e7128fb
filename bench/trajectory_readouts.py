"""Where the ETH/UCY single guess (K=1) loses: other readouts of the same 20 modes, and the error split.

No training: the shipped leave-one-out models (models/weights/eth_ucy_loo), each on its held-out
scene. Readouts of one trajectory per agent out of the network's 20 modes: the most probable
mode (what the predictor's first mode is), mode 0 (the deterministic mode, trained on plain
ADE), the probability-weighted mean, the weighted geometric median per step (Weiszfeld), and
mode 0 blended with constant velocity (``a x mode 0 + (1 - a) x CV``; ``a`` swept on the
test scenes themselves, so the best of it is an upper bound, not a result). Then mode 0's and
constant velocity's last-step error split along and across each target's last velocity, and
how far targets moving faster than 0.1 m a step go along it (median, as a share of the
constant-velocity distance): truth vs mode 0. Writes bench/results/trajectory_readouts.json.
Not part of `make bench` (a minute); run `python bench/trajectory_readouts.py`.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from causalstream.models.trajectory.data import SCENES
from causalstream.models.trajectory.metrics import constant_velocity, displacement_errors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trajectory_seeds import held_out_windows, raw_outputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "weights" / "eth_ucy_loo"
OUT = ROOT / "bench" / "results" / "trajectory_readouts.json"
BLENDS = (0.7, 0.8, 0.9, 1.1)
console = Console()


def geometric_median(traj: np.ndarray, weights: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Per agent and step, the point minimising the weighted sum of distances to the modes.

    >>> pts = np.array([[[[0.0, 0.0]], [[1.0, 0.0]], [[10.0, 0.0]]]])  # [1 agent, 3 modes, 1 step, 2]
    >>> geometric_median(pts, np.array([[1.0, 1.0, 1.0]])).round(2).tolist()
    [[[1.0, 0.0]]]
    """
    z = (traj * weights[:, :, None, None]).sum(1) / weights.sum(1)[:, None, None]
    for _ in range(iterations):
        w = weights[:, :, None] / (np.linalg.norm(traj - z[:, None], axis=-1) + 1e-6)  # [N, K, H]
        z = (traj * w[..., None]).sum(1) / w.sum(1)[..., None]
    return z


def _run(scene: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """History [N, 8, 2], truth [N, 12, 2], modes [N, K, 12, 2] (network order) and probabilities."""
    windows = held_out_windows(scene)
    traj, prob = raw_outputs(MODELS / f"trajectory_{scene}.onnx", windows)
    hist = np.concatenate([w[:, :8] for w in windows])
    truth = np.concatenate([w[:, 8:20] for w in windows])
    return tuple(a.astype(np.float64) for a in (hist, truth, traj, prob))


def _split(pred: np.ndarray, truth: np.ndarray, hist: np.ndarray) -> dict[str, float]:
    """Mean |last-step error| along and across the last velocity (metres)."""
    v = hist[:, -1] - hist[:, -2]
    along = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    across = np.stack([-along[:, 1], along[:, 0]], axis=-1)
    err = pred[:, -1] - truth[:, -1]
    return {"along": float(np.abs((err * along).sum(-1)).mean()), "across": float(np.abs((err * across).sum(-1)).mean())}


def _progress(pred: np.ndarray, hist: np.ndarray) -> float:
    """Median distance gone along the last velocity at the last step, over the CV distance (moving targets)."""
    v = hist[:, -1] - hist[:, -2]
    speed = np.linalg.norm(v, axis=-1)
    moving = speed > 0.1
    gone = ((pred[moving, -1] - hist[moving, -1]) * v[moving]).sum(-1) / speed[moving]
    return float(np.median(gone / (pred.shape[1] * speed[moving])))


def score(scene: str) -> dict:
    """Every readout's ADE / FDE on ``scene``, the error split and the progress along the walk."""
    hist, truth, traj, prob = _run(scene)
    cv = constant_velocity(hist, truth.shape[1])[:, 0]
    picks = {
        "most_probable": traj[np.arange(len(traj)), prob.argmax(1)],
        "mode0": traj[:, 0],
        "weighted_mean": (traj * prob[:, :, None, None]).sum(1),
        "geometric_median": geometric_median(traj, prob),
        "constant_velocity": cv,
        **{f"blend_{a}": a * traj[:, 0] + (1 - a) * cv for a in BLENDS},
    }
    readouts = {}
    for name, pred in picks.items():
        ade, fde = displacement_errors(pred[:, None], truth)
        readouts[name] = {"ade": ade, "fde": fde}
    return {"readouts": readouts, "agents": len(truth),
            "last_step_error": {"mode0": _split(traj[:, 0], truth, hist), "constant_velocity": _split(cv, truth, hist)},
            "progress_over_cv": {"truth": _progress(truth, hist), "mode0": _progress(traj[:, 0], hist)}}


def main() -> None:
    scenes = {scene: score(scene) for scene in SCENES}
    names = list(scenes["eth"]["readouts"])
    average = {n: {m: float(np.mean([scenes[s]["readouts"][n][m] for s in SCENES])) for m in ("ade", "fde")}
               for n in names}
    table = Table(title="ETH/UCY K=1 readouts of the shipped models, ADE / FDE (m)")
    for col in ["readout", *SCENES, "average"]:
        table.add_column(col)
    for n in names:
        cells = [scenes[s]["readouts"][n] for s in SCENES] + [average[n]]
        table.add_row(n, *(f"{c['ade']:.4f} / {c['fde']:.3f}" for c in cells))
    console.print(table)
    split = Table(title="last-step error along / across the last velocity (m); progress over CV (median)")
    for col in ("scene", "mode 0", "constant velocity", "progress truth / mode 0"):
        split.add_column(col)
    for s in SCENES:
        e, p = scenes[s]["last_step_error"], scenes[s]["progress_over_cv"]
        split.add_row(s, *(f"{e[k]['along']:.3f} / {e[k]['across']:.3f}" for k in ("mode0", "constant_velocity")),
                      f"{p['truth']:.3f} / {p['mode0']:.3f}")
    console.print(split)
    result = {"machine": {"platform": platform.platform(), "python": platform.python_version()},
              "models": "models/weights/eth_ucy_loo (shipped), each on its held-out scene",
              "blend_note": "a swept on the test scenes themselves: an upper bound, not a result",
              "scenes": scenes, "average": average, "goal_top1": [0.46, 1.0]}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
