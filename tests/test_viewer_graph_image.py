"""The causal graph as a picture (stream/viewer_graph_image.py) and its channel /view/graph.

The picture is drawn again only when a link set changes; an arrow puts its colour between the
two variables it links, its head at the effect; the channel's message is Foxglove's
foxglove.RawImage (rgb8) in protobuf with the schema foxglove-sdk advertises; the simulator's
truth goes beside the discovered graph, and to its own links table.
"""

from __future__ import annotations

import foxglove.messages as fm
import numpy as np
from test_viewer_json import decoded

from causalstream.models.features import FeatureSpec
from causalstream.models.sim import HriSim
from causalstream.nodes.sim import truth_message
from causalstream.stream.messages import CausalGraph
from causalstream.stream.viewer_channels import ViewerChannels
from causalstream.stream.viewer_graph_image import PANEL, render

NAMES = ["robot.v", "h1.v", "h2.v"]  # one agent each: a node colour each
RED = np.array([214, 39, 40])  # lag 1
ROBOT, H1 = np.array([26, 102, 255]), np.array([255, 127, 14])


def _graph(links: dict[tuple[int, int, int], str], val: float = 0.5, names: list[str] = NAMES) -> CausalGraph:
    n = len(names)
    graph = [[["" for _ in range(3)] for _ in range(n)] for _ in range(n)]
    for (i, j, lag), mark in links.items():
        graph[i][j][lag] = mark
    return CausalGraph(names=names, tau_max=2, graph=graph, val=np.full((n, n, 3), val), p=np.zeros((n, n, 3)),
                       stamp_ns=1_000_000_007)


def _pictures(view: ViewerChannels, topic: str, msg: CausalGraph) -> list[dict]:
    return [decoded(r) for r in view.update(topic, msg) if r.topic == "/view/graph"]


