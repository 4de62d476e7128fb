"""What a topic is: its type and durability, declared by its publisher and carried by its registration.

Latched ("transient local" in ROS 2): a subscriber that joins late still receives the last
message published on the topic. The publisher decides it, as rclpy's durability QoS does
(``Publisher("/my/state", Clock, latched=True)``); the topic's name does not, so a
remapped topic keeps its latch and a user's own topic can be latched.

A publisher tells each subscriber of its topic what it declared in a *registration*: a
frame on the topic itself whose envelope type is :data:`REGISTRATION_TYPE` and whose
payload is a :class:`Registration`. It goes down a new direct link before anything else,
and through the broker whenever the publisher sees a new subscription to its topic.
Subscribers keep it (the recorder writes it into the log's channel metadata) and never
deliver it as a message.

:data:`TOPICS`, the well-known topics, only supplies defaults: the types subscribers of
those exact names expect, and the durability a publisher of that exact name gets when it
declares none (:func:`default_latched`; no namespace or suffix matching).

>>> TOPICS["/causal/graph"].latched, TOPICS["/features"].type_name
(True, 'Features')
>>> default_latched("/causal/graph"), default_latched("/robot1/causal/graph")
(True, False)
>>> read_registration(registration_payload("Clock", True))
Registration(type_name='Clock', latched=True)
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

__all__ = [
    "HELLO_PREFIX", "REGISTRATION_TYPE", "STATS_TOPIC", "TOPICS", "Registration", "TopicInfo", "default_latched",
    "read_registration", "registration_payload",
]


class TopicInfo(NamedTuple):
    """Type name and default durability of a well-known topic.

    >>> TopicInfo("Clock", False).latched
    False
    """

    type_name: str
    latched: bool


TOPICS: dict[str, TopicInfo] = {
    "/clock": TopicInfo("Clock", False),
    "/agents/state": TopicInfo("AgentStates", False),
    "/features": TopicInfo("Features", False),
    "/causal/graph": TopicInfo("CausalGraph", True),
    "/causal/events": TopicInfo("CausalEvent", False),
    "/predictions": TopicInfo("Predictions", False),
    "/node/status": TopicInfo("NodeStatus", False),
    "/log": TopicInfo("LogLine", False),
    "/bus/stats": TopicInfo("BusStats", False),
    "/sim/ground_truth": TopicInfo("CausalGraph", True),
}

STATS_TOPIC = "/bus/stats"
HELLO_PREFIX = "/_bus/hello/"
# not an identifier, so no message class can have this name
REGISTRATION_TYPE = "!registration"


def default_latched(topic: str) -> bool:
    """The durability of a publisher of ``topic`` that declares none: the well-known table's, exact name only.

    >>> default_latched("/sim/ground_truth"), default_latched("/my/topic")
    (True, False)
    """
    info = TOPICS.get(topic)
    return info is not None and info.latched


class Registration(msgspec.Struct, array_like=True, frozen=True):
    """What a publisher declared for its topic: the type it publishes and whether it is latched.

    >>> Registration("CausalGraph", latched=True).latched
    True
    """

    type_name: str
    latched: bool = False


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Registration)


def registration_payload(type_name: str, latched: bool) -> bytes:
    """The payload of a registration frame.

    >>> registration_payload("Clock", False)
    b'\\x92\\xa5Clock\\xc2'
    """
    return _ENCODER.encode(Registration(type_name, latched))


def read_registration(payload: bytes | memoryview | msgspec.Raw) -> Registration | None:
    """The registration in a registration frame's payload, or None if it is not one.

    >>> read_registration(b"garbage") is None
    True
    """
    try:
        return _DECODER.decode(payload)
    except (msgspec.DecodeError, ValueError, TypeError):
        return None
