"""Logs and tables as discovery input: what ``causalstream discover`` reads, before any math.

:func:`expand` turns the command line's sources (files, folders, quoted globs) into files;
:func:`load_tables` reads each into :class:`~causalstream.models.causal.discover.Series`:

- an MCAP log: its ``topic`` (default ``/features``). A log without it but with
  ``/agents/state`` gets the features node's own variables (:class:`FeatureExtractor` with
  the given :class:`FeatureSpec`), as a live pipeline would compute them;
- anything ``bag import`` reads (``kind``: csv, parquet, eth-ucy, rosbag): imported into a
  temporary MCAP log first, with the same importer and options;
- a log whose recorder was killed, or that is damaged: what ``bag recover`` salvages, with
  the loss said in the notes.

A log without the topic asked for names the topics it has. A Features stream whose names
change becomes one table per stretch of names (``run.mcap``, ``run.mcap#2``, ...), as the
live node restarts its window.

>>> import tempfile
>>> from causalstream.stream.log.writer import LogWriter
>>> path = Path(tempfile.mkdtemp()) / "run.mcap"
>>> with LogWriter(path) as w:
...     for k in range(3): w.write("/features", Features(stamp_ns=k, names=["a", "b"], values=np.ones(2) * k))
>>> tables, notes = load_tables([path])
>>> tables[0].name, tables[0].names, tables[0].values[:, 0].tolist(), notes
('run.mcap', ['a', 'b'], [0.0, 1.0, 2.0], [])
"""

from __future__ import annotations

import glob
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from causalstream.models.causal.discover import Series, as_series
from causalstream.models.features import FeatureExtractor, FeatureSpec
from causalstream.nodes.errors import CommandError
from causalstream.stream.errors import LogError
from causalstream.stream.importers import get_importer
from causalstream.stream.log.info import log_info
from causalstream.stream.log.reader import read_log
from causalstream.stream.log.recover import recover
from causalstream.stream.messages import AgentStates, Features

__all__ = ["expand", "load_tables"]

_GLOB = set("*?[")


def expand(sources: Sequence[str | Path], kind: str | None = None) -> list[Path]:
    """Files from paths, folders (their ``*.mcap``, or every file for another ``kind``) and globs.

    >>> expand(["/no/such/file.mcap"])
    Traceback (most recent call last):
    ...
    causalstream.nodes.errors.CommandError: discover: /no/such/file.mcap: no such file or folder
    """
    out: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and (kind not in (None, "mcap")
                                                                          or p.suffix == ".mcap"))
            if not found:
                raise CommandError("discover", f"{text}: no {'.mcap ' if kind in (None, 'mcap') else ''}files in this folder")
            out.extend(found)
        elif path.exists():
            out.append(path)
        elif _GLOB & set(text):
            found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not found:
                raise CommandError("discover", f"{text}: no file matches")
            out.extend(found)
        else:
            raise CommandError("discover", f"{text}: no such file or folder")
    return out


def _readable(path: Path, scratch: Path, notes: list[str]) -> Path:
    """The log itself, or what recover() salvages of a damaged or unfinished one (said in notes)."""
    try:
        log_info(path)
        return path
    except LogError as exc:
        out = scratch / f"{path.stem}.recovered.mcap"
        result = recover(path, out)
        if result.messages == 0:
            raise CommandError("discover", f"{path}: {exc.reason}; nothing is readable") from None
        notes.append(f"{path.name}: damaged ({exc.reason}); discovery runs on the {result.messages} messages "
                     f"before {result.stopped_because or 'the damage'}")
        return out


def _segments(name: str, stamps: list[int], rows: list[np.ndarray], names: list[list[str]]) -> list[Series]:
    """One table per stretch of equal variable names."""
    out: list[Series] = []
    start = 0
    for k in range(1, len(rows) + 1):
        if k == len(rows) or names[k] != names[start]:
            label = name if not out else f"{name}#{len(out) + 1}"
            out.extend(as_series(np.vstack(rows[start:k]), names[start], stamps[start:k], label))
            start = k
    return out


def _features_of(entries: Iterable[Any], spec: FeatureSpec) -> tuple[list[int], list[np.ndarray], list[list[str]]]:
    """The features node's output for a log's AgentStates frames."""
    extractor = FeatureExtractor(spec)
    stamps, rows = [], []
    for _topic, _t, frame in entries:
        if not isinstance(frame, AgentStates):
            continue
        values = extractor.update(frame, t=frame.stamp_ns * 1e-9).get().astype(np.float64)
        values[~np.isfinite(values)] = np.nan
        stamps.append(frame.stamp_ns)
        rows.append(values)
    return stamps, rows, [extractor.names] * len(rows)


def _read(path: Path, label: str, topic: str | None, spec: FeatureSpec) -> list[Series]:
    """The tables of one readable MCAP log."""
    topics = {c.topic: c for c in log_info(path).topics}
    want = topic or "/features"
    if want not in topics:
        if topic is None and "/agents/state" in topics:
            stamps, rows, names = _features_of(read_log(path, ["/agents/state"]), spec)
            return _segments(label, stamps, rows, names) if rows else []
        have = ", ".join(f"{t} ({c.type_name})" for t, c in sorted(topics.items())) or "none"
        raise CommandError("discover", f"{label}: no {want} in this log; its topics: {have}")
    if topics[want].type_name == "AgentStates":
        stamps, rows, names = _features_of(read_log(path, [want]), spec)
    else:
        stamps, rows, names = [], [], []
        for _topic, _t, msg in read_log(path, [want]):
            if isinstance(msg, Features):
                stamps.append(msg.stamp_ns)
                rows.append(np.asarray(msg.values, dtype=np.float64))
                names.append(list(msg.names))
        if not rows:
            raise CommandError("discover", f"{label}: {want} holds {topics[want].type_name}, not Features or AgentStates")
    return _segments(label, stamps, rows, names) if rows else []


def load_tables(sources: Sequence[str | Path], kind: str | None = None, topic: str | None = None,
                spec: FeatureSpec | None = None, **import_options: Any) -> tuple[list[Series], list[str]]:
    """The discovery tables of every source, and notes on what was lost on the way (damage).

    >>> import tempfile
    >>> csv = Path(tempfile.mkdtemp()) / "s.csv"; _ = csv.write_text("time,a,b\\n0,1,2\\n0.5,3,4\\n")
    >>> tables, _ = load_tables([csv], kind="csv"); tables[0].names, tables[0].stamps.tolist()
    (['a', 'b'], [0, 500000000])
    """
    spec = spec or FeatureSpec()
    notes: list[str] = []
    tables: list[Series] = []
    with tempfile.TemporaryDirectory(prefix="causalstream-discover-") as tmp:
        scratch = Path(tmp)
        for k, path in enumerate(expand(sources, kind)):
            if kind not in (None, "mcap"):
                options = {key: value for key, value in import_options.items() if value is not None}
                mcap = scratch / f"{k}-{path.stem}.mcap"
                get_importer(kind, topic=topic, **options).run(path, mcap)
                tables.extend(_read(mcap, path.name, topic, spec))
            else:
                tables.extend(_read(_readable(path, scratch, notes), path.name, topic, spec))
    return tables, notes
