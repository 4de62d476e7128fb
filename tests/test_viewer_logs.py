"""Logs that Foxglove and Lichtblick open (issue 19 item 2): export, record --foxglove, read back, replay.

One bus session (module fixture) makes every kind of log we write: a native ``bag record``, a
``bag record --foxglove`` of the same replay, their ``mcap-json`` and ``foxglove`` exports, a
recovered (cut, then ``bag recover``-ed) viewer file, and a native recording of ``bag play`` of
the foxglove export. The viewers' own reader library (@mcap/core, tests/js/read_mcap.mjs) reads
each with its CRCs checked; every JSON channel's schema goes through the viewers' jsonschema
rules in JavaScript and in Python (test_viewer_json.parser_problems), every message validates.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from jsclients import needs_node, run_node
from mcap.reader import make_reader
from test_logs_fixture import expected
from test_viewer_json import parser_problems, same_values, validate

from causalstream.stream import Broker, Endpoints, Player, Subscriber, read_log
from causalstream.stream.log.foxglove import FoxgloveWriter, JsonChannels
from causalstream.stream.log.info import log_info
from causalstream.stream.log.reader import iter_raw
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import Clock, Features, Message
from causalstream.stream.viewer_json import schema_name

from support import run_cli, spawn_cli, start_bus, stop

try:
    from causalstream.stream.viewer_channels import ViewerChannels
except ImportError:  # the live view's module not on main yet: the bus topics' JSON channels alone
    ViewerChannels = None


def _wait_for(proc: subprocess.Popen, needle: str, limit: int = 50) -> None:
    for _ in range(limit):
        line = proc.stderr.readline()
        if needle in line:
            return
        assert line, f"process ended before printing {needle!r}"
    raise AssertionError(f"no {needle!r} in the first {limit} lines")


@contextlib.contextmanager
def _recorders(bus, *outputs: tuple[Path, tuple[str, ...]]) -> Iterator[None]:  # noqa: ANN001 (Endpoints)
    procs = []
    try:
        for out, extra in outputs:
            procs.append(spawn_cli("bag", "record", "-a", "-o", str(out), *extra, endpoints=bus))
            _wait_for(procs[-1], "recording")
        yield
    finally:
        for p in procs:
            stop(p)


def _play(bus, path: Path) -> None:  # noqa: ANN001
    res = run_cli("bag", "play", str(path), "-r", "0", endpoints=bus, timeout=60)
    assert res.returncode == 0, res.stderr


def _cut_and_recover(tmp: Path) -> tuple[Path, int]:
    """A viewer file of 300 Features in small chunks, cut at 60 %, then `bag recover`-ed."""
    whole = tmp / "long.foxglove.mcap"
    with FoxgloveWriter(whole, chunk_size=2048, fsync=False) as w:
        for i in range(300):
            w.update("/features", Features(stamp_ns=i, names=["a", "b"], values=np.array([i, np.nan])))
    data = whole.read_bytes()
    cut = tmp / "cut.foxglove.mcap"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp / "cut.recovered.mcap"
    res = run_cli("bag", "recover", str(cut), "-o", str(out))
    assert res.returncode == 0, res.stderr
    return out, sum(1 for _ in read_log(out))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("viewer_logs")
    src = tmp / "source.mcap"
    with LogWriter(src, fsync=False) as w:
        for topic, stamp, msg in expected():
            w.write(topic, msg, log_time_ns=stamp)
    ns = SimpleNamespace(source=src, native=tmp / "rec.mcap", recorded=tmp / "rec.foxglove.mcap",
                         mcap_json=tmp / "rec.json.mcap", foxglove=tmp / "export.foxglove.mcap",
                         replayed=tmp / "replayed.mcap")
    bus, broker = start_bus()
    try:
        with _recorders(bus, (ns.native, ()), (ns.recorded, ("--foxglove",))):
            _play(bus, src)
        for fmt, out in (("mcap-json", ns.mcap_json), ("foxglove", ns.foxglove)):
            res = run_cli("bag", "export", str(src), "--format", fmt, "-o", str(out))
            assert res.returncode == 0 and "warning" not in res.stderr, res.stderr
        with _recorders(bus, (ns.replayed, ())):
            _play(bus, ns.foxglove)  # bag play of a viewer file: JSON decoded, msgpack on the bus
    finally:
        stop(broker)
    ns.recovered, ns.recovered_count = _cut_and_recover(tmp)
    return ns


def _messages(path: Path) -> list[tuple[str, Message]]:
    return [(e.topic, e.message) for e in read_log(path)]


def _assert_same_messages(got: list[tuple[str, Message]], want: list[tuple[str, Message]]) -> None:
    assert [t for t, _ in got] == [t for t, _ in want]
    for (topic, g), (_, w) in zip(got, want):
        assert same_values(g, w), (topic, g, w)


def test_every_kind_of_log_reads_back_to_the_messages_sent(logs: SimpleNamespace) -> None:
    want = [(t, m) for t, _, m in expected()]
    for path in (logs.mcap_json, logs.foxglove):
        _assert_same_messages(_messages(path), want)
    recorded = [(t, m) for t, m in want if t != "/bus/stats"]  # `record -a` leaves the bus's own counters out
    for path in (logs.native, logs.recorded, logs.replayed):
        _assert_same_messages(_messages(path), recorded)
    assert logs.recovered_count > 0


def test_the_viewer_files_are_json_channels_the_viewers_parse(logs: SimpleNamespace) -> None:
    for path in (logs.recorded, logs.mcap_json, logs.foxglove, logs.recovered):
        n = 0
        with open(path, "rb") as f:
            for schema, channel, message in make_reader(f).iter_messages():
                if schema.encoding != "jsonschema":
                    continue  # a view channel in another encoding (protobuf ...): the JS test reads it
                js = json.loads(schema.data)
                assert parser_problems(js) == [], (path.name, channel.topic)
                assert channel.message_encoding == "json"
                validate(json.loads(message.data), js)
                n += 1
        assert n > 0, path


def test_native_msgpack_channels_do_not_claim_a_json_schema(logs: SimpleNamespace) -> None:
    for t in log_info(logs.native).topics:
        assert t.encoding == "msgpack"
    with open(logs.native, "rb") as f:
        summary = make_reader(f).get_summary()
    assert {s.encoding for s in summary.schemas.values()} == {"causalstream-msgpack"}
    # the bus topics of a viewer file are named for the viewers, in their encodings
    json_types = {t.type_name for t in log_info(logs.foxglove).topics if not t.view}
    assert json_types == {schema_name(type(m)) for _, _, m in expected()}


@needs_node
def test_mcap_core_reads_every_log_with_crcs_checked(logs: SimpleNamespace) -> None:
    paths = [logs.source, logs.native, logs.recorded, logs.mcap_json, logs.foxglove, logs.replayed, logs.recovered]
    res = run_node("read_mcap.mjs", *map(str, paths))
    assert res.returncode == 0, res.stdout + res.stderr
    reports = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["file"] for r in reports] == list(map(str, paths))
    for path, r in zip(paths, reports):
        count = sum(1 for _ in iter_raw(path))
        assert r["ok"] and r["footer"], r
        assert r["streamed"] == r["indexed"] == r["statisticsMessageCount"] == count, (path.name, r)
        for ch in r["channels"]:
            assert ch["streamed"] == ch["indexed"], (path.name, ch)
            if ch["messageEncoding"] == "json":
                assert ch["refused"] is None and ch["fields"] > 0, (path.name, ch)
                assert ch["jsonParsed"] == ch["streamed"]
            elif ch["messageEncoding"] == "msgpack":
                assert ch["schemaEncoding"] == "causalstream-msgpack", (path.name, ch)
            else:  # the view's scene, predictions and picture: protobuf with the sdk's descriptor set
                assert ch["messageEncoding"] == ch["schemaEncoding"] == "protobuf", (path.name, ch)
                assert ch["protobufRefused"] is None and ch["protobufDecoded"] == ch["streamed"] > 0, (path.name, ch)
        protobuf = {ch["topic"] for ch in r["channels"] if ch["messageEncoding"] == "protobuf"}
        if path in (logs.recorded, logs.foxglove):  # the view's channels: the pictures and the scene at least
            assert {"/view/scene", "/view/graph"} <= protobuf, (path.name, sorted(protobuf))
    # the parser rules in JS refuse the old schemas exactly as the issue says Lichtblick did
    fresh = run_node("read_mcap.mjs", str(Path(__file__).parent / "data" / "log_v1.mcap"))
    legacy = {c["topic"]: c["refused"] for c in json.loads(fresh.stdout)["channels"]}
    assert "anyOf" in legacy["/agents/state"] and "items" in legacy["/features"]
    assert "array" in legacy["/causal/graph"] and "$ref" in legacy["/causal/events"]


_STUDIO = Path(__file__).parent / "js" / "node_modules" / "@foxglove" / "studio-base" / "package.json"


@needs_node
@pytest.mark.skipif(not _STUDIO.is_file(), reason="@foxglove/studio-base not in tests/js/node_modules: run `make js-deps`")
def test_foxgloves_own_parser_takes_every_json_channel_and_message(logs: SimpleNamespace) -> None:
    paths = [logs.recorded, logs.mcap_json, logs.foxglove, logs.recovered, Path(__file__).parent / "data" / "log_v1.mcap"]
    res = run_node("read_mcap.mjs", *map(str, paths))
    assert res.returncode == 0, res.stdout + res.stderr
    *ours, legacy = [json.loads(line) for line in res.stdout.splitlines()]
    for r in ours:
        assert r["foxgloveParser"] and r["foxgloveParser"].startswith("@foxglove/studio-base"), r
        for ch in r["channels"]:
            if ch["schemaEncoding"] == "jsonschema":
                assert ch["foxgloveRefused"] is None and ch["foxgloveFields"] > 0, (r["file"], ch)
                assert ch["foxgloveDecoded"] == ch["streamed"] > 0, (r["file"], ch)
    # and it refuses the old schemas as the issue quotes Lichtblick: "Unsupported type undefined for goal"
    old = {c["topic"]: c["foxgloveRefused"] for c in legacy["channels"]}
    assert old["/agents/state"] == "Unsupported type undefined for goal"
    assert all(old[t] for t in ("/features", "/predictions", "/causal/graph", "/causal/events"))


@needs_node
def test_mcap_core_sees_a_damaged_chunk(tmp_path: Path, logs: SimpleNamespace) -> None:
    data = bytearray(logs.native.read_bytes())
    with open(logs.native, "rb") as f:
        chunk = make_reader(f).get_summary().chunk_indexes[0]
    data[chunk.chunk_start_offset + chunk.chunk_length - 20] ^= 0xFF  # in the chunk's compressed records
    bad = tmp_path / "flipped.mcap"
    bad.write_bytes(bytes(data))
    res = run_node("read_mcap.mjs", str(bad))
    report = json.loads(res.stdout)
    assert res.returncode == 1 and not report["ok"], report


def test_bag_info_lists_a_viewer_file(logs: SimpleNamespace) -> None:
    res = run_cli("bag", "info", str(logs.recorded), env_extra={"COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    for topic, _, msg in expected()[:8]:  # /bus/stats is not recorded by -a
        assert topic in res.stdout and schema_name(type(msg)) in res.stdout
    assert "json" in res.stdout and "msgpack" not in res.stdout


class _WithPicture(JsonChannels):
    """The bus topic's JSON channel plus one view-only channel, as ViewerChannels makes them."""

    def update(self, topic: str, msg: Message) -> list:
        recs = super().update(topic, msg)
        pic = recs[0]._replace(topic=topic + "/picture", schema_name="foxglove.RawImage",
                               schema_data=b'{"type": "object", "properties": {"width": {"type": "integer"}}}',
                               data=b'{"width": 3}')
        return [*recs, pic]


