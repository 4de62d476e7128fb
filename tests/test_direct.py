"""The direct data path on a local bus: frames skip the broker, links follow subscribers."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import zmq

from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.codec import encode_frame
from causalstream.stream.bus.direct import DIRECT_PREFIX, DirectLinks, Inbox, advert
from causalstream.stream.bus.endpoints import configure_socket
from causalstream.stream.messages import Clock, Features

from support import spawn_cli, stop


def _links_settle(pub: Publisher, want: int, timeout: float = 10.0) -> int:
    """Publish until the publisher's link count is ``want`` (it follows adverts when it publishes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pub.publish(Clock(stamp_ns=1))
        if len(pub._links.peers) == want:
            return want
        time.sleep(0.05)
    return len(pub._links.peers)


def test_frames_go_to_the_subscriber_not_through_the_broker(bus: Endpoints) -> None:
    ctx = zmq.Context.instance()
    watcher = configure_socket(ctx.socket(zmq.SUB))  # a raw SUB on the broker sees what the broker carries
    watcher.connect(bus.sub)
    watcher.subscribe(b"/clock\x00")
    with Subscriber("/clock", endpoints=bus) as sub, Publisher("/clock", Clock, endpoints=bus) as pub:
        assert sub.inbox is not None and pub.direct
        sub.wait_ready(5)
        pub.wait_ready(5).wait_for_subscriber(5)
        for i in range(20):
            pub.publish(Clock(stamp_ns=i + 1))
        got = [sub.recv(timeout=5) for _ in range(20)]
        assert [r.message.stamp_ns for r in got if r is not None] == list(range(1, 21))
        assert sub.counters["/clock"].gaps == 0
        assert watcher.poll(300) == 0, "a direct publisher sent data through the broker"
    watcher.close()


def test_frames_sent_through_the_broker_still_arrive(bus: Endpoints) -> None:
    raw = configure_socket(zmq.Context.instance().socket(zmq.PUB))  # a tool that knows only the broker
    raw.connect(bus.pub)
    with Subscriber("/clock", endpoints=bus) as sub, Publisher("/clock", Clock, endpoints=bus) as pub:
        sub.wait_ready(5)
        pub.wait_ready(5).wait_for_subscriber(5)
        time.sleep(0.3)
        raw.send(encode_frame("/clock", Clock(stamp_ns=7), 0, "raw-tool"))
        pub.publish(Clock(stamp_ns=8))
        stamps = sorted(r.message.stamp_ns for r in (sub.recv(timeout=5), sub.recv(timeout=5)) if r is not None)
    raw.close()
    assert stamps == [7, 8]


def test_links_follow_subscribers_that_close_or_are_killed(bus: Endpoints) -> None:
    with Publisher("/clock", Clock, endpoints=bus) as pub:
        pub.wait_ready(5)
        with Subscriber("/clock", endpoints=bus) as sub:
            sub.wait_ready(5)
            pub.wait_for_subscriber(5)
            assert list(pub._links.peers) == [sub.inbox.endpoint]
        assert _links_settle(pub, 0) == 0  # closed: its advert is withdrawn through the broker
        echo = spawn_cli("topic", "echo", "/clock", endpoints=bus)
        try:
            assert _links_settle(pub, 1, timeout=30) == 1
            os.kill(echo.pid, signal.SIGKILL)  # killed: the broker withdraws its adverts for it
            echo.wait(10)
            assert _links_settle(pub, 0) == 0
        finally:
            stop(echo)


def test_a_publisher_survives_malformed_adverts(bus: Endpoints) -> None:
    ctx = zmq.Context.instance()
    liar = configure_socket(ctx.socket(zmq.SUB))
    liar.connect(bus.sub)
    for bad in (b"/clock\x00not-an-endpoint", b"/clock\x00tcp://", b"/clock", b"\xff\xfe\x00x", b""):
        liar.subscribe(DIRECT_PREFIX + bad)
    with Publisher("/clock", Clock, endpoints=bus) as pub, Subscriber("/clock", endpoints=bus) as sub:
        pub.wait_ready(5)
        sub.wait_ready(5)
        pub.wait_for_subscriber(5)
        time.sleep(0.3)
        pub.publish(Clock(stamp_ns=3))
        got = sub.recv(timeout=5)
        assert got is not None and got.message.stamp_ns == 3
        assert list(pub._links.peers) == [sub.inbox.endpoint]
    liar.close()


def test_direct_path_is_off_beyond_loopback_or_when_asked(monkeypatch) -> None:
    remote = Endpoints.parse("tcp://192.0.2.1:7450")  # never connected: the sockets only queue
    with Publisher("/clock", Clock, endpoints=remote) as pub, Subscriber("/clock", endpoints=remote) as sub:
        assert not pub.direct and sub.inbox is None
    monkeypatch.setenv("CAUSALSTREAM_DIRECT", "0")
    local = Endpoints.parse("tcp://127.0.0.1:9")
    with Publisher("/clock", Clock, endpoints=local) as pub, Subscriber("/clock", endpoints=local) as sub:
        assert not pub.direct and sub.inbox is None


def test_a_full_link_waits_once_then_drops_until_it_drains() -> None:
    """A burst that outruns the link waits for room (nothing lost); a link that stays full is
    congested and drops at once, counted, until a send gets through again."""
    ctx = zmq.Context.instance()
    inbox = Inbox(ctx, Endpoints.parse("inproc://test-grace"), hwm=5)
    links = DirectLinks("/clock", ctx, hwm=5)
    links.update(b"\x01" + advert("/clock", inbox.endpoint))
    try:
        sent = [links.send(b"/clock\x00%d" % i) for i in range(40)]
        assert sent.count(0) >= 5 and sum(sent) == 40 - sent.count(0)  # the queues filled, then dropped
        assert links._congested == {inbox.endpoint}
        first = sent.index(1)
        assert all(d == 1 for d in sent[first:])  # congested: no send got through
        got = [inbox.sock.recv() for _ in range(sent.count(0))]
        assert got == [b"/clock\x00%d" % i for i in range(first)]  # what went out is in order, whole
        time.sleep(0.01)  # libzmq reads a socket's commands (here: "room again") at most every ~1 ms of sends
        assert links.send(b"/clock\x00again") == 0 and not links._congested  # drained: no longer congested
        assert inbox.sock.recv() == b"/clock\x00again"
    finally:
        links.close()
        inbox.close()


def test_a_publisher_counts_what_its_full_links_dropped_the_tail_included(bus: Endpoints) -> None:
    """A subscriber that does not read: its link and inbox fill, the rest is dropped at the
    publisher and counted there; what arrived plus what was dropped is everything sent,
    though the dropped tail never shows as a gap on the subscriber's side."""
    with Subscriber("/chatter", endpoints=bus, hwm=10).wait_ready(10) as sub:
        with Publisher("/chatter", endpoints=bus, hwm=10).wait_ready(10).wait_for_subscriber(10) as pub:
            assert _links_settle(pub, 1) == 1
            big = Features(names=[f"v{i}" for i in range(256)], values=np.zeros(256))
            for i in range(2000):  # 3.5 KB each, 7 MB: more than the link, the inbox and the kernel's buffers hold
                pub.publish(big, stamp_ns=i + 1)
            got = 0
            while sub.recv(timeout=1.0) is not None:
                got += 1
            assert 0 < got < pub.seq and pub.link_drops > 0
            assert got + pub.link_drops == pub.seq  # pub.seq: these 2,000 and what settling the link sent
            assert pub.topic_stats()[0].link_drops == pub.link_drops
            assert sub.counters["/chatter"].gaps == 0  # the drops were the tail: no later frame arrived
