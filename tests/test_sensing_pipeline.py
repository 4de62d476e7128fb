"""The sensing pipeline as real processes: sim -> features -> discovery from a launch file.

The discovered graph is scored against the simulator's ground truth on /sim/ground_truth,
at the agent level (``LaggedGraph.agent_adjacency``): links held by at least half of the last
``stability_k`` refreshes must give exactly the true cross-agent links, and no link may
touch a distractor.
"""

from __future__ import annotations

import time
from pathlib import Path

from causalstream.models.causal.graph import LaggedGraph
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.launch_file import load_launch
from causalstream.nodes.registry import resolve
from causalstream.nodes.runner import parse_assignments
from causalstream.stream import Subscriber
from causalstream.stream.messages import CausalGraph, NodeStatus

from support import ROOT
from test_launcher import Launch

LAUNCH = ROOT / "tests" / "data" / "launch" / "sensing.yaml"


def _collect(run: Launch, timeout: float = 120.0) -> tuple[CausalGraph | None, list[CausalGraph], dict[str, NodeStatus]]:
    truth, graphs, last_status = None, [], {}
    with Subscriber(["/sim/ground_truth", "/causal/graph", "/node/status"], endpoints=run.endpoints) as sub:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = sub.recv(timeout=0.5)
            if got is None:
                if run.proc.poll() is not None:
                    break
                continue
            if got.topic == "/sim/ground_truth":
                truth = got.message
            elif got.topic == "/causal/graph":
                graphs.append(got.message)
            elif isinstance(got.message, NodeStatus):
                last_status[got.message.name] = got.message
    return truth, graphs, last_status


def _stable(graph: CausalGraph, share: float = 0.5) -> LaggedGraph:
    return graph_of(graph).stable(share)


def test_discovered_agent_graph_matches_the_simulator_truth(tmp_path: Path) -> None:
    run = Launch(LAUNCH, tmp=tmp_path)
    try:
        truth, graphs, status = _collect(run)
        assert run.proc.wait(timeout=30) == 0, run.output()
    finally:
        run.close()
    assert truth is not None and truth.method == "ground_truth", run.output()
    assert len(graphs) >= 20, run.output()
    last = graphs[-1]
    assert last.names == truth.names and last.n_samples == 600 and last.window_end_ns > last.window_start_ns
    assert [g.seq for g in graphs] == sorted(g.seq for g in graphs)

    true_links = graph_of(truth).cross_links()
    assert true_links == {tuple(f.split(":", 1)[1].split("->")) for f in truth.flags if f.startswith("agent_link:")}
    assert true_links == {("robot", "h1"), ("robot", "h2"), ("h1", "h3")}
    distractors = {f.split(":", 1)[1].split("=")[0] for f in truth.flags if f.endswith("=distractor")}
    assert distractors == {"h4", "h5"}

    found = _stable(last).cross_links()
    assert found == true_links, found
    agents, adj = _stable(last).agent_adjacency()
    for d in distractors:
        k = agents.index(d)
        assert adj[k].sum() == 0 and adj[:, k].sum() == 0

    disc = status["/discovery"]
    assert disc.state == "stopped" and disc.counters["bad"] == 0 and disc.counters["failed"] == 0
    assert disc.counters["graphs"] == len(graphs)


def test_the_demo_launch_file_holds_together() -> None:
    demo = ROOT / "launch" / "demo.yaml"
    plain = load_launch(demo, parse_assignments(["duration:=5"], ":=", what="launch"))
    assert [n.kind for n in plain.nodes] == ["sim", "features", "discovery", "predictor"]
    sim, features, discovery, predictor = (resolve(n.kind).validate_params(n.params) for n in plain.nodes)
    assert predictor.use_graph
    assert sim.duration_s == 5 and list(sim.human_variables) == list(features.human_variables)
    assert discovery.window == 300 and discovery.alpha == 0.001
    recorded = load_launch(demo, parse_assignments(["record:=true"], ":=", what="launch"))
    assert [n.kind for n in recorded.nodes] == ["recorder", "sim", "features", "discovery", "predictor"]
