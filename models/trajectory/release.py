"""Release a trajectory model: train, export to ONNX (+ int8), check, measure, write its metadata.

The pipeline behind ``causalstream model train`` and ``model export`` (nodes/cli_model.py
only parses their options). Every release writes NAME.onnx (and NAME.int8.onnx), checked
against torch with onnxruntime on 1, 2, 17 and 256 agents, and NAME.json: the data, the
split, the metrics measured on the files just written, the command that reproduces them and
the git commit of the code. Needs the ``train`` extra (torch, onnx).

Data folders are given, never guessed: an ETH/UCY root is the caller's (the metadata records
it relative to the working directory when it lies inside it, else absolute), and the
simulator's scenes come from their seeds.

>>> data = sim_data(10)
>>> {k: len(v) for k, v in data.windows.items()}, data.split["seeds"]
({'train': 8, 'val': 1, 'test': 1}, {'train': 1, 'val': 2, 'test': 3})
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from causalstream.models.errors import CausalstreamError, ModelError
from causalstream.models.sim import hri_scenes
from causalstream.models.trajectory import export
from causalstream.models.trajectory.data import SCENES, leave_one_out, read_windows
from causalstream.models.trajectory.metrics import constant_velocity, evaluate_windows
from causalstream.models.trajectory.network import CausalGatedPredictor, NetworkConfig
from causalstream.models.trajectory.predictor import OnnxPredictor
from causalstream.models.trajectory.training import (
    TrainConfig,
    TrainEvent,
    load_checkpoint,
    save_checkpoint,
    train,
)

log = logging.getLogger(__name__)

__all__ = ["Dataset", "NetworkConfig", "TrainConfig", "TrainEvent", "eth_ucy_data", "export_release",
           "recorded_test_windows", "sim_data", "train_command", "train_release"]

_ONNX_IO = {"inputs": {"history": "[A, 8, 2] float32 metres, oldest first",
                       "adjacency": "[A, A] float32 in [0, 1], [i, j]: i may act on j"},
            "outputs": {"trajectories": "[A, K, 12, 2] float32 metres",
                        "probabilities": "[A, K] float32 (network order; OnnxPredictor sorts)",
                        "gate": "[A, A] float32, the gate used, source -> target"},
            "agents": "1..256", "opset": export.OPSET}


@dataclass(frozen=True)
class Dataset:
    """Windows [A, 20, 2] per split, what they are (``description``) and how they were split (``split``).

    >>> d = Dataset("three walks", {}, {"train": [np.zeros((2, 20, 2))] * 3, "test": []}).limited(2)
    >>> {k: len(v) for k, v in d.windows.items()}
    {'train': 2, 'test': 0}
    """

    description: str
    split: dict[str, Any]
    windows: dict[str, list[np.ndarray]]

    def limited(self, limit: int) -> Dataset:
        """The first ``limit`` windows of each split (0: all), for smoke tests."""
        if not limit:
            return self
        return dataclasses.replace(self, windows={k: v[:limit] for k, v in self.windows.items()})


def _root_note(root: Path) -> str:
    """A data folder as the metadata records it: relative to the working directory when inside it."""
    root, here = Path(root).resolve(), Path.cwd().resolve()
    return str(root.relative_to(here)) if root.is_relative_to(here) else str(root)


def eth_ucy_data(root: Path, scene: str | None) -> Dataset:
    """ETH/UCY's leave-one-out split holding out ``scene`` (None: train on every scene, no test).

    >>> eth_ucy_data(Path("/no/such/folder"), "hotel")
    Traceback (most recent call last):
    ...
    causalstream.models.errors.ParameterError: read_windows: cannot read /no/such/folder/train/biwi_eth_train.txt: ...
    """
    split = leave_one_out(root, scene)
    note = {"protocol": "leave-one-out" if scene else "all scenes (no held-out test)", "test_scene": scene,
            "root": _root_note(root), **{k: [p.name for p in v] for k, v in split.items()}}
    return Dataset(f"ETH/UCY pedestrians, Social-GAN text form ({note['root']}); 8 observed, 12 predicted, 2.5 Hz",
                   note, {k: read_windows(v) for k, v in split.items()})


def _sim_windows(count: int, seed: int) -> list[np.ndarray]:
    """The first ``count`` simulator scenes of ``seed`` as 20-step windows (scene k is the same for any count)."""
    return [s.positions.astype(np.float32) for s in hri_scenes(count, n_frames=20, seed=seed)]


def sim_data(scenes: int) -> Dataset:
    """``scenes`` simulator scenes split 80/10/10, one seed per split (so the test scenes are reproducible).

    >>> w = sim_data(10).windows["test"]
    >>> len(w), w[0].shape[1:], w[0].dtype
    (1, (20, 2), dtype('float32'))
    """
    sizes = {"train": max(1, scenes * 8 // 10), "val": max(1, scenes // 10), "test": max(1, scenes // 10)}
    seeds = {"train": 1, "val": 2, "test": 3}  # disjoint scene seeds per split
    return Dataset("models/sim HRI scenes (robot, reactive, followers, distractors; 1-6 humans), 10 Hz simulation "
                   "kept every 4th frame: 8 observed, 12 predicted, 2.5 Hz",
                   {"protocol": "models/sim hri_scenes, a seed per split", "scenes": scenes, "seeds": seeds},
                   {k: _sim_windows(sizes[k], seeds[k]) for k in sizes})


def recorded_test_windows(meta: dict[str, Any], root: Path | None = None) -> list[np.ndarray] | None:
    """The test windows a model's metadata names, or None when it names none or the data is not at hand.

    ETH/UCY: the held-out scene from ``root`` if given, else from the folder the split records
    (relative to the working directory); the simulator: its seeded test scenes.

    >>> meta = {"data": "models/sim HRI scenes", "split": {"seeds": {"test": 3}, "windows": {"test": 1}}}
    >>> np.array_equal(recorded_test_windows(meta)[0], sim_data(10).windows["test"][0])
    True
    >>> recorded_test_windows({"split": {"test_scene": "eth", "windows": {"test": 5}}}) is None  # no folder
    True
    """
    split, data = meta.get("split") or {}, str(meta.get("data", ""))
    count = (split.get("windows") or {}).get("test")
    if not isinstance(count, int) or count <= 0:
        return None
    if data.startswith("models/sim") and "test" in (split.get("seeds") or {}):
        return _sim_windows(count, split["seeds"]["test"])
    folder = root if root is not None else split.get("root")
    if split.get("test_scene") in SCENES and folder is not None:
        try:
            return read_windows(leave_one_out(Path(folder), split["test_scene"])["test"])[:count]
        except CausalstreamError as exc:
            log.info("test metrics kept from training: %s", exc)
    return None


def train_command(data: Dataset, config: NetworkConfig, schedule: TrainConfig, name: str, limit: int = 0) -> str:
    """The ``causalstream model train`` line that trains this model again.

    >>> data = Dataset("sim", {"scenes": 10, "seeds": {"train": 1, "val": 2, "test": 3}}, {})
    >>> line = train_command(data, NetworkConfig(), TrainConfig(epochs=3), "m")
    >>> line.startswith("causalstream model train --data sim --scenes 10 --epochs 3 --seed 0"), line.endswith("--name m")
    (True, True)
    """
    split = data.split
    if "seeds" in split:
        data_args = f"--data sim --scenes {split['scenes']}"
    else:
        data_args = f"--data eth_ucy --test-scene {split['test_scene'] or 'none'} --root {split['root']}"
    return (f"causalstream model train {data_args} --epochs {schedule.epochs} "
            f"--seed {schedule.seed} --lr {schedule.lr:g} --det-weight {schedule.det_weight:g} "
            f"--top1-weight {schedule.top1_weight:g} --fde-weight {schedule.fde_weight:g} "
            f"--mode-temperature {schedule.mode_temperature:g} "
            f"--{'' if schedule.augment else 'no-'}augment --scale-min {schedule.scale_range[0]:g} "
            f"--scale-max {schedule.scale_range[1]:g} --obs-noise {schedule.obs_noise:g} "
            f"--obs-noise-share {schedule.obs_noise_share:g} --sparsity {schedule.sparsity_weight:g} "
            f"--d-model {config.d_model} --heads {config.heads} --layers {config.layers} --modes {config.modes} "
            f"--gate {config.gate} --name {name}" + (f" --limit {limit}" if limit else ""))


def _git_commit() -> str:
    """The commit of the code that runs (``-dirty`` when tracked files outside the weights changed)."""
    here = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        lines = top.stdout.split()
        if top.returncode != 0 or len(lines) != 2:
            return "unknown"
        # weights being rewritten by this very run do not make the code dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!models/weights"],
                               cwd=lines[0], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return lines[1] + ("-dirty" if dirty.stdout.strip() else "")


def _parity(net: CausalGatedPredictor, onnx_path: Path) -> float:
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
        raise ModelError(what="release", reason=f"onnxruntime and torch disagree by {worst:.2e} on {onnx_path}")
    return worst


def _test_metrics(onnx_path: Path, int8: bool, windows: list[np.ndarray]) -> dict[str, dict[str, float]]:
    if not windows:
        return {}
    out = {"ours": evaluate_windows(OnnxPredictor(onnx_path).predict, windows),
           "constant_velocity": evaluate_windows(lambda h: (constant_velocity(h), np.ones((len(h), 1))), windows)}
    if int8:
        out["ours_int8"] = evaluate_windows(OnnxPredictor(onnx_path.with_suffix(".int8.onnx")).predict, windows)
    return out


def _export_all(net: CausalGatedPredictor, onnx_path: Path, int8: bool, meta: dict[str, Any],
                test_windows: list[np.ndarray] | None) -> dict[str, Any]:
    """ONNX (+ int8) side by side, parity checked, test metrics measured on ``test_windows``
    (None: the metadata's are kept), metadata JSON written; returns the metadata."""
    export.export_onnx(net, onnx_path)
    files = {"onnx": onnx_path.name}
    if int8:
        files["onnx_int8"] = export.quantize_int8(onnx_path, onnx_path.with_suffix(".int8.onnx")).name
    meta = {**meta, "files": {**meta.get("files", {}), **files}, "parity_max_abs_error": _parity(net, onnx_path),
            "onnx": _ONNX_IO}
    if test_windows is not None:  # the metrics describe the files just written
        meta["metrics"] = {**meta.get("metrics", {}), "test": _test_metrics(onnx_path, int8, test_windows)}
    onnx_path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return meta


def train_release(data: Dataset, config: NetworkConfig, schedule: TrainConfig, out: Path, name: str,
                  int8: bool = True, command: str = "", report: Callable[[TrainEvent], None] | None = None
                  ) -> dict[str, Any]:
    """Train on ``data``, then write NAME.pt, NAME.onnx (+ NAME.int8.onnx) and NAME.json in ``out``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     meta = train_release(sim_data(10).limited(4), NetworkConfig(d_model=8, heads=2, layers=1, modes=2),
    ...                          TrainConfig(epochs=1), Path(tmp), "m", int8=False)
    ...     files = sorted(p.name for p in Path(tmp).iterdir())
    >>> files, sorted(meta["metrics"]["test"]), meta["parity_max_abs_error"] <= 1e-4
    (['m.json', 'm.onnx', 'm.pt'], ['constant_velocity', 'ours'], True)
    """
    start = time.perf_counter()
    result = train(config, schedule, data.windows["train"], data.windows["val"], report)
    meta: dict[str, Any] = {
        "model_id": name,
        "data": data.description,
        "split": {**data.split,
                  "windows": {k: len(v) for k, v in data.windows.items()},
                  "agents": {k: int(sum(len(w) for w in v)) for k, v in data.windows.items()}},
        "network": dataclasses.asdict(config), "training": dataclasses.asdict(schedule),
        "best_epoch": result.best_epoch, "train_seconds": round(time.perf_counter() - start, 1),
        "history": result.history, "command": command or train_command(data, config, schedule, name),
        "git_commit": _git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "metrics": {"val": result.val_metrics},
        "files": {"checkpoint": f"{name}.pt"},
    }
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(result.network, out / f"{name}.pt", meta)
    return _export_all(result.network, out / f"{name}.onnx", int8, meta, data.windows["test"])


def _existing_metadata(path: Path) -> dict[str, Any]:
    """The metadata JSON already beside a model, or {} (none, or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def export_release(checkpoint: Path, onnx_path: Path | None = None, int8: bool = True,
                   root: Path | None = None) -> tuple[dict[str, Any], int]:
    """Export a checkpoint again; the metadata and how many recorded test windows it was measured on.

    What ``model train`` wrote beside the model is kept (the checkpoint's fields win); the test
    metrics are measured again on the split the metadata records (:func:`recorded_test_windows`,
    ``root`` for ETH/UCY), else the training's are kept.

    >>> import tempfile
    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2))
    >>> meta = {"data": "models/sim HRI scenes", "split": {"seeds": {"test": 3}, "windows": {"test": 1}}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     meta, measured = export_release(save_checkpoint(net, Path(tmp) / "m.pt", meta), int8=False)
    >>> measured, meta["exported_by"], sorted(meta["metrics"]["test"])
    (1, 'causalstream model export m.pt', ['constant_velocity', 'ours'])
    """
    net, meta = load_checkpoint(checkpoint)
    onnx_path = onnx_path or checkpoint.with_suffix(".onnx")
    # keep what `model train` added beside the model (test metrics, its commit); the checkpoint wins
    kept = _existing_metadata(onnx_path.with_suffix(".json"))
    meta = {**kept, **{k: {**kept[k], **v} if isinstance(v, dict) and isinstance(kept.get(k), dict) else v
                       for k, v in meta.items()},
            "exported_by": f"causalstream model export {checkpoint.name}"}
    windows = recorded_test_windows(meta, root)
    return _export_all(net, onnx_path, int8, meta, windows or None), len(windows or ())
