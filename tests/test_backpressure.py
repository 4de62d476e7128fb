"""A slow subscriber: bounded memory (HWM), drops counted, the publisher never blocked."""

from __future__ import annotations

import time

import numpy as np
import psutil

from causalstream.stream import Publisher, Subscriber
from causalstream.stream.messages import Features

from support import start_bus, stop


def test_slow_subscriber_drops_are_counted_and_memory_is_bounded() -> None:
    endpoints, broker = start_bus("--hwm", "2000")
    try:
        # the queues live in the broker on the broker path, in this process (publisher's links,
        # subscriber's inbox) on the direct path: both are watched
        procs = [psutil.Process(broker.pid), psutil.Process()]
        rss_before = sum(p.memory_info().rss for p in procs)
        n = 60_000
        payload = Features(names=[f"v{i}" for i in range(64)], values=np.zeros(64))  # ~1.2 kB
        with Subscriber("/features", endpoints=endpoints, hwm=500) as slow, \
                Publisher("/features", Features, endpoints=endpoints, hwm=2000) as pub:
            slow.wait_ready(5)
            pub.wait_ready(5).wait_for_subscriber(5)
            for i in range(n):
                pub.publish(payload, stamp_ns=i + 1)  # never blocks: past the HWM, frames drop
            published_all = True
            received = 0
            while slow.recv(timeout=1.0) is not None:
                received += 1
                if received % 100 == 0:
                    time.sleep(0.001)  # a slow consumer
            rss_after = sum(p.memory_info().rss for p in procs)
            # the stream goes on at a pace the subscriber keeps up with: the burst's losses show as a gap
            for i in range(n, n + 10):
                pub.publish(payload, stamp_ns=i + 1)
                time.sleep(0.01)
            while slow.recv(timeout=1.0) is not None:
                received += 1
        c = slow.counters["/features"]
        assert published_all and pub.seq == n + 10
        assert received < n, "nothing was dropped: the test did not stress the queues"
        # what arrived plus what the subscriber knows it missed = everything published
        assert c.messages == received and c.messages + c.gaps == n + 10
        assert c.gaps > 0
        # queues are bounded: n messages of 1.2 kB would be ~70 MB if buffered without limit
        grown_mb = (rss_after - rss_before) / 2**20
        print(f"received {received}/{n}, gaps {c.gaps}, broker + test process RSS grew {grown_mb:.1f} MB")
        assert grown_mb < 40
    finally:
        stop(broker)
