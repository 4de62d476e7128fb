"""CURVE on the bus: allowed clients talk, others get nothing; loopback by default."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.bus.security import ClientKeys
from causalstream.stream.errors import BusTimeoutError
from causalstream.stream.messages import Features

from support import free_port_pair, run_cli, spawn_cli, stop, wait_for_broker


@pytest.fixture
def curve_bus(tmp_path: Path):
    keys = tmp_path / "keys"
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    for name in ("broker", "robot1", "intruder"):
        res = run_cli("keys", "generate", name, "--dir", str(keys))
        assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(os.stat(keys / "broker.key_secret").st_mode) == 0o600
    (allowed / "robot1.key").write_bytes((keys / "robot1.key").read_bytes())
    # the broker is "host 2" (127.0.0.2); clients connect from the default loopback address
    endpoints = Endpoints.parse(f"tcp://127.0.0.2:{free_port_pair()}")
    proc = spawn_cli("bus", "-e", endpoints.pub, "--keys", str(keys / "broker.key_secret"),
                     "--allowed-keys", str(allowed))
    good = ClientKeys.load(keys / "robot1.key_secret", keys / "broker.key")
    bad = ClientKeys.load(keys / "intruder.key_secret", keys / "broker.key")
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                Subscriber("/probe", endpoints=endpoints, keys=good).wait_ready(0.5).close()
                break
            except BusTimeoutError:
                assert time.monotonic() < deadline, "CURVE broker never answered"
        yield endpoints, good, bad
    finally:
        stop(proc)


def _msg(v: float) -> Features:
    return Features(names=["x"], values=np.array([v]))


def test_allowed_client_talks_and_an_intruder_gets_nothing(curve_bus) -> None:
    endpoints, good, bad = curve_bus
    with Subscriber("/features", endpoints=endpoints, keys=good) as listener, \
            Subscriber("/features", endpoints=endpoints, keys=bad) as eavesdropper, \
            Publisher("/features", Features, endpoints=endpoints, keys=good) as talker, \
            Publisher("/features", Features, endpoints=endpoints, keys=bad) as forger:
        listener.wait_ready(5)
        talker.wait_ready(5).wait_for_subscriber(5)
        with pytest.raises(BusTimeoutError):
            forger.wait_ready(1.0)  # never completes the handshake
        for i in range(5):
            forger.publish(_msg(-1.0))
            talker.publish(_msg(float(i)))
        got = []
        while (r := listener.recv(timeout=2.0)) is not None:
            got.append(r.message.values[0])
        assert got == [0.0, 1.0, 2.0, 3.0, 4.0]  # nothing forged arrived
        assert eavesdropper.recv(timeout=1.0) is None  # and nothing leaked


def test_a_plain_client_gets_nothing_from_a_curve_bus(curve_bus) -> None:
    endpoints, good, _ = curve_bus
    plain = Subscriber("/features", endpoints=endpoints, keys=None)
    plain_keys_env = plain.keys  # no CURVE variables in the test environment
    assert plain_keys_env is None
    with plain, Publisher("/features", Features, endpoints=endpoints, keys=good) as talker:
        talker.wait_ready(5)
        with pytest.raises(BusTimeoutError):
            plain.wait_ready(1.0)
        talker.publish(_msg(1.0))
        assert plain.recv(timeout=1.0) is None


def test_binding_beyond_loopback_needs_keys_or_insecure() -> None:
    port = free_port_pair()
    res = run_cli("bus", "-e", f"tcp://0.0.0.0:{port}", timeout=30)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs CURVE keys" in lines[0] and "insecure" in lines[0]


def test_client_with_only_half_the_keys_is_an_error(tmp_path: Path) -> None:
    ep = Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")
    res = run_cli("topic", "echo", "/x", "--timeout", "1", endpoints=ep,
                  env_extra={"CAUSALSTREAM_CLIENT_KEY": str(tmp_path / "a.key_secret")})
    assert res.returncode == 2 and "CAUSALSTREAM_SERVER_KEY" in res.stderr
