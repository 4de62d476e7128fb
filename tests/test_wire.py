"""The payload layout: plain fields by name and one block of named arrays, checked on every decode;
payloads of the older layouts (maps with one extension per array, AgentStates as a row) still read."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from causalstream.stream import codec, codec_arrays
from causalstream.stream.codec import BLOCK_KEY, EXT_BLOCK, array_header, decode_frame, decode_payload, encode_payload
from causalstream.stream.errors import BadFrameError, CodecError
from causalstream.stream.messages import MESSAGE_TYPES, AgentStates, CausalGraph, Features, Message, Predictions
from tests.test_messages import SAMPLES, _same

RNG = np.random.default_rng(3)


def _old_array(a: np.ndarray) -> msgspec.msgpack.Ext:
    return msgspec.msgpack.Ext(1, array_header(a.dtype.str, a.shape) + a.tobytes())


def _legacy(msg: Message) -> bytes:
    """A payload as causalstream wrote it before the block: a map, one extension per array."""
    return msgspec.msgpack.encode(msg, enc_hook=lambda a: _old_array(a) if isinstance(a, np.ndarray) else a.item())


def _old_row(msg: Message) -> bytes:
    """A payload as AgentStates travelled until 2026-12-03: plain fields, then an unnamed block (code 2)."""
    lay = codec.layout(type(msg))
    head, data = b"", b""
    for a in lay.array_values(msg):
        if a is None:
            head += b"\x00"
            continue
        head += array_header(a.dtype.str, a.shape)
        data += a.tobytes() + bytes(-a.nbytes % 8)
    body = len(head).to_bytes(4, "little") + head + data
    return msgspec.msgpack.encode((*lay.plain_values(msg), msgspec.msgpack.Ext(2, body)))


def _body(msg: Message) -> bytes:
    """The body of the block extension that holds ``msg``'s arrays."""
    lay = codec.layout(type(msg))
    return bytes(lay._block(lay.array_values(msg)))


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_payloads_of_the_older_layout_still_decode(type_name: str) -> None:
    msg = SAMPLES[type_name]
    _same(msg, decode_payload(type_name, _legacy(msg)))


def test_older_agent_state_rows_still_decode() -> None:
    msg = SAMPLES["AgentStates"]
    _same(msg, decode_payload("AgentStates", _old_row(msg)))


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_every_type_travels_as_a_map_of_plain_fields_and_one_block(type_name: str) -> None:
    msg = SAMPLES[type_name]
    codes: list[int] = []
    doc = msgspec.msgpack.Decoder(dict, ext_hook=lambda code, data: codes.append(code)).decode(encode_payload(msg))
    lay = codec.layout(type(msg))
    assert set(doc) == set(lay.plain) | ({BLOCK_KEY} if lay.arrays else set())
    assert codes == ([EXT_BLOCK] if lay.arrays else [])


def test_a_field_added_with_a_default_leaves_older_payloads_readable() -> None:
    """Fields go by name: a payload without ``stability`` (an optional array) or ``flags`` still reads."""
    g = SAMPLES["CausalGraph"]
    doc = msgspec.msgpack.Decoder(dict, ext_hook=lambda code, data: msgspec.msgpack.Ext(code, bytes(data))).decode(
        encode_payload(g))
    del doc["flags"]
    lay = codec.layout(CausalGraph)
    doc[BLOCK_KEY] = msgspec.msgpack.Ext(EXT_BLOCK, bytes(lay._block((g.val, g.p, None))))
    back = decode_payload("CausalGraph", msgspec.msgpack.encode(doc))
    assert back.flags == [] and not back.stability.any() and back.val.tobytes() == g.val.tobytes()


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
    lay = codec.layout(CausalGraph)  # three array fields: val, p, stability
    arrays = (arrays + [None])[:3]
    for _ in range(2):  # the second decode takes the cached-header path
        body = bytearray(lay._block(tuple(arrays)))
        names, back = codec_arrays.unpack(EXT_BLOCK, memoryview(body))
        assert names == tuple(n for n, a in zip(lay.arrays, arrays) if a is not None)
        for a, b in zip([a for a in arrays if a is not None], back, strict=True):
            assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
            assert b.flags.writeable and b.flags.c_contiguous and b.flags.aligned
        body[:] = b"\xff" * len(body)  # the arrays own a copy: scribbling on the frame changes nothing
        assert all(a.tobytes() == b.tobytes() for a, b in zip([a for a in arrays if a is not None], back))


def test_writing_one_decoded_array_leaves_its_neighbours_alone() -> None:
    msg = decode_payload("AgentStates", encode_payload(SAMPLES["AgentStates"]))
    before = msg.y.copy()
    msg.x[:] = 7.0
    assert np.array_equal(msg.y, before) and (msg.x == 7.0).all()


def test_an_absent_optional_array_stays_absent() -> None:
    g = SAMPLES["CausalGraph"]
    names, back = codec_arrays.unpack(EXT_BLOCK, memoryview(codec.layout(CausalGraph)._block((g.val, g.p, None))))
    assert names == ("val", "p") and back[0].tobytes() == g.val.tobytes()


