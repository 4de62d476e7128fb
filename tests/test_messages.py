"""Every message type survives the wire bit-exactly; schemas are JSON Schema objects."""

from __future__ import annotations

import json

import jsonschema
import msgspec
import numpy as np
import pytest

from causalstream.stream import codec, codec_arrays
from causalstream.stream.codec import (
    BLOCK_KEY, decode_frame, decode_payload, encode_frame, encode_payload, from_builtins, json_schema, to_builtins, to_json,
)
from causalstream.stream.errors import BadFrameError, CodecError
from causalstream.stream.messages import (
    LINK_STATUSES, MESSAGE_TYPES, AgentStates, BusStats, CausalEvent, CausalGraph, Clock, Features, Link, LogLine, NodeStatus,
    Predictions, TopicStats,
)

RNG = np.random.default_rng(0)


def _graph(n: int = 3, tau: int = 2) -> CausalGraph:
    marks = np.array(["", "-->", "o-o"])[RNG.integers(0, 3, size=(n, n, tau + 1))].tolist()
    val = RNG.normal(size=(n, n, tau + 1))
    val[0, 1, 1] = np.nan
    return CausalGraph(stamp_ns=5, names=[f"a.v{i}" for i in range(n)], tau_max=tau, graph=marks, val=val,
                       p=RNG.uniform(size=(n, n, tau + 1)), method="pcmciplus", n_samples=500, n_missing=3, seq=7,
                       link_status=RNG.integers(0, len(LINK_STATUSES), size=(n, n, tau + 1)).astype(np.int8),
                       n_eff=RNG.integers(-1, 500, size=(n, n, tau + 1)).astype(np.int32), graph_status="partial",
                       status_reason="a.v2 observed in 0 of 500 samples; 4 of 24 links insufficient")


SAMPLES = {
    "Clock": Clock(stamp_ns=123),
    "AgentStates": AgentStates(stamp_ns=1, ids=["robot", "h1", "h2"], roles=["robot", "human", "human"],
                               x=RNG.normal(size=3), y=RNG.normal(size=3), vx=np.array([0.0, np.nan, 1e-300]),
                               vy=RNG.normal(size=3), goal=np.array([[1, 2], [np.nan, np.nan], [3, 4.5]])),
    "Features": Features(stamp_ns=2, names=["robot.v", "h1.v", "h1.d_robot"], values=np.array([0.1, np.nan, -np.inf])),
    "CausalGraph": _graph(),
    "CausalEvent": CausalEvent(stamp_ns=3, kind="graph_changed", added=[Link("a", "b", 1)],
                               removed=[Link("b", "a", 0, "o-o")], shd=2, graph_seq=4),
    "Predictions": Predictions(stamp_ns=4, agent_ids=["h1", "h2"], trajectories=RNG.normal(size=(2, 3, 12, 2)).astype(np.float32),
                               probabilities=np.array([[0.5, 0.3, 0.2], [0.6, 0.4, 0.0]], dtype=np.float32),
                               model_id="m1", latency_ms=0.4),
    "NodeStatus": NodeStatus(stamp_ns=5, name="disc", kind="discovery", pid=99, counters={"in": 3, "bad": 1}),
    "LogLine": LogLine(stamp_ns=6, node="sim", level=30, logger="x.y", msg="ünïcode ok"),
    "BusStats": BusStats(stamp_ns=7, participant="h/1", pid=1, topics=[TopicStats(topic="/f", role="sub", gaps=2)]),
}


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    for name in a.__struct_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert x.tobytes() == y.tobytes(), name  # bit-exact, NaN and -inf included
        else:
            assert x == y, name


def test_every_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_round_trip_is_bit_exact(type_name: str) -> None:
    msg = SAMPLES[type_name]
    env, back = decode_frame(encode_frame("/t", msg, seq=11, publisher="p/1"))
    assert (env.topic, env.seq, env.publisher, env.type) == ("/t", 11, "p/1", type_name)
    _same(msg, back)


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_json_schema_is_an_object_and_validates_the_json(type_name: str) -> None:
    schema = json.loads(json_schema(type_name))
    assert schema["type"] == "object"
    doc = json.loads(to_json(SAMPLES[type_name]))
    jsonschema.validate(doc, schema)


def test_arrays_become_json_arrays() -> None:
    doc = json.loads(to_json(SAMPLES["Predictions"]))
    assert isinstance(doc["trajectories"], list) and len(doc["trajectories"][0][0]) == 12


