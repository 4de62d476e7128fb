"""One pipeline over two launches ("two hosts") on a CURVE bus; a stranger hears nothing.

Host 2 (127.0.0.2) runs the broker with CURVE and the talker and listener; host 1 runs the
relay in between, as a second launch with ``bus: {start: false}`` and its own client key
given in the launch file (``bus: {client_key, server_key}``). Data goes talker (host 2) ->
relay (host 1) -> listener (host 2). A client whose key is not allowed, and a client with no
keys at all, receive nothing.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from causalstream.stream import Endpoints, Subscriber
from causalstream.stream.bus.security import ClientKeys, generate_keys
from causalstream.stream.errors import BusTimeoutError
from causalstream.stream.messages import NodeStatus

from launching import Launch, wait_for_nodes
from support import free_port_pair

HOST2 = """\
bus:
  endpoint: {endpoint}
  keys: keys/broker.key_secret
  allowed_keys: allowed
  client_key: keys/host2.key_secret
  server_key: keys/broker.key
nodes:
  - {{name: talker, kind: talker, params: {{rate_hz: 20}}, remap: {{chatter: /chatter}}}}
  - {{name: listener, kind: listener, params: {{topics: [/chatter_slow]}}}}
"""
HOST1 = """\
bus: {{endpoint: {endpoint}, start: false, client_key: keys/host1.key_secret, server_key: keys/broker.key}}
nodes:
  - {{name: relay, kind: relay, namespace: host1, remap: {{in: /chatter, out: /chatter_slow}}}}
"""


def _keys(tmp: Path) -> tuple[Path, Path]:
    keys, allowed = tmp / "keys", tmp / "allowed"
    allowed.mkdir()
    for name in ("broker", "host1", "host2", "observer", "intruder"):
        generate_keys(keys, name)
    for name in ("host1", "host2", "observer"):
        shutil.copy(keys / f"{name}.key", allowed)
    return keys, allowed


def test_two_launches_on_two_hosts_share_a_curve_bus(tmp_path: Path) -> None:
    keys, _ = _keys(tmp_path)
    endpoints = Endpoints.parse(f"tcp://127.0.0.2:{free_port_pair()}")
    (tmp_path / "host2.yaml").write_text(HOST2.format(endpoint=endpoints.pub))
    (tmp_path / "host1.yaml").write_text(HOST1.format(endpoint=endpoints.pub))
    observer = ClientKeys.load(keys / "observer.key_secret", keys / "broker.key")
    intruder = ClientKeys.load(keys / "intruder.key_secret", keys / "broker.key")
    host2 = Launch(tmp_path / "host2.yaml", tmp=tmp_path, endpoints=endpoints, bus_flag=False)
    host1 = Launch(tmp_path / "host1.yaml", tmp=tmp_path, endpoints=endpoints, bus_flag=False)
    try:
        topics = ["/node/status", "/chatter", "/chatter_slow"]
        with Subscriber(topics, endpoints=endpoints, keys=observer) as sub, \
                Subscriber(topics, endpoints=endpoints, keys=intruder) as stranger, \
                Subscriber(topics, endpoints=endpoints, keys=None) as plain:
            pids = wait_for_nodes(sub, {"/talker", "/listener", "/host1/relay"})
            assert pids["/host1/relay"] in host1.descendants() and pids["/talker"] in host2.descendants()
            relayed, heard = [], 0
            deadline = time.monotonic() + 30
            while (len(relayed) < 20 or heard == 0) and time.monotonic() < deadline:
                got = sub.recv(timeout=1.0)
                if got is None:
                    continue
                if got.topic == "/chatter_slow":
                    relayed.append(got)
                elif isinstance(got.message, NodeStatus) and got.message.name == "/listener":
                    heard = got.message.counters.get("in:/chatter_slow", 0)
            # end to end: what the talker on host 2 said came back through host 1's relay, in order
            assert len(relayed) >= 20 and heard > 0
            assert all(r.envelope.publisher.startswith("/host1/relay/") for r in relayed)
            counts = [float(r.message.values[0]) for r in relayed]
            assert counts == sorted(counts) and sub.counters["/chatter_slow"].gaps == 0
            for outsider in (stranger, plain):
                with pytest.raises(BusTimeoutError):
                    outsider.wait_ready(1.0)
                assert outsider.recv(timeout=1.0) is None and not outsider.counters
    finally:
        assert host1.close() == 0, host1.output()
        assert host2.close() == 0, host2.output()
