"""Offline discovery: the streaming loop over whole tables, one row per link per window.

:func:`discover` runs the discovery node's own :class:`~causalstream.models.causal.loop.DiscoveryLoop`
over each table (no bus, as fast as the CPU goes) and returns a pandas DataFrame with the
columns of :data:`COLUMNS`. Only whole windows get a graph: the first ends at sample
``window - 1``, then one every ``hop`` samples. A window without any link still has one row
(source, target and mark empty, lag -1), so no window is lost and its status says why.

Work is cut into :class:`Task` s (:func:`plan`): a whole table, or with ``chunk`` a stretch
of ``chunk`` windows. A stretch starts ``stability_k - 1`` windows early, so that the
stability of its first kept window (the share of the last k graphs holding each link)
is what one pass over the table gives; every graph of a split table equals the one-pass
graph (tests/test_discover.py). Tasks run in this process (one after another: a stretch goes
on from the loop of the one before, :class:`Chained`), on ``workers`` local worker
processes, or on an existing Dask cluster (``cluster``, a scheduler address); see
:mod:`~causalstream.models.causal.discover_run`.

>>> rng = np.random.default_rng(0); X = rng.normal(size=(400, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
>>> df = discover(pd.DataFrame(X, columns=["a", "b"]), window=200, hop=100, tau_max=1)
>>> df[["window", "source", "target", "lag", "mark"]].to_string(index=False)
' window source target  lag mark\\n      0      a      b    1  -->\\n      1      a      b    1  -->\\n      2      a      b    1  -->'
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalstream.models.causal.assumptions import compile as compile_rules
from causalstream.models.causal.discover_run import run_tasks
from causalstream.models.causal.loop import DiscoveryLoop, GraphResult
from causalstream.models.errors import ParameterError

__all__ = ["COLUMNS", "Chained", "Outcome", "Series", "Task", "WindowGraph", "as_series", "discover", "discover_graphs",
           "graph_rows", "n_windows", "plan", "run_task", "summary", "table_of"]

log = logging.getLogger(__name__)

COLUMNS = ["log", "window", "start_ns", "end_ns", "source", "target", "lag", "mark", "val", "p", "status",
           "stability"]
"""The columns of :func:`discover`'s table."""

_LOOP_KEYS = ("window", "tau_max", "hop", "stability_k")
_IN_GRAPH = ("graph", "val_matrix", "p_matrix", "link_status", "n_eff")  # results() arrays its LaggedGraph holds


@dataclass(frozen=True)
class Series:
    """One table: its name, variable names, stamps (int64 ns, increasing) and samples [T, N] (NaN = missing).

    ``dropped`` counts samples left out on the way in, as the discovery node leaves them out:
    a stamp not after the one before (``stamp_order``).

    >>> s = as_series(np.zeros((3, 2)))[0]; s.names, s.stamps.tolist(), s.dropped
    (['x0', 'x1'], [0, 1, 2], 0)
    """

    name: str
    names: list[str]
    stamps: np.ndarray
    values: np.ndarray
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.stamps)


def _clean(name: str, names: Sequence[str], stamps: np.ndarray, values: np.ndarray) -> Series:
    """inf -> NaN, and samples whose stamp is not after the previous one dropped (the node's rules)."""
    values = np.array(values, dtype=np.float64, copy=True)
    if values.ndim != 2 or values.shape[1] != len(names) or len(stamps) != len(values):
        raise ParameterError("discover", f"{name or 'table'}: samples of shape {values.shape} for {len(names)} "
                             f"names and {len(stamps)} stamps")
    values[np.isinf(values)] = np.nan
    stamps = np.asarray(stamps, dtype=np.int64)
    keep = np.ones(len(stamps), dtype=bool)  # the node's rule: a sample must be after every earlier one
    keep[1:] = stamps[1:] > np.maximum.accumulate(stamps)[:-1]
    return Series(name, [str(n) for n in names], stamps[keep], values[keep], int((~keep).sum()))


