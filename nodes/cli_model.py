"""``causalstream model``: train, export and inspect the trajectory predictor.

``train`` and ``export`` need the ``train`` extra (torch, onnx); they load it with
``importlib.import_module`` inside the command, so the rest of the CLI (and ``model info``)
works on a runtime install without torch.

>>> from typer.testing import CliRunner
>>> app = typer.Typer(); register(app)
>>> result = CliRunner().invoke(app, ["model", "--help"])
>>> result.exit_code, "export" in result.output
(0, True)
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import logging
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from causalstream.models.sim import hri_scenes
from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.data import SCENES, leave_one_out, read_windows
from causalstream.models.trajectory.metrics import constant_velocity, evaluate_windows
from causalstream.nodes.errors import CausalstreamError, CommandError

log = logging.getLogger(__name__)

__all__ = ["register"]

model_app = typer.Typer(
    name="model",
    help="Train, export and inspect the causal-attention-gated trajectory predictor.",
    no_args_is_help=True,
)
_OUT = Console(highlight=False)
_REPO = Path(__file__).resolve().parents[1]
_ETH_UCY = _REPO / "bench" / "data" / "eth_ucy"


def register(app: typer.Typer) -> None:
    """Add the ``model`` group to the root app.

    >>> app = typer.Typer(); register(app)
    >>> [g.name for g in app.registered_groups]
    ['model']
    """
    app.add_typer(model_app, name="model")


def _torch_side(command: str, threads: int) -> tuple[ModuleType, ModuleType, ModuleType]:
    # torch is the optional `train` extra: import it only when a command needs it.
    try:
        torch = importlib.import_module("torch")
        mods = [importlib.import_module(f"causalstream.models.trajectory.{n}") for n in ("network", "training", "export")]
    except ImportError as exc:
        raise CommandError(command=command, reason=f"needs the train extra (pip install 'causalstream[train]'): {exc}") from exc
    torch.set_num_threads(threads)
    return mods[0], mods[1], mods[2]


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=10)
        # weights being rewritten by this very run do not make the code dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!models/weights"],
                               cwd=_REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = head.stdout.strip() or "unknown"
    return commit + ("-dirty" if dirty.stdout.strip() else "")


def _export_all(export: ModuleType, net: Any, onnx_path: Path, int8: bool, meta: dict[str, Any],
                test_windows: list[np.ndarray] | None) -> dict[str, Any]:
    """ONNX (+ int8) beside each other, parity checked with onnxruntime, test metrics measured on
    ``test_windows`` (None: the metadata's are kept), metadata JSON written."""
    export.export_onnx(net, onnx_path)
    files = {"onnx": onnx_path.name}
    if int8:
        files["onnx_int8"] = export.quantize_int8(onnx_path, onnx_path.with_suffix(".int8.onnx")).name
    worst = _parity(export, net, onnx_path)
    meta = {**meta, "files": {**meta.get("files", {}), **files}, "parity_max_abs_error": worst,
            "onnx": {"inputs": {"history": "[A, 8, 2] float32 metres, oldest first",
                                "adjacency": "[A, A] float32 in [0, 1], [i, j]: i may act on j"},
                     "outputs": {"trajectories": "[A, K, 12, 2] float32 metres",
                                 "probabilities": "[A, K] float32 (network order; OnnxPredictor sorts)",
                                 "gate": "[A, A] float32, the gate used, source -> target"},
                     "agents": "1..256", "opset": export.OPSET}}
    if test_windows is not None:  # the metrics describe the files just written
        meta["metrics"] = {**meta.get("metrics", {}), "test": _test_metrics(onnx_path, int8, test_windows)}
    onnx_path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return meta


def _existing_metadata(path: Path) -> dict[str, Any]:
    """The metadata JSON already beside a model, or {} (none, or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parity(export: ModuleType, net: Any, onnx_path: Path) -> float:
    torch = importlib.import_module("torch")
    predictor = OnnxPredictor(onnx_path)
    worst = 0.0
    rng = np.random.default_rng(0)
    for agents in (1, 2, 17, 256):
        history = np.cumsum(rng.normal(0, 0.4, (agents, 8, 2)), axis=1).astype(np.float32)
        adjacency = np.ones((agents, agents), np.float32)
        got = predictor.session.run(None, {"history": history, "adjacency": adjacency})
        with torch.no_grad():
            want = export.SceneModule(net)(torch.from_numpy(history), torch.from_numpy(adjacency))
        worst = max(worst, *(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want)))
    if worst > 1e-4:
        raise CommandError(command="model export", reason=f"onnxruntime and torch disagree by {worst:.2e} on {onnx_path}")
    return worst


def _test_metrics(onnx_path: Path, int8: bool, windows: list[np.ndarray]) -> dict[str, dict[str, float]]:
    if not windows:
        return {}
    out = {"ours": evaluate_windows(OnnxPredictor(onnx_path).predict, windows),
           "constant_velocity": evaluate_windows(lambda h: (constant_velocity(h), np.ones((len(h), 1))), windows)}
    if int8:
        out["ours_int8"] = evaluate_windows(OnnxPredictor(onnx_path.with_suffix(".int8.onnx")).predict, windows)
    return out


def _root_note(root: Path) -> str:
    """The data folder as the metadata records it: relative to the repository when inside it."""
    root = Path(root).resolve()
    return str(root.relative_to(_REPO)) if root.is_relative_to(_REPO) else str(root)


def _recorded_test_windows(meta: dict[str, Any]) -> list[np.ndarray] | None:
    """The test windows a model's metadata names (the ETH/UCY held-out scene from the folder it
    was trained on, bench/data when it names none; or the simulator's seeded scenes), or None when
    it names none or the data is not at hand."""
    split, data = meta.get("split") or {}, str(meta.get("data", ""))
    count = (split.get("windows") or {}).get("test")
    if not isinstance(count, int) or count <= 0:
        return None
    if data.startswith("models/sim") and "test" in (split.get("seeds") or {}):
        return _sim_windows(count, split["seeds"]["test"])
    if split.get("test_scene") in SCENES:
        try:
            root = _REPO / split["root"] if "root" in split else _ETH_UCY  # an absolute root stays itself
            return read_windows(leave_one_out(root, split["test_scene"])["test"])[:count]
        except CausalstreamError as exc:
            log.info("test metrics kept from training: %s", exc)
    return None


def _eth_ucy_data(scene: str | None, opts: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, list[np.ndarray]]]:
    split = leave_one_out(opts["root"], scene)
    note = {"protocol": "leave-one-out" if scene else "all scenes (no held-out test)", "test_scene": scene,
            "root": _root_note(opts["root"]),
            **{k: [p.name for p in v] for k, v in split.items()}}
    return (f"ETH/UCY pedestrians, Social-GAN text form ({note['root']}); 8 observed, 12 predicted, 2.5 Hz",
            note, {k: read_windows(v) for k, v in split.items()})


def _sim_windows(count: int, seed: int) -> list[np.ndarray]:
    """The first ``count`` simulator scenes of ``seed`` as 20-step windows (scene k is the same for any count)."""
    return [s.positions.astype(np.float32) for s in hri_scenes(count, n_frames=20, seed=seed)]


def _sim_data(opts: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, list[np.ndarray]]]:
    n = opts["scenes"]
    sizes = {"train": max(1, n * 8 // 10), "val": max(1, n // 10), "test": max(1, n // 10)}
    seeds = {"train": 1, "val": 2, "test": 3}  # disjoint scene seeds per split
    windows = {k: _sim_windows(sizes[k], seeds[k]) for k in sizes}
    note = {"protocol": "models/sim hri_scenes, a seed per split", "seeds": seeds}
    return ("models/sim HRI scenes (robot, reactive, followers, distractors; 1-6 humans), 10 Hz simulation "
            "kept every 4th frame: 8 observed, 12 predicted, 2.5 Hz", note, windows)


def _train_one(scene: str | None, opts: dict[str, Any], progress: Progress) -> dict[str, Any]:
    network, training, export = _torch_side("model train", opts["threads"])
    data_note, split_note, windows = _sim_data(opts) if opts["data"] == "sim" else _eth_ucy_data(scene, opts)
    if opts["limit"]:
        windows = {k: v[: opts["limit"]] for k, v in windows.items()}
    config = network.NetworkConfig(d_model=opts["d_model"], heads=opts["heads"], layers=opts["layers"],
                                   modes=opts["modes"], gate=opts["gate"])
    schedule = training.TrainConfig(epochs=opts["epochs"], seed=opts["seed"], lr=opts["lr"], det_weight=opts["det_weight"],
                                    top1_weight=opts["top1_weight"], fde_weight=opts["fde_weight"],
                                    mode_temperature=opts["mode_temperature"], augment=opts["augment"],
                                    scale_range=(opts["scale_min"], opts["scale_max"]), obs_noise=opts["obs_noise"],
                                    obs_noise_share=opts["obs_noise_share"], sparsity_weight=opts["sparsity"])
    label = scene or "all"
    task = progress.add_task(f"{label}: epoch 1/{schedule.epochs}", total=None)

    def report(ev: Any) -> None:
        note = f" val ADE {ev.val_ade:.3f}" if not np.isnan(ev.val_ade) else ""
        progress.update(task, total=ev.steps * ev.epochs, completed=ev.epoch * ev.steps + ev.step,
                        description=f"{label}: epoch {ev.epoch + 1}/{ev.epochs} loss {ev.loss:.3f}{note}")

    start = time.perf_counter()
    result = training.train(config, schedule, windows["train"], windows["val"], report)
    seconds = time.perf_counter() - start
    name = opts["name"] if scene is None or opts["single"] else f"{opts['name']}_{scene}"
    out: Path = opts["out"]
    data_args = f"--data sim --scenes {opts['scenes']}" if opts["data"] == "sim" else f"--data eth_ucy --test-scene {scene or 'none'}"
    if "root" in split_note and split_note["root"] != _root_note(_ETH_UCY):  # the folder the split recorded
        data_args += f" --root {split_note['root']}"
    command = (f"causalstream model train {data_args} --epochs {schedule.epochs} "
               f"--seed {schedule.seed} --lr {schedule.lr:g} --det-weight {schedule.det_weight:g} "
               f"--top1-weight {schedule.top1_weight:g} --fde-weight {schedule.fde_weight:g} "
               f"--mode-temperature {schedule.mode_temperature:g} "
               f"--{'' if schedule.augment else 'no-'}augment --scale-min {schedule.scale_range[0]:g} "
               f"--scale-max {schedule.scale_range[1]:g} --obs-noise {schedule.obs_noise:g} "
               f"--obs-noise-share {schedule.obs_noise_share:g} --sparsity {schedule.sparsity_weight:g} --d-model {config.d_model} --heads {config.heads} "
               f"--layers {config.layers} --modes {config.modes} --gate {config.gate} --name {opts['name']}"
               + (f" --limit {opts['limit']}" if opts["limit"] else ""))
    meta: dict[str, Any] = {
        "model_id": name,
        "data": data_note,
        "split": {**split_note,
                  "windows": {k: len(v) for k, v in windows.items()},
                  "agents": {k: int(sum(len(w) for w in v)) for k, v in windows.items()}},
        "network": dataclasses.asdict(config), "training": dataclasses.asdict(schedule),
        "best_epoch": result.best_epoch, "train_seconds": round(seconds, 1), "history": result.history,
        "command": command, "git_commit": _git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "metrics": {"val": result.val_metrics},
        "files": {"checkpoint": f"{name}.pt"},
    }
    training.save_checkpoint(result.network, out / f"{name}.pt", meta)
    return _export_all(export, result.network, out / f"{name}.onnx", opts["int8"], meta, windows["test"])


def _metrics_table(metas: list[dict[str, Any]]) -> Table:
    table = Table(title="trajectory models (ADE / FDE in metres)")
    for col in ("model", "val min-of-K", "test CV", "test top-1", "test min-of-K", "int8 min-of-K", "epochs", "s"):
        table.add_column(col, justify="right" if col != "model" else "left", no_wrap=col == "model")

    def pair(m: dict[str, float] | None, key: str = "") -> str:
        return f"{m['ade' + key]:.3f} / {m['fde' + key]:.3f}" if m else "-"

    for meta in metas:
        test = meta["metrics"]["test"]
        table.add_row(meta["model_id"], pair(meta["metrics"]["val"]), pair(test.get("constant_velocity"), "_top1"),
                      pair(test.get("ours"), "_top1"), pair(test.get("ours")), pair(test.get("ours_int8")),
                      str(meta["training"]["epochs"]), str(meta["train_seconds"]))
    return table


@model_app.command()
def train(
    test_scene: str = typer.Option("none", help="Scene held out for testing: eth, hotel, univ, zara1, zara2; "
                                   "'all' trains the five leave-one-out models; 'none' trains on every scene."),
    root: Path = typer.Option(_ETH_UCY, help="ETH/UCY folder (all_data/, train/, val/)."),
    data: str = typer.Option("eth_ucy", help="eth_ucy: ETH/UCY pedestrians (--test-scene); "
                             "sim: the simulator's HRI scenes (--scenes of them, split 80/10/10)."),
    scenes: int = typer.Option(2000, min=10, help="sim: how many scenes to simulate."),
    epochs: int = typer.Option(50, help="Passes over the training windows (one-cycle schedule; the best epoch on val is kept)."),
    seed: int = typer.Option(0, help="Seed of torch and numpy."),
    lr: float = typer.Option(2e-3, help="Peak learning rate of the one-cycle (cosine) schedule."),
    det_weight: float = typer.Option(1.0, help="Weight of plain ADE on mode 0, the deterministic mode; 0: off."),
    top1_weight: float = typer.Option(0.5, help="Weight of the ADE of the most probable mode (the K=1 answer)."),
    fde_weight: float = typer.Option(0.5, help="Winner-takes-all on ADE + this x FDE over the other modes."),
    mode_temperature: float = typer.Option(2.0, help="Metres; mode probabilities learn softmax(-ADE_k / t): a large t "
                                           "ranks modes by expected error, so the most probable is the best single guess."),
    augment: bool = typer.Option(True, help="Rotate and mirror each batch's scenes at random."),
    scale_min: float = typer.Option(0.7, help="Smallest random scale of a batch's scenes (speed augmentation)."),
    scale_max: float = typer.Option(2.0, help="Largest random scale (ETH walkers are about twice as fast as UCY's)."),
    obs_noise: float = typer.Option(0.1, min=0.0, help="Metres; observed steps get Gaussian jitter of a random std in "
                                    "[0, this] (BIWI's annotations jitter, UCY's are smooth); targets stay clean. 0: off."),
    obs_noise_share: float = typer.Option(0.5, min=0.0, max=1.0, help="Share of scenes jittered; the others stay clean."),
    sparsity: float = typer.Option(0.3, min=0.0, help="Weight of the learned gate's sparsity penalty (mean edge "
                                   "probability). On scenes with non-causal agents 2-5 cuts them (bench/trajectory.py uses 3); "
                                   "on ETH/UCY 3 cost about 10% validation ADE, so the default stays 0.3."),
    d_model: int = typer.Option(64, help="Width of the transformer."),
    heads: int = typer.Option(4, help="Attention heads."),
    layers: int = typer.Option(2, help="Gated attention layers."),
    modes: int = typer.Option(20, help="Trajectories per agent (K)."),
    gate: str = typer.Option("learned", help="learned: causal gating; open: every agent attends to every other."),
    threads: int = typer.Option(2, help="torch intra-op threads."),
    out: Path = typer.Option(_REPO / "models" / "weights", help="Folder for NAME.pt, NAME.onnx, NAME.int8.onnx, NAME.json."),
    name: str = typer.Option("trajectory", help="File stem; leave-one-out models get _SCENE appended."),
    int8: bool = typer.Option(True, help="Also write the int8 dynamically quantised model."),
    limit: int = typer.Option(0, help="Use only the first N windows of each split (smoke tests); 0: all."),
) -> None:
    """Train on ETH/UCY (leave-one-out) or the simulator's scenes, export to ONNX, evaluate, write weights + metadata.

    `--data sim` simulates `--scenes` HRI scenes (models/sim: robot, reactive humans,
    followers, distractors) and splits them 80/10/10 by seed. Each model writes NAME.pt (torch checkpoint), NAME.onnx, NAME.int8.onnx and NAME.json
    (data, split, metrics, command, git commit). Prints a metrics table at the end:
    validation min-of-K, and on the held-out scene constant velocity, our most probable mode
    (top-1), min-of-K with fp32 and int8 onnxruntime.
    """
    if data not in ("eth_ucy", "sim"):
        raise CommandError(command="model train", reason=f"unknown data {data!r}: eth_ucy or sim")
    held: list[str | None] = list(SCENES) if test_scene == "all" else [None if test_scene == "none" else test_scene]
    if data == "sim":
        if test_scene != "none":
            raise CommandError(command="model train", reason=f"--test-scene {test_scene} is for --data eth_ucy; "
                               "--data sim splits its scenes 80/10/10 by seed")
        held = [None]
    if any(s is not None and s not in SCENES for s in held):
        raise CommandError(command="model train", reason=f"unknown test scene {test_scene!r}: one of {sorted(SCENES)}, all, none")
    out.mkdir(parents=True, exist_ok=True)
    opts = dict(root=root, data=data, scenes=scenes, epochs=epochs, seed=seed, lr=lr, det_weight=det_weight,
                top1_weight=top1_weight, fde_weight=fde_weight, mode_temperature=mode_temperature, augment=augment,
                scale_min=scale_min, scale_max=scale_max, obs_noise=obs_noise,
                obs_noise_share=obs_noise_share, sparsity=sparsity, d_model=d_model, heads=heads, layers=layers,
                modes=modes, gate=gate, out=out, name=name, threads=threads, int8=int8, limit=limit,
                single=len(held) == 1 and test_scene != "all")
    metas = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_OUT) as progress:
        for scene in held:
            metas.append(_train_one(scene, opts, progress))
    _OUT.print(_metrics_table(metas))


@model_app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A NAME.pt written by `causalstream model train`."),
    out: Path = typer.Option(None, help="ONNX file to write; default: the checkpoint's name with .onnx."),
    int8: bool = typer.Option(True, help="Also write NAME.int8.onnx (onnxruntime dynamic quantisation)."),
) -> None:
    """Export a checkpoint to ONNX (dynamic agent count 1..256, adjacency prior as an input).

    Checks onnxruntime against torch on 1, 2, 17 and 256 agents and writes the metadata JSON
    beside the model (the checkpoint's, plus the export command; fields that `model train`
    wrote there are kept). The test metrics are measured again on the test split the metadata
    records (ETH/UCY's held-out scene, or the simulator's seeded scenes), so they describe the
    files just written; without that data the training's are kept.
    """
    _, training, export_mod = _torch_side("model export", 1)
    net, meta = training.load_checkpoint(checkpoint)
    onnx_path = out or checkpoint.with_suffix(".onnx")
    # keep what `model train` added beside the model (test metrics, its commit); the checkpoint wins
    kept = _existing_metadata(onnx_path.with_suffix(".json"))
    meta = {**kept, **{k: {**kept[k], **v} if isinstance(v, dict) and isinstance(kept.get(k), dict) else v
                       for k, v in meta.items()},
            "exported_by": f"causalstream model export {checkpoint.name}"}
    windows = _recorded_test_windows(meta)
    meta = _export_all(export_mod, net, onnx_path, int8, meta, windows or None)
    _OUT.print(f"wrote {onnx_path} (parity with torch: max |error| {meta['parity_max_abs_error']:.1e}"
               + (f"; test metrics on {len(windows)} recorded test windows)" if windows else ")"))


@model_app.command()
def info(path: Path = typer.Argument(None, help="An .onnx model; default: the shipped one.")) -> None:
    """Show a model's inputs, outputs and metadata (onnxruntime only, no torch)."""
    predictor = OnnxPredictor(path)
    table = Table(title=str(predictor.path))
    table.add_column("field")
    table.add_column("value")
    meta = predictor.metadata
    rows = [("model id", predictor.model_id), ("observed / horizon / modes", f"{predictor.observed} / {predictor.horizon} / {predictor.modes}")]
    rows += [(f"input {i.name}", str(i.shape)) for i in predictor.session.get_inputs()]
    rows += [(f"output {o.name}", str(o.shape)) for o in predictor.session.get_outputs()]
    rows += [(k, json.dumps(meta[k], default=float)) for k in ("command", "git_commit", "split", "metrics") if k in meta]
    for k, v in rows:
        table.add_row(k, v)
    _OUT.print(table)
