"""A subscriber on a local bus reads two sockets, its inbox (direct publishers) and its broker
socket (``bag play``'s ordered raw publisher, the hello): a flood on one must not starve the
other, an empty read must not wait, and ``recv(timeout=0)`` / ``take`` still deliver."""

from __future__ import annotations

import time
import uuid

from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.bus.broker import Broker
from causalstream.stream.codec import encode_payload
from causalstream.stream.messages import Clock


def _bus() -> Broker:
    return Broker(Endpoints.parse(f"inproc://test-paths-{uuid.uuid4().hex[:8]}"))


def test_a_flood_on_the_inbox_does_not_starve_the_broker_socket() -> None:
    with _bus() as b, Subscriber(["/a", "/b"], endpoints=b.endpoints, hwm=0) as sub:
        sub.wait_ready(5)
        direct = Publisher("/a", Clock, endpoints=b.endpoints, hwm=0).wait_for_subscriber(5)
        raw = Publisher(None, endpoints=b.endpoints, ordered=True).wait_ready(5)
        assert direct.direct and not raw.direct and raw.wait_for_subscribers(["/b"], 5) == []
        for i in range(3000):
            direct.publish(Clock(stamp_ns=i + 1))
        payload = encode_payload(Clock(stamp_ns=7))
        for _ in range(10):
            raw.publish_raw("Clock", payload, 7, "/b")
        time.sleep(0.5)  # both queues full before the first read
        order = []
        while len(order) < 3010:
            got = sub.recv(timeout=5)
            assert got is not None, f"{len(order)} of 3010 received"
            order.append(got.topic)
        # both sockets are ready at once, so they take turns: the broker's ten come early, not after the 3000
        assert max(i for i, t in enumerate(order) if t == "/b") < 200
        assert sub.totals().gaps == 0
        direct.close()
        raw.close()


def test_recv_with_no_timeout_left_and_take_still_deliver() -> None:
    with _bus() as b, Subscriber("/c", endpoints=b.endpoints) as sub:
        sub.wait_ready(5)
        with Publisher("/c", Clock, endpoints=b.endpoints).wait_for_subscriber(5) as pub:
            assert sub.recv(timeout=0) is None
            t0 = time.monotonic()
            assert sub.take(timeout=0.2) == [] and time.monotonic() - t0 >= 0.15  # take waits for the first
            pub.publish(Clock(stamp_ns=1))
            pub.publish(Clock(stamp_ns=2))
            time.sleep(0.2)
            first = sub.recv(timeout=0)  # queued: delivered though no time is left to wait
            assert first is not None and first.message.stamp_ns == 1
            assert [r.message.stamp_ns for r in sub.take(timeout=0)] == [2]
