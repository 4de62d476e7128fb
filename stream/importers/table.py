"""CSV and Parquet tables with a time column -> Features on ``/features``.

Every numeric column other than the time becomes one variable (its name the column
name); empty cells become NaN. The time column is ``time_column`` or the first of
``time``, ``t``, ``stamp``, ``timestamp`` (any case); its unit is ``time_unit`` or, with
``"auto"``, nanoseconds for datetimes and for numbers above 1e12, seconds otherwise.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with open(os.path.join(d, "run.csv"), "w") as f:
...     _ = f.write("t,robot.v,h1.v\\n0.0,1.0,\\n0.1,1.5,0.2\\n")
>>> [(topic, ns, m.names, m.values.tolist()) for topic, ns, m in TableImporter().messages(os.path.join(d, "run.csv"))][1]
('/features', 100000000, ['robot.v', 'h1.v'], [1.5, 0.2])
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from causalstream.stream.errors import LogError
from causalstream.stream.importers.base import Importer, register
from causalstream.stream.messages import Features

__all__ = ["TIME_COLUMNS", "TableImporter"]

log = logging.getLogger(__name__)

TIME_COLUMNS = ("time", "t", "stamp", "timestamp")
_UNITS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}


def read_table(path: str) -> pd.DataFrame:
    """A CSV (or, by suffix, Parquet) file as a DataFrame; :class:`LogError` if empty or unreadable.

    >>> read_table("missing.csv")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: missing.csv: cannot read table: No such file or directory
    """
    try:
        frame = pd.read_parquet(path) if path.endswith((".parquet", ".pq")) else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise LogError(path, "empty file, no table to import") from None
    except OSError as exc:
        raise LogError(path, f"cannot read table: {exc.strerror or exc}") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise LogError(path, f"cannot read table: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise LogError(path, "the table has no rows")
    return frame


@register
class TableImporter(Importer):
    """Tables (CSV, Parquet) -> :class:`Features`, one message per row, sorted by time.

    >>> TableImporter(time_unit="days")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: days: unknown time unit (auto, s, ms, us, ns)
    """

    name = "csv"
    options = ("topic", "time_column", "time_unit", "rate", "start")

    def __init__(self, topic: str = "/features", time_column: str | None = None, time_unit: str = "auto",
                 rate: float | None = None, start: float = 0.0) -> None:
        super().__init__()
        if time_unit != "auto" and time_unit not in _UNITS:
            raise LogError(time_unit, "unknown time unit (auto, s, ms, us, ns)")
        self.topic = topic
        self.time_column = time_column
        self.time_unit = time_unit
        if rate is not None and not (rate > 0 and np.isfinite(rate)):
            raise LogError(str(rate), "--rate must be a positive number of rows per second")
        if rate is not None and time_column is not None:
            raise LogError(str(time_column), "give --time-column or --rate, not both")
        self.rate = rate
        self.start = float(start or 0.0)

    def _time_column(self, path: str, frame: pd.DataFrame) -> str:
        if self.time_column is not None:
            if self.time_column not in frame.columns:
                raise LogError(path, f"no column {self.time_column!r} (columns: {', '.join(map(str, frame.columns))})")
            return self.time_column
        lower = {str(c).lower(): c for c in frame.columns}
        for name in TIME_COLUMNS:
            if name in lower:
                return str(lower[name])
        raise LogError(path, f"no time column: none of {', '.join(TIME_COLUMNS)} among "
                             f"{', '.join(map(str, frame.columns))}",
                       hint="name it with --time-column, or give the sampling rate with --rate HZ")

    def _stamps(self, path: str, col: pd.Series) -> np.ndarray:
        if pd.api.types.is_datetime64_any_dtype(col):
            return col.astype("datetime64[ns]").astype("int64").to_numpy()
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise LogError(path, f"time column {col.name!r} has empty or non-numeric cells")
        unit = self.time_unit
        if unit == "auto":
            unit = "ns" if np.abs(values).max() > 1e12 else "s"
        return np.round(values * _UNITS[unit]).astype(np.int64)

    def messages(self, source: str) -> Iterator[tuple[str, int, Features]]:
        """One Features per row; non-numeric columns are skipped (and reported)."""
        frame = read_table(source)
        if self.rate is not None:  # a table sampled at a fixed rate: row k at start + k / rate
            stamps = np.round((self.start + np.arange(len(frame)) / self.rate) * 1e9).astype(np.int64)
            data = frame
        else:
            tcol = self._time_column(source, frame)
            stamps = self._stamps(source, frame[tcol])
            data = frame.drop(columns=[tcol])
        numeric = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])]
        self.skipped = [f"column {c} (not numeric)" for c in data.columns if c not in numeric]
        if not numeric:
            raise LogError(source, "no numeric column" + ("" if self.rate is not None else " besides the time column"))
        names = [str(c) for c in numeric]
        values = data[numeric].to_numpy(dtype=np.float64)
        for i in np.argsort(stamps, kind="stable"):
            stamp = int(stamps[i])
            yield self.topic, stamp, Features(stamp_ns=stamp, names=names, values=values[i])
