"""The discovery node's window on disk, so a respawned node picks up where the killed one stopped.

A state file (``.npz``) holds the window's samples (oldest first, NaN kept), their stamps,
the variable names, the samples since the last refresh, the last graphs' marks (the
stability history, the newest last: the next change event diffs against it) and the last
graph's sequence number, and the parameters that give samples their meaning (``window``, ``tau_min``, ``tau_max``, ``method``, ``ci_test``,
``forgetting``). It is written to a temporary file beside the target and renamed over it,
so a process killed mid-write leaves the previous state whole. Reading checks everything: a
file that is not a state, or one written with other parameters, is a
:class:`~causalstream.nodes.errors.StateFileError` (the node logs it and starts empty).
:class:`StateFile` is the node's handle on one such file: where, with which parameters, how
often, and how its failures are logged. The state itself is the discovery loop's
:class:`~causalstream.models.causal.loop.WindowState`.

>>> import tempfile, numpy as np
>>> path = Path(tempfile.mkdtemp()) / "disc.npz"
>>> fp = {"window": 3, "tau_max": 1}
>>> save_state(path, WindowState(["a", "b"], np.arange(6.0).reshape(3, 2), np.array([1, 2, 3]), 4), fp)
>>> back = load_state(path, fp)
>>> back.names, back.samples[-1].tolist(), back.stamps.tolist(), back.graph_seq
(['a', 'b'], [4.0, 5.0], [1, 2, 3], 4)
>>> load_state(path, {"window": 5, "tau_max": 1})
Traceback (most recent call last):
...
causalstream.nodes.errors.StateFileError: state file ...disc.npz: written with window=3, this node has window=5
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from causalstream.models.causal.loop import WindowState
from causalstream.nodes.errors import StateFileError

__all__ = ["StateFile", "WindowState", "load_state", "save_state"]

_FORMAT = "causalstream.discovery.state/1"


def save_state(path: str | Path, state: WindowState, fingerprint: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then rename).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> save_state(folder / "s.npz", WindowState(["a"], np.zeros((2, 1)), np.array([5, 6]), 1), {"window": 2})
    >>> sorted(p.name for p in folder.iterdir())  # no temporary file left behind
    ['s.npz']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": _FORMAT, "names": list(state.names), "graph_seq": int(state.graph_seq),
            "since_hop": int(state.since_hop), "params": fingerprint}
    arrays: dict[str, np.ndarray] = {
        "samples": np.asarray(state.samples, dtype=np.float64),
        "stamps": np.asarray(state.stamps, dtype=np.int64),
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    }
    if state.history is not None and len(state.history):
        arrays["history"] = np.asarray(state.history, dtype="<U3")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: str | Path, fingerprint: dict[str, Any]) -> WindowState:
    """Read and check a state file written with the same ``fingerprint``; raises StateFileError.

    >>> import tempfile
    >>> junk = Path(tempfile.mkdtemp()) / "junk.npz"
    >>> _ = junk.write_bytes(b"not a zip")
    >>> load_state(junk, {})
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.StateFileError: state file ...junk.npz: not a state file (ValueError: ...)
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            samples, stamps = z["samples"], z["stamps"]
            history = z["history"] if "history" in z.files else None
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, UnicodeDecodeError, EOFError) as exc:
        raise StateFileError(str(path), f"not a state file ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise StateFileError(str(path), f"cannot read it ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise StateFileError(str(path), f"not a {_FORMAT} file")
    saved = meta.get("params", {})
    for key, want in fingerprint.items():
        if saved.get(key) != want:
            raise StateFileError(str(path), f"written with {key}={saved.get(key)}, this node has {key}={want}")
    names = meta.get("names")
    n = len(names) if isinstance(names, list) else -1
    if samples.ndim != 2 or samples.shape[1] != n or stamps.shape != (len(samples),) or samples.dtype != np.float64:
        raise StateFileError(str(path), f"samples {samples.shape} and stamps {stamps.shape} do not fit {n} variables")
    if len(stamps) > 1 and not (np.diff(stamps) > 0).all():
        raise StateFileError(str(path), "stamps are not increasing")
    if history is not None and (history.ndim != 4 or history.shape[1:3] != (n, n)):
        raise StateFileError(str(path), f"graph history of shape {history.shape} for {n} variables")
    try:
        seq, since_hop = int(meta.get("graph_seq", 0)), int(meta.get("since_hop", 0))
    except (TypeError, ValueError):
        raise StateFileError(str(path), "graph_seq and since_hop must be integers") from None
    return WindowState(list(names), samples, stamps.astype(np.int64), seq, history, since_hop)


class StateFile:
    """One node's state file: ``path``, the ``fingerprint`` it must match, saves at most every ``every_s``.

    :meth:`save` never raises for a file it cannot write: it logs (the 1st, 10th, 100th and
    every 1000th failure) and returns False. Safe to use from two threads.

    >>> import tempfile
    >>> f = StateFile(Path(tempfile.mkdtemp()) / "d.npz", {"window": 2}, every_s=60.0)
    >>> f.due(), f.save(WindowState(["a"], np.zeros((2, 1)), np.array([5, 6]), 3)), f.due(), f.load().graph_seq
    (True, True, False, 3)
    """

    def __init__(self, path: str | Path, fingerprint: dict[str, Any], every_s: float = 1.0,
                 log: logging.Logger | None = None) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.every_s = every_s
        self.log = log if log is not None else logging.getLogger(__name__)
        self.failures = 0
        self._saved_at = float("-inf")
        self._lock = threading.Lock()

    def due(self) -> bool:
        """True when the last save is at least ``every_s`` old."""
        with self._lock:
            return time.monotonic() - self._saved_at >= self.every_s

    def save(self, state: WindowState) -> bool:
        """Write ``state`` (atomically); False, logged, when the file cannot be written."""
        with self._lock:  # not held while writing: the receive thread asks due() every sample
            self._saved_at = time.monotonic()
        try:
            save_state(self.path, state, self.fingerprint)
            return True
        except OSError as exc:
            with self._lock:
                self.failures += 1
                failures = self.failures
            if failures in (1, 10, 100) or failures % 1000 == 0:
                self.log.warning("discovery: cannot save state to %s (failure %d): %s", self.path, failures, exc)
            return False

    def load(self) -> WindowState:
        """Read and check the file; FileNotFoundError when there is none, StateFileError when it does not fit."""
        return load_state(self.path, self.fingerprint)
