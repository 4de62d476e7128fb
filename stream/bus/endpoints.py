"""Where the bus lives, and how every socket on it is configured.

The broker binds two endpoints: publishers connect to the first (the broker's XSUB),
subscribers to the second (its XPUB). ``CAUSALSTREAM_BUS`` holds them, either as two
endpoints separated by a comma or as one base, from which the second is derived
(tcp: port + 1; ipc: ``.pub`` / ``.sub`` suffixes).

>>> Endpoints.parse("tcp://127.0.0.1:7450")
Endpoints(pub='tcp://127.0.0.1:7450', sub='tcp://127.0.0.1:7451')
>>> Endpoints.parse("ipc:///tmp/bus").sub
'ipc:///tmp/bus.sub'
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import zmq

from causalstream.stream.errors import BusError
from causalstream.stream.bus.security import ClientKeys

__all__ = ["DEFAULT_BUS", "ENV_VAR", "Endpoints", "configure_socket"]

ENV_VAR = "CAUSALSTREAM_BUS"
DEFAULT_BUS = "tcp://127.0.0.1:7450"
_TCP = re.compile(r"^tcp://(?P<host>[^:]+|\[[^\]]+\]):(?P<port>\d+)$")


class Endpoints(NamedTuple):
    """The two broker endpoints: ``pub`` (publishers connect) and ``sub`` (subscribers connect).

    >>> Endpoints.parse("tcp://127.0.0.1:9000,tcp://127.0.0.1:9100").sub
    'tcp://127.0.0.1:9100'
    """

    pub: str
    sub: str

    @classmethod
    def parse(cls, spec: str) -> Endpoints:
        """Two comma-separated endpoints, or one base endpoint.

        >>> Endpoints.parse("udp://x")
        Traceback (most recent call last):
        ...
        causalstream.stream.errors.BusError: bus endpoint udp://x: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME
        """
        spec = spec.strip()
        if "," in spec:
            pub, sub = (s.strip() for s in spec.split(",", 1))
            for ep in (pub, sub):
                _check(ep)
            return cls(pub, sub)
        _check(spec)
        m = _TCP.match(spec)
        if m:
            port = int(m["port"])
            return cls(spec, f"tcp://{m['host']}:{port + 1}")
        return cls(spec + ".pub", spec + ".sub")

    @classmethod
    def from_env(cls, spec: str | None = None) -> Endpoints:
        """``spec`` if given, else ``$CAUSALSTREAM_BUS``, else the loopback default.

        >>> Endpoints.from_env("tcp://127.0.0.1:8000").pub
        'tcp://127.0.0.1:8000'
        """
        return cls.parse(spec or os.environ.get(ENV_VAR) or DEFAULT_BUS)

    def __str__(self) -> str:
        return f"{self.pub},{self.sub}"


def _check(ep: str) -> None:
    if _TCP.match(ep) or ep.startswith(("ipc://", "inproc://")):
        return
    raise BusError(ep, "expected tcp://HOST:PORT, ipc://PATH or inproc://NAME")


def configure_socket(sock: zmq.Socket, hwm: int = 10_000, keys: ClientKeys | None = None) -> zmq.Socket:
    """Options every bus socket gets, set before bind/connect: HWM, LINGER 0, tcp heartbeats,
    and CURVE client keys when given.

    >>> ctx = zmq.Context.instance()
    >>> s = configure_socket(ctx.socket(zmq.PUB), hwm=50)
    >>> s.get(zmq.SNDHWM), s.get(zmq.LINGER)
    (50, 0)
    >>> s.close()
    """
    sock.set(zmq.SNDHWM, hwm)
    sock.set(zmq.RCVHWM, hwm)
    sock.set(zmq.LINGER, 0)
    sock.set(zmq.HEARTBEAT_IVL, 1000)
    sock.set(zmq.HEARTBEAT_TIMEOUT, 3000)
    sock.set(zmq.HEARTBEAT_TTL, 3000)
    if keys is not None:
        keys.apply(sock)
    return sock
