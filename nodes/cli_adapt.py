"""``causalstream model adapt``: fit a trained predictor's style part to a new domain from a few scenes.

The data is read here: causalstream logs (MCAP, the agents' topic, /agents/state by default),
ETH/UCY-style text files (``frame id x y``, 25 Hz frame numbers) or a folder of either
(every .mcap and .txt under it, sorted). Tracks at another rate than the model's 2.5 Hz are
resampled (models/trajectory/adapt_data.py), slower ones refused with the rate named. A
scene is one 20-step window (8 observed, 12 predicted) of at least two agents; ``--shots N``
takes N of them spread evenly over the data (all of them, with a warning, when there are
fewer). The adaptation and its release (models/trajectory/adapt.py, adapt_release.py) need
torch (the ``train`` extra); they are imported inside the command, so the CLI starts without it.

>>> from typer.testing import CliRunner
>>> app = typer.Typer(); _ = app.command()(adapt); _ = app.command("other")(lambda: None)
>>> result = CliRunner().invoke(app, ["adapt", "--help"])
>>> result.exit_code, "--shots" in result.output
(0, True)
"""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import typer
from rich.console import Console

from causalstream.models.errors import ParameterError
from causalstream.models.trajectory.adapt_data import MODEL_RATE_HZ, text_windows, windows_at_rate
from causalstream.nodes.errors import CommandError
from causalstream.stream.log.reader import read_log
from causalstream.stream.messages import AgentStates

__all__ = ["adapt", "read_scenes"]

_OUT = Console(highlight=False)
_ERR = Console(stderr=True, highlight=False)


def _log_windows(path: Path, topic: str) -> tuple[list[np.ndarray], float]:
    times, ids, xy = [], [], []
    for entry in read_log(path, topics=[topic]):
        frame = entry.message
        if not isinstance(frame, AgentStates):
            continue
        times.append(np.full(len(frame.ids), frame.stamp_ns * 1e-9))
        ids.extend(frame.ids)
        xy.append(np.stack([frame.x, frame.y], 1))
    if not times:
        raise CommandError(command="model adapt", reason=f"{path}: no AgentStates on {topic}")
    try:
        return windows_at_rate(np.concatenate(times), np.array(ids), np.concatenate(xy))
    except ParameterError as exc:
        raise CommandError(command="model adapt", reason=f"{path}: {exc.reason}") from exc


def read_scenes(data: Path, topic: str = "/agents/state") -> tuple[list[np.ndarray], dict[str, Any], list[Path]]:
    """(windows [A, 20, 2] at 2.5 Hz, what was read, the files) of a log, a text file or a folder of them.

    >>> import tempfile
    >>> rows = [[f, p, f / 25.0, p] for f in range(0, 500, 10) for p in (1, 2)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.savetxt(Path(tmp) / "s.txt", rows, fmt="%.2f")
    ...     windows, info, files = read_scenes(Path(tmp))
    >>> len(windows), info["rate_hz"], info["resampled"]
    (31, [2.5], False)
    """
    if data.is_dir():
        files = sorted(p for p in data.rglob("*") if p.suffix in (".mcap", ".txt") and p.is_file())
        if not files:
            raise CommandError(command="model adapt", reason=f"{data} holds no .mcap log and no .txt track file")
    elif data.is_file():
        files = [data]
    else:
        raise CommandError(command="model adapt", reason=f"no data {data}: give a log (.mcap), a text file or a folder")
    windows: list[np.ndarray] = []
    rates: list[float] = []
    for path in files:
        got, rate = _log_windows(path, topic) if path.suffix == ".mcap" else text_windows(path)
        windows.extend(got)
        rates.append(rate)
    resampled = any(abs(r / MODEL_RATE_HZ - 1) > 0.02 for r in rates)
    info = {"path": str(data), "files": [str(p.relative_to(data)) if data.is_dir() else p.name for p in files],
            "rate_hz": sorted(set(rates)), "resampled": resampled, "scenes_available": len(windows),
            **({"resampled_to_hz": MODEL_RATE_HZ} if resampled else {})}
    return windows, info, files


def _pick(windows: list[np.ndarray], shots: int) -> list[np.ndarray]:
    """``shots`` windows spread evenly over ``windows`` (all when there are fewer)."""
    if len(windows) <= shots:
        return list(windows)
    return [windows[i] for i in np.linspace(0, len(windows) - 1, shots).round().astype(int)]


def _modules() -> tuple[ModuleType, ModuleType]:
    # torch is the optional `train` extra: import the adaptation only when the command runs.
    try:
        importlib.import_module("torch")
        return (importlib.import_module("causalstream.models.trajectory.adapt"),
                importlib.import_module("causalstream.models.trajectory.adapt_release"))
    except ImportError as exc:
        raise CommandError(command="model adapt", reason=f"needs torch (the train extra: pip install 'causalstream[train]'): {exc}") from exc


