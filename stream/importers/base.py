"""The importer interface: a small class per foreign format, registered by name.

An importer turns a source file into ``(topic, log_time_ns, message)`` triples;
:meth:`Importer.run` writes them into an MCAP log. Registering a new one is one decorator.

>>> @register
... class Nothing(Importer):
...     '''Imports nothing.'''
...     name = "nothing"
...     def messages(self, source):
...         return iter(())
>>> "nothing" in IMPORTERS
True
>>> del IMPORTERS["nothing"]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from causalstream.stream.errors import LogError
from causalstream.stream.log.writer import LogWriter
from causalstream.stream.messages import Message

__all__ = ["IMPORTERS", "ImportResult", "Importer", "get_importer", "register"]

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    """What an import wrote: message count per topic, and what it skipped.

    >>> ImportResult("in.csv", "out.mcap", {"/features": 3}).messages
    3
    """

    source: str
    output: str
    per_topic: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """Messages written over all topics."""
        return sum(self.per_topic.values())


class Importer:
    """Base of every importer: set ``name``, implement :meth:`messages`.

    ``skipped`` collects what a source held that the importer could not use (for example
    unknown ROS message types); :meth:`run` reports it.

    >>> Importer().messages("x")
    Traceback (most recent call last):
    ...
    NotImplementedError
    """

    name: ClassVar[str] = ""
    options: ClassVar[tuple[str, ...]] = ()  # keyword options the CLI may pass

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def messages(self, source: str) -> Iterator[tuple[str, int, Message]]:
        """``(topic, log_time_ns, message)`` in time order; :class:`LogError` on bad input."""
        raise NotImplementedError

    def run(self, source: str | os.PathLike[str], output: str | os.PathLike[str]) -> ImportResult:
        """Import ``source`` into the MCAP file ``output``; nothing imported is an error."""
        source, output = str(source), str(output)
        if not os.path.exists(source):
            raise LogError(source, "no such file or directory")
        result = ImportResult(source, output)
        try:
            with LogWriter(output, fsync=False) as writer:
                for topic, log_time, msg in self.messages(source):
                    writer.write(topic, msg, log_time_ns=log_time)
                    result.per_topic[topic] = result.per_topic.get(topic, 0) + 1
            if not result.messages:
                raise LogError(source, f"nothing to import as {self.name}")
        except BaseException:
            if os.path.exists(output):
                os.unlink(output)  # no half-written log left behind
            raise
        result.skipped = list(self.skipped)
        log.info("imported %d messages from %s into %s", result.messages, source, output)
        return result


IMPORTERS: dict[str, type[Importer]] = {}


def register(cls: type[Importer]) -> type[Importer]:
    """Class decorator: make an importer available under its ``name``.

    >>> register(Importer)
    Traceback (most recent call last):
    ...
    ValueError: an importer needs a name
    """
    if not cls.name:
        raise ValueError("an importer needs a name")
    IMPORTERS[cls.name] = cls
    return cls


def get_importer(name: str, **options: object) -> Importer:
    """An importer by name, given the options it takes (others are ignored).

    >>> get_importer("nope")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.LogError: nope: unknown importer (known: ...)
    """
    cls = IMPORTERS.get(name)
    if cls is None:
        raise LogError(name, f"unknown importer (known: {', '.join(sorted(IMPORTERS))})")
    return cls(**{k: v for k, v in options.items() if k in cls.options and v is not None})
