"""The channels the live view (and a foxglove viewer file) makes of each bus message.

``ViewerChannels().update(topic, msg)`` returns :class:`ViewerRecord` s: the topic's generic
viewer-JSON channel (``viewer_json.py``) plus the view's extra channels: agents as a
``foxglove.SceneUpdate`` on ``/view/scene``, predictions as line strips (opacity = the mode's
probability) on ``/view/predictions``, features as named numeric fields the Plot panel
follows on ``/view/features``, a causal graph's links as a table on ``/view/links`` (the
simulator's ground truth on ``/view/truth_links``), and both graphs side by side as a picture
(``foxglove.RawImage``, rgb8) on ``/view/graph``, sent only when a link set changes (``viewer_graph_image.py``) and, with
``picture_hz``, at most that often: a change inside the gap waits for the next graph or for
:meth:`~ViewerChannels.stale_picture` (the live view's timer), so the latest links are always
drawn. The scene, the predictions and the picture are protobuf with the schemas foxglove-sdk
advertises (``viewer_protobuf.py``: a third of the bytes); every other channel is JSON with a
JSON Schema, time as ``{sec, nsec}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
import numpy as np

from causalstream.stream.messages import AgentStates, CausalGraph, Features, Message, Predictions
from causalstream.stream.viewer_graph_image import GraphPicture
from causalstream.stream.viewer_json import (
    MESSAGE_ENCODING,
    SCHEMA_ENCODING,
    schema_name,
    to_viewer,
    viewer_schema,
)
from causalstream.stream.viewer_protobuf import SCHEMAS, predictions_update, raw_image, scene_update

__all__ = ["ViewerChannels", "ViewerRecord"]

_JSON = msgspec.json.Encoder()
_NS = 1_000_000_000
_TIME = {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_LINKS_SCHEMA = {
    "title": "causalstream.view.Links", "type": "object",
    "properties": {"timestamp": _TIME, "links": {"type": "array", "items": {"type": "object", "properties": {
        "source": _STR, "target": _STR, "lag": {"type": "integer"}, "mark": _STR,
        "val": _NUM, "p": _NUM}}}},
}
_PROTOBUF = "protobuf"
_TRUTH_TOPIC, _TRUTH_METHOD = "/sim/ground_truth", "ground_truth"


class ViewerRecord(NamedTuple):
    """One encoded message of one channel (what the view serves and a viewer file holds).

    >>> from causalstream.stream.messages import Clock
    >>> rec = ViewerChannels().update("/clock", Clock(stamp_ns=2_000_000_001))[0]
    >>> rec.topic, rec.schema_name, rec.message_encoding, rec.data
    ('/clock', 'causalstream.Clock', 'json', b'{"stamp":{"sec":2,"nsec":1}}')
    """

    topic: str
    schema_name: str
    schema_encoding: str
    schema_data: bytes
    message_encoding: str
    data: bytes
    log_time_ns: int


def _time(ns: int) -> dict[str, int]:
    return {"sec": ns // _NS, "nsec": ns % _NS}


def _protobuf(topic: str, schema: str, data: bytes, ns: int) -> ViewerRecord:
    name, encoding, descriptor_set = SCHEMAS[schema]
    return ViewerRecord(topic, name, encoding, descriptor_set, _PROTOBUF, data, ns)


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


class ViewerChannels:
    """Turns bus messages into the view's records; schemas are encoded once per type.

    >>> import numpy as np
    >>> from causalstream.stream.messages import Features
    >>> recs = ViewerChannels().update("/features", Features(stamp_ns=1, names=["a.v"], values=np.array([0.5])))
    >>> [(r.topic, r.schema_name) for r in recs]
    [('/features', 'causalstream.Features'), ('/view/features', 'causalstream.view.Features')]
    >>> recs[1].data
    b'{"timestamp":{"sec":0,"nsec":1},"a.v":0.5}'
    """

    def __init__(self, picture_hz: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._schemas: dict[Any, bytes] = {}
        self.picture = GraphPicture()
        self._picture: ViewerRecord | None = None  # the last /view/graph record
        self._picture_ns = 0  # the stamp of the last graph
        self._picture_gap = 1.0 / picture_hz if picture_hz else 0.0  # seconds between redraws (0: no cap)
        self._picture_next = -math.inf  # clock() from which the next redraw may be
        self._clock = clock

    def _schema(self, key: Any, schema: dict[str, Any]) -> bytes:
        data = self._schemas.get(key)
        if data is None:
            data = self._schemas[key] = _JSON.encode(schema)
        return data

    def _rec(self, topic: str, name: str, schema: bytes, obj: dict[str, Any], ns: int) -> ViewerRecord:
        return ViewerRecord(topic, name, SCHEMA_ENCODING, schema, MESSAGE_ENCODING, _JSON.encode(obj), ns)

    def update(self, topic: str, msg: Message, wanted: Callable[[str], bool] | None = None) -> list[ViewerRecord]:
        """The records of one message: its topic's JSON channel first, then the view's channels.

        ``wanted(channel)`` False: that channel's record is not built (the live view: no viewer
        subscribed to it); None: every record is. The picture is not drawn while ``/view/graph``
        is not wanted; :meth:`graph_picture` draws it for a viewer that subscribes.

        >>> from causalstream.stream.messages import Clock
        >>> ViewerChannels().update("/clock", Clock(stamp_ns=1), wanted=lambda channel: False)
        []
        """
        cls = type(msg)
        ns = msg.stamp_ns
        out = []
        if wanted is None or wanted(topic):
            schema = self._schemas.get(cls) or self._schema(cls, viewer_schema(cls))  # viewer_schema copies: once
            out.append(self._rec(topic, schema_name(cls), schema, to_viewer(msg), ns))
        if isinstance(msg, Features):
            if wanted is None or wanted("/view/features"):
                out.append(self._features(msg))
        elif isinstance(msg, AgentStates):
            if wanted is None or wanted("/view/scene"):
                out.append(self._scene(msg))
        elif isinstance(msg, CausalGraph):
            truth = topic == _TRUTH_TOPIC or msg.method == _TRUTH_METHOD
            links = "/view/truth_links" if truth else "/view/links"
            if wanted is None or wanted(links):
                out.append(self._links(msg, links))
            self.picture.take(msg, truth)
            self._picture_ns = msg.stamp_ns
            if wanted is None or wanted("/view/graph"):
                pic = self._redraw(capped=True)
                if pic is not None:
                    out.append(pic)
        elif isinstance(msg, Predictions):
            if wanted is None or wanted("/view/predictions"):
                out.append(self._predictions(msg))
        return out

    def graph_picture(self) -> ViewerRecord | None:
        """The ``/view/graph`` record of the graphs seen so far (drawn now if a link set changed
        since the last picture), None before the first graph: what a late subscriber is sent.

        >>> ViewerChannels().graph_picture() is None
        True
        """
        self._redraw(capped=False)
        return self._picture

    def stale_picture(self) -> ViewerRecord | None:
        """The trailing redraw: the ``/view/graph`` record of the latest graphs if a link set
        changed since the last picture and ``picture_hz`` allows one now, else None.

        >>> import numpy as np
        >>> now = [0.0]
        >>> view = ViewerChannels(picture_hz=2, clock=lambda: now[0])
        >>> def graph(mark, ns):
        ...     return CausalGraph(stamp_ns=ns, names=["a", "b"], tau_max=1, val=np.zeros((2, 2, 2)),
        ...                        p=np.zeros((2, 2, 2)), graph=[[["", ""], ["", mark]], [["", ""], ["", ""]]])
        >>> [r.topic for r in view.update("/causal/graph", graph("-->", 1))][-1]
        '/view/graph'
        >>> now[0] = 0.1; [r.topic for r in view.update("/causal/graph", graph("", 2))][-1]  # inside the gap
        '/view/links'
        >>> view.stale_picture() is None, view.picture.redraws  # still inside the 0.5 s gap
        (True, 1)
        >>> now[0] = 0.5; view.stale_picture().log_time_ns, view.stale_picture()  # drawn once, then current
        (2, None)
        """
        return self._redraw(capped=True)

    def _redraw(self, capped: bool) -> ViewerRecord | None:
        """A new picture record if a link set changed (and, ``capped``, the gap since the last one passed)."""
        now = self._clock()
        if capped and now < self._picture_next:
            return None
        image = self.picture.draw()
        if image is None:
            return None
        self._picture_next = now + self._picture_gap
        return self._image(image, self._picture_ns)

    def _features(self, msg: Features) -> ViewerRecord:
        names = tuple(msg.names)
        schema = {"title": "causalstream.view.Features", "type": "object",
                  "properties": {"timestamp": _TIME, **{n: _NUM for n in names}}}
        obj: dict[str, Any] = {"timestamp": _time(msg.stamp_ns)}
        obj.update(zip(names, (_finite(float(v)) for v in np.asarray(msg.values).ravel()), strict=False))
        return self._rec("/view/features", "causalstream.view.Features", self._schema(("F", names), schema),
                         obj, msg.stamp_ns)

    def _scene(self, msg: AgentStates) -> ViewerRecord:
        heading = msg.heading if msg.heading is not None else np.arctan2(msg.vy, msg.vx)
        data = scene_update(msg.stamp_ns, msg.frame_id, msg.ids, msg.roles, msg.x, msg.y, heading)
        return _protobuf("/view/scene", "foxglove.SceneUpdate", data, msg.stamp_ns)

    def _links(self, msg: CausalGraph, topic: str) -> ViewerRecord:
        val, p = np.asarray(msg.val), np.asarray(msg.p)
        rows = []
        for i, row in enumerate(msg.graph):
            for j, cell in enumerate(row):
                for lag, mark in enumerate(cell):
                    if mark and (lag > 0 or i != j):
                        rows.append({"source": msg.names[i], "target": msg.names[j], "lag": -lag, "mark": mark,
                                     "val": _finite(float(val[i, j, lag])), "p": _finite(float(p[i, j, lag]))})
        return self._rec(topic, "causalstream.view.Links", self._schema("links", _LINKS_SCHEMA),
                         {"timestamp": _time(msg.stamp_ns), "links": rows}, msg.stamp_ns)

    def _image(self, image: np.ndarray, ns: int) -> ViewerRecord:
        self._picture = _protobuf("/view/graph", "foxglove.RawImage", raw_image(image, ns, "graph"), ns)
        return self._picture

    def _predictions(self, msg: Predictions) -> ViewerRecord:
        data = predictions_update(msg.stamp_ns, msg.agent_ids, msg.trajectories, msg.probabilities)
        return _protobuf("/view/predictions", "foxglove.SceneUpdate", data, msg.stamp_ns)
