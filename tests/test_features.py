"""Feature extraction: fixed N while agents come and go, values, slots, ROS-Causal risk."""

from __future__ import annotations

import numpy as np
import pytest

from causalstream.models.errors import ParameterError
from causalstream.models.features import FeatureExtractor, FeatureSpec, NearestSlots, collision_risk, inverse_ttc
from causalstream.models.sim import HriSim, SimFrame
from causalstream.stream.codec import decode_payload, encode_payload
from causalstream.stream.messages import AgentStates


def _frame(ids: list[str], xy: list[tuple[float, float]], vxy: list[tuple[float, float]] | None = None,
           t: float = 0.0) -> SimFrame:
    pos = np.array(xy, float).reshape(len(ids), 2)
    vel = np.zeros_like(pos) if vxy is None else np.array(vxy, float).reshape(len(ids), 2)
    roles = ["robot" if i == "robot" else "human" for i in ids]
    return SimFrame(t, ids, roles, pos[:, 0], pos[:, 1], vel[:, 0], vel[:, 1],
                    np.arctan2(vel[:, 1], vel[:, 0]), pos + 1.0)


def test_missing_agents_give_nan_never_a_shorter_vector() -> None:
    spec = FeatureSpec(robot_variables=("v", "d_goal"), human_variables=("v", "d_robot", "risk"), humans=("h1", "h2"))
    ext = FeatureExtractor(spec)
    full = ext.update(_frame(["robot", "h1", "h2"], [(0, 0), (3, 0), (0, 4)], [(1, 0), (0, 0), (0, 0)])).get()
    assert full.shape == (8,) and np.isfinite(full).all()
    assert full[spec.names.index("h2.d_robot")] == pytest.approx(4.0)
    no_h1 = ext.update(_frame(["h2", "robot"], [(0, 4), (0, 0)])).get()
    assert no_h1.shape == (8,)
    assert [n for n, v in zip(spec.names, no_h1) if np.isnan(v)] == ["h1.v", "h1.d_robot", "h1.risk"]
    no_robot = ext.update(_frame(["h1", "h2"], [(3, 0), (0, 4)])).get()
    assert [n for n, v in zip(spec.names, no_robot) if np.isnan(v)] == [
        "robot.v", "robot.d_goal", "h1.d_robot", "h1.risk", "h2.d_robot", "h2.risk"]
    assert ext.update(_frame([], [])).get().shape == (8,)


def test_values_match_the_frame() -> None:
    frame = HriSim(seed=1).run(30)[-1]
    spec = FeatureSpec(robot_variables=("x", "vy", "v", "heading", "d_goal"),
                       human_variables=("v", "d_robot", "d_goal", "d_h1"), humans=("h2", "h4"))
    got = dict(zip(spec.names, FeatureExtractor(spec).update(frame).get()))
    pos, vel, goal = frame.positions(), np.stack([frame.vx, frame.vy], 1), frame.goal
    assert got["robot.x"] == frame.x[0] and got["robot.vy"] == frame.vy[0]
    assert got["robot.v"] == pytest.approx(np.hypot(*vel[0]))
    assert got["robot.heading"] == pytest.approx(np.arctan2(vel[0, 1], vel[0, 0]))
    assert got["robot.d_goal"] == pytest.approx(np.hypot(*(goal[0] - pos[0])))
    k = frame.ids.index("h4")
    assert got["h4.d_robot"] == pytest.approx(np.hypot(*(pos[k] - pos[0])))
    assert got["h4.d_h1"] == pytest.approx(np.hypot(*(pos[k] - pos[1])))
    assert got["h4.d_goal"] == pytest.approx(np.hypot(*(goal[k] - pos[k])))


def test_nearest_slots_keep_n_fixed_and_do_not_swap_on_small_changes() -> None:
    spec = FeatureSpec(robot_variables=(), human_variables=("d_robot",), n_nearest=2, hysteresis=0.5)
    ext = FeatureExtractor(spec)
    assert ext.names == ["n1.d_robot", "n2.d_robot"]
    ext.update(_frame(["robot", "a", "b", "c"], [(0, 0), (3, 0), (1, 0), (2, 0)]))
    assert ext.slots_ids() == ["b", "c"]
    # a overtakes c by 0.3 m: within hysteresis, slots stay.
    vals = ext.update(_frame(["robot", "a", "b", "c"], [(0, 0), (1.7, 0), (1, 0), (2, 0)])).get()
    assert ext.slots_ids() == ["b", "c"] and vals.tolist() == [1.0, 2.0]
    # a overtakes c by 1 m: a takes c's slot; b keeps slot 1.
    ext.update(_frame(["robot", "a", "b", "c"], [(0, 0), (1, 0), (1.2, 0), (2, 0)]))
    assert ext.slots_ids() == ["b", "a"]
    # Everyone leaves but b: the other slot is NaN, N unchanged.
    vals = ext.update(_frame(["robot", "b"], [(0, 0), (1.2, 0)])).get()
    assert ext.slots_ids() == ["b", None] and vals[0] == pytest.approx(1.2) and np.isnan(vals[1])