def test_view_only_channels_are_listed_skipped_by_read_log_and_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "pic.foxglove.mcap"
    with FoxgloveWriter(path, fsync=False, view=_WithPicture()) as w:
        for i in range(3):
            w.update("/features", Features(stamp_ns=i, names=["a"], values=np.array([i * 1.0])))
    info = {t.topic: t for t in log_info(path).topics}
    assert info["/features/picture"].view and not info["/features"].view
    assert [e.topic for e in read_log(path)] == ["/features"] * 3
    res = run_cli("bag", "info", str(path), env_extra={"COLUMNS": "200"})
    assert "/features/picture  (view)" in res.stdout and "foxglove.RawImage" in res.stdout
    again = tmp_path / "again.foxglove.mcap"  # exporting a viewer file again: the pictures are made anew
    assert run_cli("bag", "export", str(path), "-f", "mcap-json", "-o", str(again)).returncode == 0
    assert [t.topic for t in log_info(again).topics] == ["/features"]


@pytest.mark.skipif(ViewerChannels is None, reason="stream/viewer_channels.py (the live view) not on main yet")
def test_the_foxglove_export_carries_the_live_views_channels(logs: SimpleNamespace) -> None:
    assert ViewerChannels is not None
    view = ViewerChannels()
    want = {(r.topic, r.schema_name) for t, _, m in expected() for r in view.update(t, m)}
    got = {(t.topic, t.type_name) for t in log_info(logs.foxglove).topics}
    assert got == want and any(t.view for t in log_info(logs.foxglove).topics)


