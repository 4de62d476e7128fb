"""Offline discovery (issue 21): `discover(...)` and `causalstream discover` against the live node.

The contract: the graphs equal the discovery node's on the same log and settings; a log split
into stretches across workers gives the one-pass graphs; real Dask worker processes give the
in-process result; bad input is one clear line.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from causalstream.models.causal.discover import (
    COLUMNS,
    Chained,
    Task,
    as_series,
    discover,
    discover_graphs,
    plan,
    run_task,
    summary,
    table_of,
)
from causalstream.models.causal.discover_run import run_tasks
from causalstream.models.errors import ClusterError
from causalstream.nodes.discovery import DiscoveryNode
from causalstream.nodes.graph_msg import graph_of
from causalstream.nodes.testing import MockNode
from causalstream.stream.log.reader import read_log
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import CausalGraph, Features

from support import run_cli

NAMES = ["a.x", "b.x", "c.x", "d.x"]
STEP_NS = 50_000_000


def series(T: int, seed: int) -> np.ndarray:
    """Four variables: a -> b (lag 1, linear), b -> c (lag 2, nonlinear), d autocorrelated; a few NaN."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 4))
    for t in range(2, T):
        X[t, 1] += 0.5 * X[t - 1, 0]
        X[t, 2] += 0.5 * np.tanh(2 * X[t - 2, 1])
        X[t, 3] += 0.4 * X[t - 1, 3]
    X[rng.random(T) < 0.01, 3] = np.nan
    return X


def write_log(path: Path, X: np.ndarray, names: list[str] = NAMES, chunk_size: int = 1 << 20) -> Path:
    with LogWriter(path, chunk_size=chunk_size) as w:
        for t, x in enumerate(X):
            stamp = 10**9 + t * STEP_NS
            w.write("/features", Features(stamp_ns=stamp, names=names, values=x), log_time_ns=stamp)
    return path


def frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=NAMES, index=10**9 + np.arange(len(X)) * STEP_NS)


