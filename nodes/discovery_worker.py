"""The discovery node's graph refresh, off the receive path: window snapshots, a worker, messages.

The receive thread adds each sample to its :class:`~causalstream.models.causal.WindowedPCMCI`
and, every ``hop`` samples, hands :meth:`RefreshWorker.submit` a :class:`WindowSnapshot`: a
copy of the model whose lagged statistics are a deep copy (O(window * N + D^2), tens of
microseconds), so the receive thread keeps updating its own while the worker computes.
The worker holds one pending snapshot: a newer one replaces it (the newest window wins) and
``skipped`` counts the replaced ones. :class:`GraphBuilder` turns a snapshot's results into
the CausalGraph and, when links changed, a ``graph_changed`` CausalEvent.

>>> import numpy as np
>>> from causalstream.models.causal import WindowedPCMCI
>>> model = WindowedPCMCI(2, 50, 1, var_names=["a.x", "b.x"]).update_many(np.random.default_rng(0).normal(size=(60, 2)))
>>> graph, event = GraphBuilder(stability_k=5).build(snapshot(model, 0, 59, epoch=0))
>>> graph.n_samples, graph.window_end_ns, event is None
(50, 59, True)
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.batch import BATCH_TESTS
from causalstream.models.causal.citests import TESTS
from causalstream.models.causal.graph import LaggedGraph, diff_graphs
from causalstream.models.causal.stability import LinkStability
from causalstream.nodes.graph_msg import change_event, graph_message
from causalstream.stream.messages import CausalEvent, CausalGraph

__all__ = ["GraphBuilder", "RefreshWorker", "WindowSnapshot", "ci_test_name", "snapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSnapshot:
    """A frozen copy of the window to refresh: the model (own statistics), stamps, epoch, flags.

    ``epoch`` changes when the window restarts (variables changed, drift restart): the
    builder then forgets its stability history and previous graph.

    >>> WindowSnapshot(model=None, start_ns=1, end_ns=2, epoch=0).flags
    ()
    """

    model: WindowedPCMCI | None
    start_ns: int
    end_ns: int
    epoch: int
    flags: tuple[str, ...] = ()
    stamps: np.ndarray | None = None  # every sample's stamp, when the node keeps a state file


def snapshot(model: WindowedPCMCI, start_ns: int, end_ns: int, epoch: int,
             flags: tuple[str, ...] = (), stamps: np.ndarray | None = None) -> WindowSnapshot:
    """Copy ``model`` for a refresh: a shallow copy holding a deep copy of its statistics.

    >>> m = WindowedPCMCI(1, 10, 1).update_many(np.zeros((5, 1)))
    >>> s = snapshot(m, 0, 4, epoch=0); _ = m.update(np.ones(1))
    >>> s.model.cov.n_samples, m.cov.n_samples
    (5, 6)
    """
    return WindowSnapshot(model=model.snapshot(), start_ns=start_ns, end_ns=end_ns, epoch=epoch, flags=flags, stamps=stamps)


def ci_test_name(ci_test: str) -> str:
    """The display name of a CI test given by our lower-case name (tigramite's class name).

    >>> ci_test_name("parcorr"), ci_test_name("robustparcorr"), ci_test_name("rcot"), ci_test_name("cmiknn")
    ('ParCorr', 'RobustParCorr', 'RCoT', 'CMIknn')
    """
    if ci_test in TESTS:
        return TESTS[ci_test].tigramite_name
    return BATCH_TESTS[ci_test][1]


def _window_flags(model: WindowedPCMCI, n_missing: int, n_degenerate: int) -> list[str]:
    flags = ["nan_in_window"] if n_missing else []
    if n_degenerate:
        flags.append(f"degenerate_tests:{n_degenerate}")
    samples = model.cov.samples()
    for name, col in zip(model.var_names, samples.T):
        finite = col[np.isfinite(col)]
        if len(finite) == 0 or finite.min() == finite.max():
            flags.append(f"constant_variable:{name}")
    if model.cov.n_samples < model.window:
        flags.append("partial_window")
    return flags


class GraphBuilder:
    """Results of a window snapshot -> (CausalGraph, CausalEvent or None); keeps stability and seq.

    >>> GraphBuilder(stability_k=3).seq
    0
    """

    def __init__(self, stability_k: int) -> None:
        self.stability_k = stability_k
        self.stability = LinkStability(stability_k)
        self.epoch: int | None = None
        self.seq = 0
        self.parents: dict | None = None
        self.recent: deque[np.ndarray] = deque(maxlen=stability_k)  # the marks behind ``stability``

    @property
    def previous(self) -> np.ndarray | None:
        """The marks of the last graph of this epoch (the next change event diffs against it).

        >>> GraphBuilder(2).previous is None
        True
        """
        return self.recent[-1] if self.recent else None

    def restore(self, seq: int, history: np.ndarray | None, epoch: int) -> GraphBuilder:
        """Go on from a saved state: the last ``seq``, the last graphs' marks (newest last).

        >>> b = GraphBuilder(3).restore(7, np.array([[[["-->"]]], [[[""]]]]), epoch=1)
        >>> b.seq, float(b.stability.get()[0, 0, 0]), b.previous.tolist()
        (7, 0.5, [[['']]])
        """
        self.stability.reset()
        self.recent.clear()
        for marks in [] if history is None else history:
            self.stability.update(marks)
            self.recent.append(marks)
        self.seq, self.epoch = seq, epoch
        return self

    def build(self, snap: WindowSnapshot) -> tuple[CausalGraph, CausalEvent | None]:
        """Run the snapshot's model, wrap the results; an event when links changed since the last graph."""
        model = snap.model
        assert model is not None
        if snap.epoch != self.epoch:
            self.stability.reset()
            self.recent.clear()
            self.epoch = snap.epoch
        res = model.results()
        self.parents = res.get("parents")
        marks = np.asarray(res["graph"], dtype="<U3")
        previous = self.previous
        self.stability.update(marks)
        self.recent.append(marks)
        self.seq += 1
        graph = graph_message(
            LaggedGraph.from_results(res, stability=self.stability.get()),
            stamp_ns=snap.end_ns, method=model.method, ci_test=ci_test_name(model.ci_test), ci_settings=res["ci_settings"],
            n_degenerate=res["n_degenerate"], alpha=model.alpha_level,
            window_start_ns=snap.start_ns, window_end_ns=snap.end_ns, n_samples=res["n_samples"],
            n_missing=res["n_missing"], seq=self.seq, compute_ms=res["compute_ms"],
            flags=list(snap.flags) + _window_flags(model, res["n_missing"], res["n_degenerate"]))
        return graph, change_event(diff_graphs(previous, marks, model.var_names), snap.end_ns, self.seq)


class RefreshWorker:
    """Runs ``compute(snapshot)`` on a thread, one at a time; pending snapshots coalesce.

    ``threaded=False`` computes inside :meth:`submit` (deterministic: for tests and replays).

    >>> done = []
    >>> w = RefreshWorker(done.append, threaded=False)
    >>> w.submit(WindowSnapshot(None, 0, 1, 0)); w.close(); (len(done), w.skipped)
    (1, 0)
    """

    def __init__(self, compute: Callable[[WindowSnapshot], object], threaded: bool = True) -> None:
        self.compute = compute
        self.threaded = threaded
        self.submitted = 0
        self.skipped = 0
        self.done = 0
        self.failed = 0
        self._pending: WindowSnapshot | None = None
        self._closing = False
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="discovery-refresh", daemon=True)
            self._thread.start()

    def submit(self, snap: WindowSnapshot) -> None:
        """Queue a refresh of ``snap``; replaces (and counts as skipped) one not yet started."""
        self.submitted += 1
        if not self.threaded:
            self._compute(snap)
            return
        with self._wake:
            if self._pending is not None:
                self.skipped += 1
            self._pending = snap
            self._wake.notify()

    @property
    def busy(self) -> bool:
        """True while a refresh is queued or running.

        >>> RefreshWorker(print, threaded=False).busy
        False
        """
        return self._pending is not None or self.done + self.failed + self.skipped < self.submitted

    def _compute(self, snap: WindowSnapshot) -> None:
        try:
            self.compute(snap)
            self.done += 1
        except Exception:  # noqa: BLE001 - a failed refresh must not end the stream; it is logged and counted
            self.failed += 1
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
                self.skipped += 1
                self._pending = None
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