def _frame_with_block(msg: Message, body: bytes, code: int = EXT_BLOCK) -> bytes:
    lay = codec.layout(type(msg))
    doc = {**dict(zip(lay.plain, lay.plain_values(msg))), BLOCK_KEY: msgspec.msgpack.Ext(code, body)}
    return b"/t\x00" + msgspec.msgpack.encode([1, 0, "p", type(msg).__name__, doc])


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda b: b[:3], "truncated block"),
        (lambda b: b[:-1], "data bytes"),
        (lambda b: b + b"\x00" * 8, "data bytes"),
        (lambda b: b[:4] + b[4:].replace(b"<f8", b"|O8", 1), "cannot travel"),
        (lambda b: b[:4] + b[4:11] + b"\x03\x21" + b[13:], "dimensions"),  # after the name "values"
        (lambda b: b"\xff\x00\x00\x00" + b[4:], "block header of 255 bytes"),  # a header longer than the block
        (lambda b: b"\x10\x00\x00\x00" + b[4:], "truncated block header"),  # 16 of 20 header bytes: a shape cut short
        (lambda b: b[:4] + b"\x06\xff\xfe" + b[7:], "not UTF-8"),
    ],
)
def test_a_damaged_block_is_a_bad_frame_never_a_crash(damage, needle: str) -> None:
    msg = Features(names=["a", "b"], values=np.array([1.0, 2.0]))
    body = _body(msg)
    assert body[4:11] == b"\x06values"
    with pytest.raises(BadFrameError, match=needle):
        decode_frame(_frame_with_block(msg, damage(body)))


def test_a_block_without_a_required_array_or_with_a_wrong_code_is_rejected() -> None:
    msg = SAMPLES["AgentStates"]
    other = _body(Features(names=["a"], values=np.zeros(1)))  # an array named "values" only
    with pytest.raises(BadFrameError, match="Missing required argument .x."):
        decode_frame(_frame_with_block(msg, other))
    with pytest.raises(BadFrameError, match="extension code 9"):
        decode_frame(_frame_with_block(msg, _body(msg), code=9))
    not_block = b"/t\x00" + msgspec.msgpack.encode([1, 0, "p", "Features", {"names": ["a"], BLOCK_KEY: 5}])
    with pytest.raises(BadFrameError, match="does not hold an array block"):
        decode_frame(not_block)


def test_random_damage_to_payloads_only_ever_raises_codec_errors() -> None:
    names = ("AgentStates", "Predictions", "CausalGraph", "Features")
    payloads = [encode_payload(SAMPLES[t]) for t in names] + [_legacy(SAMPLES[t]) for t in names]
    rejected = 0
    for i in range(4000):
        raw = bytearray(payloads[i % len(payloads)])
        for _ in range(1 + i % 3):
            raw[RNG.integers(len(raw))] = RNG.integers(256)
        try:
            decode_payload(names[i % 4], bytes(raw))
        except CodecError:
            rejected += 1
    assert rejected > 0  # some damage lands in data bytes and decodes; the rest is caught, nothing else escapes


def test_agent_states_validation_still_runs_on_the_fast_path() -> None:
    good = AgentStates(ids=["a", "b"], roles=["h", "h"], x=np.zeros(2), y=np.zeros(2), vx=np.zeros(2), vy=np.zeros(2))
    lay = codec.layout(AgentStates)
    arrays = (good.x, good.y, good.vx, good.vy, np.zeros(3), good.goal)  # heading one too long
    doc = {**dict(zip(lay.plain, lay.plain_values(good))), BLOCK_KEY: msgspec.msgpack.Ext(EXT_BLOCK, bytes(lay._block(arrays)))}
    with pytest.raises(CodecError, match="heading has shape"):
        decode_payload("AgentStates", msgspec.msgpack.encode(doc))
    ints = AgentStates(ids=["a"], roles=["h"], x=np.array([1]), y=np.array([2]), vx=np.array([3]), vy=np.array([4]))
    assert ints.x.dtype == np.float64 and ints.heading.dtype == np.float64


def test_an_array_field_that_holds_a_list_is_a_codec_error_on_encode() -> None:
    msg = AgentStates(ids=["a"], roles=["h"], x=np.zeros(1), y=np.zeros(1), vx=np.zeros(1), vy=np.zeros(1))
    msg.x = [1.0]  # structs are mutable: nothing checked this assignment
    with pytest.raises(CodecError, match="must hold numpy arrays, not list"):
        encode_payload(msg)


def test_an_array_outside_an_array_field_is_a_codec_error() -> None:
    msg = Features(names=["a"], values=np.zeros(1))
    msg.names = np.array([1.0])
    with pytest.raises(CodecError, match="arrays travel only in array fields"):
        encode_payload(msg)


def test_a_number_where_an_older_payload_had_an_array_is_a_codec_error_not_an_escaping_exception() -> None:
    payload = msgspec.msgpack.encode({"names": ["a"], "values": 1.5})
    with pytest.raises(CodecError, match=r"cannot decode float as ndarray - at `\$.values`"):
        decode_payload("Features", payload)


def test_predictions_arrays_of_float32_keep_their_dtype() -> None:
    msg = SAMPLES["Predictions"]
    back = decode_payload("Predictions", encode_payload(msg))
    assert back.trajectories.dtype == np.float32 and isinstance(back, Predictions)
