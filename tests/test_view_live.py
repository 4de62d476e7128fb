"""The live view with the viewers' own client (issue 19 items 1 and 3): the demo with view:=true,
@foxglove/ws-protocol's FoxgloveClient (tests/js/view_client.mjs) subscribed to every channel.

Real parts only: the demo launched on a live bus (sim, features, discovery, predictor and the
``foxglove`` node on foxglove-sdk's WebSocket server), the JS client under node, a stalled
client, a port that is taken.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from jsclients import needs_node, run_node
from test_view_layout import layout_topics, load_layout

from causalstream.stream.viewer_graph_image import PANEL

from launching import Launch
from support import ROOT, free_port_pair, run_on_taken_port

DEMO = ROOT / "launch" / "demo.yaml"


def _wait_serving(launch: Launch, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while "foxglove: serving" not in launch.output():
        assert time.monotonic() < deadline and launch.proc.poll() is None, launch.output()[-3000:]
        time.sleep(0.3)


@needs_node
def test_the_viewer_client_decodes_every_channel_of_the_demo(tmp_path: Path) -> None:
    port = free_port_pair()
    launch = Launch(DEMO, "view:=true", f"view_port:={port}", "window:=100", "hop:=20", tmp=tmp_path)
    try:
        _wait_serving(launch)
        time.sleep(8)  # the first graph needs 100 samples (5 s at 20 Hz), predictions a history
        res = run_node("view_client.mjs", f"ws://127.0.0.1:{port}", "6", timeout=60)
        slow = run_node("view_client.mjs", f"ws://127.0.0.1:{port}", "4", "slow", timeout=60)
        alive = launch.proc.poll() is None
    finally:
        launch.close()
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["errors"] == [], got["errors"][:10]
    ch = got["channels"]
    for topic in ("/agents/state", "/features", "/causal/graph", "/predictions", "/sim/ground_truth",
                  "/view/scene", "/view/features", "/view/links", "/view/predictions", "/view/truth_links",
                  "/view/graph"):
        assert topic in ch and ch[topic]["messages"] > 0 and ch[topic]["bad"] == 0, (topic, ch.get(topic))
        assert ch[topic]["encoding"] == ("protobuf" if topic in _PROTOBUF else "json"), topic
    assert {t: ch[t]["schemaName"] for t in _PROTOBUF} == _PROTOBUF
    scene = ch["/view/scene"]["sample"]["entities"]  # decoded with the descriptor set the server advertised
    assert {e["id"] for e in scene} >= {"robot", "h1"}
    assert all(set(e["timestamp"]) == {"seconds", "nanos"} for e in scene)  # google.protobuf.Timestamp
    pred = ch["/view/predictions"]["sample"]["entities"]
    assert pred and all(e["id"].startswith("pred/") and e["lines"] and e["lines"][0]["points"] for e in pred)
    image = ch["/view/graph"]["sample"]  # the graph picture: its data's length in bytes
    assert ch["/view/graph"]["schemaName"] == "foxglove.RawImage" and image["encoding"] == "rgb8"
    assert image["data"] == image["width"] * image["height"] * 3 and image["step"] == image["width"] * 3
    assert (image["width"], image["height"]) == (2 * PANEL[0], PANEL[1])  # the discovered graph | the truth
    assert layout_topics(load_layout(), set(ch)) <= set(ch)  # launch/foxglove_layout.json: advertised channels
    graph = ch["/causal/graph"]["sample"]
    assert graph["names"] and "stamp" in graph and "stamp_ns" not in graph
    assert ch["/agents/state"]["messages"] > 50  # 20 Hz for 6 s, nothing lost
    # A stalled client never blocks the bus: the view goes on, and the client gets messages again.
    assert alive, launch.output()[-3000:]
    assert slow.returncode == 0, slow.stderr
    assert json.loads(slow.stdout)["channels"]["/agents/state"]["messages"] > 0


_PROTOBUF = {"/view/scene": "foxglove.SceneUpdate", "/view/predictions": "foxglove.SceneUpdate",
             "/view/graph": "foxglove.RawImage"}


def test_a_taken_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run_on_taken_port("run", "foxglove", "--name", "view", "-p", "port={port}")
