"""The ``ros1_bridge`` node against a real roscore (issue 20 item 1).

Real parts only: roscore on a random port (ROS_MASTER_URI, its own process group, killed at
teardown), publishers in rospy and ``rostopic pub``, the bridge and the features and discovery
nodes launched on a live bus, the bridged graph recorded with ``rosbag record`` and read back
with rosbags. Debian's ROS 1 is for /usr/bin/python3; ``make test`` installs it as root on
Debian (.ci/ros1_env.sh); elsewhere this module skips with one line saying why.
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
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from causalstream.stream import Publisher, Subscriber
from causalstream.stream.messages import AgentStates, CausalGraph, NodeStatus, Predictions

from launching import Launch
from support import CLI, cli_env, free_port_pair, start_bus, stop

ROS_PYTHON = "/usr/bin/python3"


def _ros_missing() -> str:
    if not shutil.which("roscore") or not shutil.which("rostopic") or not shutil.which("rosbag"):
        return "no roscore/rostopic/rosbag on PATH"
    if not os.path.exists(ROS_PYTHON):
        return f"no {ROS_PYTHON}"
    probe = subprocess.run([ROS_PYTHON, "-E", "-c", "import rospy, nav_msgs.msg, sensor_msgs.msg"],
                           capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"{ROS_PYTHON} cannot import rospy"


_MISSING = _ros_missing()
if _MISSING:
    pytest.skip(f"ROS 1 not installed ({_MISSING}; run .ci/ros1_env.sh as root on Debian)", allow_module_level=True)

# A rospy publisher (run under Debian's python): a robot's Odometry, h1's PoseStamped whose
# speed follows the robot's one step later, two people in a PoseArray, a TwistStamped of an
# agent without a pose, and h1 poses with NaN at steps NAN_AT.
PUBLISHER = r'''
import math, random, sys, time
import rospy
from nav_msgs.msg import Odometry
from geometry_msgs.msg import PoseStamped, PoseArray, Pose, TwistStamped
duration, rate, nan_at = float(sys.argv[1]), float(sys.argv[2]), {int(k) for k in sys.argv[3].split(",") if k}
rospy.init_node("test_pub", anonymous=True, disable_signals=True)
odom = rospy.Publisher("/robot/odom", Odometry, queue_size=100)
h1 = rospy.Publisher("/h1/pose", PoseStamped, queue_size=100)
people = rospy.Publisher("/people", PoseArray, queue_size=100)
twist = rospy.Publisher("/ghost/twist", TwistStamped, queue_size=100)
time.sleep(1.5)  # let the bridge connect to each
rnd = random.Random(1)
xr = xh = 0.0
vr = vh = 1.0
for k in range(int(duration * rate)):
    now = rospy.Time.now()
    vh = 1.0 + 0.8 * (vr - 1.0) + 0.1 * rnd.gauss(0, 1)
    vr = 1.0 + 0.5 * (vr - 1.0) + 0.3 * rnd.gauss(0, 1)
    xr += vr / rate
    xh += vh / rate
    o = Odometry()
    o.header.stamp, o.header.frame_id = now, "odom"
    o.pose.pose.position.x, o.pose.pose.orientation.w = xr, 1.0
    o.twist.twist.linear.x = vr
    odom.publish(o)
    p = PoseStamped()
    p.header.stamp, p.header.frame_id = now, "odom"
    p.pose.position.x, p.pose.position.y, p.pose.orientation.w = (float("nan") if k in nan_at else xh), 1.0, 1.0
    h1.publish(p)
    a = PoseArray()
    a.header.stamp, a.header.frame_id = now, "odom"
    for x in (3.0, 4.0):
        q = Pose()
        q.position.x, q.orientation.w = x, 1.0
        a.poses.append(q)
    people.publish(a)
    t = TwistStamped()
    t.header.stamp = now
    t.twist.linear.x = 1.0
    twist.publish(t)
    time.sleep(1.0 / rate)
time.sleep(0.5)
'''

TOPICS = ("{/robot/odom: {id: robot, role: robot}, /h1/pose: {}, /h2/pose: {}, /people: {id: p},"
          " /ghost/twist: {}, /chatter: {}}")

LAUNCH = """
nodes:
  - name: bridge
    kind: ros1_bridge
    params: {{topics: {topics}, rate_hz: 20, image_period_s: 0.5}}
    remap: {{agents/state: /agents/state, causal/graph: /causal/graph, predictions: /predictions}}
  - name: features
    kind: features
    params: {{robot_variables: [v], human_variables: [v], humans: [h1]}}
    remap: {{agents/state: /agents/state, features: /features}}
  - name: discovery
    kind: discovery
    params: {{window: 60, min_samples: 40, hop: 10, tau_max: 1, alpha: 0.05, threaded: false}}
    remap: {{features: /features, causal/graph: /causal/graph, causal/events: /causal/events}}
