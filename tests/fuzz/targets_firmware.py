"""Targets for firmware bytes from outside: ``.apj``/``.px4`` release files and raw flash dumps."""

from __future__ import annotations

import base64
import json
import zlib

from attest.firmware import (
    FirmwareFormatError,
    decode_image,
    find_app_descriptor,
    find_app_in_area,
    find_fw_version,
    locate_app,
)
from attest.sim import board_for, build_flash, build_image, release_file_bytes

from .core import Target

__all__ = ["TARGETS"]

#: The smallest board the simulator builds (192 KiB flash: a 64 KiB app area), so seeds stay small.
_FLASH_KB = 192


def _image(data: bytes) -> None:
    """A release file, then what the dock looks for in its image (version block, app descriptor)."""
    image = decode_image(data, name="fuzz.apj")
    find_fw_version(image.image)
    find_app_descriptor(image.image)


def _image_seeds() -> list[bytes]:
    out = []
    for autopilot, fmt in (("ardupilot", "apj"), ("px4", "px4")):
        board = board_for(autopilot, flash_kb=_FLASH_KB)
        out.append(release_file_bytes(board, build_image(board), fmt=fmt))
    small = {"magic": "APJFWv1", "board_id": 140, "image_size": 5, "git_identity": "4f3d6a1b", "flash_total": 65536}
    small["image"] = base64.b64encode(zlib.compress(b"hello")).decode()
    out.append(json.dumps(small).encode())
    return out


def _flash(data: bytes) -> None:
    """A raw flash dump (``@SYS/flash.bin``, the bootloader's READ_MULTI): every search the dock runs on one."""
    find_fw_version(data)
    find_app_descriptor(data)
    find_app_in_area(data)
    locate_app(data)


def _flash_seeds() -> list[bytes]:
    board = board_for("ardupilot", flash_kb=_FLASH_KB)
    image = build_image(board)
    return [build_flash(board, image), image]


TARGETS = [
    Target(
        "firmware_image",
        "attest.firmware.decode_image, find_fw_version, find_app_descriptor",
        _image,
        (FirmwareFormatError,),
        _image_seeds,
        64 * 1024,
    ),
    Target(
        "flash_dump",
        "attest.firmware.locate_app, find_app_in_area, find_app_descriptor, find_fw_version",
        _flash,
        (FirmwareFormatError,),
        _flash_seeds,
        256 * 1024,
    ),
]
