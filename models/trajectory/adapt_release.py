"""Release an adapted model: the base's checkpoint + a new domain's scenes -> NAME.onnx, NAME.pt, NAME.json.

The pipeline behind ``causalstream model adapt`` (nodes/cli_adapt.py parses the options and
reads the data). The style (models/trajectory/adapt.py) is folded into the network, which is
exported as any release is (models/trajectory/export.py, parity with torch checked by
onnxruntime on 1, 2, 17 and 256 agents). The metadata, in NAME.json beside the model and in
the ONNX file's own metadata (``metadata_props``: adapted_from, adapt_data, shots), names the
base model (its file and sha256), the data (its files, sha256, rate and whether it was
resampled), the shots asked and used, the style and the held-out shots' errors before and
after; ``sha256`` is the ONNX file's. Needs the ``train`` extra (torch, onnx).

>>> resolve_base("/no/such/model.onnx")
Traceback (most recent call last):
...
causalstream.models.errors.ModelError: model adapt: /no/such/model.onnx has no style part to adapt: it is ONNX only (the style is fitted in torch on the checkpoint /no/such/model.pt, which is missing)
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from causalstream.models.errors import ModelError
from causalstream.models.trajectory import export
from causalstream.models.trajectory.adapt import AdaptConfig, AdaptResult
from causalstream.models.trajectory.metrics import constant_velocity, evaluate_windows
from causalstream.models.trajectory.network import CausalGatedPredictor
from causalstream.models.trajectory.predictor import DEFAULT_MODEL
from causalstream.models.trajectory.release import _ONNX_IO, _git_commit, _parity
from causalstream.models.trajectory.training import load_checkpoint, save_checkpoint

__all__ = ["ONNX_KEYS", "adapt_metadata", "resolve_base", "sha256_of", "write_adapted"]

log = logging.getLogger(__name__)

ONNX_KEYS = ("adapted_from", "adapt_data", "shots")  # metadata also written into the ONNX file


def sha256_of(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of ``paths`` in the order given.

    >>> sha256_of([]) == hashlib.sha256().hexdigest()
    True
    """
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def resolve_base(model: str | Path) -> tuple[CausalGatedPredictor, dict[str, Any], Path]:
    """(network, metadata, checkpoint path) of a base model: a NAME.pt, an .onnx with its .pt
    beside it, or a shipped model's name (``trajectory``, ``trajectory_sim``).

    A model with no torch checkpoint has no style part to fit (the style is learnt in torch
    and folded into the weights): refused with :class:`ModelError`.

    >>> net, meta, path = resolve_base("trajectory")
    >>> path.name, meta["model_id"], net.config.d_model
    ('trajectory.pt', 'trajectory', 64)
    """
    p = Path(model)
    if len(p.parts) == 1 and not p.suffix and not p.exists():  # a shipped model's name
        p = DEFAULT_MODEL.parent / f"{p.name}.pt"
    checkpoint = p.with_suffix(".pt") if p.suffix == ".onnx" else p
    if p.suffix == ".onnx" and not checkpoint.is_file():
        raise ModelError(what="model adapt", reason=f"{p} has no style part to adapt: it is ONNX only (the style is "
                         f"fitted in torch on the checkpoint {checkpoint}, which is missing)")
    if not checkpoint.is_file():
        raise ModelError(what="model adapt", reason=f"no model {p}: give a NAME.pt, an .onnx with its .pt beside it, "
                         "or a shipped model's name (trajectory, trajectory_sim)")
    try:
        net, meta = load_checkpoint(checkpoint)
    except (ModelError, pickle.UnpicklingError) as exc:  # load_checkpoint lets a non-torch file's UnpicklingError out
        reason = exc.reason if isinstance(exc, ModelError) else str(exc).splitlines()[0]
        raise ModelError(what="model adapt", reason=f"{checkpoint} has no style part to adapt: not a trajectory "
                         f"checkpoint ({reason})") from exc
    return net, meta, checkpoint


