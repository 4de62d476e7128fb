"""The live view's channels (stream/viewer_channels.py) on real simulator messages.

The scene and the predictions are protobuf (foxglove.SceneUpdate), decoded here with the sdk's
descriptor set; the other channels are JSON checked against their JSON Schema.
"""

from __future__ import annotations

import json

import numpy as np
from test_viewer_json import decoded

from causalstream.stream.messages import AgentStates, CausalGraph, Features, Predictions
from causalstream.stream.viewer_channels import ViewerChannels
from causalstream.stream.viewer_json import from_viewer

_PROTOBUF = {"/view/scene": "foxglove.SceneUpdate", "/view/predictions": "foxglove.SceneUpdate",
             "/view/graph": "foxglove.RawImage"}


def _validate(schema: dict, obj: object) -> None:
    """Every property the object holds has the type its schema gives (the viewers' rule)."""
    t = schema.get("type")
    if t == "object":
        assert isinstance(obj, dict)
        for k, v in obj.items():
            assert k in schema["properties"], k
            _validate(schema["properties"][k], v)
    elif t == "array":
        assert isinstance(obj, list)
        for v in obj:
            _validate(schema["items"], v)
    elif t == "number":
        assert obj is None or isinstance(obj, (int, float))
    elif t == "integer":
        assert isinstance(obj, int)
    elif t == "string":
        assert isinstance(obj, str)
    elif t == "boolean":
        assert isinstance(obj, bool)


def test_channels_of_each_type_decode_and_match_their_schema():
    view = ViewerChannels()
    agents = AgentStates(stamp_ns=1_500_000_000, ids=["robot", "h1"], roles=["robot", "human"],
                         x=np.array([0.0, 2.0]), y=np.array([1.0, -1.0]),
                         vx=np.array([1.0, 0.0]), vy=np.array([0.0, 1.0]))
    feats = Features(stamp_ns=7, names=["robot.v", "h1.v"], values=np.array([0.5, np.nan]))
    graph = CausalGraph(names=["a", "b"], tau_max=1, graph=[[["", ""], ["<->", "-->"]], [["<->", ""], ["", ""]]],
                        val=np.full((2, 2, 2), 0.3), p=np.full((2, 2, 2), 0.01))
    traj = np.arange(24, dtype=float).reshape(1, 2, 6, 2)
    preds = Predictions(stamp_ns=3, agent_ids=["h1"], trajectories=traj, probabilities=np.array([[0.75, 0.25]]))
    topics = {}
    for topic, msg in [("/agents/state", agents), ("/features", feats), ("/causal/graph", graph),
                       ("/predictions", preds)]:
        recs = view.update(topic, msg)
        assert recs[0].topic == topic and recs[0].schema_name == f"causalstream.{type(msg).__name__}"
        assert from_viewer(type(msg), json.loads(recs[0].data)).stamp_ns == msg.stamp_ns
        for r in recs:
            if r.topic in _PROTOBUF:  # Foxglove's own schema, the sdk's descriptor set
                assert (r.schema_name, r.schema_encoding, r.message_encoding) == (_PROTOBUF[r.topic], "protobuf",
                                                                                  "protobuf")
            else:
                assert (r.schema_encoding, r.message_encoding) == ("jsonschema", "json")
                _validate(json.loads(r.schema_data), json.loads(r.data))
            topics[r.topic] = decoded(r)
    scene = topics["/view/scene"]["entities"]
    assert [e["id"] for e in scene] == ["robot", "h1"]
    assert scene[0]["timestamp"] == {"seconds": 1, "nanos": 500_000_000}
    assert scene[1]["spheres"][0]["pose"]["position"] == {"x": 2.0, "y": -1.0, "z": 0.0}
    assert scene[0]["spheres"][0]["color"] != scene[1]["spheres"][0]["color"]
    assert topics["/view/features"] == {"timestamp": {"sec": 0, "nsec": 7}, "robot.v": 0.5, "h1.v": None}
    links = {(x["source"], x["target"], x["lag"], x["mark"]) for x in topics["/view/links"]["links"]}
    assert links == {("a", "b", 0, "<->"), ("b", "a", 0, "<->"), ("a", "b", -1, "-->")}
    pred, = topics["/view/predictions"]["entities"]
    assert pred["id"] == "pred/h1" and [ln["color"]["a"] for ln in pred["lines"]] == [0.75, 0.25]
    assert pred["lines"][1]["points"][0] == {"x": 12.0, "y": 13.0, "z": 0.0} and len(pred["lines"][0]["points"]) == 6
