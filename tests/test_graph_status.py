"""Graphs that say what they know, on the bus and on screen (issue 18 items 2-3, issue 23 item 3).

A window where a variable is never observed: its links "insufficient", the others equal to
tigramite's on the observed columns, the message, ``graph show`` and ``topic echo`` say so. An
LPCMCI graph with ``<->`` (tigramite's LPCMCI the oracle): the legend under the table, no agent
link for ``<->``, a ``hidden_cause`` event. A deterministic relation: reported once on
/causal/events and in the log however many refreshes show it, out of stability and of the
agent adjacency. The CLI runs for real against a broker with a latched graph.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import yaml
from tigramite.data_processing import DataFrame
from tigramite.independence_tests.parcorr import ParCorr
from tigramite.lpcmci import LPCMCI
from tigramite.pcmci import PCMCI

from causalstream.models.causal.graph import LaggedGraph
from causalstream.models.causal.loop import DiscoveryLoop, GraphResult
from causalstream.nodes.discovery import DiscoveryNode
from causalstream.nodes.discovery_worker import GraphReporter
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.graph_view import status_line
from causalstream.nodes.testing import MockNode
from causalstream.stream import Endpoints, Publisher
from causalstream.stream.codec import decode_frame, encode_frame
from causalstream.stream.messages import CausalEvent, CausalGraph, Features

from support import run_cli

GAPPY = ["robot.v", "h1.v", "h2.v"]
HIDDEN = ["robot.v", "h1.v", "h2.v", "h3.v"]


def _gappy(T: int = 500, seed: int = 1) -> np.ndarray:
    """robot.v -> h1.v at lag 1, both autocorrelated; h2.v never observed."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    for t in range(1, T):
        X[t, 0] += 0.5 * X[t - 1, 0]
        X[t, 1] += 0.6 * X[t - 1, 0] + 0.3 * X[t - 1, 1]
    X[:, 2] = np.nan
    return X


