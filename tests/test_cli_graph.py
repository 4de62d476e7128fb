"""`causalstream graph show` against a live latched graph publisher."""

from __future__ import annotations

import numpy as np
from PIL import Image

from causalstream.stream import Endpoints, Publisher
from causalstream.stream.messages import CausalGraph

from support import run_cli


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
