"""Style adaptation (issue 22 item 2): identity at start, lower error on a shifted domain, ONNX
parity and metadata, the bad inputs, and ``causalstream model adapt`` end to end.

The shifted domain is a roundabout: every walker curves left at 0.25-0.4 rad/s, which the
ETH/UCY model (trained on mostly straight walking) does not predict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from causalstream.models.errors import ModelError, ParameterError
from causalstream.models.trajectory import OnnxPredictor
from causalstream.models.trajectory.adapt import AdaptConfig, StyleFiLM, adapt
from causalstream.models.trajectory.adapt_data import text_windows, windows_at_rate
from causalstream.models.trajectory.adapt_release import resolve_base, sha256_of, write_adapted
from causalstream.models.trajectory.export import SceneModule
from causalstream.models.trajectory.training import evaluate, load_checkpoint
from causalstream.nodes.cli import main
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import AgentStates

from support import run_cli

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights"


def arcs(rng: np.random.Generator, scenes: int, hz: float = 2.5) -> list[np.ndarray]:
    """Scenes [A, 20 steps at 2.5 Hz (8 s), 2] of 2-4 walkers on left-hand circles."""
    out = []
    for _ in range(scenes):
        a = int(rng.integers(2, 5))
        t = np.arange(round(8 * hz)) / hz
        v, w, th0 = rng.uniform(1.0, 1.5, a), rng.uniform(0.25, 0.4, a), rng.uniform(0, 2 * np.pi, a)
        centre, radius = rng.uniform(-6, 6, (a, 2)), (v / w)[:, None]
        th = th0[:, None] + w[:, None] * t
        out.append(np.stack([centre[:, :1] + radius * np.sin(th), centre[:, 1:] - radius * np.cos(th)], -1).astype(np.float32))
    return out


def write_text(path: Path, scenes: list[np.ndarray], frame_step: int = 10) -> Path:
    """ETH/UCY text (frame id x y), each scene in its own frames, a gap between scenes."""
    rows = [[(k * 25 * 10 + f * frame_step), k * 10 + i, s[i, f, 0], s[i, f, 1]]
            for k, s in enumerate(scenes) for i in range(len(s)) for f in range(s.shape[1])]
    np.savetxt(path, rows, fmt="%.4f")
    return path


def write_log(path: Path, scenes: list[np.ndarray], hz: float) -> Path:
    """The scenes as /agents/state frames at ``hz``, 100 s apart."""
    with LogWriter(str(path)) as w:
        for k, s in enumerate(scenes):
            for f in range(s.shape[1]):
                w.write("/agents/state", AgentStates(
                    stamp_ns=round((100 * k + f / hz) * 1e9), ids=[f"s{k}a{i}" for i in range(len(s))],
                    roles=["human"] * len(s), x=s[:, f, 0].astype(float), y=s[:, f, 1].astype(float),
                    vx=np.zeros(len(s)), vy=np.zeros(len(s))))
    return path


@pytest.fixture(scope="module")
def base() -> torch.nn.Module:
    torch.set_num_threads(1)
    return load_checkpoint(WEIGHTS / "trajectory.pt")[0]


def test_identity_style_leaves_the_base_model_unchanged(base: torch.nn.Module) -> None:
    rng = np.random.default_rng(1)
    history, prior = torch.from_numpy(np.cumsum(rng.normal(0.3, 0.2, (6, 8, 2)), 1).astype(np.float32)), torch.ones(6, 6)
    style = StyleFiLM(base)
    with torch.no_grad():
        want = base(history, prior)
        with style.attached(base):
            styled = base(history, prior)
        folded = style.fold(base)(history, prior)
        plain = base(history, prior)  # hooks removed on exit
    for got in (styled, folded, plain):
        assert torch.equal(got.trajectories, want.trajectories) and torch.equal(got.probabilities, want.probabilities)
    assert style.size() == 2 * (64 + 32 + 2 * 64 + 64 + 24)  # encoder, pairs, 2 attention layers, decoder, output


def test_adaptation_lowers_k1_ade_on_held_out_scenes_of_the_shifted_domain(base: torch.nn.Module) -> None:
    rng = np.random.default_rng(2)
    shots, test = arcs(rng, 40), arcs(rng, 30)
    frozen = {k: v.clone() for k, v in base.state_dict().items()}
    result = adapt(base, shots, AdaptConfig(epochs=15, min_steps=60))
    before, after = evaluate(base, test)["ade_top1"], evaluate(result.network, test)["ade_top1"]
    assert after < 0.7 * before, (before, after)
    assert result.best_epoch > 0 and result.after["ade_top1"] < result.before["ade_top1"]
    assert all(torch.equal(v, frozen[k]) for k, v in base.state_dict().items())  # the base is untouched
    changed = {k for k, v in result.network.state_dict().items() if not torch.equal(v, frozen[k])}
    sites = ("self_encoder.2", "pair_encoder.0", "layers.0.ffn.2", "layers.1.ffn.2", "head_in", "trajectory_out")
    assert changed == {f"{s}.{p}" for s in sites for p in ("weight", "bias")}


def test_exported_onnx_equals_torch_and_carries_the_metadata(base: torch.nn.Module, tmp_path: Path) -> None:
    result = adapt(base, arcs(np.random.default_rng(3), 8), AdaptConfig(epochs=2, min_steps=0))
    meta = write_adapted(result.network, tmp_path / "a.onnx", {"adapted_from": {"model_id": "trajectory"},
                                                               "adapt_data": {"path": "x"}, "shots": {"used": 8}})
    rng = np.random.default_rng(4)
    session = OnnxPredictor(tmp_path / "a.onnx").session
    for agents in (1, 3, 17):
        h = np.cumsum(rng.normal(0.3, 0.3, (agents, 8, 2)), 1).astype(np.float32)
        adj = np.ones((agents, agents), np.float32)
        got = session.run(None, {"history": h, "adjacency": adj})
        with torch.no_grad():
            want = SceneModule(result.network)(torch.from_numpy(h), torch.from_numpy(adj))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.numpy(), atol=1e-4)
    props = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "a.onnx")).metadata_props}
    assert props["adapted_from"] == {"model_id": "trajectory"} and props["shots"] == {"used": 8}
    assert meta["sha256"] == sha256_of([tmp_path / "a.onnx"])
    assert json.loads((tmp_path / "a.json").read_text())["sha256"] == meta["sha256"]
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")[0].head_in.weight, result.network.head_in.weight)


def test_data_at_another_rate_is_resampled_or_refused_with_the_rate(tmp_path: Path) -> None:
    scenes = arcs(np.random.default_rng(5), 3)
    exact = text_windows(write_text(tmp_path / "a.txt", scenes))
    assert exact[1] == 2.5 and len(exact[0]) == 3
    np.testing.assert_allclose(exact[0][0], scenes[0], atol=1e-3)
    fast = arcs(np.random.default_rng(5), 3, hz=10.0)  # the same walks at 10 Hz
    t = np.concatenate([np.full(len(s), 100 * k + f / 10.0) for k, s in enumerate(fast) for f in range(s.shape[1])])
    ids = np.concatenate([[f"{k}.{i}" for i in range(len(s))] for k, s in enumerate(fast) for _ in range(s.shape[1])])
    xy = np.concatenate([s[:, f] for s in fast for f in range(s.shape[1])])
    windows, rate = windows_at_rate(t, ids, xy)
    assert rate == 10.0 and len(windows) == 3
    np.testing.assert_allclose(windows[0], fast[0][:, ::4], atol=1e-5)  # every 4th sample: the 2.5 Hz grid
    with pytest.raises(ParameterError, match=r"at 1 Hz, slower than the model's 2.5 Hz"):
        text_windows(write_text(tmp_path / "slow.txt", scenes, frame_step=25))


def test_a_model_without_a_style_part_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="has no style part"):
        resolve_base(WEIGHTS / "eth_ucy_loo" / "trajectory_eth.onnx")  # shipped as ONNX only
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="has no style part"):
        resolve_base(tmp_path / "x.pt")


def _one_line_error(rc: int, stderr: str, *words: str) -> None:
    assert rc == 2, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("INFO ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_cli_adapts_on_a_folder_of_text_and_a_10_hz_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(6)
    write_text(data / "arcs.txt", arcs(rng, 16))
    write_log(data / "arcs.mcap", arcs(rng, 4, hz=10.0), hz=10.0)
    res = run_cli("model", "adapt", "trajectory", "--data", str(data), "--shots", "30", "-o", str(tmp_path / "a.onnx"),
                  "--epochs", "5", "--min-steps", "60", "--threads", "1", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "warning:" in res.stderr and "has 20 scenes, fewer than --shots 30: adapting on all 20" in " ".join(res.stderr.split())
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["adapted_from"]["model_id"] == "trajectory"
    assert meta["adapted_from"]["sha256"] == sha256_of([WEIGHTS / "trajectory.pt"])
    assert meta["adapt_data"]["files"] == ["arcs.mcap", "arcs.txt"] and meta["adapt_data"]["rate_hz"] == [2.5, 10.0]
    assert meta["adapt_data"]["resampled"] and meta["adapt_data"]["sha256"] == sha256_of(sorted(data.iterdir()))
    assert meta["shots"] == {"asked": 30, "used": 20, "held_out": 4} and meta["sha256"] == sha256_of([tmp_path / "a.onnx"])
    held = meta["metrics"]["held_out_shots"]
    assert held["adapted"]["ade_top1"] <= held["base"]["ade_top1"]
    assert OnnxPredictor(tmp_path / "a.onnx").predict(arcs(rng, 1)[0][:, :8])[0].shape[1:] == (20, 12, 2)
    info = run_cli("model", "info", str(tmp_path / "a.onnx"))
    assert info.returncode == 0 and "adapted_from" in info.stdout


def test_cli_bad_inputs_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenes = arcs(np.random.default_rng(7), 3)
    slow = write_text(tmp_path / "slow.txt", scenes, frame_step=25)
    data = write_text(tmp_path / "ok.txt", scenes)
    onnx_only = WEIGHTS / "eth_ucy_loo" / "trajectory_eth.onnx"
    for args, words in ((["trajectory", "--data", str(slow)], ("1 Hz", "slow.txt")),
                        ([str(onnx_only), "--data", str(data)], ("no style part",)),
                        (["trajectory", "--data", str(tmp_path / "none")], ("no data",))):
        rc = main(["model", "adapt", *args, "--shots", "3", "-o", str(tmp_path / "x.onnx")])  # in process: torch is loaded
        _one_line_error(rc, capsys.readouterr().err, *words)
    assert not (tmp_path / "x.onnx").exists()
    code = ("import sys; sys.modules['torch'] = None; from causalstream.nodes.cli import main; "
            f"sys.exit(main(['model', 'adapt', 'trajectory', '--data', {str(data)!r}, '--shots', '3']))")
    no_torch = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    _one_line_error(no_torch.returncode, no_torch.stderr, "needs torch")  # the CLI loads without torch; this command needs it