def as_series(source: Any, names: Sequence[str] | None = None, stamps: Sequence[int] | None = None,
              name: str = "") -> list[Series]:
    """Tables from a DataFrame, an array [T, N], a Series, or a mapping / list of them (one per log).

    A DataFrame's numeric columns are the variables; an integer index gives the stamps (ns), a
    DatetimeIndex its nanoseconds, any other index the row number.

    >>> df = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, np.inf]}, index=[10, 20])
    >>> s = as_series({"run1": df})[0]; s.name, s.names, s.stamps.tolist(), s.values[1].tolist()
    ('run1', ['a', 'b'], [10, 20], [2.0, nan])
    """
    if isinstance(source, Series):
        return [source]
    if isinstance(source, Mapping):
        return [s for key, value in source.items() for s in as_series(value, names, stamps, str(key))]
    if isinstance(source, (list, tuple)):
        return [s for value in source for s in as_series(value, names, stamps, name)]
    if isinstance(source, pd.DataFrame):
        frame = source.select_dtypes("number")
        if isinstance(frame.index, pd.DatetimeIndex):
            index = frame.index.asi8
        elif pd.api.types.is_integer_dtype(frame.index.dtype):
            index = frame.index.to_numpy(np.int64)
        else:
            index = np.arange(len(frame), dtype=np.int64)
        return [_clean(name, list(frame.columns) if names is None else list(names),
                       index if stamps is None else np.asarray(stamps), frame.to_numpy(np.float64))]
    values = np.asarray(source, dtype=np.float64)
    if values.ndim != 2:
        raise ParameterError("discover", f"want a table [T, N], got an array of shape {values.shape}")
    names = [f"x{i}" for i in range(values.shape[1])] if names is None else list(names)
    return [_clean(name, names, np.arange(len(values)) if stamps is None else np.asarray(stamps), values)]


@dataclass(frozen=True)
class Task:
    """A stretch of one table: samples from window ``first`` on; windows ``keep_from`` to ``keep_to`` kept.

    >>> Task(as_series(np.zeros((10, 1)))[0], 0, 0, 3, {"window": 5, "hop": 2, "tau_max": 1}).offset
    0
    """

    series: Series
    first: int  # global index of the first window this task computes (its samples start at first * hop)
    keep_from: int
    keep_to: int  # exclusive
    settings: dict[str, Any]

    @property
    def offset(self) -> int:
        """The global index of the task's first sample."""
        return self.first * int(self.settings["hop"])


@dataclass(frozen=True)
class WindowGraph:
    """One window's graph: its log, global window index and the loop's GraphResult (seq = index + 1).

    >>> WindowGraph.__dataclass_fields__["index"].type
    'int'
    """

    log: str
    index: int
    result: GraphResult
    status: str = "ok"
    reason: str = ""


def n_windows(n_samples: int, window: int, hop: int) -> int:
    """Whole windows in a table of ``n_samples``.

    >>> n_windows(20, 10, 5), n_windows(9, 10, 5)
    (3, 0)
    """
    return 0 if n_samples < window else (n_samples - window) // hop + 1


def plan(tables: Sequence[Series], settings: Mapping[str, Any], chunk: int | None = None) -> list[Task]:
    """Tasks over the tables: one per table, or one per ``chunk`` windows (with stability_k - 1 before).

    >>> s = as_series(np.zeros((100, 1)))[0]
    >>> [(t.first, t.keep_from, t.keep_to) for t in plan([s], {"window": 20, "hop": 10, "stability_k": 3}, 4)]
    [(0, 0, 4), (2, 4, 8), (6, 8, 9)]
    """
    window, hop, k = int(settings["window"]), int(settings["hop"]), int(settings.get("stability_k", 10))
    tasks = []
    for table in tables:
        total = n_windows(len(table), window, hop)
        step = total if not chunk else max(1, int(chunk))
        for start in range(0, total, max(step, 1)):
            stop = min(total, start + step)
            first = max(0, start - (k - 1))
            tasks.append(Task(table, first, start, stop, dict(settings)))
    return tasks


def run_task(task: Task) -> list[WindowGraph]:
    """Run the discovery loop over a task's samples; the graphs of its kept windows.

    >>> X = np.random.default_rng(1).normal(size=(50, 2))
    >>> task = plan(as_series(X), {"window": 30, "hop": 10, "tau_max": 1})[0]
    >>> [(w.index, w.result.seq, w.result.end_ns) for w in run_task(task)]
    [(0, 1, 29), (1, 2, 39), (2, 3, 49)]
    """
    return _run(task, _new_loop(task), task.offset, task.first)[0]


def _new_loop(task: Task) -> DiscoveryLoop:
    s = task.settings
    model = {key: value for key, value in s.items() if key not in _LOOP_KEYS}
    rules = model.pop("link_rules", None)
    if rules:
        model["link_assumptions"] = compile_rules(rules, task.series.names, int(model.get("tau_min", 0)),
                                                  int(s["tau_max"]))
    return DiscoveryLoop(window=int(s["window"]), tau_max=int(s["tau_max"]), hop=int(s["hop"]),
                         min_samples=int(s["window"]), stability_k=int(s.get("stability_k", 10)), model=model,
                         in_line=True)


