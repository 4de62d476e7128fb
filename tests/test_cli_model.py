"""``causalstream model``: train -> export -> info, end to end on a tiny model; errors; lazy torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.data import leave_one_out, read_windows
from causalstream.models.trajectory.metrics import evaluate_windows
from causalstream.nodes.cli import app, main

ROOT = Path(__file__).resolve().parents[1]
ETH_UCY = ROOT / "bench" / "data" / "eth_ucy"
TINY = ["--d-model", "8", "--heads", "2", "--layers", "1", "--modes", "2", "--epochs", "1", "--limit", "6", "--threads", "1"]


def test_train_export_info_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["model", "train", "--test-scene", "hotel", "--root", str(ETH_UCY), "--out", str(tmp_path),
                                 "--name", "t", *TINY])
    assert result.exit_code == 0, result.output
    assert "trajectory models" in result.output  # the final metrics table
    for suffix in (".pt", ".onnx", ".int8.onnx", ".json"):
        assert (tmp_path / f"t{suffix}").is_file(), suffix
    meta = json.loads((tmp_path / "t.json").read_text())
    assert meta["split"]["test_scene"] == "hotel" and meta["split"]["test"] == ["biwi_hotel.txt"]
    root = meta["split"]["root"]
    assert Path(root).resolve() == ETH_UCY.resolve()  # relative to the working directory when inside it
    assert meta["command"].startswith(f"causalstream model train --data eth_ucy --test-scene hotel --root {root} --epochs 1")
    assert set(meta["metrics"]["test"]) == {"ours", "ours_int8", "constant_velocity"}
    assert meta["parity_max_abs_error"] <= 1e-4 and len(meta["git_commit"]) >= 7

    result = runner.invoke(app, ["model", "export", str(tmp_path / "t.pt"), "--out", str(tmp_path / "e.onnx")])
    assert result.exit_code == 0, result.output
    history = np.cumsum(np.full((4, 8, 2), 0.3, np.float32), axis=1)
    np.testing.assert_allclose(OnnxPredictor(tmp_path / "e.onnx").predict(history)[0],
                               OnnxPredictor(tmp_path / "t.onnx").predict(history)[0], atol=1e-6)
    assert json.loads((tmp_path / "e.json").read_text())["exported_by"] == "causalstream model export t.pt"
    stale = json.loads((tmp_path / "t.json").read_text())
    stale["metrics"]["test"]["ours_int8"]["ade"] = 99.0  # as if the int8 file had been quantised differently
    (tmp_path / "t.json").write_text(json.dumps(stale))
    result = runner.invoke(app, ["model", "export", str(tmp_path / "t.pt")])  # over the trained model's own files
    assert result.exit_code == 0, result.output
    assert "test metrics on 6 recorded test windows" in " ".join(result.output.split())
    again = json.loads((tmp_path / "t.json").read_text())  # measured again on the recorded hotel windows
    assert again["exported_by"] == "causalstream model export t.pt" and again["metrics"] == meta["metrics"]

    result = runner.invoke(app, ["model", "info", str(tmp_path / "e.onnx")])
    assert result.exit_code == 0 and "history" in result.output and "adjacency" in result.output


def test_export_measures_again_on_the_data_folder_training_used(tmp_path: Path) -> None:
    """A model trained on its own copy of ETH/UCY (--root) is scored again on that copy, not on
    bench/data; with the copy gone, export keeps the training's metrics."""
    own = tmp_path / "own"
    shutil.copytree(ETH_UCY, own)
    test_file = own / "all_data" / "biwi_hotel.txt"
    rows = np.loadtxt(test_file)
    rows[:, 2:] *= 3.0  # other metres: other test errors than the shipped copy's
    np.savetxt(test_file, rows, fmt="%.2f", delimiter="\t")
    runner = CliRunner()
    result = runner.invoke(app, ["model", "train", "--test-scene", "hotel", "--root", str(own), "--out", str(tmp_path),
                                 "--name", "t", "--no-int8", *TINY])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "t.json").read_text())
    assert meta["split"]["root"] == str(own.resolve()) and f" --root {own.resolve()} " in meta["command"]
    result = runner.invoke(app, ["model", "export", str(tmp_path / "t.pt"), "--no-int8"])
    assert result.exit_code == 0 and "recorded test windows" in " ".join(result.output.split()), result.output
    again = json.loads((tmp_path / "t.json").read_text())["metrics"]["test"]
    assert again == meta["metrics"]["test"]  # bench/data's hotel would give other numbers
    shipped = read_windows(leave_one_out(ETH_UCY, "hotel")["test"])[:6]
    ours = evaluate_windows(OnnxPredictor(tmp_path / "t.onnx").predict, shipped)
    assert abs(ours["ade"] - again["ours"]["ade"]) > 1e-3
    shutil.rmtree(own)
    result = runner.invoke(app, ["model", "export", str(tmp_path / "t.pt"), "--no-int8"])
    assert result.exit_code == 0 and "recorded test windows" not in " ".join(result.output.split()), result.output
    assert json.loads((tmp_path / "t.json").read_text())["metrics"]["test"] == meta["metrics"]["test"]


def test_train_on_the_simulators_scenes(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["model", "train", "--data", "sim", "--scenes", "20", "--gate", "open",
                                      "--sparsity", "3", "--out", str(tmp_path), "--name", "s", *TINY])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["data"].startswith("models/sim HRI scenes") and meta["network"]["gate"] == "open"
    assert meta["training"]["sparsity_weight"] == 3.0 and " --sparsity 3 " in meta["command"]
    assert meta["split"]["windows"] == {"train": 6, "val": 2, "test": 2}  # 16/2/2 scenes, --limit 6
    assert meta["command"].startswith("causalstream model train --data sim --scenes 20 --epochs 1")
    assert np.isfinite(meta["metrics"]["test"]["ours"]["ade"])
    result = CliRunner().invoke(app, ["model", "export", str(tmp_path / "s.pt")])  # the seeded test scenes again
    assert result.exit_code == 0 and "test metrics on 2 recorded test windows" in " ".join(result.output.split()), result.output
    assert json.loads((tmp_path / "s.json").read_text())["metrics"] == meta["metrics"]


def test_bad_options_are_one_line_errors(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CAUSALSTREAM_ETH_UCY", raising=False)
    assert main(["model", "train", "--test-scene", "zara3", "--out", str(tmp_path)]) == 2
    assert "unknown test scene 'zara3'" in capsys.readouterr().err
    assert main(["model", "train", "--data", "kitti", "--out", str(tmp_path)]) == 2
    assert "unknown data 'kitti'" in capsys.readouterr().err
    assert main(["model", "train", "--data", "sim", "--test-scene", "eth", "--out", str(tmp_path)]) == 2
    assert "--test-scene eth is for --data eth_ucy" in capsys.readouterr().err
    assert main(["model", "train", "--test-scene", "eth", "--out", str(tmp_path)]) == 2  # no data folder is guessed
    assert "--data eth_ucy needs --root" in capsys.readouterr().err
    assert main(["model", "export", str(tmp_path / "missing.pt")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["model", "info", str(tmp_path / "missing.onnx")]) == 2


def test_cli_does_not_import_torch_until_a_command_needs_it() -> None:
    code = "import sys\nimport causalstream.nodes.cli\nprint('torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
