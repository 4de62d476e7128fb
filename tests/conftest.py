"""Shared fixtures: a live bus broker in its own process on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from causalstream.stream import Endpoints

from support import start_bus, stop


@pytest.fixture
def bus() -> Iterator[Endpoints]:
    """A broker process (`causalstream bus`) on fresh loopback ports."""
    endpoints, proc = start_bus()
    try:
        yield endpoints
    finally:
        stop(proc)
