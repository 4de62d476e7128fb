"""ROS messages' agents (as nodes/ros1_side.py reports them) -> AgentStates frames.

Each mapped topic names its agent (``id``, default the topic's first part, ``/robot1/odom``
-> ``robot1``) and ``role``. A geometry_msgs/PoseArray carries several people: agent
``id`` + index (``p0``, ``p1``, ...). Odometry brings pose and world-frame velocity; a pose
type without a twist gets its velocity by finite differences of that agent's poses (0 at
its first); a TwistStamped sets the velocity of an agent whose position came from another
topic of the same id (without one it is held back: ``no_pose``). A message with a NaN or
infinite number is bad (``nonfinite``) and nothing of it is kept or forwarded.

Frames (as ``bag import --frame``). With ``frame`` set (``map``), the transforms of ``/tf`` and
``/tf_static`` (:meth:`Assembler.add_transforms`, a :class:`~causalstream.stream.frames.TransformTree`
holding the last 10 s) bring every pose, velocity and heading into that frame; a message whose
frame has no transform chain to it yet is held back (``no_transform``). Without ``frame``,
frames are never mixed: the first frame seen is the agents' frame, and a message in another is
held back (``mixed_frames``); :attr:`Assembler.detail` names the frames. A message with no frame
id is taken to be in the agents' frame.

>>> a = Assembler({"/h1/pose": TopicMap(role="human")})
>>> rec = {"topic": "/h1/pose", "t": 10**9, "rx": 0, "frame": "map", "a": [[1.0, 2.0, None, None, 0.0]]}
>>> frame, bad = a.update(rec)
>>> frame.ids, frame.roles, frame.x.tolist(), frame.frame_id, bad
(['h1'], ['human'], [1.0], 'map', '')
>>> a.update(dict(rec, t=2 * 10**9, a=[[2.0, 2.0, None, None, 0.0]]))[0].vx.tolist()
[1.0]
>>> a.update(dict(rec, t=3 * 10**9, a=[[float("nan"), 2.0, None, None, 0.0]]))
(None, 'nonfinite')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from causalstream.stream.frames import TransformTree
from causalstream.stream.messages import AgentStates

__all__ = ["Assembler", "TopicMap", "agent_id"]


class TopicMap(BaseModel):
    """How one ROS topic maps to agents: ``id`` ('' = from the topic name) and ``role``.

    >>> TopicMap(id="robot", role="robot").role
    'robot'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(default="", description="The agent id ('' = the topic's first part; PoseArray: id + index).")
    role: str = Field(default="human", description="The agent's role (the features node finds the robot by it).")


def agent_id(topic: str) -> str:
    """The default agent id of a topic: its first part, or its only part.

    >>> agent_id("/robot1/odom"), agent_id("/odom")
    ('robot1', 'odom')
    """
    parts = [p for p in topic.split("/") if p]
    return parts[0] if parts else "agent"


