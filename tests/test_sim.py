"""The HRI simulator: determinism, interventions that check its ground truth, discovery.

The discovery check runs tigramite's PCMCI (ParCorr) directly on simulated features: this
is what the end-to-end scenario relies on.
"""

from __future__ import annotations

import numpy as np
import pytest
from tigramite import data_processing as pp
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.pcmci import PCMCI

from causalstream.models.errors import ModelError, ParameterError
from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.models.sim import Distractor, HriSim, Read, SimFrame, hri_scene

DISTRACTORS = ["h4", "h5"]  # default scenario: robot, h1 h2 reactive, h3 follows h1, h4 h5 distractors


def _track(frames: list[SimFrame], agent: str) -> np.ndarray:
    k = frames[0].ids.index(agent)
    return np.array([[f.x[k], f.y[k], f.vx[k], f.vy[k]] for f in frames])


def test_same_seed_same_run_other_seed_other_run() -> None:
    a, b, c = HriSim(seed=7).run(300), HriSim(seed=7).run(300), HriSim(seed=8).run(300)
    for fa, fb in zip(a, b):
        for field in ("x", "y", "vx", "vy", "heading", "goal"):
            assert np.array_equal(getattr(fa, field), getattr(fb, field))
    assert not np.array_equal(a[-1].x, c[-1].x)


def test_default_scenario_roles_and_agent_graph() -> None:
    sim = HriSim()
    ids, adj = sim.agent_graph()
    assert sim.roles == ["robot", "reactive", "reactive", "follower", "distractor", "distractor"]
    links = {(ids[a], ids[b]) for a, b in zip(*np.nonzero(adj))}
    assert links == {("robot", "h1"), ("robot", "h2"), ("h1", "h3")}
    # Follower k follows reactive k mod n_reactive; the graph follows the mechanisms built.
    ids, adj = HriSim(n_reactive=2, n_followers=2, n_distractors=0).agent_graph()
    assert {(ids[a], ids[b]) for a, b in zip(*np.nonzero(adj))} == {
        ("robot", "h1"), ("robot", "h2"), ("h1", "h3"), ("h2", "h4")}


def test_changing_the_robot_route_moves_reactive_people_but_no_distractor() -> None:
    route_a = np.array([[1.0, 1.0], [7.0, 7.0]])
    route_b = np.array([[7.0, 1.0], [1.0, 7.0], [4.0, 4.0]])
    a = HriSim(seed=3, robot_waypoints=route_a).run(400)
    b = HriSim(seed=3, robot_waypoints=route_b).run(400)
    for agent in DISTRACTORS:
        assert np.array_equal(_track(a, agent), _track(b, agent)), agent
    for agent in ("robot", "h1", "h2", "h3"):  # h3 through its leader h1
        assert not np.array_equal(_track(a, agent), _track(b, agent)), agent


def test_do_interventions_reach_exactly_the_descendants_in_the_agent_graph() -> None:
    """Hold each agent still for 5 s: exactly its descendants in agent_graph() move differently."""
    ids, adj = HriSim(seed=5).agent_graph()
    reach = np.eye(len(ids), dtype=int)
    for _ in ids:  # transitive closure
        reach = ((reach + reach @ adj) > 0).astype(int)

    def run(do_agent: str | None) -> list[SimFrame]:
        sim = HriSim(seed=5)
        return [sim.step(do={do_agent: (0.0, 0.0)} if do_agent and 100 <= k < 150 else None) for k in range(300)]

    base = run(None)
    for a, agent in enumerate(ids):
        moved = run(agent)
        changed = {other for other in ids if not np.array_equal(_track(base, other), _track(moved, other))}
        assert changed == {ids[b] for b in np.nonzero(reach[a])[0]}, agent


def test_an_undeclared_read_is_refused() -> None:
    class Sneaky(Distractor):
        def velocity(self, past, goal):  # type: ignore[no-untyped-def]
            past("robot", "pos", 1)  # watches the robot without declaring it
            return super().velocity(past, goal)

    sim = HriSim(seed=0)
    honest = sim.mechanisms[-1]
    sim.mechanisms[-1] = Sneaky(honest.agent, honest.rng, sim.dt, sim.arena)
    with pytest.raises(ModelError, match="did not declare"):
        sim.step()
    assert Read("robot", "pos", 1) not in sim.mechanisms[-1].reads


