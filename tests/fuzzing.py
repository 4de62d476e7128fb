"""Malformed and valid frames for a topic, and a raw ZeroMQ socket that sends them.

The fuzzer's socket is an XPUB connected to the broker's publisher side: it sends like a
PUB, and it also hears every subscription the broker forwards, so it learns which topics a
node subscribed to straight from the wire (whatever the node's kind, and however it
subscribes).
"""

from __future__ import annotations

import time

import msgspec
import numpy as np
import zmq

from causalstream.stream import Endpoints
from causalstream.stream.bus.broker import SENTINEL_TOPIC
from causalstream.stream.bus.endpoints import configure_socket
from causalstream.stream.bus.topics import HELLO_PREFIX, TOPICS
from causalstream.stream.codec import SEP, encode_frame
from causalstream.stream.messages import (
    AgentStates,
    CausalEvent,
    CausalGraph,
    Clock,
    Features,
    Message,
    NodeStatus,
    Predictions,
)

HUGE_BYTES = 50 * 2**20  # a 50 MB frame
HUMANS = ["h1", "h2", "h3", "h4", "h5"]


def sample(type_name: str, i: int, stamp_ns: int | None = None) -> Message:
    """A valid message of ``type_name`` (well-formed, finite), the ``i``-th of a smooth series."""
    stamp = stamp_ns if stamp_ns is not None else 1_000_000_000 + i * 50_000_000
    t = i * 0.05
    if type_name == "AgentStates":
        ids = ["robot", *HUMANS]
        n = len(ids)
        x = np.array([np.cos(t + k) * (1 + k) for k in range(n)])
        y = np.array([np.sin(t + k) * (1 + k) for k in range(n)])
        return AgentStates(stamp_ns=stamp, ids=ids, roles=["robot"] + ["reactive"] * (n - 1), x=x, y=y,
                           vx=-y * 0.5, vy=x * 0.5, heading=np.zeros(n), goal=np.zeros((n, 2)))
    if type_name == "CausalGraph":
        names = ["robot.v", "h1.v"]
        graph = [[["", "-->"], ["", ""]], [["", ""], ["", ""]]]
        return CausalGraph(stamp_ns=stamp, names=names, tau_max=1, graph=graph, val=np.full((2, 2, 2), 0.3),
                           p=np.full((2, 2, 2), 0.01), seq=i)
    if type_name == "Clock":
        return Clock(stamp_ns=stamp)
    if type_name == "Predictions":  # 2 agents, 2 modes, 3 steps
        traj = np.stack([np.full((2, 3, 2), k + t, np.float32) for k in range(2)], axis=1)
        return Predictions(stamp_ns=stamp, agent_ids=["robot", "h1"], trajectories=traj,
                           probabilities=np.full((2, 2), 0.5, np.float32))
    if type_name == "CausalEvent":
        return CausalEvent(stamp_ns=stamp, kind="graph_changed", shd=i % 3, graph_seq=i)
    if type_name == "NodeStatus":  # another node's heartbeat (never the subject's name, /fz)
        return NodeStatus(stamp_ns=stamp, name="/fuzz/other", kind="talker", counters={"in": i, "out": i})
    names = ["robot.v"] + [f"{h}.{v}" for h in HUMANS for v in ("v", "a")]
    rng = np.random.default_rng(i)
    return Features(stamp_ns=stamp, names=names, values=rng.normal(size=len(names)))


def type_of(topic: str) -> str:
    """The message type to send on ``topic``: the topic table's, else Features."""
    info = next((info for name, info in TOPICS.items() if topic == name or topic.endswith(name)), None)
    return info.type_name if info else "Features"


def is_typed(topic: str) -> bool:
    """True if subscribers check the type of ``topic`` (a well-known topic)."""
    return topic in TOPICS


def _non_finite(msg: Message) -> Message:
    """The same message with NaN and +-inf in its float fields."""
    fields = msgspec.structs.asdict(msg)
    for key, value in fields.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
            bad = value.copy().reshape(-1)
            bad[0] = np.nan
            bad[-1] = np.inf
            if bad.size > 2:
                bad[1] = -np.inf
            fields[key] = bad.reshape(value.shape)
    return type(msg)(**fields)


