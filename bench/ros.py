"""ROS benchmark: the live ROS 1 bridge, and `bag import` of every ROS bag form.

Bridge (needs Debian's ROS 1: `make ros1-env`): a real roscore on a free port; a rospy
publisher sends nav_msgs/Odometry for 10 agents (/a0/odom .. /a9/odom) at 100 Hz each, the
header stamp set just before each publish (wall clock). At the same time, on the same topics:

- ``ros1_bridge`` (rate_hz 0: a bus frame per ROS message) -> broker -> this process's
  Subscriber: latency = bus receive time - header stamp, and bridged messages per second;
- a plain rospy subscriber (ROS -> ROS, the baseline): the same latency inside ROS;
- ``rostopic hz /a0/odom``: ROS's own rate of one topic.

The bridge's added latency is its p50 / p99 minus the rospy subscriber's. A flood run (the
publisher as fast as rospy goes, 10 topics) loads the bridge harder; when it forwards every
message, the rate is the publisher's, not the bridge's limit (the p99s there are queueing in
rospy, and their difference means little).

Import: bags of 20,000 Odometry messages (10 topics) written by rosbags' writers in the ROS 1
.bag form and the ROS 2 forms (a single .mcap file, an mcap folder, a sqlite3 folder), read
through `bag import`'s code path (``get_importer("rosbag").run``, best of 3): messages a second.

Writes bench/results/ros.json and prints a table.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from rosbags.rosbag1 import Writer as Bag1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Bag2Writer
from rosbags.typesys import Stores, get_typestore

from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.importers import get_importer
from causalstream.stream.messages import AgentStates

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "ros.json"
CLI = [sys.executable, "-m", "causalstream.nodes.cli"]
ROS_PYTHON = "/usr/bin/python3"
N_AGENTS, RATE_HZ, PACED_S, FLOOD_S = 10, 100.0, 15.0, 5.0
N_IMPORT = 20_000

PUBLISHER = r'''
import sys, time
import rospy
from nav_msgs.msg import Odometry
n, rate, duration = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rospy.init_node("bench_pub", anonymous=True, disable_signals=True)
pubs = [rospy.Publisher(f"/a{i}/odom", Odometry, queue_size=1000, tcp_nodelay=True) for i in range(n)]
time.sleep(float(sys.argv[4]))  # subscribers connect
msg = Odometry()
msg.pose.pose.orientation.w = 1.0
sent, start, k = 0, time.monotonic(), 0
while time.monotonic() - start < duration:
    for i, p in enumerate(pubs):
        msg.header.stamp = rospy.Time.now()
        msg.pose.pose.position.x = k * 0.01 + i
        msg.twist.twist.linear.x = 1.0
        p.publish(msg)
        sent += 1
    k += 1
    if rate > 0:
        time.sleep(max(0.0, start + k / rate - time.monotonic()))
print(sent, flush=True)
time.sleep(1.0)
'''

LISTENER = r'''
import json, signal, sys, time, threading
import rospy
from nav_msgs.msg import Odometry
n, out = int(sys.argv[1]), sys.argv[2]
lat = []
def cb(m):
    lat.append(time.time_ns() - (m.header.stamp.secs * 1_000_000_000 + m.header.stamp.nsecs))
rospy.init_node("bench_listener", anonymous=True, disable_signals=True)
subs = [rospy.Subscriber(f"/a{i}/odom", Odometry, cb, queue_size=1000, tcp_nodelay=True) for i in range(n)]
done = threading.Event()
signal.signal(signal.SIGINT, lambda *a: done.set())
done.wait()
json.dump(lat, open(out, "w"))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _master_up(uri: str) -> bool:
    try:
        xmlrpc.client.ServerProxy(uri).getPid("/bench")
        return True
    except OSError:
        return False


def _end(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _pct(a: list[float], q: float) -> float:
    return round(float(np.percentile(a, q)), 3) if a else float("nan")


def _bridge_run(tmp: Path, rate: float, duration: float) -> dict[str, object]:
    """One run: roscore, broker, bridge, rospy listener, rostopic hz, publisher; returns the numbers."""
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ROS_MASTER_URI=uri, ROS_HOME=str(tmp / "ros_home"), PYTHONUNBUFFERED="1")
    bus = Endpoints.parse(f"tcp://127.0.0.1:{_free_port()}")
    env["CAUSALSTREAM_BUS"] = str(bus)
    ros_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    procs: list[subprocess.Popen] = []

    def spawn(cmd: list[str], out: str, e: dict[str, str]) -> subprocess.Popen:
        p = subprocess.Popen(cmd, env=e, stdout=open(tmp / out, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    (tmp / "pub.py").write_text(PUBLISHER)
    (tmp / "listen.py").write_text(LISTENER)
    topics = "{" + ", ".join(f"/a{i}/odom: {{id: a{i}, role: {'robot' if i == 0 else 'human'}}}"
                             for i in range(N_AGENTS)) + "}"
    lat: list[float] = []
    frames = 0
    a0_stamps: list[int] = []
    try:
        spawn(["roscore", "-p", str(port)], "roscore.out", ros_env)
        spawn([*CLI, "bus", "--endpoint", bus.pub], "bus.out", env)
        while not _master_up(uri):
            time.sleep(0.2)
        bridge = spawn([*CLI, "run", "ros1_bridge", "-p", f"topics={topics}", "-p", "ros_graph=", "-p",
                        "ros_predictions=", "-r", "agents/state:=/agents/state"], "bridge.out", env)
        listener = spawn([ROS_PYTHON, "-E", str(tmp / "listen.py"), str(N_AGENTS), str(tmp / "listen.json")],
                         "listen.out", ros_env)
        hz = spawn(["rostopic", "hz", "/a0/odom"], "hz.out", ros_env)
        sub = Subscriber(["/agents/state"], endpoints=bus)
        sub.wait_ready(30)
        deadline = time.monotonic() + 60
        while "bridging" not in (tmp / "bridge.out").read_text():
            assert time.monotonic() < deadline and bridge.poll() is None, (tmp / "bridge.out").read_text()
            time.sleep(0.2)
        pub = spawn([ROS_PYTHON, "-E", str(tmp / "pub.py"), str(N_AGENTS), str(rate), str(duration), "2.0"],
                    "pub.out", ros_env)
        drain_until = math.inf
        while time.monotonic() < drain_until:
            if drain_until == math.inf and pub.poll() is not None:
                drain_until = time.monotonic() + 1.5  # what is still on its way
            got = sub.recv(timeout=0.2)
            if got is not None:
                now = time.time_ns()
                m = got.message
                if isinstance(m, AgentStates):
                    frames += 1
                    lat.append((now - m.stamp_ns) / 1e6)
                    if m.ids[0] == "a0":
                        a0_stamps.append(m.stamp_ns)
        sub.close()
        sent = int((tmp / "pub.out").read_text().split()[0])
        _end(listener)
        _end(hz)
        base = [v / 1e6 for v in json.loads((tmp / "listen.json").read_text())]
    finally:
        for p in reversed(procs):
            _end(p)
    rates = re.findall(r"average rate: ([0-9.]+)", (tmp / "hz.out").read_text())
    span = (max(a0_stamps) - min(a0_stamps)) / 1e9 if len(a0_stamps) > 1 else float("nan")
    wall = duration
    return {
        "offered_hz_per_topic": rate or "flood", "topics": N_AGENTS, "duration_s": duration, "sent": sent,
        "bridged": frames, "ros_listener_received": len(base),
        "bridged_per_s": round(frames / wall, 1), "sent_per_s": round(sent / wall, 1),
        "bus_a0_hz": round((len(a0_stamps) - 1) / span, 2) if span == span and span > 0 else None,
        "rostopic_hz_a0": float(rates[-1]) if rates else None,
        "bridge_latency_ms": {"p50": _pct(lat, 50), "p99": _pct(lat, 99), "max": _pct(lat, 100)},
        "ros_latency_ms": {"p50": _pct(base, 50), "p99": _pct(base, 99), "max": _pct(base, 100)},
        "added_latency_ms": {"p50": round(_pct(lat, 50) - _pct(base, 50), 3),
                             "p99": round(_pct(lat, 99) - _pct(base, 99), 3)},
        "limit": (f"{sent - frames} of {sent} not bridged" if frames != sent else
                  "all bridged, with a queue (bridge p50 > 10 ms): at the bridge's capacity" if _pct(lat, 50) > 10 else
                  "all bridged, no queue: the rate is the rospy publisher's"),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }


# -- import speed ----------------------------------------------------------------------


def _odometry(ts, k: int, i: int):  # noqa: ANN001, ANN202 - rosbags' generated types
    T = ts.types
    ros1 = "seq" in T["std_msgs/msg/Header"].__dataclass_fields__
    stamp = T["builtin_interfaces/msg/Time"](sec=k // 100, nanosec=(k % 100) * 10_000_000)
    header = T["std_msgs/msg/Header"](**({"seq": k} if ros1 else {}), stamp=stamp, frame_id="odom")
    vec = T["geometry_msgs/msg/Vector3"]
    pose = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=k * 0.01, y=float(i), z=0.0),
                                       orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
    twist = T["geometry_msgs/msg/Twist"](linear=vec(x=1.0, y=0.0, z=0.0), angular=vec(x=0.0, y=0.0, z=0.0))
    return T["nav_msgs/msg/Odometry"](
        header=header, child_frame_id="base_link",
        pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)))


def _write(path: Path, form: str) -> Path:
    ts = get_typestore(Stores.ROS1_NOETIC if form == "ros1 .bag" else Stores.ROS2_HUMBLE)
    if form == "ros1 .bag":
        writer = Bag1Writer(path)
    else:
        plugin = StoragePlugin.SQLITE3 if "sqlite3" in form else StoragePlugin.MCAP
        writer = Bag2Writer(path, version=9, storage_plugin=plugin)
    per_topic = N_IMPORT // N_AGENTS
    with writer:
        conns = [writer.add_connection(f"/a{i}/odom", "nav_msgs/msg/Odometry", typestore=ts) for i in range(N_AGENTS)]
        for k in range(per_topic):
            for i, conn in enumerate(conns):
                msg = _odometry(ts, k, i)
                data = ts.serialize_ros1(msg, conn.msgtype) if form == "ros1 .bag" else ts.serialize_cdr(msg, conn.msgtype)
                writer.write(conn, (k // 100) * 1_000_000_000 + (k % 100) * 10_000_000, data)
    if form == "ros2 single .mcap":
        (mcap,) = path.glob("*.mcap")
        single = path.with_suffix(".mcap")
        shutil.move(mcap, single)
        shutil.rmtree(path)
        return single
    return path


def _import_speed(tmp: Path) -> list[dict[str, object]]:
    rows = []
    for form in ("ros1 .bag", "ros2 single .mcap", "ros2 mcap folder", "ros2 sqlite3 folder"):
        name = {"ros1 .bag": "in.bag"}.get(form, form.replace(" ", "_").replace(".", ""))
        src = _write(tmp / name, form)
        best = math.inf
        n = 0
        for rep in range(3):
            out = tmp / f"out{rep}.mcap"
            t0 = time.perf_counter()
            result = get_importer("rosbag").run(str(src), str(out))
            best = min(best, time.perf_counter() - t0)
            n = result.messages
            out.unlink()
        rows.append({"form": form, "messages": n, "best_s": round(best, 3), "msgs_per_s": round(n / best)})
    return rows


def main() -> None:
    console = Console()
    results: dict[str, object] = {"machine": platform.processor() or platform.machine(),
                                  "python": platform.python_version(),
                                  "note": "shared 2-core machine, one run each; latencies from the header stamp "
                                          "(wall clock at publish) to the receive time"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results["import"] = _import_speed(tmp)
        have_ros = shutil.which("roscore") and subprocess.run(
            [ROS_PYTHON, "-E", "-c", "import rospy"], capture_output=True).returncode == 0
        if have_ros:
            for key, rate, dur in (("paced", RATE_HZ, PACED_S), ("flood", 0.0, FLOOD_S)):
                run_dir = tmp / key
                run_dir.mkdir()
                results[f"bridge_{key}"] = _bridge_run(run_dir, rate, dur)
        else:
            results["bridge"] = "skipped: no ROS 1 (make ros1-env)"
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title="ROS: bridge and import")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("bridge_paced", "bridge_flood"):
        r = results.get(key)
        if isinstance(r, dict):
            table.add_row(f"{key}: sent / bridged per s", f"{r['sent_per_s']} / {r['bridged_per_s']}")
            table.add_row(f"{key}: rostopic hz /a0 vs bus /a0", f"{r['rostopic_hz_a0']} / {r['bus_a0_hz']}")
            table.add_row(f"{key}: latency ms bridge p50/p99", f"{r['bridge_latency_ms']['p50']} / {r['bridge_latency_ms']['p99']}")
            table.add_row(f"{key}: latency ms rospy p50/p99", f"{r['ros_latency_ms']['p50']} / {r['ros_latency_ms']['p99']}")
            table.add_row(f"{key}: added ms p50/p99", f"{r['added_latency_ms']['p50']} / {r['added_latency_ms']['p99']}")
            table.add_row(f"{key}: limit", str(r["limit"]))
    for row in results["import"]:  # type: ignore[union-attr]
        table.add_row(f"import {row['form']}", f"{row['msgs_per_s']} msg/s")
    console.print(table)
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
