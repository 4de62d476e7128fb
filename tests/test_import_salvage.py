"""Truncated ROS bags import what is readable and say what was lost (issue 20, bad input).

ROS 1 bags from rosbags' writer, uncompressed, bz2 and lz4, cut inside a chunk and inside the
index; and the real thing: ``rosbag record`` killed with SIGKILL, which leaves ``NAME.bag.active``
(no index, a chunk cut short). The ROS 2 ``.mcap`` case is in tests/test_frames.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import xmlrpc.client
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag1 import Writer as Bag1Writer
from rosbags.typesys import Stores, get_typestore

from causalstream.stream import read_log

from support import free_port_pair, run_cli

N = 500


def _odom(ts, k: int):
    T = ts.types
    zero = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    return T["nav_msgs/msg/Odometry"](
        header=T["std_msgs/msg/Header"](seq=k, stamp=T["builtin_interfaces/msg/Time"](sec=1 + k // 10,
                                                                                     nanosec=(k % 10) * 100_000_000),
                                        frame_id="odom"),
        child_frame_id="base_link",
        pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=T["geometry_msgs/msg/Pose"](
            position=T["geometry_msgs/msg/Point"](x=float(k), y=0.0, z=0.0),
            orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)), covariance=np.zeros(36)),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=T["geometry_msgs/msg/Twist"](linear=zero, angular=zero),
                                                         covariance=np.zeros(36)))


def _bag(path: Path, compression: str) -> Path:
    ts = get_typestore(Stores.ROS1_NOETIC)
    writer = Bag1Writer(path)
    if compression != "none":
        writer.set_compression(getattr(Bag1Writer.CompressionFormat, compression.upper()))
    writer.chunk_threshold = 8 * 1024  # many chunks, so that a cut falls inside one
    with writer:
        conn = writer.add_connection("/robot/odom", "nav_msgs/msg/Odometry", typestore=ts)
        for k in range(N):
            writer.write(conn, (1 + k // 10) * 1_000_000_000 + (k % 10) * 100_000_000,
                         ts.serialize_ros1(_odom(ts, k), conn.msgtype))
    return path


def _import(src: Path, tmp: Path) -> tuple[list[float], str]:
    out = tmp / f"{src.name}.mcap"
    res = run_cli("bag", "import", str(src), "--from", "rosbag", "-o", str(out))
    assert res.returncode == 0, res.stderr
    return [e.message.x[0] for e in read_log(out)], res.stderr


@pytest.mark.parametrize("compression", ["none", "bz2", "lz4"])
@pytest.mark.parametrize("keep", [0.45, 0.97])
def test_a_truncated_ros1_bag_imports_its_first_messages(tmp_path: Path, compression: str, keep: float) -> None:
    whole = _bag(tmp_path / "whole.bag", compression).read_bytes()
    cut = tmp_path / "cut.bag"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    xs, err = _import(cut, tmp_path)
    assert 0 < len(xs) <= N and xs == [float(k) for k in range(len(xs))]  # a prefix, in order, nothing invented
    if keep < 0.5:  # the cut is among the chunks: about as many messages as bytes kept, minus the cut chunk
        assert 0.3 * N < len(xs) < 0.5 * N, len(xs)
    assert f"truncated: read {len(xs)} messages up to byte " in err and f"of {len(cut.read_bytes())};" in err


def _master_up(uri: str) -> bool:
    try:
        xmlrpc.client.ServerProxy(uri).getPid("/probe")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not (shutil.which("roscore") and shutil.which("rosbag") and shutil.which("rostopic")),
                    reason="ROS 1 not installed (roscore, rosbag, rostopic): run .ci/ros1_env.sh as root on Debian")
def test_a_killed_rosbag_record_leaves_a_bag_that_imports(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port_pair()}"
    env = dict(os.environ, ROS_MASTER_URI=uri, ROS_HOME=str(tmp_path / "ros_home"))
    procs: list[subprocess.Popen] = []

    def spawn(*cmd: str) -> subprocess.Popen:
        procs.append(subprocess.Popen(list(cmd), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT, start_new_session=True))
        return procs[-1]

    try:
        spawn("roscore", "-p", uri.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while not _master_up(uri):
            assert time.monotonic() < deadline, "roscore did not answer in 60 s"
            time.sleep(0.2)
        recorder = spawn("rosbag", "record", "-O", "run.bag", "/robot/odom")
        spawn("rostopic", "pub", "-r", "100", "/robot/odom", "nav_msgs/Odometry",
              "{header: {stamp: now, frame_id: odom}, pose: {pose: {position: {x: 1.0}, orientation: {w: 1.0}}}}")
        active = tmp_path / "run.bag.active"
        deadline = time.monotonic() + 60
        while not active.exists() or active.stat().st_size < 20_000:  # some chunks written
            assert time.monotonic() < deadline and recorder.poll() is None, "rosbag record wrote nothing"
            time.sleep(0.2)
        os.killpg(recorder.pid, signal.SIGKILL)  # no index written, the last chunk open
        recorder.wait()
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    xs, err = _import(active, tmp_path)
    assert len(xs) > 10 and set(xs) == {1.0}, (len(xs), err)
    assert f"truncated: read {len(xs)} messages up to byte " in err
