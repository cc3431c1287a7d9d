"""DUML v1 framing, checksums, module names and the version reply, against independent sources.

The reference frames come from o-gs/dji-firmware-tools (commit
df0b9c60566b6bdb3eee3802d35d3e6cb66515cd): ``MKDUPC`` are the outputs of its
``comm_mkdupc.py`` for the arguments shown (run with python3, no
dependencies), and ``CAPTURED`` are the aircraft replies its
``comm_og_service_tool.py`` replays in its dry-test mode (line numbers below).
Nothing here needs the network or ../shared.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.duml import (
    DISCOVERY,
    DOCK,
    MAGIC,
    VERSION_CMD_ID,
    VERSION_CMD_SET,
    VERSION_FRAME_MAX,
    Address,
    Deframer,
    Link,
    VersionReplyError,
    crc8,
    crc16,
    encode,
    format_version,
    module_name,
    parse_module,
    parse_version,
    parse_version_reply,
    sweep_versions,
    version_reply_payload,
)

#: comm_mkdupc.py ARGS -> its output (frame bytes, hex)
MKDUPC = {
    # -t 1000 -r 0300 -n 1234 -a ACK_AFTER_EXEC -s GENERAL -i 1: the dock's version inquiry to the flight controller
    "55 0d 04 33 0a 03 d2 04 40 00 01 64 ad": {
        "sender": Address(10, 0),
        "receiver": Address(3, 0),
        "seq": 1234,
        "cmd_set": 0,
        "cmd_id": 1,
        "ack": 2,
    },
    # -t 1001 -r 0401 -n 0 -s 0 -i 1
    "55 0d 04 33 2a 24 00 00 00 00 01 73 ca": {
        "sender": Address(10, 1),
        "receiver": Address(4, 1),
        "seq": 0,
        "cmd_set": 0,
        "cmd_id": 1,
    },
    # -t 0300 -r 1000 -n 1234 -u RESPONSE -s GENERAL -i 1 -x 0000574d...01000000: a 34-byte version reply
    "55 2f 04 63 03 0a d2 04 80 00 01 00 00 57 4d 33 33 30 5f 46 43 00 00 00 00 00 00 00 00 07 00 00 01 07 2c 02 "
    "03 ff 03 00 00 01 00 00 00 bb 89": {
        "sender": Address(3, 0),
        "receiver": Address(10, 0),
        "seq": 1234,
        "cmd_set": 0,
        "cmd_id": 1,
        "reply": True,
        "payload": bytes.fromhex("0000574d3333305f4643000000000000000007000001072c0203ff03000001000000"),
    },
    # -t 1203 -r 1000 -n 65535 -u 1 -s 0 -i 1 -x 00: esc-3 replying with a 1-byte payload
    "55 0e 04 66 6c 0a ff ff 80 00 01 00 76 6c": {
        "sender": Address(12, 3),
        "receiver": Address(10, 0),
        "seq": 65535,
        "cmd_set": 0,
        "cmd_id": 1,
        "reply": True,
        "payload": b"\0",
    },
}

#: comm_og_service_tool.py line -> a reply captured from an aircraft (sender, receiver, cmd set, cmd id)
CAPTURED = {
    266: ("55 0e 04 66 03 0a 9d a5 80 03 df 00 a7 92", Address(3, 0), Address(10, 0), 0x03, 0xDF),
    300: (
        "55 19 04 e4 03 0a 9e a5 80 03 e0 00 00 00 00 2f 87 ca 7a 86 01 00 00 55 e7",
        Address(3, 0), Address(10, 0), 0x03, 0xE0,
    ),
    443: ("55 14 04 6d 03 0a 00 7d 80 03 f8 00 8a 23 71 03 f4 01 57 ee", Address(3, 0), Address(10, 0), 0x03, 0xF8),
    1076: ("55 0f 04 a2 04 0a 71 92 00 04 08 01 11 2c 70", Address(4, 0), Address(10, 0), 0x04, 0x08),
    1321: ("55 0f 04 a2 01 0a ad 00 c0 00 30 00 03 84 5b", Address(1, 0), Address(10, 0), 0x00, 0x30),
    1376: ("55 0e 04 66 08 0a 00 ff 80 00 30 00 f9 fb", Address(8, 0), Address(10, 0), 0x00, 0x30),
}  # fmt: skip


@pytest.mark.parametrize("hexframe", MKDUPC.keys())
def test_encode_matches_comm_mkdupc(hexframe):
    """Our encoder builds byte for byte the frame their builder builds (both CRCs, every header bit)."""
    fields = dict(MKDUPC[hexframe])
    sender, receiver = fields.pop("sender"), fields.pop("receiver")
    assert encode(sender, receiver, **fields).hex(" ") == hexframe


@pytest.mark.parametrize("hexframe", MKDUPC.keys())
def test_deframer_reads_comm_mkdupc_frames(hexframe):
    want = MKDUPC[hexframe]
    d = Deframer()
    (frame,) = d.feed(bytes.fromhex(hexframe))
    assert (frame.sender, frame.receiver, frame.seq) == (want["sender"], want["receiver"], want["seq"])
    assert (frame.cmd_set, frame.cmd_id, frame.reply) == (want["cmd_set"], want["cmd_id"], want.get("reply", False))
    assert frame.payload == want.get("payload", b"")
    assert d.rejected == 0


@pytest.mark.parametrize("line", CAPTURED.keys())
def test_captured_aircraft_frames_pass_both_checks(line):
    """Frames from real aircraft verify: the seeds (0x77, 0x3692) and polynomials are the aircraft's."""
    hexframe, sender, receiver, cmd_set, cmd_id = CAPTURED[line]
    raw = bytes.fromhex(hexframe)
    assert crc8(raw[:3]) == raw[3]
    assert crc16(raw[:-2]) == int.from_bytes(raw[-2:], "little")
    (frame,) = Deframer().feed(raw)
    assert (frame.sender, frame.receiver, frame.cmd_set, frame.cmd_id, frame.reply) == (
        sender, receiver, cmd_set, cmd_id, bool(raw[8] & 0x80),
    )  # fmt: skip
    assert frame.raw == raw


