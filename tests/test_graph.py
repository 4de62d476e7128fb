"""The one graph module (models/causal/graph.py) and the one message conversion (nodes/graph_msg.py).

The readings must give what the three copies they replace gave: ``stream/graphs.py``'s
agent adjacency and cross links (over ``CausalGraph.links()``), ``models/causal/diff.py``'s
links and diff, and the simulator truth's ``links`` / ``agent_adjacency``. Those copies
are kept below, as they were, as the oracles.
"""

from __future__ import annotations

import numpy as np
import pytest

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.graph import LaggedGraph, diff_graphs, links_of
from causalstream.models.errors import ParameterError
from causalstream.models.features import FeatureSpec
from causalstream.models.sim import HriSim
from causalstream.nodes.graph_msg import change_event, graph_message, graph_of
from causalstream.stream.codec import decode_frame, encode_frame
from causalstream.stream.messages import CausalGraph

from causal_toys import tigramite_run, toy_data

NAMES = ["robot.v", "robot.a", "h1.v", "h1.d_robot", "h2.v", "h3.v"]


# -- the replaced copies, verbatim in substance ----------------------------------------


def _old_agent_adjacency(graph: CausalGraph) -> tuple[list[str], np.ndarray]:
    """stream/graphs.py agent_adjacency (directed_only=True) over the message's links()."""
    agents: list[str] = []
    for n in graph.names:
        if n.split(".", 1)[0] not in agents:
            agents.append(n.split(".", 1)[0])
    index = {a: k for k, a in enumerate(agents)}
    adj = np.zeros((len(agents), len(agents)), dtype=np.int64)
    for src, dst, _lag, mark in graph.links():
        a, b = index[src.split(".", 1)[0]], index[dst.split(".", 1)[0]]
        if a == b:
            continue
        if mark == "-->":
            adj[a, b] = 1
        elif mark == "<--":
            adj[b, a] = 1
    return agents, adj


def _old_links_of(graph: np.ndarray, names: list[str]) -> set[tuple[str, str, int, str]]:
    """models/causal/diff.py links_of."""
    out = set()
    for i, j, tau in zip(*np.nonzero(graph != "")):
        if tau == 0 and i > j:
            continue
        out.add((names[i], names[j], int(tau), str(graph[i, j, tau])))
    return out


def _old_truth_links(names: list[str], graph: np.ndarray) -> list[tuple[str, str, int]]:
    """models/sim/truth.py VariableGraph.links."""
    return [(names[i], names[j], int(tau)) for tau in range(graph.shape[2])
            for i, j in zip(*np.nonzero(graph[:, :, tau] == "-->"))]


def _old_truth_adjacency(names: list[str], graph: np.ndarray, agents: list[str]) -> np.ndarray:
    """models/sim/truth.py VariableGraph.agent_adjacency."""
    adj = np.zeros((len(agents), len(agents)), dtype=int)
    index = {a: k for k, a in enumerate(agents)}
    for src, dst, _ in _old_truth_links(names, graph):
        a, b = index[src.split(".")[0]], index[dst.split(".")[0]]
        adj[a, b] = int(a != b) | adj[a, b]
    return adj


# -- graphs to read --------------------------------------------------------------------


def _random_marks(n: int, tau_max: int, rng: np.random.Generator) -> np.ndarray:
    """A tigramite-shaped graph: lagged '-->', lag-0 pairs '-->'/'<--', 'o-o' or 'x-x' with their mirrors."""
    marks = np.where(rng.random((n, n, tau_max + 1)) < 0.2, "-->", "").astype("<U3")
    marks[:, :, 0] = ""
    for i, j in zip(*np.triu_indices(n, 1)):
        kind = rng.integers(6)
        if kind == 1:
            marks[i, j, 0], marks[j, i, 0] = "-->", "<--"
        elif kind == 2:
            marks[i, j, 0], marks[j, i, 0] = "<--", "-->"
        elif kind in (3, 4):
            marks[i, j, 0] = marks[j, i, 0] = "o-o" if kind == 3 else "x-x"
    return marks