def _hidden(T: int = 500, seed: int = 0) -> np.ndarray:
    """A hidden driver moves h1.v and h2.v together at lag 0; robot.v drives h1.v, h3.v drives h2.v."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 4))
    hidden = rng.normal(size=T)
    for t in range(1, T):
        X[t, 1] += 0.8 * X[t - 1, 0] + 0.9 * hidden[t]
        X[t, 2] += 0.8 * X[t - 1, 3] + 0.9 * hidden[t]
    return X


def _refreshes(X: np.ndarray, names: list[str], window: int, hop: int, **model: object) -> list[GraphResult]:
    loop = DiscoveryLoop(window=window, tau_max=model.pop("tau_max", 2), hop=hop, min_samples=window,  # type: ignore[arg-type]
                         model=model)
    out = []
    for k, x in enumerate(X):
        step = loop.update(k, names, x)
        if step.refresh is not None:
            out.append(loop.refresh(step.refresh))
    return out


def _on_the_wire(graph: CausalGraph) -> CausalGraph:
    _, back = decode_frame(encode_frame("/causal/graph", graph, seq=1, publisher="p"))
    assert isinstance(back, CausalGraph)
    return back


def _show(bus: Endpoints, graph: CausalGraph, *args: str) -> str:
    """``graph show --once`` run for real against a latched graph on the bus."""
    with Publisher("/causal/graph", CausalGraph, endpoints=bus) as pub:
        pub.wait_ready(5)
        pub.publish(graph)  # latched: the CLI starts later and still gets it
        res = run_cli("graph", "show", "--once", "--timeout", "20", *args, endpoints=bus)
    assert res.returncode == 0, res.stderr
    return res.stdout


# -- a variable never observed ------------------------------------------------------------


def test_a_variable_never_observed_has_insufficient_links_and_the_others_equal_tigramite() -> None:
    X = _gappy(700)
    results = _refreshes(X, GAPPY, window=500, hop=100, tau_max=2, missing="testwise")
    reporter = GraphReporter()
    out = [reporter.messages(r) for r in results]
    assert len(out) == 3
    for r, (graph, _) in zip(results, out):
        msg = _on_the_wire(graph)
        status = msg.statuses()
        assert set(status[2, :, 1:].ravel()) | set(status[:, 2, 1:].ravel()) | set(status[2, :2, 0]) == {"insufficient"}
        assert set(status[:2, :2, 1:].ravel()) == {"tested"} and status[0, 1, 0] == status[1, 0, 0] == "tested"
        assert (msg.n_eff[2] == 0).all() and (msg.n_eff[:2, :2, 1:] >= 490).all()
        assert msg.graph_status == "partial" and "h2.v observed in 0 of 500 samples" in msg.status_reason
        assert graph_of(msg).lacking() == ["h2.v"]
        # the links among the observed variables: tigramite's on those columns of the same window
        first = r.results["first_index"]
        ref = PCMCI(DataFrame(X[first:first + 500, :2]), ParCorr()).run_pcmci(tau_max=2, pc_alpha=0.05, alpha_level=0.05)
        assert np.array_equal(np.array(msg.graph)[:2, :2], ref["graph"])
        assert np.allclose(msg.val[:2, :2], ref["val_matrix"], atol=1e-8, rtol=0)
        assert np.allclose(msg.p[:2, :2], ref["p_matrix"], atol=1e-8, rtol=0)
        assert msg.graph[0][1][1] == "-->" and not any(np.array(msg.graph)[2].ravel())
    lacking = [e for _, events in out for e in events if e.kind == "insufficient_data"]
    assert len(lacking) == 1 and lacking[0].variables == ["h2.v"] and lacking[0].graph_seq == 1  # said once
    assert "partial" in lacking[0].detail and "h2.v observed in 0" in lacking[0].detail


def test_graph_show_and_topic_echo_say_which_variables_lack_data(bus: Endpoints) -> None:
    (graph, _), = [GraphReporter().messages(r) for r in _refreshes(_gappy(), GAPPY, 500, 500, missing="testwise")]
    out = _show(bus, graph)
    assert "status partial" in out and "h2.v observed in 0 of 500 samples" in out
    assert "lacking data: h2.v" in out and "robot.v" in out and "tested" in out
    with Publisher("/causal/graph", CausalGraph, endpoints=bus) as pub:
        pub.wait_ready(5)
        pub.publish(graph)
        res = run_cli("topic", "echo", "/causal/graph", "--once", "--timeout", "20", endpoints=bus)
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(res.stdout.split("---")[0])
    assert doc["graph_status"] == "partial" and doc["link_status"][2][0] == ["insufficient"] * 3
    assert doc["link_status"][0][1] == ["tested"] * 3 and doc["n_eff"][0][1][1] >= 490
    assert "# status partial: h2.v observed in 0 of 500 samples" in res.stdout


def test_an_empty_graph_says_which_empty_it_is() -> None:
    """No complete row (missing='complete'): insufficient, not a finding; noise: no links, a finding."""
    (short, _), = [GraphReporter().messages(r) for r in _refreshes(_gappy(), GAPPY, 500, 500)]
    assert short.graph_status == "insufficient" and not short.links() and set(short.statuses().ravel()) == {"insufficient", "untested"}
    assert status_line(short).startswith("status insufficient: no graph, too little data: 0 of 496 lagged rows complete")
    noise = np.random.default_rng(5).normal(size=(300, 2))
    (found, events), = [GraphReporter().messages(r) for r in _refreshes(noise, ["a.x", "b.x"], 300, 300, tau_max=1,
                                                                       pc_alpha=0.001, alpha_level=0.001)]
    assert not found.links() and found.graph_status == "ok"
    assert status_line(found).startswith("status ok: no links found (a finding): ") and not events
    assert status_line(CausalGraph(names=[], tau_max=0, graph=[], val=np.zeros((0, 0, 1)), p=np.ones((0, 0, 1)))) == ""


# -- hidden causes (LPCMCI) ---------------------------------------------------------------


def test_an_lpcmci_graph_with_a_hidden_cause_shows_the_legend_and_links_no_agents(bus: Endpoints, tmp_path) -> None:
    X = _hidden()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LPCMCI(DataFrame(X), ParCorr()).run_lpcmci(tau_max=1, pc_alpha=0.05)
    results = _refreshes(np.r_[X, X[-1:]], HIDDEN, window=500, hop=500, tau_max=1, method="lpcmci")
    (r,) = results
    assert np.array_equal(r.results["graph"], ref["graph"])  # the oracle's PAG
    reporter = GraphReporter()
    graph, events = reporter.messages(r)
    g = graph_of(_on_the_wire(graph))
    assert g.marks[1, 2, 0] == g.marks[2, 1, 0] == "<->" and "o->" in {str(m) for m in g.marks.ravel()}
    assert g.hidden_causes() == [("h1.v", "h2.v", 0, "<->")]
    agents, adj = g.agent_adjacency()
    assert agents == ["robot", "h1", "h2", "h3"] and not adj.any()  # <-> and o-> are not '-->'
    hidden = [e for e in events if e.kind == "hidden_cause"]
    assert len(hidden) == 1 and [(k.source, k.target, k.mark) for k in hidden[0].added] == [("h1.v", "h2.v", "<->")]
    assert hidden[0].variables == ["h1.v", "h2.v"] and "h1 and h2" in hidden[0].detail
    again = GraphResult(r.graph, 2, r.start_ns, r.end_ns, [], r.graph.diff(r.graph), r.results)
    assert reporter.messages(again)[1] == []  # the same <-> again: no new event
    out = _show(bus, graph, "--png", str(tmp_path / "pag.png"))
    assert "<->  hidden common cause" in out and "o->  i causes j or they share a hidden cause" in out
    assert "h1.v" in out and "lpcmci" in out
    assert (tmp_path / "pag.png").stat().st_size > 10_000 and (tmp_path / "pag_timeseries.png").exists()


# -- deterministic relations --------------------------------------------------------------


def _deterministic(T: int = 700, seed: int = 0) -> list[Features]:
    """h1.v is exactly 2 * robot.v one step before (an identity); robot.v drives h2.v at lag 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    for t in range(1, T):
        X[t, 0] += 0.5 * X[t - 1, 0]
        X[t, 2] += 0.6 * X[t - 1, 0]
    X[1:, 1] = 2 * X[:-1, 0]
    return [Features(stamp_ns=k, names=GAPPY, values=x) for k, x in enumerate(X)]