def adapt(
    model: str = typer.Argument(..., help="Base model: a NAME.pt, an .onnx with its .pt beside it, or a shipped "
                                "model's name (trajectory, trajectory_sim)."),
    data: Path = typer.Option(..., "--data", help="A causalstream log (.mcap), an ETH/UCY-style text file "
                              "(frame id x y) or a folder of them: scenes of the new domain."),
    shots: int = typer.Option(..., "--shots", min=1, help="How many scenes (20-step windows of >= 2 agents) to adapt on."),
    out: Path = typer.Option(None, "-o", "--out", help="ONNX file to write (NAME.pt and NAME.json beside it); "
                             "default: BASE_adapted.onnx in the working directory."),
    epochs: int = typer.Option(60, min=1, help="Passes over the shots, within --min-steps..1500 steps (batches of 16 scenes)."),
    min_steps: int = typer.Option(500, min=0, max=1500, help="At least this many steps: few shots get more epochs."),
    lr: float = typer.Option(2e-2, help="Learning rate of the style's scale and shift (Adam, cosine decay)."),
    sites: str = typer.Option("encoder,pairs,attention,decoder,output", help="Where the FiLM style acts (comma-separated): "
                              "encoder, pairs, attention, decoder, output (models/trajectory/adapt.py)."),
    topic: str = typer.Option("/agents/state", help="The agents' topic in a log."),
    seed: int = typer.Option(0, help="Seed of the held-out split and of torch."),
    threads: int = typer.Option(2, help="torch intra-op threads."),
) -> None:
    """Fine-tune only the style part (FiLM: a scale and shift per channel) of MODEL on --shots scenes of --data.

    The rest of the network stays frozen; the style starts at identity and is folded into the
    weights, so OUT is an ordinary model (ONNX, same inputs and outputs). The last fifth of the
    shots (from 5 shots on; in the data's order: a log's latest) is held out to pick the epoch, the base model included: the printed
    errors are on those. OUT.json (and the ONNX file's metadata) name the base model
    (adapted_from), the data (adapt_data), the shots and the ONNX file's sha256.
    """
    adapt_mod, release = _modules()
    config = adapt_mod.AdaptConfig(epochs=epochs, min_steps=min_steps, lr=lr, seed=seed, sites=tuple(s.strip() for s in sites.split(",") if s.strip()))
    importlib.import_module("torch").set_num_threads(threads)
    net, base_meta, base_path = release.resolve_base(model)
    windows, info, files = read_scenes(data, topic)
    if not windows:
        raise CommandError(command="model adapt", reason=f"{data} has no 20-step scene (8 observed + 12 predicted "
                           f"at {MODEL_RATE_HZ:g} Hz) with two or more agents")
    if len(windows) < shots:
        _ERR.print(f"warning: {data} has {len(windows)} scenes, fewer than --shots {shots}: adapting on all {len(windows)}")
    picked = _pick(windows, shots)
    info["sha256"] = release.sha256_of(files)
    _, held_out = adapt_mod.split_shots(picked, config.val_share)
    with _OUT.status(f"adapting {base_path.name} on {len(picked)} scenes") as status:
        result = adapt_mod.adapt(net, picked, config,
                                 lambda e, n, loss: status.update(f"adapting: epoch {e}/{n} loss {loss:.3f}"))
    onnx_path = out or Path(f"{base_path.stem}_adapted.onnx")
    command = " ".join(shlex.quote(str(a)) for a in (
        "causalstream", "model", "adapt", model, "--data", data, "--shots", shots, "-o", onnx_path, "--epochs", epochs, "--min-steps", min_steps,
        "--lr", f"{lr:g}", "--sites", ",".join(config.sites), "--topic", topic, "--seed", seed))
    meta = release.adapt_metadata(result, config, base_meta, base_path, info,
                                  {"asked": shots, "used": len(picked), "held_out": len(held_out)},
                                  held_out, onnx_path.stem, command)
    meta = release.write_adapted(result.network, onnx_path, meta)
    held = meta["metrics"]["held_out_shots"]
    note = (f"; held-out K=1 ADE {held['base']['ade_top1']:.3f} -> {held['adapted']['ade_top1']:.3f} "
            f"(constant velocity {held['constant_velocity']['ade_top1']:.3f}, {len(held_out)} scenes)") if held_out else ""
    _OUT.print(f"adapted {base_path.name} on {len(picked)} scenes in {result.seconds:.1f} s (best epoch "
               f"{result.best_epoch}){note}; wrote {onnx_path} (sha256 {meta['sha256'][:12]})")
