"""``causalstream model``: train, export and inspect the trajectory predictor.

The options are parsed here; the pipeline is ``causalstream.models.trajectory.release``.
``train`` and ``export`` need the ``train`` extra (torch, onnx); they load the release module
with ``importlib.import_module`` inside the command, so the rest of the CLI (and
``model info``) works on a runtime install without torch.

>>> from typer.testing import CliRunner
>>> app = typer.Typer(); register(app)
>>> result = CliRunner().invoke(app, ["model", "--help"])
>>> result.exit_code, "export" in result.output
(0, True)
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.data import SCENES
from causalstream.nodes.cli_adapt import adapt
from causalstream.nodes.errors import CommandError

__all__ = ["register"]

model_app = typer.Typer(
    name="model",
    help="Train, export and inspect the causal-attention-gated trajectory predictor.",
    no_args_is_help=True,
)
_OUT = Console(highlight=False)
model_app.command()(adapt)  # `model adapt`: nodes/cli_adapt.py


def register(app: typer.Typer) -> None:
    """Add the ``model`` group to the root app.

    >>> app = typer.Typer(); register(app)
    >>> [g.name for g in app.registered_groups]
    ['model']
    """
    app.add_typer(model_app, name="model")


def _release(command: str, threads: int) -> ModuleType:
    # torch is the optional `train` extra: import the release pipeline only when a command needs it.
    try:
        torch = importlib.import_module("torch")
        release = importlib.import_module("causalstream.models.trajectory.release")
    except ImportError as exc:
        raise CommandError(command=command, reason=f"needs the train extra (pip install 'causalstream[train]'): {exc}") from exc
    torch.set_num_threads(threads)
    return release


def _train_one(release: ModuleType, data: Any, scene: str | None, opts: dict[str, Any], progress: Progress) -> dict[str, Any]:
    config = release.NetworkConfig(d_model=opts["d_model"], heads=opts["heads"], layers=opts["layers"],
                                   modes=opts["modes"], gate=opts["gate"])
    schedule = release.TrainConfig(epochs=opts["epochs"], seed=opts["seed"], lr=opts["lr"], det_weight=opts["det_weight"],
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

    name = opts["name"] if scene is None or opts["single"] else f"{opts['name']}_{scene}"
    command = release.train_command(data, config, schedule, opts["name"], opts["limit"])
    return release.train_release(data, config, schedule, opts["out"], name, opts["int8"], command, report)


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
    root: Path = typer.Option(None, envvar="CAUSALSTREAM_ETH_UCY", show_default=False,
                              help="ETH/UCY folder (all_data/, train/, val/); needed by --data eth_ucy."),
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
                                   "probability). On scenes with non-causal agents 2-5 cuts them (the trajectory benchmark uses 3); "
                                   "on ETH/UCY 3 cost about 10% validation ADE, so the default stays 0.3."),
    d_model: int = typer.Option(64, help="Width of the transformer."),
    heads: int = typer.Option(4, help="Attention heads."),
    layers: int = typer.Option(2, help="Gated attention layers."),
    modes: int = typer.Option(20, help="Trajectories per agent (K)."),
    gate: str = typer.Option("learned", help="learned: causal gating; open: every agent attends to every other."),
    threads: int = typer.Option(2, help="torch intra-op threads."),
    out: Path = typer.Option(Path("models") / "weights", help="Folder for NAME.pt, NAME.onnx, NAME.int8.onnx, "
                             "NAME.json (relative to the working directory: in the repository, the shipped weights)."),
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
    if data == "eth_ucy" and root is None:
        raise CommandError(command="model train", reason="--data eth_ucy needs --root (or $CAUSALSTREAM_ETH_UCY): "
                           "a folder with ETH/UCY's all_data/, train/ and val/ text files")
    release = _release("model train", threads)
    opts = dict(epochs=epochs, seed=seed, lr=lr, det_weight=det_weight,
                top1_weight=top1_weight, fde_weight=fde_weight, mode_temperature=mode_temperature, augment=augment,
                scale_min=scale_min, scale_max=scale_max, obs_noise=obs_noise,
                obs_noise_share=obs_noise_share, sparsity=sparsity, d_model=d_model, heads=heads, layers=layers,
                modes=modes, gate=gate, out=out, name=name, int8=int8, limit=limit,
                single=len(held) == 1 and test_scene != "all")
    sim = release.sim_data(scenes).limited(limit) if data == "sim" else None
    metas = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_OUT) as progress:
        for scene in held:
            dataset = sim or release.eth_ucy_data(root, scene).limited(limit)
            metas.append(_train_one(release, dataset, scene, opts, progress))
    _OUT.print(_metrics_table(metas))


@model_app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A NAME.pt written by `causalstream model train`."),
    out: Path = typer.Option(None, help="ONNX file to write; default: the checkpoint's name with .onnx."),
    int8: bool = typer.Option(True, help="Also write NAME.int8.onnx (onnxruntime dynamic quantisation)."),
    root: Path = typer.Option(None, show_default=False,
                              help="ETH/UCY folder to measure on; default: the one the metadata records."),
) -> None:
    """Export a checkpoint to ONNX (dynamic agent count 1..256, adjacency prior as an input).

    Checks onnxruntime against torch on 1, 2, 17 and 256 agents and writes the metadata JSON
    beside the model (the checkpoint's, plus the export command; fields that `model train`
    wrote there are kept). The test metrics are measured again on the test split the metadata
    records (ETH/UCY's held-out scene from --root or the folder the split records, or the
    simulator's seeded scenes), so they describe the files just written; without that data the
    training's are kept.
    """
    release = _release("model export", 1)
    onnx_path = out or checkpoint.with_suffix(".onnx")
    meta, measured = release.export_release(checkpoint, onnx_path, int8, root)
    _OUT.print(f"wrote {onnx_path} (parity with torch: max |error| {meta['parity_max_abs_error']:.1e}"
               + (f"; test metrics on {measured} recorded test windows)" if measured else ")"))


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
    keys = ("command", "git_commit", "split", "metrics", "adapted_from", "adapt_data", "shots", "sha256")  # the last 4: `model adapt`
    rows += [(k, json.dumps(meta[k], default=float)) for k in keys if k in meta]
    for k, v in rows:
        table.add_row(k, v)
    _OUT.print(table)
