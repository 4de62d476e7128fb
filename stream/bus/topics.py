"""The well-known topics: their types and whether they are latched.

Latched ("transient local" in ROS 2): a subscriber that joins late still receives the last
message published on the topic.

>>> TOPICS["/causal/graph"].latched, TOPICS["/features"].type_name
(True, 'Features')
>>> is_latched("/robot1/causal/graph"), is_latched("/my/topic")
(True, False)
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TOPICS", "TopicInfo", "is_latched", "HELLO_PREFIX", "STATS_TOPIC"]


class TopicInfo(NamedTuple):
    """Type name and durability of a well-known topic.

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


def is_latched(topic: str) -> bool:
    """True for a well-known latched topic, also under a namespace (``/ns/causal/graph``).

    >>> is_latched("/sim/ground_truth")
    True
    """
    return any(topic == name or topic.endswith(name) for name, info in TOPICS.items() if info.latched)
