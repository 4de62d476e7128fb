"""The predictor node: gating by the causal graph, bad input, and a real process on the bus."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from causalstream.nodes.predictor import PredictorNode
from causalstream.nodes.testing import MockNode
from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.messages import AgentStates, CausalGraph, Predictions

from support import spawn_cli, stop

IDS = ["robot", "h1", "h2"]


def _frames(robot_dx: float = 0.3, n: int = 9, nan_agent: str | None = None, h2_dy: float = 0.1) -> list[AgentStates]:
    frames = []
    for k in range(n):
        x = np.array([robot_dx * k, 1.0 + 0.2 * k, 4.0 - 0.25 * k])
        y = np.array([0.0, 0.5, 2.0 + h2_dy * k])
        if nan_agent is not None and k == 3:
            x[IDS.index(nan_agent)] = np.nan
        frames.append(AgentStates(stamp_ns=int(k * 0.4e9), ids=IDS, roles=["robot", "human", "human"],
                                  x=x, y=y, vx=np.zeros(3), vy=np.zeros(3)))
    return frames


def _graph(robot_drives: list[str]) -> CausalGraph:
    names = ["robot.v", "h1.v", "h2.v"]
    marks = np.full((3, 3, 2), "", dtype=object)
    for target in robot_drives:
        marks[0, names.index(f"{target}.v"), 1] = "-->"
    return CausalGraph(names=names, tau_max=1, graph=marks.tolist(), val=np.zeros((3, 3, 2)), p=np.ones((3, 3, 2)))


def _predict(frames: list[AgentStates], graph: CausalGraph | None = None, **params) -> tuple[MockNode, list[Predictions]]:
    params.setdefault("fallback", "off")  # the model's own gating; the CV fallback: tests/test_shift.py
    mock = MockNode(PredictorNode, params=params)
    if graph is not None:
        mock.feed("causal/graph", graph)
    mock.feed("agents/state", *frames)
    mock.run()
    return mock, mock.outputs("predictions")


def test_a_links_prior_that_cuts_the_robot_off_makes_h2_ignore_it_exactly() -> None:
    graph = _graph(robot_drives=["h1"])  # robot -> h1 only; h2 does not listen to the robot
    _, slow = _predict(_frames(robot_dx=0.1), graph, graph_prior="links")
    _, fast = _predict(_frames(robot_dx=0.6), graph, graph_prior="links")
    h2 = IDS.index("h2")
    assert slow[-1].agent_ids == IDS
    np.testing.assert_array_equal(slow[-1].trajectories[h2], fast[-1].trajectories[h2])
    # the robot's own prediction does follow its motion
    assert not np.allclose(slow[-1].trajectories[0], fast[-1].trajectories[0])


def test_an_agents_prior_cuts_off_the_agent_the_graph_links_to_nobody() -> None:
    graph = _graph(robot_drives=["h1"])  # h2 takes part in no link: a distractor
    h2 = IDS.index("h2")
    runs = {(g, dy): _predict(_frames(h2_dy=dy), graph if g else None)[1][-1] for g in (True, False) for dy in (0.1, -0.4)}
    for g in (True, False):  # h2's own prediction follows its motion either way
        assert not np.allclose(runs[g, 0.1].trajectories[h2], runs[g, -0.4].trajectories[h2])
    others = [IDS.index("robot"), IDS.index("h1")]
    np.testing.assert_array_equal(runs[True, 0.1].trajectories[others], runs[True, -0.4].trajectories[others])
    # without the graph the learned gate alone decides, and h2's motion does reach the others
    assert not np.array_equal(runs[False, 0.1].trajectories[others], runs[False, -0.4].trajectories[others])


def test_predictions_are_sorted_modes_with_latency_and_model_id() -> None:
    _, out = _predict(_frames())
    last = out[-1]
    assert last.trajectories.shape == (3, 20, 12, 2) and last.probabilities.shape == (3, 20)
    assert np.all(np.diff(last.probabilities, axis=1) <= 0) and np.allclose(last.probabilities.sum(axis=1), 1, atol=1e-4)
    assert last.model_id and last.latency_ms > 0 and np.isfinite(last.trajectories).all()


def test_nan_positions_leave_that_agent_out_and_count_bad(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        mock, out = _predict(_frames(nan_agent="h1", n=11))
    assert out, "no prediction at all"
    assert all("h1" not in p.agent_ids for p in out) and all(p.agent_ids == ["robot", "h2"] for p in out)
    assert mock.node.counters["bad"] >= 1
    assert "agent h1 has NaN/inf positions" in caplog.text


def test_too_few_steps_predicts_nothing_yet() -> None:
    _, out = _predict(_frames(n=7))
    assert out == []


def test_graph_names_that_match_no_agent_are_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    g = _graph(["h1"])
    g.names = ["n1.v", "n2.v", "n3.v"]
    with caplog.at_level(logging.WARNING):
        _, out = _predict(_frames(), g)
    assert len(out) == 2 and "match no agent" in caplog.text


@pytest.mark.parametrize("content", [None, b"not an onnx model"])
def test_a_missing_or_corrupt_model_falls_back_to_constant_velocity(tmp_path, content, caplog) -> None:
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        _, out = _predict(_frames(), model=str(path))
    assert "constant velocity" in caplog.text
    last = out[-1]
    assert last.model_id == "constant_velocity(fallback)" and last.trajectories.shape == (3, 1, 12, 2)
    # h1 moves 0.2 m per step in x: the extrapolation continues that
    np.testing.assert_allclose(last.trajectories[1, 0, 0], [1.0 + 0.2 * 9, 0.5], atol=1e-5)


def test_predictor_process_on_the_bus(bus: Endpoints) -> None:
    node = spawn_cli("run", "predictor", endpoints=bus)
    try:
        with Subscriber("/predictions", endpoints=bus) as sub, \
                Publisher("/agents/state", AgentStates, endpoints=bus) as pub:
            sub.wait_ready(10)
            pub.wait_ready(10).wait_for_subscriber(60)
            got = None
            for frame in _frames(n=30):
                pub.publish(frame)
                got = sub.recv(timeout=0.2) or got
            got = got or sub.recv(timeout=10)
        assert got is not None, "no /predictions from the predictor process"
        assert got.message.agent_ids == IDS and got.message.trajectories.shape[1:] == (20, 12, 2)
    finally:
        stop(node)
