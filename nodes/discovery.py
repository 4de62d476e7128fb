"""The ``discovery`` node kind: windowed PCMCI on ``features``, graphs on ``causal/graph``.

The node only wires: the window, hop, drift policy, restarts, graph history and state are
a :class:`~causalstream.models.causal.loop.DiscoveryLoop`. Every sample goes into it on the
receive thread (O(D^2), whatever the window). Once the window holds ``min_samples``, every
``hop`` samples the loop's snapshot goes to the refresh worker (``discovery_worker.py``),
which computes the graph on a thread of its own and publishes it (latched) on
``causal/graph``, with a ``graph_changed`` CausalEvent on ``causal/events`` when links
changed. While a refresh runs, newer hops coalesce (the newest window wins; counter
``skipped``), so a slow CI test lowers the graph rate but never the sample rate. With
``drift`` set, a river detector per variable watches the one-step residuals (DriftMonitor)
and each detection is a ``drift`` event; ``drift_restart`` then empties the window.

Bad input never stops the node; counted in ``bad`` and ``bad:<reason>``:

- ``nonfinite``: a sample holding +-inf (the inf becomes NaN, a missing value);
- ``stamp_order``: a stamp not after the last one: the sample is dropped (the window is a
  time series; a repeated or older sample would fake a lag);
- variables changed (names differ from the window's): logged, counted in
  ``variables_changed``, the window restarts with the new names, and the first graph on
  them carries the flag ``variables_changed``.

NaN values are missing data, not bad: tigramite's missing-value handling applies (rows
that touch a NaN leave the tests; the graph carries ``nan_in_window`` and ``n_missing``).

With ``state`` set (a file path), the node keeps its window on disk (``discovery_state.py``,
a :class:`~causalstream.nodes.discovery_state.StateFile`):
after a refresh at most every ``state_every_s`` and at shutdown. A node started with that
file (a respawn, a restart) takes the saved window back, with the graph sequence number,
the stability history and the previous graph, so its next graph is the one the node would
have published had it not died (flag ``restored``; counter ``restored``: samples taken back).
A file written with other parameters, or not a state file, is logged and the node starts
empty (counter ``state_errors``); so does a first sample stamped no later than the saved
window's end (the stream went back in time) or more than ``state_max_gap_s`` after it (a
stale window, as after a restart the next day). The samples that came while the node was
down are not in the window: it joins the last saved sample to the first new one, as for
any gap in the stream. Drift detectors start afresh; with ``forgetting``, only the last
``window`` samples come back.

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
from typing import Any, Literal

import numpy as np
from pydantic import Field

from causalstream.models.causal.loop import DiscoveryLoop, WindowSnapshot, WindowState
from causalstream.models.errors import ParameterError
from causalstream.nodes.bad_input import CheckedNode
from causalstream.nodes.discovery_state import StateFile
from causalstream.nodes.discovery_worker import GraphReporter, RefreshWorker, SharedCounts
from causalstream.nodes.errors import NodeError, StateFileError
from causalstream.nodes.node import Input, NodeParams
from causalstream.stream.messages import CausalEvent, CausalGraph, Features, Message, NodeStatus

__all__ = ["DiscoveryNode"]

_WORKER_COUNTERS = ("refreshes", "failed", "graphs", "events", "skipped", "state_errors", "overruns")
"""Counters the refresh thread changes: kept in a SharedCounts, copied into ``counters`` for the heartbeat."""


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
        method: Literal["pcmci", "pcmciplus", "lpcmci"] = Field(
            "pcmci", description="tigramite's PCMCI, PCMCI+ or LPCMCI (latent confounders).")
        missing: Literal["complete", "testwise"] = Field(
            "complete", description="NaN handling: drop incomplete rows (complete) or per test (testwise).")
        link_rules: list[dict[str, Any]] = Field(
            default_factory=list, description="Readable link rules (forbid/require/allow/order), as `discover --assume`.")
        lpcmci_params: dict[str, Any] = Field(default_factory=dict, description="LPCMCI's own settings (method lpcmci).")
        time_budget_ms: float | None = Field(None, gt=0, description="Budget of one refresh (over: graph stale, counted).")
        ci_test: Literal["parcorr", "robustparcorr", "rcot", "cmiknn", "gpdc"] = Field(
            "parcorr", description=("CI test: parcorr and robustparcorr (exact, tigramite's), rcot (streaming "
                                    "kernel test, nonlinear) run on the stream; cmiknn and gpdc run tigramite on the window."))
        ci_params: dict[str, bool | int | float | str] = Field(
            default_factory=dict, description="The CI test's own settings (rcot: n_features, seed, bandwidth).")
        pc_alpha: float | None = Field(0.05, ge=0, le=1, description="PC1 condition-selection level (null: tigramite picks).")
        alpha: float = Field(0.01, gt=0, le=1, description="MCI significance level: a link needs p <= alpha.")
        max_conds_dim: int | None = Field(None, ge=0, description="Cap on conditions in PC1 (null: none).")
        fdr_method: Literal["none", "fdr_bh"] = Field("none", description="False-discovery-rate correction of p.")
        forgetting: float | None = Field(None, gt=0, lt=1, description="Exponential forgetting instead of a hard window.")
        stability_k: int = Field(10, ge=1, description="Stability = share of the last k graphs holding each link.")
        drift: Literal["none", "adwin", "page_hinkley"] = Field("none", description="Residual drift detector (river).")
        drift_restart: bool = Field(False, description="Empty the window when drift is detected.")
        threaded: bool = Field(True, description="Refresh on a worker thread (false: on the receive path, in order).")
        state: str | None = Field(None, description="State file (.npz) to keep the window in across respawns (null: none).")
        state_every_s: float = Field(1.0, gt=0, description="Least time between two saves of the state file.")
        state_max_gap_s: float = Field(10.0, gt=0, description=(
            "A restored window is kept only if the first new sample comes at most this long after its end."))

    def setup(self) -> None:
        """Check the parameters, build the loop, start the worker, take back the state, declare topics."""
        p = self.params
        try:
            self.discovery = DiscoveryLoop(
                window=p.window, tau_max=p.tau_max, hop=p.hop, min_samples=p.min_samples, stability_k=p.stability_k,
                drift=None if p.drift == "none" else p.drift, drift_restart=p.drift_restart,
                state_max_gap_s=p.state_max_gap_s,
                model={"tau_min": p.tau_min, "method": p.method, "pc_alpha": p.pc_alpha, "alpha_level": p.alpha,
                       "max_conds_dim": p.max_conds_dim, "fdr_method": p.fdr_method, "ci_test": p.ci_test,
                       "forgetting": p.forgetting, "ci_params": p.ci_params, "missing": p.missing,
                       "link_rules": p.link_rules, "lpcmci_params": p.lpcmci_params,
                       "time_budget_ms": p.time_budget_ms})
        except ParameterError as exc:
            raise NodeError(self.qualified_name, f"bad params: {exc}") from None
        for name in ("samples", "drifts", "variables_changed", "restored"):
            self.counters[name] = 0
        self.shared = SharedCounts(*_WORKER_COUNTERS)
        self._publish_lock = threading.Lock()
        self.graph_out = self.publisher("causal/graph", CausalGraph, latched=True)
        self.events_out = self.publisher("causal/events", CausalEvent)
        self.reporter = GraphReporter(self.log)  # graph, change and once-only events of each refresh
        self.worker = RefreshWorker(self._refresh, threaded=p.threaded, counts=self.shared)
        self.state_file = StateFile(p.state, self._fingerprint(), p.state_every_s, self.log) if p.state else None
        if self.state_file is not None:
            self._restore(self.state_file)
        self._sync_counts()
        self._rules_refused: list[str] | None = None
        self.subscribe("features", self.on_features, Features)

    def on_features(self, event: Input) -> None:
        """Take one sample into the loop; publish its drift events; hand a due window to the worker."""
        msg = self.accept(event, Features)
        if not isinstance(msg, Features):
            return
        x = msg.values
        if np.isinf(x).any():
            self.flag_bad("nonfinite")
            x = np.where(np.isinf(x), np.nan, x)
        keep = self.state_file is not None and self.state_file.due()  # the worker saves that window
        try:
            step = self.discovery.update(msg.stamp_ns, msg.names, x, keep_state=keep)
        except ParameterError as exc:  # link rules naming no variable of this stream: refuse, once, no crash
            self.flag_bad("link_rules")
            if self._rules_refused != list(msg.names):
                self._rules_refused = list(msg.names)
                self.log.error("discovery: samples refused: %s", exc)
                self._publish(self.events_out, CausalEvent(stamp_ns=msg.stamp_ns, kind="insufficient_data",
                                                           variables=list(msg.names), detail=f"link rules: {exc}"))
            return
        self.counters["samples"] += 1
        if step.restart == "variables_changed":
            self.counters["variables_changed"] += 1
            self.log.warning("discovery: %s; window restarted", step.detail)
        elif step.restart == "stale_state":
            self.log.warning("discovery: %s", step.detail)
        for ev in step.drifts:
            self.counters["drifts"] += 1
            self.log.warning("discovery: drift in %s (%s)%s", ev.variable, ev.detector,
                             ", window restarted" if ev.restarted else "")
            self._publish(self.events_out, CausalEvent(stamp_ns=msg.stamp_ns, kind="drift", variable=ev.variable,
                                                       graph_seq=self.discovery.seq, detail=f"{ev.detector}: {ev.detail}"))
        if step.refresh is not None:
            self.worker.submit(step.refresh)

    def _publish(self, out: object, msg: Message) -> None:
        with self._publish_lock:  # the worker thread publishes too; a ZeroMQ socket is one thread's at a time
            out.publish(msg)  # type: ignore[attr-defined]

    def _refresh(self, snap: WindowSnapshot) -> None:
        """On the worker: compute, publish the graph and any change event, save when due."""
        result = self.discovery.refresh(snap)
        graph, events = self.reporter.messages(result)
        self._publish(self.graph_out, graph)
        self.shared.add("graphs")
        self.shared.add("overruns", int(result.results.get("overruns", 0)) - self.shared.get("overruns"))
        for event in events:
            self._publish(self.events_out, event)
            self.shared.add("events")
        if result.state is not None:  # a save was due when the snapshot was taken
            self._save(result.state)

    # -- state file ---------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, object]:
        p = self.params
        return {"window": p.window, "tau_min": p.tau_min, "tau_max": p.tau_max, "method": p.method,
                "ci_test": p.ci_test, "ci_params": dict(sorted(p.ci_params.items())), "forgetting": p.forgetting}

    def _save(self, state: WindowState) -> None:
        assert self.state_file is not None
        if not self.state_file.save(state):
            self.shared.add("state_errors")

    def _restore(self, state_file: StateFile) -> None:
        """Take back the window (and graph history) saved in the file, if it is there and fits."""
        try:
            state = state_file.load()
        except FileNotFoundError:
            self.log.info("discovery: no state file at %s yet; starting empty", state_file.path)
            return
        except StateFileError as exc:
            self.shared.add("state_errors")
            self.log.warning("discovery: %s; starting empty", exc)
            return
        self.discovery.restore(state)
        self.counters["restored"] = len(state.samples)
        self.log.info("discovery: restored %d samples of %s from %s (last graph seq %d)",
                      len(state.samples), state.names, state_file.path, state.graph_seq)

    def _sync_counts(self) -> None:
        for name, value in self.shared.snapshot().items():
            self.counters[name] = value

    def status(self) -> NodeStatus:
        """The heartbeat, with the refresh thread's counters as of now."""
        if getattr(self, "shared", None) is not None:
            self._sync_counts()
        return super().status()

    def on_shutdown(self) -> None:
        """Let a running refresh finish (a few seconds at most), stop the worker, save the window."""
        worker = getattr(self, "worker", None)
        if worker is None:
            return
        worker.close()
        state = self.discovery.state() if self.state_file is not None else None
        if state is not None:
            self._save(state)
        self._sync_counts()
