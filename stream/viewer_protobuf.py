"""The live view's bulky channels as protobuf: Foxglove's own schemas, written without objects.

``/view/graph`` (``foxglove.RawImage``), ``/view/predictions`` and ``/view/scene``
(``foxglove.SceneUpdate``) travel as protobuf with the schema foxglove-sdk advertises for that
type (``foxglove.messages.<Type>.get_schema()``: a FileDescriptorSet, the schema the viewers
decode with): about a third of the bytes of their JSON for the sdk to send and a viewer to
parse, and no base64. The picture and the predictions (6 agents x 20 modes x 12 points at
20 Hz) are written here straight from numpy (a packed record per point, the wire format by
hand: the sdk's message objects cost as much as the JSON did); the scene, a few entities,
through the sdk's typed messages (Rust encode). tests/test_viewer_protobuf.py decodes both with
the sdk's descriptor set (the ``protobuf`` package) and checks them against the sdk's own encode.

>>> import numpy as np
>>> name, encoding, schema = SCHEMAS["foxglove.RawImage"]
>>> name, encoding, len(schema) > 100
('foxglove.RawImage', 'protobuf', True)
>>> len(raw_image(np.zeros((2, 3, 3), np.uint8), stamp_ns=1, frame_id="graph"))  # 18 bytes of pixels
54
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import foxglove.messages as fm
import numpy as np

__all__ = ["SCHEMAS", "predictions_update", "raw_image", "scene_update"]

_NS = 1_000_000_000
SCHEMAS: dict[str, tuple[str, str, bytes]] = {
    s.name: (s.name, s.encoding, bytes(s.data)) for s in (fm.RawImage.get_schema(), fm.SceneUpdate.get_schema())}
"""schema name -> (name, encoding, FileDescriptorSet): what the sdk advertises for that type."""

# a point of a line: LinePrimitive.points (5) = Point3 {x (1), y (2)}: 20 bytes, z = 0 left out
_POINT = np.dtype([("tag", "u1"), ("len", "u1"), ("tx", "u1"), ("x", "<f8"), ("ty", "u1"), ("y", "<f8")])
_ROLE_COLOR = {"robot": (0.1, 0.4, 1.0), "human": (1.0, 0.5, 0.1)}


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a message, a string, bytes)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _double(number: int, v: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", v)


def _uint(number: int, v: int) -> bytes:
    return _varint(number << 3) + _varint(v)


def _fixed32(number: int, v: int) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<I", v)


def _time(ns: int) -> bytes:
    """google.protobuf.Timestamp {seconds (1), nanos (2)}."""
    return _uint(1, ns // _NS) + _uint(2, ns % _NS)


def _color(r: float, g: float, b: float, a: float) -> bytes:
    return _double(1, r) + _double(2, g) + _double(3, b) + _double(4, a)


_IDENT_POSE = _field(1, b"") + _field(2, _double(4, 1.0))  # position 0, orientation (0, 0, 0, 1)
_LINE_HEAD = _field(2, _IDENT_POSE) + _double(3, 0.05)  # LineStrip (0, left out), pose, thickness
_LINE_COLOR = _field(6, _color(0.2, 0.8, 0.2, 0.0))[:-8]  # green; its alpha (8 bytes) follows


def raw_image(image: np.ndarray, stamp_ns: int, frame_id: str) -> bytes:
    """``foxglove.RawImage`` of an rgb8 picture (uint8 [height, width, 3]).

    >>> import numpy as np
    >>> raw_image(np.full((1, 1, 3), 7, np.uint8), 5, "g")[-5:]  # data (6): 3 bytes
    b'2\\x03\\x07\\x07\\x07'
    """
    h, w = image.shape[:2]
    head = (_field(1, _time(stamp_ns)) + _field(7, frame_id.encode()) + _fixed32(2, w) + _fixed32(3, h)
            + _field(4, b"rgb8") + _fixed32(5, w * 3))
    data = np.ascontiguousarray(image, np.uint8).data
    return b"".join((head, _varint(6 << 3 | 2), _varint(data.nbytes), data))


def predictions_update(stamp_ns: int, agent_ids: Sequence[str], trajectories: np.ndarray,
                       probabilities: np.ndarray) -> bytes:
    """``foxglove.SceneUpdate``: per agent an entity ``pred/<id>`` of one line strip per mode
    (green, opacity = the mode's probability); a point with a non-finite coordinate is left out.

    >>> import numpy as np
    >>> len(predictions_update(1, ["a"], np.zeros((1, 2, 3, 2)), np.array([[0.5, 0.5]])))
    272
    """
    traj = np.asarray(trajectories, float)
    n_modes = traj.shape[1]
    pts = np.empty(traj.shape[:3], _POINT)
    pts["tag"], pts["len"], pts["tx"], pts["ty"] = 5 << 3 | 2, 18, 1 << 3 | 1, 2 << 3 | 1
    pts["x"], pts["y"] = traj[..., 0], traj[..., 1]
    ok = np.isfinite(traj[..., 0]) & np.isfinite(traj[..., 1])
    whole = memoryview(pts.tobytes() if ok.all() else pts[ok].tobytes())  # the lines' points, one after another
    ends = (np.cumsum(ok.sum(axis=2).ravel()) * _POINT.itemsize).tolist()
    alpha = np.clip(np.asarray(probabilities, float), 0.0, 1.0).ravel().tolist()
    stamp = _field(1, _time(stamp_ns)) + _field(2, b"world")
    ents = []
    for a, aid in enumerate(agent_ids):
        lines = []
        for k in range(a * n_modes, (a + 1) * n_modes):
            points = whole[ends[k - 1] if k else 0:ends[k]]
            n = len(_LINE_HEAD) + len(points) + len(_LINE_COLOR) + 8
            lines += [b"\x5a", _varint(n), _LINE_HEAD, points, _LINE_COLOR, struct.pack("<d", alpha[k])]
        body = b"".join([stamp, _field(3, f"pred/{aid}".encode()), *lines])
        ents.append(_field(2, body))
    return b"".join(ents)


def _ts(ns: int) -> fm.Timestamp:
    return fm.Timestamp(sec=ns // _NS, nsec=ns % _NS)


def scene_update(stamp_ns: int, frame_id: str, ids: Sequence[str], roles: Sequence[str], x: np.ndarray,
                 y: np.ndarray, heading: np.ndarray) -> bytes:
    """``foxglove.SceneUpdate`` of the agents: a sphere, a heading arrow and a name each (the sdk's encode).

    >>> import numpy as np
    >>> len(scene_update(1, "world", ["r"], ["robot"], np.zeros(1), np.zeros(1), np.zeros(1))) > 100
    True
    """
    ts = _ts(stamp_ns)
    up = fm.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)
    ents = []
    for i, aid in enumerate(ids):
        r, g, b = _ROLE_COLOR.get(roles[i] if i < len(roles) else "", (0.6, 0.6, 0.6))
        color = fm.Color(r=r, g=g, b=b, a=1.0)
        px, py = float(x[i]), float(y[i])
        h = float(heading[i]) if math.isfinite(float(heading[i])) else 0.0
        ents.append(fm.SceneEntity(
            timestamp=ts, frame_id=frame_id, id=aid,
            spheres=[fm.SpherePrimitive(pose=fm.Pose(position=fm.Vector3(x=px, y=py, z=0.0), orientation=up),
                                        size=fm.Vector3(x=0.4, y=0.4, z=0.4), color=color)],
            arrows=[fm.ArrowPrimitive(pose=fm.Pose(position=fm.Vector3(x=px, y=py, z=0.0),
                                                   orientation=fm.Quaternion(x=0.0, y=0.0, z=math.sin(h / 2),
                                                                             w=math.cos(h / 2))),
                                      shaft_length=0.5, shaft_diameter=0.05, head_length=0.2, head_diameter=0.12,
                                      color=color)],
            texts=[fm.TextPrimitive(pose=fm.Pose(position=fm.Vector3(x=px, y=py, z=0.5), orientation=up),
                                    billboard=True, font_size=14.0, scale_invariant=True, color=color, text=aid)]))
    return fm.SceneUpdate(entities=ents).encode()
