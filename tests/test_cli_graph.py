"""`causalstream graph show` against a live latched graph publisher."""

from __future__ import annotations

import numpy as np
from PIL import Image

from causalstream.stream import Endpoints, Publisher
from causalstream.stream.messages import CausalGraph

from support import run_cli, spawn_cli


def _graph() -> CausalGraph:
    names = ["robot.v", "h1.v", "h1.d_robot"]
    marks = np.full((3, 3, 3), "", dtype=object)
    val = np.zeros((3, 3, 3))
    marks[0, 1, 1], val[0, 1, 1] = "-->", 0.62
    marks[2, 1, 2], val[2, 1, 2] = "-->", -0.35
    stab = np.zeros((3, 3, 3))
    stab[0, 1, 1] = 0.9
    return CausalGraph(names=names, tau_max=2, graph=marks.tolist(), val=val, p=np.where(val != 0, 1e-4, 1.0),
                       stability=stab, seq=12, n_samples=500)


def test_graph_show_once_prints_links_and_writes_png(bus: Endpoints, tmp_path) -> None:
    with Publisher("/causal/graph", CausalGraph, endpoints=bus) as pub:
        pub.wait_ready(5)
        pub.publish(_graph())  # latched: graph show starts later and still gets it
        png = tmp_path / "g.png"
        res = run_cli("graph", "show", "--once", "--png", str(png), "--timeout", "20", endpoints=bus)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "graph #12" in out and "robot.v" in out and "+0.620" in out and "90%" in out
    assert out.index("+0.620") < out.index("-0.350")  # strongest link first
    for f in (png, tmp_path / "g_timeseries.png"):
        with Image.open(f) as im:
            assert im.size[0] > 200 and im.size[1] > 100


def test_graph_show_times_out_without_a_graph(bus: Endpoints) -> None:
    res = run_cli("graph", "show", "--once", "--timeout", "1.5", endpoints=bus)
    assert res.returncode == 1 and "waiting for a graph on /causal/graph" in res.stderr


def test_graph_show_into_a_pipe_prints_a_table_when_the_links_change(bus: Endpoints) -> None:
    """Not a terminal: no live display (it would print only at exit) but a table per change of links."""
    with Publisher("/causal/graph", CausalGraph, endpoints=bus) as pub:
        pub.wait_ready(5)
        pub.publish(_graph())  # seq 12, latched
        proc = spawn_cli("graph", "show", "--duration", "5", endpoints=bus)
        lines = []
        while not any("graph #12" in line for line in lines):  # printed as it arrives, not at exit
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        same = _graph()
        same.seq, same.val = 13, same.val * 0.9  # other strengths, the same links: not printed again
        pub.publish(same)
        fewer = _graph()
        fewer.graph[2][1][2] = ""  # the h1.d_robot -> h1.v link gone
        fewer.seq = 14
        pub.publish(fewer)
        out = "".join(lines) + proc.stdout.read()  # to the end (communicate would skip what readline buffered)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert "graph #13" not in out and out.count("h1.d_robot") == 1, out
    assert out.index("graph #12") < out.index("graph #14") and "1 links" in out[out.index("graph #14"):], out


def test_without_a_bus_graph_show_says_so_and_names_what_starts_one() -> None:
    from support import free_port_pair

    res = run_cli("graph", "show", "--bus", f"tcp://127.0.0.1:{free_port_pair()}")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "no bus answers" in res.stderr and "causalstream bus" in res.stderr and "causalstream launch" in res.stderr


def test_graph_show_into_a_pipe_prints_again_when_the_status_changes(bus: Endpoints) -> None:
    """The same links, but the window now lacks data for a variable: a reader must see that."""
    with Publisher("/causal/graph", CausalGraph, endpoints=bus) as pub:
        pub.wait_ready(5)
        ok = _graph()
        ok.link_status, ok.n_eff = np.ones((3, 3, 3), np.int8), np.full((3, 3, 3), 498, np.int32)
        ok.graph_status, ok.status_reason = "ok", "24 links tested on 498-498 rows"
        pub.publish(ok)
        proc = spawn_cli("graph", "show", "--duration", "5", endpoints=bus)
        lines = []
        while not any("graph #12" in line for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        short = _graph()
        short.seq = 13
        short.link_status = np.ones((3, 3, 3), np.int8)
        short.link_status[2, :, 1:] = short.link_status[:, 2, 1:] = 3  # h1.d_robot: too few rows
        short.link_status[2, :2, 0] = short.link_status[:2, 2, 0] = 3
        short.link_status[[0, 1, 2], [0, 1, 2], 0] = 0  # lag-0 self links: untested
        short.n_eff = np.where(short.link_status == 3, 1, 498).astype(np.int32)
        short.graph_status, short.status_reason = "partial", "h1.d_robot observed in 2 of 500 samples"
        pub.publish(short)
        out = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    text = " ".join(out.split())
    assert "status ok" in text and "graph #13" in text and "status partial: h1.d_robot observed in 2 of 500 samples" in text
    assert "lacking data: h1.d_robot" in text and "insufficient" in text  # the h1.d_robot -> h1.v row says it
