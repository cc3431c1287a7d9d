"""Property tests: every flight-controller parser raises only its documented errors, on any input, and returns.

The seeds of issue 9's long fuzzing runs (``make fuzz``): each test names one
entry point, the input it gets and the exceptions it may raise. Anything else
escaping (``struct.error``, ``IndexError``, ``UnicodeDecodeError``, a bare
``ValueError`` where a subclass is documented, ``RecursionError``...) fails the
test; a hang would never finish it. Bounded: at most 300 examples each, no
deadline (a loaded machine is not a failure).

=====================================  ==========================================  ==========================
entry point                            input                                       may raise
=====================================  ==========================================  ==========================
``Deframer().feed``                    any bytes, in any chunks                    nothing
``decode`` (pymavlink)                 a verified frame with any payload           ``ValueError``
``identity_from_messages``             decoded HEARTBEAT + AUTOPILOT_VERSION       nothing
``decode_git_hash``                    any 8 bytes, any autopilot                  nothing
``unpack_ftp``                         any bytes                                   ``ValueError``
``parse_entry``                        any bytes                                   ``ValueError``
``FtpClient`` list/crc32/read          any FTP replies over a real pty             ``AttestError``
``decode_pck``                         any bytes                                   ``ParamFormatError``
``param_from_value``                   any name, 4 value bytes, type, encoding     ``ParamFormatError``
``decode_image``                       any bytes; JSON of any shape                ``FirmwareFormatError``
``find_fw_version``/``app_link_offset``  any bytes                                 nothing
``find_app_descriptor``,               any bytes                                   ``FirmwareFormatError``
``find_app_in_area``, ``locate_app``,
``application_at_boot``
``BootloaderClient`` calls             any reply bytes over a real pty             ``AttestError``
=====================================  ==========================================  ==========================
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import struct
import threading
import tty
import zlib
from collections.abc import Callable, Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.errors import AttestError
from attest.firmware import (
    APP_MAGIC,
    FW_VERSION_MAGIC,
    BootloaderClient,
    FirmwareFormatError,
    app_link_offset,
    application_at_boot,
    decode_image,
    find_app_descriptor,
    find_app_in_area,
    find_fw_version,
    locate_app,
)
from attest.mavlink import (
    FTP_MSG_ID,
    Deframer,
    FtpClient,
    FtpOp,
    Link,
    Opcode,
    ParamFormatError,
    decode,
    decode_git_hash,
    decode_pck,
    encode,
    identity_from_messages,
    mavlink,
    pack_ftp,
    param_from_value,
    unpack_ftp,
)
from attest.transports import SerialTransport

FUZZ = settings(max_examples=300, deadline=None)
#: Tests that talk over a pty wait for timeouts: fewer examples.
FUZZ_PTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes with the structures' magics sprinkled in, so the parsers get past their first check.
_MAGICS = [bytes((0xFD,)), APP_MAGIC, FW_VERSION_MAGIC, b"\x1b\x67", b"\x12\x10", b"APJFWv1", b"\xff" * 8, bytes(8)]
_noisy = st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(_MAGICS)), max_size=24).map(b"".join)


# -- MAVLink frames, identity ------------------------------------------------------------------


@FUZZ
@given(st.lists(_noisy, max_size=8))
def test_deframer_takes_any_bytes(chunks):
    """Deframer.feed: any bytes in any chunks give frames or nothing, never an exception."""
    d = Deframer()
    for chunk in chunks:
        for frame in d.feed(chunk):
            assert frame.raw[0] == 0xFD


_MSGIDS = sorted(mavlink.mavlink_map)


@st.composite
def _frames(draw, msgid=None):
    mid = draw(st.sampled_from(_MSGIDS)) if msgid is None else msgid
    size = mavlink.mavlink_map[mid].unpacker.size
    payload = draw(st.binary(min_size=size, max_size=size))
    (frame,) = Deframer().feed(encode(mid, payload, seq=0, sysid=1, compid=1))
    return frame


@FUZZ
@given(_frames())
def test_decode_of_any_verified_frame_is_a_message_or_value_error(frame):
    """decode: a verified frame with any payload is a message or ValueError (documented), nothing else."""
    try:
        decode(frame)
    except ValueError:
        pass


@FUZZ
@given(_frames(mavlink.MAVLINK_MSG_ID_HEARTBEAT), _frames(mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION), st.booleans())
def test_identity_from_any_heartbeat_and_version(hb, av, px4):
    """identity_from_messages: any decoded HEARTBEAT and AUTOPILOT_VERSION give facts, never an exception."""
    if px4:
        hb = next(iter(Deframer().feed(encode(0, hb.payload[:5] + b"\x0c" + hb.payload[6:], seq=0, sysid=1, compid=1))))
    ident = identity_from_messages(decode(hb), decode(av))
    assert all(isinstance(v, str) for v in ident.facts.values())
    ident.digest()


@FUZZ
@given(st.binary(max_size=12), st.integers(0, 255))
def test_git_hash_of_any_bytes(raw, autopilot):
    """decode_git_hash: any bytes, any autopilot: lowercase hex, never an exception."""
    out = decode_git_hash(raw, autopilot)
    assert out == out.lower()
    int(out, 16)


# -- MAVLink FTP ---------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_unpack_ftp_of_any_bytes(payload):
    """unpack_ftp: any bytes are an FtpOp or ValueError (shorter than the header)."""
    try:
        _t, _c, op = unpack_ftp(payload)
    except ValueError:
        assert len(payload) < 15
        return
    assert len(op.data) <= 239
    op.nak_code()


@FUZZ
@given(st.one_of(st.binary(max_size=260), st.sampled_from([b"F", b"D", b"S"]).flatmap(lambda k: _noisy.map(k.__add__))))
def test_parse_entry_of_any_bytes(raw):
    """parse_entry: any bytes are an entry, a skip (None) or ValueError."""
    from attest.mavlink.ftp_proto import parse_entry  # the listing's parser; FtpClient turns its error

    try:
        parse_entry(raw)
    except ValueError:
        pass


# -- parameters ----------------------------------------------------------------------------------


def _pck_like(draw_bytes: bytes, magic: int, num: int) -> bytes:
    return struct.pack("<HHH", magic, num, num) + draw_bytes


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=600),
        st.builds(_pck_like, _noisy, st.sampled_from([0x671B, 0x671C]), st.integers(0, 40)),
    )
)
def test_decode_pck_of_any_bytes(data):
    """decode_pck: any bytes (raw, or with a valid header) are parameters or ParamFormatError."""
    try:
        decode_pck(data)
    except ParamFormatError:
        pass


@FUZZ
@given(st.binary(min_size=16, max_size=16), st.binary(min_size=4, max_size=4), st.integers(0, 255), st.booleans())
def test_param_from_any_param_value(name, bits, mav_type, bytewise):
    """param_from_value: any PARAM_VALUE fields are a Param or ParamFormatError."""
    try:
        param_from_value(name, bits, mav_type, bytewise=bytewise)
    except ParamFormatError:
        pass


# -- firmware images -------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _mostly(valid: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """``valid`` three times in four, so a parser gets past one field to the next."""
    return st.one_of(valid, valid, valid, other)


@st.composite
def _release_files(draw):
    """Release-file-shaped JSON: the right keys with values of any type, images that are any zlib/base64."""
    raw = draw(st.binary(min_size=1, max_size=200))
    forms = {
        "zlib": zlib.compress(raw),
        "truncated": zlib.compress(raw)[:-3],
        "raw": raw,
        "trailing": zlib.compress(raw) + b"x",
    }
    packed = forms[draw(st.sampled_from(sorted(forms)))]
    image = draw(_mostly(st.just(base64.b64encode(packed).decode()), st.text(max_size=40) | _json_values))
    obj = {
        "magic": draw(_mostly(st.sampled_from(["APJFWv1", "PX4FWv1"]), _json_values)),
        "board_id": draw(_mostly(st.integers(0, 65535), st.integers(-2, 70_000) | _json_values)),
        "image_size": draw(_mostly(st.just(len(raw)), st.sampled_from([len(raw) + 1, 0, -1, 2**53]) | _json_values)),
        "image": image,
    }
    if draw(st.booleans()):
        obj["flash_total"] = draw(_mostly(st.integers(len(raw), 1 << 20), st.integers(-1, 1 << 25) | _json_values))
    text = json.dumps(obj)
    if draw(st.integers(0, 7)) == 0:  # a number JSON allows and a strict reader must refuse: huge, or not finite
        text = text.replace(
            '"board_id": ', '"board_id": ' + draw(st.sampled_from(["1" * 5000 + ', "x": ', '1e999, "y": '])), 1
        )
    return text.encode()


@FUZZ
@given(st.one_of(st.binary(max_size=400), _release_files()))
def test_decode_image_of_any_bytes(data):
    """decode_image: any bytes, or release-file JSON of any shape, are an image or FirmwareFormatError."""
    try:
        fw = decode_image(data)
    except FirmwareFormatError:
        return
    assert len(fw.image) == json.loads(data)["image_size"]


_flash_like = st.lists(
    st.one_of(
        st.binary(max_size=96),
        st.sampled_from(_MAGICS),
        st.builds(lambda c: APP_MAGIC + struct.pack("<IIII", *c), st.tuples(*[st.integers(0, 2**32 - 1)] * 4)),
    ),
    max_size=40,
).map(b"".join)


@FUZZ
@given(_flash_like)
def test_version_block_and_link_offset_of_any_bytes(data):
    """find_fw_version and app_link_offset: any bytes give a block/offset or None, never an exception."""
    find_fw_version(data)
    offset = app_link_offset(data)
    assert offset is None or (offset >= 0 and offset % 1024 == 0)


@FUZZ
@given(_flash_like, st.one_of(st.none(), st.integers(0, 4096)), st.one_of(st.none(), st.integers(1, 4096)))
def test_descriptor_searches_of_any_bytes(data, app_start, image_size):
    """The app-descriptor searches and application_at_boot: a result, None, or FirmwareFormatError."""
    for search in (find_app_descriptor, find_app_in_area, locate_app):
        try:
            search(data)
        except FirmwareFormatError:
            pass
    try:
        app = application_at_boot(data, image_size=image_size, app_start=app_start)
    except FirmwareFormatError:
        return
    assert app.start + app.length <= len(data)


# -- over a real pty: the FTP client and the bootloader client ------------------------------------


@contextlib.contextmanager
def _pty_peer(answer: Callable[[bytes], bytes]) -> Iterator[SerialTransport]:
    """A real pty: the dock's transport on one side; on the other, ``answer(received)`` written back each time."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.02)
            if ready:
                try:
                    out = answer(os.read(master, 4096))
                    if out:
                        os.write(master, out)
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = SerialTransport.open(os.ttyname(slave), timeout=1)
    try:
        yield transport
    finally:
        transport.close()
        stop.set()
        thread.join(timeout=5)
        os.close(slave)
        os.close(master)


