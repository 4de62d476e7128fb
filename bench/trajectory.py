"""Trajectory benchmark: ETH/UCY leave-one-out accuracy, robustness to non-causal agents, latency.

Run: ``.venv/bin/python bench/trajectory.py`` (about 5.5 minutes on one core); writes
bench/results/trajectory.json and prints the tables. Needs the ``dev`` extra (torch, for the
robustness models and the torch-eager latency reference) and the shipped weights:
models/weights/trajectory.{onnx,int8.onnx,pt} and models/weights/eth_ucy_loo/trajectory_SCENE.onnx
(from ``causalstream model train --test-scene all`` and ``--test-scene none``).

1. ETH/UCY, leave-one-out, one model per held-out scene: constant velocity vs ours, most
   probable mode (K=1) and min-of-20, fp32 and int8 onnxruntime.
2. Robustness, on bench/synthetic_scenes.py (our own generator, written before models/sim
   was on main) and on models/sim's HRI scenes: a gated model and an ungated one trained
   here (16 epochs, gate sparsity weight 3) on scenes with known non-causal agents
   (distractors). Move or remove the distractors; how much do the other agents'
   predictions change, gated vs the same model with its gate forced open (and vs the
   ungated model)?
3. Latency p50/p99 for 8, 16, 64 agents, one thread: onnxruntime fp32 and int8 vs torch eager.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from causalstream.models.sim.scenes import hri_scenes
from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.predictor import session_options
from causalstream.models.trajectory.data import SCENES, leave_one_out, read_windows
from causalstream.models.trajectory.export import SceneModule, quantize_int8
from causalstream.models.trajectory.metrics import constant_velocity, evaluate_windows
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig
from causalstream.models.trajectory.priors import PRIOR_MODES, adjacency_prior
from causalstream.models.trajectory.training import TrainConfig, load_checkpoint, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_discovery import discovered_scenes  # noqa: E402
from synthetic_scenes import Scene, make_scenes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "models" / "weights"
OUT = ROOT / "bench" / "results" / "trajectory.json"
GOALS = {"top1": (0.46, 1.00), "min20": (0.25, 0.45), "change_reduction": 0.54, "ade_worse_max": 0.02,
         "ort_speedup_16": 3.0, "p99_ms_16": 2.0}
console = Console(highlight=False)


def _pair(m: dict[str, float], key: str = "") -> str:
    return f"{m['ade' + key]:.3f} / {m['fde' + key]:.3f}"


def eth_ucy() -> dict:
    """One model per held-out scene; metrics averaged over the five scenes."""
    rows, tmp = {}, Path(tempfile.mkdtemp())
    for scene in SCENES:
        path = WEIGHTS / "eth_ucy_loo" / f"trajectory_{scene}.onnx"
        int8 = tmp / f"{scene}.int8.onnx"
        quantize_int8(path, int8)
        windows = read_windows(leave_one_out(ROOT / "bench" / "data" / "eth_ucy", scene)["test"])
        cv = evaluate_windows(lambda h: (constant_velocity(h), np.ones((len(h), 1))), windows)
        ours = evaluate_windows(OnnxPredictor(path).predict, windows)
        ours8 = evaluate_windows(OnnxPredictor(int8).predict, windows)
        meta = json.loads(path.with_suffix(".json").read_text())
        rows[scene] = {"constant_velocity": {"ade": cv["ade_top1"], "fde": cv["fde_top1"]},
                       "ours_top1": {"ade": ours["ade_top1"], "fde": ours["fde_top1"]},
                       "ours_min20": {"ade": ours["ade"], "fde": ours["fde"]},
                       "ours_int8_top1": {"ade": ours8["ade_top1"], "fde": ours8["fde_top1"]},
                       "ours_int8_min20": {"ade": ours8["ade"], "fde": ours8["fde"]},
                       "agents": int(sum(len(w) for w in windows)), "epochs": meta["training"]["epochs"],
                       "train_seconds": meta["train_seconds"], "command": meta["command"]}
    average = {k: {m: float(np.mean([rows[s][k][m] for s in SCENES])) for m in ("ade", "fde")}
               for k in rows["eth"] if isinstance(rows["eth"][k], dict)}
    table = Table(title="ETH/UCY leave-one-out, ADE / FDE (m)")
    for col in ("scene", "const. velocity", "ours K=1", "ours min-of-20", "int8 K=1", "int8 min-of-20"):
        table.add_column(col)
    for name, r in [*rows.items(), ("average", average)]:
        table.add_row(name, *(_pair(r[k]) for k in ("constant_velocity", "ours_top1", "ours_min20",
                                                   "ours_int8_top1", "ours_int8_min20")))
    console.print(table)
    met = {"top1": average["ours_top1"]["ade"] <= GOALS["top1"][0] and average["ours_top1"]["fde"] <= GOALS["top1"][1],
           "min20": average["ours_min20"]["ade"] <= GOALS["min20"][0] and average["ours_min20"]["fde"] <= GOALS["min20"][1]}
    return {"protocol": "leave-one-out, 8 observed / 12 predicted at 2.5 Hz, Social-GAN windows (bench/data/eth_ucy)",
            "models": "five, one per held-out scene (models/weights/eth_ucy_loo); epochs and command per scene",
            "scenes": rows, "average": average, "goals": {"top1": GOALS["top1"], "min20": GOALS["min20"]}, "met": met}


def _prior(scene: Scene, mode: str | None) -> np.ndarray:
    """All ones (no prior), or the scene's discovered graph made a prior as the predictor node does."""
    n = len(scene.roles)
    return adjacency_prior(scene.prior, mode) if mode and scene.prior is not None else np.ones((n, n), dtype=np.float32)