def malformed(topic: str, rng: np.random.Generator, decodes_payload: bool = True) -> list[bytes]:
    """Frames every subscriber must drop as bad: garbage, truncated, unknown type, wrong
    envelope field types, two 50 MB frames, and (if it decodes payloads, as all but a
    recorder do) a payload that is not the message its envelope names."""
    prefix = topic.encode() + SEP
    good = encode_frame(topic, sample(type_of(topic), 0), 0, "fuzz/bad")
    n = HUGE_BYTES // 8
    huge = encode_frame(topic, Features(names=["x"] * n, values=np.zeros(n)), 0, "fuzz/bad")
    envelope_wrong_types = prefix + msgspec.msgpack.encode(["now", "zero", 7, ["Features"], b"x"])
    return [
        prefix + rng.bytes(64),
        prefix + rng.bytes(3),
        prefix,
        good[: len(good) // 2],
        good[: len(prefix) + 3],
        good.replace(type_of(topic).encode(), b"Featurez", 1),
        *([prefix + msgspec.msgpack.encode([1, 0, "fuzz/bad", type_of(topic), {"stamp_ns": "x"}])]
          if decodes_payload else []),
        envelope_wrong_types,
        prefix + rng.bytes(HUGE_BYTES),
        huge[: len(huge) - 1000],
    ]


def wrong_type(topic: str) -> bytes:
    """A valid frame of the wrong type for a typed topic (bad there; fine on an untyped one)."""
    msg = Clock(stamp_ns=1) if type_of(topic) != "Clock" else sample("Features", 0)
    return encode_frame(topic, msg, 0, "fuzz/wrongtype")


def odd_but_valid(topic: str, start_seq: int, publisher: str) -> tuple[list[bytes], int]:
    """Frames that decode but are odd: NaN/inf fields, stamps out of order, a repeated
    sequence number, a sequence gap of 5. Returns the frames and the gap they make."""
    type_name = type_of(topic)
    frames, seq = [], start_seq
    frames.append(encode_frame(topic, _non_finite(sample(type_name, 1)), seq, publisher))
    for back in (3, 2, 2):  # stamps going backwards, one repeated
        seq += 1
        frames.append(encode_frame(topic, sample(type_name, back), seq, publisher))
    frames.append(encode_frame(topic, sample(type_name, 4), seq, publisher))  # same seq again: a duplicate
    seq += 6  # five frames never sent: a gap of five
    frames.append(encode_frame(topic, sample(type_name, 5), seq, publisher))
    return frames, 5


class Fuzzer:
    """A raw XPUB on the broker's publisher side: sends any bytes, hears every subscription."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.sock = configure_socket(zmq.Context.instance().socket(zmq.XPUB), hwm=100_000)
        self.sock.set(zmq.XPUB_VERBOSE, 1)
        self.sock.set(zmq.SNDTIMEO, 10_000)
        self.sock.connect(endpoints.pub)
        self.subscriptions: set[str] = set()

    def listen(self, seconds: float) -> set[str]:
        """Subscriptions heard for ``seconds`` (topics; ``""`` means every topic)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000) + 1):
                break
            sub = self.sock.recv()
            if sub[:1] != b"\x01":
                continue
            prefix = sub[1:]
            if prefix.startswith(SENTINEL_TOPIC) or prefix.startswith(b"/_bus/"):
                continue  # the broker's own, hellos and direct-path adverts: not topics
            self.subscriptions.add(prefix.rstrip(SEP).decode(errors="replace"))
        return self.subscriptions

    def send(self, frames: list[bytes], pause: float = 0.0) -> None:
        for frame in frames:
            self.sock.send(frame, copy=len(frame) < 65536)
            if pause:
                time.sleep(pause)

    def close(self) -> None:
        self.sock.close(linger=0)
