"""ROS 1 ``.bag`` and ROS 2 (sqlite3 ``.db3`` or ``.mcap``) bags -> AgentStates, via rosbags.

No ROS installation is needed: rosbags reads both generations. Poses and velocities of
``nav_msgs/Odometry``, ``geometry_msgs/PoseStamped``, ``PoseWithCovarianceStamped`` and
``TwistStamped`` become one-agent AgentStates on ``/agents/state``, one per message, the
agent named after its topic (``/robot1/odom`` -> ``robot1``; ``/odom`` -> ``odom``) or,
with ``agent_by="frame"``, after its frame id. Odometry twists (body frame) are rotated into
the world frame; poses without a twist get velocities by finite differences of
consecutive poses; a TwistStamped alone has no position (NaN). Other message types are
listed in ``skipped`` (and logged) and left out.

Frames: each AgentStates keeps its message's frame id (``world`` when empty). With ``frame="map"``
the transforms of ``/tf`` and ``/tf_static`` (``tf2_msgs/TFMessage``, read first) bring every pose
and velocity into that frame (:mod:`causalstream.stream.frames`: interpolated in time between the
transforms around the stamp; static ones timeless); a message before its frame's first transform
is dropped and counted in ``lost``. Without a transform chain to the frame, or without ``frame``
when one agent has poses in two frames, the import is refused with a one-line LogError that
names the frames and their topics.

A truncated bag (a recorder killed: a ROS 2 ``.mcap`` without summary or end magic, a ROS 1
``.bag`` or ``rosbag record``'s ``.bag.active`` without index, a cut chunk) is read front to back
up to the cut (stream/importers/salvage.py): what is readable is imported, and ``skipped`` says
how many messages were read and how many bytes were lost.

>>> RosbagImporter().agent_name("/robot1/odom"), RosbagImporter().agent_name("/odom")
('robot1', 'odom')
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import Stores, get_typestore

from causalstream.stream.errors import LogError
from causalstream.stream.frames import TransformTree, yaw_of
from causalstream.stream.importers.base import Importer, register
from causalstream.stream.importers.salvage import Salvaged, salvage
from causalstream.stream.messages import AgentStates

__all__ = ["KNOWN_TYPES", "TF_TYPE", "RosbagImporter", "yaw_of"]

log = logging.getLogger(__name__)

KNOWN_TYPES = (
    "nav_msgs/msg/Odometry",
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/PoseWithCovarianceStamped",
    "geometry_msgs/msg/TwistStamped",
)
TF_TYPE = "tf2_msgs/msg/TFMessage"


def _bag_paths(source: str) -> list[Path]:
    """What rosbags' AnyReader opens for a source: a ROS 1 .bag, a ROS 2 bag folder or a lone .mcap.

    >>> _bag_paths("/nowhere/run.db3")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: /nowhere/run.db3: no such file or folder
    """
    path = Path(source)
    if not path.exists():
        raise LogError(source, "no such file or folder")
    if path.is_dir():
        if (path / "metadata.yaml").exists():
            return [path]
        mcaps = sorted(path.glob("*.mcap"))
        if mcaps:  # a folder of ROS 2 .mcap files whose metadata.yaml was lost: each file is whole
            return mcaps
        raise LogError(source, "not a ROS 2 bag folder: no metadata.yaml (and no .mcap file) in it; "
                               "`ros2 bag reindex FOLDER` writes one")
    if path.suffix == ".bag" or path.name.endswith(".bag.active"):  # .active: `rosbag record` killed
        return [path]
    if (path.parent / "metadata.yaml").exists():  # a .db3 / .mcap inside its ROS 2 bag folder
        return [path.parent]
    if path.suffix == ".mcap":  # what `ros2 bag record -s mcap` writes, taken alone
        return [path]
    raise LogError(source, "not a ROS bag: want a ROS 1 .bag, a ROS 2 bag folder (with metadata.yaml) or a "
                           "ROS 2 .mcap file")


def _stamp(msg: Any, fallback: int) -> int:
    stamp = msg.header.stamp
    ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    return ns or fallback


@register
class RosbagImporter(Importer):
    """ROS 1 / ROS 2 bags -> one-agent :class:`AgentStates` per pose, odometry or twist message.

    >>> RosbagImporter(agent_by="colour")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: colour: agent_by must be 'topic' or 'frame'
    """

    name = "rosbag"
    options = ("topic", "agent_by", "frame")

    def __init__(self, topic: str = "/agents/state", agent_by: str = "topic", frame: str | None = None) -> None:
        super().__init__()
        if agent_by not in ("topic", "frame"):
            raise LogError(agent_by, "agent_by must be 'topic' or 'frame'")
        self.topic = topic
        self.agent_by = agent_by
        self.frame = frame.strip("/") if frame else None
        self.tree = TransformTree()
        self.lost: dict[str, int] = {}  # why -> messages left out
        self._last: dict[str, tuple[int, float, float]] = {}

    def agent_name(self, topic: str, frame_id: str = "") -> str:
        """The agent id of a message: from its topic, or its frame id with ``agent_by="frame"``."""
        if self.agent_by == "frame" and frame_id:
            return frame_id.strip("/")
        parts = [p for p in topic.split("/") if p]
        return parts[0] if len(parts) >= 2 else (parts[0] if parts else "agent")

    def _state(self, msgtype: str, topic: str, msg: Any, stamp: int) -> AgentStates | None:
        nan = float("nan")
        x = y = heading = nan
        vx = vy = nan
        frame = msg.header.frame_id
        pose_frame = _frame_of(msg)
        if msgtype.endswith("Odometry"):
            frame = msg.child_frame_id or frame
            pose, lin = msg.pose.pose, msg.twist.twist.linear
            x, y, heading = pose.position.x, pose.position.y, yaw_of(pose.orientation)
            c, s = math.cos(heading), math.sin(heading)
            vx, vy = c * lin.x - s * lin.y, s * lin.x + c * lin.y
        elif msgtype.endswith("TwistStamped"):
            vx, vy = msg.twist.linear.x, msg.twist.linear.y
            heading = math.atan2(vy, vx)
        else:
            pose = msg.pose.pose if msgtype.endswith("PoseWithCovarianceStamped") else msg.pose
            x, y, heading = pose.position.x, pose.position.y, yaw_of(pose.orientation)
        agent = self.agent_name(topic, frame)
        if self.frame is not None and pose_frame != self.frame:
            tf = self.tree.lookup(self.frame, pose_frame, stamp)
            if tf is None:
                why = f"before the first transform {pose_frame} -> {self.frame}"
                self.lost[why] = self.lost.get(why, 0) + 1
                return None
            x, y = tf.apply(x, y)
            heading = tf.rotate_heading(heading)
            if not math.isnan(vx):
                vx, vy = tf.rotate(vx, vy)
            pose_frame = self.frame
        if math.isnan(vx):
            prev = self._last.get(agent)
            dt = (stamp - prev[0]) / 1e9 if prev else 0.0
            vx, vy = ((x - prev[1]) / dt, (y - prev[2]) / dt) if prev and dt > 0 else (0.0, 0.0)
        if not math.isnan(x):
            self._last[agent] = (stamp, x, y)
        return AgentStates(stamp_ns=stamp, frame_id=pose_frame, ids=[agent], roles=["robot"],
                           x=np.array([x]), y=np.array([y]), vx=np.array([vx]), vy=np.array([vy]),
                           heading=np.array([heading]))

    def messages(self, source: str) -> Iterator[tuple[str, int, AgentStates]]:
        """Every message of a known type, in bag-time order."""
        paths = _bag_paths(source)
        ros1 = paths[0].suffix in (".bag", ".active")
        store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
        try:
            try:
                if paths[0].suffix == ".active":
                    raise AnyReaderError("an unfinished bag (.bag.active)")
                opened: Any = AnyReader(paths, default_typestore=store)
                opened.open()
            except AnyReaderError:
                if len(paths) != 1 or not paths[0].is_file():
                    raise
                opened = salvage(paths[0], store)
                log.warning("%s: %s", source, opened.lost)
            with contextlib.closing(opened) as reader:
                known = [c for c in reader.connections if c.msgtype in KNOWN_TYPES]
                unknown = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections
                                  if c not in known and c.msgtype != TF_TYPE})
                self.skipped = unknown
                if unknown:
                    log.warning("%s: skipping topics of types the importer does not know: %s",
                                source, ", ".join(unknown))
                if not known:
                    raise LogError(source, "no topic of a known type (want one of "
                                           f"{', '.join(t.rsplit('/', 1)[-1] for t in KNOWN_TYPES)}; found "
                                           f"{', '.join(unknown) or 'no topics'})")
                self._read_tf(reader)
                self._check_frames(source, reader, known)
                for conn, t, raw in reader.messages(connections=known):
                    msg = reader.deserialize(raw, conn.msgtype)
                    state = self._state(conn.msgtype, conn.topic, msg, _stamp(msg, t))
                    if state is not None:
                        yield self.topic, t, state
                for why, n in self.lost.items():
                    log.warning("%s: left out %d message(s) %s", source, n, why)
                    self.skipped.append(f"{n} message(s) {why}")
                if isinstance(reader, Salvaged):
                    self.skipped.append(reader.lost)
        except (AnyReaderError, OSError, ValueError, KeyError) as exc:  # rosbags' own and its file errors
            raise LogError(source, f"cannot read bag: {exc}") from None

    def _read_tf(self, reader: Any) -> None:
        """Fill the transform tree from every /tf and /tf_static message of the bag."""
        tf_conns = [c for c in reader.connections if c.msgtype == TF_TYPE]
        if not tf_conns:  # (an empty list would read every message)
            return
        for conn, _t, raw in reader.messages(connections=tf_conns):
            self.tree.update_many(reader.deserialize(raw, conn.msgtype), static=conn.topic.endswith("tf_static"))

    def _check_frames(self, source: str, reader: Any, known: list[Any]) -> None:
        """Refuse frames that cannot be reconciled: one agent's poses in two frames, or no chain to ``frame``.

        Each topic's frame is its first message's; velocity-only TwistStamped topics carry no pose and
        are left out of the check (they are rotated with ``frame`` when a transform exists).
        """
        seen: dict[str, dict[str, str]] = {}  # agent -> frame -> topic
        for conn in known:
            first = next(iter(reader.messages(connections=[conn])), None)
            if first is None:
                continue
            msg = reader.deserialize(first[2], conn.msgtype)
            pose_frame = _frame_of(msg)
            if self.frame is not None and pose_frame != self.frame and not self.tree.connected(self.frame, pose_frame):
                have = ", ".join(sorted(self.tree.frames)) or "none"
                raise LogError(source, f"no transform from frame '{pose_frame}' ({conn.topic}) to '{self.frame}' in "
                                       f"/tf or /tf_static (frames there: {have})")
            if conn.msgtype.endswith("TwistStamped"):
                continue
            name = msg.child_frame_id or msg.header.frame_id if conn.msgtype.endswith("Odometry") else msg.header.frame_id
            seen.setdefault(self.agent_name(conn.topic, name), {}).setdefault(pose_frame, conn.topic)
        for agent, frames in seen.items():
            if len(frames) > 1 and self.frame is None:
                named = " and ".join(f"'{f}' ({t})" for f, t in sorted(frames.items()))
                raise LogError(source, f"agent {agent} has poses in frames {named}: give --frame FRAME "
                                       "to bring them into one (with /tf or /tf_static linking them)")


def _frame_of(msg: Any) -> str:
    return msg.header.frame_id.strip("/") or "world"
