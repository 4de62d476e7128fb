"""``causalstream bus`` (run the broker) and ``causalstream keys generate`` (CURVE keys).

>>> import typer
>>> app = typer.Typer()
>>> register(app)
>>> [c.name for c in app.registered_commands], [g.name for g in app.registered_groups]
(['bus'], ['keys'])
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import typer
from rich.console import Console

from causalstream.stream import Broker, Endpoints
from causalstream.stream.bus.endpoints import DEFAULT_BUS, ENV_VAR
from causalstream.stream.errors import BusError
from causalstream.stream.bus.security import ServerKeys, generate_keys

__all__ = ["register", "bus", "generate"]

log = logging.getLogger(__name__)


def bus(
    endpoint: str = typer.Option(
        None, "--endpoint", "-e", envvar=ENV_VAR, show_default=DEFAULT_BUS,
        help="Base endpoint (publishers connect here, subscribers at port + 1), or two comma-separated endpoints.",
    ),
    hwm: int = typer.Option(100_000, help="Per-connection queue bound inside the broker (messages)."),
    keys: Path = typer.Option(None, "--keys", help="The broker's secret key file (NAME.key_secret): turns CURVE on."),
    allowed_keys: Path = typer.Option(None, "--allowed-keys", help="Directory of allowed client public keys (*.key)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow binding beyond loopback without CURVE (warns)."),
) -> None:
    """Run the bus broker (XSUB/XPUB proxy) until Ctrl-C.

    The launcher starts one for you; run it by hand to use `causalstream run`, `topic pub`
    or your own Publisher/Subscriber without a launch file. Binds to loopback by default;
    binding to any other address needs CURVE keys (--keys and --allowed-keys), or --insecure.
    Clients then set CAUSALSTREAM_CLIENT_KEY (their .key_secret) and CAUSALSTREAM_SERVER_KEY
    (the broker's .key).
    """
    server_keys = None
    if keys is not None or allowed_keys is not None:
        if keys is None or allowed_keys is None:
            raise BusError("--keys", "CURVE needs both --keys and --allowed-keys")
        server_keys = ServerKeys.load(keys, allowed_keys)
    broker = Broker(Endpoints.from_env(endpoint), hwm=hwm, keys=server_keys, insecure=insecure)
    signal.signal(signal.SIGTERM, lambda *_: broker.request_stop())
    try:
        broker.run()
    except KeyboardInterrupt:
        log.info("bus broker stopped")


keys_app = typer.Typer(help="CURVE key pairs for an encrypted, authenticated bus.", no_args_is_help=True)


@keys_app.command("generate")
def generate(
    name: str = typer.Argument(..., help="Key name, e.g. broker or robot1."),
    directory: Path = typer.Option(Path("keys"), "--dir", "-d", help="Where to write NAME.key and NAME.key_secret."),
) -> None:
    """Create a CURVE key pair: NAME.key (public, share it) and NAME.key_secret (keep it).

    To allow a client on the broker, copy its NAME.key into the broker's --allowed-keys
    directory.
    """
    public, secret = generate_keys(directory, name)
    Console().print(f"public key: {public}\nsecret key: {secret} (mode 600)")


def register(app: typer.Typer) -> None:
    """Add the ``bus`` command and the ``keys`` group to the root app."""
    app.command("bus")(bus)
    app.add_typer(keys_app, name="keys")
