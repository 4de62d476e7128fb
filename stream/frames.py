"""A planar transform tree over ROS TF messages: bring poses from their frame into a fixed one.

Feed it the transforms of ``/tf`` (timed) and ``/tf_static`` (timeless) with :meth:`TransformTree.update`
(one edge parent -> child: the child frame's origin and heading in the parent frame), then ask
:meth:`TransformTree.lookup` for the transform from a source frame to a target frame at a stamp.
A timed edge is interpolated linearly in time between the two transforms around the stamp
(the heading along the shorter arc); after its last transform the last one holds; before its first
there is none (``None``: no extrapolation backwards). Static edges hold at every stamp. The tree is
planar: x, y and the heading (yaw of the quaternion); z, roll and pitch are dropped, as
AgentStates carry none.

>>> tree = TransformTree()
>>> tree.update("map", "odom", 0, 1.0, 0.0, 0.0)
>>> tree.update("map", "odom", 10, 3.0, 0.0, 0.0)
>>> tree.update("odom", "base_link", 0, 0.0, 0.0, 0.0, static=True)
>>> tree.lookup("map", "base_link", 5).apply(1.0, 2.0)
(3.0, 2.0)
>>> tree.lookup("map", "odom", -1) is None, tree.lookup("map", "nowhere", 5) is None
(True, True)
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Transform", "TransformTree", "yaw_of"]


def yaw_of(q: Any) -> float:
    """Heading (rad) of a quaternion with fields x, y, z, w.

    >>> from types import SimpleNamespace as Q
    >>> round(yaw_of(Q(x=0.0, y=0.0, z=math.sin(0.25), w=math.cos(0.25))), 6)
    0.5
    """
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def _wrap(a: float) -> float:
    return math.atan2(math.sin(a), math.cos(a))


@dataclass(frozen=True)
class Transform:
    """A planar rigid transform: rotate by ``yaw``, then shift by (``x``, ``y``).

    >>> t = Transform(1.0, 0.0, math.pi / 2)
    >>> [round(v, 9) for v in t.apply(1.0, 0.0)], round(t.rotate_heading(0.0), 9)
    ([1.0, 1.0], 1.570796327)
    >>> [round(v, 9) for v in t.then(t.inverse()).apply(2.0, 3.0)]
    [2.0, 3.0]
    """

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0

    def apply(self, px: float, py: float) -> tuple[float, float]:
        """A point of the source frame in the target frame."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return self.x + c * px - s * py, self.y + s * px + c * py

    def rotate(self, vx: float, vy: float) -> tuple[float, float]:
        """A vector (a velocity) of the source frame in the target frame: rotated, not shifted."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return c * vx - s * vy, s * vx + c * vy

    def rotate_heading(self, heading: float) -> float:
        """A heading of the source frame in the target frame, in (-pi, pi]."""
        return _wrap(heading + self.yaw)

    def then(self, inner: Transform) -> Transform:
        """``self`` after ``inner``: inner maps A -> B, self maps B -> C, the result A -> C."""
        x, y = self.apply(inner.x, inner.y)
        return Transform(x, y, _wrap(self.yaw + inner.yaw))

    def inverse(self) -> Transform:
        """The transform back from the target frame to the source frame."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return Transform(-(c * self.x + s * self.y), s * self.x - c * self.y, -self.yaw)


@dataclass
class _Edge:
    static: bool = False
    stamps: list[int] = field(default_factory=list)
    values: list[Transform] = field(default_factory=list)

    def at(self, stamp_ns: int) -> Transform | None:
        if self.static:
            return self.values[-1]
        i = bisect.bisect_right(self.stamps, stamp_ns)
        if i == 0:
            return None
        if i == len(self.stamps) or self.stamps[i - 1] == stamp_ns:
            return self.values[i - 1]
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        a, b = self.values[i - 1], self.values[i]
        w = (stamp_ns - t0) / (t1 - t0)
        return Transform(a.x + w * (b.x - a.x), a.y + w * (b.y - a.y), _wrap(a.yaw + w * _wrap(b.yaw - a.yaw)))


