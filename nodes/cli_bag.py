"""``causalstream bag record | play | info | export | import | recover``: MCAP logs, as ``ros2 bag``.

>>> import typer
>>> from typer.testing import CliRunner
>>> app = typer.Typer()
>>> register(app)
>>> result = CliRunner().invoke(app, ["bag", "--help"])
>>> all(cmd in result.output for cmd in ("record", "play", "info", "export", "import", "recover"))
True
"""

from __future__ import annotations

import datetime
import importlib
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from causalstream.stream import Endpoints, Player, Recorder
from causalstream.stream.bus.endpoints import ENV_VAR
from causalstream.stream.log.info import log_info
from causalstream.stream.log.recover import recover as recover_log

__all__ = ["register"]

bag_app = typer.Typer(
    help="Record the bus into MCAP logs, replay them, inspect, export, import and recover them.",
    no_args_is_help=True,
)
_OUT = Console(highlight=False)
_ERR = Console(stderr=True, highlight=False)
BusOpt = typer.Option(None, "--bus", envvar=ENV_VAR, help="Bus endpoint (default: $CAUSALSTREAM_BUS or loopback).")
TopicsOpt = typer.Option(None, "--topics", help="Only these topics (repeat the option or separate with commas).")


def _lazy(module: str) -> Any:
    """Export and import need pandas and rosbags (~0.5 s to import); every `causalstream`
    command loads this module, so they are imported only by the commands that use them."""
    return importlib.import_module(f"causalstream.stream.{module}")


def _topics(values: list[str] | None) -> list[str]:
    return [t for v in values or [] for t in v.split(",") if t]


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (what the launcher sends) and SIGINT, for a clean finish."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _when(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc).isoformat(timespec="milliseconds")


@bag_app.command()
def record(
    topics: list[str] = typer.Argument(None, metavar="[TOPIC]...", help="Topics to record."),
    all_topics: bool = typer.Option(False, "-a", "--all", help="Record every topic (except /bus/stats)."),
    output: Path = typer.Option(..., "-o", "--output", help="MCAP file to write, e.g. run.mcap."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: until Ctrl-C or SIGTERM)."),
    flush_interval: float = typer.Option(0.5, help="Seconds between flushes (chunk closed, file fsynced)."),
    compression: str = typer.Option("zstd", help="Chunk compression: zstd or none."),
    regex: str = typer.Option(None, "-e", "--regex", help="Also record every topic this regular expression matches."),
    exclude_regex: str = typer.Option(None, "-x", "--exclude-regex", help="Leave out topics this expression matches."),
    exclude_topics: list[str] = typer.Option(None, "--exclude-topics", help="Leave out these topics: --exclude-topics /a /b (or commas)."),
    max_bag_size: int = typer.Option(0, help="Split into NAME_0.mcap, NAME_1.mcap, ... at about this many bytes (0: never)."),
    max_bag_duration: float = typer.Option(0.0, help="Split into numbered files every this many seconds (0: never)."),
    foxglove: bool = typer.Option(False, "--foxglove", help="Write what Foxglove / Lichtblick open: JSON topics and the live view's channels (decodes every message)."),
    bus: str = BusOpt,
) -> None:
    """Record topics of the bus into an MCAP file (zstd chunks, one schema per type).

    By default the messages are stored as they travelled (msgpack, the fast path; `bag export
    --format foxglove` converts later); with --foxglove the file opens in Foxglove and Lichtblick.

    The file is flushed every --flush-interval seconds, so if the recorder is killed at most
    that much is lost: `causalstream bag recover FILE` salvages the rest.

    Example: `causalstream bag record -e "^/agents" -x "debug$" --max-bag-duration 60 -o run.mcap`
    """
    if all_topics + bool(topics or regex) != 1:
        raise typer.BadParameter("give topics to record (or -e REGEX), or -a for all topics (not both)")
    for name, pattern in (("--regex", regex), ("--exclude-regex", exclude_regex)):
        try:
            re.compile(pattern or "")
        except re.error as exc:
            raise typer.BadParameter(f"{name} {pattern!r} is not a regular expression: {exc}") from None
    stop = _stop_on_signals()
    rec = Recorder(output, None if all_topics else topics, endpoints=Endpoints.from_env(bus),
                   flush_interval=flush_interval, compression=compression, regex=regex, exclude_regex=exclude_regex,
                   exclude_topics=_topics(exclude_topics), max_bag_size=max_bag_size, max_bag_duration=max_bag_duration,
                   foxglove=foxglove)
    what = ", ".join([*(topics or []), *([f"/{regex}/"] if regex else [])]) or "all topics"
    try:
        rec.wait_ready(10.0)
        _ERR.print(f"recording {what} into {output}")
        rec.run(duration=duration or None, stop=stop)
    finally:
        rec.close()
    files = ", ".join(rec.paths)
    _ERR.print(f"recorded {rec.count} messages into {files} ({rec.bad_frames} bad frames dropped)")


