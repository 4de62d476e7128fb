"""The payload layout: one block of arrays per message, checked on every decode; old payloads still read."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from causalstream.stream import wire
from causalstream.stream.arrays import dec_hook, enc_hook, ext_hook
from causalstream.stream.codec import decode_frame, decode_payload, encode_payload
from causalstream.stream.errors import BadFrameError, CodecError
from causalstream.stream.messages import MESSAGE_TYPES, AgentStates, CausalGraph, Features, Message, Predictions
from tests.test_messages import SAMPLES, _same

RNG = np.random.default_rng(3)


def _legacy(msg: Message) -> bytes:
    """A payload as causalstream wrote it before the block layout: a map, one extension per array."""
    return msgspec.msgpack.encode(msg, enc_hook=enc_hook)


def _body(msg: Message) -> bytes:
    """The body of the block extension that holds ``msg``'s arrays (whatever its type's form)."""
    layout = wire.layout(type(msg))
    return bytes(layout._block(layout.array_values(msg)))


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_payloads_of_the_older_layout_still_decode(type_name: str) -> None:
    msg = SAMPLES[type_name]
    _same(msg, decode_payload(type_name, _legacy(msg)))


def test_types_with_four_arrays_or_more_travel_as_plain_fields_then_one_block() -> None:
    msg = SAMPLES["AgentStates"]
    row = msgspec.msgpack.Decoder(list, ext_hook=lambda code, data: (code, len(data))).decode(encode_payload(msg))
    assert row[:4] == [msg.stamp_ns, msg.frame_id, msg.ids, msg.roles]
    assert row[4][0] == wire.EXT_BLOCK and len(row) == 5  # six arrays, one extension
    # fewer arrays: a map, an extension per array (building a struct from a row costs more)
    codes = []
    doc = msgspec.msgpack.Decoder(dict, ext_hook=lambda code, data: codes.append(code)).decode(encode_payload(SAMPLES["CausalGraph"]))
    assert doc["tau_max"] == 2 and codes == [1, 1, 1]
    assert msgspec.msgpack.decode(encode_payload(SAMPLES["Clock"])) == {"stamp_ns": 123}


@pytest.mark.parametrize("type_name", ["AgentStates", "Features", "Predictions", "CausalGraph"])
def test_either_form_decodes_as_either_type(type_name: str) -> None:
    msg = SAMPLES[type_name]
    layout = wire.layout(type(msg))
    row = msgspec.msgpack.encode((*layout.plain_values(msg), msgspec.msgpack.Ext(wire.EXT_BLOCK, _body(msg))))
    _same(msg, decode_payload(type_name, row))
    _same(msg, decode_payload(type_name, _legacy(msg)))


@pytest.mark.parametrize(
    "arrays",
    [
        [np.zeros(0), np.zeros((0, 3)), np.array(5.0)],  # empty and 0-d
        [np.arange(6, dtype=np.int16), np.array([True, False, True]), np.full((2, 2), np.nan, dtype=np.float32)],
        [np.arange(3, dtype=np.complex128), np.arange(3, dtype=np.uint8)],  # 16-byte items after an 8-byte pad
        [np.arange(12.0).reshape(3, 4).T, np.arange(10.0)[::2]],  # not contiguous
        [RNG.normal(size=(40, 20, 12, 2)).astype(np.float32), RNG.normal(size=(40, 20))],  # large: the buffer path
    ],
)
def test_any_numeric_arrays_come_back_bit_exact_writable_and_owning_their_data(arrays: list[np.ndarray]) -> None:
    layout = wire.layout(Predictions)
    for _ in range(2):  # the second decode takes the cached-header path
        body = bytearray(layout._block(tuple(arrays)))
        back = wire._block_hook(wire.EXT_BLOCK, memoryview(body))
        for a, b in zip(arrays, back, strict=True):
            assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
            assert b.flags.writeable and b.flags.c_contiguous and b.flags.aligned
        body[:] = b"\xff" * len(body)  # the arrays own a copy: scribbling on the frame changes nothing
        assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays, back))


def test_writing_one_decoded_array_leaves_its_neighbours_alone() -> None:
    msg = decode_payload("AgentStates", encode_payload(SAMPLES["AgentStates"]))
    before = msg.y.copy()
    msg.x[:] = 7.0
    assert np.array_equal(msg.y, before) and (msg.x == 7.0).all()


def test_an_absent_optional_array_stays_absent() -> None:
    g = SAMPLES["CausalGraph"]
    layout = wire.layout(CausalGraph)
    back = wire._block_hook(wire.EXT_BLOCK, memoryview(layout._block((g.val, g.p, None))))
    assert back[2] is None and back[0].tobytes() == g.val.tobytes()


def _frame_with_block(msg: Message, body: bytes, code: int = wire.EXT_BLOCK) -> bytes:
    layout = wire.layout(type(msg))
    row = (*layout.plain_values(msg), msgspec.msgpack.Ext(code, body))
    return b"/t\x00" + msgspec.msgpack.encode([1, 0, "p", type(msg).__name__, row])


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda b: b[:3], "truncated block"),
        (lambda b: b[:-1], "data bytes"),
        (lambda b: b + b"\x00" * 8, "data bytes"),
        (lambda b: b[:4] + b[4:].replace(b"<f8", b"|O8", 1), "cannot travel"),
        (lambda b: b[:4] + b"\x03\x21" + b[6:], "dimensions"),
        (lambda b: b"\xff\x00\x00\x00" + b[4:], "block header of 255 bytes"),  # a header longer than the block
        (lambda b: b"\x09\x00\x00\x00" + b[4:], "truncated block header"),  # 9 of 13 header bytes: a shape cut short
    ],
)
def test_a_damaged_block_is_a_bad_frame_never_a_crash(damage, needle: str) -> None:
    msg = Features(names=["a", "b"], values=np.array([1.0, 2.0]))
    body = _body(msg)
    with pytest.raises(BadFrameError, match=needle):
        decode_frame(_frame_with_block(msg, damage(body)))


def test_a_block_with_the_wrong_number_of_arrays_or_extension_code_is_rejected() -> None:
    msg = SAMPLES["AgentStates"]
    other = _body(Features(names=["a"], values=np.zeros(1)))
    with pytest.raises(BadFrameError, match="block holds 1 arrays, the type has 6"):
        decode_frame(_frame_with_block(msg, other))
    with pytest.raises(BadFrameError, match="extension code 9"):
        decode_frame(_frame_with_block(msg, _body(msg), code=9))
    not_block = b"/t\x00" + msgspec.msgpack.encode([1, 0, "p", "Features", [0, ["a"], 5]])
    with pytest.raises(BadFrameError, match="not an array block"):
        decode_frame(not_block)


def test_random_damage_to_payloads_only_ever_raises_codec_errors() -> None:
    payloads = [encode_payload(SAMPLES[t]) for t in ("AgentStates", "Predictions", "CausalGraph", "Features")]
    rejected = 0
    for i in range(3000):
        raw = bytearray(payloads[i % len(payloads)])
        for _ in range(1 + i % 3):
            raw[RNG.integers(len(raw))] = RNG.integers(256)
        name = ("AgentStates", "Predictions", "CausalGraph", "Features")[i % 4]
        try:
            decode_payload(name, bytes(raw))
        except CodecError:
            rejected += 1
    assert rejected > 0  # some damage lands in data bytes and decodes; the rest is caught, nothing else escapes


def test_the_older_decoder_and_the_block_agree_on_every_sample() -> None:
    for name, msg in SAMPLES.items():
        old = msgspec.msgpack.Decoder(type(msg), ext_hook=ext_hook, dec_hook=dec_hook).decode(_legacy(msg))
        _same(old, decode_payload(name, encode_payload(msg)))


def test_agent_states_validation_still_runs_on_the_fast_path() -> None:
    good = AgentStates(ids=["a", "b"], roles=["h", "h"], x=np.zeros(2), y=np.zeros(2), vx=np.zeros(2), vy=np.zeros(2))
    layout = wire.layout(AgentStates)
    arrays = (good.x, good.y, good.vx, good.vy, np.zeros(3), good.goal)  # heading one too long
    row = (*layout.plain_values(good), msgspec.msgpack.Ext(wire.EXT_BLOCK, bytes(layout._block(arrays))))
    with pytest.raises(CodecError, match="heading has shape"):
        decode_payload("AgentStates", msgspec.msgpack.encode(row))
    ints = AgentStates(ids=["a"], roles=["h"], x=np.array([1]), y=np.array([2]), vx=np.array([3]), vy=np.array([4]))
    assert ints.x.dtype == np.float64 and ints.heading.dtype == np.float64


def test_an_array_field_that_holds_a_list_is_a_codec_error_on_encode_in_a_block() -> None:
    msg = AgentStates(ids=["a"], roles=["h"], x=np.zeros(1), y=np.zeros(1), vx=np.zeros(1), vy=np.zeros(1))
    msg.x = [1.0]  # structs are mutable: nothing checked this assignment
    with pytest.raises(CodecError, match="must hold numpy arrays, not list"):
        encode_payload(msg)


def test_a_number_where_an_array_belongs_is_a_codec_error_not_an_escaping_exception() -> None:
    payload = msgspec.msgpack.encode({"names": ["a"], "values": 1.5})
    with pytest.raises(CodecError, match=r"cannot decode float as ndarray - at `\$.values`"):
        decode_payload("Features", payload)
