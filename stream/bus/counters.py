"""Bus counters: the one :class:`Counters` struct, per-topic sequence checks, the process registry.

:class:`Counters` is what subscribers, the recorder and node heartbeats (NodeStatus) count,
one meaning per name: ``gaps`` (sequence numbers never seen: lost on the way), ``link_drops``
(frames a publisher's full direct link dropped: its subscribers cannot see the tail of a
stream as a gap), ``bad`` (bad frames dropped) and ``duplicates`` (repeated sequence
numbers, latched re-sends, dropped). :class:`TopicCounters` adds the per-publisher sequence
check that counts gaps and duplicates, in this one place.

Every Publisher, Subscriber and Recorder registers in :data:`registry`. Once a second a daemon thread publishes
one :class:`BusStats` for the whole process, so ``causalstream topic info`` can show the
subscribers, gaps and bad frames of other processes. Set ``CAUSALSTREAM_STATS=0`` to
switch the reporter off (the counters are kept regardless).

>>> m = RateMeter(window=4)
>>> for t in (0.0, 0.1, 0.2, 0.3):
...     m.tick(t)
>>> round(m.hz(0.3), 1)
10.0
"""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Counters", "Participant", "RateMeter", "Registry", "TopicCounters", "registry"]


@dataclass(slots=True)
class Counters:
    """Message counts of one endpoint; each name means one thing (see the module docstring).

    >>> c = Counters(gaps=2) + Counters(gaps=1, bad=4)
    >>> c.gaps, c.bad, c.as_dict()["link_drops"]
    (3, 4, 0)
    """

    messages: int = 0
    gaps: int = 0
    link_drops: int = 0
    bad: int = 0
    duplicates: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(self.messages + other.messages, self.gaps + other.gaps, self.link_drops + other.link_drops,
                        self.bad + other.bad, self.duplicates + other.duplicates)

    def as_dict(self) -> dict[str, int]:
        """The counts by name (what a heartbeat carries)."""
        return {"messages": self.messages, "gaps": self.gaps, "link_drops": self.link_drops, "bad": self.bad,
                "duplicates": self.duplicates}

    @staticmethod
    def total(items: Any) -> Counters:
        """The sum of several :class:`Counters` (e.g. a subscriber's per-topic ones).

        >>> Counters.total([Counters(gaps=1), Counters(gaps=2)]).gaps
        3
        """
        out = Counters()
        for c in items:
            out = out + c
        return out


@dataclass(slots=True)
class TopicCounters(Counters):
    """Counters of one topic, with the sequence check: gaps and duplicates per publisher.

    >>> c = TopicCounters()
    >>> [c.accept("p", s) for s in (0, 1, 1, 4)], c.gaps, c.duplicates, c.messages
    ([True, True, False, True], 2, 1, 3)
    """

    type_name: str = ""
    last_seq: dict[str, int] = field(default_factory=dict)
    rate: RateMeter = field(default_factory=lambda: RateMeter())

    def accept(self, publisher: str, seq: int) -> bool:
        """Count one frame of ``publisher``; False for a repeat (a duplicate, to be dropped)."""
        last = self.last_seq.get(publisher)
        if last is not None:
            if seq <= last:
                self.duplicates += 1
                return False
            if seq > last + 1:
                self.gaps += seq - last - 1
        self.last_seq[publisher] = seq
        self.messages += 1
        self.rate.tick()
        return True


class RateMeter:
    """Rate of events over the last ``window`` events (Hz); 0 when stale or too few.

    >>> RateMeter().hz()
    0.0
    """

    def __init__(self, window: int = 50) -> None:
        self.window = window
        self._times: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self, now: float | None = None) -> None:
        """Record one event (``now`` in seconds, monotonic by default)."""
        self._times.append(time.monotonic() if now is None else now)

    def hz(self, now: float | None = None) -> float:
        """Events per second over the window; 0.0 if the last event is older than 5 s."""
        if len(self._times) < 2:
            return 0.0
        now = time.monotonic() if now is None else now
        first, last = self._times[0], self._times[-1]
        if now - last > 5.0 or last <= first:
            return 0.0
        return (len(self._times) - 1) / (last - first)


class Participant(Protocol):
    """What the registry asks of a publisher or subscriber.

    >>> class Quiet:  # any object with topic_stats() can register
    ...     def topic_stats(self): return []
    >>> registry = Registry()
    >>> q = Quiet(); registry.add(q)
    >>> [p.topic_stats() for p in registry.participants()]
    [[]]
    """

    def topic_stats(self) -> list[Any]: ...


class Registry:
    """The live bus participants of this process, and the stats reporter.

    The reporter is started by :meth:`start_reporter` (a publisher factory is passed in so
    this module does not import the bus) and stops with the process.

    >>> r = Registry()
    >>> r.participants()
    []
    """

    def __init__(self) -> None:
        self._items: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._reporter: threading.Thread | None = None
        self.node = ""
        self.on_first_add: Any = None

    def add(self, item: Any) -> None:
        """Register a participant."""
        with self._lock:
            self._items[id(item)] = item
        if self.on_first_add is not None and self._reporter is None:
            hook, self.on_first_add = self.on_first_add, None
            hook(item)

    def remove(self, item: Any) -> None:
        """Forget a participant."""
        with self._lock:
            self._items.pop(id(item), None)

    def participants(self) -> list[Any]:
        """The registered participants, in no particular order."""
        with self._lock:
            return list(self._items.values())

    def start_reporter(self, make_report: Any, interval: float = 1.0) -> None:
        """Call ``make_report()`` every ``interval`` seconds in a daemon thread (once per process)."""
        if self._reporter is not None or os.environ.get("CAUSALSTREAM_STATS", "1") == "0":
            return

        def loop() -> None:
            while True:
                time.sleep(interval)
                make_report()

        self._reporter = threading.Thread(target=loop, name="bus-stats", daemon=True)
        self._reporter.start()


registry = Registry()