class Assembler:
    """Keeps each agent's latest state; :meth:`update` per ROS message, :meth:`results` all.

    >>> a = Assembler({"/r/odom": TopicMap(id="robot", role="robot"), "/people": TopicMap(id="p")})
    >>> _ = a.update({"topic": "/r/odom", "t": 5, "rx": 0, "frame": "odom", "a": [[0.0, 0.0, 1.0, 0.0, 0.0]]})
    >>> _ = a.update({"topic": "/people", "type": "geometry_msgs/PoseArray", "t": 6, "rx": 0, "frame": "odom",
    ...               "a": [[3.0, 0.0, None, None, 0.0], [4.0, 1.0, None, None, 0.0]]})
    >>> out = a.results()
    >>> out.ids, out.stamp_ns, a.results()
    (['robot', 'p0', 'p1'], 6, None)
    """

    def __init__(self, topics: Mapping[str, TopicMap], max_age_s: float = 1.0, frame: str = "") -> None:
        self.topics = dict(topics)
        self.max_age_ns = int(max_age_s * 1e9)
        self.frame = frame.strip("/")  # '' = keep the first frame seen, never mix
        self.tree = TransformTree(cache_s=10.0)
        self.detail = ""  # why the last message was held back, naming the frames
        # id -> [t, x, y, vx, vy, yaw, role, frame]
        self.agents: dict[str, list[Any]] = {}
        self.newest = 0
        self.emitted = 0

    def update(self, rec: Mapping[str, Any]) -> tuple[AgentStates | None, str]:
        """One ROS message's agents as a frame, and '' or why (part of) it was not kept."""
        topic = rec["topic"]
        spec = self.topics.get(topic) or TopicMap()
        base = spec.id or agent_id(topic)
        rows = rec["a"]
        if any(v is not None and not math.isfinite(v) for row in rows for v in row):
            return None, "nonfinite"
        t = int(rec["t"]) or int(rec["rx"])
        rows, frame, why = self._into_frame(rec, rows, t)
        if why:
            return None, why
        ids: list[str] = []
        reason = ""
        for k, (x, y, vx, vy, yaw) in enumerate(rows):
            aid = f"{base}{k}" if rec.get("type") == "geometry_msgs/PoseArray" else base
            prev = self.agents.get(aid)
            if x is None:  # a twist: the position is another topic's
                if prev is None:
                    reason = "no_pose"
                    continue
                x, y = prev[1], prev[2]
            elif vx is None:
                dt = (t - prev[0]) / 1e9 if prev is not None else 0.0
                if prev is not None and dt > 0:
                    vx, vy = (x - prev[1]) / dt, (y - prev[2]) / dt
                else:
                    vx, vy = (prev[3], prev[4]) if prev is not None else (0.0, 0.0)
            self.agents[aid] = [t, x, y, vx, vy, yaw, spec.role, frame]
            ids.append(aid)
        if not ids:
            return None, reason
        self.newest = max(self.newest, t)
        return self._frame(ids, t), reason

    def add_transforms(self, rec: Mapping[str, Any]) -> None:
        """A ``tf`` record of the ROS side: ``[parent, child, t, x, y, yaw]`` rows, ``static`` or timed.

        >>> a = Assembler({"/r/odom": TopicMap(id="robot", role="robot")}, frame="map")
        >>> a.add_transforms({"static": True, "tf": [["map", "odom", 0, 10.0, 0.0, math.pi / 2]]})
        >>> f, _ = a.update({"topic": "/r/odom", "t": 5, "rx": 0, "frame": "odom", "a": [[1.0, 0.0, 1.0, 0.0, 0.0]]})
        >>> [round(float(v), 6) for v in (f.x[0], f.y[0], f.vx[0], f.vy[0], f.heading[0])], f.frame_id
        ([10.0, 1.0, 0.0, 1.0, 1.570796], 'map')
        >>> a.update({"topic": "/r/odom", "t": 6, "rx": 0, "frame": "lidar", "a": [[1.0, 0.0, 1.0, 0.0, 0.0]]})
        (None, 'no_transform')
        >>> a.detail
        'no transform from lidar to map on /tf or /tf_static (frames there: map, odom)'
        """
        for parent, child, t, x, y, yaw in rec["tf"]:
            self.tree.update(parent, child, int(t), x, y, yaw, static=bool(rec.get("static")))

    def _into_frame(self, rec: Mapping[str, Any], rows: list[list[Any]], t: int) -> tuple[list[list[Any]], str, str]:
        """The rows in the agents' frame, that frame, and '' or why the message is held back."""
        src = (rec.get("frame") or "").strip("/")
        if not self.frame:
            locked = next(iter({s[7] for s in self.agents.values()} - {""}), "")
            if src and locked and src != locked:
                self.detail = (f"its frame {src} is not the agents' frame {locked}; frames are not mixed "
                               f"(set the bridge's frame, e.g. frame: {locked}, with /tf linking them)")
                return rows, "", "mixed_frames"
            return rows, src or locked, ""
        if not src or src == self.frame:
            return rows, self.frame, ""
        tf = self.tree.lookup(self.frame, src, t)
        if tf is None:
            have = ", ".join(sorted(self.tree.frames)) or "none yet"
            self.detail = f"no transform from {src} to {self.frame} on /tf or /tf_static (frames there: {have})"
            return rows, "", "no_transform"
        out = []
        for x, y, vx, vy, yaw in rows:
            if x is not None:
                x, y = tf.apply(x, y)
            if vx is not None:
                vx, vy = tf.rotate(vx, vy)
            out.append([x, y, vx, vy, tf.rotate_heading(yaw)])
        return out, self.frame, ""

    def results(self) -> AgentStates | None:
        """Every agent seen within ``max_age_s`` of the newest stamp; None if nothing is new."""
        if self.newest <= self.emitted:
            return None
        self.emitted = self.newest
        ids = [a for a, s in self.agents.items() if s[0] >= self.newest - self.max_age_ns]
        return self._frame(ids, self.newest)

    def _frame(self, ids: list[str], t: int) -> AgentStates:
        rows = [self.agents[a] for a in ids]
        cols = np.array([r[1:6] for r in rows], dtype=float).reshape(-1, 5)
        frames = sorted({r[7] for r in rows} - {""})  # one at most: frames are never mixed
        return AgentStates(stamp_ns=t, frame_id=frames[0] if frames else "world", ids=ids, roles=[r[6] for r in rows],
                           x=cols[:, 0].copy(), y=cols[:, 1].copy(), vx=cols[:, 2].copy(), vy=cols[:, 3].copy(),
                           heading=cols[:, 4].copy())
