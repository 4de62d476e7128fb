"""The simulator's hidden driver and the true ancestral graph (issue 23 item 4, the F1 truth of its benchmark)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tigramite.independence_tests.oracle_conditional_independence import OracleCI

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.ancestral import ancestral_graph
from causalstream.models.causal.toys import stationary
from causalstream.models.errors import ParameterError
from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.models.sim import HriSim
from causalstream.nodes.sim import SimNode
from causalstream.nodes.testing import MockNode


def hidden_scene(seed: int = 0, **counts: int) -> HriSim:
    return HriSim(**{"n_reactive": 1, "n_followers": 0, "n_distractors": 1, **counts}, scene="hidden_driver", seed=seed)


def test_scene_truth_has_the_hidden_cause_and_no_link() -> None:
    sim = hidden_scene()
    assert sim.ids == ["robot", "h1", "h2", "h3", "h4"] and "group" not in sim.ids
    assert sim.roles[-2:] == ["companion", "companion"] and sim.hidden_pairs() == [("h3", "h4")]
    ids, adj = sim.agent_graph()
    assert adj[ids.index("h3")].sum() == adj[ids.index("h4")].sum() == 0  # neither drives anyone
    assert adj[:, ids.index("h3")].sum() == adj[:, ids.index("h4")].sum() == 0  # no agent drives them
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "heading"), humans=tuple(ids[1:]))
    truth = sim.ground_truth(spec, tau_max=2)
    assert truth.confounded() == [("h3.v", "h4.v", 0)]  # the impulse has no memory: one time only
    a, b = spec.names.index("h3.v"), spec.names.index("h4.v")
    assert truth.graph[a, b, 0] == truth.graph[b, a, 0] == "<->"
    pair = {n for n in spec.names if n.split(".")[0] in ("h3", "h4")}
    cross = [(s, t) for s, t, _ in truth.links() if {s, t} <= pair and s.split(".")[0] != t.split(".")[0]]
    assert cross == []  # no directed link between the companions, at any lag
    assert ("h3.v", "h3.v", 1) in truth.links() and ("robot.v", "h1.v", 1) in truth.links()
    frame = sim.step()
    assert frame.x.shape == (5,) and frame.goal.shape == (5, 2)


def test_the_default_scene_has_no_hidden_cause_and_other_agents_move_alike() -> None:
    plain, hidden = HriSim(n_reactive=1, n_followers=0, n_distractors=1, seed=3).run(200), hidden_scene(3).run(200)
    for p, h in zip(plain, hidden, strict=True):
        assert np.array_equal(p.x, h.x[:3]) and np.array_equal(p.vy, h.vy[:3])
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "a"), humans=("h1", "h2"))
    assert HriSim(n_reactive=1, n_followers=0, n_distractors=1).ground_truth(spec).confounded() == []
    with pytest.raises(ParameterError, match="unknown scene"):
        HriSim(scene="crowd")


def test_companions_move_together_and_distractors_do_not() -> None:
    sim = hidden_scene(1)
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v",), humans=tuple(sim.ids[1:]))
    X = FeatureExtractor(spec).transform(sim.run(2050))[50:]
    innov = X[1:] - 0.82 * X[:-1]  # the pace's AR(1) step at 10 Hz: exp(-0.1 / 0.5)
    corr = np.corrcoef(innov.T)
    h2, h3, h4 = (spec.names.index(f"{h}.v") for h in ("h2", "h3", "h4"))
    assert corr[h3, h4] > 0.3 and abs(corr[h2, h3]) < 0.1 and abs(corr[h2, h4]) < 0.1, corr.round(2)


def test_ancestral_graph_of_a_hidden_confounder() -> None:
    # H (2) drives X (0) and Y (1) at lag 1; each has its own memory; H hidden.
    links = {0: [((0, -1), 0.5, None), ((2, -1), 0.6, None)], 1: [((1, -1), 0.5, None), ((2, -1), 0.6, None)],
             2: []}
    g = ancestral_graph(links, observed=[0, 1], tau_max=2)
    assert g[0, 1, 0] == g[1, 0, 0] == "<->"
    assert g[0, 0, 1] == g[1, 1, 1] == "-->"
    assert (g[0, 1, 1:] == "").all() and (g[1, 0, 1:] == "").all()  # H is white: the past separates
    with_memory = {**links, 2: [((2, -1), 0.7, None)]}  # H with memory confounds every lag
    assert ancestral_graph(with_memory, [0, 1], 2)[0, 1, 1] == "<->"


def test_ancestral_graph_of_a_hidden_mediator() -> None:
    # X (0) -> M (2, hidden) -> Y (1), lag 1 each: X --> Y at lag 2; X -> Y at lag 0 stays a directed link.
    chain = {0: [], 1: [((2, -1), 0.5, None)], 2: [((0, -1), 0.5, None)]}
    g = ancestral_graph(chain, observed=[0, 1], tau_max=2)
    assert g[0, 1, 2] == "-->" and (g[0, 1, :2] == "").all() and (g[1, 0] == "").all()
    contemp = {0: [], 1: [((2, 0), 0.5, None)], 2: [((0, 0), 0.5, None)]}
    g0 = ancestral_graph(contemp, observed=[0, 1], tau_max=1)
    assert g0[0, 1, 0] == "-->" and g0[1, 0, 0] == "<--"


@pytest.mark.parametrize(("n_obs", "tau_max", "seed"), [(3, 2, 1), (4, 1, 2), (4, 2, 3), (5, 2, 4)])
def test_ancestral_graph_equals_tigramites_oracle(n_obs: int, tau_max: int, seed: int) -> None:
    """Random toy models with 2 hidden variables (as the LPCMCI tests and bench): equal to OracleCI's MAG."""
    _, links = stationary(n_obs + 2, tau_max, 50, seed, contemp_fraction=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = OracleCI(links=links, observed_vars=list(range(n_obs)), graph_is_mag=True).get_graph_from_links(tau_max)
    assert (ancestral_graph(links, list(range(n_obs)), tau_max) == ref).all()


def test_bidirected_marks_appear_in_the_oracle_cases() -> None:
    """The equality test above is not only about directed links: some of its models have <->."""
    marks = set()
    for n_obs, tau_max, seed in [(3, 2, 1), (4, 1, 2), (4, 2, 3), (5, 2, 4)]:
        _, links = stationary(n_obs + 2, tau_max, 50, seed, contemp_fraction=0.3)
        marks |= set(ancestral_graph(links, list(range(n_obs)), tau_max).ravel().tolist())
    assert {"-->", "<--", "<->"} <= marks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lpcmci_marks_the_companions_bidirected_where_pcmciplus_links_them(seed: int) -> None:
    sim = hidden_scene(seed, n_reactive=0)
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v",), humans=tuple(sim.ids[1:]))
    X = FeatureExtractor(spec).transform(sim.run(450))[50:]
    a, b = spec.names.index(f"{sim.ids[-2]}.v"), spec.names.index(f"{sim.ids[-1]}.v")
    plus = WindowedPCMCI(len(spec.names), 400, 2, method="pcmciplus", pc_alpha=0.01).update_many(X).results()
    lp = WindowedPCMCI(len(spec.names), 400, 2, method="lpcmci", pc_alpha=0.01).update_many(X).results()
    assert plus["graph"][a, b, 0] != "" and abs(plus["val_matrix"][a, b, 0]) > 0.3  # a false adjacency
    assert lp["graph"][a, b, 0] == lp["graph"][b, a, 0] == "<->"
    assert (lp["graph"][a, b, 1:] == "").all() and (lp["graph"][b, a, 1:] == "").all()


def test_sim_node_scene_param_publishes_the_hidden_pair() -> None:
    mock = MockNode(SimNode, params={"n_steps": 3, "realtime": False, "scene": "hidden_driver", "n_reactive": 1,
                                     "n_followers": 0, "n_distractors": 0}).run(duration=1)
    states = mock.outputs("agents/state")
    assert states[0].ids == ["robot", "h1", "h2", "h3"]
    truth = mock.outputs("sim/ground_truth")[0]
    assert "hidden_pair:h2<->h3" in truth.flags
    assert ("h2.v", "h3.v", 0, "<->") in truth.links()
    assert not [f for f in truth.flags if f.startswith("agent_link") and ("h2" in f or "h3" in f)]
