"""The ``foxglove`` node kind: the bus, live, in Foxglove and Lichtblick (foxglove-sdk's WebSocket server).

Every message of ``topics`` (by default every well-known bus topic) goes through
:class:`~causalstream.stream.viewer_channels.ViewerChannels`: its own JSON channel (the same
name as on the bus) plus the view's channels (``/view/scene``, ``/view/predictions``,
``/view/features``, ``/view/links``), each advertised with its JSON Schema when its first
message comes. The server listens on ``host`` (127.0.0.1 by default) and ``port``; it speaks
``foxglove.sdk.v1`` (Foxglove; Lichtblick since its PR #819). A client too slow to keep up loses
its oldest messages past ``backlog`` (the sdk's per-client buffer), never the bus; each client's
subscribe and unsubscribe is counted (``subscriptions``, ``unsubscriptions``). The last message
of a latched topic's channels (``/causal/graph``, ``/sim/ground_truth``, ...) is kept and logged
again when a viewer subscribes later (``view:latched_resent``). A port already taken is
one error line and exit 2. A message the view cannot convert is named once in the log and
counted (``view:unconverted``); the rest goes on.

>>> FoxgloveView.Params().port, FoxgloveView.Params().host
(8765, '127.0.0.1')
"""

from __future__ import annotations

import logging
from typing import Any

import foxglove
from foxglove.websocket import ServerListener
from pydantic import Field

from causalstream.nodes.node import Input, Node, NodeParams
from causalstream.stream.bus.topics import TOPICS, default_latched
from causalstream.stream.viewer_channels import ViewerChannels, ViewerRecord

__all__ = ["FoxgloveView"]

log = logging.getLogger(__name__)

DEFAULT_TOPICS = sorted(t for t in TOPICS if t not in ("/log", "/bus/stats"))
"""The well-known bus topics the view serves unless told otherwise."""


class _Clients(ServerListener):
    """Counts the viewers' subscriptions and sends a latched channel's last message to a new
    subscriber (the sdk calls these on its own threads)."""

    def __init__(self, view: FoxgloveView) -> None:
        self.view = view
        self.counters = view.counters

    def on_subscribe(self, client: Any, channel: Any) -> None:
        self.counters["subscriptions"] += 1
        self.view.resend_latched(channel.topic)

    def on_unsubscribe(self, client: Any, channel: Any) -> None:
        self.counters["unsubscriptions"] += 1


class FoxgloveView(Node):
    """Serves the bus to Foxglove / Lichtblick over WebSocket (module doc).

    >>> FoxgloveView.Params(topics=["/agents/state"], port=0).topics
    ['/agents/state']
    """

    class Params(NodeParams):
        """Parameters of ``foxglove``."""

        host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0: every interface).")
        port: int = Field(8765, ge=0, le=65535, description="WebSocket port (0: any free one, logged).")
        topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS),
                                  description="Bus topics to serve (default: every well-known topic).")
        backlog: int = Field(1024, ge=1, description="Messages buffered per client; older ones are dropped.")

    params: Params  # validate_params() makes the launch file's params this (for the type checker)

    def setup(self) -> None:
        """Start the server (a taken port: one line, exit 2) and subscribe to the topics."""
        p = self.params
        self.channels = ViewerChannels()
        self.context = foxglove.Context()
        self.open: dict[str, foxglove.Channel] = {}
        self.failed: set[str] = set()
        self.latched: dict[str, ViewerRecord] = {}  # channel -> last record, for channels of latched topics
        for key in ("subscriptions", "unsubscriptions", "channels", "view:unconverted", "view:latched_resent"):
            self.counters[key] += 0  # every key exists before the sdk's threads touch the counter
        try:
            self.server = foxglove.start_server(name="causalstream", host=p.host, port=p.port, context=self.context,
                                                server_listener=_Clients(self),
                                                message_backlog_size=p.backlog)
        except Exception as exc:  # noqa: BLE001 - the sdk raises a plain RuntimeError for a bind failure
            self.server = None
            self.log.error("foxglove: cannot listen on %s:%d: %s", p.host, p.port, exc)
            self.stop(2)
            return
        self.log.info("foxglove: serving %d topics on ws://%s:%d (foxglove.sdk.v1)", len(p.topics), p.host,
                      self.server.port)
        for topic in p.topics:
            self.subscribe(topic, self.on_message)

    def on_message(self, event: Input) -> None:
        """One bus message -> its records on their channels."""
        try:
            records = self.channels.update(event.topic, event.message)
        except Exception as exc:  # noqa: BLE001 - one unconvertible message must not stop the view
            self.counters["view:unconverted"] += 1
            if event.topic not in self.failed:
                self.failed.add(event.topic)
                self.log.warning("foxglove: cannot convert %s (%s): %r; its messages are skipped",
                                 event.topic, type(event.message).__name__, exc)
            return
        latched = default_latched(event.topic)
        for rec in records:
            ch = self._channel(rec)
            if latched:
                self.latched[rec.topic] = rec
            ch.log(rec.data, log_time=rec.log_time_ns)
            self.counters["out"] += 1

    def resend_latched(self, topic: str) -> None:
        """A viewer subscribed to ``topic``: if it is a latched topic's channel, log its last message.

        The sdk (0.30.3) does not tell which sink a Python ``Client`` is, so the message goes to
        every subscriber of the channel; the ones there before get the latched message twice.

        >>> FoxgloveView(name="v").resend_latched("/sim/ground_truth")  # nothing kept yet: no-op
        """
        rec = getattr(self, "latched", {}).get(topic)
        ch = getattr(self, "open", {}).get(topic)
        if rec is not None and ch is not None:
            ch.log(rec.data, log_time=rec.log_time_ns)
            self.counters["view:latched_resent"] += 1

    def _channel(self, rec: ViewerRecord) -> foxglove.Channel:
        ch = self.open.get(rec.topic)
        if ch is None:
            schema = foxglove.Schema(name=rec.schema_name, encoding=rec.schema_encoding, data=rec.schema_data)
            ch = self.open[rec.topic] = foxglove.Channel(rec.topic, schema=schema,
                                                         message_encoding=rec.message_encoding,
                                                         context=self.context)
            self.counters["channels"] += 1
        return ch

    def on_shutdown(self) -> None:
        """Stop the server and close the channels."""
        for ch in getattr(self, "open", {}).values():
            ch.close()
        server = getattr(self, "server", None)  # None: setup did not get that far
        if server is not None:
            server.stop()