def test_a_deterministic_relation_is_reported_once_and_left_out_of_stability_and_agent_links(caplog) -> None:
    caplog.set_level(logging.WARNING)
    mock = MockNode(DiscoveryNode, name="disc", params={"window": 300, "hop": 100, "min_samples": 300, "tau_max": 1,
                                                        "threaded": False}).feed("features", *_deterministic()).run()
    graphs = mock.outputs("causal/graph")
    events = [e for e in mock.outputs("causal/events") if isinstance(e, CausalEvent)]
    assert len(graphs) == 5
    det = [e for e in events if e.kind == "deterministic"]
    assert len(det) == 1 and det[0].graph_seq == 1  # five refreshes show it, one event says it
    reported = {(k.source, k.target, k.lag) for k in det[0].added}
    assert ("robot.v", "h1.v", 1) in reported and len(reported) == len(det[0].added)
    said = [rec for rec in caplog.records if "deterministic, not a finding" in rec.getMessage()]
    assert len(said) == 1 and "robot.v (lag 1) - h1.v" in said[0].getMessage()
    last = graph_of(graphs[-1])
    assert last.marks[0, 1, 1] == "-->" and last.status[0, 1, 1] == "deterministic"  # flagged, not hidden
    assert last.stability[0, 1, 1] == 0.0 and last.stability[0, 2, 1] == 1.0  # out of stability
    agents, adj = last.agent_adjacency()
    assert agents == ["robot", "h1", "h2"] and adj.tolist() == [[0, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert graphs[-1].graph_status == "partial" and "deterministic" in graphs[-1].status_reason


def test_graph_show_lists_deterministic_links_after_the_findings(bus: Endpoints) -> None:
    mock = MockNode(DiscoveryNode, name="disc", params={"window": 300, "hop": 300, "min_samples": 300, "tau_max": 1,
                                                        "threaded": False}).feed("features", *_deterministic(300)).run()
    (graph,) = mock.outputs("causal/graph")
    assert isinstance(graph, CausalGraph)
    out = _show(bus, graph)
    rows = [line.split() for line in out.splitlines() if "-->" in line]
    assert [r[:5] for r in rows] == [["robot.v", "h2.v", "-1", "-->", "tested"], ["robot.v", "robot.v", "-1", "-->", "tested"],
                                     ["robot.v", "h1.v", "-1", "-->", "deterministic"]]  # strongest finding first
    assert rows[2][6] == "+1.000" and rows[2][8] == "0%"  # the identity: val 1, held by no refresh's findings
    assert "deterministic links: functions of other variables, not findings" in " ".join(out.split())


# -- stale refreshes ----------------------------------------------------------------------


def test_a_stale_refresh_is_an_event_once_until_a_refresh_completes() -> None:
    g = LaggedGraph(["a.x"], np.full((1, 1, 2), "", dtype="<U3"), status=np.array([[["untested", "tested"]]]))
    base = {"method": "lpcmci", "ci_test": "parcorr", "ci_settings": {}, "n_degenerate": 0, "alpha_level": 0.05,
            "n_samples": 9, "n_missing": 0, "compute_ms": 1.0, "status_reason": "past its time budget"}
    reporter = GraphReporter()
    kinds = []
    for seq, status in enumerate(["stale", "stale", "ok", "stale"], 1):
        _, events = reporter.messages(GraphResult(g, seq, 0, seq, [], results={**base, "graph_status": status}))
        kinds.append([e.kind for e in events])
    assert kinds == [["stale"], [], [], ["stale"]]
