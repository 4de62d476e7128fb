"""CURVE encryption and authentication for a bus that leaves the machine.

The broker holds a key pair and a directory of allowed client public keys (ZeroMQ's ZAP
handler checks every connection against it); every client holds its own key pair and
the broker's public key. A client whose key is not allowed never completes the
handshake: it receives nothing and what it publishes goes nowhere.

Keys are ZeroMQ certificate files (``NAME.key`` public, ``NAME.key_secret`` secret), made
by ``causalstream keys generate NAME``. Clients find theirs through the environment:
``CAUSALSTREAM_CLIENT_KEY`` (path of the client's ``.key_secret``) and
``CAUSALSTREAM_SERVER_KEY`` (path of the broker's ``.key``).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     public, secret = generate_keys(d, "robot1")
...     ClientKeys.load(secret, public).public == load_public(public)
True
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from causalstream.stream.errors import BusError

__all__ = [
    "CLIENT_KEY_ENV",
    "SERVER_KEY_ENV",
    "ClientKeys",
    "ServerKeys",
    "generate_keys",
    "is_loopback",
    "load_public",
    "start_authenticator",
]

log = logging.getLogger(__name__)
CLIENT_KEY_ENV = "CAUSALSTREAM_CLIENT_KEY"
SERVER_KEY_ENV = "CAUSALSTREAM_SERVER_KEY"


def generate_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Create ``NAME.key`` and ``NAME.key_secret`` in ``directory``; returns both paths.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in generate_keys(d, "broker")]
    ['broker.key', 'broker.key_secret']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(directory, name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_public(path: str | Path) -> bytes:
    """The public key in a certificate file (public or secret one).

    >>> load_public("/nonexistent.key")
    Traceback (most recent call last):
    ...
    causalstream.stream.errors.BusError: bus endpoint /nonexistent.key: cannot read key file
    """
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError):
        raise BusError(str(path), "cannot read key file") from None
    return public


def _load_secret(path: str | Path) -> tuple[bytes, bytes]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError):
        raise BusError(str(path), "cannot read key file") from None
    if not secret:
        raise BusError(str(path), "not a secret key file (want NAME.key_secret)")
    return public, secret


@dataclass(frozen=True)
class ClientKeys:
    """A client's key pair and the broker's public key.

    >>> ClientKeys.from_env({}) is None
    True
    """

    public: bytes
    secret: bytes
    server: bytes

    @classmethod
    def load(cls, secret_file: str | Path, server_public_file: str | Path) -> ClientKeys:
        """Read the client's secret certificate and the broker's public one."""
        public, secret = _load_secret(secret_file)
        return cls(public, secret, load_public(server_public_file))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ClientKeys | None:
        """Keys named by ``CAUSALSTREAM_CLIENT_KEY`` and ``CAUSALSTREAM_SERVER_KEY``, or None."""
        env = os.environ if env is None else env
        client, server = env.get(CLIENT_KEY_ENV), env.get(SERVER_KEY_ENV)
        if not client and not server:
            return None
        if not (client and server):
            raise BusError("environment", f"set both {CLIENT_KEY_ENV} and {SERVER_KEY_ENV} for CURVE, or neither")
        return cls.load(client, server)

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client (before connect)."""
        sock.curve_serverkey = self.server
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


@dataclass(frozen=True)
class ServerKeys:
    """The broker's key pair and the directory of allowed client public keys.

    >>> ServerKeys(b"p", b"s", Path("/keys")).allowed_dir.name
    'keys'
    """

    public: bytes
    secret: bytes
    allowed_dir: Path

    @classmethod
    def load(cls, secret_file: str | Path, allowed_dir: str | Path) -> ServerKeys:
        """Read the broker's secret certificate; check the allowed-keys directory exists."""
        public, secret = _load_secret(secret_file)
        allowed = Path(allowed_dir)
        if not allowed.is_dir():
            raise BusError(str(allowed), "allowed client keys directory does not exist")
        return cls(public, secret, allowed)

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before bind)."""
        sock.curve_server = True
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


class _AllowedKeys:
    """ZAP credentials: the public keys found in the allowed directory, plus the broker's own."""

    def __init__(self, keys: ServerKeys) -> None:
        self.keys = set(zmq.auth.load_certificates(keys.allowed_dir)) | {keys.public}

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self.keys
        if not allowed:
            log.warning("refused a client with unknown CURVE key %s", key.decode(errors="replace"))
        return allowed


def start_authenticator(context: zmq.Context, keys: ServerKeys) -> ThreadAuthenticator:
    """Start ZeroMQ's ZAP handler allowing the keys in ``keys.allowed_dir`` (and the broker's own).

    The broker's own key pair is allowed so its control thread can join its own bus.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _, secret = generate_keys(d, "broker")
    ...     auth = start_authenticator(zmq.Context.instance(), ServerKeys.load(secret, d))
    ...     auth.is_alive()
    ...     auth.stop()
    True
    """
    auth = ThreadAuthenticator(context, log=log)
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=_AllowedKeys(keys))
    return auth


_HOST = re.compile(r"^tcp://(?P<host>\[[^\]]+\]|[^:]+):\d+$")


def is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc endpoints and tcp on a loopback address (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("tcp://127.0.0.2:7450"), is_loopback("tcp://0.0.0.0:7450"), is_loopback("ipc:///tmp/b")
    (True, False, True)
    """
    m = _HOST.match(endpoint)
    if m is None:
        return endpoint.startswith(("ipc://", "inproc://"))
    host = m["host"].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