@bag_app.command()
def play(
    path: Path = typer.Argument(..., help="MCAP log to replay."),
    rate: float = typer.Option(1.0, "--rate", "-r", help="Speed factor; 0 publishes as fast as the bus takes it."),
    loop: bool = typer.Option(False, "--loop", "-l", help="Start over at the end, until Ctrl-C."),
    start_offset: float = typer.Option(0.0, "--start-offset", "-s", help="Skip this many seconds of the log."),
    topics: list[str] = TopicsOpt,
    clock: bool = typer.Option(False, "--clock", help="Publish the log time on /clock (sim time); `--clock HZ` at HZ (default 100)."),
    clock_hz: float = typer.Option(100.0, "--clock-hz", hidden=True, help="/clock messages per second of log time."),
    wait_subscribers: float = typer.Option(None, help="Seconds to wait for subscribers first (default 5 at rate 0, else 0.5)."),
    delay: float = typer.Option(0.0, "--delay", "-d", help="Then wait this many seconds more before the first message."),
    playback_duration: float = typer.Option(None, "--playback-duration", help="Play only this many seconds of the log."),
    bus: str = BusOpt,
) -> None:
    """Replay a log on the bus with its original timing, scaled by --rate.

    Latched topics (/causal/graph ...) get their last value before --start-offset re-sent
    first. With --rate 0 nothing is dropped on the player's side: it waits for subscribers
    and blocks when the bus is full. A damaged log is refused with a hint to recover it.
    """
    stop = _stop_on_signals()
    with Player(path, endpoints=Endpoints.from_env(bus), rate=rate, loop=loop, start_offset=start_offset,
                topics=_topics(topics), clock=clock, clock_hz=clock_hz, wait_subscribers=wait_subscribers,
                delay=delay, duration=playback_duration) as player:
        if not sys.stderr.isatty():
            stats = player.run(stop=stop)
        else:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                          TextColumn("{task.fields[at]:.1f} / {task.fields[span]:.1f} s"),
                          TimeRemainingColumn(), console=_ERR) as bar:
                task = bar.add_task(Path(path).name, total=1.0, at=0.0, span=0.0)

                def show(done: int, total: int) -> None:
                    bar.update(task, completed=done / total if total else 1.0, at=done / 1e9, span=total / 1e9)

                stats = player.run(progress=show, stop=stop)
    _ERR.print(f"published {stats.messages} messages in {stats.seconds:.2f} s ({stats.loops} pass(es))")


@bag_app.command()
def info(
    paths: list[Path] = typer.Argument(..., help="MCAP logs to describe."),
    topic_names: bool = typer.Option(False, "-t", "--topic-name", help="Only the topic names, one a line."),
) -> None:
    """Duration, start and end, topics with types, counts and rates, compression (of each log).

    A truncated or damaged file is reported with how many messages are readable.
    """
    for k, path in enumerate(paths):
        if topic_names:
            for t in log_info(path).topics:
                _OUT.print(t.topic)
            continue
        if k:
            _OUT.print()
        _info(path)


def _info(path: Path) -> None:
    li = log_info(path)
    _OUT.print(f"Files:        {li.path}")
    _OUT.print(f"Size:         {li.size_bytes / 1e6:.3f} MB")
    _OUT.print(f"Written by:   {li.library}")
    _OUT.print(f"Duration:     {li.duration_s:.3f} s")
    _OUT.print(f"Start:        {_when(li.start_ns)} ({li.start_ns} ns)")
    _OUT.print(f"End:          {_when(li.end_ns)} ({li.end_ns} ns)")
    _OUT.print(f"Messages:     {li.messages}")
    ratio = li.uncompressed_bytes / li.compressed_bytes if li.compressed_bytes else 1.0
    kinds = ", ".join(f"{k}: {n}" for k, n in li.compression.items()) or "none"
    _OUT.print(f"Chunks:       {li.chunks} ({kinds}); {li.uncompressed_bytes / 1e6:.3f} MB -> "
               f"{li.compressed_bytes / 1e6:.3f} MB, ratio {ratio:.1f}")
    table = Table("topic", "type", "messages", "rate (Hz)", "encoding", box=None)
    for t in li.topics:
        table.add_row(t.topic + ("  (latched)" if t.latched else "") + ("  (view)" if t.view else ""), t.type_name, str(t.count),
                      f"{t.rate_hz:.2f}", t.encoding)
    _OUT.print(table)