def same_graphs(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal link sets per window; val, p and stability within 1e-9."""
    key = ["log", "window", "source", "target", "lag"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b)
    pd.testing.assert_frame_equal(a[key + ["mark", "start_ns", "end_ns", "status"]],
                                  b[key + ["mark", "start_ns", "end_ns", "status"]])
    for col in ("val", "p", "stability"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=0, atol=1e-9)


def test_table_has_one_row_per_link_per_window() -> None:
    df = discover(frame(series(900, 0)), window=300, hop=50, tau_max=2, alpha_level=0.01)
    assert df.columns.tolist() == COLUMNS
    assert df.window.nunique() == (900 - 300) // 50 + 1
    held = summary(df)
    top = set(zip(held[held.windows >= 0.9].source, held[held.windows >= 0.9].target,
                  held[held.windows >= 0.9].lag))
    assert {("a.x", "b.x", 1), ("b.x", "c.x", 2)} <= top
    first = df[df.window == 0]
    assert (first.start_ns == 10**9).all() and (first.end_ns == 10**9 + 299 * STEP_NS).all()


@pytest.mark.parametrize("ci_test", ["parcorr", "robustparcorr"])
def test_a_split_table_gives_the_one_pass_graphs(ci_test: str) -> None:
    X = frame(series(1400, 1))
    one = discover(X, window=300, hop=25, tau_max=2, stability_k=5, ci_test=ci_test)
    settings = {"window": 300, "hop": 25, "tau_max": 2, "stability_k": 5, "ci_test": ci_test}
    for chunk in (1, 7, 13):
        # in this process a stretch goes on from the one before (Chained); on workers each has its own loop
        same_graphs(one, discover(X, window=300, hop=25, tau_max=2, stability_k=5, ci_test=ci_test, chunk=chunk))
        tasks = plan(as_series(X), settings, chunk)
        same_graphs(one, table_of([w for task in tasks for w in run_task(task)]))
        run = Chained()
        same_graphs(one, table_of([w for task in tasks for w in run(task)]))
        assert run.resumed == len(tasks) - 1
    assert one.stability.lt(1).any()  # stability that depends on the windows before is covered


def test_the_graphs_equal_the_discovery_nodes_on_the_same_log(tmp_path: Path) -> None:
    X = series(1100, 2)
    path = write_log(tmp_path / "run.mcap", X)
    params = {"window": 400, "hop": 30, "min_samples": 400, "tau_max": 2, "alpha": 0.01, "stability_k": 4,
              "method": "pcmciplus", "threaded": False}
    samples = [msg for _topic, _t, msg in read_log(path, ["/features"])]
    node = MockNode(DiscoveryNode, params=params).feed("features", *samples).run()
    live = node.outputs("causal/graph")
    out = tmp_path / "graphs.mcap"
    res = run_cli("discover", str(path), "--window", "400", "--hop", "30", "--tau-max", "2", "--alpha", "0.01",
                  "--stability-k", "4", "--method", "pcmciplus", "--chunk", "5", "-o", str(out))
    assert res.returncode == 0, res.stderr
    offline = [m for _t, _s, m in read_log(out, ["/causal/graph"])]
    assert len(live) == len(offline) == (1100 - 400) // 30 + 1
    for a, b in zip(live, offline):
        assert isinstance(b, CausalGraph)
        assert (a.seq, a.window_start_ns, a.window_end_ns, a.flags) == (b.seq, b.window_start_ns, b.window_end_ns, b.flags)
        ga, gb = graph_of(a), graph_of(b)
        assert (ga.marks == gb.marks).all()
        np.testing.assert_allclose(ga.val, gb.val, atol=1e-9)
        np.testing.assert_allclose(ga.p, gb.p, atol=1e-9)
        np.testing.assert_allclose(ga.stability, gb.stability, atol=1e-12)
    assert "most stable graph" in res.stdout and "a.x" in res.stdout


def test_local_dask_workers_give_the_in_process_result_and_name_a_failed_log() -> None:
    tables = {"r1": frame(series(900, 3)), "r2": frame(series(700, 4))}
    other = pd.DataFrame(series(600, 5), columns=["p", "q", "r", "s"])
    here = discover(tables, window=300, hop=40, tau_max=1, chunk=4)
    rules = [{"forbid": "a.x -> b.x", "lag": 1}]  # 'a.x' matches nothing in the third table: its tasks fail
    out = discover_graphs({**tables, "other": other}, window=300, hop=40, tau_max=1, chunk=4, workers=2,
                          link_rules=rules)
    assert {what.split(" ")[0] for what, _ in out.failed} == {"other"}
    assert all("RuleError" in why for _, why in out.failed)
    ruled = discover(tables, window=300, hop=40, tau_max=1, chunk=4, link_rules=rules)
    same_graphs(ruled, table_of(out.graphs))
    assert not ((ruled.source == "a.x") & (ruled.target == "b.x") & (ruled.lag == 1)).any()
    same_graphs(here, discover(tables, window=300, hop=40, tau_max=1, chunk=4, workers=2))


def test_a_cluster_that_does_not_answer_is_one_error_within_ten_seconds(tmp_path: Path) -> None:
    path = write_log(tmp_path / "run.mcap", series(400, 0))
    t0 = time.monotonic()
    res = run_cli("discover", str(path), "--window", "300", "--cluster", "tcp://127.0.0.1:9")
    assert time.monotonic() - t0 < 20  # the 10 s connect timeout plus the CLI's start
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "tcp://127.0.0.1:9: no Dask scheduler answered within 10 s" in res.stderr
    with pytest.raises(ClusterError, match="workers must be >= 1"):
        discover(series(400, 0), window=300, workers=0)


def test_cli_tables_folders_and_a_summary_across_logs(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "r1.mcap", series(800, 6))
    write_log(logs / "r2.mcap", series(700, 7))
    out = tmp_path / "links.parquet"
    res = run_cli("discover", str(logs), "--window", "300", "--hop", "50", "--tau-max", "2", "-o", str(out),
                  "--png", str(tmp_path / "g.png"))
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(out)
    assert df.columns.tolist() == COLUMNS and set(df.log) == {"r1.mcap", "r2.mcap"}
    assert (tmp_path / "g.png").stat().st_size > 0
    held = summary(df)
    row = held[(held.source == "a.x") & (held.target == "b.x") & (held.lag == 1)].iloc[0]
    assert row.logs == 1.0 and row.windows > 0.9
    res = run_cli("discover", str(logs / "r*.mcap"), "--window", "300", "--hop", "50", "-o", str(tmp_path / "l.csv"))
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(tmp_path / "l.csv")) > 0


def test_a_csv_is_read_as_bag_import_reads_it(tmp_path: Path) -> None:
    X = series(700, 8)
    csv = tmp_path / "sensors.csv"
    pd.DataFrame(X, columns=NAMES).assign(time=np.arange(len(X)) * 0.05).to_csv(csv, index=False)
    res = run_cli("discover", str(csv), "--from", "csv", "--window", "300", "--hop", "100", "-o",
                  str(tmp_path / "o.csv"))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(tmp_path / "o.csv")
    assert ((df.source == "a.x") & (df.target == "b.x") & (df.lag == 1)).sum() == 5
    assert set(df.log) == {"sensors.csv"} and df.window.nunique() == 5


def test_bad_input_is_said(tmp_path: Path) -> None:
    path = write_log(tmp_path / "run.mcap", series(900, 9))
    res = run_cli("discover", str(path), "--topic", "/agents/state")
    assert res.returncode == 2 and "its topics: /features (Features)" in res.stderr
    short = write_log(tmp_path / "short.mcap", series(100, 9))
    out = tmp_path / "none.parquet"
    res = run_cli("discover", str(short), "--window", "300", "-o", str(out))
    assert res.returncode == 1 and "shorter than one window (300)" in res.stderr and not out.exists()
    data = write_log(tmp_path / "chunked.mcap", series(900, 9), chunk_size=4096).read_bytes()
    damaged = tmp_path / "damaged.mcap"
    damaged.write_bytes(data[: len(data) * 2 // 3])  # a recorder killed mid-write
    res = run_cli("discover", str(damaged), "--window", "300", "--hop", "100", "-o", str(tmp_path / "d.csv"))
    assert res.returncode == 0, res.stderr
    assert "damaged" in res.stderr and "discovery runs on the" in res.stderr
    assert pd.read_csv(tmp_path / "d.csv").window.nunique() >= 1
    for args in (["discover", str(path), "--ci-test", "nope"], ["discover", str(path), "-o", "x.txt"],
                 ["discover", str(tmp_path / "missing.mcap")], ["discover", str(path), "--ci-param", "n_features"]):
        res = run_cli(*args)
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, (args, res.stderr)


def test_replaying_a_log_through_the_live_pipeline_gives_the_discover_graphs(tmp_path: Path) -> None:
    from support import ROOT, free_port_pair

    path = write_log(tmp_path / "run.mcap", series(900, 10))
    out = tmp_path / "out.mcap"
    res = run_cli("launch", str(ROOT / "launch" / "replay.yaml"), f"log:={path}", "agents:=false", "rate:=0",
                  "delay:=4", "window:=300", "hop:=50", "threaded:=false", f"out:={out}",
                  "--bus", f"tcp://127.0.0.1:{free_port_pair()}",
                  timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    live = {m.window_end_ns: graph_of(m) for _t, _s, m in read_log(out, ["/causal/graph"])}
    offline = discover_graphs(path_table(path), window=300, hop=50, tau_max=2, alpha_level=0.01).graphs
    by_end = {w.result.end_ns: w.result.graph for w in offline}
    # threaded:=false: every hop refreshed in order, whatever the load (a worker thread may skip hops)
    assert len(by_end) == 13 and set(live) == set(by_end)
    for end, g in live.items():
        assert (g.marks == by_end[end].marks).all()
        np.testing.assert_allclose(g.val, by_end[end].val, atol=1e-9)
        np.testing.assert_allclose(g.p, by_end[end].p, atol=1e-9)


def path_table(path: Path) -> pd.DataFrame:
    """A Features log as a DataFrame indexed by stamp."""
    rows = [(m.stamp_ns, *m.values) for _t, _s, m in read_log(path, ["/features"])]
    return pd.DataFrame(rows, columns=["stamp", *NAMES]).set_index("stamp")


def _dies(task: Task) -> list:  # in a Dask worker process: "once" kills it the first time, "raises" raises
    marker = Path(os.environ["CAUSALSTREAM_TEST_MARKERS"]) / task.series.name
    if task.series.name == "raises":
        raise ValueError("this log cannot be read")
    if task.series.name == "once" and not marker.exists():
        marker.touch()
        os._exit(1)  # a worker killed mid-task (the OOM killer, a segfault)
    return run_task(task)


def test_a_dead_worker_is_replaced_and_its_task_retried_a_failing_log_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    monkeypatch.setenv("CAUSALSTREAM_TEST_MARKERS", str(tmp_path))
    tables = as_series({"once": frame(series(500, 11)), "raises": frame(series(500, 12)), "fine": frame(series(500, 13))})
    tasks = plan(tables, {"window": 300, "hop": 50, "tau_max": 1})
    graphs, failed = run_tasks(_dies, tasks, workers=2)
    assert (tmp_path / "once").exists()  # its worker did die
    assert failed == [("raises", "ValueError: this log cannot be read")]
    here, _ = run_tasks(run_task, [tasks[0], tasks[2]])
    same_graphs(table_of(here), table_of(graphs))


def test_gappy_logs_testwise_keep_the_links_and_statuses_say_why(tmp_path: Path) -> None:
    X = series(900, 14)
    rng = np.random.default_rng(0)
    for col in range(4):  # bursts of gaps in every sensor: few complete rows, most single values kept
        for start in rng.integers(0, 880, 45):  # ~3% of rows complete
            X[start:start + 15, col] = np.nan
    path = write_log(tmp_path / "gappy.mcap", X)
    outs = {}
    for mode in ("complete", "testwise"):
        out = tmp_path / f"{mode}.csv"
        res = run_cli("discover", str(path), "--window", "300", "--hop", "100", "--missing", mode, "-o", str(out))
        assert res.returncode == 0, res.stderr
        outs[mode] = pd.read_csv(out, keep_default_na=False)
    tw, cc = outs["testwise"], outs["complete"]
    held = {m: ((d.source == "a.x") & (d.target == "b.x") & (d["lag"] == 1)).sum() for m, d in outs.items()}
    assert held["testwise"] == tw.window.nunique() == 7 and held["complete"] < 7  # complete rows run out
    assert "insufficient" in set(cc.status)  # ... and the table says so
    assert set(tw.status) <= {"tested", "insufficient", "deterministic", "assumed", "no_links", "partial"}
    res = run_cli("discover", str(path), "--ci-test", "rcot", "--missing", "testwise")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr


def test_lpcmci_with_rules_through_the_node_equals_discover(tmp_path: Path) -> None:
    X = series(360, 4)
    path = write_log(tmp_path / "run.mcap", X)
    rule = {"forbid": f"{NAMES[1]} -> {NAMES[0]}"}
    params = {"window": 300, "hop": 30, "min_samples": 300, "tau_max": 1, "alpha": 0.01, "stability_k": 2,
              "method": "lpcmci", "link_rules": [rule], "threaded": False}
    samples = [msg for _topic, _t, msg in read_log(path, ["/features"])]
    live = MockNode(DiscoveryNode, params=params).feed("features", *samples).run().outputs("causal/graph")
    out = tmp_path / "graphs.mcap"
    res = run_cli("discover", str(path), "--window", "300", "--hop", "30", "--tau-max", "1", "--alpha", "0.01",
                  "--stability-k", "2", "--method", "lpcmci", "--assume", str(rule), "-o", str(out))
    assert res.returncode == 0, res.stderr
    offline = [m for _t, _s, m in read_log(out, ["/causal/graph"])]
    assert len(live) == len(offline) == 3
    for a, b in zip(live, offline):
        assert isinstance(b, CausalGraph)
        assert (graph_of(a).marks == graph_of(b).marks).all()
