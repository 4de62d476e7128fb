"""The layout file (launch/foxglove_layout.json) against the channels the view serves on the demo.

The demo's own nodes (sim, features, discovery, predictor, with launch/demo.yaml's parameters)
run in memory (MockNode); their messages go through the view's conversion (ViewerChannels), as
the ``foxglove`` node does. Every topic the layout names is then a channel the view advertises,
of the schema its panel reads; every plot path and table path resolves to a field of the
channel's messages, in the viewers' message-path syntax (a field name with a dot is quoted).
The panel kinds are those of Foxglove's own panel catalog (@foxglove/studio-base, tests/js).
The live test (tests/test_view_live.py) checks the layout's topics against the channels the
real client sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsclients import JS_DIR
from test_viewer_json import decoded

from causalstream.nodes.launch_file import load_launch
from causalstream.nodes.registry import resolve
from causalstream.nodes.testing import MockNode
from causalstream.stream.viewer_channels import ViewerChannels

from support import ROOT

LAYOUT = ROOT / "launch" / "foxglove_layout.json"
CATALOG = JS_DIR / "node_modules" / "@foxglove" / "studio-base" / "src" / "panels" / "index.js"
_FIELD = re.compile(r'\.(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+))')


def load_layout() -> dict[str, Any]:
    """The layout file, parsed."""
    return json.loads(LAYOUT.read_text())


def _leaves(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    else:
        yield from _leaves(node["first"])
        yield from _leaves(node["second"])


def panel_paths(layout: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel id, topic or message path) of every topic each panel reads."""
    out = []
    for pid, cfg in layout["configById"].items():
        out += [(pid, t) for t in cfg.get("topics", {})]
        if cfg.get("imageMode", {}).get("imageTopic"):
            out.append((pid, cfg["imageMode"]["imageTopic"]))
        out += [(pid, p["value"]) for p in cfg.get("paths", [])]
        if cfg.get("topicPath"):
            out.append((pid, cfg["topicPath"]))
    return out


def split_path(path: str, topics: set[str]) -> tuple[str, list[str]]:
    """A message path as (topic, field names): the longest topic it starts with, then ``.name`` or ``."a.b"``."""
    topic = max((t for t in topics if path == t or path.startswith(t + ".")), key=len, default=None)
    assert topic is not None, f"{path}: no channel of the view"
    rest, fields = path[len(topic):], []
    while rest:
        m = _FIELD.match(rest)
        assert m, f"{path}: not a message path at {rest!r}"
        fields.append(m.group(1).replace('\\"', '"') if m.group(1) is not None else m.group(2))
        rest = rest[m.end():]
    return topic, fields


def layout_topics(layout: dict[str, Any], topics: set[str]) -> set[str]:
    """The channels the layout names."""
    return {split_path(p, topics)[0] for _, p in panel_paths(layout)}


@pytest.fixture(scope="module")
def demo_channels() -> dict[str, tuple[str, dict]]:
    """topic -> (schema name, last message) of every channel the view makes of the demo's messages."""
    specs = {s.name: s for s in load_launch(ROOT / "launch" / "demo.yaml", {"window": 100, "hop": 20}).nodes}

    def mock(name: str, **extra: Any) -> MockNode:
        s = specs[name]
        return MockNode(resolve(s.kind), name=s.name, params={**s.params, **extra}, namespace=s.namespace,
                        remap=s.remap)

    sim = mock("sim", n_steps=160, realtime=False, duration_s=0).run(duration=30)
    states = sim.outputs("/agents/state")
    feats = mock("features").feed("/agents/state", *states).run().outputs("/features")
    # the refresh in line, not on the worker thread: MockNode stops the node once its inputs are used up
    graphs = mock("discovery", threaded=False).feed("/features", *feats).run().outputs("/causal/graph")
    preds = mock("predictor").feed("/agents/state", *states).feed("/causal/graph", *graphs).run().outputs(
        "/predictions")
    assert graphs and preds
    view, out = ViewerChannels(), {}
    for topic, msgs in [("/sim/ground_truth", sim.outputs("/sim/ground_truth")), ("/agents/state", states),
                        ("/features", feats), ("/causal/graph", graphs), ("/predictions", preds)]:
        for msg in msgs:
            for rec in view.update(topic, msg):
                out[rec.topic] = (rec.schema_name, decoded(rec))
    return out


_PANEL_SCHEMAS = {"3D": {"foxglove.SceneUpdate"}, "Image": {"foxglove.RawImage", "foxglove.CompressedImage"}}


def test_every_topic_of_the_layout_is_a_channel_of_the_demo_that_its_panel_reads(demo_channels) -> None:
    layout = load_layout()
    paths = panel_paths(layout)
    kinds = {pid.split("!")[0] for pid, _ in paths}
    assert {"3D", "Plot", "Image", "Table"} <= kinds  # the scene, a features plot, the graph picture, the links
    assert layout_topics(layout, set(demo_channels)) >= {"/view/scene", "/view/features", "/view/graph",
                                                         "/view/links", "/view/truth_links"}
    for pid, path in paths:
        topic, fields = split_path(path, set(demo_channels))
        schema, msg = demo_channels[topic]
        kind = pid.split("!")[0]
        assert schema in _PANEL_SCHEMAS.get(kind, {schema}), (pid, topic, schema)
        value: Any = msg
        for name in fields:
            assert isinstance(value, dict) and name in value, (pid, path, name)
            value = value[name]
        if kind == "Plot":
            assert isinstance(value, float), (path, value)  # a number the Plot panel follows
        if kind == "Table":
            assert isinstance(value, list) and value and isinstance(value[0], dict), (path, value)


def test_the_path_reader_can_fail() -> None:
    topics = {"/view/features", "/view"}
    assert split_path('/view/features."robot.v"', topics) == ("/view/features", ["robot.v"])
    assert split_path("/view/features.robot.v", topics) == ("/view/features", ["robot", "v"])  # not the feature
    with pytest.raises(AssertionError):
        split_path("/other.x", topics)


def test_the_layout_is_a_foxglove_layout_of_known_panels() -> None:
    layout = load_layout()
    assert set(layout) >= {"configById", "layout", "globalVariables", "userNodes", "playbackConfig"}
    assert sorted(_leaves(layout["layout"])) == sorted(layout["configById"])  # every panel placed once
    if not CATALOG.is_file():
        pytest.skip("@foxglove/studio-base not installed in tests/js (run `make js-deps`): panel kinds not checked")
    known = set(re.findall(r'type: "([^"]+)"', CATALOG.read_text())) | {"Tab"}
    assert {pid.split("!")[0] for pid in layout["configById"]} <= known, sorted(known)
