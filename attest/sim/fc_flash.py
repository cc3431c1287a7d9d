"""The simulated flight controller's board, firmware image and flash, the same bytes every run.

The image is pseudo-random "code" with the structures the dock looks for:
an ArduPilot app_descriptor (correct CRCs, length, git hash, board id) and an
AP_FWVersion block. The flash is bootloader + image + erased ``0xFF``, as
the ArduPilot bootloader leaves it. :func:`write_release_file` packs the
same image as an ``.apj`` or ``.px4`` release file, so a baseline made from
the "release" verifies the simulated controller, and a ``variant`` image
(different code, same claimed version) is a swapped firmware.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

from attest.firmware import APP_MAGIC, FLASH_BASE, FW_VERSION_MAGIC, raw_crc32

__all__ = ["Board", "board_for", "build_flash", "build_image", "release_file_bytes", "stash_approved"]

#: Where the image's version strings are (AP_FWVersion points at them).
_FW_STRING, _HASH_STRING = 0x300, 0x340
#: Where the app descriptor is.
_DESCRIPTOR = 0x400


@dataclass(frozen=True)
class Board:
    """What the simulated controller claims to be, and its flash geometry."""

    name: str
    autopilot: str
    board_id: int
    vendor_id: int
    product_id: int
    flash_kb: int
    app_start_kb: int
    version: tuple[int, int, int]
    git_hash: str  # 8 hex (ArduPilot) or 16 hex (PX4)
    chip_id: int

    @property
    def fw_size(self) -> int:
        """Bytes of the application area (GET_DEVICE 4)."""
        return (self.flash_kb - self.app_start_kb) * 1024

    @property
    def image_size(self) -> int:
        """Length of the default image: about 45 % of the app area, 4-aligned."""
        return (self.fw_size * 45 // 100) & ~3


def board_for(autopilot: str, *, flash_kb: int = 2048) -> Board:
    """A CubeOrange running ArduCopter 4.5.7, or a Pixhawk 6X running PX4 1.15.2.

    Raises:
        ValueError: ``flash_kb`` too small for the bootloader plus an image.
    """
    if flash_kb < 192 or flash_kb % 16:
        raise ValueError("flash size must be a multiple of 16 KiB and at least 192 KiB")
    if autopilot == "px4":
        return Board("px4_fmu-v6x", "px4", 53, 0x3185, 0x0035, flash_kb, 128, (1, 15, 2), "5b008dcc0c1e2f3a", 0x450)
    return Board("CubeOrange", "ardupilot", 140, 0x2DAE, 0x1016, flash_kb, 128, (4, 5, 7), "4f3d6a1b", 0x450)


def _stream(seed: str, size: int) -> bytearray:
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 16  # 512 bytes per hash: "code" with some repetition, like real firmware
    return out[:size]


def build_image(board: Board, *, variant: str = "") -> bytes:
    """The application image; ``variant`` changes the code but not the version or git hash it claims."""
    size = board.image_size
    img = _stream(f"{board.name}-app-{variant}", size)
    major, minor, patch = board.version
    if board.autopilot == "ardupilot":
        # AP_FWVersion near the start, as ArduPilot links it (pointer size 4): its pointers are
        # absolute addresses of strings in the image, linked to run from the app start.
        link = FLASH_BASE + board.app_start_kb * 1024
        fw_string = f"ArduCopter V{major}.{minor}.{patch} ({board.git_hash})".encode() + b"\0"
        img[_FW_STRING : _FW_STRING + len(fw_string)] = fw_string
        img[_HASH_STRING : _HASH_STRING + 9] = board.git_hash.encode() + b"\0"
        fwv = FW_VERSION_MAGIC + struct.pack("<HBBBBHBBBBI", 0x0200, 4, 0, 2, 3, 0, major, minor, patch, 255, 0)
        fwv += struct.pack("<II", link + _FW_STRING, link + _HASH_STRING) + struct.pack("<I", int(board.git_hash, 16))
        img[0x200 : 0x200 + len(fwv)] = fwv
        # app_descriptor: CRC1 over [0, off), CRC2 over [off + 16, end).
        pos = _DESCRIPTOR
        off = pos + 8
        img[pos:off] = APP_MAGIC
        tail = struct.pack("<BBH", major, minor, board.board_id) + bytes(8)
        img[off + 16 : off + 16 + len(tail)] = tail
        crc1, crc2 = raw_crc32(bytes(img[:off])), raw_crc32(bytes(img[off + 16 :]))
        img[off : off + 16] = struct.pack("<IIII", crc1, crc2, size, int(board.git_hash, 16))
    return bytes(img)


def build_flash(board: Board, image: bytes) -> bytes:
    """Bootloader, then ``image`` at the app start, then erased flash."""
    start = board.app_start_kb * 1024
    if len(image) > board.fw_size:
        raise ValueError(f"image of {len(image)} bytes does not fit the {board.fw_size}-byte app area")
    boot = _stream(f"{board.name}-bootloader", 48 * 1024) + b"\xff" * (start - 48 * 1024)
    return bytes(boot) + image + b"\xff" * (board.fw_size - len(image))


def stash_approved(board: Board, approved: bytes) -> bytes:
    """A flash whose boot address holds other code, with an untouched ``approved`` image stashed higher up.

    The code the bootloader starts is a variant of the image (same claimed
    version) with its app descriptor wiped, so it cannot be verified; the
    approved image sits at the next 16 KiB boundary after it, where only a
    search for a verifiable descriptor would find it. ArduPilot bootloaders
    do not check the descriptor by default, so this board runs the variant.

    Raises:
        ValueError: the flash is too small for both.
    """
    start = board.app_start_kb * 1024
    running = bytearray(build_image(board, variant="stash"))
    running[_DESCRIPTOR : _DESCRIPTOR + len(APP_MAGIC)] = bytes(len(APP_MAGIC))
    at = start + (len(running) + _STASH_ALIGN - 1) // _STASH_ALIGN * _STASH_ALIGN
    flash = bytearray(build_flash(board, bytes(running)))
    if at + len(approved) > len(flash):
        raise ValueError(f"a {board.flash_kb} KiB flash has no room for a stashed copy of the image")
    flash[at : at + len(approved)] = approved
    return bytes(flash)


#: Where a stashed copy may start: every app start the dock's search tries.
_STASH_ALIGN = 16 * 1024


def release_file_bytes(board: Board, image: bytes, *, fmt: str) -> bytes:
    """``image`` packed as an ``.apj`` (``fmt="apj"``) or ``.px4`` release file."""
    packed = base64.b64encode(zlib.compress(image, 9)).decode()
    if fmt == "px4":
        obj: dict[str, object] = {
            "magic": "PX4FWv1",
            "board_id": board.board_id,
            "board_revision": 0,
            "version": "0.1",
            "summary": board.name.upper(),
            "description": "Firmware for the simulated flight controller",
            "git_identity": board.git_hash,
            "build_time": 1_760_000_000,
            "image": packed,
            "image_size": len(image),
        }
    else:
        obj = {
            "board_id": board.board_id,
            "magic": "APJFWv1",
            "description": "Firmware for a CubeOrange board (simulated)",
            "image": packed,
            "extf_image": "",
            "summary": board.name,
            "version": "0.1",
            "image_size": len(image),
            "extf_image_size": 0,
            "flash_total": board.fw_size,
            "image_maxsize": board.fw_size,
            "flash_free": board.fw_size - len(image),
            "extflash_total": 0,
            "extflash_free": 0,
            "git_identity": board.git_hash,
            "board_revision": 0,
            "USBID": f"0x{board.vendor_id:04X}/0x{board.product_id:04X}",
        }
    return (json.dumps(obj, indent=4) + "\n").encode()
