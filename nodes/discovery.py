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

With ``state`` set (a file path), the node keeps its window on disk (``discovery_state.py``):
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
import time
from collections import deque
from typing import Literal

import numpy as np
from pydantic import Field

from causalstream.models.causal import WindowedPCMCI
from causalstream.models.causal.drift import DriftMonitor
from causalstream.models.errors import ParameterError
from causalstream.nodes.bad_input import CheckedNode
from causalstream.nodes.discovery_state import WindowState, load_state, save_state
from causalstream.nodes.discovery_worker import GraphBuilder, RefreshWorker, WindowSnapshot, snapshot
from causalstream.nodes.errors import NodeError, StateFileError
from causalstream.nodes.node import Input, NodeParams
from causalstream.stream.messages import CausalEvent, CausalGraph, Features, Message, NodeStatus

__all__ = ["DiscoveryNode"]

_DETECTORS = {"adwin": "adwin", "pagehinkley": "page_hinkley"}
_WORKER_COUNTERS = ("refreshes", "failed", "graphs", "events", "skipped")


def _state(model: WindowedPCMCI, stamps: np.ndarray, seq: int, history: np.ndarray | None, since_hop: int) -> WindowState:
    """The window and its stamps, newest aligned (a drift restart leaves one stamp and no sample)."""
    samples = model.cov.samples()
    k = min(len(samples), len(stamps))
    return WindowState(list(model.var_names), samples[len(samples) - k:], stamps[len(stamps) - k:], seq, history, since_hop)


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
        drift: Literal["none", "adwin", "pagehinkley"] = Field("none", description="Residual drift detector (river).")
        drift_restart: bool = Field(False, description="Empty the window when drift is detected.")
        threaded: bool = Field(True, description="Refresh on a worker thread (false: on the receive path, in order).")
        state: str | None = Field(None, description="State file (.npz) to keep the window in across respawns (null: none).")
        state_every_s: float = Field(1.0, gt=0, description="Least time between two saves of the state file.")
        state_max_gap_s: float = Field(10.0, gt=0, description=(
            "A restored window is kept only if the first new sample comes at most this long after its end."))

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
        for name in ("samples", "drifts", "variables_changed", "restored", "state_errors") + _WORKER_COUNTERS:
            self.counters[name] = 0
        self._publish_lock = threading.Lock()
        self.graph_out = self.publisher("causal/graph", CausalGraph)
        self.events_out = self.publisher("causal/events", CausalEvent)
        self.builder = GraphBuilder(self.params.stability_k)
        self.worker = RefreshWorker(self._refresh, threaded=self.params.threaded)
        self.restored_until: int | None = None  # the restored window's last stamp, until the first sample
        self._saved_at = float("-inf")
        self._save_failures = 0
        if self.params.state:
            self._restore(self.params.state)
        self.subscribe("features", self.on_features, Features)

    def _new_model(self, names: list[str]) -> WindowedPCMCI:
        p = self.params
        return WindowedPCMCI(len(names), p.window, p.tau_max, tau_min=p.tau_min, method=p.method,
                             pc_alpha=p.pc_alpha, alpha_level=p.alpha, max_conds_dim=p.max_conds_dim,
                             fdr_method=p.fdr_method, var_names=names, ci_test=p.ci_test, forgetting=p.forgetting,
                             ci_params=p.ci_params)

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
        if self.restored_until is not None:
            self._check_restored(msg)
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
            due = self.params.state and time.monotonic() - self._saved_at >= self.params.state_every_s
            stamps = np.fromiter(self.stamps, np.int64, len(self.stamps)) if due else None  # the worker saves it
            self.worker.submit(snapshot(self.model, self.stamps[0], self.stamps[-1], self.epoch, self.next_flags, stamps))
            self.next_flags = ()

    def _check_restored(self, msg: Features) -> None:
        """Keep the restored window only if the stream goes on from where it ended."""
        assert self.restored_until is not None
        gap_s = (msg.stamp_ns - self.restored_until) / 1e9
        why = ""
        if gap_s <= 0:
            why = "is not after the restored window's end"
        elif gap_s > self.params.state_max_gap_s:
            why = f"comes {gap_s:.1f} s after the restored window's end (state_max_gap_s {self.params.state_max_gap_s:g})"
        if why and msg.names == self.names:
            self.log.warning("discovery: the first sample (%d ns) %s; window restarted empty", msg.stamp_ns, why)
            self._restart(msg.names, "")
        self.restored_until = None

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
        if snap.stamps is not None:  # a save was due when the snapshot was taken
            assert snap.model is not None
            self._save(_state(snap.model, snap.stamps, self.builder.seq, self._history(), 0))

    # -- state file ---------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, object]:
        p = self.params
        return {"window": p.window, "tau_min": p.tau_min, "tau_max": p.tau_max, "method": p.method,
                "ci_test": p.ci_test, "ci_params": dict(sorted(p.ci_params.items())), "forgetting": p.forgetting}

    def _history(self) -> np.ndarray | None:
        recent = list(self.builder.recent)
        return np.stack(recent) if recent else None

    def _save(self, state: WindowState) -> None:
        assert self.params.state is not None
        self._saved_at = time.monotonic()
        try:
            save_state(self.params.state, state, self._fingerprint())
        except OSError as exc:
            self.counters["state_errors"] += 1
            self._save_failures += 1
            if self._save_failures in (1, 10, 100) or self._save_failures % 1000 == 0:
                self.log.warning("discovery: cannot save state to %s (failure %d): %s",
                                 self.params.state, self._save_failures, exc)

    def _restore(self, path: str) -> None:
        """Take back the window (and graph history) saved in ``path``, if it is there and fits."""
        try:
            state = load_state(path, self._fingerprint())
        except FileNotFoundError:
            self.log.info("discovery: no state file at %s yet; starting empty", path)
            return
        except StateFileError as exc:
            self.counters["state_errors"] += 1
            self.log.warning("discovery: %s; starting empty", exc)
            return
        self._restart(state.names, "restored")
        assert self.model is not None
        self.model.update_many(state.samples)
        self.stamps.extend(int(s) for s in state.stamps)
        self.since_hop = state.since_hop
        self.builder.restore(state.graph_seq, state.history, self.epoch)
        self.restored_until = int(state.stamps[-1]) if len(state.stamps) else None
        self.counters["restored"] = len(state.samples)
        self.log.info("discovery: restored %d samples of %s from %s (last graph seq %d)",
                      len(state.samples), state.names, path, state.graph_seq)

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
            if self.params.state and self.model is not None and self.names is not None:
                stamps = np.fromiter(self.stamps, np.int64, len(self.stamps))
                self._save(_state(self.model, stamps, self.builder.seq, self._history(), self.since_hop))