def _predict(net: CausalGatedPredictor, positions: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        out = net(torch.from_numpy(positions[None, :, :8]), torch.from_numpy(prior[None]))
    return out.trajectories[0].numpy(), out.gate[0].numpy()


def _perturb(scene: Scene, rng: np.random.Generator, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(perturbed positions, indices of the kept non-distractors in it)."""
    distract = np.array([r == "distractor" for r in scene.roles])
    if how == "remove":
        return scene.positions[~distract], np.arange(int((~distract).sum()))
    moved = scene.positions.copy()
    angle = rng.uniform(0, 2 * np.pi, distract.sum())
    offset = rng.uniform(1.5, 3.0, distract.sum())[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    moved[distract] += offset[:, None, :].astype(np.float32)  # each distractor's whole track shifted
    return moved, np.flatnonzero(~distract)


def _change(net: CausalGatedPredictor, scenes: list[Scene], how: str, seed: int, mode: str | None = None) -> float:
    """Mean displacement (m) of the non-distractors' predicted trajectories (all modes).

    With a prior ``mode`` the scene's discovered graph gates the network; a moved distractor keeps its row of
    the prior (the graph came from the stream before the window), a removed one loses it.
    """
    rng, total, count = np.random.default_rng(seed), 0.0, 0
    for scene in scenes:
        keep = np.array([r != "distractor" for r in scene.roles])
        prior = _prior(scene, mode)
        before, _ = _predict(net, scene.positions, prior)
        moved, idx = _perturb(scene, rng, how)
        after, _ = _predict(net, moved, prior[np.ix_(keep, keep)] if how == "remove" else prior)
        total += float(np.linalg.norm(after[idx] - before[keep], axis=-1).mean() * keep.sum())
        count += int(keep.sum())
    return total / count


def _accuracy(net: CausalGatedPredictor, scenes: list[Scene], mode: str | None) -> dict[str, float]:
    priors = iter([_prior(s, mode) for s in scenes])
    with torch.no_grad():
        return evaluate_windows(lambda h: tuple(x[0].numpy() for x in net(
            torch.from_numpy(h)[None], torch.from_numpy(next(priors))[None])[:2]), [s.positions for s in scenes])


def _edge_scores(gates: list[np.ndarray], scenes: list[Scene]) -> dict[str, float]:
    """Share of true edges a gate keeps and of distractor out-edges it cuts."""
    kept = [g[i, j] for g, s in zip(gates, scenes) for i, j in zip(*np.nonzero(s.parents))]
    cut = [g[i, j] for g, s in zip(gates, scenes) for i in range(len(s.roles)) for j in range(len(s.roles))
           if s.roles[i] == "distractor" and i != j]
    return {"true_edges_kept": float(np.mean(kept)), "distractor_edges_cut": float(1 - np.mean(cut))}


def sim_scenes(n: int, seed: int) -> list[Scene]:
    """models/sim's HRI scenes (robot, reactive humans, followers, distractors) as :class:`Scene`."""
    return [Scene(positions=s.positions.astype(np.float32), roles=list(s.roles), parents=s.adjacency > 0)
            for s in hri_scenes(n, n_frames=20, seed=seed)]


def robustness(train_s: list[Scene], val_s: list[Scene], test_s: list[Scene], data: str, epochs: int = 16,
               sparsity: float = 3.0) -> dict:
    """Gated vs gate forced open (same weights) vs a separately trained ungated model.

    When the test scenes carry a discovered graph (bench/sim_discovery.py), the ungated model
    (whose gate is the external prior alone) also runs with that graph as its prior, made as
    the predictor node makes it (models/trajectory/priors.py): ``graph_links`` opens only the
    discovered links, ``graph_agents`` cuts off the agents the graph links to nobody. Against
    ``ungated_model`` (the same weights, all-ones prior) that is "the gate forced open".
    """
    torch.manual_seed(0)
    schedule = TrainConfig(epochs=epochs, seed=0, sparsity_weight=sparsity)
    nets, seconds = {}, {}
    for gate in ("learned", "open"):
        start = time.perf_counter()
        nets[gate] = train(NetworkConfig(gate=gate), schedule, [s.positions for s in train_s],
                           [s.positions for s in val_s]).network
        seconds[gate] = time.perf_counter() - start
    forced = copy.deepcopy(nets["learned"])
    forced.force_open = True
    variants = {"gated": (nets["learned"], None), "gate_forced_open": (forced, None), "ungated_model": (nets["open"], None)}
    pairs = [("gated", "gate_forced_open"), ("gated", "ungated_model")]
    has_prior = all(s.prior is not None for s in test_s)
    if has_prior:
        variants |= {f"graph_{m}": (nets["open"], m) for m in PRIOR_MODES}
        pairs += [(f"graph_{m}", "ungated_model") for m in PRIOR_MODES]
    res: dict = {"data": data, "scenes": {"train": len(train_s), "val": len(val_s), "test": len(test_s)},
                 "epochs": schedule.epochs, "sparsity_weight": sparsity, "train_seconds": seconds, "variants": {}}
    for name, (net, mode) in variants.items():
        res["variants"][name] = {**_accuracy(net, test_s, mode), "change_move": _change(net, test_s, "move", 7, mode),
                                 "change_remove": _change(net, test_s, "remove", 7, mode)}
    res["gate"] = _edge_scores([_predict(nets["learned"], s.positions, _prior(s, None))[1] for s in test_s], test_s)
    if has_prior:
        res["discovered_graph"] = {m: _edge_scores([_prior(s, m) for s in test_s], test_s) for m in PRIOR_MODES}
    v = res["variants"]
    for ours, ref in pairs:
        res[f"{ours}_vs_{ref}"] = {
            "change_reduction_move": 1 - v[ours]["change_move"] / v[ref]["change_move"],
            "change_reduction_remove": 1 - v[ours]["change_remove"] / v[ref]["change_remove"],
            "ade_worse": v[ours]["ade"] / v[ref]["ade"] - 1,
            "ade_top1_worse": v[ours]["ade_top1"] / v[ref]["ade_top1"] - 1,
        }
    _robustness_table(res, data, pairs)
    res["goals"] = {"change_reduction": GOALS["change_reduction"], "ade_worse_max": GOALS["ade_worse_max"]}
    res["met"] = {f"{ours}_vs_{ref}": min(res[f"{ours}_vs_{ref}"]["change_reduction_move"],
                                          res[f"{ours}_vs_{ref}"]["change_reduction_remove"]) >= GOALS["change_reduction"]
                  and res[f"{ours}_vs_{ref}"]["ade_worse"] <= GOALS["ade_worse_max"] for ours, ref in pairs}
    return res


def _robustness_table(res: dict, data: str, pairs: list[tuple[str, str]]) -> None:
    table = Table(title=f"Robustness ({data}): distractors moved / removed")
    for col in ("model", "min-of-20", "K=1", "change move (m)", "change remove (m)"):
        table.add_column(col)
    for name, r in res["variants"].items():
        table.add_row(name, _pair(r), _pair(r, "_top1"), f"{r['change_move']:.4f}", f"{r['change_remove']:.4f}")
    console.print(table)
    scores = {"learned gate": res["gate"], **{f"discovered graph, {m}": e for m, e in res.get("discovered_graph", {}).items()}}
    for key, e in scores.items():
        console.print(f"{key}: true edges kept {e['true_edges_kept']:.1%}, distractor edges cut {e['distractor_edges_cut']:.1%}")
    for ours, ref in pairs:
        r = res[f"{ours}_vs_{ref}"]
        console.print(f"{ours} vs {ref}: change {r['change_reduction_move']:.1%} smaller (move), "
                      f"{r['change_reduction_remove']:.1%} (remove); ADE {r['ade_worse']:+.1%}, K=1 {r['ade_top1_worse']:+.1%}")


def _percentiles(fns: dict, repeats: int = 600) -> dict[str, dict[str, float]]:
    """Wall-clock and this thread's CPU time per call of each function (the machine is
    shared: CPU time is what the call costs, wall-clock adds the waits for a core). The
    functions take turns call by call, so a burst of load from other work hits them alike."""
    for _ in range(30):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            fn()
            cpu[k].append((time.thread_time_ns() - c0) / 1e6)
            wall[k].append((time.perf_counter_ns() - w0) / 1e6)
    return {k: {"p50_ms": float(np.percentile(wall[k], 50)), "p99_ms": float(np.percentile(wall[k], 99)),
                "cpu_p50_ms": float(np.percentile(cpu[k], 50)), "cpu_p99_ms": float(np.percentile(cpu[k], 99))}
            for k in fns}


def latency() -> dict:
    """The shipped model, one thread each: onnxruntime fp32, int8, torch eager."""
    net, _ = load_checkpoint(WEIGHTS / "trajectory.pt")
    module = SceneModule(net).eval()
    options = session_options(1)  # what OnnxPredictor runs: all graph optimisations, one thread
    sessions = {k: ort.InferenceSession(str(WEIGHTS / f), options, providers=["CPUExecutionProvider"])
                for k, f in (("onnxruntime_fp32", "trajectory.onnx"), ("onnxruntime_int8", "trajectory.int8.onnx"))}
    rng, res = np.random.default_rng(0), {}
    for agents in (8, 16, 64):
        h = np.cumsum(rng.normal(0, 0.4, (agents, 8, 2)), axis=1).astype(np.float32)
        adj = np.ones((agents, agents), np.float32)
        th, ta = torch.from_numpy(h), torch.from_numpy(adj)
        fns = {k: (lambda s=s: s.run(None, {"history": h, "adjacency": adj})) for k, s in sessions.items()}
        with torch.inference_mode():  # torch at its best: one thread (main), no autograd, same inputs
            row: dict = _percentiles({**fns, "torch_eager": lambda: module(th, ta)})
        for kind in ("fp32", "int8"):
            for clock in ("", "cpu_"):
                row[f"speedup_{kind}_{clock}p50"] = row["torch_eager"][f"{clock}p50_ms"] / row[f"onnxruntime_{kind}"][f"{clock}p50_ms"]
        res[str(agents)] = row
    table = Table(title="Latency, one thread: wall-clock p50 / p99 (CPU-time p50 / p99), ms")
    for col in ("agents", "torch eager", "ORT fp32", "ORT int8", "fp32 speed-up", "int8 speed-up"):
        table.add_column(col)
    for a, r in res.items():
        table.add_row(a, *(f"{r[k]['p50_ms']:.2f} / {r[k]['p99_ms']:.2f} ({r[k]['cpu_p50_ms']:.2f} / {r[k]['cpu_p99_ms']:.2f})"
                           for k in ("torch_eager", "onnxruntime_fp32", "onnxruntime_int8")),
                      f"{r['speedup_fp32_p50']:.1f}x ({r['speedup_fp32_cpu_p50']:.1f}x)",
                      f"{r['speedup_int8_p50']:.1f}x ({r['speedup_int8_cpu_p50']:.1f}x)")
    console.print(table)
    r16 = res["16"]
    return {"agents": res, "goals": {"ort_speedup_16": GOALS["ort_speedup_16"], "p99_ms_16": GOALS["p99_ms_16"]},
            "met": {"speedup_16_fp32_wall": r16["speedup_fp32_p50"] >= 3.0,
                    "speedup_16_fp32_cpu": r16["speedup_fp32_cpu_p50"] >= 3.0,
                    "speedup_16_int8_cpu": r16["speedup_int8_cpu_p50"] >= 3.0,
                    "p99_16_fp32_wall": r16["onnxruntime_fp32"]["p99_ms"] < 2.0,
                    "p99_16_fp32_cpu": r16["onnxruntime_fp32"]["cpu_p99_ms"] < 2.0},
            "model_bytes": {f: (WEIGHTS / f).stat().st_size for f in ("trajectory.onnx", "trajectory.int8.onnx")}}


def main() -> None:
    """Run the three parts and write bench/results/trajectory.json."""
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        started = time.time()
        result = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                              "onnxruntime": ort.__version__, "cpus": os.cpu_count(),
                              "note": "2 cores shared with other workers while measured; threads capped at 1"},
                  "eth_ucy": eth_ucy(), "latency": latency(),
                  "robustness": robustness(make_scenes(3000, 1), make_scenes(300, 2), make_scenes(500, 3),
                                           "bench/synthetic_scenes.py (own generator)"),
                  "robustness_sim": robustness(sim_scenes(1000, 1), sim_scenes(150, 2), discovered_scenes(300, 4),
                                               "models/sim HRI scenes (robot, reactive, followers, distractors); test windows follow 30 s of discovery at 10 Hz (bench/sim_discovery.py)")}
        result["seconds"] = round(time.time() - started, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
    console.print(f"wrote {OUT.relative_to(ROOT)} in {result['seconds']} s")


if __name__ == "__main__":
    main()
