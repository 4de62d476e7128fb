"""Logs as files: importers on real and hand-made inputs, export, info, damage and recovery."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mcap.reader import NonSeekingReader, make_reader
from mcap.stream_reader import StreamReader
from rosbags.rosbag1 import Writer as Bag1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Bag2Writer
from rosbags.typesys import Stores, get_typestore

from causalstream.stream import read_log, to_dataframe
from causalstream.stream.errors import LogError
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.log.chunks import iter_records
from causalstream.stream.log.reader import check_log, iter_raw
from causalstream.stream.messages import AgentStates, Features

from support import ROOT, run_cli
from test_viewer_json import parser_problems, validate

ETH = ROOT / "bench" / "data" / "eth_ucy" / "all_data" / "biwi_eth.txt"


# -- ETH/UCY -----------------------------------------------------------------------------


def test_eth_ucy_on_a_real_file(tmp_path: Path) -> None:
    src = tmp_path / "eth300.txt"
    src.write_text("".join(ETH.read_text().splitlines(keepends=True)[:300]))
    out = tmp_path / "eth.mcap"
    res = run_cli("bag", "import", str(src), "--from", "eth-ucy", "-o", str(out))
    assert res.returncode == 0, res.stderr
    raw = np.loadtxt(src)
    frames = [e for e in read_log(out)]
    assert len(frames) == len(np.unique(raw[:, 0]))
    assert all(e.topic == "/agents/state" for e in frames)
    first_frame = raw[0, 0]
    # every observation is in the frame of its time, with id p<ped>
    for f, ped, x, y in raw[:50]:
        msg = frames[int(np.searchsorted(np.unique(raw[:, 0]), f))].message
        assert msg.stamp_ns == round((f - first_frame) / 10 / 2.5 * 1e9)
        i = msg.ids.index(f"p{int(ped)}")
        assert (msg.x[i], msg.y[i]) == (x, y) and msg.roles[i] == "human"
    # velocity of pedestrian 1 at its third observation: central difference
    track = raw[raw[:, 1] == 1.0]
    t = (track[:, 0] - first_frame) * 0.04
    want = (track[3, 2] - track[1, 2]) / (t[3] - t[1])
    msg = frames[int(np.searchsorted(np.unique(raw[:, 0]), track[2, 0]))].message
    assert math.isclose(msg.vx[msg.ids.index("p1")], want)


def test_eth_ucy_garbage_is_one_line_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "bad.txt"
    src.write_text("frame ped x\n1 2 3\n")
    res = run_cli("bag", "import", str(src), "--from", "eth-ucy", "-o", str(tmp_path / "o.mcap"))
    assert res.returncode == 2 and "not ETH/UCY text" in res.stderr and len(res.stderr.strip().splitlines()) == 1


# -- CSV / Parquet -----------------------------------------------------------------------


def test_csv_seconds_and_parquet_nanoseconds(tmp_path: Path) -> None:
    csv = tmp_path / "run.csv"
    csv.write_text("label,t,robot.v,h1.d\na,0.2,1.0,\nb,0.1,0.5,3.0\n")
    out = tmp_path / "csv.mcap"
    res = run_cli("bag", "import", str(csv), "--from", "csv", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "label (not numeric)" in res.stderr
    got = [(e.stamp_ns, e.message.names, e.message.values.tolist()) for e in read_log(out)]
    assert got[0] == (100_000_000, ["robot.v", "h1.d"], [0.5, 3.0])
    assert got[1][0] == 200_000_000 and math.isnan(got[1][2][1])

    pq = tmp_path / "run.parquet"
    pd.DataFrame({"Timestamp": [1_700_000_000_000_000_000, 1_700_000_000_500_000_000], "v": [1.0, 2.0]}).to_parquet(pq)
    out2 = tmp_path / "pq.mcap"
    assert run_cli("bag", "import", str(pq), "--from", "csv", "-o", str(out2)).returncode == 0
    assert [e.stamp_ns for e in read_log(out2)] == [1_700_000_000_000_000_000, 1_700_000_000_500_000_000]

    named = tmp_path / "named.csv"
    named.write_text("when,v\n1,2\n")
    res = run_cli("bag", "import", str(named), "--from", "csv", "--time-column", "when", "-o", str(tmp_path / "n.mcap"))
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("content, words", [
    ("a,b\n1,2\n", "no time column"),
    ("", "empty file"),
    ("t,v\n", "no rows"),
])
def test_bad_tables_are_one_line_exit_2(tmp_path: Path, content: str, words: str) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(content)
    res = run_cli("bag", "import", str(src), "--from", "csv", "-o", str(tmp_path / "o.mcap"))
    assert res.returncode == 2 and words in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.mcap").exists()


# -- ROS bags ----------------------------------------------------------------------------


def _ros_messages(ts):  # noqa: ANN001, ANN202 - rosbags' generated types
    T = ts.types
    time = lambda k: T["builtin_interfaces/msg/Time"](sec=k, nanosec=0)  # noqa: E731
    ros1 = "seq" in T["std_msgs/msg/Header"].__dataclass_fields__
    header = lambda k, frame: T["std_msgs/msg/Header"](  # noqa: E731
        **({"seq": k} if ros1 else {}), stamp=time(k), frame_id=frame)
    vec = lambda x, y: T["geometry_msgs/msg/Vector3"](x=x, y=y, z=0.0)  # noqa: E731
    quat = lambda yaw: T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))  # noqa: E731
    pose = lambda x, y, yaw: T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=x, y=y, z=0.0),  # noqa: E731
                                                          orientation=quat(yaw))
    twist = lambda vx: T["geometry_msgs/msg/Twist"](linear=vec(vx, 0.0), angular=vec(0.0, 0.0))  # noqa: E731
    odom = T["nav_msgs/msg/Odometry"](
        header=header(1, "odom"), child_frame_id="base_link",
        pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose(1.0, 2.0, math.pi / 2), covariance=np.zeros(36)),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=twist(1.0), covariance=np.zeros(36)))
    poses = [T["geometry_msgs/msg/PoseWithCovarianceStamped"](
        header=header(k, "map"), pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose(k * 0.5, 0.0, 0.0),
                                                                               covariance=np.zeros(36)))
        for k in (1, 2, 3)]
    tw = T["geometry_msgs/msg/TwistStamped"](header=header(2, "map"), twist=twist(0.7))
    chatter = T["std_msgs/msg/String"](data="hello")
    return [("/robot1/odom", "nav_msgs/msg/Odometry", 1, odom),
            *[("/human/pose", "geometry_msgs/msg/PoseWithCovarianceStamped", k + 1, m) for k, m in enumerate(poses)],
            ("/robot1/cmd", "geometry_msgs/msg/TwistStamped", 2, tw),
            ("/chatter", "std_msgs/msg/String", 2, chatter)]


def _write_bag(path: Path, kind: str, only_unknown: bool = False) -> Path:
    ts = get_typestore(Stores.ROS1_NOETIC if kind == "ros1" else Stores.ROS2_HUMBLE)
    msgs = [m for m in _ros_messages(ts) if not only_unknown or m[1] == "std_msgs/msg/String"]
    if kind == "ros1":
        writer = Bag1Writer(path)
    else:
        plugin = StoragePlugin.MCAP if kind == "ros2-mcap" else StoragePlugin.SQLITE3
        writer = Bag2Writer(path, version=9, storage_plugin=plugin)
    with writer:
        conns = {}
        for topic, msgtype, sec, msg in sorted(msgs, key=lambda m: m[2]):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=ts)
            data = ts.serialize_ros1(msg, msgtype) if kind == "ros1" else ts.serialize_cdr(msg, msgtype)
            writer.write(conns[topic], sec * 1_000_000_000, data)
    return path


@pytest.mark.parametrize("kind", ["ros1", "ros2-sqlite3", "ros2-mcap"])
def test_rosbag_import(tmp_path: Path, kind: str) -> None:
    bag = _write_bag(tmp_path / ("in.bag" if kind == "ros1" else "in_bag"), kind)
    out = tmp_path / "out.mcap"
    res = run_cli("bag", "import", str(bag), "--from", "rosbag", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "/chatter (std_msgs/msg/String)" in res.stderr  # unknown types are named, not fatal
    msgs = [e.message for e in read_log(out)]
    assert len(msgs) == 5 and all(isinstance(m, AgentStates) and len(m.ids) == 1 for m in msgs)
    by_agent = {}
    for m in msgs:
        by_agent.setdefault(m.ids[0], []).append(m)
    odom = by_agent["robot1"][0]
    assert (odom.x[0], odom.y[0]) == (1.0, 2.0)
    assert math.isclose(odom.heading[0], math.pi / 2)
    assert abs(odom.vx[0]) < 1e-12 and math.isclose(odom.vy[0], 1.0)  # body-frame twist rotated into the world
    human = by_agent["human"]
    assert [m.x[0] for m in human] == [0.5, 1.0, 1.5]
    assert [m.vx[0] for m in human] == [0.0, 0.5, 0.5]  # finite differences of poses 1 s apart
    cmd = by_agent["robot1"][1]
    assert math.isnan(cmd.x[0]) and cmd.vx[0] == 0.7


def test_rosbag_with_no_known_type_is_one_line_exit_2(tmp_path: Path) -> None:
    bag = _write_bag(tmp_path / "chat.bag", "ros1", only_unknown=True)
    res = run_cli("bag", "import", str(bag), "--from", "rosbag", "-o", str(tmp_path / "o.mcap"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("error:") == 1 and "no topic of a known type" in res.stderr and "/chatter" in res.stderr


# -- export, Foxglove --------------------------------------------------------------------


def _agents_log(path: Path, n: int = 5) -> list[AgentStates]:
    msgs = [AgentStates(stamp_ns=k * 100, ids=["r", "h1", "h2"], roles=["robot", "human", "human"],
                        x=np.arange(3.0) + k, y=np.zeros(3), vx=np.ones(3), vy=np.zeros(3),
                        goal=np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 4.0]])) for k in range(n)]
    with LogWriter(path) as w:
        for k, m in enumerate(msgs):
            w.write("/agents/state", m)
            w.write("/features", Features(stamp_ns=k * 100, names=["robot.v", "h1.v"], values=np.array([k, np.nan])))
    return msgs


def test_to_dataframe_layouts_and_export_formats(tmp_path: Path) -> None:
    path = tmp_path / "mixed.mcap"
    _agents_log(path)
    agents = to_dataframe(path, "/agents/state")
    assert len(agents) == 15 and list(agents["agent_id"][:3]) == ["r", "h1", "h2"]
    assert agents["goal_y"].iloc[2] == 4.0 and math.isnan(agents["goal_x"].iloc[1])
    feats = to_dataframe(path, "/features")
    assert list(feats.columns) == ["log_time_ns", "stamp_ns", "robot.v", "h1.v"] and feats["robot.v"].tolist() == [0, 1, 2, 3, 4]

    res = run_cli("bag", "export", str(path), "--format", "parquet", "-o", str(tmp_path / "tables"))
    assert res.returncode == 0, res.stderr
    assert pd.read_parquet(tmp_path / "tables" / "features.parquet")["robot.v"].tolist() == [0, 1, 2, 3, 4]
    assert len(pd.read_parquet(tmp_path / "tables" / "agents_state.parquet")) == 15
    res = run_cli("bag", "export", str(path), "--format", "jsonl", "--topics", "/features")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in (tmp_path / "mixed.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and lines[1]["message"]["values"] == [1.0, None]


def test_mcap_json_export_opens_as_json_with_json_schema(tmp_path: Path) -> None:
    path = tmp_path / "mixed.mcap"
    sent = _agents_log(path)
    out = tmp_path / "fox.mcap"
    res = run_cli("bag", "export", str(path), "--format", "mcap-json", "-o", str(out))
    assert res.returncode == 0, res.stderr
    n = 0
    with open(out, "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages():
            assert channel.message_encoding == "json" and schema.encoding == "jsonschema"
            js = json.loads(schema.data)
            assert parser_problems(js) == []  # what Foxglove's / Lichtblick's parser takes
            data = json.loads(message.data)
            validate(data, js)  # null is NaN
            if channel.topic == "/agents/state":
                assert schema.name == "causalstream.AgentStates"
                assert data["goal"][2:4] == [None, None] and data["goal_shape"] == [len(sent[n].ids), 2]
                assert data["x"] == sent[n].x.tolist()
                n += 1
    assert n == len(sent)


# -- damage, info, recover ---------------------------------------------------------------


def _flushed_then_cut(path: Path) -> tuple[Path, int]:
    """A log of 4 flushed chunks of 100 messages plus a fifth chunk cut in half."""
    w = LogWriter(path)
    for k in range(500):
        w.write("/features", Features(stamp_ns=k + 1, names=["k"], values=np.array([float(k)])))
        if k % 100 == 99:
            w.flush()
    w.close()
    data = path.read_bytes()
    summary = check_log(path)
    last = max(summary.chunk_indexes, key=lambda c: c.chunk_start_offset)
    cut = path.with_name("cut.mcap")
    cut.write_bytes(data[: last.chunk_start_offset + last.chunk_length // 2])
    return cut, 400


def test_info_and_play_on_a_truncated_file_say_what_is_readable(tmp_path: Path) -> None:
    cut, readable = _flushed_then_cut(tmp_path / "full.mcap")
    for cmd in (["bag", "info", str(cut)], ["bag", "play", str(cut), "--bus", "tcp://127.0.0.1:1"]):
        res = run_cli(*cmd)
        assert res.returncode == 2, res.stderr
        assert f"{readable} messages are readable" in res.stderr and "bag recover" in res.stderr, res.stderr
    with pytest.raises(LogError):
        list(read_log(cut))
    res = run_cli("bag", "recover", str(cut))
    assert res.returncode == 0, res.stderr
    stamps = [e.message.stamp_ns for e in read_log(tmp_path / "cut.recovered.mcap")]
    assert stamps == list(range(1, readable + 1))


def test_not_an_mcap_and_empty_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"hello world, not a log at all")
    empty = tmp_path / "empty.mcap"
    empty.write_bytes(b"")
    for path, words in ((junk, "not an MCAP file"), (empty, "empty file")):
        res = run_cli("bag", "info", str(path))
        assert res.returncode == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1


# -- our MCAP writer and chunk reader against the mcap package's readers -----------------


def test_our_writer_and_reader_agree_with_mcaps_readers(tmp_path: Path) -> None:
    path = tmp_path / "many.mcap"
    rng = np.random.default_rng(1)
    with LogWriter(path, chunk_size=4096) as w:  # many chunks
        for k in range(2000):
            topic = ("/features", "/a", "/b")[k % 3]
            w.write(topic, Features(stamp_ns=k, names=["v"], values=rng.normal(size=1)), log_time_ns=10 * k, sequence=k)
    with open(path, "rb") as f:
        theirs = [(c.topic, m.log_time, m.publish_time, m.sequence, m.data)
                  for _, c, m in make_reader(f).iter_messages(log_time_order=True)]
    with open(path, "rb") as f:
        crc_checked = sum(1 for _ in NonSeekingReader(f, validate_crcs=True).iter_messages(log_time_order=False))
    with open(path, "rb") as f:
        records = list(StreamReader(f, validate_crcs=True).records)  # data section + summary + footer, all parse
    summary = check_log(path)
    assert len(theirs) == crc_checked == 2000 and summary.statistics.message_count == 2000
    assert len(summary.chunk_indexes) > 10 and type(records[-1]).__name__ == "Footer"
    ours = [(r.channel.topic, r.log_time, r.publish_time, r.sequence, r.data) for r in iter_raw(path)]
    assert ours == theirs
    with open(path, "rb") as f:
        only_b = [(r.channel.topic, r.log_time) for r in iter_records(f, topics=["/b"], start_ns=10_000)]
    assert only_b == [(t, lt) for t, lt, *_ in theirs if t == "/b" and lt >= 10_000]
