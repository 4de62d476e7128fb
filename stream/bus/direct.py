"""The direct data path: on one machine, frames go publisher -> subscriber with no broker hop.

The broker stays the place where everyone meets, but on a local bus it no longer carries
the data. Discovery rides on ZeroMQ's own subscription forwarding, so the broker needs no
directory and no protocol of its own:

1. A subscriber binds a PULL socket, its :class:`Inbox`, to a private endpoint (an abstract
   unix socket on Linux, ``inproc://`` on an in-process bus) and *advertises* it with one
   subscription per topic on its broker socket: ``/_bus/direct\\0TOPIC\\0ENDPOINT``.
2. The broker's verbose XPUB forwards every subscription to every publisher. A direct
   publisher reads them on its broker socket (which carries no data): on an advert for its
   topic (or for every topic, ``TOPIC`` empty) it connects a PUSH socket to the inbox
   (:class:`DirectLinks`); on the matching unsubscription, which libzmq sends upstream when
   the subscriber leaves (closed or killed), it closes it. A publisher that joins later
   gets every advert still standing: XSUB replays its subscriptions to a new connection.
3. PUSH rather than PUB: the connecting side queues frames from the moment it connects, so
   nothing is lost while the subscriber's socket takes the new connection in, and a late
   joiner of a latched topic gets the last frame on its own link, not as a duplicate to
   everyone. Each send is non-blocking: past the high-water mark the frame is dropped and
   the subscriber counts the gap, as on the broker path.
4. Subscribers keep their broker subscriptions, so frames sent through the broker (``bag
   play``, other tools) still arrive; a direct publisher sends nothing through the broker,
   so nothing arrives twice.

The direct path is on when every participant is on this machine: the bus endpoints are
loopback tcp, ipc or inproc, and no CURVE keys are in use (a secured bus is a multi-host
bus; its frames keep going through the broker, which authenticates them).
``CAUSALSTREAM_DIRECT=0`` turns it off; set it for every process of the bus, as a direct
publisher sends nothing to a subscriber that does not advertise an inbox.

>>> from causalstream.stream.bus.endpoints import Endpoints, configure_socket
>>> direct_mode(Endpoints.parse("tcp://127.0.0.1:7450"), None)
True
>>> direct_mode(Endpoints.parse("tcp://10.0.0.5:7450"), None)
False
>>> advert("/clock", "ipc://@x")
b'/_bus/direct\\x00/clock\\x00ipc://@x'
"""

from __future__ import annotations

import os
import sys
import uuid

import zmq

from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.bus.security import ClientKeys, is_loopback

__all__ = ["DIRECT_ENV", "DIRECT_PREFIX", "DirectLinks", "Inbox", "advert", "direct_mode", "read_advert"]

DIRECT_ENV = "CAUSALSTREAM_DIRECT"
CLOSE_LINGER_MS = 500  # a closing publisher's links get this long to deliver what it queued
LINK_HWM = 1000  # frames a link queues on the publisher's side; the subscriber's inbox is the queue
GRACE_MS = 2  # how long a full link may hold its publisher up, once until it drains again
DIRECT_PREFIX = b"/_bus/direct\x00"


