"""The streaming discovery loop: samples in; windows due for a graph and their graphs out.

:class:`DiscoveryLoop` owns what a discovery node does between the bus and the math: the
:class:`~causalstream.models.causal.windowed.WindowedPCMCI` over named variables, the
stamps of its window, the hop count, the drift policy (a
:class:`~causalstream.models.causal.drift.DriftMonitor`, when to refit it, the restart),
the stability history and the graph sequence, every restart of the window (variables
changed, drift, a restored window that does not fit the stream), and the saved state.
It does no I/O and starts no thread: :meth:`~DiscoveryLoop.update` runs on the receive
path and returns a :class:`Step`; :meth:`~DiscoveryLoop.refresh` may run on a worker thread
and returns a :class:`GraphResult` (what the two threads share is under one lock).

>>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 2)); X[1:, 1] += 0.8 * X[:-1, 0]
>>> loop = DiscoveryLoop(window=150, tau_max=1, hop=50, min_samples=100)
>>> steps = [loop.update(k, ["a.x", "b.x"], x) for k, x in enumerate(X)]
>>> results = [loop.refresh(s.refresh) for s in steps if s.refresh is not None]
>>> [(r.seq, r.end_ns) for r in results], results[-1].graph.links()
([(1, 99), (2, 149), (3, 199)], [('a.x', 'b.x', 1, '-->')])
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from causalstream.models.causal.assumptions import check_rules
from causalstream.models.causal.assumptions import compile as compile_rules
from causalstream.models.causal.drift import DriftEvent, DriftMonitor
from causalstream.models.causal.graph import GraphDiff, LaggedGraph, diff_graphs
from causalstream.models.causal.stability import LinkStability
from causalstream.models.causal.windowed import WindowedPCMCI
from causalstream.models.errors import ParameterError

__all__ = ["DiscoveryLoop", "GraphResult", "Step", "WindowSnapshot", "WindowState"]


class WindowState(NamedTuple):
    """What the loop needs to go on after a restart: its window and where its graphs had got to.

    >>> WindowState(["a"], np.zeros((0, 1)), np.zeros(0, dtype=np.int64), 0).since_hop
    0
    """

    names: list[str]
    samples: np.ndarray  # [T, N] float64, oldest first, NaN = missing
    stamps: np.ndarray  # [T] int64 ns, one per sample
    graph_seq: int  # the last published graph's seq (0: none yet)
    history: np.ndarray | None = None  # the last graphs' marks [G, N, N, tau_max + 1], newest last
    since_hop: int = 0  # samples taken since the last refresh was due


@dataclass(frozen=True)
class WindowSnapshot:
    """A window due for a graph: an independent copy of the model, its stamps, epoch and flags.

    ``epoch`` changes when the window restarts: the graph history starts afresh.
    ``stamps`` (every sample's) is set when the caller asked for the state to save.

    >>> WindowSnapshot(model=None, start_ns=1, end_ns=2, epoch=0).flags
    ()
    """

    model: WindowedPCMCI | None
    start_ns: int
    end_ns: int
    epoch: int
    flags: tuple[str, ...] = ()
    stamps: np.ndarray | None = None


@dataclass(frozen=True)
class Step:
    """What one sample did: a window due for a graph, drift events, a restart and why.

    ``restart`` is "" or ``variables_changed``, ``stale_state`` (a restored window the
    stream does not go on from) or ``drift_restart``; ``detail`` says it in words.

    >>> Step().refresh is None, Step().restart
    (True, '')
    """

    refresh: WindowSnapshot | None = None
    drifts: tuple[DriftEvent, ...] = ()
    restart: str = ""
    detail: str = ""


@dataclass(frozen=True)
class GraphResult:
    """One refresh: the graph (stability included), its seq, window, flags, diff and results.

    ``results`` is WindowedPCMCI's dict (method, ci_test, ci_settings, n_degenerate,
    alpha_level, n_samples, n_missing, compute_ms...); ``state`` is set when the snapshot
    asked for it: the window as of this graph, to save.

    >>> GraphResult(LaggedGraph(["a"], np.zeros((1, 1, 1), dtype="<U3")), 1, 0, 9).diff.changed
    False
    """

    graph: LaggedGraph
    seq: int
    start_ns: int
    end_ns: int
    flags: list[str] = field(default_factory=list)
    diff: GraphDiff = field(default_factory=GraphDiff)
    results: dict[str, Any] = field(default_factory=dict)
    state: WindowState | None = None


def window_flags(model: WindowedPCMCI, results: Mapping[str, Any]) -> list[str]:
    """Flags a graph carries about its window: missing values, degenerate tests, constants, partial.

    >>> m = WindowedPCMCI(2, 10, 1, var_names=["a", "b"]).update_many(np.c_[np.arange(5.0), np.ones(5)])
    >>> window_flags(m, m.results())
    ['degenerate_tests:9', 'constant_variable:b', 'partial_window']
    """
    flags = ["nan_in_window"] if results["n_missing"] else []
    if results["n_degenerate"]:
        flags.append(f"degenerate_tests:{results['n_degenerate']}")
    samples = model.samples()
    if len(samples) and not model.cov.n_missing:   # every value finite
        const = samples.min(axis=0) == samples.max(axis=0)
    elif len(samples):
        # over the finite values; a column with none is constant too (its min +inf, its max -inf)
        finite = np.isfinite(samples)
        low = samples.min(axis=0, initial=np.inf, where=finite)
        high = samples.max(axis=0, initial=-np.inf, where=finite)
        const = low >= high
    else:
        const = np.ones(len(model.var_names), dtype=bool)
    flags += [f"constant_variable:{name}" for name, c in zip(model.var_names, const.tolist()) if c]
    if results["n_samples"] < model.window:
        flags.append("partial_window")
    return flags


def _aligned(samples: np.ndarray, stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The newest samples and stamps, as many of each (a drift restart keeps one stamp)."""
    k = min(len(samples), len(stamps))
    return samples[len(samples) - k:], stamps[len(stamps) - k:]


