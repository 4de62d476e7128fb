"""The ROS 1 side of the ``ros1_bridge`` node: a rospy process speaking JSON lines on stdio.

Debian's ROS 1 (``python3-rospy`` and the message packages) is installed for Debian's own
``/usr/bin/python3``, not for the project's venv. So the bridge node (nodes/ros1_bridge.py,
in the venv) runs this file as a child process under that interpreter, and the child needs
nothing but rospy and the standard library (no causalstream, numpy or ZeroMQ): it imports
rospy and the message modules with importlib when it runs, so this module imports anywhere.

Child -> bridge, one JSON object a line on stdout (``ev`` says what it is):

- ``{"ev": "s", "topic", "type", "t", "rx", "frame", "a": [[x, y, vx, vy, yaw], ...]}``: a
  ROS message's agents (``t`` its header stamp in ns, ``rx`` its receive time in ns; ``vx``/``vy``
  null where the type has no velocity, ``x``/``y`` null for a TwistStamped);
- ``{"ev": "tf", "static", "tf": [[parent, child, t, x, y, yaw], ...]}``: a tf2_msgs/TFMessage of
  ``/tf`` or ``/tf_static`` (subscribed only when the bridge has a fixed ``frame``: cfg ``tf``);
- ``connected`` (master URI and pid), ``waiting`` (no master yet), ``unmapped`` (a topic's
  type the bridge cannot map: once per topic and type; its messages are skipped), ``lost``
  (the master went away or restarted: the child exits with status 3 and the bridge starts a
  new one, since rospy does not re-register with a new master), ``fatal`` (no rospy: exit 2).

Bridge -> child, on stdin: ``graph``, ``image`` and ``pred`` objects, published to ROS as
:data:`OUT_TYPES` says. EOF on stdin (the bridge is gone) ends the child.

>>> agents_of("geometry_msgs/PoseStamped", _pose2d(1.0, 2.0))
[[1.0, 2.0, None, None, 0.0]]
>>> sorted(IN_TYPES)[:2]
['geometry_msgs/PoseArray', 'geometry_msgs/PoseStamped']
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import os
import sys
import threading
import time
import xmlrpc.client
from types import SimpleNamespace
from typing import Any

__all__ = ["IN_TYPES", "OUT_TYPES", "agents_of", "yaw"]  # main: the entry point of the child

# The ROS types the bridge reads: type -> (module, class).
IN_TYPES = {
    "nav_msgs/Odometry": ("nav_msgs.msg", "Odometry"),
    "geometry_msgs/PoseStamped": ("geometry_msgs.msg", "PoseStamped"),
    "geometry_msgs/PoseWithCovarianceStamped": ("geometry_msgs.msg", "PoseWithCovarianceStamped"),
    "geometry_msgs/TwistStamped": ("geometry_msgs.msg", "TwistStamped"),
    "geometry_msgs/PoseArray": ("geometry_msgs.msg", "PoseArray"),
}

# What the bridge publishes to ROS, under its graph topic G and predictions topic P.
OUT_TYPES = {
    "G/variables": "std_msgs/String: the variable names, a JSON list",
    "G/marks": "std_msgs/String: tigramite's graph [N][N][tau_max+1] of marks, JSON",
    "G/val": "std_msgs/Float64MultiArray: val, dims source, target, lag",
    "G/p": "std_msgs/Float64MultiArray: p, dims source, target, lag",
    "G/image": "sensor_msgs/Image: the process graph drawn by tigramite, rgb8",
    "P/agents": "std_msgs/String: the agent ids, a JSON list",
    "P/trajectories": "std_msgs/Float64MultiArray: dims agent, mode, step, xy",
    "P/probabilities": "std_msgs/Float64MultiArray: dims agent, mode",
    "P/path/<agent>": "nav_msgs/Path: the most probable mode of each agent",
}

_LOCK = threading.Lock()


def emit(**obj: Any) -> None:
    """Write one JSON line to stdout (the bridge reads it)."""
    line = json.dumps(obj) + "\n"
    with _LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def yaw(q: Any) -> float:
    """Heading (rad) of a quaternion with fields x, y, z, w.

    >>> round(yaw(SimpleNamespace(x=0.0, y=0.0, z=math.sin(0.5), w=math.cos(0.5))), 6)
    1.0
    """
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def _pose(p: Any) -> list[Any]:
    return [p.position.x, p.position.y, None, None, yaw(p.orientation)]


def agents_of(msgtype: str, msg: Any) -> list[list[Any]]:
    """The agents of a ROS message: ``[x, y, vx, vy, yaw]`` each, world-frame velocities.

    Odometry's twist is in the body frame (child_frame_id), so it is rotated by the yaw.

    >>> twist = SimpleNamespace(twist=SimpleNamespace(linear=SimpleNamespace(x=0.0, y=1.0)))
    >>> agents_of("geometry_msgs/TwistStamped", twist)
    [[None, None, 0.0, 1.0, 1.5707963267948966]]
    """
    if msgtype == "nav_msgs/Odometry":
        x, y, _, _, h = _pose(msg.pose.pose)
        lin = msg.twist.twist.linear
        c, s = math.cos(h), math.sin(h)
        return [[x, y, c * lin.x - s * lin.y, s * lin.x + c * lin.y, h]]
    if msgtype == "geometry_msgs/TwistStamped":
        vx, vy = msg.twist.linear.x, msg.twist.linear.y
        return [[None, None, vx, vy, math.atan2(vy, vx)]]
    if msgtype == "geometry_msgs/PoseWithCovarianceStamped":
        return [_pose(msg.pose.pose)]
    if msgtype == "geometry_msgs/PoseArray":
        return [_pose(p) for p in msg.poses]
    return [_pose(msg.pose)]


def _pose2d(x: float, y: float) -> Any:  # a doctest stand-in shaped like PoseStamped
    q = SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0)
    return SimpleNamespace(pose=SimpleNamespace(position=SimpleNamespace(x=x, y=y), orientation=q))


class _Timeout(xmlrpc.client.Transport):
    def make_connection(self, host: Any) -> Any:
        conn = super().make_connection(host)
        conn.timeout = 2.0  # a hung master is a lost one, not a hung bridge
        return conn


def _master_pid(uri: str) -> int | None:
    try:
        answer: Any = xmlrpc.client.ServerProxy(uri, transport=_Timeout()).getPid("/causalstream_probe")
        code, _, pid = answer
        return int(pid) if code == 1 else None
    except (OSError, xmlrpc.client.Error):
        return None


class _Side:
    """The rospy node: subscribers of the mapped topics, publishers of graph and predictions."""

    def __init__(self, rospy: Any, cfg: dict[str, Any]) -> None:
        self.rospy, self.cfg = rospy, cfg
        self.classes: dict[str, Any] = {}
        self.unmapped: set[tuple[str, str]] = set()
        self.pubs: dict[str, Any] = {}
        m = {name: importlib.import_module(name) for name in ("std_msgs.msg", "sensor_msgs.msg", "nav_msgs.msg",
                                                              "geometry_msgs.msg")}
        self.std, self.sensor, self.nav, self.geo = (m["std_msgs.msg"], m["sensor_msgs.msg"], m["nav_msgs.msg"],
                                                     m["geometry_msgs.msg"])
        for topic in cfg["topics"]:
            rospy.Subscriber(topic, rospy.AnyMsg, self.on_msg, callback_args=topic, queue_size=1000,
                             tcp_nodelay=True)
        if cfg.get("tf"):
            tf_msg = importlib.import_module("tf2_msgs.msg").TFMessage
            for topic, static in (("/tf", False), ("/tf_static", True)):
                rospy.Subscriber(topic, tf_msg, self.on_tf, callback_args=static, queue_size=1000, tcp_nodelay=True)

    def on_tf(self, msg: Any, static: bool) -> None:
        rows = [[tf.header.frame_id, tf.child_frame_id, tf.header.stamp.secs * 1_000_000_000 + tf.header.stamp.nsecs,
                 tf.transform.translation.x, tf.transform.translation.y, yaw(tf.transform.rotation)]
                for tf in msg.transforms]
        emit(ev="tf", static=static, tf=rows)

    def on_msg(self, raw: Any, topic: str) -> None:
        rx = time.time_ns()
        msgtype = raw._connection_header.get("type", "?")
        cls = self.classes.get(msgtype)
        if cls is None:
            if msgtype not in IN_TYPES:
                if (topic, msgtype) not in self.unmapped:
                    self.unmapped.add((topic, msgtype))
                    emit(ev="unmapped", topic=topic, type=msgtype)
                return
            module, name = IN_TYPES[msgtype]
            cls = self.classes[msgtype] = getattr(importlib.import_module(module), name)
        msg = cls().deserialize(raw._buff)
        st = msg.header.stamp
        emit(ev="s", topic=topic, type=msgtype, t=st.secs * 1_000_000_000 + st.nsecs, rx=rx,
             frame=msg.header.frame_id, a=agents_of(msgtype, msg))

    def pub(self, topic: str, cls: Any, latch: bool = True) -> Any:
        if topic not in self.pubs:
            self.pubs[topic] = self.rospy.Publisher(topic, cls, queue_size=10, latch=latch)
        return self.pubs[topic]

    def array(self, data: list[float], shape: list[int], labels: tuple[str, ...]) -> Any:
        dims, stride = [], 1
        for n in shape:
            stride *= n
        for label, n in zip(labels, shape):
            dims.append(self.std.MultiArrayDimension(label=label, size=n, stride=stride))
            stride //= max(n, 1)
        return self.std.Float64MultiArray(layout=self.std.MultiArrayLayout(dim=dims, data_offset=0), data=data)

    def header(self, t: int, frame: str = "") -> Any:
        h = self.std.Header(frame_id=frame)
        h.stamp = self.rospy.Time(t // 1_000_000_000, t % 1_000_000_000)
        return h

    def on_command(self, cmd: dict[str, Any]) -> None:
        g, p = self.cfg["graph"], self.cfg["predictions"]
        ev = cmd["ev"]
        if ev == "graph" and g:
            labels = ("source", "target", "lag")
            self.pub(g + "/variables", self.std.String).publish(self.std.String(data=json.dumps(cmd["names"])))
            self.pub(g + "/marks", self.std.String).publish(self.std.String(data=json.dumps(cmd["marks"])))
            self.pub(g + "/val", self.std.Float64MultiArray).publish(self.array(cmd["val"], cmd["shape"], labels))
            self.pub(g + "/p", self.std.Float64MultiArray).publish(self.array(cmd["p"], cmd["shape"], labels))
        elif ev == "image" and g:
            data = base64.b64decode(cmd["data"])
            img = self.sensor.Image(header=self.header(cmd["t"]), height=cmd["h"], width=cmd["w"], encoding="rgb8",
                                    is_bigendian=0, step=cmd["w"] * 3, data=data)
            self.pub(g + "/image", self.sensor.Image).publish(img)
        elif ev == "pred" and p:
            a, k, h, _ = cmd["shape"]
            self.pub(p + "/agents", self.std.String).publish(self.std.String(data=json.dumps(cmd["agents"])))
            traj = self.array(cmd["traj"], cmd["shape"], ("agent", "mode", "step", "xy"))
            self.pub(p + "/trajectories", self.std.Float64MultiArray, latch=False).publish(traj)
            prob = self.array(cmd["prob"], [a, k], ("agent", "mode"))
            self.pub(p + "/probabilities", self.std.Float64MultiArray, latch=False).publish(prob)
            for i, agent in enumerate(cmd["agents"]):
                self.pub(f"{p}/path/{agent}", self.nav.Path, latch=False).publish(self.path(cmd, i, k, h))

    def path(self, cmd: dict[str, Any], i: int, k: int, h: int) -> Any:
        probs = cmd["prob"][i * k:(i + 1) * k]
        best = max(range(k), key=lambda j: probs[j]) if k else 0
        head = self.header(cmd["t"], cmd.get("frame", ""))
        poses = []
        for step in range(h):
            off = ((i * k + best) * h + step) * 2
            ps = self.geo.PoseStamped(header=head)
            ps.pose.position.x, ps.pose.position.y = cmd["traj"][off], cmd["traj"][off + 1]
            ps.pose.orientation.w = 1.0
            poses.append(ps)
        return self.nav.Path(header=head, poses=poses)


def _stdin_loop(side: _Side) -> None:
    for line in sys.stdin:
        try:
            side.on_command(json.loads(line))
        except Exception as exc:  # one bad command must not end the bridge: say which and go on
            emit(ev="log", level="warning", msg=f"cannot publish {line[:60]!r}: {exc!r}")
    os._exit(0)


def main(argv: list[str]) -> int:
    """Run the ROS side with the JSON config ``argv[0]``; see the module doc for the protocol."""
    cfg = json.loads(argv[0])
    uri = os.environ.get("ROS_MASTER_URI", "http://localhost:11311")
    try:
        rospy = importlib.import_module("rospy")
    except ImportError as exc:
        emit(ev="fatal", msg=f"{sys.executable} cannot import rospy ({exc}): install python3-rospy")
        return 2
    pid = _master_pid(uri)
    if pid is None:
        emit(ev="waiting", master=uri)
        while pid is None:
            time.sleep(0.2)
            pid = _master_pid(uri)
    rospy.init_node(cfg["node"], anonymous=True, disable_signals=True, disable_rosout=True)
    side = _Side(rospy, cfg)
    threading.Thread(target=_stdin_loop, args=(side,), daemon=True).start()
    emit(ev="connected", master=uri, pid=pid)
    while True:
        time.sleep(cfg.get("check_s", 0.5))
        now = _master_pid(uri)
        if now != pid:
            emit(ev="lost", master=uri, pid=now)
            os._exit(3)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
