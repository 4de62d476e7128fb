"""``causalstream bus``: run the message broker in the foreground.

>>> import typer
>>> app = typer.Typer()
>>> register(app)
>>> [c.name for c in app.registered_commands]
['bus']
"""

from __future__ import annotations

import logging
import signal

import typer

from causalstream.stream import Broker, Endpoints
from causalstream.stream.endpoints import DEFAULT_BUS, ENV_VAR

__all__ = ["register", "bus"]

log = logging.getLogger(__name__)


def bus(
    endpoint: str = typer.Option(
        None, "--endpoint", "-e", envvar=ENV_VAR, show_default=DEFAULT_BUS,
        help="Base endpoint (publishers connect here, subscribers at port + 1), or two comma-separated endpoints.",
    ),
    hwm: int = typer.Option(100_000, help="Per-connection queue bound inside the broker (messages)."),
) -> None:
    """Run the bus broker (XSUB/XPUB proxy) until Ctrl-C.

    The launcher starts one for you; run it by hand to use `causalstream run`, `topic pub`
    or your own Publisher/Subscriber without a launch file. Binds to loopback by default.
    """
    broker = Broker(Endpoints.from_env(endpoint), hwm=hwm)
    signal.signal(signal.SIGTERM, lambda *_: broker.request_stop())
    try:
        broker.run()
    except KeyboardInterrupt:
        log.info("bus broker stopped")


def register(app: typer.Typer) -> None:
    """Add the ``bus`` command to the root app."""
    app.command("bus")(bus)