def test_a_damaged_log_exports_what_reads_and_says_the_loss(tmp_path: Path) -> None:
    src = tmp_path / "long.mcap"
    with LogWriter(src, chunk_size=2048, fsync=False) as w:
        for i in range(400):
            w.write("/features", Features(stamp_ns=i, names=["a", "b"], values=np.array([i, -i * 1.0])))
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    for fmt in ("foxglove", "mcap-json", "csv"):
        out = tmp_path / f"out.{fmt}"
        res = run_cli("bag", "export", str(cut), "-f", fmt, "-o", str(out), env_extra={"COLUMNS": "300"})
        assert res.returncode == 0, res.stderr
        assert "warning: damaged log" in res.stderr and "lost" in res.stderr, res.stderr
        n = int(re.search(r"\((\d+) messages\)", res.stderr).group(1))
        assert 0 < n < 400
        if fmt != "csv":
            got = [e.message.values[0] for e in read_log(out)]
            assert got == list(range(n))
    empty = tmp_path / "empty.mcap"
    empty.write_bytes(b"")
    res = run_cli("bag", "export", str(empty), "-f", "foxglove")
    assert res.returncode == 2 and "empty file" in res.stderr and "Traceback" not in res.stderr


def test_record_foxglove_splits_into_files_that_each_open(tmp_path: Path) -> None:
    bus, broker = start_bus()
    src = tmp_path / "src.mcap"
    with LogWriter(src, fsync=False) as w:
        for i in range(40):
            w.write("/features", Features(stamp_ns=i * 50_000_000, names=["a"], values=np.array([float(i)])),
                    log_time_ns=i * 50_000_000)
    out = tmp_path / "split.mcap"
    try:
        with _recorders(bus, (out, ("--foxglove", "--max-bag-size", "600"))):
            _play(bus, src)
    finally:
        stop(broker)
    parts = sorted(tmp_path.glob("split_*.mcap"), key=lambda p: int(p.stem.split("_")[1]))
    assert len(parts) >= 2
    values = [e.message.values[0] for p in parts for e in read_log(p)]
    assert values == [float(i) for i in range(40)]
    assert shutil.which("node") is None or all(
        json.loads(line)["ok"] for line in run_node("read_mcap.mjs", *map(str, parts)).stdout.splitlines())