def direct_mode(endpoints: Endpoints, keys: ClientKeys | None) -> bool:
    """True when frames may skip the broker: a local bus, no CURVE, not turned off.

    >>> direct_mode(Endpoints.parse("ipc:///tmp/bus"), None)
    True
    """
    if os.environ.get(DIRECT_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return keys is None and all(is_loopback(ep) for ep in endpoints)


def advert(topic: str, endpoint: str) -> bytes:
    """The subscription that tells publishers of ``topic`` ("" for all) where to send.

    >>> advert("", "inproc://me").endswith(b"\\x00inproc://me")
    True
    """
    return DIRECT_PREFIX + topic.encode() + b"\x00" + endpoint.encode()


def read_advert(sub: bytes) -> tuple[bool, str, str] | None:
    """(joined?, topic, endpoint) from a subscription message, or None if not an advert.

    >>> read_advert(b"\\x01" + advert("/clock", "ipc://@x"))
    (True, '/clock', 'ipc://@x')
    >>> read_advert(b"\\x01/clock\\x00") is None
    True
    """
    if len(sub) < 2 or sub[0] > 1 or not sub.startswith(DIRECT_PREFIX, 1):
        return None
    topic, sep, endpoint = sub[1 + len(DIRECT_PREFIX) :].partition(b"\x00")
    if not sep or not endpoint:
        return None
    try:
        return sub[0] == 1, topic.decode(), endpoint.decode()
    except UnicodeDecodeError:
        return None


class Inbox:
    """A subscriber's side: a PULL socket bound to a private endpoint, and its adverts.

    An in-process bus gets ``inproc://``; elsewhere Linux's abstract unix sockets (no file
    to clean up, gone with the process), and loopback tcp on other systems.

    >>> inbox = Inbox(zmq.Context.instance(), Endpoints.parse("inproc://doc-inbox"))
    >>> inbox.endpoint.startswith("inproc://"), inbox.adverts(["/a"])[0].startswith(DIRECT_PREFIX)
    (True, True)
    >>> inbox.close()
    """

    def __init__(self, context: zmq.Context, endpoints: Endpoints, hwm: int = 10_000) -> None:
        self.context = context
        self.endpoints = endpoints
        self.hwm = hwm
        self.sock = configure_socket(context.socket(zmq.PULL), hwm)
        name = f"causalstream-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        if endpoints.sub.startswith("inproc://"):
            where = f"inproc://{name}"
        elif sys.platform.startswith("linux"):
            where = f"ipc://@{name}"
        else:
            where = "tcp://127.0.0.1:*"
        self.sock.bind(where)
        self.endpoint = self.sock.get(zmq.LAST_ENDPOINT).decode()

    def adverts(self, topics: list[str]) -> list[bytes]:
        """The subscriptions that tell publishers of ``topics`` ("" for all) about this inbox."""
        return [advert(t, self.endpoint) for t in topics or [""]]

    def close(self) -> None:
        """Close the socket."""
        self.sock.close(linger=0)


def _send_after_grace(sock: zmq.Socket, frame: bytes | bytearray) -> bool:
    """Wait up to ``GRACE_MS`` for room on a full link and send; False if it stayed full."""
    if not sock.poll(GRACE_MS, zmq.POLLOUT):
        return False
    try:
        sock.send(frame, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


class DirectLinks:
    """A publisher's side: one PUSH socket per inbox that advertises its topic.

    ``update(sub)`` takes one subscription message from the broker socket and returns the
    endpoint it newly connected (or None); ``send(frame)`` sends to every linked inbox
    without blocking and returns how many links dropped it (full queues).

    >>> ctx = zmq.Context.instance()
    >>> inbox = Inbox(ctx, Endpoints.parse("inproc://doc-links"))
    >>> links = DirectLinks("/clock", ctx)
    >>> links.update(b"\\x01" + advert("/clock", inbox.endpoint)) == inbox.endpoint
    True
    >>> links.send(b"/clock\\x00hello"), inbox.sock.recv()
    (0, b'/clock\\x00hello')
    >>> _ = links.update(b"\\x00" + advert("/clock", inbox.endpoint))
    >>> links.peers
    {}
    >>> links.close(); inbox.close()
    """

    def __init__(self, topic: str, context: zmq.Context, hwm: int = 10_000) -> None:
        self.topic = topic
        self.context = context
        self.hwm = hwm
        self.peers: dict[str, zmq.Socket] = {}
        self._congested: set[str] = set()  # links that stayed full through their grace
        self._topics: dict[str, set[str]] = {}  # endpoint -> its adverts that match ("" for all)

    def update(self, sub: bytes) -> str | None:
        """Follow one advert or its withdrawal; the endpoint newly linked, if any."""
        got = read_advert(sub)
        if got is None:
            return None
        joined, topic, endpoint = got
        if topic and topic != self.topic:
            return None
        topics = self._topics.get(endpoint)
        if joined and topics is None:
            # the inbox's own high-water mark is the subscriber's queue; a link adds a short one,
            # as one broker connection did, not a second full queue ahead of a slow subscriber
            sock = configure_socket(self.context.socket(zmq.PUSH), self.hwm and min(self.hwm, LINK_HWM))
            try:
                sock.connect(endpoint)
            except zmq.ZMQError:  # a malformed advert must not take the publisher down
                sock.close(linger=0)
                return None
            self.peers[endpoint] = sock
            self._topics[endpoint] = {topic}
            return endpoint
        if joined:
            topics.add(topic)  # a repeat (the broker replays adverts after a restart) changes nothing
        elif topics is not None:
            topics.discard(topic)
            if not topics:
                del self._topics[endpoint]
                self._congested.discard(endpoint)
                self.peers.pop(endpoint).close(linger=0)
        return None

    def send(self, frame: bytes | bytearray) -> int:
        """Send to every linked inbox; the number of links whose queue was full.

        A link found full waits up to ``GRACE_MS`` for room: a burst can outrun the I/O
        thread that empties the link when two busy processes share two cores, and the queue
        that is meant to absorb the burst is the inbox behind it. A link that stays full is
        *congested* (a slow subscriber, its inbox full too): it drops without waiting until
        a send gets through again, so a slow subscriber costs its publisher one grace per
        queue's worth of frames it takes, not one per frame.
        """
        dropped = 0
        congested = self._congested
        for endpoint, sock in self.peers.items():
            try:
                sock.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                if endpoint in congested or not _send_after_grace(sock, frame):
                    congested.add(endpoint)
                    dropped += 1
                    continue
            if congested:
                congested.discard(endpoint)
        return dropped

    def send_to(self, endpoint: str, frame: bytes | bytearray) -> bool:
        """Send to one linked inbox (a latched value for a late joiner); False if dropped."""
        try:
            self.peers[endpoint].send(frame, zmq.NOBLOCK)
        except (zmq.Again, KeyError):
            return False
        return True

    def close(self) -> None:
        """Close every link, giving frames still queued ``CLOSE_LINGER_MS`` to go out: a link may
        still be connecting when its publisher publishes and closes (the broker path had the
        same window, but over a connection that was already up)."""
        for sock in self.peers.values():
            sock.close(linger=CLOSE_LINGER_MS)
        self.peers.clear()
        self._congested.clear()
        self._topics.clear()