class TransformTree:
    """Transforms between named frames, timed (``/tf``) or static (``/tf_static``), looked up at a stamp.

    Frame names are taken without a leading slash (ROS 1's ``/map`` is ``map``). With
    ``cache_s`` (a live stream, as tf's buffer), a timed edge keeps only the transforms of the
    last ``cache_s`` seconds before its newest, and the one just before them; without it (a
    bag, read whole) it keeps every one.

    >>> tree = TransformTree()
    >>> tree.update("/map", "odom", 0, 2.0, 0.0, math.pi)
    >>> [round(v, 9) for v in tree.lookup("odom", "map", 0).apply(0.0, 0.0)]
    [2.0, 0.0]
    >>> sorted(tree.frames)
    ['map', 'odom']
    """

    def __init__(self, cache_s: float | None = None) -> None:
        self._edges: dict[tuple[str, str], _Edge] = {}
        self._links: dict[str, set[str]] = {}
        self.cache_ns = None if cache_s is None else int(cache_s * 1e9)

    @property
    def frames(self) -> set[str]:
        """Every frame named by a transform."""
        return set(self._links)

    def update(self, parent: str, child: str, stamp_ns: int, x: float, y: float, yaw: float,
               static: bool = False) -> None:
        """Add one transform: the child frame's origin (x, y) and heading ``yaw`` in the parent frame.

        >>> tree = TransformTree(cache_s=1.0)
        >>> for k in range(5):
        ...     tree.update("map", "odom", k * 10**9, float(k), 0.0, 0.0)
        >>> tree.lookup("map", "odom", 3_500_000_000).x, tree.lookup("map", "odom", 10**9) is None
        (3.5, True)
        """
        parent, child = parent.strip("/"), child.strip("/")
        edge = self._edges.setdefault((parent, child), _Edge(static=static))
        edge.static = edge.static or static
        value = Transform(float(x), float(y), float(yaw))
        if edge.static:
            edge.stamps, edge.values = [stamp_ns], [value]
            self._links.setdefault(parent, set()).add(child)
            self._links.setdefault(child, set()).add(parent)
            return
        i = bisect.bisect_right(edge.stamps, stamp_ns)
        if i and edge.stamps[i - 1] == stamp_ns:
            edge.values[i - 1] = value
        else:
            edge.stamps.insert(i, stamp_ns)
            edge.values.insert(i, value)
        if self.cache_ns is not None:
            old = bisect.bisect_left(edge.stamps, edge.stamps[-1] - self.cache_ns) - 1
            if old > 0:
                del edge.stamps[:old], edge.values[:old]
        self._links.setdefault(parent, set()).add(child)
        self._links.setdefault(child, set()).add(parent)

    def update_many(self, msg: Any, static: bool = False) -> None:
        """Every transform of a ``tf2_msgs/TFMessage`` (as rosbags or rospy decode it).

        >>> from types import SimpleNamespace as N
        >>> tf = N(header=N(frame_id="map", stamp=N(sec=1, nanosec=0)), child_frame_id="odom",
        ...        transform=N(translation=N(x=1.0, y=2.0, z=0.0), rotation=N(x=0.0, y=0.0, z=0.0, w=1.0)))
        >>> tree = TransformTree(); tree.update_many(N(transforms=[tf]))
        >>> tree.lookup("map", "odom", 2_000_000_000)
        Transform(x=1.0, y=2.0, yaw=0.0)
        """
        for tf in msg.transforms:
            stamp = tf.header.stamp
            nsec = getattr(stamp, "nanosec", None)
            nsec = getattr(stamp, "nsecs", 0) if nsec is None else nsec
            sec = getattr(stamp, "sec", None)
            sec = getattr(stamp, "secs", 0) if sec is None else sec
            t = tf.transform
            self.update(tf.header.frame_id, tf.child_frame_id, int(sec) * 1_000_000_000 + int(nsec),
                        t.translation.x, t.translation.y, yaw_of(t.rotation), static=static)

    def _path(self, target: str, source: str) -> list[str] | None:
        prev: dict[str, str] = {source: source}
        todo = [source]
        while todo:
            frame = todo.pop(0)
            if frame == target:
                path = [frame]
                while path[-1] != source:
                    path.append(prev[path[-1]])
                return path[::-1]
            for nxt in self._links.get(frame, ()):
                if nxt not in prev:
                    prev[nxt] = frame
                    todo.append(nxt)
        return None

    def connected(self, target: str, source: str) -> bool:
        """Whether any chain of transforms links the two frames (at some stamp).

        >>> TransformTree().connected("map", "map"), TransformTree().connected("map", "odom")
        (True, False)
        """
        return self._path(target.strip("/"), source.strip("/")) is not None

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform | None:
        """The transform taking points of ``source`` into ``target`` at a stamp, or None if there is none."""
        path = self._path(target.strip("/"), source.strip("/"))
        if path is None:
            return None
        result = Transform()
        for a, b in zip(path, path[1:]):  # a step from frame a to frame b; result maps source -> a
            if (b, a) in self._edges:  # b is a's parent: the edge maps a -> b
                step = self._edges[(b, a)].at(stamp_ns)
            else:
                inv = self._edges[(a, b)].at(stamp_ns)
                step = None if inv is None else inv.inverse()
            if step is None:
                return None
            result = step.then(result)
        return result