def test_reactive_speed_rises_with_distance_to_the_robot() -> None:
    spec = FeatureSpec(human_variables=("v", "d_robot"), humans=("h1", "h2", "h4"))
    for seed in (0, 1, 2):
        X = FeatureExtractor(spec).transform(HriSim(seed=seed).run(2000))[50:]
        corr = {h: np.corrcoef(X[:, spec.names.index(f"{h}.v")], X[:, spec.names.index(f"{h}.d_robot")])[0, 1]
                for h in ("h1", "h2", "h4")}
        assert corr["h1"] > 0.25 and corr["h2"] > 0.25, (seed, corr)
        assert abs(corr["h4"]) < min(corr["h1"], corr["h2"]), (seed, corr)


def test_variable_truth_projects_onto_the_agent_graph() -> None:
    sim = HriSim()
    ids, adj = sim.agent_graph()
    own = FeatureSpec(robot_variables=("v", "d_goal"), human_variables=("v", "heading"), humans=tuple(ids[1:]))
    truth = sim.ground_truth(own, tau_max=2)
    assert truth.graph.shape == (len(own.names), len(own.names), 3)
    assert np.array_equal(truth.agent_adjacency(ids), adj)
    assert ("robot.v", "h1.v", 1) in truth.links() and ("h1.v", "h3.v", 1) in truth.links()
    assert not any("h4" in s or "h4" in t for s, t, _ in truth.links() if s.split(".")[0] != t.split(".")[0])
    # A relational feature reads the robot by definition: documented, and true at variable level.
    rel = sim.ground_truth(FeatureSpec(human_variables=("d_robot",), humans=("h4",)), tau_max=1)
    assert ("robot.v", "h4.d_robot", 0) in rel.links()
    assert rel.graph[1, 0, 0] == "<--"
    with pytest.raises(ParameterError):
        sim.ground_truth(FeatureSpec(n_nearest=2))


def _discovered_agent_links(seed: int, n_samples: int = 500, tau_max: int = 2, alpha: float = 0.001) -> set:
    sim = HriSim(seed=seed)
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v",), humans=tuple(sim.ids[1:]))
    X = FeatureExtractor(spec).transform(sim.run(n_samples + 50))[50:]
    pcmci = PCMCI(pp.DataFrame(X, var_names=spec.names), ParCorr(), verbosity=0)
    graph = pcmci.run_pcmci(tau_max=tau_max, pc_alpha=None, alpha_level=alpha)["graph"]
    agents = [n.split(".")[0] for n in spec.names]
    return {(agents[i], agents[j]) for i, j, _ in zip(*np.nonzero(graph == "-->")) if agents[i] != agents[j]}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pcmci_finds_the_cross_links_and_leaves_distractors_alone(seed: int) -> None:
    ids, adj = HriSim(seed=seed).agent_graph()
    truth = {(ids[a], ids[b]) for a, b in zip(*np.nonzero(adj))}
    found = _discovered_agent_links(seed)
    assert truth <= found, f"missed {truth - found}"
    assert not [link for link in found if set(link) & set(DISTRACTORS)], found


def test_scenes_are_subsampled_runs_with_their_agent_graph() -> None:
    from_scene = hri_scene(n_frames=12, seed=4)
    frames = HriSim(seed=4).run(50 + 12 * 4)
    expected = np.stack([f.positions() for f in frames[53::4]], axis=1)
    assert np.array_equal(from_scene.positions, expected)
    assert np.array_equal(from_scene.adjacency, HriSim(seed=4).agent_graph()[1])
    steps = np.linalg.norm(np.diff(from_scene.positions, axis=1), axis=-1)
    assert steps.max() < 2.0 * 0.4 + 1e-9  # 0.4 s between frames, speeds capped at 2 m/s
    with pytest.raises(ParameterError):
        hri_scene(4, rate_hz=3.0)
