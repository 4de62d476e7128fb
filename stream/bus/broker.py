"""The bus broker: an XSUB/XPUB proxy (libzmq's, in C) plus a small control thread.

Publishers connect to the broker's XSUB, subscribers to its XPUB. The XPUB is verbose,
so every subscription reaches every publisher, even for a topic already subscribed: that
is how a latched publisher learns of a late joiner and re-sends its last message.

The control thread is a publisher on the broker's own XSUB. It answers "hello"
subscriptions (``/_bus/hello/<id>``), so a subscriber can wait until the bus has seen it,
and it keeps one permanent subscription, so a new publisher always receives at least
one subscription message on connect and can wait until the bus has seen it too.

>>> with Broker(Endpoints.parse("inproc://doc-broker")) as b:
...     b.running
True
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from types import TracebackType

import zmq
from zmq.auth.thread import ThreadAuthenticator

from causalstream.stream.bus.endpoints import Endpoints, configure_socket
from causalstream.stream.errors import BusError
from causalstream.stream.bus.security import ClientKeys, ServerKeys, is_loopback, start_authenticator
from causalstream.stream.bus.topics import HELLO_PREFIX

__all__ = ["Broker", "SENTINEL_TOPIC"]

log = logging.getLogger(__name__)

SENTINEL_TOPIC = b"\x00bus-sentinel"


class Broker:
    """Bind the two bus endpoints and forward frames between them until closed.

    ``hwm`` bounds the per-connection queues inside the broker: a slow subscriber loses
    messages (counted as gaps on its side) instead of growing the broker's memory.

    >>> b = Broker(Endpoints.parse("inproc://doc-broker-2")).start()
    >>> b.close()
    >>> b.running
    False
    """

    def __init__(
        self,
        endpoints: Endpoints | None = None,
        hwm: int = 100_000,
        context: zmq.Context | None = None,
        keys: ServerKeys | None = None,
        insecure: bool = False,
    ) -> None:
        self.endpoints = endpoints or Endpoints.from_env()
        self.hwm = hwm
        self.context = context or zmq.Context.instance()
        self.keys = keys
        self.insecure = insecure
        self._auth: ThreadAuthenticator | None = None
        self._threads: list[threading.Thread] = []
        # a plain flag, polled: no lock for a signal handler (request_stop) to wait on
        self._stopping = False
        self._ctrl: zmq.Socket | None = None
        self.running = False

    def start(self) -> Broker:
        """Bind and start forwarding in background threads; raises :class:`BusError` if taken."""
        self._check_exposure()
        xsub = configure_socket(self.context.socket(zmq.XSUB), self.hwm)
        xpub = configure_socket(self.context.socket(zmq.XPUB), self.hwm)
        xpub.set(zmq.XPUB_VERBOSE, 1)
        if self.keys is not None:
            self._auth = start_authenticator(self.context, self.keys)
            for sock in (xsub, xpub):
                self.keys.apply(sock)
        try:
            _bind(xsub, self.endpoints.pub)
            _bind(xpub, self.endpoints.sub)
        except BusError:
            xsub.close()
            xpub.close()
            raise
        # unique, not id(self): an inproc name stays taken a while after its socket closes
        ctrl_name = f"inproc://broker-ctrl-{uuid.uuid4().hex}"
        self._ctrl = self.context.socket(zmq.PAIR)
        self._ctrl.bind(ctrl_name)
        self._threads = [
            threading.Thread(target=self._proxy, args=(xsub, xpub, ctrl_name), name="bus-proxy", daemon=True),
            threading.Thread(target=self._control, name="bus-control", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.running = True
        log.info("bus broker: publishers -> %s, subscribers -> %s", self.endpoints.pub, self.endpoints.sub)
        return self

    def _check_exposure(self) -> None:
        exposed = [ep for ep in self.endpoints if not is_loopback(ep)]
        if not exposed or self.keys is not None:
            return
        if not self.insecure:
            raise BusError(exposed[0], "binding beyond loopback needs CURVE keys (or insecure: true to allow it)")
        log.warning("bus bound to %s WITHOUT encryption or authentication (insecure: true)", ", ".join(exposed))

    def _client_keys(self) -> ClientKeys | None:
        if self.keys is None:
            return None
        return ClientKeys(self.keys.public, self.keys.secret, self.keys.public)

    def _proxy(self, xsub: zmq.Socket, xpub: zmq.Socket, ctrl_name: str) -> None:
        ctrl = self.context.socket(zmq.PAIR)
        ctrl.connect(ctrl_name)
        try:
            zmq.proxy_steerable(xsub, xpub, None, ctrl)
        except zmq.ContextTerminated:
            pass
        finally:
            for s in (xsub, xpub, ctrl):
                s.close(linger=0)

    def _control(self) -> None:
        """Answer hello subscriptions; hold the sentinel subscription for publishers."""
        pub = configure_socket(self.context.socket(zmq.XPUB), keys=self._client_keys())
        pub.set(zmq.XPUB_VERBOSE, 1)
        sentinel = configure_socket(self.context.socket(zmq.SUB), keys=self._client_keys())
        try:
            pub.connect(self.endpoints.pub)
            sentinel.connect(self.endpoints.sub)
            sentinel.subscribe(SENTINEL_TOPIC)
            hello = b"\x01" + HELLO_PREFIX.encode()
            while not self._stopping:
                if not pub.poll(100):
                    continue
                sub = pub.recv()
                if sub.startswith(hello):
                    pub.send(sub[1:])
        except zmq.ContextTerminated:
            pass
        finally:
            pub.close(linger=0)
            sentinel.close(linger=0)

    def run(self) -> None:
        """Start and block until interrupted (what ``causalstream bus`` does)."""
        self.start()
        try:
            # a polled flag, not Event.wait: a KeyboardInterrupt raised inside Event.wait can
            # leave the Event's lock held by this thread, and a set() then waits on it for ever
            while not self._stopping:
                time.sleep(0.1)
        finally:
            self.close()

    def request_stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler: it sets a flag, no lock)."""
        self._stopping = True

    def close(self) -> None:
        """Stop forwarding and unbind."""
        if not self.running:
            return
        self._stopping = True
        if self._ctrl is not None:
            self._ctrl.send(b"TERMINATE")
        for t in self._threads:
            t.join(timeout=2.0)
        if self._ctrl is not None:
            self._ctrl.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        self.running = False

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _bind(sock: zmq.Socket, endpoint: str) -> None:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        reason = exc.strerror.split(" (addr=")[0].lower()  # pyzmq appends the address we name anyway
        raise BusError(endpoint, reason) from None