def test_a_flipped_bit_anywhere_is_rejected():
    raw = bytes.fromhex(CAPTURED[300][0])
    for i in range(len(raw)):
        for bit in range(8):
            bad = bytearray(raw)
            bad[i] ^= 1 << bit
            assert Deframer().feed(bytes(bad)) == [], (i, bit)


def _frame(seq: int, payload: bytes = b"") -> bytes:
    return encode(Address(3, 0), Address(10, 0), seq=seq, cmd_set=0, cmd_id=1, payload=payload, reply=True)


def test_a_truncated_frame_does_not_swallow_the_frames_behind_it():
    """After a candidate fails its check, the search resumes one byte after its 0x55.

    The frames behind a truncated one wait only until as many bytes as it claimed have arrived.
    """
    long = _frame(1, bytes(range(40)))
    b, c, e = _frame(2, b"\x55" * 5), _frame(3), _frame(4)
    d = Deframer()
    got = d.feed(long[:20] + b) + d.feed(c) + d.feed(e)
    assert [f.seq for f in got] == [2, 3, 4]
    assert d.rejected >= 1


def test_bad_header_check_and_bad_frame_check_are_skipped():
    bad_head = bytearray(_frame(1))
    bad_head[3] ^= 0xFF
    bad_body = bytearray(_frame(2, b"abc"))
    bad_body[12] ^= 0x01
    d = Deframer()
    got = d.feed(bytes(bad_head) + bytes(bad_body) + _frame(3))
    assert [f.seq for f in got] == [3]
    assert d.rejected >= 2


def test_other_protocol_versions_and_impossible_lengths_are_rejected():
    for word in (13 | 2 << 10, 12 | 1 << 10, 0 | 1 << 10):  # version 2; shorter than a header; zero
        head = bytes((MAGIC, word & 0xFF, word >> 8))
        d = Deframer()
        assert d.feed(head + bytes((crc8(head),)) + bytes(20)) == []
        assert d.rejected == 1


