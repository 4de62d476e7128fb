"""Frames: the transform tree, and bag import bringing a TurtleBot's /odom and /amcl_pose into one map frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag1 import Writer as Bag1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Bag2Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from causalstream.stream import read_log
from causalstream.stream.frames import Transform, TransformTree

from support import run_cli


def test_lookup_chains_inverts_and_interpolates() -> None:
    tree = TransformTree()
    tree.update("map", "odom", 0, 0.0, 0.0, math.pi - 0.1)
    tree.update("map", "odom", 10, 0.0, 0.0, -math.pi + 0.1)  # across +-pi: the shorter arc
    tree.update("odom", "base_link", 0, 1.0, 0.0, 0.0, static=True)
    assert abs(abs(tree.lookup("map", "odom", 5).yaw) - math.pi) < 1e-12
    t = tree.lookup("map", "base_link", 0)
    x, y = t.apply(0.0, 0.0)
    assert math.isclose(x, math.cos(math.pi - 0.1)) and math.isclose(y, math.sin(math.pi - 0.1))
    back = tree.lookup("base_link", "map", 0)
    assert np.allclose(back.apply(x, y), (0.0, 0.0), atol=1e-12)
    assert tree.lookup("map", "odom", 20) == tree.lookup("map", "odom", 10)  # the last one holds
    assert tree.lookup("map", "base_link", -1) is None  # no extrapolation backwards
    assert tree.lookup("base_link", "odom", -5) is not None  # static: timeless


# -- a TurtleBot-like bag: truth in map; /odom in odom; /tf map->odom drifting -------------


def _truth(t: float) -> tuple[float, float, float]:  # the robot in the map frame
    return 2.0 + 0.5 * t, 1.0 + 0.3 * math.sin(t), 0.4 + 0.05 * t


def _map_to_odom(t: float) -> Transform:  # amcl's correction, drifting linearly (interpolation is exact)
    return Transform(9.0 + 0.2 * t, -3.0 + 0.1 * t, 0.3 + 0.02 * t)


def _write(path: Path, kind: str, with_tf: bool) -> Path:
    ts = get_typestore(Stores.ROS1_NOETIC if kind == "ros1" else Stores.ROS2_HUMBLE)
    ros1 = kind == "ros1"
    if ros1:  # noetic's store lacks tf2_msgs; its definition is one line
        ts.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage"))
    T = ts.types

    def stamp(t: float):  # noqa: ANN202
        ns = round(t * 1e9)
        return T["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def header(t: float, frame: str):  # noqa: ANN202
        return T["std_msgs/msg/Header"](**({"seq": 0} if ros1 else {}), stamp=stamp(t), frame_id=frame)

    def quat(yaw: float):  # noqa: ANN202
        return T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))

    def pose(x: float, y: float, yaw: float):  # noqa: ANN202
        return T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=x, y=y, z=0.0), orientation=quat(yaw))

    def tfmsg(t: float, parent: str, child: str, tr: Transform):  # noqa: ANN202
        stamped = T["geometry_msgs/msg/TransformStamped"](
            header=header(t, parent), child_frame_id=child,
            transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=tr.x, y=tr.y, z=0.0), rotation=quat(tr.yaw)))
        return T["tf2_msgs/msg/TFMessage"](transforms=[stamped])

    zero = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    msgs = []  # (t, topic, type, msg)
    for k in range(19, 200):  # /odom at 20 Hz from 0.95 s: the first one comes before any /tf
        t = k * 0.05
        x, y, yaw = _truth(t)
        ox, oy = _map_to_odom(t).inverse().apply(x, y)
        oyaw = yaw - _map_to_odom(t).yaw
        odom = T["nav_msgs/msg/Odometry"](
            header=header(t, "odom"), child_frame_id="base_footprint",
            pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose(ox, oy, oyaw), covariance=np.zeros(36)),
            twist=T["geometry_msgs/msg/TwistWithCovariance"](
                twist=T["geometry_msgs/msg/Twist"](linear=zero, angular=zero), covariance=np.zeros(36)))
        msgs.append((t, "/tb3/odom", "nav_msgs/msg/Odometry", odom))
    for k in range(3, 20):  # /amcl_pose at 2 Hz, in map
        t = k * 0.5 + 0.25
        amcl = T["geometry_msgs/msg/PoseWithCovarianceStamped"](
            header=header(t, "map"), pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose(*_truth(t)),
                                                                                   covariance=np.zeros(36)))
        msgs.append((t, "/tb3/amcl_pose", "geometry_msgs/msg/PoseWithCovarianceStamped", amcl))
    if with_tf:
        for k in range(10, 101):  # /tf map->odom at 10 Hz from 1 s
            msgs.append((k * 0.1, "/tf", "tf2_msgs/msg/TFMessage", tfmsg(k * 0.1, "map", "odom", _map_to_odom(k * 0.1))))
        msgs.append((0.5, "/tf_static", "tf2_msgs/msg/TFMessage",
                     tfmsg(0.5, "base_footprint", "base_scan", Transform(0.1, 0.0, 0.0))))
    if ros1:
        writer = Bag1Writer(path)
    else:
        writer = Bag2Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    with writer:
        conns = {}
        for t, topic, msgtype, msg in sorted(msgs, key=lambda m: m[0]):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=ts)
            data = ts.serialize_ros1(msg, msgtype) if ros1 else ts.serialize_cdr(msg, msgtype)
            writer.write(conns[topic], round(t * 1e9), data)
    return path


@pytest.mark.parametrize("kind", ["ros1", "ros2-mcap"])
def test_turtlebot_odom_and_amcl_become_one_agent_in_map(tmp_path: Path, kind: str) -> None:
    bag = _write(tmp_path / ("tb3.bag" if kind == "ros1" else "tb3"), kind, with_tf=True)
    out = tmp_path / "out.mcap"
    res = run_cli("bag", "import", str(bag), "--from", "rosbag", "--frame", "map", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "skipped: 1 message(s) before the first transform odom -> map" in res.stderr, res.stderr
    assert "/tf" not in res.stderr  # tf topics are used, not listed as skipped
    msgs = [e.message for e in read_log(out)]
    assert len(msgs) == 180 + 17
    assert {m.ids[0] for m in msgs} == {"tb3"} and {m.frame_id for m in msgs} == {"map"}
    worst = 0.0
    for m in msgs:
        x, y, yaw = _truth(m.stamp_ns / 1e9)
        worst = max(worst, abs(m.x[0] - x), abs(m.y[0] - y), abs(math.remainder(m.heading[0] - yaw, math.tau)))
    assert worst < 1e-6, worst


@pytest.mark.parametrize("kind", ["ros1", "ros2-mcap"])
def test_without_tf_the_frames_are_named_one_line_exit_2(tmp_path: Path, kind: str) -> None:
    bag = _write(tmp_path / ("tb3.bag" if kind == "ros1" else "tb3"), kind, with_tf=False)
    out = tmp_path / "out.mcap"
    res = run_cli("bag", "import", str(bag), "--from", "rosbag", "-o", str(out))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "agent tb3 has poses in frames 'map' (/tb3/amcl_pose) and 'odom' (/tb3/odom)" in res.stderr
    res = run_cli("bag", "import", str(bag), "--from", "rosbag", "--frame", "map", "-o", str(out))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "no transform from frame 'odom' (/tb3/odom) to 'map'" in res.stderr
    assert not out.exists()


def test_frames_kept_per_agent_without_frame_option(tmp_path: Path) -> None:
    bag = _write(tmp_path / "tb3.bag", "ros1", with_tf=True)
    out = tmp_path / "out.mcap"
    res = run_cli("bag", "import", str(bag), "--from", "rosbag", "--agent-by", "frame", "-o", str(out))
    assert res.returncode == 0, res.stderr  # odom's agent is base_footprint, amcl's is map: two agents
    frames = {m.ids[0]: m.frame_id for m in (e.message for e in read_log(out))}
    assert frames == {"base_footprint": "odom", "map": "map"}


def test_a_truncated_ros2_mcap_imports_what_is_readable_and_says_what_was_lost(tmp_path: Path) -> None:
    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types
    zero = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    n = 8000  # ~0.7 kB each: several 1 MB chunks
    with Bag2Writer(tmp_path / "long", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/tb3/odom", "nav_msgs/msg/Odometry", typestore=ts)
        for k in range(n):
            odom = T["nav_msgs/msg/Odometry"](
                header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1 + k // 100,
                                                                                        nanosec=(k % 100) * 10_000_000),
                                                frame_id="odom"),
                child_frame_id="base_footprint",
                pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=T["geometry_msgs/msg/Pose"](
                    position=T["geometry_msgs/msg/Point"](x=float(k), y=0.0, z=0.0),
                    orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)), covariance=np.zeros(36)),
                twist=T["geometry_msgs/msg/TwistWithCovariance"](
                    twist=T["geometry_msgs/msg/Twist"](linear=zero, angular=zero), covariance=np.zeros(36)))
            writer.write(conn, (1 + k // 100) * 1_000_000_000 + (k % 100) * 10_000_000, ts.serialize_cdr(odom, conn.msgtype))
    whole = (tmp_path / "long" / "long.mcap").read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(whole[: len(whole) * 7 // 10])  # the recorder killed: no summary, a chunk cut
    out = tmp_path / "out.mcap"
    res = run_cli("bag", "import", str(cut), "--from", "rosbag", "-o", str(out))
    assert res.returncode == 0, res.stderr
    xs = [e.message.x[0] for e in read_log(out)]
    assert 0 < len(xs) < n and xs == [float(k) for k in range(len(xs))]  # the first messages, in order
    assert f"truncated: read {len(xs)} messages up to byte " in res.stderr and f"of {len(cut.read_bytes())};" in res.stderr
