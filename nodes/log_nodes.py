"""Node kinds ``replay`` and ``recorder``: MCAP logs inside a launch file.

Thin wrappers: the work is done by :class:`~causalstream.stream.Player` and
:class:`~causalstream.stream.Recorder` (what ``bag play`` and ``bag record`` run). Both go
through the node's transport like every node kind, with raw payloads (never decoded): the
player publishes through ``io.open_raw_publisher`` in a thread of the node (so the node
keeps its heartbeat and stops cleanly on SIGINT/SIGTERM); the recorder is a node with
``raw_inputs`` whose handler writes each envelope. So MockNode runs both in memory.
``replay`` with ``exit_when_done`` stops when the log ends; mark it ``required`` in the
launch file to end the whole launch then (launch/replay.yaml).

>>> from causalstream.nodes.testing import MockNode
>>> MockNode(Replay).run(duration=1.0).statuses()[-1].state  # no path given: idles
'stopped'
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

from pydantic import Field

from causalstream.nodes.node import Input, Node, NodeParams
from causalstream.nodes.transport import ALL_TOPICS
from causalstream.stream import Player, Recorder

__all__ = ["RecorderNode", "Replay", "fresh_path"]


class _Worker(Node):
    """A node whose work runs in a thread until done or stopped, counters refreshed meanwhile."""

    def start_worker(self, target: object) -> None:
        self._done = threading.Event()
        self._halt = threading.Event()
        self._error: BaseException | None = None

        def run() -> None:
            try:
                target()  # type: ignore[operator]
            except BaseException as exc:  # noqa: BLE001 - reported by the node's own thread
                self._error = exc
            finally:
                self._done.set()

        self._thread = threading.Thread(target=run, name=f"{self.kind}-worker", daemon=True)
        self._thread.start()

    def wait_worker(self, refresh: object, exit_when_done: bool) -> None:
        """Wait (heartbeat going) until the worker ends or the node stops; re-raise its error.

        It waits on the worker in real time (0.2 s at a time), then lets the node's timers run:
        under MockNode's virtual clock too, the worker gets the time it needs."""
        while self.ok and not (exit_when_done and self._done.is_set()):
            self._done.wait(0.2)
            self.sleep(0.001)
            refresh()  # type: ignore[operator]
        self._halt.set()
        self._thread.join(timeout=15.0)
        refresh()  # type: ignore[operator]
        if self._error is not None:
            raise self._error


class Replay(_Worker):
    """Replays an MCAP log onto the bus (``bag play`` as a node); ``out`` counts messages sent.

    >>> Replay.Params(path="run.mcap", rate=0).rate
    0.0
    """

    class Params(NodeParams):
        """Parameters of ``replay`` (the options of ``causalstream bag play``)."""

        path: str = Field("", description="MCAP log to replay ('' : none, the node idles).")
        rate: float = Field(1.0, ge=0, description="Speed factor; 0 = as fast as the bus takes it.")
        loop: bool = Field(False, description="Start over at the end.")
        start_offset: float = Field(0.0, ge=0, description="Seconds of the log to skip.")
        topics: list[str] = Field(default_factory=list, description="Only these topics (empty: all).")
        clock: bool = Field(False, description="Publish the log time on /clock.")
        wait_subscribers: float | None = Field(None, ge=0, description="Seconds to wait for subscribers first.")
        delay: float = Field(0.0, ge=0, description="Then wait this many seconds more (for slow-starting nodes).")
        exit_when_done: bool = Field(True, description="Stop the node when the log ends.")

    params: Params  # validate_params() makes the launch file's params this (for the type checker)

    def setup(self) -> None:
        """Open the log now, so a missing or damaged file fails the start, not later."""
        p = self.params
        self.player = None
        if not p.path:
            self.log.warning("no path given: nothing to replay")
            return
        self.player = Player(p.path, rate=p.rate, loop=p.loop, start_offset=p.start_offset, topics=p.topics,
                             clock=p.clock, wait_subscribers=p.wait_subscribers, delay=p.delay,
                             node=self.qualified_name, publisher=self.io.open_raw_publisher(self.qualified_name))

    def loop(self) -> None:
        """Play in the worker thread; keep the heartbeat and counters going meanwhile."""
        if self.player is None:
            while self.ok:
                self.sleep(0.5)
            return
        player = self.player
        self.start_worker(lambda: player.run(stop=self._halt))
        self.wait_worker(self._refresh, self.params.exit_when_done)
        self.log.info("replayed %d messages of %s", player.stats.messages, self.params.path)

    def _refresh(self) -> None:
        if self.player is not None:
            self.counters["out"] = self.player.stats.messages

    def on_shutdown(self) -> None:
        """Let go of the player (its publisher is the transport's, closed with it)."""
        if self.player is not None:
            self.player.close()