def test_the_deframer_holds_at_most_one_frame_of_bytes():
    d = Deframer()
    assert d.feed(bytes(100_000)) == []
    assert len(d._buf) == 0
    word = 0x3FF | 1 << 10  # a valid header claiming the longest frame
    head = bytes((MAGIC, word & 0xFF, word >> 8))
    d.feed(head + bytes((crc8(head),)) + bytes(5000))
    assert len(d._buf) < 0x3FF


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=60), st.binary(max_size=40)), min_size=1, max_size=8), st.data())
def test_frames_in_noise_are_all_found_in_order(parts, data):
    """Whatever noise (including false start bytes) surrounds them, every frame is found, in order."""
    stream = b""
    for i, (noise, payload) in enumerate(parts):
        stream += noise.replace(b"\x00", b"\x55") + _frame(i, payload)
    stream += bytes(0x400)  # enough bytes for any false candidate to be judged
    d = Deframer()
    got: list[int] = []
    cut = 0
    while cut < len(stream):
        step = data.draw(st.integers(1, 97))
        got += [f.seq for f in d.feed(stream[cut : cut + step]) if f.cmd_id == 1 and f.sender == Address(3, 0)]
        cut += step
    assert got == list(range(len(parts)))


def test_encode_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        encode(Address(10, 0), Address(3, 0), seq=0, cmd_set=0, cmd_id=1, payload=bytes(0x3FF))
    with pytest.raises(ValueError, match="not a DUML module address"):
        encode(Address(10, 8), Address(3, 0), seq=0, cmd_set=0, cmd_id=1)
    with pytest.raises(ValueError, match="out of range"):
        encode(Address(10, 0), Address(3, 0), seq=0x10000, cmd_set=0, cmd_id=1)


@pytest.mark.parametrize("tail", [b"", b"\x01", b"\x01\x00\x00\x00"], ids=["30", "31", "34"])
def test_version_reply_layouts(tail):
    """The three reply sizes the dissector describes decode to the same fields."""
    payload = version_reply_payload("WM220 FC", parse_version("01.00.00.07"), parse_version("03.02.44.07"), tail=tail)
    v = parse_version_reply(payload)
    assert (v.hardware, v.loader, v.firmware, v.flags) == ("WM220 FC", "01.00.00.07", "03.02.44.07", 0x3FF)
    assert v.raw == payload


def test_version_reply_from_comm_mkdupc_frame():
    hexframe = next(k for k, v in MKDUPC.items() if len(v.get("payload", b"")) == 34)
    (frame,) = Deframer().feed(bytes.fromhex(hexframe))
    v = parse_version_reply(frame.payload)
    # hw "WM330_FC"; loader bytes 07 00 00 01 and app bytes 07 2c 02 03, little-endian words
    assert (v.hardware, v.loader, v.firmware, v.flags) == ("WM330_FC", "01.00.00.07", "03.02.44.07", 0x3FF)


def test_a_digest_covers_every_byte_of_the_reply():
    base = version_reply_payload("CAM", 1, 2, tail=b"\x01")
    changed = base[:-1] + b"\x02"
    assert parse_version_reply(base).firmware == parse_version_reply(changed).firmware
    assert parse_version_reply(base).digest() != parse_version_reply(changed).digest()


@pytest.mark.parametrize(("payload", "why"), [(b"", "0-byte"), (b"\x05", "status byte 5"), (bytes(29), "29-byte"),
                                              (bytes(65), "at most 64")])  # fmt: skip
def test_short_or_oversized_version_replies_are_refused(payload, why):
    with pytest.raises(VersionReplyError, match=why):
        parse_version_reply(payload)


def test_non_ascii_hardware_text_is_escaped_not_lost():
    payload = b"\0\0" + b"FC\xff\x1b[2J".ljust(16, b"\0") + bytes(12)
    assert parse_version_reply(payload).hardware == "FC\\xff\x1b[2J"


def test_versions_round_trip_and_bad_ones_are_refused():
    for text in ("00.00.00.00", "03.02.44.07", "255.255.255.255"):
        assert format_version(parse_version(text)) == text
    assert format_version(0x03022C07) == "03.02.44.07"
    for bad in ("1.2.3", "1.2.3.4.5", "256.0.0.0", "a.b.c.d", "-1.0.0.0", ""):
        with pytest.raises(ValueError, match=r"AA\.BB\.CC\.DD"):
            parse_version(bad)


