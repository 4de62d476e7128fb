"""`causalstream topic ...` and `causalstream bus` as subprocesses against a live bus."""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import zmq

from causalstream.stream import Endpoints
from causalstream.stream.bus.endpoints import configure_socket
from causalstream.stream.codec import SEP

from support import CLI, cli_env, run_cli, spawn_cli, stop


def test_pub_then_echo_once_json(bus: Endpoints) -> None:
    echo = spawn_cli("topic", "echo", "/features", "--once", "--json", endpoints=bus)
    pub = run_cli("topic", "pub", "/features", "Features", "{names: [a, b], values: [1.5, .nan]}",
                  "--times", "3", "--rate", "5", "--wait-subscriber", "10", endpoints=bus)
    assert pub.returncode == 0, pub.stderr
    out, err = echo.communicate(timeout=30)
    assert echo.returncode == 0, err
    doc = json.loads(out.strip().splitlines()[0])
    assert doc["names"] == ["a", "b"] and doc["values"][0] == 1.5 and doc["values"][1] is None  # NaN -> null


def test_echo_field_yaml(bus: Endpoints) -> None:
    echo = spawn_cli("topic", "echo", "/clock", "--count", "2", "--field", "stamp_ns", endpoints=bus)
    pub = run_cli("topic", "pub", "/clock", "Clock", "{stamp_ns: 12345}", "--times", "2", "--rate", "10",
                  "--wait-subscriber", "10", endpoints=bus)
    assert pub.returncode == 0, pub.stderr
    out, _ = echo.communicate(timeout=30)
    assert out.split("---") [:2] == ["12345\n...\n", "\n12345\n...\n"] or out.count("12345") == 2


def test_echo_says_it_is_waiting(bus: Endpoints) -> None:
    res = run_cli("topic", "echo", "/nobody/publishes/this", "--timeout", "1.5", endpoints=bus)
    assert res.returncode == 1
    assert "waiting for messages on /nobody/publishes/this" in res.stderr


def test_list_info_and_hz_see_a_live_publisher(bus: Endpoints) -> None:
    talker = spawn_cli("topic", "pub", "/features", "Features", "{names: [x], values: [1.0]}", "--rate", "20",
                       endpoints=bus)
    listener = spawn_cli("topic", "echo", "/features", "--json", endpoints=bus)
    try:
        time.sleep(1.0)
        listed = run_cli("topic", "list", "--wait", "2.5", endpoints=bus)
        assert listed.returncode == 0, listed.stderr
        row = next(line.strip() for line in listed.stdout.splitlines() if line.strip().startswith("/features"))
        assert row.split()[1:4] == ["Features", "1", "1"]
        assert "/bus/stats" not in listed.stdout  # the bus's own bookkeeping is hidden without --all
        # garbage on the topic: the echo process drops and counts it, `topic info` shows it
        raw = configure_socket(zmq.Context.instance().socket(zmq.PUB))
        raw.connect(bus.pub)
        time.sleep(0.5)
        for _ in range(25):
            raw.send(b"/features" + SEP + b"\xff\x00garbage")
        raw.close()
        time.sleep(1.5)
        info = run_cli("topic", "info", "/features", "--wait", "2.5", endpoints=bus)
        assert info.returncode == 0, info.stderr
        assert "Type: Features" in info.stdout and "Publisher count: 1" in info.stdout
        assert "Bad frames: 25" in info.stdout, info.stdout
        assert "dropped at full links 0" in info.stdout, info.stdout  # a local bus: the direct path
        hz = run_cli("topic", "hz", "/features", "--duration", "3", endpoints=bus)
        rates = [float(line.split(":")[1]) for line in hz.stdout.splitlines() if line.startswith("average rate")]
        assert rates and all(5.0 < r < 40.0 for r in rates), hz.stdout
    finally:
        stop(talker)
        stop(listener)


def test_info_says_which_path_a_publisher_is_on(bus: Endpoints) -> None:
    talker = subprocess.Popen(
        [*CLI, "topic", "pub", "/clock", "Clock", "{stamp_ns: 1}", "--rate", "20"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=cli_env(bus, {"CAUSALSTREAM_DIRECT": "0"}))  # the multi-host path, forced on a local bus
    try:
        time.sleep(1.5)
        info = run_cli("topic", "info", "/clock", "--wait", "2.5", endpoints=bus)
        assert "via the broker (its drops show as gaps)" in info.stdout and "full links" not in info.stdout, info.stdout
    finally:
        stop(talker)


def test_pub_with_a_bad_message_is_one_line_exit_2(bus: Endpoints) -> None:
    res = run_cli("topic", "pub", "/features", "Features", "{names: [a, b], values: [1.0]}", "--once", endpoints=bus)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "2 names but 1 values" in lines[0], res.stderr
    res = run_cli("topic", "pub", "/features", "Featurez", "{}", "--once", endpoints=bus)
    assert res.returncode == 2 and "unknown message type 'Featurez'" in res.stderr


def test_topic_pub_yaml_arrays_are_float64(bus: Endpoints) -> None:
    # the YAML path builds real numpy arrays (not lists) before anything is sent
    echo = spawn_cli("topic", "echo", "/agents/state", "--once", "--json", endpoints=bus)
    pub = run_cli("topic", "pub", "/agents/state", "AgentStates",
                  "{ids: [r], roles: [robot], x: [1], y: [2], vx: [0.5], vy: [0]}", "--times", "2",
                  "--wait-subscriber", "10", endpoints=bus)
    assert pub.returncode == 0, pub.stderr
    out, _ = echo.communicate(timeout=30)
    doc = json.loads(out.splitlines()[0])
    assert doc["x"] == [1.0] and np.isclose(doc["heading"][0], 0.0)