def fresh_path(path: str) -> str:
    """``path``, or if a file is there (a respawned recorder finds its killed self's log)
    ``NAME.1.mcap``, ``NAME.2.mcap``, ...: a recorder never overwrites a log.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> first = fresh_path(os.path.join(d, "run.mcap"))
    >>> open(first, "w").close()
    >>> os.path.basename(fresh_path(first))
    'run.1.mcap'
    """
    stem, ext = os.path.splitext(path)
    candidate, n = path, 0
    while os.path.exists(candidate):
        n += 1
        candidate = f"{stem}.{n}{ext}"
    return candidate


class RecorderNode(Node):
    """Records topics of the bus into an MCAP log (``bag record`` as a node); ``recorded`` counts messages.

    >>> RecorderNode.Params(topics=["/causal/graph"]).flush_interval
    0.5
    """

    raw_inputs = True

    class Params(NodeParams):
        """Parameters of ``recorder`` (the options of ``causalstream bag record``)."""

        path: str = Field("", description="MCAP file to write ('': causalstream_DATE-TIME.mcap in the temp dir, "
                                          "removed again if nothing was recorded); if it exists (a respawn), "
                                          "NAME.1.mcap, NAME.2.mcap, ...")
        topics: list[str] = Field(default_factory=list, description="Topics to record (empty: all but /bus/stats).")
        flush_interval: float = Field(0.5, gt=0, description="Seconds between flushes (chunk closed, fsync).")
        compression: str = Field("zstd", pattern="^(zstd|none)$", description="Chunk compression.")

    params: Params  # validate_params() makes the launch file's params this (for the type checker)

    def setup(self) -> None:
        """Open the file and subscribe raw (the transport waits until the broker has seen it)."""
        p = self.params
        path = p.path or os.path.join(tempfile.gettempdir(), time.strftime("causalstream_%Y%m%d-%H%M%S.mcap"))
        topics = [self.topic(t) for t in p.topics]  # as resolved (namespace, remaps)
        self.recorder = Recorder(fresh_path(path), topics, flush_interval=p.flush_interval,
                                 compression=p.compression, listen=False)
        for topic in topics or [ALL_TOPICS]:
            self.subscribe(topic, self.on_frame)
        self.counters["recorded"] += 0
        self.timer(min(0.1, p.flush_interval / 2), self.recorder.tick, name="flush")
        self.log.info("recording %s into %s", ", ".join(p.topics) or "all topics", self.recorder.path)

    def on_frame(self, event: Input) -> None:
        """Write one envelope as it came."""
        if event.envelope is not None and self.recorder.write(event.topic, event.envelope,
                                                             self.io.latched(event.topic)):
            self.counters["recorded"] += 1

    def on_shutdown(self) -> None:
        """Finish the file (summary, footer); an auto-named file that got no message is removed."""
        recorder = getattr(self, "recorder", None)  # None if setup failed before opening it
        if recorder is None:
            return
        recorder.close()
        if not self.params.path and recorder.count == 0:
            os.unlink(recorder.path)
