"""The ``foxglove`` node kind: the bus, live, in Foxglove and Lichtblick (foxglove-sdk's WebSocket server).

Every message of ``topics`` (by default every well-known bus topic) goes through
:class:`~causalstream.stream.viewer_channels.ViewerChannels`: its own JSON channel (the same
name as on the bus) plus the view's channels (``/view/scene``, ``/view/predictions``,
``/view/features``, ``/view/links``, ``/view/graph``), each advertised with its schema when its
first message comes: a JSON Schema, or for the scene, the predictions and the picture the
FileDescriptorSet foxglove-sdk advertises for ``foxglove.SceneUpdate`` / ``foxglove.RawImage``
(protobuf). The server listens on ``host`` (127.0.0.1 by default) and ``port``; it speaks
``foxglove.sdk.v1`` (Foxglove; Lichtblick since its PR #819). A client too slow to keep up loses
its oldest messages past ``backlog`` (the sdk's per-client buffer), never the bus; the sdk
(0.30.3) tells Python nothing of those drops, so what is counted is what the view sees: each
subscribe and unsubscribe (``subscriptions``, ``unsubscriptions``), the clients subscribed now
(``view:clients``), those that went away or were dropped (``view:clients_gone``), and the
messages handed to the sdk, one per subscribed client (``view:offered``). The last message
of a latched topic's channels (``/causal/graph``, ``/sim/ground_truth``, ...) is kept and logged
again when a viewer subscribes later (``view:latched_resent``). Only what a viewer watches is
converted: once a channel is advertised (its first message), its records are built only while
a client subscribes to it (``Channel.has_sinks``); a bus message none of whose channels is
watched counts in ``view:unwatched``. A latched topic's channels are still built for the late
subscriber, but the graph picture: it is drawn when ``/view/graph`` is subscribed to (then on
each link change while it is). A port already taken is
one error line and exit 2. A message the view cannot map (a user's own type) is served on its
topic as plain JSON (``viewer_plain.py``), the topic named once in the log (``view:plain``
counts them); one that is not even plain data is skipped, named once, and counted
(``view:unconverted``). In a process of its own the view can add ``nice`` to its niceness (0 by
default: on a loaded machine a niced view falls seconds behind, see bench/NOTES.md).

>>> FoxgloveView.Params().port, FoxgloveView.Params().host
(8765, '127.0.0.1')
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Any

import foxglove
from foxglove.websocket import ServerListener
from pydantic import Field

from causalstream.nodes.node import Input, Node, NodeParams
from causalstream.nodes.transport import BusIO
from causalstream.stream.bus.topics import TOPICS, default_latched
from causalstream.stream.viewer_channels import ViewerChannels, ViewerRecord
from causalstream.stream.viewer_plain import PlainJson

__all__ = ["FoxgloveView"]

log = logging.getLogger(__name__)

DEFAULT_TOPICS = sorted(t for t in TOPICS if t not in ("/log", "/bus/stats"))
"""The well-known bus topics the view serves unless told otherwise."""


class _Clients(ServerListener):
    """Counts the viewers' subscriptions and sends a latched channel's last message to a new
    subscriber (the sdk calls these on its own threads).

    It keeps which client is subscribed to which topic: ``subscribers(topic)`` is how many
    clients a message of that channel is handed to (``view:offered``), ``view:clients`` the
    clients subscribed now, and a client whose last subscription ends (it disconnected, the sdk
    dropped it, or it unsubscribed from everything: the sdk calls ``on_unsubscribe`` for each
    channel then) counts once in ``view:clients_gone``.
    """

    def __init__(self, view: FoxgloveView) -> None:
        self.view = view
        self.counters = view.counters
        self.lock = threading.Lock()
        self.topics: dict[int, set[str]] = {}  # client id -> the topics it is subscribed to
        self.count: collections.Counter[str] = collections.Counter()  # topic -> subscribed clients

    def subscribers(self, topic: str) -> int:
        """How many clients are subscribed to ``topic``'s channel now."""
        return self.count[topic]

    def on_subscribe(self, client: Any, channel: Any) -> None:
        with self.lock:
            self.counters["subscriptions"] += 1
            mine = self.topics.setdefault(client.id, set())
            if channel.topic not in mine:
                mine.add(channel.topic)
                self.count[channel.topic] += 1
            self.counters["view:clients"] = len(self.topics)
        self.view.resend_latched(channel.topic)

    def on_unsubscribe(self, client: Any, channel: Any) -> None:
        with self.lock:
            self.counters["unsubscriptions"] += 1
            mine = self.topics.get(client.id, set())
            if channel.topic in mine:
                mine.discard(channel.topic)
                self.count[channel.topic] -= 1
            if not mine and self.topics.pop(client.id, None) is not None:
                self.counters["view:clients_gone"] += 1
            self.counters["view:clients"] = len(self.topics)


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
        picture_hz: float = Field(2.0, ge=0, description="Most graph picture redraws a second (/view/graph; 0: "
                                  "on every link change); the latest links are drawn at the latest 1/picture_hz s later.")
        nice: int = Field(0, ge=0, le=19, description="Niceness the view adds to its own process (0: none), so "
                          "that a viewer yields the CPU to the pipeline; not applied in a container.")

    params: Params  # validate_params() makes the launch file's params this (for the type checker)

    def setup(self) -> None:
        """Start the server (a taken port: one line, exit 2) and subscribe to the topics."""
        p = self.params
        if p.nice and isinstance(self.io, BusIO):  # a process of its own (a container's nodes share one)
            os.nice(p.nice)
        self.channels = ViewerChannels(picture_hz=p.picture_hz or None, clock=self.io.now)
        self.context = foxglove.Context()
        self.open: dict[str, foxglove.Channel] = {}
        self.failed: set[str] = set()
        self.plain = PlainJson()  # topics whose messages the view cannot map: plain JSON
        self.plain_topics: set[str] = set()
        self.latched: dict[str, ViewerRecord] = {}  # channel -> last record, for channels of latched topics
        self.convert_lock = threading.Lock()  # ViewerChannels: this thread's messages, the sdk's subscribe (picture)
        for key in ("subscriptions", "unsubscriptions", "channels", "view:unconverted", "view:latched_resent",
                    "view:plain", "view:offered", "view:clients", "view:clients_gone", "view:unwatched"):
            self.counters[key] += 0  # every key exists before the sdk's threads touch the counter
        self.clients = _Clients(self)
        try:
            self.server = foxglove.start_server(name="causalstream", host=p.host, port=p.port, context=self.context,
                                                server_listener=self.clients,
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
        if p.picture_hz:
            self.timer(1.0 / p.picture_hz, self.trailing_picture, name="picture")

    def wanted(self, channel: str) -> bool:
        """Whether to build ``channel``'s record: a viewer subscribes to it, or it is not advertised yet.

        >>> FoxgloveView(name="v").wanted("/view/scene")  # no server yet: nothing open, so yes
        True
        """
        ch = getattr(self, "open", {}).get(channel)
        return ch is None or ch.has_sinks()

    def _wanted_latched(self, channel: str) -> bool:
        return channel != "/view/graph" or self.wanted(channel)  # the picture is drawn for a subscriber

    def on_message(self, event: Input) -> None:
        """One bus message -> its records on the channels a viewer subscribes to (module doc)."""
        latched = default_latched(event.topic)
        with self.convert_lock:
            try:
                records = self.channels.update(event.topic, event.message,
                                               self._wanted_latched if latched else self.wanted)
            except Exception as exc:  # noqa: BLE001 - one unmappable message must not stop the view
                records = self._plain(event, exc)
        if not records:
            self.counters["view:unwatched"] += 1
        for rec in records:
            self._send(rec, latched)

    def _send(self, rec: ViewerRecord, latched: bool) -> None:
        ch = self._channel(rec)
        if latched:
            self.latched[rec.topic] = rec
        ch.log(rec.data, log_time=rec.log_time_ns)
        self.counters["out"] += 1
        self.counters["view:offered"] += self.clients.subscribers(rec.topic)

    def trailing_picture(self) -> None:
        """The timer's redraw: the picture of the latest graphs, if their links changed inside the
        last ``picture_hz`` gap and a viewer watches ``/view/graph``.

        >>> FoxgloveView(name="v").trailing_picture()  # no server yet: no-op
        """
        if "/view/graph" not in getattr(self, "open", {}) or not self.wanted("/view/graph"):
            return
        with self.convert_lock:
            rec = self.channels.stale_picture()
        if rec is not None:
            self._send(rec, latched=True)

    def _plain(self, event: Input, exc: Exception) -> list[ViewerRecord]:
        """A message the view cannot map: its topic's channel as plain JSON, the topic named once in the log."""
        try:
            rec = self.plain.record(event.topic, event.message)
        except Exception as again:  # noqa: BLE001 - not even plain data: skipped, named once, counted
            self.counters["view:unconverted"] += 1
            if event.topic not in self.failed:
                self.failed.add(event.topic)
                self.log.warning("foxglove: cannot convert %s (%s): %r; its messages are skipped",
                                 event.topic, type(event.message).__name__, again)
            return []
        self.counters["view:plain"] += 1
        if event.topic not in self.plain_topics:
            self.plain_topics.add(event.topic)
            self.log.warning("foxglove: cannot map %s (%s): %s; it is served as plain JSON (%s)",
                             event.topic, type(event.message).__name__, exc, rec.schema_name)
        return [rec]

    def resend_latched(self, topic: str) -> None:
        """A viewer subscribed to ``topic``: if it is a latched topic's channel, log its last message.

        The sdk (0.30.3) does not tell which sink a Python ``Client`` is, so the message goes to
        every subscriber of the channel; the ones there before get the latched message twice.

        >>> FoxgloveView(name="v").resend_latched("/sim/ground_truth")  # nothing kept yet: no-op
        """
        ch = getattr(self, "open", {}).get(topic)
        if topic == "/view/graph" and ch is not None:  # the picture of the graphs so far, drawn now if it is stale
            with self.convert_lock:
                pic = self.channels.graph_picture()
            if pic is not None:
                self.latched[topic] = pic
        rec = getattr(self, "latched", {}).get(topic)
        if rec is not None and ch is not None:
            ch.log(rec.data, log_time=rec.log_time_ns)
            self.counters["view:latched_resent"] += 1
            self.counters["view:offered"] += self.clients.subscribers(topic)

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