def test_builtins_round_trip() -> None:
    msg = SAMPLES["Features"]
    back = from_builtins("Features", to_builtins(msg))
    assert back.names == msg.names and np.array_equal(back.values, msg.values, equal_nan=True)


@pytest.mark.parametrize(
    "cls, fields, needle",
    [
        (Features, {"names": ["a", "b"], "values": [1.0]}, "2 names but 1 values"),
        (AgentStates, {"ids": ["a"], "roles": ["r"], "x": [1, 2], "y": [1], "vx": [1], "vy": [1]}, "x has shape"),
        (Predictions, {"agent_ids": ["a"], "trajectories": [[1.0]], "probabilities": [[1.0]]}, "trajectories have shape"),
        (CausalGraph, {"names": ["a"], "tau_max": 1, "graph": [[["", ""]]], "val": [[[0.0]]], "p": [[[1.0, 1.0]]]}, "val has shape"),
        (CausalGraph, {"names": ["a"], "tau_max": 0, "graph": [[[""]]], "val": [[[0.0]]], "p": [[[1.0]]],
                       "link_status": [[[0, 1]]]}, "link_status has shape"),
        (CausalGraph, {"names": ["a"], "tau_max": 0, "graph": [[[""]]], "val": [[[0.0]]], "p": [[[1.0]]],
                       "link_status": [[[7]]]}, "link_status codes must be"),
    ],
)
def test_invalid_payloads_are_rejected(cls: type, fields: dict, needle: str) -> None:
    with pytest.raises(CodecError, match=needle):
        from_builtins(cls.__name__, fields)


def test_validation_also_applies_on_decode() -> None:
    good = encode_frame("/features", Features(names=["a"], values=np.array([1.0])), 0, "p")
    bad = good.replace(b"\x91\xa1a", b"\x92\xa1a\xa1b")  # names grows to two entries; values stays at one
    with pytest.raises(BadFrameError, match="2 names but 1 values"):
        decode_frame(bad)


def test_arrays_decode_writable_and_owned_and_headers_are_checked_every_time() -> None:
    lay = codec.layout(Features)
    for a in (np.zeros(0), np.zeros((0, 3)), np.arange(6.0).reshape(2, 3), np.array(5.0),
              np.arange(4, dtype=np.int16), np.array([True, False]), np.full((2, 2), np.nan, dtype=np.float32)):
        for _ in range(2):  # the second decode takes the cached-header path
            buf = bytearray(lay._block((a,)))
            (b,) = codec_arrays.unpack(codec.EXT_BLOCK, memoryview(buf))[1]
            assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
            assert b.flags.writeable and b.flags.c_contiguous
            buf[:] = b"\xff" * len(buf)  # the array owns a copy: scribbling on the frame changes nothing
            assert b.tobytes() == a.tobytes()
    packed = bytes(lay._block((np.zeros(3),)))
    codec_arrays.unpack(codec.EXT_BLOCK, memoryview(packed))  # cached now
    with pytest.raises(CodecError, match="data bytes"):
        codec_arrays.unpack(codec.EXT_BLOCK, memoryview(packed[:-1]))
    with pytest.raises(CodecError, match="data bytes"):
        codec_arrays.unpack(codec.EXT_BLOCK, memoryview(packed + b"\x00"))


def test_graph_statuses_travel_and_older_graphs_without_them_decode() -> None:
    """The status fields round-trip; a payload written before them (no such keys) reads with
    empty statuses and graph_status "", so a reader can tell "unknown" from "ok"."""
    msg = SAMPLES["CausalGraph"]
    back = decode_payload("CausalGraph", encode_payload(msg))
    assert back.statuses().tolist() == np.array(LINK_STATUSES)[msg.link_status].tolist()
    assert back.n_eff.dtype == np.int32 and (back.graph_status, back.status_reason) == (msg.graph_status, msg.status_reason)
    old = msgspec.msgpack.Decoder(dict).decode(encode_payload(msg))
    for key in ("graph_status", "status_reason"):
        old.pop(key)
    blockless = CausalGraph(**{k: getattr(msg, k) for k in ("names", "tau_max", "graph", "val", "p")})
    old[BLOCK_KEY] = msgspec.msgpack.Decoder(dict).decode(encode_payload(blockless))[BLOCK_KEY]
    legacy = decode_payload("CausalGraph", msgspec.msgpack.encode(old))
    assert legacy.link_status.shape == (0,) and legacy.graph_status == "" and legacy.statuses().shape == msg.val.shape
    assert set(legacy.statuses().ravel()) == {""}
