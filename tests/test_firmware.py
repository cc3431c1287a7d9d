"""Firmware image decoding, the bootloader's CRC and its padding, locating the app in a flash dump."""

from __future__ import annotations

import base64
import contextlib
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.firmware import (
    FirmwareFormatError,
    bootloader_crc,
    crc32_strip_padding,
    decode_image,
    find_app_descriptor,
    find_fw_version,
    locate_app,
    raw_crc32,
)
from attest.sim.fc_flash import board_for, build_flash, build_image, release_file_bytes


def test_raw_crc32_check_values():
    """Init 0, no final XOR: "" -> 0 and "123456789" -> 0x2DFD2D88 (reference §6.4)."""
    assert raw_crc32(b"") == 0
    assert raw_crc32(b"123456789") == 0x2DFD2D88
    assert raw_crc32(b"56789", raw_crc32(b"1234")) == 0x2DFD2D88


def test_bootloader_crc_pads_with_erased_flash():
    """GET_CRC covers the whole app area, erased bytes 0xFF (reference §9.3)."""
    img = b"\x01\x02\x03\x04" * 10
    assert bootloader_crc(img, 100) == raw_crc32(img + b"\xff" * 60)
    with pytest.raises(ValueError, match="does not fit"):
        bootloader_crc(img, 8)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 300_000))
def test_padding_can_be_removed_from_a_crc(data, pad):
    """crc32_strip_padding inverts appending erased bytes, so GET_CRC compares with an image of any area size."""
    assert crc32_strip_padding(bootloader_crc(data, len(data) + pad), pad) == raw_crc32(data)


def test_app_descriptor_and_version_are_found_and_verified():
    """The simulator's image carries a descriptor whose CRCs and length match, and AP_FWVersion."""
    board = board_for("ardupilot", flash_kb=256)
    img = build_image(board)
    desc = find_app_descriptor(img)
    assert desc is not None
    assert (desc.image_size, desc.board_id, f"{desc.git_hash:08x}") == (len(img), 140, "4f3d6a1b")
    fwv = find_fw_version(img)
    assert fwv is not None
    assert (fwv.major, fwv.minor, fwv.patch) == (4, 5, 7)
    broken = bytearray(img)
    broken[5000] ^= 1
    assert find_app_descriptor(bytes(broken)) is None  # a changed byte breaks CRC2


def test_locate_app_in_flash():
    """The app start is found by the descriptor's CRC1, whatever the bootloader before it."""
    board = board_for("ardupilot", flash_kb=256)
    img = build_image(board)
    found = locate_app(build_flash(board, img))
    assert found is not None
    start, desc = found
    assert start == 128 * 1024
    assert desc.image_size == len(img)
    assert locate_app(b"\xff" * 300_000) is None


def _apj(**over):
    img = b"\x10\x20\x30\x40" * 100
    obj = {"magic": "APJFWv1", "board_id": 140, "image_size": len(img), "git_identity": "abcd1234",
           "image": base64.b64encode(zlib.compress(img, 9)).decode(), "flash_total": 4096}  # fmt: skip
    obj.update(over)
    return json.dumps(obj).encode(), img


def test_decode_apj_and_px4():
    """Both containers decode to the flashed bytes; flash_total is kept when sane."""
    data, img = _apj()
    fw = decode_image(data)
    assert (fw.format, fw.board_id, fw.image, fw.git_identity, fw.flash_total) == ("apj", 140, img, "abcd1234", 4096)
    board = board_for("px4", flash_kb=256)
    px4 = decode_image(release_file_bytes(board, build_image(board), fmt="px4"))
    assert (px4.format, px4.board_id, px4.flash_total) == ("px4", 53, None)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"magic": "XYZ"}, "magic"),
        ({"board_id": "140"}, "board_id"),
        ({"image_size": 3}, "image_size says"),
        ({"image": "!!!"}, "base64"),
        ({"image": base64.b64encode(b"not zlib").decode()}, "zlib"),
        ({"image": base64.b64encode(zlib.compress(b"x" * 400)[:-4]).decode()}, "truncated"),
    ],
)
def test_decode_rejects_malformed_images(over, match):
    """Every malformed field is named, never half-decoded."""
    data, _ = _apj(**over)
    with pytest.raises(FirmwareFormatError, match=match):
        decode_image(data)


@given(st.binary(max_size=400))
def test_decode_never_crashes(data):
    """Arbitrary bytes are either an image or a FirmwareFormatError."""
    with contextlib.suppress(FirmwareFormatError):
        decode_image(data)
