"""Errors of causalstream, all under one root, :class:`CausalstreamError`.

Every error builds its message from structured fields, so the CLI can print it as
one line and exit with status 2.

>>> err = BadFrameError(reason="truncated envelope", topic="/features")
>>> isinstance(err, CausalstreamError), str(err)
(True, 'bad frame on /features: truncated envelope')
"""

from __future__ import annotations


class CausalstreamError(Exception):
    """Root of every error that causalstream raises on purpose.

    >>> issubclass(BusError, CausalstreamError)
    True
    """


class CodecError(CausalstreamError):
    """A message could not be encoded or decoded.

    >>> str(CodecError(type_name="Features", reason="names and values differ in length"))
    'cannot encode/decode Features: names and values differ in length'
    """

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name = type_name
        self.reason = reason
        super().__init__(f"cannot encode/decode {type_name}: {reason}")


class BadFrameError(CausalstreamError):
    """A frame off the bus was malformed; subscribers count these and drop them.

    >>> BadFrameError(reason="garbage").topic
    ''
    """

    def __init__(self, reason: str, topic: str = "") -> None:
        self.reason = reason
        self.topic = topic
        where = f" on {topic}" if topic else ""
        super().__init__(f"bad frame{where}: {reason}")


class UnknownTypeError(CausalstreamError):
    """A message type name that no registered type has.

    >>> str(UnknownTypeError("Fetaures"))
    "unknown message type 'Fetaures'"
    """

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        super().__init__(f"unknown message type {type_name!r}")


class BusError(CausalstreamError):
    """The bus could not be reached, bound, or used.

    >>> str(BusError(endpoint="tcp://127.0.0.1:7447", reason="address already in use"))
    'bus endpoint tcp://127.0.0.1:7447: address already in use'
    """

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"bus endpoint {endpoint}: {reason}")


class BusTimeoutError(BusError):
    """Waiting on the bus took longer than allowed.

    >>> isinstance(BusTimeoutError(endpoint="x", reason="no broker answered in 2.0 s"), BusError)
    True
    """


class LogError(CausalstreamError):
    """A log file could not be read, written or imported.

    >>> str(LogError(path="run.mcap", reason="truncated after 3 messages", hint="try: causalstream bag recover run.mcap"))
    'run.mcap: truncated after 3 messages (try: causalstream bag recover run.mcap)'
    """

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        self.path = path
        self.reason = reason
        self.hint = hint
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{path}: {reason}{tail}")