def test_a_json_message_that_does_not_decode_is_left_out_by_read_play_and_export(tmp_path: Path) -> None:
    path = tmp_path / "bad.foxglove.mcap"
    with FoxgloveWriter(path, fsync=False, view=JsonChannels()) as w:
        w.update("/tick", Clock(stamp_ns=1))
        bad = JsonChannels().update("/tick", Clock(stamp_ns=2))[0]._replace(data=b'{"stamp": 7}')
        w.writer.write_record(bad)
        w.update("/tick", Clock(stamp_ns=3))
    assert [e.message.stamp_ns for e in read_log(path)] == [1, 3]
    with Broker(Endpoints.parse("inproc://viewer-logs-bad")) as b:
        sub = Subscriber("/tick", endpoints=b.endpoints).wait_ready(2.0)
        with Player(path, endpoints=b.endpoints, rate=0) as player:
            stats = player.run()
        got = [sub.recv(2.0).message.stamp_ns for _ in range(2)]
        sub.close()
    assert got == [1, 3] and stats.messages == 2 and player.undecodable == 1
    res = run_cli("bag", "export", str(path), "-f", "jsonl", "-o", str(tmp_path / "bad.jsonl"), env_extra={"COLUMNS": "300"})
    assert res.returncode == 0 and "left out 1 messages on /tick" in res.stderr, res.stderr
    assert len((tmp_path / "bad.jsonl").read_text().splitlines()) == 2