def _run(task: Task, loop: DiscoveryLoop, begin: int, index: int) -> tuple[list[WindowGraph], int]:
    """The loop over the task's samples from ``begin`` (the next refresh: window ``index``) to its
    last kept window; the kept windows' graphs and the sample it stopped at."""
    hop, window = int(task.settings["hop"]), int(task.settings["window"])
    table = task.series
    end = (task.keep_to - 1) * hop + window
    out = []
    for stamp, x in zip(table.stamps[begin:end].tolist(), table.values[begin:end]):
        step = loop.update(stamp, table.names, x)
        if step.refresh is None:
            continue
        result = loop.refresh(step.refresh)
        if index >= task.keep_from:
            res = result.results
            status = str(res.get("graph_status", "ok"))
            reason = str(res.get("status_reason", ""))
            slim = {k: v for k, v in res.items() if k not in _IN_GRAPH}  # no second copy to ship back
            out.append(WindowGraph(table.name, index, dataclasses.replace(result, seq=index + 1, results=slim),
                                   status, reason))
        index += 1
    return out, end


class Chained:
    """:func:`run_task` for tasks run one after another in one process: a task whose kept windows
    start where the task before it (same table, same settings) stopped goes on with that task's
    loop instead of warming a window and k - 1 graphs of its own. The graphs are the one-pass ones
    (as every split's are); a task that fails leaves nothing to go on from.

    >>> X = np.random.default_rng(1).normal(size=(80, 2))
    >>> tasks = plan(as_series(X), {"window": 30, "hop": 10, "tau_max": 1, "stability_k": 2}, chunk=2)
    >>> run = Chained(); [[w.index for w in run(t)] for t in tasks], run.resumed
    ([[0, 1], [2, 3], [4, 5]], 2)
    """

    def __init__(self) -> None:
        self._last: tuple[Task, DiscoveryLoop, int] | None = None
        self.resumed = 0  # tasks that went on from the one before

    def __call__(self, task: Task) -> list[WindowGraph]:
        last, self._last = self._last, None
        if last is not None and last[0].series is task.series and last[0].settings == task.settings \
                and last[0].keep_to == task.keep_from:
            loop, begin, index = last[1], last[2], task.keep_from
            self.resumed += 1
        else:
            loop, begin, index = _new_loop(task), task.offset, task.first
        out, end = _run(task, loop, begin, index)
        self._last = (task, loop, end)
        return out


def graph_rows(w: WindowGraph) -> list[tuple]:
    """The table rows of one window's graph (one per link; one empty row when it has none).

    >>> X = np.random.default_rng(0).normal(size=(60, 2)); X[1:, 1] += X[:-1, 0]
    >>> w = run_task(plan(as_series(X), {"window": 60, "hop": 1, "tau_max": 1})[0])[0]
    >>> [row[4:8] for row in graph_rows(w)]
    [('x0', 'x1', 1, '-->')]
    """
    g, r = w.result.graph, w.result
    status = g.status
    head = (w.log, w.index, r.start_ns, r.end_ns)
    names = {n: k for k, n in enumerate(g.names)}
    rows = []
    for source, target, lag, mark in g.links(mirrors=False):
        i, j = names[source], names[target]
        st = str(status[i, j, lag]) or "tested"
        rows.append(head + (source, target, lag, mark, float(g.val[i, j, lag]), float(g.p[i, j, lag]), st,
                            float(g.stability[i, j, lag])))
    if not rows:
        rows.append(head + ("", "", -1, "", np.nan, np.nan, w.status if w.status != "ok" else "no_links", 0.0))
    return rows


def table_of(graphs: Sequence[WindowGraph]) -> pd.DataFrame:
    """The DataFrame of :data:`COLUMNS` from window graphs, in log and window order.

    >>> table_of([]).columns.tolist() == COLUMNS
    True
    """
    rows = [row for w in sorted(graphs, key=lambda w: (w.log, w.index)) for row in graph_rows(w)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"window": np.int64, "start_ns": np.int64, "end_ns": np.int64, "lag": np.int64})


