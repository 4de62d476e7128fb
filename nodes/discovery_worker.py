"""The discovery node's refresh thread and its messages: a worker, shared counters, graph messages.

The receive thread feeds the :class:`~causalstream.models.causal.loop.DiscoveryLoop`; when a
window is due it hands :meth:`RefreshWorker.submit` the loop's snapshot (an independent
copy of the model), so the receive thread keeps updating its own while the worker
computes. The worker holds one pending snapshot: a newer one replaces it (the newest
window wins) and ``skipped`` counts the replaced ones. Counters touched by both threads
live in :class:`SharedCounts`, under one lock. :func:`graph_messages` turns a refresh's
:class:`~causalstream.models.causal.loop.GraphResult` into the CausalGraph (statuses
included) and, when links changed, a ``graph_changed`` CausalEvent; a :class:`GraphReporter`
adds the events that must be said once, not every refresh (a window lacking data, a
deterministic relation, a hidden cause between agents, a stale refresh).

>>> import numpy as np
>>> from causalstream.models.causal.loop import DiscoveryLoop
>>> loop = DiscoveryLoop(window=50, tau_max=1, hop=60, min_samples=50)
>>> X = np.random.default_rng(0).normal(size=(60, 2))
>>> snap = [loop.update(k, ["a.x", "b.x"], x) for k, x in enumerate(X)][-1].refresh
>>> graph, event = graph_messages(loop.refresh(snap))
>>> graph.n_samples, graph.window_end_ns, graph.ci_test, event is None
(50, 59, 'ParCorr', True)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from causalstream.models.causal.batch import BATCH_TESTS
from causalstream.models.causal.citests import TESTS
from causalstream.models.causal.graph import agent_of
from causalstream.models.causal.loop import GraphResult, WindowSnapshot
from causalstream.nodes.graph_msg import change_event, graph_message
from causalstream.stream.messages import CausalEvent, CausalGraph, Link

__all__ = ["GraphReporter", "RefreshWorker", "SharedCounts", "ci_test_name", "graph_messages"]

log = logging.getLogger(__name__)


def ci_test_name(ci_test: str) -> str:
    """The display name of a CI test given by our lower-case name (tigramite's class name).

    >>> ci_test_name("parcorr"), ci_test_name("robustparcorr"), ci_test_name("rcot"), ci_test_name("cmiknn")
    ('ParCorr', 'RobustParCorr', 'RCoT', 'CMIknn')
    """
    if ci_test in TESTS:
        return TESTS[ci_test].tigramite_name
    return BATCH_TESTS[ci_test][1]


def graph_messages(result: GraphResult) -> tuple[CausalGraph, CausalEvent | None]:
    """The CausalGraph of a refresh, and its ``graph_changed`` event (None when no link changed).

    >>> import numpy as np
    >>> from causalstream.models.causal.graph import GraphDiff, LaggedGraph
    >>> res = {"method": "pcmci", "ci_test": "rcot", "ci_settings": {"seed": 1}, "n_degenerate": 0,
    ...        "alpha_level": 0.01, "n_samples": 9, "n_missing": 0, "compute_ms": 2.0}
    >>> diff = GraphDiff(added=[("a", "a", 1, "-->")], shd=1)
    >>> r = GraphResult(LaggedGraph(["a"], np.full((1, 1, 2), "-->")), 4, 0, 8, ["partial_window"], diff, res)
    >>> g, e = graph_messages(r); (g.seq, g.ci_test, g.flags, g.window_end_ns), (e.kind, e.graph_seq)
    ((4, 'RCoT', ['partial_window'], 8), ('graph_changed', 4))
    """
    res = result.results
    graph = graph_message(
        result.graph, stamp_ns=result.end_ns, method=res["method"], ci_test=ci_test_name(res["ci_test"]),
        ci_settings=res["ci_settings"], n_degenerate=res["n_degenerate"], alpha=res["alpha_level"],
        window_start_ns=result.start_ns, window_end_ns=result.end_ns, n_samples=res["n_samples"],
        n_missing=res["n_missing"], seq=result.seq, compute_ms=res["compute_ms"], flags=result.flags,
        graph_status=str(res.get("graph_status", "")), status_reason=str(res.get("status_reason", "")))
    return graph, change_event(result.diff, result.end_ns, result.seq)


class GraphReporter:
    """The messages of each refresh: its CausalGraph and events, the once-only ones said once.

    ``messages(result)`` returns the graph and, in this order: ``graph_changed`` (links
    changed); ``insufficient_data`` (the window lacks data: sent when the graph status or the
    variables lacking data change, not every refresh); ``deterministic`` (links whose test
    was deterministic, each link once in this reporter's life, logged once); ``hidden_cause``
    (a ``<->`` between two agents' variables that the previous graph did not have);
    ``stale`` (a refresh past its time budget, once until a refresh completes again).

    >>> from causalstream.models.causal.graph import GraphDiff, LaggedGraph
    >>> marks = np.full((2, 2, 2), "", dtype="<U3"); marks[0, 1, 0] = marks[1, 0, 0] = "<->"
    >>> st = np.full((2, 2, 2), "tested", dtype="<U13"); st[0, 0, 0] = st[1, 1, 0] = "untested"
    >>> g = LaggedGraph(["r.v", "h.v"], marks, status=st)
    >>> res = {"method": "lpcmci", "ci_test": "parcorr", "ci_settings": {}, "n_degenerate": 0, "alpha_level": 0.05,
    ...        "n_samples": 9, "n_missing": 0, "compute_ms": 1.0, "graph_status": "ok", "status_reason": ""}
    >>> rep = GraphReporter()
    >>> _, events = rep.messages(GraphResult(g, 1, 0, 8, [], g.diff(None), res))
    >>> [(e.kind, e.variables) for e in events]
    [('graph_changed', []), ('hidden_cause', ['h.v', 'r.v'])]
    >>> rep.messages(GraphResult(g, 2, 0, 9, [], GraphDiff(), res))[1]
    []
    """

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter | None = None) -> None:
        self.logger = logger if logger is not None else log
        self._deterministic: set[tuple[str, str, int]] = set()
        self._lacking: tuple[str, tuple[str, ...]] | None = None
        self._stale = False

    def messages(self, result: GraphResult) -> tuple[CausalGraph, list[CausalEvent]]:
        """The CausalGraph of ``result`` and the events it brings (maybe none)."""
        graph, changed = graph_messages(result)
        events = [changed] if changed is not None else []
        for event in (self._lacking_event(result, graph), self._deterministic_event(result),
                      self._hidden_event(result), self._stale_event(graph)):
            if event is not None:
                events.append(event)
        return graph, events

    def _event(self, result: GraphResult, kind: str, detail: str, variables: list[str],
               added: list[Link] | None = None) -> CausalEvent:
        return CausalEvent(stamp_ns=result.end_ns, kind=kind, graph_seq=result.seq, detail=detail, variables=variables,
                           added=added or [])

    def _lacking_event(self, result: GraphResult, graph: CausalGraph) -> CausalEvent | None:
        variables = result.graph.lacking() if graph.graph_status in ("insufficient", "partial") else []
        if graph.graph_status == "insufficient" and not variables:
            variables = list(result.graph.names)
        key = (graph.graph_status, tuple(variables)) if variables else None
        if key == self._lacking:
            return None
        self._lacking = key
        if key is None:
            return None
        self.logger.warning("discovery: graph #%d %s: %s", result.seq, graph.graph_status, graph.status_reason)
        return self._event(result, "insufficient_data", variables=variables,
                           detail=f"{graph.graph_status}: {graph.status_reason}")

    def _deterministic_event(self, result: GraphResult) -> CausalEvent | None:
        g = result.graph
        new = []
        for i, j, tau in zip(*np.nonzero(g.status == "deterministic")):
            key = (g.names[i], g.names[j], int(tau))
            if (tau == 0 and i > j) or key in self._deterministic:
                continue
            self._deterministic.add(key)
            new.append(Link(*key, str(g.marks[i, j, tau])))
        if not new:
            return None
        said = ", ".join(f"{k.source} (lag {k.lag}) - {k.target}" for k in new)
        self.logger.warning("discovery: deterministic, not a finding (left out of stability and agent links): %s", said)
        return self._event(result, "deterministic", added=new, variables=sorted({n for k in new for n in (k.source, k.target)}),
                           detail=f"{len(new)} deterministic link(s): |partial corr| >= 1 - 1e-9 or a function of others")

    def _hidden_event(self, result: GraphResult) -> CausalEvent | None:
        new = [Link(*link) for link in result.diff.added if link[3] == "<->" and agent_of(link[0]) != agent_of(link[1])]
        if not new:
            return None
        pairs = sorted({tuple(sorted((agent_of(k.source), agent_of(k.target)))) for k in new})
        return self._event(result, "hidden_cause", added=new, variables=sorted({n for k in new for n in (k.source, k.target)}),
                           detail="hidden common cause between " + ", ".join(f"{a} and {b}" for a, b in pairs))

    def _stale_event(self, graph: CausalGraph) -> CausalEvent | None:
        stale, was = graph.graph_status == "stale", self._stale
        self._stale = stale
        if not stale or was:
            return None
        self.logger.warning("discovery: graph #%d stale: %s", graph.seq, graph.status_reason)
        return CausalEvent(stamp_ns=graph.stamp_ns, kind="stale", graph_seq=graph.seq, detail=graph.status_reason)


class SharedCounts:
    """Counters two threads touch: every change and every read under one lock.

    >>> c = SharedCounts("graphs"); c.add("graphs"); c.add("events", 2); c.snapshot()
    {'graphs': 1, 'events': 2}
    """

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(names, 0)

    def add(self, name: str, n: int = 1) -> None:
        """Count ``n`` more of ``name``."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def get(self, name: str) -> int:
        """The count of ``name`` now.

        >>> SharedCounts("x").get("x")
        0
        """
        with self._lock:
            return self._counts.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        """Every count, copied at one instant."""
        with self._lock:
            return dict(self._counts)


class RefreshWorker:
    """Runs ``compute(snapshot)`` on a thread, one at a time; pending snapshots coalesce.

    ``threaded=False`` computes inside :meth:`submit` (deterministic: for tests and replays).
    Counts (``submitted``, ``skipped``, ``refreshes``, ``failed``) go to ``counts``.

    >>> done = []
    >>> w = RefreshWorker(done.append, threaded=False)
    >>> w.submit(WindowSnapshot(None, 0, 1, 0)); w.close(); (len(done), w.skipped, w.counts.get("refreshes"))
    (1, 0, 1)
    """

    def __init__(self, compute: Callable[[WindowSnapshot], object], threaded: bool = True,
                 counts: SharedCounts | None = None) -> None:
        self.compute = compute
        self.threaded = threaded
        self.counts = counts if counts is not None else SharedCounts()
        for name in ("submitted", "skipped", "refreshes", "failed"):
            self.counts.add(name, 0)
        self._pending: WindowSnapshot | None = None
        self._closing = False
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="discovery-refresh", daemon=True)
            self._thread.start()

    @property
    def submitted(self) -> int:
        """Snapshots handed to :meth:`submit`."""
        return self.counts.get("submitted")

    @property
    def skipped(self) -> int:
        """Snapshots replaced by a newer one (or dropped at close) before they ran."""
        return self.counts.get("skipped")

    @property
    def failed(self) -> int:
        """Refreshes that raised (logged)."""
        return self.counts.get("failed")

    def submit(self, snap: WindowSnapshot) -> None:
        """Queue a refresh of ``snap``; replaces (and counts as skipped) one not yet started."""
        self.counts.add("submitted")
        if not self.threaded:
            self._compute(snap)
            return
        with self._wake:
            if self._pending is not None:
                self.counts.add("skipped")
            self._pending = snap
            self._wake.notify()

    def _compute(self, snap: WindowSnapshot) -> None:
        self.counts.add("refreshes")
        try:
            self.compute(snap)
        except Exception:  # noqa: BLE001 - a failed refresh must not end the stream; it is logged and counted
            self.counts.add("failed")
            log.exception("graph refresh failed")

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closing:
                    self._wake.wait()
                if self._pending is None:
                    return
                snap, self._pending = self._pending, None
            self._compute(snap)

    def close(self, timeout: float = 4.0) -> None:
        """Let the running refresh finish (up to ``timeout`` s); a pending one is skipped."""
        with self._wake:
            if self._pending is not None:
                self.counts.add("skipped")
                self._pending = None
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