def test_module_names_round_trip_for_every_address_asked():
    names = {module_name(a) for a in DISCOVERY}
    assert len(names) == len(DISCOVERY) == 29 * 8
    assert all(parse_module(module_name(a)) == a for a in DISCOVERY)
    assert parse_module("flight-controller") == Address(3, 0)
    assert module_name(Address(12, 3)) == "esc-3"
    assert Address(10, 0) not in DISCOVERY  # the dock itself (a PC) is never asked
    for bad in ("wing-0", "camera-8", "esc--1", "", "-0"):
        with pytest.raises(ValueError, match="expected MODULE"):
            parse_module(bad)


# -- a module forging others' answers, and noise holding honest ones back (an adversarial review) ----------


def _long_header(length: int = 0x3FF) -> bytes:
    """A header that passes its 1-byte check and claims a ``length``-byte frame."""
    word = length | 1 << 10
    head = bytes((MAGIC, word & 0xFF, word >> 8))
    return head + bytes((crc8(head),))


def _reply(sender: Address, seq: int, firmware: str) -> bytes:
    payload = version_reply_payload("SIM", parse_version("01.00.00.01"), parse_version(firmware))
    return encode(sender, DOCK, seq=seq, cmd_set=VERSION_CMD_SET, cmd_id=VERSION_CMD_ID, payload=payload, reply=True)


def test_a_reader_of_short_frames_skips_headers_claiming_long_ones():
    """A header claiming 1,023 bytes held a valid frame behind it until 1,023 bytes came (and cost a CRC
    over them); a reader of version replies only skips it and finds the frame at once."""
    honest = _reply(Address(3, 0), 7, "03.02.44.08")
    assert Deframer().feed(_long_header() + honest) == []  # held by the default reader
    frames = Deframer(max_frame=VERSION_FRAME_MAX).feed(_long_header() + honest)
    assert [f.raw for f in frames] == [honest]


def test_flush_finds_a_frame_a_noise_header_was_holding_back():
    d = Deframer()
    honest = _reply(Address(3, 0), 7, "03.02.44.08")
    assert d.feed(_long_header() + honest) == []
    assert [f.raw for f in d.flush()] == [honest]
    assert d.rejected >= 1 and len(d._buf) == 0


class ForgingBus:
    """An aircraft whose camera answers for every module with the approved version, numbering its forgeries
    from its own inquiry's sequence number as if the dock counted up; the flight controller answers
    honestly with another version, behind a noise header that held it back."""

    target = "dji:///dev/forged"

    def __init__(self) -> None:
        self.out = bytearray()
        self.seqs: dict[Address, int] = {}

    def write(self, data: bytes) -> None:
        for request in Deframer().feed(data):
            self.seqs.setdefault(request.receiver, request.seq)
            if request.receiver == CAMERA:
                base = request.seq - DISCOVERY.index(CAMERA)
                for addr in DISCOVERY:
                    self.out += _reply(addr, (base + DISCOVERY.index(addr)) & 0xFFFF, "03.02.44.07")
            elif request.receiver == FC:
                self.out += _long_header() + _reply(FC, request.seq, "03.02.44.08")

    def read(self, timeout: float) -> bytes:
        del timeout
        data, self.out[:] = bytes(self.out), b""
        return data


CAMERA, FC = Address(1, 0), Address(3, 0)


def test_forged_answers_do_not_hide_the_flight_controllers_own():
    """With sequence numbers counted up from one base, the camera's forgeries took every module's place
    and a noise header kept the honest answer unread until the sweep ended: a PASS. Now each number is
    random (the forgeries answer nothing) and what was held back is judged when the sweep ends."""
    bus = ForgingBus()
    result = sweep_versions(Link(bus), DISCOVERY, expected=[FC, CAMERA], timeout=1.0, quiet=0.2)
    assert str(result.versions[FC].firmware) == "03.02.44.08", result.errors
    # The forgeries carried numbers the dock never used (one landing on another module's number by chance
    # makes that module's result an error, never a version).
    assert result.stale > len(DISCOVERY) // 2
    assert all(r.firmware == "03.02.44.08" for a, r in result.versions.items() if a == FC)
    seqs = [bus.seqs[a] for a in DISCOVERY]
    assert len(set(seqs)) == len(seqs) and sorted(seqs) != list(range(min(seqs), min(seqs) + len(seqs)))
