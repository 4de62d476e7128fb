"""ETH/UCY pedestrian text files -> AgentStates on ``/agents/state``.

The Social-GAN text form: one observation a line, ``frame ped_id x y`` (tabs or
spaces), x and y in metres, frames 10 apart at 2.5 Hz. Each frame becomes one
AgentStates of the pedestrians present, ids ``p<ped_id>``, role ``human``; velocities are
finite differences along each pedestrian's own track (central inside, one-sided at its
ends, 0 for a pedestrian seen once), heading from the velocity.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "scene.txt")
>>> with open(path, "w") as f:
...     _ = f.write("0\\t1.0\\t0.0\\t0.0\\n10\\t1.0\\t0.4\\t0.0\\n10\\t2.0\\t5.0\\t5.0\\n")
>>> frames = list(EthUcyImporter().messages(path))
>>> [(ns, m.ids, m.vx.tolist()) for _, ns, m in frames]
[(0, ['p1'], [1.0]), (400000000, ['p1', 'p2'], [1.0, 0.0])]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from causalstream.stream.errors import LogError
from causalstream.stream.importers.base import Importer, register
from causalstream.stream.messages import AgentStates

__all__ = ["EthUcyImporter", "track_velocities"]


def track_velocities(ped: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """vx, vy of every observation by finite differences along each pedestrian's track.

    Rows must be sorted by (ped, t).

    >>> vx, vy = track_velocities(np.array([1, 1, 1]), np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 4.0]), np.zeros(3))
    >>> vx.tolist()
    [1.0, 2.0, 3.0]
    """
    vx, vy = np.zeros_like(x), np.zeros_like(y)
    starts = np.flatnonzero(np.r_[True, ped[1:] != ped[:-1]])
    ends = np.r_[starts[1:], len(ped)]
    for a, b in zip(starts, ends):
        if b - a >= 2:
            vx[a:b] = np.gradient(x[a:b], t[a:b])
            vy[a:b] = np.gradient(y[a:b], t[a:b])
    return vx, vy


@register
class EthUcyImporter(Importer):
    """ETH/UCY ``frame ped_id x y`` text -> one AgentStates per frame.

    ``fps`` is the annotation rate (2.5 Hz); the frame step (10 in these files) is taken
    as the most common gap between consecutive frame numbers.

    >>> EthUcyImporter().fps
    2.5
    """

    name = "eth-ucy"
    options = ("topic", "fps")

    def __init__(self, topic: str = "/agents/state", fps: float = 2.5) -> None:
        super().__init__()
        self.topic = topic
        self.fps = fps

    def _read(self, source: str) -> pd.DataFrame:
        try:
            table = pd.read_csv(source, sep=r"\s+", header=None, comment="#", engine="python")
        except pd.errors.EmptyDataError:
            raise LogError(source, "empty file, no trajectories to import") from None
        except (ValueError, pd.errors.ParserError) as exc:
            raise LogError(source, f"not ETH/UCY text: {str(exc).splitlines()[0]}") from None
        if table.shape[1] != 4 or not all(pd.api.types.is_numeric_dtype(table[c]) for c in table.columns):
            raise LogError(source, f"not ETH/UCY text: want 4 numeric columns (frame ped_id x y), got {table.shape[1]}")
        table.columns = ["frame", "ped", "x", "y"]
        return table.dropna()

    def messages(self, source: str) -> Iterator[tuple[str, int, AgentStates]]:
        """One AgentStates per annotated frame, in frame order."""
        table = self._read(source).sort_values(["ped", "frame"], kind="stable")
        frames = np.unique(table["frame"].to_numpy())
        steps = np.diff(frames)
        step = float(pd.Series(steps).mode().iloc[0]) if len(steps) else 1.0
        t_of = (table["frame"].to_numpy() - frames[0]) / step / self.fps
        ped = table["ped"].to_numpy().astype(np.int64)
        x, y = table["x"].to_numpy(np.float64), table["y"].to_numpy(np.float64)
        vx, vy = track_velocities(ped, t_of, x, y)
        order = np.lexsort((ped, t_of))
        ped, t_of, x, y, vx, vy = ped[order], t_of[order], x[order], y[order], vx[order], vy[order]
        starts = np.flatnonzero(np.r_[True, t_of[1:] != t_of[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(t_of)]):
            stamp = int(round(t_of[a] * 1e9))
            ids = [f"p{p}" for p in ped[a:b]]
            yield self.topic, stamp, AgentStates(stamp_ns=stamp, ids=ids, roles=["human"] * len(ids),
                                                 x=x[a:b], y=y[a:b], vx=vx[a:b], vy=vy[a:b])
