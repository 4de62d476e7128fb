"""The contract of every node kind under MockNode, with inputs: the recorder and replay included.

Each kind is first run briefly to learn the topics it subscribes to; then every one of them
is fed a series of valid messages of the topic's type (tests/fuzzing.py's ``sample``), and
the node must take every one (``in``), refuse none (``bad``), stop cleanly and exit 0. The
recorder and replay go through the node transport too (raw payloads): what the recorder
writes in memory reads back equal, and replaying that log under MockNode publishes the same
messages on the same topics.
"""

from __future__ import annotations

import pytest

from causalstream.nodes.log_nodes import RecorderNode, Replay
from causalstream.nodes.registry import available_kinds, resolve
from causalstream.nodes.testing import MockNode
from causalstream.nodes.transport import ALL_TOPICS
from causalstream.stream import read_log
from causalstream.stream.codec import to_builtins
from causalstream.stream.messages import Message
from tests.fuzzing import sample, type_of

N_SAMPLES = 100  # 5 s at 20 Hz: the predictor has its 8 observed steps at 2.5 Hz
# Parameters a kind needs to run here (any free port; the log each test writes).
PARAMS: dict[str, dict[str, object]] = {"foxglove": {"port": 0, "topics": ["/agents/state", "/causal/graph"]}}
# What an all-topics subscriber (the recorder) is fed: one topic of each well-known kind of data.
ALL_FEED = ["/agents/state", "/features", "/causal/graph", "/predictions", "/causal/events"]
SOURCES = {"replay", "sim", "talker"}  # kinds with no input (replay's is its log)
# Kinds that answer these inputs with output (discovery needs a full window, ros1_bridge a ROS master).
ANSWERS = {"relay", "features", "predictor", "foxglove"}


def _params(kind: str, tmp_path: object) -> dict[str, object]:
    if kind == "recorder":
        return {"path": str(tmp_path) + "/contract.mcap", "flush_interval": 0.05}
    return PARAMS.get(kind, {})


def _inputs(kind: str, params: dict[str, object]) -> list[str]:
    probe = MockNode(resolve(kind), name="contract", params=params).run(duration=0.1)
    topics = list(probe.io.subscribed)
    return [t for topic in topics for t in (ALL_FEED if topic == ALL_TOPICS else [topic])]


def _feed(mock: MockNode, topics: list[str]) -> dict[str, list[Message]]:
    fed = {t: [sample(type_of(t), i) for i in range(N_SAMPLES)] for t in topics}
    for i in range(N_SAMPLES):  # interleaved, as on the bus
        for t in topics:
            mock.io.inputs.append((t, fed[t][i]))
    return fed


@pytest.mark.parametrize("kind", available_kinds())
def test_every_kind_takes_its_inputs_and_stops_cleanly(kind: str, tmp_path: object) -> None:
    params = _params(kind, tmp_path)
    topics = _inputs(kind, params)
    assert bool(topics) != (kind in SOURCES), topics
    mock = MockNode(resolve(kind), name="contract", params=params)
    fed = _feed(mock, topics)
    mock.run(duration=30.0 if not topics else None)
    last = mock.statuses()[-1]
    assert last.state == "stopped" and mock.exit_code == 0 and mock.io.closed
    assert last.counters["in"] == sum(len(v) for v in fed.values())
    assert last.counters["bad"] == 0, [line.text for line in mock.logs() if line.level >= 30]
    if kind in ANSWERS:
        assert last.counters["out"] > 0


def test_the_recorder_in_memory_writes_what_it_was_fed_and_replay_publishes_it(tmp_path: object) -> None:
    path = str(tmp_path) + "/in_memory.mcap"
    rec = MockNode(RecorderNode, name="rec", params={"path": path})
    fed = _feed(rec, ALL_FEED)
    rec.run()
    assert rec.statuses()[-1].counters["recorded"] == len(ALL_FEED) * N_SAMPLES
    back: dict[str, list[Message]] = {}
    for topic, _, msg in read_log(path):
        back.setdefault(topic, []).append(msg)
    assert {t: [to_builtins(m) for m in v] for t, v in back.items()} == \
        {t: [to_builtins(m) for m in v] for t, v in fed.items()}

    play = MockNode(Replay, name="play", params={"path": path, "rate": 0}).run(duration=60.0)
    assert play.exit_code == 0 and play.statuses()[-1].counters["out"] == len(ALL_FEED) * N_SAMPLES
    for topic, msgs in fed.items():
        assert [to_builtins(m) for m in play.io.published[topic]] == [to_builtins(m) for m in msgs]
    assert play.io.latched("/causal/graph") and not play.io.latched("/features")  # as the log's channels say


def test_the_recorder_resolves_its_topics_and_records_only_those(tmp_path: object) -> None:
    path = str(tmp_path) + "/ns.mcap"
    rec = MockNode(RecorderNode, name="rec", namespace="/robot1", params={"path": path, "topics": ["features"]})
    rec.feed("features", *[sample("Features", i) for i in range(5)])
    rec.io.inputs.append(("/robot1/agents/state", sample("AgentStates", 0)))  # not subscribed: not delivered
    rec.run()
    assert rec.io.subscribed == ["/robot1/features"]
    assert [topic for topic, _, _ in read_log(path)] == ["/robot1/features"] * 5