def _centre(img: np.ndarray, colour: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero((img == colour).all(axis=2))
    assert len(xs) > 50, "no node of that colour"
    return np.array([xs.mean(), ys.mean()])


def _near(img: np.ndarray, colour: np.ndarray, point: np.ndarray, radius: float) -> int:
    ys, xs = np.nonzero((np.abs(img.astype(int) - colour) <= 10).all(axis=2))
    return int((np.hypot(xs - point[0], ys - point[1]) < radius).sum())


def _spread(img: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """How far across the way from ``start`` to ``end`` red reaches within 25 px of ``end``."""
    ys, xs = np.nonzero((np.abs(img.astype(int) - RED) <= 10).all(axis=2))
    d = (end - start) / np.linalg.norm(end - start)
    rel = np.stack([xs - end[0], ys - end[1]], axis=1)
    along, across = rel @ d, rel @ np.array([-d[1], d[0]])
    near = (along > -25) & (along < 0)
    return float(np.ptp(across[near])) if near.any() else 0.0


def test_the_picture_is_drawn_again_when_a_link_comes_or_goes_and_not_otherwise() -> None:
    view = ViewerChannels()
    one = {(0, 1, 1): "-->"}
    two = {(0, 1, 1): "-->", (1, 2, 0): "o-o", (2, 1, 0): "o-o"}
    steps = [(one, 0.5), (one, 0.7), (one, 0.2), (two, 0.2), (two, 0.9), (one, 0.9), (one, 0.3), ({}, 0.3)]
    drawn = [len(_pictures(view, "/causal/graph", _graph(links, val))) for links, val in steps]
    assert drawn == [1, 0, 0, 1, 0, 1, 0, 1]  # strength alone never redraws
    assert view.picture.redraws == 4
    truth = _graph({(0, 1, 1): "-->", (0, 0, 1): "-->"}, 1.0)
    assert len(_pictures(view, "/sim/ground_truth", truth)) == 1  # the truth arrives: beside it
    assert len(_pictures(view, "/sim/ground_truth", truth)) == 0  # latched again: the same links
    assert len(_pictures(view, "/causal/graph", _graph({}, 0.3))) == 0
    assert view.picture.redraws == 5


def test_an_arrow_colours_the_way_between_its_variables_and_points_at_the_effect() -> None:
    empty = render(_graph({}))
    forward = render(_graph({(0, 1, 1): "-->"}))
    backward = render(_graph({(1, 0, 1): "-->"}))
    robot, h1 = _centre(forward, ROBOT), _centre(forward, H1)
    mid = (robot + h1) / 2
    assert _near(empty, RED, mid, 10) == 0
    assert _near(forward, RED, mid, 10) > 10 and _near(backward, RED, mid, 10) > 10
    changed = (forward != empty).any(axis=2)
    changed[:20] = False  # the title row says how many links
    ys, xs = np.nonzero(changed)  # every other changed pixel is on the way from robot.v to h1.v
    along = ((xs - robot[0]) * (h1 - robot)[0] + (ys - robot[1]) * (h1 - robot)[1]) / np.sum((h1 - robot) ** 2)
    assert along.min() > 0 and along.max() < 1
    # the head is at the effect: red reaches wider across the way there than at the cause
    assert _spread(forward, robot, h1) > _spread(forward, h1, robot) + 2
    assert _spread(backward, h1, robot) > _spread(backward, robot, h1) + 2
    lag0 = render(_graph({(0, 1, 0): "-->", (1, 0, 0): "<--"}))
    assert _near(lag0, RED, mid, 10) == 0 and _near(lag0, np.array([90, 90, 90]), mid, 10) > 10  # colour: the lag


def test_the_graph_channel_is_a_raw_image_the_viewers_decode() -> None:
    view = ViewerChannels()
    recs = view.update("/causal/graph", _graph({(0, 1, 1): "-->"}))
    assert [r.topic for r in recs] == ["/causal/graph", "/view/links", "/view/graph"]
    rec = recs[-1]
    sdk = fm.RawImage.get_schema()
    assert (rec.schema_name, rec.schema_encoding, rec.message_encoding) == ("foxglove.RawImage", "protobuf", "protobuf")
    assert rec.schema_data == sdk.data  # the descriptor set foxglove-sdk advertises for its typed RawImage channel
    msg = decoded(rec)
    pixels = msg["data"]
    assert (msg["width"], msg["height"], msg["encoding"], msg["frame_id"]) == (PANEL[0], PANEL[1], "rgb8", "graph")
    assert msg["step"] == 3 * msg["width"] and len(pixels) == msg["height"] * msg["step"]
    assert msg["timestamp"] == {"seconds": 1, "nanos": 7}
    img = np.frombuffer(pixels, np.uint8).reshape(msg["height"], msg["width"], 3)
    assert np.array_equal(img, render(_graph({(0, 1, 1): "-->"})))


def test_the_simulators_truth_is_beside_the_discovered_graph_and_in_its_own_table() -> None:
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "a"), humans=("h1", "h2"))
    truth = truth_message(HriSim(n_reactive=1, n_followers=1, n_distractors=0), spec, tau_max=2, stamp_ns=5)
    view = ViewerChannels()
    by_topic = {r.topic: decoded(r) for r in view.update("/sim/ground_truth", truth)}
    assert set(by_topic) == {"/sim/ground_truth", "/view/truth_links", "/view/graph"}
    rows = {(x["source"], x["target"], -x["lag"], x["mark"]) for x in by_topic["/view/truth_links"]["links"]}
    assert rows == {link for link in truth.links() if link[2] > 0 or link[0] != link[1]}
    found = _graph({(0, 1, 1): "-->"}, names=truth.names)
    by_topic = {r.topic: decoded(r) for r in view.update("/causal/graph", found)}
    assert "/view/truth_links" not in by_topic and len(by_topic["/view/links"]["links"]) == 1
    pic = by_topic["/view/graph"]
    assert (pic["width"], pic["height"]) == (2 * PANEL[0], PANEL[1])  # two panels: found | truth
    img = np.frombuffer(pic["data"], np.uint8).reshape(pic["height"], pic["width"], 3)
    alone = render(found)
    assert np.array_equal(img[:, : PANEL[0]], alone)  # the same places for the same names
    assert (img[:, PANEL[0] + 1:] != 255).any(axis=2).sum() > (alone != 255).any(axis=2).sum()  # truth: more links


def test_picture_hz_caps_the_redraws_and_the_trailing_redraw_draws_the_latest_links() -> None:
    now = [0.0]
    view = ViewerChannels(picture_hz=2, clock=lambda: now[0])
    marks = ["-->", "", "o-o", "x-x"]
    drawn, stamps = [], []
    for k in range(40):  # the links change on every graph, 20 a second for 2 s
        now[0] = k * 0.05
        g = _graph({(0, 1, 1): marks[k % 4]})
        g.stamp_ns = k
        recs = [r for r in view.update("/causal/graph", g) if r.topic == "/view/graph"]
        drawn += [k] * len(recs)
        stamps += [r.log_time_ns for r in recs]
    assert drawn == [0, 10, 20, 30] and stamps == drawn  # at most 2 a second, each of the graph just taken
    assert view.stale_picture() is None  # 1.95 s: inside the gap after the draw at 1.5 s
    now[0] = 2.01
    last = view.stale_picture()
    assert last is not None and last.log_time_ns == 39 and view.picture.redraws == 5  # the latest links, drawn
    assert view.stale_picture() is None  # nothing changed since
    uncapped = ViewerChannels()  # no picture_hz (viewer files): every link change is drawn
    for k in range(6):
        uncapped.update("/causal/graph", _graph({(0, 1, 1): marks[k % 4]}))
    assert uncapped.picture.redraws == 6
