"""Messages as table rows: how each type flattens into columns for pandas.

- Features: one row, one column per variable name.
- AgentStates: long format, one row per agent (``agent_id``, ``role``, ``x`` ... ``goal_x``, ``goal_y``).
- Predictions: one row per agent and mode (``mode``, ``probability``, ``traj_x`` / ``traj_y`` lists).
- CausalGraph: one row per link (``source``, ``target``, ``lag``, ``mark``, ``val``, ``p``, ``stability``).
- anything else: one row of its fields, arrays as lists.

Every row also carries ``stamp_ns`` (the message's own stamp).

>>> import numpy as np
>>> from causalstream.stream.messages import AgentStates, Features
>>> message_rows(Features(stamp_ns=1, names=["robot.v", "h1.v"], values=np.array([0.5, 1.0])))
[{'stamp_ns': 1, 'robot.v': 0.5, 'h1.v': 1.0}]
>>> rows = message_rows(AgentStates(stamp_ns=2, ids=["r", "p1"], roles=["robot", "human"],
...                                 x=np.array([0.0, 1.0]), y=np.zeros(2), vx=np.zeros(2), vy=np.zeros(2)))
>>> [(r["agent_id"], r["x"]) for r in rows]
[('r', 0.0), ('p1', 1.0)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from causalstream.stream.codec import to_builtins
from causalstream.stream.messages import AgentStates, CausalGraph, Features, Message, Predictions

__all__ = ["ROW_MAKERS", "message_rows"]

Row = dict[str, Any]


def _features(m: Features) -> list[Row]:
    row: Row = {"stamp_ns": m.stamp_ns}
    row.update(zip(m.names, m.values.tolist()))
    return [row]


def _agents(m: AgentStates) -> list[Row]:
    goal = m.goal if m.goal is not None else np.full((len(m.ids), 2), np.nan)
    heading = m.heading if m.heading is not None else np.full(len(m.ids), np.nan)
    return [
        {"stamp_ns": m.stamp_ns, "frame_id": m.frame_id, "agent_id": aid, "role": role,
         "x": float(m.x[i]), "y": float(m.y[i]), "vx": float(m.vx[i]), "vy": float(m.vy[i]),
         "heading": float(heading[i]), "goal_x": float(goal[i, 0]), "goal_y": float(goal[i, 1])}
        for i, (aid, role) in enumerate(zip(m.ids, m.roles))
    ]


def _predictions(m: Predictions) -> list[Row]:
    rows = []
    for a, aid in enumerate(m.agent_ids):
        for k in range(m.trajectories.shape[1]):
            traj = m.trajectories[a, k]
            rows.append({"stamp_ns": m.stamp_ns, "agent_id": aid, "mode": k,
                         "probability": float(m.probabilities[a, k]), "traj_x": traj[:, 0].tolist(),
                         "traj_y": traj[:, 1].tolist(), "model_id": m.model_id, "latency_ms": m.latency_ms})
    return rows


def _graph(m: CausalGraph) -> list[Row]:
    idx = {name: i for i, name in enumerate(m.names)}
    stability = m.stability if m.stability is not None else np.zeros_like(m.val)
    return [
        {"stamp_ns": m.stamp_ns, "seq": m.seq, "source": s, "target": t, "lag": lag, "mark": mark,
         "val": float(m.val[idx[s], idx[t], lag]), "p": float(m.p[idx[s], idx[t], lag]),
         "stability": float(stability[idx[s], idx[t], lag])}
        for s, t, lag, mark in m.links()
    ]


ROW_MAKERS: dict[type[Message], Callable[[Any], list[Row]]] = {
    Features: _features,
    AgentStates: _agents,
    Predictions: _predictions,
    CausalGraph: _graph,
}


def message_rows(msg: Message) -> list[Row]:
    """The table rows of one message (see the module docstring for each type's layout).

    >>> from causalstream.stream.messages import Clock
    >>> message_rows(Clock(stamp_ns=4))
    [{'stamp_ns': 4}]
    """
    maker = ROW_MAKERS.get(type(msg))
    if maker is not None:
        return maker(msg)
    return [to_builtins(msg)]
