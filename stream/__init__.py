"""causalstream.stream: data in motion (messages, codec, bus, logs, importers).

The bus in three names: :class:`Publisher`, :class:`Subscriber` and :func:`subscribe`;
:class:`Broker` is what ``causalstream bus`` (and the launcher) runs. Logs: :func:`read_log`
and :func:`to_dataframe` read MCAP logs; :class:`Recorder` and :class:`Player` record and
replay them.

>>> from causalstream.stream import Broker, Publisher, Subscriber, subscribe
>>> from causalstream.stream import messages
>>> sorted(messages.MESSAGE_TYPES)[:3]
['AgentStates', 'BusStats', 'CausalEvent']
"""

import importlib

from causalstream.stream.bus import reporter as _reporter
from causalstream.stream.bus.broker import Broker
from causalstream.stream.bus.endpoints import Endpoints
from causalstream.stream.log.reader import LogEntry, read_log
from causalstream.stream.log.player import Player
from causalstream.stream.bus.publisher import Publisher
from causalstream.stream.log.recorder import Recorder
from causalstream.stream.bus.subscriber import Received, Subscriber, subscribe

_reporter.install()


def __getattr__(name: str) -> object:
    # to_dataframe needs pandas (~0.4 s to import); every node imports this package, so
    # pandas is loaded on first use only (PEP 562), not with the bus.
    if name == "to_dataframe":
        return importlib.import_module("causalstream.stream.log.export").to_dataframe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Broker",
    "Endpoints",
    "LogEntry",
    "Player",
    "Publisher",
    "Received",
    "Recorder",
    "Subscriber",
    "read_log",
    "subscribe",
    "to_dataframe",
]