def summary(df: pd.DataFrame, share: float = 0.0) -> pd.DataFrame:
    """Per link across logs: the share of logs and of windows holding it, and its median val.

    Links held in fewer than ``share`` of all windows are left out; sorted by window share.

    >>> df = pd.DataFrame({"log": ["a", "a", "b"], "window": [0, 1, 0], "source": ["x", "", "x"],
    ...                    "target": ["y", "", "y"], "lag": [1, -1, 1], "mark": ["-->", "", "-->"],
    ...                    "val": [0.5, np.nan, 0.3]})
    >>> summary(df).to_dict("records")
    [{'source': 'x', 'target': 'y', 'lag': 1, 'mark': '-->', 'logs': 1.0, 'windows': 0.6666666666666666, 'median_val': 0.4}]
    """
    cols = ["source", "target", "lag", "mark", "logs", "windows", "median_val"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    n_logs = df["log"].nunique()
    n_windows_all = len(df[["log", "window"]].drop_duplicates())
    links = df[df["mark"] != ""]
    if links.empty:
        return pd.DataFrame(columns=cols)
    grouped = links.groupby(["source", "target", "lag", "mark"], sort=False)
    out = grouped.agg(logs=("log", "nunique"), windows=("window", "size"), median_val=("val", "median")).reset_index()
    out["logs"] = out["logs"] / n_logs
    out["windows"] = out["windows"] / n_windows_all
    out = pd.DataFrame(out.loc[out["windows"] >= share]).sort_values(
        by=["windows", "source", "target", "lag"], ascending=[False, True, True, True])
    return pd.DataFrame(out.reset_index(drop=True), columns=cols)


@dataclass
class Outcome:
    """What a run gave: the window graphs, the tables too short for a window, the failed logs.

    >>> Outcome().failed
    []
    """

    graphs: list[WindowGraph] = field(default_factory=list)
    short: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def discover_graphs(source: Any, *, window: int = 500, hop: int = 10, tau_max: int = 2, stability_k: int = 10,
                    workers: int = 1, cluster: str | None = None, chunk: int | None = None,
                    progress: Callable[[int, int], None] | None = None, names: Sequence[str] | None = None,
                    **model: Any) -> Outcome:
    """:func:`discover`'s work, with the window graphs themselves (for a log of /causal/graph).

    >>> discover_graphs(np.zeros((5, 2)), window=10).short
    ['table: 5 samples, shorter than one window (10)']
    """
    settings = {"window": window, "hop": hop, "tau_max": tau_max, "stability_k": stability_k, **model}
    DiscoveryLoop(window=window, tau_max=tau_max, hop=hop, min_samples=window, stability_k=stability_k,
                  model={k: v for k, v in model.items() if k != "link_rules"})  # bad settings fail here
    tables = as_series(source, names)
    outcome = Outcome()
    for t in tables:
        if t.dropped:
            log.warning("discover: %s: %d samples dropped (stamp not after the one before)", t.name or "table",
                        t.dropped)
        if n_windows(len(t), window, hop) == 0:
            outcome.short.append(f"{t.name or 'table'}: {len(t)} samples, shorter than one window ({window})")
    tasks = plan(tables, settings, chunk)
    here = workers == 1 and cluster is None   # one after another in this process: a split goes on from the last
    outcome.graphs, outcome.failed = run_tasks(Chained() if here else run_task, tasks, workers=workers, cluster=cluster,
                                               progress=progress)
    return outcome


def discover(source: Any, *, window: int = 500, hop: int = 10, tau_max: int = 2, stability_k: int = 10,
             workers: int = 1, cluster: str | None = None, chunk: int | None = None,
             progress: Callable[[int, int], None] | None = None, names: Sequence[str] | None = None,
             **model: Any) -> pd.DataFrame:
    """Windowed discovery over one or more tables: a DataFrame of :data:`COLUMNS`, one row per link per window.

    ``model``: WindowedPCMCI's settings (tau_min, method, ci_test, ci_params, pc_alpha,
    alpha_level, max_conds_dim, fdr_method, link_assumptions) and ``link_rules`` (readable
    rules, compiled against each table's names). ``workers`` > 1 runs the tasks on a local
    Dask cluster of that many processes; ``cluster`` on an existing one. ``chunk`` cuts
    long tables into stretches of that many windows. The run's tables too short for a window and its failed
    tasks are in ``df.attrs["short"]`` and ``df.attrs["failed"]``.

    >>> X = np.random.default_rng(0).normal(size=(300, 2)); X[1:, 1] += X[:-1, 0]
    >>> df = discover(X, window=200, hop=50, tau_max=1, ci_test="robustparcorr")
    >>> sorted(set(zip(df.source, df.target, df.lag))), df.window.nunique()
    ([('x0', 'x1', 1)], 3)
    """
    out = discover_graphs(source, window=window, hop=hop, tau_max=tau_max, stability_k=stability_k,
                          workers=workers, cluster=cluster, chunk=chunk, progress=progress, names=names, **model)
    df = table_of(out.graphs)
    df.attrs["short"] = out.short
    df.attrs["failed"] = out.failed
    return df
