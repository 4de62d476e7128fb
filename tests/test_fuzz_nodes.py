"""Every subscriber on the bus survives malformed frames, counts them, and carries on.

One subject per registered node kind (``registry.available_kinds()``, so a new kind is
fuzzed the day it is registered) plus the CLI's ``topic echo``. Each runs as a real process
on its own broker. A raw socket learns the topics the subject subscribed to from the wire
(see ``fuzzing.Fuzzer``), then sends, on each of them: valid messages, garbage, truncated
frames, unknown and wrong types, wrong envelope fields, two 50 MB frames, NaN/inf fields,
stamps out of order, a duplicate and a sequence gap, then valid messages again. The
subject must still be alive, still doing its work (``in`` and ``out`` counters moving, or
lines printed), and must have counted the bad frames and the gap in its heartbeat on
``/node/status`` and in ``causalstream topic info``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from causalstream.nodes.registry import available_kinds
from causalstream.stream import Broker, Endpoints, Subscriber
from causalstream.stream.codec import encode_frame
from causalstream.stream.messages import NodeStatus

from fuzzing import Fuzzer, is_typed, malformed, odd_but_valid, sample, type_of, wrong_type
from support import CLI, cli_env, free_port_pair, run_cli

ECHO = "topic_echo"
SUBJECTS = [*available_kinds(), ECHO]
# Params a kind needs to run quickly in a test (everything else: its defaults).
KIND_PARAMS: dict[str, dict[str, object]] = {
    "talker": {"rate_hz": 5},
    "foxglove": {"port": 0},  # any free port (the contract tests use the default)
    "recorder": {"path": "$TMP/fuzz.mcap"},
    "discovery": {"window": 30, "min_samples": 4, "tau_max": 1},  # a graph from the 4th sample on
    "predictor": {"step_s": 0.05},  # history steps as fast as the samples: predictions during warm-up
}
# Kinds that store payloads without decoding them (by design): a frame is bad for them only
# if its envelope is; a wrong payload or type goes into the log as it travelled.
PAYLOAD_BLIND = {"recorder"}
WARMUP, AFTER = 10, 10
ANY_TOPIC = ["/features", "/fuzz/anything"]  # what a subscriber to every topic is fuzzed on


@dataclass
class Subject:
    """One process under fuzz, on its own broker, with what the test saw of it."""

    name: str
    broker: Broker
    fuzzer: Fuzzer
    watch: Subscriber
    proc: subprocess.Popen | None = None
    inputs: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    status: dict[str, NodeStatus] = field(default_factory=dict)  # phase -> last heartbeat then
    expected_bad: int = 0
    bad_per_topic: dict[str, int] = field(default_factory=dict)
    expected_gaps: int = 0
    alive_after: bool = False
    exit_code: int | None = None
    info: str = ""

    @property
    def endpoints(self) -> Endpoints:
        return self.broker.endpoints

    def latest_status(self, seconds: float, until: Callable[[NodeStatus], bool] | None = None) -> NodeStatus | None:
        """Listen to /node/status for ``seconds``; the last heartbeat of this subject's node
        (or the first for which ``until`` holds)."""
        last = None
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            got = self.watch.recv(timeout=left)
            if got is not None and isinstance(got.message, NodeStatus) and got.message.name == "/fz":
                last = got.message
                if until is not None and until(last):
                    break
        return last


def _start(name: str, tmp: Path) -> Subject:
    broker = Broker(Endpoints.parse(f"tcp://127.0.0.1:{free_port_pair()}")).start()
    fuzzer = Fuzzer(broker.endpoints)
    watch = Subscriber("/node/status", endpoints=broker.endpoints).wait_ready(5)
    deadline = time.monotonic() + 10
    while "/node/status" not in fuzzer.listen(0.2):  # the fuzzer hears subscriptions: ready
        assert time.monotonic() < deadline, "the fuzzer never heard the broker"
    fuzzer.subscriptions.clear()
    subject = Subject(name, broker, fuzzer, watch)
    if name == ECHO:
        cmd = [*CLI, "topic", "echo", "/features", "--json"]
    else:
        params = {**KIND_PARAMS.get(name, {})}
        cmd = [*CLI, "run", name, "--name", "fz"]
        for key, value in params.items():
            cmd += ["--param", f"{key}={value}".replace("$TMP", str(tmp))]
    env = cli_env(broker.endpoints, {"PYTHONFAULTHANDLER": "1"})
    subject.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
    threading.Thread(target=lambda: [subject.lines.append(line) for line in subject.proc.stdout], daemon=True).start()
    return subject


def _discover_inputs(s: Subject) -> None:
    """Wait until the subject runs (heartbeat, or for echo its subscription); keep its topics."""
    deadline = time.monotonic() + 60
    if s.name == ECHO:
        while not s.fuzzer.listen(0.2):
            assert time.monotonic() < deadline and s.proc.poll() is None, "".join(s.lines)
    else:
        while (st := s.latest_status(0.5)) is None or st.state != "running":
            assert time.monotonic() < deadline and s.proc.poll() is None, "".join(s.lines)
    topics = s.fuzzer.listen(0.5)
    s.inputs = sorted(ANY_TOPIC if "" in topics else topics)


def _valid(s: Subject, first: int, n: int, publisher: str) -> None:
    for topic in s.inputs:
        s.fuzzer.send([encode_frame(topic, sample(type_of(topic), first + i), i, publisher) for i in range(n)],
                      pause=0.01)


def _fuzz(s: Subject, rng: np.random.Generator) -> None:
    for topic in s.inputs:
        blind = s.name in PAYLOAD_BLIND
        bad = malformed(topic, rng, not blind) + ([wrong_type(topic)] if is_typed(topic) and not blind else [])
        odd, gap = odd_but_valid(topic, start_seq=WARMUP, publisher="fuzz/good")
        s.fuzzer.send(bad, pause=0.02)
        s.fuzzer.send(odd, pause=0.01)
        s.expected_bad += len(bad)
        s.bad_per_topic[topic] = len(bad)
        s.expected_gaps += gap


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Subject]]:
    """Start every subject at once, fuzz them all, stop them; the tests read the results."""
    tmp = tmp_path_factory.mktemp("fuzz")
    # A background job (`make test &`) inherits SIGINT ignored, and so would `topic echo` (Python
    # keeps an inherited SIG_IGN); with a handler here, the children start with the default.
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    subjects = {name: _start(name, tmp) for name in SUBJECTS}
    signal.signal(signal.SIGINT, previous)
    try:
        for s in subjects.values():
            _discover_inputs(s)
        rng = np.random.default_rng(8)
        for s in subjects.values():
            _valid(s, 0, WARMUP, "fuzz/good")
        for s in subjects.values():
            s.status["warm"] = s.latest_status(1.2) if s.name != ECHO else None
        for s in subjects.values():
            _fuzz(s, rng)
            _valid(s, 100, AFTER, "fuzz/after")
        time.sleep(1.0)
        infos = {name: subprocess.Popen([*CLI, "topic", "info", s.inputs[0], "--wait", "2.5"], env=cli_env(s.endpoints),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for name, s in subjects.items() if s.inputs}
        for s in subjects.values():  # a heartbeat that has seen everything sent (else the last one in 10 s)
            s.status["after"] = s.latest_status(10, _saw_everything(s)) if s.name != ECHO else None
        for name, proc in infos.items():
            subjects[name].info = proc.communicate(timeout=60)[0]
        for s in subjects.values():
            s.alive_after = s.proc.poll() is None
            if s.alive_after:
                os.killpg(s.proc.pid, signal.SIGINT)
        for s in subjects.values():
            try:
                s.exit_code = s.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:  # hung: SIGABRT makes faulthandler print every thread's stack
                os.killpg(s.proc.pid, signal.SIGABRT)
                time.sleep(2)
                os.killpg(s.proc.pid, signal.SIGKILL)
                s.exit_code = s.proc.wait()
        yield subjects
    finally:
        for s in subjects.values():
            if s.proc is not None and s.proc.poll() is None:
                os.killpg(s.proc.pid, signal.SIGKILL)
            s.fuzzer.close()
            s.watch.close()
            s.broker.close()


def _saw_everything(s: Subject) -> Callable[[NodeStatus], bool]:
    """True for a heartbeat counting every valid message sent after the fuzz, every bad frame
    and every gap. All three: a node that subscribes to every topic (the recorder) also counts
    its own heartbeats in ``in``, so ``in`` alone can be reached while two 50 MB frames are
    still on their way (CI once took that heartbeat: bad 9 of 18)."""
    warm = s.status["warm"]
    want = (warm.counters["in"] if warm is not None else 0) + AFTER * len(s.inputs)
    return lambda status: (status.counters["in"] >= want and status.counters["bad"] >= s.expected_bad
                           and status.counters["gaps"] >= s.expected_gaps)


def _bad_frames_in_info(info: str) -> int:
    m = re.search(r"Bad frames: (\d+)", info)
    assert m is not None, info
    return int(m.group(1))


@pytest.mark.parametrize("name", SUBJECTS)
def test_subscriber_survives_malformed_frames(fuzzed: dict[str, Subject], name: str) -> None:
    s = fuzzed[name]
    out = "".join(s.lines)
    assert s.alive_after, f"{name} died under fuzz:\n{out}"
    clean = (0, 130) if name == ECHO else (0,)  # Ctrl-C ends `topic echo` with 130, as a shell expects
    assert s.exit_code in clean, f"{name} did not stop cleanly after the fuzz ({s.exit_code}):\n{out}"
    assert "Traceback" not in out, out
    if not s.inputs:  # a pure source (talker, sim, replay...): nothing to fuzz, but it ran
        assert name != ECHO and s.status["after"] is not None and s.status["after"].counters["bad"] == 0
        return
    bad = _bad_frames_in_info(s.info)
    assert bad >= s.bad_per_topic[s.inputs[0]], f"topic info on {s.inputs[0]} shows {bad} bad frames:\n{s.info}"
    if name == ECHO:
        echoed = [line for line in s.lines if line.startswith("{")]
        assert len(echoed) >= WARMUP + AFTER, out  # the valid ones before and after the fuzz
        return
    warm, after = s.status["warm"], s.status["after"]
    assert warm is not None and after is not None and after.state == "running"
    assert after.counters["bad"] >= s.expected_bad, after.counters
    assert after.counters["gaps"] >= s.expected_gaps, after.counters
    assert after.counters["in"] >= warm.counters["in"] + AFTER * len(s.inputs), (warm.counters, after.counters)
    if warm.counters["out"] > 0:  # it was producing output before the fuzz: it still is
        assert after.counters["out"] > warm.counters["out"], (warm.counters, after.counters)
