"""CLI parity with ros2 (issue 20 item 5): record's topic patterns and splitting, topic bw / delay / type / find,
help examples that render as written. Real processes on a real bus (the `bus` fixture)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from causalstream.nodes import cli
from causalstream.stream import Endpoints, Publisher, Subscriber, read_log
from causalstream.stream.codec import encode_payload
from causalstream.stream.messages import Features

from support import run_cli, spawn_cli, stop


def _wait_for_line(proc: subprocess.Popen, needle: str, limit: int = 50) -> None:
    assert proc.stderr is not None
    for _ in range(limit):
        line = proc.stderr.readline()
        assert line, f"process ended before printing {needle!r}"
        if needle in line:
            return
    raise AssertionError(f"no {needle!r} in the first {limit} lines")


@contextlib.contextmanager
def _publishing(bus: Endpoints, topics: list[str], hz: float = 20.0, lag_s: float = 0.0,
                n_values: int = 100) -> Iterator[list[int]]:
    """Features on each topic at ``hz`` from a thread (stamps ``lag_s`` in the past); yields the counts sent."""
    pubs = [Publisher(t, Features, endpoints=bus).wait_ready(10) for t in topics]
    sent = [0] * len(topics)
    done = threading.Event()
    msg = Features(names=[f"v{i}" for i in range(n_values)], values=np.arange(float(n_values)))

    def loop() -> None:
        while not done.wait(1.0 / hz):
            for i, pub in enumerate(pubs):
                pub.publish(msg, stamp_ns=time.time_ns() - int(lag_s * 1e9))
                sent[i] += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        done.set()
        thread.join()
        for pub in pubs:
            pub.close()


def _record(bus: Endpoints, *args: str) -> subprocess.Popen:
    rec = spawn_cli("bag", "record", *args, endpoints=bus)
    _wait_for_line(rec, "recording")
    return rec


def test_record_regex_exclude_regex_and_exclude_topics(bus: Endpoints, tmp_path: Path) -> None:
    out = tmp_path / "sel.mcap"
    rec = _record(bus, "/other", "-e", "^/sensors/", "-x", "debug$", "--exclude-topics", "/sensors/raw", "/nope",
                  "-o", str(out))
    try:
        with _publishing(bus, ["/sensors/a", "/sensors/b", "/sensors/debug", "/sensors/raw", "/other", "/elsewhere"]):
            time.sleep(2.0)
    finally:
        _, err = stop(rec)
    topics = {e.topic for e in read_log(out)}
    assert topics == {"/sensors/a", "/sensors/b", "/other"}, (topics, err)


def test_record_splits_by_duration_into_files_that_each_replay(bus: Endpoints, tmp_path: Path) -> None:
    out = tmp_path / "run.mcap"
    rec = _record(bus, "/sensors/a", "--max-bag-duration", "1", "-o", str(out))
    try:
        with _publishing(bus, ["/sensors/a"]):
            time.sleep(3.3)
    finally:
        _, err = stop(rec)
    files = sorted(tmp_path.glob("run_*.mcap"))
    assert [f.name for f in files][:3] == ["run_0.mcap", "run_1.mcap", "run_2.mcap"], err
    assert not out.exists() and f"into {files[0]}" in err
    counts = [sum(1 for _ in read_log(f)) for f in files]
    assert all(n > 0 for n in counts) and all(n >= 10 for n in counts[1:-1]), counts  # ~20 a second
    seqs = [e.message.stamp_ns for f in files for e in read_log(f)]
    assert seqs == sorted(seqs)  # one after the other, nothing twice
    last = files[-1]
    with Subscriber("/sensors/a", endpoints=bus) as sub:
        play = run_cli("bag", "play", str(last), "-r", "0", endpoints=bus)
        assert play.returncode == 0, play.stderr
        got = 0
        while sub.recv(timeout=2.0) is not None:
            got += 1
    assert got == counts[-1], (got, counts)


def test_record_splits_by_size(bus: Endpoints, tmp_path: Path) -> None:
    out = tmp_path / "big.mcap"
    payload = len(encode_payload(Features(names=[f"v{i}" for i in range(100)], values=np.arange(100.0))))
    rec = _record(bus, "/sensors/a", "--max-bag-size", str(5 * payload), "-o", str(out))
    try:
        with _publishing(bus, ["/sensors/a"]) as sent:
            time.sleep(2.0)
    finally:
        _, err = stop(rec)
    files = sorted(tmp_path.glob("big_*.mcap"), key=lambda p: int(p.stem.split("_")[1]))
    counts = [sum(1 for _ in read_log(f)) for f in files]
    assert len(files) >= 4 and all(n == 5 for n in counts[:-1]) and 0 < counts[-1] <= 5, (counts, err)
    assert sum(counts) == sent[0]


def test_topic_bw_and_delay_measure(bus: Endpoints) -> None:
    payload = len(encode_payload(Features(names=[f"v{i}" for i in range(100)], values=np.arange(100.0))))
    with _publishing(bus, ["/sensors/a"], hz=20.0, lag_s=2.0):
        bw = run_cli("topic", "bw", "/sensors/a", "--duration", "3", endpoints=bus)
        delay = run_cli("topic", "delay", "/sensors/a", "--duration", "3", endpoints=bus)
    assert bw.returncode == 0 and delay.returncode == 0, bw.stderr + delay.stderr
    means = [float(m) for m in re.findall(r"Message size mean: ([\d.]+) KB", bw.stdout)]
    assert means and all(m == round(payload / 1000, 2) for m in means), (bw.stdout, payload)
    rates = [float(m) for m in re.findall(r"([\d.]+) KB/s from", bw.stdout)]
    assert rates and all(0.5 * 20 * payload / 1000 < r < 1.5 * 20 * payload / 1000 for r in rates[1:] or rates), bw.stdout
    delays = [float(m) for m in re.findall(r"average delay: ([\d.]+)", delay.stdout)]
    assert delays and all(1.95 < d < 2.5 for d in delays), delay.stdout  # the stamps are 2 s old


def test_topic_type_and_find(bus: Endpoints) -> None:
    talker = spawn_cli("topic", "pub", "/sensors/a", "Features", "{names: [a], values: [1.0]}", "--rate", "10",
                       endpoints=bus)
    try:
        time.sleep(1.0)
        kind = run_cli("topic", "type", "/sensors/a", "--wait", "2.5", endpoints=bus)
        assert kind.returncode == 0 and kind.stdout.split() == ["Features"], kind.stdout + kind.stderr
        found = run_cli("topic", "find", "Features", "--wait", "2.5", endpoints=bus)
        assert "/sensors/a" in found.stdout.split(), found.stdout
        none = run_cli("topic", "find", "CausalGraph", "--wait", "2.5", endpoints=bus)
        assert "/sensors/a" not in none.stdout.split(), none.stdout
    finally:
        stop(talker)
    missing = run_cli("topic", "type", "/nobody/here", "--wait", "0.5", endpoints=bus)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "no participant reported /nobody/here" in missing.stderr
    bad = run_cli("topic", "find", "Featurez", "--wait", "0.2", endpoints=bus)
    assert bad.returncode == 2 and "unknown message type 'Featurez'" in bad.stderr


def test_every_help_renders_its_text_as_written() -> None:
    """Each command's docstring paragraphs and option help appear verbatim in its --help (no markup eaten)."""
    root = typer.main.get_command(cli.app)

    def walk(cmd, path):  # noqa: ANN001, ANN202 - click commands
        if not getattr(cmd, "hidden", False):
            yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    seen, bad = 0, []
    for path, cmd in walk(root, []):
        res = CliRunner().invoke(cli.app, [*path, "--help"], env={"COLUMNS": "400"}, terminal_width=400)
        assert res.exit_code == 0, (path, res.output)
        shown = " ".join(re.sub(r"[\s│]+", " ", res.output).split())
        texts = [cmd.help or ""] + [p.help or "" for p in cmd.params if getattr(p, "help", None) and not p.hidden]
        for text in texts:
            for para in text.replace("\\[", "[").split("\n\n"):
                seen += 1
                if " ".join(para.split()) not in shown:
                    bad.append((" ".join(path), para))
    assert seen > 100 and not bad, bad
    pub = CliRunner().invoke(cli.app, ["topic", "pub", "--help"], env={"COLUMNS": "400"}, terminal_width=400)
    assert "'{names: [a], values: [1.0]}'" in pub.output


def test_record_bad_patterns_are_one_line_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "x.mcap"
    res = run_cli("bag", "record", "-e", "(", "-o", str(out))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "--regex '(' is not a regular expression" in res.stderr
    res = run_cli("bag", "record", "-a", "-e", "^/a", "-o", str(out))
    assert res.returncode == 2 and "or -a for all topics (not both)" in res.stderr, res.stderr
    assert not out.exists()
