"""The ``discovery`` node kind: windowed PCMCI on ``features``, graphs on ``causal/graph``.

Every sample goes into a :class:`~causalstream.models.causal.WindowedPCMCI` on the receive
thread (O(D^2), whatever the window). Once the window holds ``min_samples``, every ``hop``
samples a snapshot of it goes to the refresh worker (``discovery_worker.py``), which
computes the graph on a thread of its own and publishes it (latched) on ``causal/graph``,
with a ``graph_changed`` CausalEvent on ``causal/events`` when links changed. While a
refresh runs, newer hops coalesce (the newest window wins; counter ``skipped``), so a slow
CI test lowers the graph rate but never the sample rate. With ``drift`` set, a river
detector per variable watches the one-step residuals (DriftMonitor) and each detection is
a ``drift`` event; ``drift_restart`` then empties the window.

Bad input never stops the node; counted in ``bad`` and ``bad:<reason>``:

- ``nonfinite``: a sample holding +-inf (the inf becomes NaN, a missing value);
- ``stamp_order``: a stamp not after the last one: the sample is dropped (the window is a
  time series; a repeated or older sample would fake a lag);
- variables changed (names differ from the window's): logged, counted in
  ``variables_changed``, the window restarts with the new names, and the first graph on
  them carries the flag ``variables_changed``.

NaN values are missing data, not bad: tigramite's missing-value handling applies (rows
that touch a NaN leave the tests; the graph carries ``nan_in_window`` and ``n_missing``).

>>> import numpy as np
>>> from causalstream.nodes.testing import MockNode
>>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
>>> samples = [Features(stamp_ns=k, names=["a.x", "b.x"], values=x) for k, x in enumerate(X)]
>>> mock = MockNode(DiscoveryNode, params={"window": 150, "hop": 50, "min_samples": 100, "tau_max": 1,
...                                        "threaded": False}).feed("features", *samples).run()
>>> graphs = mock.outputs("causal/graph")
>>> [g.window_end_ns for g in graphs], graphs[-1].graph[0][1][1], graphs[-1].n_samples
([99, 149, 199], '-->', 150)
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Literal

import numpy as np
from pydantic import Field

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.drift import DriftMonitor
from causalstream.models.errors import ParameterError
from causalstream.nodes.bad_input import CheckedNode
from causalstream.nodes.discovery_worker import GraphBuilder, RefreshWorker, WindowSnapshot, snapshot
from causalstream.nodes.errors import NodeError
from causalstream.nodes.node import Input, NodeParams
from causalstream.stream.messages import CausalEvent, CausalGraph, Features, Message, NodeStatus

__all__ = ["DiscoveryNode"]

_DETECTORS = {"adwin": "adwin", "pagehinkley": "page_hinkley"}
_WORKER_COUNTERS = ("refreshes", "failed", "graphs", "events", "skipped")


class DiscoveryNode(CheckedNode):
    """Subscribes ``features``; publishes ``causal/graph`` (latched) and ``causal/events``.

    Counters beside in/out/bad: ``samples`` (taken into the window), ``refreshes``,
    ``skipped`` (coalesced hops), ``failed``, ``graphs``, ``events``, ``drifts``,
    ``variables_changed``.

    >>> from causalstream.nodes.testing import MockNode
    >>> MockNode(DiscoveryNode).run(duration=1).node.counters["graphs"]
    0
    """

    class Params(NodeParams):
        """Parameters of ``discovery``."""

        window: int = Field(300, ge=4, description="Samples in the sliding window.")
        hop: int = Field(1, ge=1, description="Refresh the graph every this many samples.")
        min_samples: int = Field(100, ge=3, description="First graph once the window holds this many samples.")
        tau_min: int = Field(0, ge=0, description="Smallest lag tested.")
        tau_max: int = Field(2, ge=0, description="Largest lag tested.")
        method: Literal["pcmci", "pcmciplus"] = Field("pcmci", description="tigramite's PCMCI or PCMCI+.")
        ci_test: Literal["parcorr", "robustparcorr", "cmiknn", "gpdc"] = Field(
            "parcorr", description="CI test: parcorr is incremental; the others run tigramite on the window.")
        pc_alpha: float | None = Field(0.05, ge=0, le=1, description="PC1 condition-selection level (null: tigramite picks).")
        alpha: float = Field(0.01, gt=0, le=1, description="MCI significance level: a link needs p <= alpha.")
        max_conds_dim: int | None = Field(None, ge=0, description="Cap on conditions in PC1 (null: none).")
        fdr_method: Literal["none", "fdr_bh"] = Field("none", description="False-discovery-rate correction of p.")
        forgetting: float | None = Field(None, gt=0, lt=1, description="Exponential forgetting instead of a hard window.")
        stability_k: int = Field(10, ge=1, description="Stability = share of the last k graphs holding each link.")
        drift: Literal["none", "adwin", "pagehinkley"] = Field("none", description="Residual drift detector (river).")
        drift_restart: bool = Field(False, description="Empty the window when drift is detected.")
        threaded: bool = Field(True, description="Refresh on a worker thread (false: on the receive path, in order).")

    def setup(self) -> None:
        """Check the parameters, start the worker, declare topics."""
        try:
            self._new_model(["x"])
        except ParameterError as exc:
            raise NodeError(self.qualified_name, f"bad params: {exc}") from None
        self.names: list[str] | None = None
        self.model: WindowedPCMCI | None = None
        self.monitor: DriftMonitor | None = None
        self.stamps: deque[int] = deque(maxlen=self.params.window)
        self.since_hop = 0
        self.epoch = 0
        self.next_flags: tuple[str, ...] = ()
        self.refit_parents: dict[int, frozenset] | None = None
        self.since_refit = 0
        for name in ("samples", "drifts", "variables_changed") + _WORKER_COUNTERS:
            self.counters[name] = 0
        self._publish_lock = threading.Lock()
        self.graph_out = self.publisher("causal/graph", CausalGraph)
        self.events_out = self.publisher("causal/events", CausalEvent)
        self.builder = GraphBuilder(self.params.stability_k)
        self.worker = RefreshWorker(self._refresh, threaded=self.params.threaded)
        self.subscribe("features", self.on_features, Features)

    def _new_model(self, names: list[str]) -> WindowedPCMCI:
        p = self.params
        return WindowedPCMCI(len(names), p.window, p.tau_max, tau_min=p.tau_min, method=p.method,
                             pc_alpha=p.pc_alpha, alpha_level=p.alpha, max_conds_dim=p.max_conds_dim,
                             fdr_method=p.fdr_method, var_names=names, ci_test=p.ci_test, forgetting=p.forgetting)

    def _restart(self, names: list[str], why: str) -> None:
        """A fresh window (and drift monitor) over ``names``; the next graph carries flag ``why``."""
        self.names = list(names)
        self.model = self._new_model(self.names)
        self.monitor = None
        if self.params.drift != "none":
            self.monitor = DriftMonitor(self.model, detector=_DETECTORS[self.params.drift],
                                        restart=self.params.drift_restart)
        self.refit_parents = None
        self.since_refit = 0
        self.stamps.clear()
        self.since_hop = 0
        self.epoch += 1
        self.next_flags = (why,) if why else ()

    def on_features(self, event: Input) -> None:
        """Take one sample into the window; every hop, hand a snapshot to the worker."""
        msg = self.accept(event, Features)
        if not isinstance(msg, Features):
            return
        if msg.names != self.names:
            if self.names is not None:
                self.counters["variables_changed"] += 1
                self.log.warning("discovery: variables changed from %s to %s; window restarted", self.names, msg.names)
            self._restart(msg.names, "variables_changed" if self.names is not None else "")
        x = msg.values
        if np.isinf(x).any():
            self.flag_bad("nonfinite")
            x = np.where(np.isinf(x), np.nan, x)
        assert self.model is not None
        self.model.update(x)
        self.stamps.append(msg.stamp_ns)
        self.counters["samples"] += 1
        if self.monitor is not None:
            self._watch_drift(x, msg.stamp_ns)
        self.since_hop += 1
        if self.since_hop >= self.params.hop and self.model.cov.n_samples >= min(self.params.min_samples,
                                                                                  self.params.window):
            self.since_hop = 0
            self.worker.submit(snapshot(self.model, self.stamps[0], self.stamps[-1], self.epoch, self.next_flags))
            self.next_flags = ()

    def _watch_drift(self, x: np.ndarray, stamp_ns: int) -> None:
        """Refit the residual model when the worker found new parents; publish drift events."""
        assert self.monitor is not None
        parents = self.builder.parents if self.builder.epoch == self.epoch else None
        # refit() restarts the detectors, and weak parents come and go from one refresh to the
        # next: refit on the first parents of a window, then only for new parent sets a window apart
        sets = None if parents is None else {j: frozenset(ps) for j, ps in parents.items()}
        due = self.refit_parents is None or self.since_refit >= self.params.window
        if sets is not None and sets != self.refit_parents and due:
            self.monitor.refit({"parents": parents})
            self.refit_parents, self.since_refit = sets, 0
        self.since_refit += 1
        self.monitor.update(x)
        for ev in self.monitor.events:
            self.counters["drifts"] += 1
            self.log.warning("discovery: drift in %s (%s)%s", ev.variable, ev.detector,
                             ", window restarted" if ev.restarted else "")
            self._publish(self.events_out, CausalEvent(stamp_ns=stamp_ns, kind="drift", variable=ev.variable,
                                                       graph_seq=self.builder.seq, detail=f"{ev.detector}: {ev.detail}"))
        if self.monitor.events and self.params.drift_restart:
            self.stamps.clear()
            self.stamps.append(stamp_ns)
            self.epoch += 1
            self.refit_parents = None
            self.next_flags = ("drift_restart",)

    def _publish(self, out: object, msg: Message) -> None:
        with self._publish_lock:  # the worker thread publishes too; a ZeroMQ socket is one thread's at a time
            out.publish(msg)  # type: ignore[attr-defined]

    def _refresh(self, snap: WindowSnapshot) -> None:
        """On the worker: compute, publish the graph and any change event."""
        self.counters["refreshes"] += 1
        graph, event = self.builder.build(snap)
        self._publish(self.graph_out, graph)
        self.counters["graphs"] += 1
        if event is not None:
            self._publish(self.events_out, event)
            self.counters["events"] += 1

    def status(self) -> NodeStatus:
        """The heartbeat, with the worker's ``skipped`` and ``failed`` counts."""
        worker = getattr(self, "worker", None)
        if worker is not None:
            self.counters["skipped"], self.counters["failed"] = worker.skipped, worker.failed
        return super().status()

    def on_shutdown(self) -> None:
        """Let a running refresh finish (a few seconds at most), then stop the worker."""
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.close()
