"""Bus counters of this process, and the thread that reports them on ``/bus/stats``.

Every Publisher and Subscriber registers here. Once a second a daemon thread publishes
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
from typing import Any, Protocol

__all__ = ["RateMeter", "Registry", "registry", "Participant"]


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

    >>> Participant.__name__
    'Participant'
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
