"""Shared fixtures: a live bus broker in its own process on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from causalstream.stream import Endpoints

from support import free_port_pair, spawn_cli, stop, wait_for_broker


@pytest.fixture
def bus() -> Iterator[Endpoints]:
    """A broker process (`causalstream bus`) on fresh loopback ports."""
    endpoints = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
    proc = spawn_cli("bus", "--endpoint", endpoints.pub)
    try:
        wait_for_broker(endpoints, proc=proc)
        yield endpoints
    finally:
        stop(proc)