def _graphs() -> list[LaggedGraph]:
    rng = np.random.default_rng(7)
    out = [LaggedGraph(NAMES, _random_marks(len(NAMES), 2, rng), rng.normal(size=(6, 6, 3)), rng.random((6, 6, 3)),
                       rng.random((6, 6, 3))) for _ in range(30)]
    X, _ = toy_data(4, 2, 400, seed=3)
    for method in ("pcmci", "pcmciplus"):
        res = WindowedPCMCI(4, 400, 2, method=method, var_names=["a.x", "a.y", "b.x", "c.x"]).update_many(X).results()
        out.append(LaggedGraph.from_results(res))
    return out


GRAPHS = _graphs()


def test_the_toy_graphs_hold_every_kind_of_mark() -> None:
    seen = {str(m) for g in GRAPHS for m in np.unique(g.marks)}
    assert {"", "-->", "<--", "o-o", "x-x"} <= seen


@pytest.mark.parametrize("k", range(len(GRAPHS)))
def test_links_diff_and_adjacency_equal_the_replaced_functions(k: int) -> None:
    g = GRAPHS[k]
    msg = graph_message(g)
    assert g.links() == msg.links()
    assert set(g.links(mirrors=False)) == _old_links_of(g.marks, g.names) == links_of(g.marks, g.names)
    agents, adj = g.agent_adjacency()
    old_agents, old_adj = _old_agent_adjacency(msg)
    assert agents == old_agents and np.array_equal(adj, old_adj)
    assert g.cross_links() == {(old_agents[i], old_agents[j]) for i, j in zip(*np.nonzero(old_adj))}
    order = list(reversed(agents)) + ["nobody"]
    assert np.array_equal(g.agent_adjacency(order)[1], _old_truth_adjacency(g.names, g.marks, order))
    previous = GRAPHS[k - 1]
    if previous.marks.shape == g.marks.shape:
        d, names = g.diff(previous), g.names
        old, new = _old_links_of(previous.marks, names), _old_links_of(g.marks, names)
        assert d.added == sorted(new - old) and d.removed == sorted(old - new)
        places = {link[:3] for link in d.added} | {link[:3] for link in d.removed}
        assert d.shd == len(places) and d.changed == bool(places)


def test_the_simulator_truth_reads_as_before() -> None:
    spec = FeatureSpec(robot_variables=("v",), human_variables=("v", "d_robot"), humans=("h1", "h2", "h3", "h4"))
    sim = HriSim(n_reactive=2, n_followers=1, n_distractors=1, seed=2)
    truth = sim.ground_truth(spec, tau_max=2)
    ids = list(sim.ids)
    assert truth.links() == _old_truth_links(truth.names, truth.graph)
    assert np.array_equal(truth.agent_adjacency(ids), _old_truth_adjacency(truth.names, truth.graph, ids))
    assert {m for *_, m in truth.as_graph().links()} >= {"-->", "<--"}  # lag-0 links and their mirrors


def test_results_dict_to_graph_to_message_to_graph_loses_nothing() -> None:
    X, _ = toy_data(3, 2, 300, seed=5)
    ref = tigramite_run(X, "pcmciplus", 2)
    names = ["a.x", "b.x", "c.x"]
    g = LaggedGraph.from_results(ref, names, stability=np.full(ref["val_matrix"].shape, 0.25))
    _, msg = decode_frame(encode_frame("/causal/graph", graph_message(g, seq=4, method="pcmciplus"), seq=1,
                                       publisher="p"))  # the bytes on the bus, and back
    back = graph_of(msg)
    assert isinstance(msg, CausalGraph) and msg.seq == 4 and msg.names == names
    assert back.names == names and back.marks.dtype == np.dtype("<U3") and back.tau_max == 2
    for ours, theirs in ((back.marks, ref["graph"]), (back.val, ref["val_matrix"]), (back.p, ref["p_matrix"])):
        assert np.array_equal(ours, np.asarray(theirs))
    assert np.array_equal(back.stability, g.stability)
    res = back.to_results()
    assert np.array_equal(res["graph"], ref["graph"]) and np.array_equal(res["p_matrix"], ref["p_matrix"])
    assert LaggedGraph.from_results(res).links() == g.links()