@bag_app.command()
def export(
    path: Path = typer.Argument(..., help="MCAP log to export."),
    fmt: str = typer.Option(..., "--format", "-f", help="One of: csv, parquet, jsonl, mcap-json, foxglove."),
    topics: list[str] = TopicsOpt,
    output: Path = typer.Option(None, "-o", "--output", help="File (or folder, for several csv/parquet tables)."),
) -> None:
    """Export a log: csv or parquet tables (one per topic), jsonl, or an MCAP file for Foxglove / Lichtblick.

    Tables: Features give one column per variable; AgentStates one row per agent; graphs one
    row per link. foxglove writes what the live view shows (`causalstream view`): every topic as
    JSON with a JSON Schema the viewers parse, plus the scene, the graph picture and the links
    table; mcap-json the topics' JSON alone. A damaged log exports what reads; the loss is said.
    """
    report = _lazy("log.export").export_log(path, fmt, _topics(topics), output)
    for written in report.files:
        _ERR.print(f"wrote {written} ({report.messages} messages)")
    for problem in report.problems:
        _ERR.print(f"warning: {problem}")


@bag_app.command("import")
def import_(
    source: Path = typer.Argument(..., help="File (or ROS 2 bag folder) to import."),
    output: Path = typer.Option(..., "-o", "--output", help="MCAP file to write."),
    kind: str = typer.Option(..., "--from", help="Source format: csv (also Parquet), eth-ucy, rosbag."),
    topic: str = typer.Option(None, help="Topic to write (default /features for csv, /agents/state otherwise)."),
    time_column: str = typer.Option(None, help="csv: the time column (default: time, t, stamp or timestamp)."),
    time_unit: str = typer.Option(None, help="csv: unit of the time column: s, ms, us, ns (default: guess)."),
    agent_by: str = typer.Option(None, help="rosbag: name agents by 'topic' (default) or 'frame'."),
    frame: str = typer.Option(None, help="rosbag: bring every pose into this frame, e.g. map, by /tf and /tf_static."),
    rate: float = typer.Option(None, help="csv without a time column: rows per second (row k at START + k / RATE)."),
    start: float = typer.Option(0.0, help="csv with --rate: the first row's time, in seconds."),
) -> None:
    """Import a CSV/Parquet table, ETH/UCY trajectories or a ROS 1/2 bag into an MCAP log.

    csv: each numeric column becomes a Features variable. eth-ucy: frame ped_id x y text at
    2.5 Hz -> AgentStates with finite-difference velocities. rosbag: Odometry, PoseStamped,
    PoseWithCovarianceStamped, TwistStamped -> AgentStates; other types are listed and skipped.
    """
    importer = _lazy("importers").get_importer(kind, topic=topic, time_column=time_column, time_unit=time_unit,
                                               agent_by=agent_by, rate=rate, start=start, frame=frame)
    result = importer.run(source, output)
    for what in result.skipped:
        _ERR.print(f"skipped: {what}")
    counts = ", ".join(f"{t}: {n}" for t, n in result.per_topic.items())
    _ERR.print(f"imported {result.messages} messages into {output} ({counts})")


@bag_app.command()
def recover(
    path: Path = typer.Argument(..., help="Unfinished or damaged MCAP file."),
    output: Path = typer.Option(None, "-o", "--output", help="Where to write (default: NAME.recovered.mcap)."),
) -> None:
    """Salvage a log whose recorder was killed: every message up to the first damaged record.

    Chunks are read in file order until one is truncated or fails its CRC; everything before
    is written into a new, finished MCAP file.
    """
    out = output or path.with_suffix(".recovered.mcap")
    result = recover_log(path, out)
    why = "the file was complete" if result.complete else f"stopped at: {result.stopped_because}"
    _ERR.print(f"recovered {result.messages} messages into {out} ({why})")


def register(app: typer.Typer) -> None:
    """Add the ``bag`` command group to the root app."""
    app.add_typer(bag_app, name="bag")
