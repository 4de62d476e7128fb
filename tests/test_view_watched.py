"""The live view converts only what a viewer watches (issue 19, the view's cost), with the viewers' own client.

Once a channel is advertised (its first message), the view builds its records only while a
client subscribes to it; a latched topic's records are still built for a late subscriber, but
the graph picture is drawn only when ``/view/graph`` is subscribed to. Real parts: foxglove-sdk's
server and FoxgloveClient under node (tests/js/view_client.mjs); the messages go to the view's
handler directly (MockIO).
"""

from __future__ import annotations

import time

import numpy as np
from jsclients import client_report, needs_node, start_client, stop_client

from causalstream.nodes.foxglove_view import FoxgloveView
from causalstream.nodes.node import Input
from causalstream.nodes.testing import MockIO
from causalstream.stream.messages import AgentStates, CausalGraph

from support import free_port_pair


def _graph(mark: str, ns: int) -> CausalGraph:
    return CausalGraph(stamp_ns=ns, names=["a", "b"], tau_max=1, graph=[[["", ""], ["", mark]], [["", ""], ["", ""]]],
                       val=np.full((2, 2, 2), 0.4), p=np.zeros((2, 2, 2)))


def _states(ns: int) -> AgentStates:
    return AgentStates(stamp_ns=ns, ids=["r"], roles=["robot"], x=np.array([1.0]), y=np.array([2.0]),
                       vx=np.array([0.1]), vy=np.array([0.0]))


@needs_node
def test_unwatched_channels_are_not_converted_and_a_late_subscriber_gets_the_current_picture() -> None:
    port = free_port_pair()
    node = FoxgloveView(name="view", params={"port": port, "topics": ["/agents/state", "/causal/graph"]},
                        io=MockIO()).start()
    client = None
    try:
        for k in range(20):  # no client: only each channel's first message is converted
            node.on_message(Input("/agents/state", "/agents/state", _states(1_000 + k)))
        node.on_message(Input("/causal/graph", "/causal/graph", _graph("-->", 5_000)))
        node.on_message(Input("/causal/graph", "/causal/graph", _graph("", 6_000)))  # links changed: not drawn
        assert node.counters["view:unwatched"] == 19, node.counters
        assert node.channels.picture.redraws == 1  # the first graph, which advertised /view/graph
        assert node.counters["out"] == 2 + 3 + 2  # states+scene once; graph+links+picture; graph+links (latched)
        client = start_client(f"ws://127.0.0.1:{port}", "3")
        deadline = time.monotonic() + 20
        while node.counters["view:clients"] < 1 or node.counters["subscriptions"] < len(node.open):
            assert time.monotonic() < deadline and client.poll() is None, node.counters
            time.sleep(0.05)
        for k in range(20):  # 20 Hz for 1 s, watched now
            node.on_message(Input("/agents/state", "/agents/state", _states(10_000 + k)))
            time.sleep(0.05)
        out, err = client.communicate(timeout=30)
    finally:
        stop_client(client)
        node.close()
    got = client_report(client, out, err)
    ch = got["channels"]
    assert node.channels.picture.redraws == 2  # drawn for the subscriber: the second graph's links
    assert ch["/view/graph"]["messages"] >= 1 and ch["/view/graph"]["sample"]["timestamp"] == {"seconds": 0, "nanos": 6_000}
    assert ch["/causal/graph"]["sample"]["stamp"] == {"sec": 0, "nsec": 6_000}  # the latched re-send
    assert ch["/agents/state"]["messages"] >= 15 and ch["/view/scene"]["messages"] >= 15, ch
    assert node.counters["view:unwatched"] == 19, node.counters  # every watched message was converted


@needs_node
def test_a_link_change_inside_the_picture_gap_is_drawn_by_the_trailing_redraw() -> None:
    port = free_port_pair()
    io = MockIO()  # its virtual clock is the view's: the redraw gap is 1 / picture_hz of it
    node = FoxgloveView(name="view", params={"port": port, "topics": ["/causal/graph"], "picture_hz": 2},
                        io=io).start()
    client = None
    try:
        node.on_message(Input("/causal/graph", "/causal/graph", _graph("-->", 1_000)))  # advertises the channels
        client = start_client(f"ws://127.0.0.1:{port}", "3")
        deadline = time.monotonic() + 20
        while node.counters["subscriptions"] < len(node.open):
            assert time.monotonic() < deadline and client.poll() is None, node.counters
            time.sleep(0.05)
        io.clock = 10.0
        node.on_message(Input("/causal/graph", "/causal/graph", _graph("", 2_000)))  # drawn: the gap has passed
        io.clock = 10.1
        node.on_message(Input("/causal/graph", "/causal/graph", _graph("o-o", 3_000)))  # inside the gap: not yet
        node.trailing_picture()  # still inside it
        drawn = node.channels.picture.redraws
        io.clock = 10.6
        node.trailing_picture()  # the gap is over: the latest links
        node.trailing_picture()  # nothing changed since
        out, err = client.communicate(timeout=30)
    finally:
        stop_client(client)
        node.close()
    got = client_report(client, out, err)
    assert drawn == 2 and node.channels.picture.redraws == 3  # the first graph, the second, then the third's
    assert node.latched["/view/graph"].log_time_ns == 3_000  # the late subscriber's re-send is the latest too
    assert got["channels"]["/view/graph"]["messages"] == 3, got["channels"]["/view/graph"]  # re-send, 2nd, 3rd