def test_an_empty_graph_and_bad_shapes() -> None:
    empty = graph_of(CausalGraph(names=[], tau_max=2, graph=[], val=np.zeros((0, 0, 3)), p=np.ones((0, 0, 3))))
    assert empty.links() == [] and empty.agent_adjacency()[1].shape == (0, 0) and empty.tau_max == 2
    with pytest.raises(ParameterError, match="val has shape"):
        LaggedGraph(["a"], np.zeros((1, 1, 2), dtype="<U3"), val=np.zeros((1, 1, 3)))
    with pytest.raises(ParameterError, match="not in"):
        LaggedGraph(["a.x"], np.zeros((1, 1, 1), dtype="<U3")).agent_adjacency(["b"])
    with pytest.raises(ParameterError):
        diff_graphs(np.zeros((1, 1, 2), dtype="<U3"), np.zeros((1, 1, 3), dtype="<U3"))


def test_stable_keeps_the_links_held_often_enough_and_events_list_changes() -> None:
    marks = np.zeros((2, 2, 2), dtype="<U3")
    marks[0, 1, 1] = marks[1, 0, 1] = "-->"
    stab = np.zeros((2, 2, 2))
    stab[0, 1, 1], stab[1, 0, 1] = 0.5, 0.4
    g = LaggedGraph(["a.x", "b.x"], marks, stability=stab)
    assert g.stable(0.5).links() == [("a.x", "b.x", 1, "-->")]
    event = change_event(g.stable(0.5).diff(g), stamp_ns=9, graph_seq=2)
    assert event is not None and event.removed[0].source == "b.x" and event.shd == 1 and not event.added


def test_statuses_travel_from_results_to_the_message_and_back() -> None:
    """results()' link_status and n_eff -> LaggedGraph -> CausalGraph bytes -> LaggedGraph, unchanged;
    a message from before statuses reads as unknown ("") and its agent links are what they were."""
    X, _ = toy_data(3, 1, 300, seed=2)
    X[:, 2] = np.nan
    res = WindowedPCMCI(3, 300, 1, missing="testwise", var_names=["a.x", "b.x", "c.x"]).update_many(X).results()
    g = LaggedGraph.from_results(res)
    assert np.array_equal(g.status, res["link_status"]) and np.array_equal(g.n_eff, res["n_eff"])
    _, msg = decode_frame(encode_frame("/causal/graph", graph_message(g, graph_status=res["graph_status"]), 1, "p"))
    back = graph_of(msg)
    assert np.array_equal(back.status, g.status) and np.array_equal(back.n_eff, g.n_eff) and msg.graph_status == "partial"
    assert back.lacking() == ["c.x"] and set(back.status[2, :, 1]) == {"insufficient"}
    old = CausalGraph(names=msg.names, tau_max=1, graph=msg.graph, val=msg.val, p=msg.p)
    assert set(graph_of(old).status.ravel()) == {""} and graph_message(graph_of(old)).link_status.shape == (0,)
    assert np.array_equal(graph_of(old).agent_adjacency()[1], back.agent_adjacency()[1])


@pytest.mark.parametrize("k", range(0, len(GRAPHS), 5))
def test_agent_adjacency_counts_only_arrows_that_are_findings(k: int) -> None:
    """PAG marks and deterministic links add no agent link: the old reading over the '-->' /
    '<--' entries that are not deterministic."""
    rng = np.random.default_rng(k)
    g = GRAPHS[k]
    marks = g.marks.copy()
    pag = np.array(["<->", "o->", "o-o", "x-x"])[rng.integers(0, 4, size=marks.shape)]
    marks = np.where(rng.random(marks.shape) < 0.3, pag, marks)
    status = np.where(rng.random(marks.shape) < 0.3, "deterministic", "tested").astype("<U13")
    ours = LaggedGraph(g.names, marks, status=status)
    kept = np.where(status == "deterministic", "", np.where(np.isin(marks, ["-->", "<--"]), marks, ""))
    agents, adj = ours.agent_adjacency()
    assert np.array_equal(adj, _old_agent_adjacency(graph_message(LaggedGraph(g.names, kept)))[1])
    assert all(m == "<->" and a.split(".")[0] != b.split(".")[0] for a, b, _, m in ours.hidden_causes())
