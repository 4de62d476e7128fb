"""The ``ros1_bridge`` node kind: live ROS 1 topics <-> the bus.

In: the ROS topics of ``topics`` (nav_msgs/Odometry, geometry_msgs/PoseStamped,
PoseWithCovarianceStamped, TwistStamped, PoseArray), each mapped to an agent id and role
(nodes/ros1_mapping.py), go out on ``agents/state`` in one frame (``frame``: poses brought into
it with ``/tf`` and ``/tf_static``; unset, the first frame seen, other frames not mixed in): with ``rate_hz`` 0 one frame per ROS
message (its agents, its header stamp; the receive time where the stamp is 0), else a frame
of every agent's latest state at that rate. Out: ``causal/graph`` and ``predictions`` from
the bus go to ROS in standard types (nodes/ros1_side.py ``OUT_TYPES``: variables and marks
as std_msgs/String JSON, val and p as std_msgs/Float64MultiArray with dims source, target,
lag, the graph drawn as sensor_msgs/Image, each agent's likeliest path as nav_msgs/Path).

rospy lives in Debian's ``/usr/bin/python3``, not in the venv, so the ROS side runs as a
child process under ``python`` (default ``$CAUSALSTREAM_ROS_PYTHON`` or ``/usr/bin/python3``)
and speaks JSON lines over its stdio. Bad input never stops the bridge: a type it cannot
map is named once in the log and skipped; a NaN/inf pose is counted (``bad:nonfinite``) and
not forwarded; a roscore that goes away is logged, and the bridge reconnects (a new ROS
side) when it is back. Without rospy the node logs why and exits 2.

>>> Ros1BridgeNode.Params(topics={"/robot/odom": {"id": "robot", "role": "robot"}}).topics["/robot/odom"].id
'robot'
>>> Ros1BridgeNode.Params(rate_hz=-1)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Params
...
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
from pydantic import Field

from causalstream.nodes.bad_input import CheckedNode
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.node import Input, NodeParams
from causalstream.nodes.ros1_mapping import Assembler, TopicMap
from causalstream.stream.messages import AgentStates, CausalGraph, Predictions

__all__ = ["SIDE", "Ros1BridgeNode", "graph_image", "ros_python"]

SIDE = Path(__file__).with_name("ros1_side.py")
_POLL_S = 0.001  # longest wait on the bus before the ROS side's lines are looked at again


def ros_python(python: str = "") -> str:
    """The interpreter that runs the ROS side: ``python``, ``$CAUSALSTREAM_ROS_PYTHON``, Debian's.

    >>> ros_python("/opt/ros/bin/python3")
    '/opt/ros/bin/python3'
    """
    return python or os.environ.get("CAUSALSTREAM_ROS_PYTHON") or "/usr/bin/python3"


class Ros1BridgeNode(CheckedNode):
    """ROS 1 topics -> ``agents/state``; ``causal/graph``, ``predictions`` -> ROS (module doc).

    >>> p = Ros1BridgeNode.Params(topics={"/people": {"id": "p"}}, rate_hz=20)
    >>> p.topics["/people"].role, p.ros_graph, p.ros_predictions
    ('human', '/causal/graph', '/predictions')
    """

    class Params(NodeParams):
        """Parameters of ``ros1_bridge``."""

        topics: dict[str, TopicMap] = Field(default_factory=dict, description="ROS topic -> {id, role}.")
        rate_hz: float = Field(0.0, ge=0, description="0: a frame per ROS message; else all agents at this rate.")
        max_age_s: float = Field(1.0, gt=0, description="At rate_hz > 0: agents not heard for longer are left out.")
        ros_graph: str = Field("/causal/graph", description="ROS topic prefix of the graph ('' = not published).")
        ros_predictions: str = Field("/predictions", description="ROS topic prefix of predictions ('' = not).")
        graph_image: bool = Field(True, description="Also draw the graph as a sensor_msgs/Image.")
        image_period_s: float = Field(1.0, gt=0, description="Least time between two images.")
        python: str = Field("", description="Interpreter with rospy ('' = $CAUSALSTREAM_ROS_PYTHON or Debian's).")
        master_uri: str = Field("", description="ROS master ('' = $ROS_MASTER_URI or http://localhost:11311).")
        restart_s: float = Field(1.0, gt=0, description="Wait before a new ROS side after one ended.")
        frame: str = Field("", description=("Fixed frame (e.g. map): poses brought into it with /tf and /tf_static "
                                             "('' = the first frame seen; other frames are not mixed in)."))

    params: Params  # validate_params() makes the launch file's params this (for the type checker)

    def setup(self) -> None:
        """Start the ROS side; one output, two inputs, an optional timer of frames."""
        p = self.params
        self.assembler = Assembler(p.topics, p.max_age_s, p.frame)
        self.master = p.master_uri or os.environ.get("ROS_MASTER_URI", "http://localhost:11311")
        self.out = self.publisher("agents/state", AgentStates)
        self.subscribe("causal/graph", self.on_graph, CausalGraph)
        self.subscribe("predictions", self.on_predictions, Predictions)
        if p.rate_hz > 0:
            self.timer(1.0 / p.rate_hz, self.on_tick, name="frames")
        self.lines: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None
        self.gen = 0  # which ROS side a line came from (an old one's last lines are ignored)
        self.respawn_at: float | None = None
        self.lost = False
        self.fatal = False
        self.warned: set[tuple[str, str]] = set()
        self.sent: dict[str, dict[str, Any]] = {}  # the last graph and image, re-sent to a new ROS side
        self.stdin_lock = threading.Lock()
        self.connected = False  # the ROS side reads its stdin only once connected: no write before (a full pipe blocks)
        self.image_slot: queue.Queue[CausalGraph] = queue.Queue(maxsize=1)
        if p.graph_image and p.ros_graph:
            threading.Thread(target=self._render_loop, name="ros1-image", daemon=True).start()
        self._spawn()

    # -- the ROS side --------------------------------------------------------------------

    def _spawn(self) -> None:
        p = self.params
        cfg = {"node": self.name, "topics": list(p.topics), "graph": p.ros_graph, "predictions": p.ros_predictions,
               "tf": bool(p.frame)}
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["ROS_MASTER_URI"] = self.master
        self.gen += 1
        self.connected = False
        python = ros_python(p.python)
        try:
            self.proc = subprocess.Popen([python, "-E", "-u", str(SIDE), json.dumps(cfg)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                         env=env, start_new_session=True)
        except OSError as exc:
            self.log.error("ros1_bridge: cannot run the ROS side with %s: %s", python, exc)
            self.fatal = True
            self.stop(2)
            return
        gen, proc = self.gen, self.proc
        threading.Thread(target=self._read, args=(gen, proc), name="ros1-out", daemon=True).start()
        threading.Thread(target=self._read_err, args=(proc.stderr,), name="ros1-err", daemon=True).start()

    def _read(self, gen: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self.lines.put((gen, json.loads(line)))
            except ValueError:
                self.lines.put((gen, {"ev": "log", "level": "info", "msg": line.rstrip()}))
        self.lines.put((gen, {"ev": "exit", "rc": proc.wait()}))

    def _read_err(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            if line.strip():
                self.log.info("ros1 side: %s", line.rstrip())

    def _send(self, cmd: dict[str, Any]) -> None:
        proc = self.proc
        if not self.connected or proc is None or proc.stdin is None or proc.poll() is not None:
            return  # the last graph and image are re-sent on connect
        with self.stdin_lock:
            try:
                proc.stdin.write(json.dumps(cmd) + "\n")
                proc.stdin.flush()
            except (OSError, ValueError):  # the ROS side just ended; the next one gets the latest again
                pass

    # -- the loop ------------------------------------------------------------------------

    def loop(self) -> None:
        """Bus events and the ROS side's lines, alternately, until stopped."""
        while self.ok:
            self._drain()
            self.sleep(_POLL_S)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                gen, rec = self.lines.get_nowait()
            except queue.Empty:
                break
            if gen == self.gen:
                self._on_line(rec)
        if self.respawn_at is not None and time.monotonic() >= self.respawn_at and self.ok:
            self.respawn_at = None
            self._spawn()

    def _on_line(self, rec: dict[str, Any]) -> None:
        ev = rec.get("ev")
        if ev == "s":
            frame, reason = self.assembler.update(rec)
            if reason:
                self._skipped(rec, reason)
            if frame is not None and self.params.rate_hz == 0:
                self.out.publish(frame)
        elif ev == "tf":
            self.assembler.add_transforms(rec)
        elif ev == "connected":
            if self.lost:
                self.log.warning("ros1_bridge: reconnected to roscore at %s (pid %s)", rec["master"], rec["pid"])
            else:
                self.log.info("ros1_bridge: connected to roscore at %s (pid %s); bridging %d topics",
                              rec["master"], rec["pid"], len(self.params.topics))
            self.lost = False
            self.connected = True
            self.counters["ros:connects"] += 1
            for cmd in self.sent.values():
                self._send(cmd)
        elif ev == "waiting":
            self.log.warning("ros1_bridge: no roscore at %s; waiting for it", rec["master"])
        elif ev == "lost":
            self.lost = True
            self.connected = False
            self.log.warning("ros1_bridge: roscore at %s went away; reconnecting when it is back", rec["master"])
        elif ev == "unmapped":
            self.log.warning("ros1_bridge: %s has type %s, which the bridge cannot map; its messages are skipped",
                             rec["topic"], rec["type"])
        elif ev == "fatal":
            self.fatal = True
            self.log.error("ros1_bridge: %s", rec["msg"])
            self.stop(2)
        elif ev == "log":
            self.log.log(30 if rec.get("level") == "warning" else 20, "ros1 side: %s", rec.get("msg"))
        elif ev == "exit" and not self.fatal and self.ok:
            if not self.lost:
                self.log.warning("ros1_bridge: the ROS side ended (status %s); starting another", rec["rc"])
            self.respawn_at = time.monotonic() + self.params.restart_s

    def _skipped(self, rec: dict[str, Any], reason: str) -> None:
        if reason == "nonfinite":
            self.flag_bad(reason)
        else:
            self.counters[f"skipped:{reason}"] += 1
        if (rec["topic"], reason) not in self.warned:
            self.warned.add((rec["topic"], reason))
            why = {"nonfinite": "a NaN or infinite value", "no_pose": "a twist before any pose of its agent"}.get(
                reason, self.assembler.detail)
            self.log.warning("ros1_bridge: %s: %s (%s); not forwarded (counted, logged once)",
                             rec["topic"], why, reason)

    def on_tick(self) -> None:
        """At ``rate_hz``: one frame of every agent's latest state, if anything is new."""
        self._drain()
        frame = self.assembler.results()
        if frame is not None:
            self.out.publish(frame)

    # -- bus -> ROS ----------------------------------------------------------------------

    def on_graph(self, event: Input) -> None:
        """A CausalGraph -> variables, marks, val, p (and the image, drawn in the background)."""
        g = event.message
        if not isinstance(g, CausalGraph):
            return
        cmd = {"ev": "graph", "t": g.stamp_ns, "names": g.names, "marks": g.graph, "shape": list(g.val.shape),
               "val": g.val.ravel().tolist(), "p": g.p.ravel().tolist()}
        self.sent["graph"] = cmd
        self._send(cmd)
        if self.params.graph_image and self.params.ros_graph:
            try:
                self.image_slot.get_nowait()
            except queue.Empty:
                pass
            self.image_slot.put_nowait(g)

    def on_predictions(self, event: Input) -> None:
        """Predictions -> agent ids, trajectories, probabilities, a nav_msgs/Path per agent."""
        pr = event.message
        if not isinstance(pr, Predictions):
            return
        frames = {s[7] for s in self.assembler.agents.values()} - {""}
        self._send({"ev": "pred", "t": pr.stamp_ns, "agents": pr.agent_ids, "shape": list(pr.trajectories.shape),
                    "traj": pr.trajectories.ravel().tolist(), "prob": pr.probabilities.ravel().tolist(),
                    "frame": frames.pop() if len(frames) == 1 else "world"})

    def _render_loop(self) -> None:
        last = 0.0
        while True:
            g = self.image_slot.get()
            time.sleep(max(0.0, last + self.params.image_period_s - time.monotonic()))
            last = time.monotonic()
            try:
                h, w, rgb = graph_image(g)
            except Exception as exc:  # a graph tigramite cannot draw: say so, keep the numbers flowing
                self.log.warning("ros1_bridge: cannot draw graph %d: %r", g.seq, exc)
                continue
            cmd = {"ev": "image", "t": g.stamp_ns, "h": h, "w": w, "data": base64.b64encode(rgb).decode()}
            self.sent["image"] = cmd
            self._send(cmd)

    def on_shutdown(self) -> None:
        """End the ROS side: close its stdin, then terminate it if it lingers."""
        self.fatal = True  # no respawn
        proc = self.proc
        if proc is None:
            return
        with self.stdin_lock:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def graph_image(graph: CausalGraph, dpi: int = 80) -> tuple[int, int, bytes]:
    """tigramite's process graph of ``graph`` as (height, width, rgb8 bytes).

    >>> import numpy as np
    >>> g = CausalGraph(names=["a.x", "b.x"], tau_max=1, graph=[[["", ""], ["", "-->"]], [["", ""], ["", ""]]],
    ...                 val=np.full((2, 2, 2), 0.5), p=np.full((2, 2, 2), 0.001))
    >>> h, w, rgb = graph_image(g)
    >>> len(rgb) == h * w * 3 and h > 100
    True
    """
    figure = importlib.import_module("matplotlib.figure")
    agg = importlib.import_module("matplotlib.backends.backend_agg")
    tp = importlib.import_module("tigramite.plotting")
    fig = figure.Figure(figsize=(5, 4), dpi=dpi)
    agg.FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    g = graph_of(graph)
    tp.plot_graph(graph=g.marks, val_matrix=g.val, var_names=g.names, fig_ax=(fig, ax), show_colorbar=False)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    return int(rgba.shape[0]), int(rgba.shape[1]), rgba[:, :, :3].tobytes()
