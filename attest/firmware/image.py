"""Flight-controller firmware release files and ArduPilot's version block.

Hand-written decoders for the few structures the dock needs (reference §8, §9.3):

* ``.apj`` (ArduPilot) and ``.px4`` (PX4) release files: JSON with a
  base64 zlib ``image``;
* ``AP_FWVersion``, the version block ArduPilot links into every image.

The app descriptor is found by :mod:`attest.firmware.search`, and the
bootloader's CRC-32 and its padding are computed by :mod:`attest.firmware.crc`.
Every decoder bounds what it reads and raises :class:`FirmwareFormatError`
on anything unexpected; callers turn that into a ConfigError or a finding.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FW_VERSION_MAGIC",
    "FirmwareFormatError",
    "FirmwareImage",
    "FwVersion",
    "decode_image",
    "find_fw_version",
]

FW_VERSION_MAGIC = bytes.fromhex("fb72657677667061")
#: The largest image or decompressed image accepted.
MAX_IMAGE = 64 << 20


class FirmwareFormatError(ValueError):
    """A firmware image or flash dump is not of the expected format."""


# -- AP_FWVersion -----------------------------------------------------------------


@dataclass(frozen=True)
class FwVersion:
    """The inline fields of ArduPilot's AP_FWVersion (reference §8.3)."""

    vehicle_type: int
    board_type: int
    major: int
    minor: int
    patch: int
    fw_type: int
    os_sw_version: int
    fw_hash: int

    @property
    def flight_sw_version(self) -> int:
        """As AUTOPILOT_VERSION reports it: major, minor, patch, type from MSB to LSB."""
        return self.major << 24 | self.minor << 16 | self.patch << 8 | self.fw_type


def find_fw_version(image: bytes) -> FwVersion | None:
    """The first well-formed AP_FWVersion block in ``image``, or ``None``."""
    i = image.find(FW_VERSION_MAGIC)
    while i >= 0:
        if len(image) >= i + 24:
            hv, psize, _r, vt, bt, _sub, ma, mi, pa, ft, osv = struct.unpack_from("<HBBBBHBBBBI", image, i + 8)
            end = i + 24 + 2 * psize + 4
            if hv == 0x0200 and psize in (4, 8) and len(image) >= end:
                (fw_hash,) = struct.unpack_from("<I", image, i + 24 + 2 * psize)
                return FwVersion(vt, bt, ma, mi, pa, ft, osv, fw_hash)
        i = image.find(FW_VERSION_MAGIC, i + 1)
    return None


# -- release files ----------------------------------------------------------------


@dataclass(frozen=True)
class FirmwareImage:
    """A decoded ``.apj`` or ``.px4`` release file.

    Attributes:
        format: ``apj`` or ``px4``.
        board_id: the board the image is for.
        image: the application bytes as they will be flashed.
        git_identity: the file's ``git_identity`` (ArduPilot: 8 hex characters).
        flash_total: ArduPilot's app-area size (``flash_total``), if recorded.
        meta: the other JSON fields (without the image), for reports.
    """

    format: str
    board_id: int
    image: bytes
    git_identity: str
    flash_total: int | None
    meta: dict[str, Any]


def decode_image(data: bytes, *, name: str = "image") -> FirmwareImage:
    """Decode an ``.apj``/``.px4`` file's bytes.

    Raises:
        FirmwareFormatError: not JSON, wrong magic, bad base64 or zlib, or an
            image whose length disagrees with ``image_size``.
    """
    if len(data) > MAX_IMAGE:
        raise FirmwareFormatError(f"{name}: larger than {MAX_IMAGE} bytes")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FirmwareFormatError(f"{name}: not a JSON firmware file") from e
    if not isinstance(obj, dict):
        raise FirmwareFormatError(f"{name}: not a JSON object")
    magic = obj.get("magic")
    fmt = {"APJFWv1": "apj", "PX4FWv1": "px4"}.get(magic) if isinstance(magic, str) else None
    if fmt is None:
        raise FirmwareFormatError(f"{name}: magic is {magic!r}, expected 'APJFWv1' or 'PX4FWv1'")
    board_id, size, b64 = obj.get("board_id"), obj.get("image_size"), obj.get("image")
    if type(board_id) is not int or not 0 <= board_id < 1 << 16:
        raise FirmwareFormatError(f"{name}: board_id must be an integer 0..65535")
    if type(size) is not int or not 0 < size <= MAX_IMAGE or not isinstance(b64, str):
        raise FirmwareFormatError(f"{name}: needs 'image' (base64) and a positive 'image_size'")
    try:
        packed = base64.b64decode(b64, validate=True)
        inflater = zlib.decompressobj()
        image = inflater.decompress(packed, MAX_IMAGE + 1)
    except (binascii.Error, zlib.error) as e:
        raise FirmwareFormatError(f"{name}: image is not base64 zlib data: {e}") from e
    if not inflater.eof or inflater.unconsumed_tail:
        raise FirmwareFormatError(f"{name}: image is truncated or too large")
    if len(image) != size:
        raise FirmwareFormatError(f"{name}: image is {len(image)} bytes, image_size says {size}")
    total = obj.get("flash_total")
    flash_total = total if type(total) is int and total >= len(image) else None
    git = obj.get("git_identity")
    meta = {k: v for k, v in obj.items() if k not in ("image", "extf_image") and isinstance(v, str | int)}
    return FirmwareImage(fmt, board_id, image, git if isinstance(git, str) else "", flash_total, meta)