_ftp_replies = st.lists(
    st.tuples(
        st.sampled_from([Opcode.ACK, Opcode.NAK, 0, 255]),  # opcode
        st.sampled_from(["same", "other"]),  # req_opcode: answer the request, or not
        st.sampled_from([1, 1, 1, 0, 2, 600]),  # seq delta
        st.integers(0, 255),  # session
        st.integers(0, 255),  # size field
        st.integers(0, 2**32 - 1) | st.sampled_from([0, 239, 478]),  # offset
        st.integers(0, 1),  # burst_complete
        st.binary(max_size=239) | st.sampled_from([b"\x06", b"\x04", b"\x0a", b"Fx\t1\0Dy\0", b"\x01\x00\x00\x00"]),
        st.integers(1, 3),  # how many copies
    ),
    max_size=12,
)


@FUZZ_PTY
@given(_ftp_replies, st.sampled_from(["list", "crc", "read"]))
def test_ftp_client_on_any_replies(script, operation):
    """FtpClient list_dir / crc32 / read: any reply (fields chosen freely) ends in a result or an AttestError."""
    todo = list(script)
    deframer = Deframer()

    def answer(data: bytes) -> bytes:
        out = b""
        for frame in deframer.feed(data):
            if frame.msgid != FTP_MSG_ID or not todo:
                continue
            _t, _c, req = unpack_ftp(frame.payload)
            opcode, which, delta, session, size, offset, burst, body, copies = todo.pop(0)
            op = FtpOp((req.seq + delta) & 0xFFFF, session, opcode, req.opcode if which == "same" else 99,
                       burst, offset, body, size)  # fmt: skip
            reply = encode(FTP_MSG_ID, pack_ftp(op, target_system=255, target_component=190), seq=0, sysid=1, compid=1)
            out += reply * copies
        return out

    with _pty_peer(answer) as transport:
        client = FtpClient(Link(transport, timeout=0.3), retry=0.1)
        try:
            if operation == "list":
                client.list_dir("/APM/scripts")
            elif operation == "crc":
                client.crc32("/APM/scripts/a.lua")
            else:
                client.read("/APM/scripts/a.lua")
        except AttestError:
            pass


@FUZZ_PTY
@given(st.lists(_noisy, max_size=8), st.sampled_from(["device", "crc", "read", "boot"]))
def test_bootloader_client_on_any_replies(replies, call):
    """BootloaderClient: after sync, any replies to GET_DEVICE/GET_CRC/READ_MULTI/BOOT: a value or an AttestError."""
    todo = [b"\x12\x10", *replies]  # the first answer lets sync succeed

    def answer(_received: bytes) -> bytes:
        return todo.pop(0) if todo else b""

    with _pty_peer(answer) as transport:
        bl = BootloaderClient(transport, timeout=0.3)
        try:
            bl.sync()
            if call == "device":
                bl.get_device(4)
            elif call == "crc":
                bl.get_crc()
            elif call == "read":
                bl.read_app(1024)
            else:
                bl.boot()
        except AttestError:
            pass
