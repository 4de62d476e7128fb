"""Shared fixtures: a live bus broker in its own process on free loopback ports."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from causalstream.stream import Endpoints

from reaper import start_reaper, stop_reaper
from support import start_bus, stop

_WATCHDOG = pytest.StashKey[subprocess.Popen]()


def pytest_configure(config: pytest.Config) -> None:
    """The watchdog that kills what this run started once the run is gone (reaper.py)."""
    config.stash[_WATCHDOG] = start_reaper()


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_reaper(config.stash[_WATCHDOG])


@pytest.fixture
def bus() -> Iterator[Endpoints]:
    """A broker process (`causalstream bus`) on fresh loopback ports."""
    endpoints, proc = start_bus()
    try:
        yield endpoints
    finally:
        stop(proc)
