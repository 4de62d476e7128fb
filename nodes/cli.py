"""The ``causalstream`` command line, in the style of ROS 2's ``ros2``.

Each command group lives in its own module (``cli_topic.py``, ``cli_bag.py``, ...) and is
registered here with one line. Any :class:`CausalstreamError` becomes one line on stderr
and exit status 2.

>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["--help"])
>>> result.exit_code, "Streaming" in result.output
(0, True)
"""

from __future__ import annotations

import faulthandler
import importlib.metadata
import logging
import signal
import sys

import typer
from rich.console import Console
from rich.text import Text


from causalstream.nodes import (
    cli_bag,
    cli_bus,
    cli_discover,
    cli_graph,
    cli_launch,
    cli_model,
    cli_node,
    cli_topic,
    cli_view,
)
from causalstream.nodes.errors import CausalstreamError

__all__ = ["app", "main"]

app = typer.Typer(
    name="causalstream",
    help=(
        "Streaming causal discovery and trajectory prediction over a ZeroMQ bus.\n\n"
        "Start a pipeline with `causalstream launch FILE`, watch it with `causalstream topic echo` "
        "and `causalstream graph show`, record and replay it with `causalstream bag`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_ERR = Console(stderr=True, highlight=False)


# One line per command group; each module builds its own Typer app and knows its name.
for _group in (cli_bus, cli_graph, cli_topic, cli_launch, cli_node, cli_bag, cli_model, cli_discover, cli_view):
    _group.register(app)


@app.callback()
def _root() -> None:
    """Streaming causal discovery and trajectory prediction over a ZeroMQ bus."""


@app.command()
def version() -> None:
    """Print the installed causalstream version."""
    Console().print(importlib.metadata.version("causalstream"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``causalstream`` console script.

    >>> main(["no-such-command"])
    2
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Ctrl-C stops every command, also when a script started it in the background (the shell
    # then hands it SIGINT ignored, and Python keeps an inherited "ignore")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:  # `kill -USR1 PID`: every thread's stack
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True, file=sys.__stderr__)
        except (OSError, ValueError):  # a stderr without a file descriptor
            pass
    args = clock_rate(expand_multi(sys.argv[1:] if argv is None else list(argv)))
    try:
        rc = app(args=args, prog_name="causalstream", standalone_mode=False)
    except CausalstreamError as exc:
        _ERR.print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        return 130
    except typer.exceptions.TyperException as exc:  # a usage error: one line, the command, the reason
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "causalstream"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _ERR.print(Text("error: ", style="bold red") + Text(f"{where}: {message} (see {where} --help)"),
                   soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    return rc if isinstance(rc, int) else 0


def clock_rate(args: list[str]) -> list[str]:
    """``--clock HZ`` (ros2 bag play's optional value) -> ``--clock --clock-hz HZ``; a bare ``--clock`` stays.

    >>> clock_rate(["bag", "play", "x.mcap", "--clock", "50"]), clock_rate(["--clock", "x.mcap"])
    (['bag', 'play', 'x.mcap', '--clock', '--clock-hz', '50'], ['--clock', 'x.mcap'])
    """
    out: list[str] = []
    for k, word in enumerate(args):
        if k and args[k - 1] == "--clock" and word.replace(".", "", 1).isdigit():
            out.append("--clock-hz")
        out.append(word)
    return out


MULTI = ("--topics", "--exclude-topics")
"""Options that take several topics after one flag, as ros2's do (``--topics /a /b``)."""


def expand_multi(args: list[str]) -> list[str]:
    """``--topics /a /b`` -> ``--topics /a --topics /b`` (the topics are the words starting with /).

    >>> expand_multi(["bag", "play", "x.mcap", "--topics", "/a", "/b", "-r", "2"])
    ['bag', 'play', 'x.mcap', '--topics', '/a', '--topics', '/b', '-r', '2']
    """
    out: list[str] = []
    flag = None  # the multi-topic option whose first value has been taken
    for k, word in enumerate(args):
        if flag is not None and word.startswith("/") and args[k - 1] != flag:
            out.append(flag)  # a further topic of the same option
        elif args[k - 1:k] != [flag] or flag is None:
            flag = None
        out.append(word)
        if word in MULTI:
            flag = word
    return out


if __name__ == "__main__":
    sys.exit(main())
