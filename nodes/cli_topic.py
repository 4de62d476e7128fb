"""``causalstream topic list | echo | hz | bw | delay | info | type | find | pub``: the bus, as ``ros2 topic``.

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer()
>>> register(app)
>>> result = CliRunner().invoke(app, ["topic", "--help"])
>>> all(cmd in result.output for cmd in ("list", "echo", "hz", "bw", "delay", "info", "type", "find", "pub"))
True
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from causalstream.nodes.errors import CausalstreamError, NodeError
from causalstream.nodes.graph_view import echo_notes
from causalstream.stream import Endpoints, Publisher, Subscriber
from causalstream.stream.codec import from_builtins, message_type, to_builtins, to_json
from causalstream.stream.bus.endpoints import ENV_VAR
from causalstream.stream.messages import BusStats, CausalGraph
from causalstream.stream.bus.topics import STATS_TOPIC

__all__ = ["register", "collect_stats", "latest_by", "pick_field"]

topic_app = typer.Typer(help="Inspect topics on the bus: list, echo, hz, bw, delay, info, type, find, pub.", no_args_is_help=True)
_OUT = Console(highlight=False)
_ERR = Console(stderr=True, highlight=False)
BusOpt = typer.Option(None, "--bus", envvar=ENV_VAR, help="Bus endpoint (default: $CAUSALSTREAM_BUS or loopback).")


def latest_by(topic: str, key: Callable[[Any], str], endpoints: Endpoints, seconds: float) -> dict[str, tuple[Any, float]]:
    """Listen to ``topic`` for ``seconds``; the last message per ``key(message)``, with when it came.

    >>> from causalstream.stream import Broker
    >>> with Broker(Endpoints.parse("inproc://doc-latest")) as b:
    ...     latest_by("/node/status", lambda m: m.name, b.endpoints, 0.1)
    {}
    """
    latest: dict[str, tuple[Any, float]] = {}
    with Subscriber(topic, endpoints=endpoints) as sub:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            got = sub.recv(timeout=left)
            if got is not None:
                latest[key(got.message)] = (got.message, time.monotonic())
    return latest


def collect_stats(endpoints: Endpoints, seconds: float) -> list[BusStats]:
    """The latest BusStats of every process heard from within ``seconds``.

    >>> from causalstream.stream import Broker
    >>> import os
    >>> with Broker(Endpoints.parse("inproc://doc-collect")) as b:  # only this process can be on it
    ...     all(stats.pid == os.getpid() for stats in collect_stats(b.endpoints, 0.1))
    True
    """
    return [msg for msg, _ in latest_by(STATS_TOPIC, lambda m: m.participant, endpoints, seconds).values()]


def pick_field(data: Any, path: str) -> Any:
    """Walk ``a.b.0`` into nested dicts and lists; raises NodeError naming the missing part.

    >>> pick_field({"a": {"b": [10, 20]}}, "a.b.1")
    20
    """
    for part in filter(None, path.split(".")):
        try:
            data = data[int(part)] if isinstance(data, list) else data[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise NodeError("topic echo", f"no field {part!r} in {path!r}") from None
    return data


@topic_app.command("list")
def list_topics(
    wait: float = typer.Option(1.5, help="Seconds to listen for the participants' reports."),
    show_all: bool = typer.Option(False, "--all", "-a", help="Also show the bus's own topic, /bus/stats."),
    bus: str = BusOpt,
) -> None:
    """List topics with their type, publishers, subscribers, publish rate and durability.

    Every process on the bus reports its publishers and subscribers on /bus/stats once a
    second; this listens for `--wait` seconds and shows what it heard. Type and latched are
    what the publishers declared (their registrations), else what subscribers saw.
    """
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"type": "", "pubs": 0, "subs": 0, "hz": 0.0,
                                                           "latched": False})
    for stats in collect_stats(Endpoints.from_env(bus), wait):
        for t in stats.topics:
            if t.topic == STATS_TOPIC and not show_all:
                continue
            row = rows[t.topic]
            if t.role == "pub" or not row["pubs"]:
                row["type"] = t.type_name if t.role == "pub" else row["type"] or t.type_name
            row["pubs" if t.role == "pub" else "subs"] += 1
            if t.role == "pub":
                row["hz"] += t.rate_hz
            row["latched"] = row["latched"] or t.latched
    if not rows:
        _ERR.print(f"no topics heard from in {wait:.1f} s (is a bus running at {Endpoints.from_env(bus).pub}?)")
        raise typer.Exit(1)
    table = Table("topic", "type", "publishers", "subscribers", "rate (Hz)", "latched", box=None)
    for name in sorted(rows):
        r = rows[name]
        table.add_row(name, r["type"], str(r["pubs"]), str(r["subs"]), f"{r['hz']:.1f}", "yes" if r["latched"] else "no")
    _OUT.print(table)


@topic_app.command()
def echo(
    topic: str = typer.Argument(..., help="Topic to print, e.g. /causal/graph."),
    once: bool = typer.Option(False, "--once", help="Print one message and exit."),
    count: int = typer.Option(0, "--count", "-n", help="Exit after this many messages (0: never)."),
    field: str = typer.Option("", "--field", help="Print only this field, e.g. values or window.n_samples."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of YAML documents."),
    timeout: float = typer.Option(0.0, help="Give up after this many seconds without a message (0: wait forever)."),
    bus: str = BusOpt,
) -> None:
    """Print messages of a topic as they arrive (YAML documents, or JSON lines with --json).

    Latched topics (/causal/graph, /sim/ground_truth) print their last message at once.
    A CausalGraph's link_status prints as names (untested, tested, deterministic, insufficient,
    assumed; --json keeps the message's codes), and comments under it give the graph's status
    line and the meaning of its PAG marks (<->, o->, o-o, x-x).
    """
    limit = 1 if once else count
    shown = 0
    waited_note = False
    start = time.monotonic()
    with Subscriber(topic, endpoints=Endpoints.from_env(bus)) as sub:
        while not limit or shown < limit:
            got = sub.recv(timeout=1.0)
            if got is None:
                if not waited_note:
                    _ERR.print(f"waiting for messages on {topic} ...")
                    waited_note = True
                if timeout and time.monotonic() - start > timeout:
                    raise typer.Exit(1)
                continue
            if got.message is None:  # a raw subscriber's; this one decodes
                continue
            data = to_builtins(got.message)
            graph = got.message if isinstance(got.message, CausalGraph) else None
            if graph is not None:
                data["link_status"] = graph.statuses().tolist() if graph.link_status.size else []
            if field:
                data = pick_field(data, field)
            if as_json:
                out = to_json(got.message).decode() if not field else json.dumps(data)
                sys.stdout.write(out + "\n")
            else:
                notes = "".join(line + "\n" for line in echo_notes(graph)) if graph is not None and not field else ""
                sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=None) + notes + "---\n")
            sys.stdout.flush()
            shown += 1
            start = time.monotonic()


@topic_app.command()
def hz(
    topic: str = typer.Argument(..., help="Topic to measure."),
    window: int = typer.Option(100, "--window", "-w", help="Number of recent messages the statistics cover."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: until Ctrl-C)."),
    bus: str = BusOpt,
) -> None:
    """Print the receive rate of a topic once a second: average, min/max interval, std dev."""
    stamps: list[float] = []
    end = time.monotonic() + duration if duration else float("inf")
    next_print = time.monotonic() + 1.0
    with Subscriber(topic, endpoints=Endpoints.from_env(bus)) as sub:
        while time.monotonic() < end:
            got = sub.recv(timeout=0.1)
            now = time.monotonic()
            if got is not None:
                stamps = (stamps + [now])[-(window + 1):]
            if now >= next_print:
                next_print = now + 1.0
                if len(stamps) < 2:
                    _ERR.print(f"no new messages on {topic}")
                    continue
                gaps = [b - a for a, b in zip(stamps, stamps[1:])]
                mean = sum(gaps) / len(gaps)
                _OUT.print(
                    f"average rate: {1.0 / mean:.3f}\n"
                    f"\tmin: {min(gaps):.4f}s max: {max(gaps):.4f}s std dev: {statistics.pstdev(gaps):.5f}s window: {len(gaps)}"
                )


def _every_second(topic: str, bus: str | None, duration: float, window: int,
                  sample: Callable[[Any], float], show: Callable[[list[float], float], str]) -> None:
    """Once a second, ``show(last window samples, seconds they span)`` of ``sample(received)`` on a raw subscriber."""
    got_at: list[tuple[float, float]] = []
    end = time.monotonic() + duration if duration else float("inf")
    next_print = time.monotonic() + 1.0
    with Subscriber(topic, endpoints=Endpoints.from_env(bus), raw=True) as sub:
        while time.monotonic() < end:
            got = sub.recv(timeout=0.1)
            now = time.monotonic()
            if got is not None:
                got_at = (got_at + [(now, sample(got))])[-window:]
            if now >= next_print:
                next_print = now + 1.0
                if not got_at:
                    _ERR.print(f"no new messages on {topic}")
                    continue
                _OUT.print(show([v for _, v in got_at], now - got_at[0][0]))


@topic_app.command()
def bw(
    topic: str = typer.Argument(..., help="Topic to measure."),
    window: int = typer.Option(100, "--window", "-w", help="Number of recent messages the statistics cover."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: until Ctrl-C)."),
    bus: str = BusOpt,
) -> None:
    """Print the bandwidth a topic uses once a second: bytes per second and message sizes (payloads)."""
    def show(sizes: list[float], span: float) -> str:
        rate = sum(sizes) / span if span > 0 else 0.0
        return (f"{rate / 1000:.2f} KB/s from {len(sizes)} messages\n\tMessage size mean: "
                f"{statistics.fmean(sizes) / 1000:.2f} KB min: {min(sizes) / 1000:.2f} KB max: {max(sizes) / 1000:.2f} KB")
    _every_second(topic, bus, duration, window, lambda got: float(len(got.envelope.payload)), show)


@topic_app.command()
def delay(
    topic: str = typer.Argument(..., help="Topic to measure."),
    window: int = typer.Option(100, "--window", "-w", help="Number of recent messages the statistics cover."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: until Ctrl-C)."),
    bus: str = BusOpt,
) -> None:
    """Print once a second how old messages are on arrival: receive time minus their stamp (wall clock)."""
    def show(delays: list[float], _span: float) -> str:
        return (f"average delay: {statistics.fmean(delays):.3f}\n\tmin: {min(delays):.3f}s max: {max(delays):.3f}s "
                f"std dev: {statistics.pstdev(delays):.5f}s window: {len(delays)}")
    _every_second(topic, bus, duration, window, lambda got: (time.time_ns() - got.envelope.stamp_ns) / 1e9, show)


def _types(endpoints: Endpoints, wait: float) -> dict[str, set[str]]:
    """Topic -> the type names its participants reported (publishers' first)."""
    found: dict[str, set[str]] = defaultdict(set)
    for stats in collect_stats(endpoints, wait):
        for t in stats.topics:
            if t.type_name and t.topic != STATS_TOPIC:
                found[t.topic].add(t.type_name)
    return found


@topic_app.command("type")
def type_(
    topic: str = typer.Argument(..., help="Topic whose type to print."),
    wait: float = typer.Option(1.5, help="Seconds to listen for the participants' reports."),
    bus: str = BusOpt,
) -> None:
    """Print a topic's message type, e.g. `causalstream topic type /agents/state` -> AgentStates."""
    names = _types(Endpoints.from_env(bus), wait).get(topic)
    if not names:
        raise NodeError("topic type", f"no participant reported {topic} within {wait} s")
    for name in sorted(names):
        _OUT.print(name)


@topic_app.command()
def find(
    type_name: str = typer.Argument(..., metavar="TYPE", help="Message type, e.g. AgentStates."),
    wait: float = typer.Option(1.5, help="Seconds to listen for the participants' reports."),
    bus: str = BusOpt,
) -> None:
    """Print the topics of a message type, one a line, e.g. `causalstream topic find Features`."""
    wanted = message_type(type_name).__name__
    for topic, names in sorted(_types(Endpoints.from_env(bus), wait).items()):
        if wanted in names:
            _OUT.print(topic)


@topic_app.command()
def info(
    topic: str = typer.Argument(..., help="Topic to describe."),
    wait: float = typer.Option(1.5, help="Seconds to listen for the participants' reports."),
    bus: str = BusOpt,
) -> None:
    """Show a topic's type and durability, publishers and subscribers, with drops (gaps) and bad frames.

    Type and latched are what the publishers declared (their registrations); with no
    publisher heard from, what the subscribers got.
    """
    pubs, subs = [], []
    for stats in collect_stats(Endpoints.from_env(bus), wait):
        for t in stats.topics:
            if t.topic == topic:
                (pubs if t.role == "pub" else subs).append((stats, t))
    declared = [t for _, t in pubs] or [t for _, t in subs]
    type_name = next((t.type_name for t in declared if t.type_name), "?")
    _OUT.print(f"Type: {type_name}{'  (latched)' if any(t.latched for t in declared) else ''}")
    _OUT.print(f"Publisher count: {len(pubs)}")
    for stats, t in pubs:
        durability = "latched, " if t.latched else ""
        # on the broker path ZeroMQ drops where we cannot count: those losses show as subscribers' gaps
        drops = f"dropped at full links {t.link_drops}" if t.path != "broker" else "via the broker (its drops show as gaps)"
        _OUT.print(f"  {stats.node or '-'} (pid {stats.pid}): {durability}{t.messages} sent, {t.rate_hz:.1f} Hz, {drops}")
    _OUT.print(f"Subscription count: {len(subs)}")
    for stats, t in subs:
        _OUT.print(
            f"  {stats.node or '-'} (pid {stats.pid}): {t.messages} received, {t.rate_hz:.1f} Hz, "
            f"gaps {t.gaps}, bad frames {t.bad}, duplicates {t.duplicates}"
        )
    total_bad = sum(t.bad for _, t in subs)
    _OUT.print(f"Drops: {sum(t.gaps for _, t in subs)}  Bad frames: {total_bad}")


@topic_app.command()
def pub(
    topic: str = typer.Argument(..., help="Topic to publish on."),
    type_name: str = typer.Argument(..., metavar="TYPE", help="Message type, e.g. Features or Clock."),
    values: str = typer.Argument("{}", metavar="YAML", help=escape("Message fields as YAML, e.g. '{names: [a], values: [1.0]}'.")),
    rate: float = typer.Option(1.0, "--rate", "-r", help="Publishing rate in Hz."),
    times: int = typer.Option(0, "--times", "-t", help="Publish this many times, then exit (0: until Ctrl-C)."),
    once: bool = typer.Option(False, "--once", "-1", help="Publish one message and exit (same as --times 1)."),
    keep_alive: float = typer.Option(0.2, help="Seconds to stay up after the last message, so it is delivered."),
    wait_subscriber: float = typer.Option(0.0, help="First wait up to this many seconds for a subscriber."),
    latched: bool = typer.Option(False, "--latched", help="Declare the topic latched: late subscribers get the last message."),
    bus: str = BusOpt,
) -> None:
    """Publish a message built from YAML, at a rate, a number of times or once.

    The message is validated before anything is sent: a wrong field or shape is one error
    line and exit status 2. Stamps are the wall clock unless the YAML sets stamp_ns.
    """
    try:
        data = yaml.safe_load(values) or {}
    except yaml.YAMLError as exc:
        raise NodeError("topic pub", f"YAML does not parse: {exc}".replace("\n", " ")) from None
    msg_cls = message_type(type_name)
    msg = from_builtins(msg_cls.__name__, data)
    limit = 1 if once else times
    with Publisher(topic, msg_cls, endpoints=Endpoints.from_env(bus), latched=latched or None) as publisher:
        publisher.wait_ready(5.0)
        if wait_subscriber:
            try:
                publisher.wait_for_subscriber(wait_subscriber)
            except CausalstreamError:
                _ERR.print(f"no subscriber on {topic} yet; publishing anyway")
        sent = 0
        period = 1.0 / rate if rate > 0 else 0.0
        next_t = time.monotonic()
        while not limit or sent < limit:
            stamp = msg.stamp_ns if "stamp_ns" in data else time.time_ns()
            publisher.publish(msg, stamp_ns=stamp)
            sent += 1
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        time.sleep(keep_alive)
    _ERR.print(f"published {sent} message(s) on {topic}")


def register(app: typer.Typer) -> None:
    """Add the ``topic`` command group to the root app."""
    app.add_typer(topic_app, name="topic")
