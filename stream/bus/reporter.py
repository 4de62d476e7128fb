"""Publishes this process's bus counters on ``/bus/stats`` once a second.

Installed by ``causalstream.stream`` on import: the first Publisher or Subscriber of a
process starts the reporter thread, which publishes one :class:`BusStats` per second
with every participant's per-topic counters.

>>> stats = snapshot()
>>> stats.pid > 0, isinstance(stats.topics, list)
(True, True)
"""

from __future__ import annotations

import logging
import os
import socket
import time

from causalstream.stream.errors import CausalstreamError
from causalstream.stream.messages import BusStats
from causalstream.stream.bus.publisher import Publisher
from causalstream.stream.bus.counters import registry
from causalstream.stream.bus.topics import STATS_TOPIC

__all__ = ["snapshot", "install"]

log = logging.getLogger(__name__)
_PARTICIPANT = f"{socket.gethostname()}/{os.getpid()}"


def snapshot() -> BusStats:
    """The counters of every live participant of this process, as one message.

    >>> snapshot().participant.endswith(str(os.getpid()))
    True
    """
    topics = []
    bad = 0
    for part in registry.participants():
        if getattr(part, "topic", None) == STATS_TOPIC:
            continue
        topics.extend(part.topic_stats())
        bad += getattr(part, "bad_frames", 0)
    return BusStats(stamp_ns=time.time_ns(), participant=_PARTICIPANT, pid=os.getpid(),
                    node=registry.node, topics=topics, bad_frames=bad)


def install() -> None:
    """Make the registry start the reporter when the first participant registers.

    >>> install()
    """
    registry.on_first_add = _start


def _start(first: object) -> None:
    endpoints = getattr(first, "endpoints", None)
    state: dict[str, Publisher] = {}

    def report() -> None:
        try:
            if "pub" not in state:
                state["pub"] = Publisher(STATS_TOPIC, BusStats, endpoints=endpoints, node=registry.node)
            state["pub"].publish(snapshot())
        except CausalstreamError as exc:  # the reporter must never take a node down
            log.debug("bus stats not published: %s", exc)

    registry.start_reporter(report)
