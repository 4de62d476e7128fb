"""Large messages: built in one buffer (encode_large_frame), read off the socket without a copy."""

from __future__ import annotations

import numpy as np

from causalstream.stream.bus.broker import Broker
from causalstream.stream.bus.endpoints import Endpoints
from causalstream.stream.bus.publisher import Publisher
from causalstream.stream.bus.subscriber import Subscriber
from causalstream.stream.codec import LARGE, decode_frame, encode_frame, encode_large_frame
from causalstream.stream.messages import Predictions

RNG = np.random.default_rng(7)


def _predictions(agents: int, seed: float = 0.0) -> Predictions:
    traj = (RNG.normal(size=(agents, 20, 12, 2)) + seed).astype(np.float32)
    return Predictions(agent_ids=[f"h{i}" for i in range(agents)], trajectories=traj,
                       probabilities=np.full((agents, 20), 0.05, dtype=np.float32), model_id="m")


def test_a_large_frame_is_encode_frames_bytes_whatever_the_size_and_layout() -> None:
    for agents in (4, 9, 34, 80):  # below LARGE, ext 16, ext 32
        msg = _predictions(agents)
        msg.trajectories = np.asfortranarray(msg.trajectories)  # not C-contiguous: written in C order
        got = encode_large_frame(b"/p\x00", msg, 3, "pub", 11)
        want = encode_frame("/p", msg, 3, "pub", 11)
        if msg.trajectories.nbytes + msg.probabilities.nbytes + 2 * 4 * agents < LARGE:
            assert got is None
            continue
        assert got is not None and bytes(got) == want
        env, back = decode_frame(bytes(got))
        assert env.seq == 3 and np.array_equal(back.trajectories, msg.trajectories)


def test_large_and_small_messages_alternate_on_one_subscriber_and_stay_safe_to_keep() -> None:
    with Broker(Endpoints.parse("inproc://test-bus-large")) as b:
        sub = Subscriber("/pred", endpoints=b.endpoints, hwm=0).wait_ready(2.0)
        pub = Publisher("/pred", Predictions, endpoints=b.endpoints, hwm=0).wait_for_subscriber(2.0)
        sent = [_predictions(n, seed=i) for i, n in enumerate((34, 34, 2, 34, 3, 3, 40, 1))]
        for msg in sent:
            pub.publish(msg)
        got = [sub.recv(timeout=2.0) for _ in sent]
        pub.close()
        sub.close()
    assert [g.envelope.seq for g in got if g is not None] == list(range(len(sent)))
    for g, msg in zip(got, sent):
        assert g is not None and g.message is not None
        traj = g.message.trajectories
        assert np.array_equal(traj, msg.trajectories) and traj.flags.writeable and traj.flags.aligned
        traj[:] = 0.0  # a kept message's arrays are its own: writing one touches no other message
    assert all(np.abs(g.message.trajectories).sum() == 0 for g in got if g is not None)
    assert sub.bad_frames == 0 and sub.totals().gaps == 0