def _cv(windows: list[np.ndarray]) -> dict[str, float]:
    return evaluate_windows(lambda h: (constant_velocity(h.astype(np.float64)), np.ones((len(h), 1))), windows)


def adapt_metadata(result: AdaptResult, config: AdaptConfig, base_meta: dict[str, Any], base_path: Path,
                   data: dict[str, Any], shots: dict[str, int], held_out: list[np.ndarray], name: str,
                   command: str) -> dict[str, Any]:
    """The metadata of an adapted model (without the files' fields, which :func:`write_adapted` adds).

    >>> from causalstream.models.trajectory.adapt import StyleFiLM
    >>> net, meta, path = resolve_base("trajectory")
    >>> res = AdaptResult(net, StyleFiLM(net), {}, {}, 0, 0.1, [])
    >>> m = adapt_metadata(res, AdaptConfig(), meta, path, {"path": "d"}, {"asked": 5, "used": 5}, [], "a", "")
    >>> m["adapted_from"]["model_id"], m["style"]["numbers"], m["shots"]["used"]
    ('trajectory', 624, 5)
    """
    return {
        "model_id": name,
        "data": f"{base_meta.get('data', 'unknown')}; adapted (style only) on {data.get('path')}",
        "adapted_from": {"model_id": base_meta.get("model_id", base_path.stem), "checkpoint": str(base_path),
                         "sha256": sha256_of([base_path]), "git_commit": base_meta.get("git_commit", "unknown")},
        "adapt_data": data,
        "shots": shots,
        "style": {"kind": "FiLM (per-channel scale and shift, identity at start), folded into the weights",
                  "sites": list(config.sites), "layers": result.style.paths, "numbers": result.style.size()},
        "adaptation": {**dataclasses.asdict(config), "best_epoch": result.best_epoch, "seconds": result.seconds,
                       "history": result.history},
        "metrics": {"held_out_shots": {"windows": len(held_out), "base": result.before, "adapted": result.after,
                                       "constant_velocity": _cv(held_out) if held_out else {}}},
        "network": base_meta.get("network", dataclasses.asdict(result.network.config)),
        "command": command,
        "git_commit": _git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_adapted(net: CausalGatedPredictor, onnx_path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``onnx_path`` (the metadata's :data:`ONNX_KEYS` inside), its .pt and its .json; returns the metadata.

    >>> import tempfile
    >>> from causalstream.models.trajectory.network import NetworkConfig
    >>> net = CausalGatedPredictor(NetworkConfig(d_model=8, heads=2, layers=1, modes=2)).eval()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     meta = write_adapted(net, Path(tmp) / "a.onnx", {"adapted_from": {"model_id": "b"}, "shots": {"used": 3}})
    ...     props = {p.key: p.value for p in onnx.load(str(Path(tmp) / "a.onnx")).metadata_props}
    ...     same = meta["sha256"] == sha256_of([Path(tmp) / "a.onnx"])
    >>> json.loads(props["adapted_from"]), same, sorted(meta["files"])
    ({'model_id': 'b'}, True, ['checkpoint', 'onnx'])
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.parent.is_dir():
        raise ModelError(what="model adapt", reason=f"cannot write {onnx_path}: no directory {onnx_path.parent}")
    export.export_onnx(net, onnx_path)
    model = onnx.load(str(onnx_path))
    for key in ONNX_KEYS:
        if key in meta:
            model.metadata_props.add(key=key, value=json.dumps(meta[key], default=float))
    onnx.save(model, str(onnx_path))
    checkpoint = onnx_path.with_suffix(".pt")
    meta = {**meta, "files": {"onnx": onnx_path.name, "checkpoint": checkpoint.name},
            "sha256": sha256_of([onnx_path]), "parity_max_abs_error": _parity(net, onnx_path), "onnx": _ONNX_IO}
    save_checkpoint(net, checkpoint, meta)
    onnx_path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    log.info("wrote %s, %s and its metadata", onnx_path, checkpoint.name)
    return meta