class _History:
    """The graphs of the current epoch: stability, last marks, seq, parents. Shared: under ``lock``."""

    def __init__(self, k: int) -> None:
        self.lock = threading.Lock()
        self.stability = LinkStability(k)
        self.recent: deque[np.ndarray] = deque(maxlen=k)
        self.seq = 0
        self.epoch: int | None = None
        self.parents: dict | None = None
        self.overruns = 0  # refreshes stopped at time_budget_ms, over every snapshot

    def restart(self, epoch: int, history: np.ndarray | None = None, seq: int | None = None) -> None:
        self.stability.reset()
        self.recent.clear()
        for marks in [] if history is None else history:
            self.stability.update(marks)
            self.recent.append(marks)
        self.epoch = epoch
        self.seq = self.seq if seq is None else seq

    def stacked(self) -> np.ndarray | None:
        return np.stack(list(self.recent)) if self.recent else None


_QUIET = Step()
"""What most samples do (nothing due, no drift, no restart): one frozen Step for them all."""


class DiscoveryLoop:
    """Windowed discovery over a stream of named samples: hop, drift policy, restarts, history, state.

    ``model`` holds the other WindowedPCMCI settings (method, ci_test, pc_alpha,
    alpha_level...). A graph is due every ``hop`` samples once the window holds
    ``min_samples`` (or is full). ``drift`` ("adwin", "page_hinkley") watches the residuals;
    ``drift_restart`` then empties the window. A restored window is kept only if the first
    sample after it comes later than its end and at most ``state_max_gap_s`` after it.
    ``in_line``: the caller refreshes every due snapshot before the next sample (no worker
    thread), so a snapshot holds the model itself, not a copy.

    >>> loop = DiscoveryLoop(window=50, tau_max=1, hop=10, min_samples=20)
    >>> steps = [loop.update(k, ["a", "b"], np.array([k % 3, k % 5], dtype=float)) for k in range(30)]
    >>> [k for k, s in enumerate(steps) if s.refresh is not None], loop.names
    ([19, 29], ['a', 'b'])
    >>> loop.update(30, ["a", "c"], np.zeros(2)).restart, loop.n_samples
    ('variables_changed', 1)
    """

    def __init__(self, window: int, tau_max: int, hop: int = 1, min_samples: int = 100, stability_k: int = 10,
                 drift: str | None = None, drift_restart: bool = False, state_max_gap_s: float | None = None,
                 model: Mapping[str, Any] | None = None, in_line: bool = False) -> None:
        self.window = window
        self.tau_max = tau_max
        self.hop = hop
        self.min_samples = min_samples
        self.stability_k = stability_k
        self.drift = drift
        self.drift_restart = drift_restart
        self.state_max_gap_s = state_max_gap_s
        self.model_params = dict(model or {})
        self.in_line = in_line
        if hop < 1 or min_samples < 1:
            raise ParameterError("DiscoveryLoop", f"need hop >= 1 and min_samples >= 1, got {hop}, {min_samples}")
        # bad settings fail here, not at the first sample (link_assumptions are per variable: checked then)
        self.link_rules = list(self.model_params.pop("link_rules", None) or [])
        if self.link_rules:  # readable rules: everything but the names now, the names at the first sample
            check_rules(self.link_rules, int(self.model_params.get("tau_min", 0)), tau_max)
        probe = WindowedPCMCI(1, window, tau_max, var_names=["x"],
                              **{k: v for k, v in self.model_params.items() if k != "link_assumptions"})
        if drift:
            DriftMonitor(probe, detector=drift)
        self.names: list[str] | None = None
        self.model: WindowedPCMCI | None = None
        self.monitor: DriftMonitor | None = None
        self.epoch = 0
        self._stamps: deque[int] = deque(maxlen=window)
        self._since_hop = 0
        self._next_flags: tuple[str, ...] = ()
        self._refit_parents: dict[int, frozenset] | None = None
        self._since_refit = 0
        self._restored_until: int | None = None
        self._history = _History(stability_k)

    def _new_model(self, names: Sequence[str]) -> WindowedPCMCI:
        params = dict(self.model_params)
        if self.link_rules:  # RuleError (a ParameterError) when a pattern matches no variable
            params["link_assumptions"] = compile_rules(self.link_rules, names, int(params.get("tau_min", 0)),
                                                       self.tau_max)
        return WindowedPCMCI(len(names), self.window, self.tau_max, var_names=list(names), **params)

    @property
    def n_samples(self) -> int:
        """Samples in the window now.

        >>> DiscoveryLoop(window=10, tau_max=1).n_samples
        0
        """
        return 0 if self.model is None else self.model.cov.n_samples

    @property
    def seq(self) -> int:
        """The sequence number of the last graph (0: none yet).

        >>> DiscoveryLoop(window=10, tau_max=1).seq
        0
        """
        with self._history.lock:
            return self._history.seq

    def _restart(self, names: Sequence[str], flag: str) -> None:
        """The one place a window starts afresh; the next graph carries ``flag``."""
        model = self._new_model(names)  # may raise (link rules): nothing changed then
        self.names = list(names)
        self.model = model
        self.monitor = DriftMonitor(self.model, detector=self.drift, restart=self.drift_restart) if self.drift else None
        self._refit_parents, self._since_refit = None, 0
        self._stamps.clear()
        self._since_hop = 0
        self.epoch += 1
        self._next_flags = (flag,) if flag else ()

    def update(self, stamp_ns: int, names: Sequence[str], x: np.ndarray, keep_state: bool = False) -> Step:
        """Take one sample (NaN = missing); the Step says what came of it.

        ``keep_state``: a snapshot due now carries every stamp, so its GraphResult holds
        the state to save.
        """
        restart, detail = self._check_restored(stamp_ns, names)
        if (names if isinstance(names, list) else list(names)) != self.names:
            if self.names is not None:
                restart, detail = "variables_changed", f"variables changed from {self.names} to {list(names)}"
            self._restart(names, restart)
        assert self.model is not None
        self.model.update(x)
        self._stamps.append(stamp_ns)
        drifts: tuple[DriftEvent, ...] = ()
        if self.monitor is not None:
            drifts = self._watch_drift(x, stamp_ns)
            if drifts and self.drift_restart:
                restart, detail = "drift_restart", f"drift in {', '.join(e.variable for e in drifts)}"
        self._since_hop += 1
        if self._since_hop < self.hop or self.model.cov.n_samples < min(self.min_samples, self.window):
            return Step(drifts=drifts, restart=restart, detail=detail) if drifts or restart else _QUIET
        self._since_hop = 0
        stamps = np.fromiter(self._stamps, np.int64, len(self._stamps)) if keep_state else None
        snap = WindowSnapshot(self.model if self.in_line else self.model.snapshot(), self._stamps[0],
                              self._stamps[-1], self.epoch, self._next_flags, stamps)
        self._next_flags = ()
        return Step(refresh=snap, drifts=drifts, restart=restart, detail=detail)

    def _check_restored(self, stamp_ns: int, names: Sequence[str]) -> tuple[str, str]:
        """Keep a restored window only if the stream goes on from where it ended."""
        if self._restored_until is None:
            return "", ""
        gap_s, limit, why = (stamp_ns - self._restored_until) / 1e9, self.state_max_gap_s, ""
        self._restored_until = None
        if gap_s <= 0:
            why = "is not after the restored window's end"
        elif limit is not None and gap_s > limit:
            why = f"comes {gap_s:.1f} s after the restored window's end (state_max_gap_s {limit:g})"
        if not why or list(names) != self.names:
            return "", ""
        self._restart(names, "")
        return "stale_state", f"the first sample ({stamp_ns} ns) {why}; window restarted empty"

    def _watch_drift(self, x: np.ndarray, stamp_ns: int) -> tuple[DriftEvent, ...]:
        """Refit the residual model when a refresh found new parents; on drift, maybe restart."""
        assert self.monitor is not None and self.model is not None
        with self._history.lock:
            parents = self._history.parents if self._history.epoch == self.epoch else None
        # refit() restarts the detectors, and weak parents come and go from one refresh to the
        # next: refit on the first parents of a window, then only for new parent sets a window apart
        sets = None if parents is None else {j: frozenset(ps) for j, ps in parents.items()}
        due = self._refit_parents is None or self._since_refit >= self.window
        if sets is not None and sets != self._refit_parents and due:
            self.monitor.refit({"parents": parents})
            self._refit_parents, self._since_refit = sets, 0
        self._since_refit += 1
        events = tuple(self.monitor.update(x).events)
        if events and self.drift_restart:  # the window starts again at this sample
            self.model.reset().update(x)
            self._stamps.clear()
            self._stamps.append(stamp_ns)
            self.epoch += 1
            self._refit_parents = None
            self._next_flags = ("drift_restart",)
        return events

    def refresh(self, snap: WindowSnapshot) -> GraphResult:
        """Compute the snapshot's graph; add it to the history (thread-safe against :meth:`update`)."""
        model = snap.model
        assert model is not None
        before = model.overruns
        res = model.results()
        marks = np.asarray(res["graph"], dtype="<U3")
        hist = self._history
        with hist.lock:
            hist.overruns += model.overruns - before  # a snapshot's own counter dies with it
            res["overruns"] = hist.overruns
            if snap.epoch != hist.epoch:
                hist.restart(snap.epoch)
            previous = hist.recent[-1] if hist.recent else None
            hist.stability.update(marks, res.get("link_status"))  # deterministic links are not held
            hist.recent.append(marks)
            hist.seq += 1
            hist.parents = res.get("parents")
            seq, stability = hist.seq, hist.stability.get()
            history = hist.stacked() if snap.stamps is not None else None  # for the state to save only
        state = None
        if snap.stamps is not None:
            samples, stamps = _aligned(model.samples(), snap.stamps)
            state = WindowState(list(model.var_names), samples, stamps, seq, history, 0)
        return GraphResult(graph=LaggedGraph.from_results(res, stability=stability), seq=seq,
                           start_ns=snap.start_ns, end_ns=snap.end_ns,
                           flags=list(snap.flags) + window_flags(model, res),
                           diff=diff_graphs(previous, marks, model.var_names), results=res, state=state)

    def state(self) -> WindowState | None:
        """The window now, to save (None before the first sample).

        >>> loop = DiscoveryLoop(window=10, tau_max=1, hop=3, min_samples=3)
        >>> _ = [loop.update(k, ["a"], np.array([float(k)])) for k in range(4)]
        >>> s = loop.state(); s.samples[:, 0].tolist(), s.stamps.tolist(), s.since_hop
        ([0.0, 1.0, 2.0, 3.0], [0, 1, 2, 3], 1)
        """
        if self.model is None or self.names is None:
            return None
        samples, stamps = _aligned(self.model.samples(), np.fromiter(self._stamps, np.int64, len(self._stamps)))
        with self._history.lock:
            seq, history = self._history.seq, self._history.stacked()
        return WindowState(list(self.names), samples, stamps, seq, history, self._since_hop)

    def restore(self, state: WindowState) -> DiscoveryLoop:
        """Go on from a saved state: its window, stamps, hop count, graph seq and history.

        The next graph carries the flag ``restored``; the first sample is checked against
        the window's end (``state_max_gap_s``).

        >>> src = DiscoveryLoop(window=10, tau_max=1, hop=3, min_samples=3)
        >>> _ = [src.update(k, ["a"], np.array([float(k % 4)])) for k in range(5)]
        >>> back = DiscoveryLoop(window=10, tau_max=1, hop=3, min_samples=3).restore(src.state())
        >>> back.n_samples, back.update(5, ["a"], np.zeros(1)).refresh.flags
        (5, ('restored',))
        """
        self._restart(state.names, "restored")
        assert self.model is not None
        self.model.restore(state.samples)
        self._stamps.extend(int(s) for s in state.stamps)
        self._since_hop = state.since_hop
        with self._history.lock:
            self._history.restart(self.epoch, state.history, state.graph_seq)
        self._restored_until = int(state.stamps[-1]) if len(state.stamps) else None
        return self
