"""The view's protobuf channels (stream/viewer_protobuf.py) against foxglove-sdk's own encode.

The picture and the predictions are written by hand from numpy; each is decoded here with the
FileDescriptorSet the sdk advertises (the ``protobuf`` package) and must equal the same message
built from the sdk's typed classes and encoded by the sdk (Rust).
"""

from __future__ import annotations

import foxglove.messages as fm
import numpy as np
from test_viewer_json import protobuf_class

from causalstream.stream.viewer_protobuf import SCHEMAS, predictions_update, raw_image, scene_update

SCENE = protobuf_class("foxglove.SceneUpdate", SCHEMAS["foxglove.SceneUpdate"][2])
IMAGE = protobuf_class("foxglove.RawImage", SCHEMAS["foxglove.RawImage"][2])


def _sdk_predictions(stamp_ns: int, ids: list[str], traj: np.ndarray, prob: np.ndarray) -> bytes:
    ident = fm.Pose(position=fm.Vector3(x=0.0, y=0.0, z=0.0), orientation=fm.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
    ents = []
    for a, aid in enumerate(ids):
        lines = [fm.LinePrimitive(pose=ident, thickness=0.05, color=fm.Color(r=0.2, g=0.8, b=0.2,
                                                                             a=float(np.clip(prob[a, k], 0, 1))),
                                  points=[fm.Point3(x=float(x), y=float(y)) for x, y in traj[a, k]
                                          if np.isfinite(x) and np.isfinite(y)])
                 for k in range(traj.shape[1])]
        ents.append(fm.SceneEntity(timestamp=fm.Timestamp(sec=stamp_ns // 10**9, nsec=stamp_ns % 10**9),
                                   frame_id="world", id=f"pred/{aid}", lines=lines))
    return fm.SceneUpdate(entities=ents).encode()


def test_the_schemas_are_the_ones_the_sdk_advertises() -> None:
    for cls in (fm.SceneUpdate, fm.RawImage):
        s = cls.get_schema()
        assert SCHEMAS[s.name] == (s.name, "protobuf", bytes(s.data))


def test_predictions_equal_the_sdks_encode_with_non_finite_points_left_out() -> None:
    rng = np.random.default_rng(3)
    traj = rng.normal(size=(6, 20, 12, 2)) * 5
    prob = rng.uniform(-0.2, 1.2, size=(6, 20))  # clipped to [0, 1] as opacity
    ids = [f"h{i}" for i in range(6)]
    ours = SCENE.FromString(predictions_update(3_000_000_007, ids, traj, prob))
    assert ours == SCENE.FromString(_sdk_predictions(3_000_000_007, ids, traj, prob))
    assert [len(line.points) for line in ours.entities[0].lines] == [12] * 20
    traj[1, 3, 4, 0], traj[5, 19, 0, 1], traj[2, 0, :, 0] = np.nan, np.inf, np.nan  # a mode with no finite point
    ours = SCENE.FromString(predictions_update(5, ids, traj, prob))
    assert ours == SCENE.FromString(_sdk_predictions(5, ids, traj, prob))
    assert (len(ours.entities[1].lines[3].points), len(ours.entities[5].lines[19].points),
            len(ours.entities[2].lines[0].points)) == (11, 11, 0)
    assert ours.entities[1].lines[3].points[4].x == traj[1, 3, 5, 0]  # the points after the gap move up


def test_the_picture_equals_the_sdks_raw_image() -> None:
    img = np.random.default_rng(1).integers(0, 256, size=(33, 60, 3), dtype=np.uint8)
    ours = IMAGE.FromString(raw_image(img, 1_000_000_002, "graph"))
    sdk = fm.RawImage(timestamp=fm.Timestamp(sec=1, nsec=2), frame_id="graph", width=60, height=33, encoding="rgb8",
                      step=180, data=img.tobytes())
    assert ours == IMAGE.FromString(sdk.encode())
    assert np.array_equal(np.frombuffer(ours.data, np.uint8).reshape(33, 60, 3), img)


def test_the_scene_has_a_sphere_an_arrow_and_a_name_per_agent() -> None:
    data = scene_update(2, "world", ["robot", "h1"], ["robot"], np.array([1.0, 2.0]), np.array([0.0, -1.0]),
                        np.array([np.pi, np.nan]))
    scene = SCENE.FromString(data)
    assert [e.id for e in scene.entities] == ["robot", "h1"]
    robot, h1 = scene.entities
    assert (robot.spheres[0].pose.position.x, h1.spheres[0].pose.position.y) == (1.0, -1.0)
    assert abs(robot.arrows[0].pose.orientation.z - 1.0) < 1e-12 and h1.arrows[0].pose.orientation.w == 1.0  # NaN: 0
    assert robot.spheres[0].color != h1.spheres[0].color and h1.texts[0].text == "h1"