"""


def _master_pid(uri: str) -> int | None:
    try:
        return int(xmlrpc.client.ServerProxy(uri).getPid("/test")[2])
    except OSError:
        return None


class Roscore:
    """``roscore -p PORT`` in its own process group, logs under ``tmp``; :meth:`kill` ends the group."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.uri = f"http://127.0.0.1:{port}"
        self.env = dict(os.environ, ROS_MASTER_URI=self.uri, ROS_HOME=str(tmp / "ros_home"))
        self.log = open(tmp / f"roscore-{time.monotonic_ns()}.log", "w")
        self.proc = subprocess.Popen(["roscore", "-p", str(port)], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while _master_pid(self.uri) is None:
            assert self.proc.poll() is None, f"roscore exited {self.proc.returncode}"
            assert time.monotonic() < deadline, "roscore did not answer in 60 s"
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def spawn(self, *cmd: str, out: Path | None = None) -> subprocess.Popen:
        """A ROS process (own group) against this master."""
        sink = open(out, "w") if out else subprocess.DEVNULL
        return subprocess.Popen(list(cmd), env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _end(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 15) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _port() -> int:
    return free_port_pair()


def _collect(sub: Subscriber, seconds: float, into: dict[str, list]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for got in sub.take(timeout=0.2):
            into.setdefault(got.topic, []).append(got.message)


def test_bridge_live_graph_to_rosbag(tmp_path: Path) -> None:
    """rospy + rostopic pub -> bridge -> features -> discovery -> bridge -> rosbag record -> rosbags."""
    core = Roscore(tmp_path, _port())
    launch_file = tmp_path / "ros1.yaml"
    launch_file.write_text(LAUNCH.format(topics=TOPICS))
    launch = Launch(launch_file, tmp=tmp_path, env={"ROS_MASTER_URI": core.uri, "ROS_HOME": str(tmp_path / "ros_home")})
    sub = Subscriber(["/agents/state", "/causal/graph", "/node/status"], endpoints=launch.endpoints)
    procs: list[subprocess.Popen] = []
    got: dict[str, list] = {}
    try:
        sub.wait_ready(10)
        bag = tmp_path / "graph.bag"
        procs.append(core.spawn("rosbag", "record", "-O", str(bag), "/causal/graph/variables", "/causal/graph/marks",
                                "/causal/graph/val", "/causal/graph/p", "/causal/graph/image", "/predictions/agents",
                                "/predictions/trajectories", "/predictions/probabilities", "/predictions/path/h1",
                                out=tmp_path / "record.out"))
        script = tmp_path / "pub.py"
        script.write_text(PUBLISHER)
        procs.append(core.spawn("rostopic", "pub", "-s", "-r", "20", "/h2/pose", "geometry_msgs/PoseWithCovarianceStamped",
                                "{header: {stamp: now, frame_id: odom}, pose: {pose: {position: {x: 5.0, y: 1.0},"
                                " orientation: {w: 1.0}}}}"))
        procs.append(core.spawn("rostopic", "pub", "-r", "10", "/chatter", "std_msgs/String", "hello"))
        deadline = time.monotonic() + 60
        while "bridging" not in launch.output():
            assert time.monotonic() < deadline and launch.proc.poll() is None, launch.output()[-3000:]
            time.sleep(0.2)
        pub = core.spawn(ROS_PYTHON, "-E", str(script), "9", "20", "30,31,32", out=tmp_path / "pub.out")
        preds = Publisher("/predictions", Predictions, endpoints=launch.endpoints)
        traj = np.arange(2 * 2 * 3 * 2, dtype=float).reshape(2, 2, 3, 2)
        prediction = Predictions(stamp_ns=time.time_ns(), agent_ids=["robot", "h1"], trajectories=traj,
                                 probabilities=np.array([[0.7, 0.3], [0.2, 0.8]]))
        while pub.poll() is None:
            _collect(sub, 0.5, got)
            preds.publish(prediction)
        preds.close()
        assert pub.returncode == 0, (tmp_path / "pub.out").read_text()
        _collect(sub, 3.0, got)  # the last graphs and their images
    finally:
        for p in procs:
            _end(p)
        launch.close()
        sub.close()
        core.kill()
    out = launch.output()
    frames = [m for m in got.get("/agents/state", []) if isinstance(m, AgentStates)]
    assert len(frames) > 100, out[-3000:]
    assert all(np.isfinite(f.x).all() and np.isfinite(f.vx).all() for f in frames)
    full = [f for f in frames if {"robot", "h1", "h2", "p0", "p1"} <= set(f.ids)]
    assert full, [f.ids for f in frames[-3:]]
    f = full[-1]
    at = {a: i for i, a in enumerate(f.ids)}
    assert f.roles[at["robot"]] == "robot" and f.roles[at["h1"]] == "human"
    assert (f.x[at["h2"]], f.y[at["h2"]], f.x[at["p0"]], f.x[at["p1"]]) == (5.0, 1.0, 3.0, 4.0)  # rostopic pub, PoseArray
    assert "ghost" not in f.ids  # a twist without a pose is held back
    stamps = [f.stamp_ns for f in frames]
    assert stamps == sorted(set(stamps))
    # Bad input: three NaN poses counted, not forwarded; the unmapped type named once.
    status = [m for m in got.get("/node/status", []) if isinstance(m, NodeStatus) and m.name == "/bridge"]
    assert status and status[-1].counters.get("bad:nonfinite") == 3, status[-1:] and status[-1].counters
    assert status[-1].counters.get("skipped:no_pose", 0) > 0
    assert out.count("/chatter has type std_msgs/String, which the bridge cannot map") == 1, out[-3000:]
    # The graph back in ROS: the bag rosbag recorded holds what discovery published on the bus.
    graphs = [m for m in got.get("/causal/graph", []) if isinstance(m, CausalGraph)]
    assert len(graphs) >= 3, out[-3000:]
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS1_NOETIC)) as reader:
        rows: dict[str, list] = {}
        for conn, _, raw in reader.messages():
            rows.setdefault(conn.topic, []).append((conn.msgtype, reader.deserialize(raw, conn.msgtype)))
    assert rows["/causal/graph/variables"][-1][1].data == '["robot.v", "h1.v"]'
    assert rows["/causal/graph/val"][0][0] == "std_msgs/msg/Float64MultiArray"
    bus_vals = [g.val.ravel() for g in graphs]
    bus_ps = [g.p.ravel() for g in graphs]
    assert len(rows["/causal/graph/val"]) >= 2
    for (_, val), (_, p) in zip(rows["/causal/graph/val"], rows["/causal/graph/p"]):
        assert [d.label for d in val.layout.dim] == ["source", "target", "lag"]
        assert [d.size for d in val.layout.dim] == [2, 2, 2] and [d.stride for d in val.layout.dim] == [8, 4, 2]
        assert any(np.array_equal(val.data, v, equal_nan=True) for v in bus_vals)
        assert any(np.array_equal(p.data, v, equal_nan=True) for v in bus_ps)
    marks = rows["/causal/graph/marks"][-1][1].data
    assert marks in {str(g.graph).replace("'", '"') for g in graphs}
    # Predictions: ids, [A, K, H, 2] and [A, K] as Float64MultiArray, h1's likeliest mode (1) as a Path.
    assert rows["/predictions/agents"][-1][1].data == '["robot", "h1"]'
    _, tr = rows["/predictions/trajectories"][-1]
    assert [d.label for d in tr.layout.dim] == ["agent", "mode", "step", "xy"] and tr.data.tolist() == traj.ravel().tolist()
    assert rows["/predictions/probabilities"][-1][1].data.tolist() == [0.7, 0.3, 0.2, 0.8]
    _, path = rows["/predictions/path/h1"][-1]
    assert [(q.pose.position.x, q.pose.position.y) for q in path.poses] == [tuple(xy) for xy in traj[1, 1].tolist()]
    assert path.header.frame_id == "odom"
    _, img = rows["/causal/graph/image"][-1]
    assert img.encoding == "rgb8" and img.height > 100 and len(img.data) == img.height * img.width * 3 == img.step * img.height


def test_roscore_restart_reconnects(tmp_path: Path) -> None:
    """roscore goes away (bridge logs it) and comes back on the same port: frames flow again."""
    port = _port()
    core = Roscore(tmp_path, port)
    bus, broker = start_bus()
    sub = Subscriber(["/agents/state"], endpoints=bus)
    log = tmp_path / "bridge.out"
    env = cli_env(bus, {"ROS_MASTER_URI": core.uri, "ROS_HOME": str(tmp_path / "ros_home")})
    with open(log, "w") as out:
        bridge = subprocess.Popen([*CLI, "run", "ros1_bridge", "-p", "topics={/r/odom: {id: robot, role: robot}}",
                                   "-p", "restart_s=0.3", "-r", "agents/state:=/agents/state"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    odom = ("{header: {stamp: now}, pose: {pose: {position: {x: %s}, orientation: {w: 1.0}}}}")
    procs: list[subprocess.Popen] = []

    def frames_with(x: float, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for got in sub.take(timeout=0.2):
                if isinstance(got.message, AgentStates) and got.message.x[0] == x:
                    return
        pytest.fail(f"no frame with x={x}: {log.read_text()[-3000:]}")

    try:
        sub.wait_ready(10)
        procs.append(core.spawn("rostopic", "pub", "-s", "-r", "20", "/r/odom", "nav_msgs/Odometry", odom % 1.0))
        frames_with(1.0)
        core.kill()
        _end(procs.pop())
        end = time.monotonic() + 30
        while "went away" not in log.read_text():
            assert time.monotonic() < end, log.read_text()[-3000:]
            time.sleep(0.2)
        core = Roscore(tmp_path, port)
        procs.append(core.spawn("rostopic", "pub", "-s", "-r", "20", "/r/odom", "nav_msgs/Odometry", odom % 2.0))
        frames_with(2.0)
    finally:
        for p in procs:
            _end(p)
        _end(bridge)
        sub.close()
        stop(broker)
        core.kill()
    text = log.read_text()
    assert text.count("went away; reconnecting when it is back") == 1, text[-3000:]
    assert text.count(f"reconnected to roscore at {core.uri}") == 1, text[-3000:]
    assert bridge.returncode == 0, text[-3000:]


def test_no_rospy_is_one_line_exit_2(tmp_path: Path) -> None:
    """An interpreter without rospy: the node says so in one line and exits 2."""
    bus, broker = start_bus()
    try:
        done = subprocess.run([*CLI, "run", "ros1_bridge", "-p", f"python={CLI[0]}", "-d", "30"],
                              env=cli_env(bus, {"ROS_MASTER_URI": "http://127.0.0.1:9"}), capture_output=True,
                              text=True, timeout=60)
    finally:
        stop(broker)
    text = done.stdout + done.stderr
    errors = [line for line in text.splitlines() if "ERROR" in line]
    assert done.returncode == 2, text[-2000:]
    assert len(errors) == 1 and "cannot import rospy" in errors[0] and "Traceback" not in text, text[-2000:]



# Frames (issue 20 item 2): a static map -> odom, a timed odom -> cam_link, and poses in odom,
# map, cam_link and lidar (no transform chain to map).
TF_PUBLISHER = r'''
import math, sys, time
import rospy
from geometry_msgs.msg import PoseStamped, TransformStamped
from nav_msgs.msg import Odometry
from tf2_msgs.msg import TFMessage
rospy.init_node("tf_pub", anonymous=True, disable_signals=True)
static = rospy.Publisher("/tf_static", TFMessage, queue_size=10, latch=True)
tf = rospy.Publisher("/tf", TFMessage, queue_size=100)
odom = rospy.Publisher("/robot/odom", Odometry, queue_size=100)
poses = {name: rospy.Publisher(f"/{name}/pose", PoseStamped, queue_size=100) for name in ("h1", "cam", "far")}
def edge(parent, child, now, x, y, yaw):
    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = now, parent, child
    t.transform.translation.x, t.transform.translation.y = x, y
    t.transform.rotation.z, t.transform.rotation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return t
time.sleep(1.5)
static.publish(TFMessage(transforms=[edge("map", "odom", rospy.Time.now(), 10.0, 0.0, math.pi / 2)]))
def pose(frame, now, x, y):
    p = PoseStamped()
    p.header.stamp, p.header.frame_id = now, frame
    p.pose.position.x, p.pose.position.y, p.pose.orientation.w = x, y, 1.0
    return p
for k in range(int(sys.argv[1])):
    now = rospy.Time.now()
    tf.publish(TFMessage(transforms=[edge("odom", "cam_link", now, 2.0, 0.0, 0.0)]))
    o = Odometry()
    o.header.stamp, o.header.frame_id = now, "odom"
    o.pose.pose.position.x, o.pose.pose.orientation.w = 1.0, 1.0
    o.twist.twist.linear.x = 1.0
    odom.publish(o)
    poses["h1"].publish(pose("map", now, 2.0, 3.0))
    poses["cam"].publish(pose("cam_link", now, 0.5, 0.0))
    poses["far"].publish(pose("lidar", now, 7.0, 7.0))
    time.sleep(0.05)
time.sleep(0.5)
'''

FRAMES_LAUNCH = """
nodes:
  - name: in_map
    kind: ros1_bridge
    params: {topics: {/robot/odom: {id: robot, role: robot}, /h1/pose: {}, /cam/pose: {}, /far/pose: {}},
             frame: map, graph_image: false}
    remap: {agents/state: /map/agents}
  - name: plain
    kind: ros1_bridge
    params: {topics: {/robot/odom: {id: robot, role: robot}, /h1/pose: {}}, graph_image: false}
    remap: {agents/state: /plain/agents}
"""


def test_bridge_brings_poses_into_one_frame(tmp_path: Path) -> None:
    """frame: map applies /tf_static and /tf; without it, frames are never mixed; both say why they hold back."""
    core = Roscore(tmp_path, _port())
    launch_file = tmp_path / "frames.yaml"
    launch_file.write_text(FRAMES_LAUNCH)
    launch = Launch(launch_file, tmp=tmp_path, env={"ROS_MASTER_URI": core.uri, "ROS_HOME": str(tmp_path / "ros_home")})
    sub = Subscriber(["/map/agents", "/plain/agents", "/node/status"], endpoints=launch.endpoints)
    got: dict[str, list] = {}
    try:
        sub.wait_ready(10)
        deadline = time.monotonic() + 60
        while launch.output().count("bridging") < 2:
            assert time.monotonic() < deadline and launch.proc.poll() is None, launch.output()[-3000:]
            time.sleep(0.2)
        script = tmp_path / "tf_pub.py"
        script.write_text(TF_PUBLISHER)
        pub = core.spawn(ROS_PYTHON, "-E", str(script), "60", out=tmp_path / "tf_pub.out")
        while pub.poll() is None:
            _collect(sub, 0.5, got)
        assert pub.returncode == 0, (tmp_path / "tf_pub.out").read_text()
        _collect(sub, 2.0, got)
    finally:
        launch.close()
        sub.close()
        core.kill()
    out = launch.output()
    in_map = [m for m in got.get("/map/agents", []) if isinstance(m, AgentStates)]
    assert in_map and all(f.frame_id == "map" for f in in_map), out[-3000:]
    seen: dict[str, tuple[float, ...]] = {}
    for f in in_map:
        for i, a in enumerate(f.ids):
            seen[a] = (f.x[i], f.y[i], f.vx[i], f.vy[i], f.heading[i])
    assert set(seen) == {"robot", "h1", "cam"}, seen  # lidar has no chain to map: held back
    np.testing.assert_allclose(seen["robot"], (10.0, 1.0, 0.0, 1.0, np.pi / 2), atol=1e-9)  # odom -> map
    np.testing.assert_allclose(seen["h1"][:2], (2.0, 3.0))  # already in map
    np.testing.assert_allclose(seen["cam"][:2], (10.0, 2.5), atol=1e-9)  # cam_link -> odom (timed) -> map
    assert "no transform from lidar to map on /tf or /tf_static" in out, out[-3000:]
    plain = [m for m in got.get("/plain/agents", []) if isinstance(m, AgentStates)]
    assert plain and len({f.frame_id for f in plain}) == 1 and plain[0].frame_id in ("odom", "map")
    assert {a for f in plain for a in f.ids} in ({"robot"}, {"h1"}), [f.ids for f in plain[-3:]]
    assert "frames are not mixed" in out, out[-3000:]
    status = {m.name: m for m in got.get("/node/status", []) if isinstance(m, NodeStatus)}
    assert status["/in_map"].counters.get("skipped:no_transform", 0) > 0, status["/in_map"].counters
    assert status["/plain"].counters.get("skipped:mixed_frames", 0) > 0, status["/plain"].counters
