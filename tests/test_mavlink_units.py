"""Parsers of the MAVLink side: frames, FTP headers, param.pck, PARAM_VALUE, AUTOPILOT_VERSION encodings."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.mavlink import (
    AUTOPILOT_ARDUPILOT,
    AUTOPILOT_PX4,
    Deframer,
    FtpOp,
    Opcode,
    Param,
    ParamFormatError,
    decode_git_hash,
    decode_pck,
    encode,
    encode_pck,
    mavlink,
    pack_ftp,
    param_from_value,
    param_value_fields,
    params_digest,
    unpack_ftp,
    x25,
)

HB = mavlink.MAVLINK_MSG_ID_HEARTBEAT


def _hb(seq: int) -> bytes:
    return encode(HB, bytes([1, 2, 3, 4, 2, 3, 81, 3, 3]), seq=seq, sysid=1, compid=1)


def test_x25_check_value():
    """CRC-16/MCRF4XX of "123456789" is 0x6F91 (reference §1)."""
    assert x25(b"123456789") == 0x6F91


def test_reference_check_frame_is_a_valid_v1_command():
    """The uploader's v1 COMMAND_LONG check frame has the documented CRC (CRC_EXTRA 152)."""
    frame = bytes.fromhex("fe2172ff004c" + "00004040" + "00" * 24 + "f600010000")
    assert x25(frame[1:] + bytes((152,))) == 0x6B53


def test_encoded_frames_round_trip_and_trim_trailing_zeros():
    """A frame we encode is found again; its payload is trimmed on the wire and zero-extended on reading."""
    frame = encode(HB, bytes(9), seq=7, sysid=1, compid=1)
    assert frame[1] == 1  # trailing zeros trimmed, one byte kept
    (got,) = Deframer().feed(frame)
    assert (got.msgid, got.sysid, got.seq, got.payload) == (HB, 1, 7, bytes(9))


def test_mavlink1_frames_are_ignored():
    """A MAVLink 1 frame (valid CRC) is not accepted; the v2 frame after it is."""
    payload = bytes([1, 2, 3, 4, 2, 3, 81, 3, 3])
    head = bytes((0xFE, 9, 0, 1, 1, HB))
    crc = x25(head[1:] + payload + bytes((50,)))
    v1 = head + payload + struct.pack("<H", crc)
    got = Deframer().feed(v1 + _hb(1))
    assert [f.seq for f in got] == [1]


def test_bad_crc_resynchronises_one_byte_later():
    """A truncated frame cannot swallow the good frame behind it."""
    truncated = _hb(1)[:8]
    d = Deframer()
    got = d.feed(truncated + _hb(2) + _hb(3))
    assert [f.seq for f in got] == [2, 3]
    assert d.rejected >= 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=30), st.integers(0, 255)), max_size=12), st.integers(1, 64))
def test_frames_survive_any_noise_between_them(chunks, split):
    """Garbage between frames (even containing magics) never hides or alters a frame."""
    stream = b""
    for noise, seq in chunks:
        stream += noise.replace(b"\xfd", b"\xfe") + _hb(seq)
    d = Deframer()
    got = []
    for i in range(0, len(stream), split):
        got += d.feed(stream[i : i + split])
    assert [f.seq for f in got] == [seq for _, seq in chunks]


@given(st.binary(max_size=600))
def test_deframer_never_crashes_on_noise(noise):
    """Arbitrary bytes either yield verified frames or nothing."""
    for f in Deframer().feed(noise):
        assert f.raw[0] == 0xFD


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.sampled_from(list(Opcode)),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=239),
)
def test_ftp_header_round_trip(seq, session, opcode, offset, data):
    """pack_ftp / unpack_ftp are inverse (reference §6.1 layout)."""
    payload = pack_ftp(FtpOp(seq, session, opcode, 5, 1, offset, data), target_system=255, target_component=190)
    assert len(payload) == 254
    tsys, tcomp, op = unpack_ftp(payload)
    assert (tsys, tcomp, op.seq, op.session, op.opcode, op.offset, op.data) == (255, 190, seq, session, opcode,
                                                                                 offset, data)  # fmt: skip


def test_ftp_oversized_size_is_visible():
    """A reply claiming more than 239 data bytes is visibly malformed."""
    payload = bytearray(pack_ftp(FtpOp(1, 0, Opcode.ACK, data=b"x"), target_system=1, target_component=1))
    payload[3 + 4] = 250
    _, _, op = unpack_ftp(bytes(payload))
    assert op.size == 250
    assert len(op.data) == 239


_names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=16)
_param = st.one_of(
    st.builds(Param, _names, st.just("int8"), st.integers(-128, 127)),
    st.builds(Param, _names, st.just("int16"), st.integers(-(2**15), 2**15 - 1)),
    st.builds(Param, _names, st.just("int32"), st.integers(-(2**31), 2**31 - 1)),
    st.builds(Param, _names, st.just("float32"), st.floats(width=32, allow_nan=False)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_param, max_size=60, unique_by=lambda p: p.name), st.sampled_from([239, 110, 80]))
def test_param_pck_round_trip_at_any_block_size(params, block):
    """param.pck decodes to the same set whatever the FTP block size padded it to."""
    params = sorted(params, key=lambda p: p.name)
    decoded = decode_pck(encode_pck(params, block=block))
    assert decoded == params
    assert params_digest(decoded) == params_digest(reversed(params))


def test_param_pck_rejects_subsets_truncation_and_duplicates():
    """A subset, a cut file or a repeated name is an error, never a smaller set."""
    data = encode_pck([Param("A", "int8", 1), Param("B", "int8", 2)])
    with pytest.raises(ParamFormatError, match="subset"):
        decode_pck(struct.pack("<HHH", 0x671B, 1, 2) + data[6:])
    with pytest.raises(ParamFormatError, match=r"truncated|found"):
        decode_pck(data[:-1])
    with pytest.raises(ParamFormatError, match="twice"):
        decode_pck(encode_pck([Param("A", "int8", 1), Param("A", "int8", 2)]))
    with pytest.raises(ParamFormatError, match="magic"):
        decode_pck(b"\0" * 6)


@given(_param, st.booleans())
def test_param_value_round_trip_bytewise_and_c_cast(p, bytewise):
    """PARAM_VALUE carries every int16/int8 and float exactly, C-cast (ArduPilot) or bytewise (PX4)."""
    if p.type == "int32" and not bytewise:
        p = Param(p.name, p.type, p.value % (1 << 24))  # C-cast floats hold ints exactly only below 2**24
    bits, mav_type = param_value_fields(p, bytewise=bytewise)
    got = param_from_value(p.name.encode(), bits, mav_type, bytewise=bytewise)
    assert got.canonical() == p.canonical()


def test_param_value_rejects_fractional_integer():
    """A C-cast integer parameter sent as 1.5 is malformed."""
    with pytest.raises(ParamFormatError):
        param_from_value(b"X", struct.pack("<f", 1.5), 6, bytewise=False)


def test_git_hash_encodings():
    """ArduPilot sends ASCII hex; PX4 binary LE with the first five hash bytes on top (reference §3)."""
    assert decode_git_hash(b"90700977", AUTOPILOT_ARDUPILOT) == "90700977"
    assert decode_git_hash(bytes.fromhex("030201 0ccc8d005b".replace(" ", "")), AUTOPILOT_PX4) == "5b008dcc0c"