def test_slots_fill_in_id_order_without_a_robot() -> None:
    assert NearestSlots(2).update(["z", "a", "m"], np.full(3, np.nan)).occupants == ["a", "m"]


def test_acceleration_needs_time_and_is_nan_first() -> None:
    spec = FeatureSpec(robot_variables=("a",), human_variables=(), humans=())
    ext = FeatureExtractor(spec)
    frames = [_frame(["robot"], [(0, 0)], [(v, 0)], t=t) for v, t in [(1.0, 0.0), (1.2, 0.1), (1.2, 0.2)]]
    np.testing.assert_allclose(ext.transform(frames)[:, 0], [np.nan, 2.0, 0.0])
    no_time = _frame(["robot"], [(0, 0)])
    with pytest.raises(ParameterError, match="needs a time"):
        FeatureExtractor(spec).update(type("F", (), {k: getattr(no_time, k) for k in
                                                    ("ids", "roles", "x", "y", "vx", "vy", "heading", "goal")})())


def test_risk_follows_ros_causal() -> None:
    me, robot = np.array([[0.0, 0.0]]), np.array([[3.0, 0.0]])
    walking_in, still = np.array([[1.0, 0.0]]), np.zeros((1, 2))
    head_on = collision_risk(me, walking_in, robot, np.array([[-1.0, 0.0]]))[0]
    # On course: exp(|v| + 1/ttc + steering); ttc = 3 m / 2 m/s; P = (1, 0) lies 1 * sin(atan(2.5/3)) from each edge.
    steer = np.sin(np.arctan2(2.5, 3.0))
    assert head_on == pytest.approx(np.exp(1.0 + 2.0 / 3.0 + steer))
    assert collision_risk(me, -walking_in, robot, still)[0] == pytest.approx(np.e)  # walking away
    assert collision_risk(me, walking_in, robot * 3, still)[0] == pytest.approx(np.e)  # beyond safe distance
    vertical = collision_risk(me, np.array([[0.0, 1.0]]), np.array([[0.0, 3.0]]), still)[0]
    assert vertical > np.e  # AB vertical: the slope-based original divides by zero here
    assert inverse_ttc(me, walking_in, robot, np.array([[-1.0, 0.0]]))[0] == pytest.approx(2.0 / 3.0)
    assert inverse_ttc(me, -walking_in, robot, still)[0] == 0.0


def test_unknown_variables_and_bad_numbers_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="unknown variable 'speed'"):
        FeatureSpec(human_variables=("speed",))
    with pytest.raises(ParameterError):
        FeatureSpec(n_nearest=-1)
    assert FeatureSpec(human_variables=["v"], humans=["h1"]).humans == ("h1",)  # YAML lists accepted



def test_a_decoded_agent_states_message_gives_the_same_features() -> None:
    frame = HriSim(seed=2).run(20)[-1]
    msg = AgentStates(stamp_ns=round(frame.t * 1e9), ids=frame.ids, roles=frame.roles, x=frame.x, y=frame.y,
                      vx=frame.vx, vy=frame.vy, heading=frame.heading, goal=frame.goal)
    decoded = decode_payload("AgentStates", encode_payload(msg))
    spec = FeatureSpec(human_variables=("v", "d_robot", "risk", "d_goal"), n_nearest=3)
    np.testing.assert_array_equal(FeatureExtractor(spec).update(decoded).get(),
                                  FeatureExtractor(spec).update(frame).get())


def test_deterministic_pairs_flag_a_with_v_of_the_same_agent_only():
    from_spec = FeatureSpec(robot_variables=("v", "a"), human_variables=("a", "d_robot"), humans=("h1",))
    assert from_spec.deterministic_pairs() == [("robot.a", "robot.v")]  # h1.a has no h1.v
    assert FeatureSpec(human_variables=("v", "a"), humans=("h1", "h2")).deterministic_pairs() == [
        ("h1.a", "h1.v"), ("h2.a", "h2.v")]
    assert FeatureSpec(robot_variables=("v",), human_variables=("v", "d_goal"), n_nearest=2).deterministic_pairs() == []
