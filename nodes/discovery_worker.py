"""The discovery node's refresh thread and its messages: a worker, shared counters, graph messages.

The receive thread feeds the :class:`~causalstream.models.causal.loop.DiscoveryLoop`; when a
window is due it hands :meth:`RefreshWorker.submit` the loop's snapshot (an independent
copy of the model), so the receive thread keeps updating its own while the worker
computes. The worker holds one pending snapshot: a newer one replaces it (the newest
window wins) and ``skipped`` counts the replaced ones. Counters touched by both threads
live in :class:`SharedCounts`, under one lock. :func:`graph_messages` turns a refresh's
:class:`~causalstream.models.causal.loop.GraphResult` into the CausalGraph and, when links
changed, a ``graph_changed`` CausalEvent.

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

from causalstream.models.causal.batch import BATCH_TESTS
from causalstream.models.causal.citests import TESTS
from causalstream.models.causal.loop import GraphResult, WindowSnapshot
from causalstream.nodes.graph_msg import change_event, graph_message
from causalstream.stream.messages import CausalEvent, CausalGraph

__all__ = ["RefreshWorker", "SharedCounts", "ci_test_name", "graph_messages"]

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
        n_missing=res["n_missing"], seq=result.seq, compute_ms=res["compute_ms"], flags=result.flags)
    return graph, change_event(result.diff, result.end_ns, result.seq)


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
