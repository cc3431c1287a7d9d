"""Flight-controller firmware release files and ArduPilot's version block.

Hand-written decoders for the few structures the dock needs (reference §8, §9.3):

* ``.apj`` (ArduPilot) and ``.px4`` (PX4) release files: JSON with a
  base64 zlib ``image``;
* ``AP_FWVersion``, the version block ArduPilot links into every image.

The app descriptor is found by :mod:`attest.firmware.search`, where the
application must sit in flash by :mod:`attest.firmware.layout`, and the
bootloader's CRC-32 and its padding are computed by :mod:`attest.firmware.crc`.

A release file comes from outside and may be hostile. Every decoder bounds
what it reads and raises only :class:`FirmwareFormatError` on anything
unexpected (callers turn that into a ConfigError or a finding): the file is
at most :data:`MAX_RELEASE_FILE` bytes of strict JSON (:mod:`attest.jsonutil`:
no huge integers, deep nesting or duplicate keys), and the image is inflated
with an output limit of one byte more than its declared ``image_size``, so a
zip bomb costs the dock at most :data:`MAX_IMAGE` bytes and one pass.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from attest.jsonutil import JSONFormatError, loads

__all__ = [
    "FW_VERSION_MAGIC",
    "MAX_IMAGE",
    "MAX_RELEASE_FILE",
    "FirmwareFormatError",
    "FirmwareImage",
    "FwVersion",
    "decode_image",
    "find_fw_version",
]

FW_VERSION_MAGIC = bytes.fromhex("fb72657677667061")
#: The largest decoded image accepted: the largest app area a bootloader may report
#: (:data:`attest.firmware.bootloader.MAX_FW_SIZE`); autopilot MCUs hold 1-2 MiB.
MAX_IMAGE = 16 << 20
#: The most AP_FWVersion magics examined in one image.
MAX_FW_VERSION_MAGICS = 64
#: The largest release file read (a 2 MiB image is about 1.5 MiB of base64 zlib).
MAX_RELEASE_FILE = 32 << 20


class FirmwareFormatError(ValueError):
    """A firmware image or flash dump is not of the expected format."""


# -- AP_FWVersion -----------------------------------------------------------------


@dataclass(frozen=True)
class FwVersion:
    """The inline fields of ArduPilot's AP_FWVersion (reference §8.3).

    Attributes:
        offset: where the block's magic is in the image.
        fw_string_ptr: the absolute flash address of the firmware string (0: none).
        fw_hash_str_ptr: the absolute flash address of the git-hash string (0: none).
    """

    vehicle_type: int
    board_type: int
    major: int
    minor: int
    patch: int
    fw_type: int
    os_sw_version: int
    fw_hash: int
    offset: int = 0
    fw_string_ptr: int = 0
    fw_hash_str_ptr: int = 0

    @property
    def flight_sw_version(self) -> int:
        """As AUTOPILOT_VERSION reports it: major, minor, patch, type from MSB to LSB."""
        return self.major << 24 | self.minor << 16 | self.patch << 8 | self.fw_type


def find_fw_version(image: bytes) -> FwVersion | None:
    """The first well-formed AP_FWVersion block in ``image``, or ``None``.

    At most :data:`MAX_FW_VERSION_MAGICS` magics are examined (an image holds
    one): a flash stuffed with malformed blocks costs no more than that.
    """
    i = image.find(FW_VERSION_MAGIC)
    for _ in range(MAX_FW_VERSION_MAGICS):
        if i < 0:
            break
        if len(image) >= i + 24:
            hv, psize, _r, vt, bt, _sub, ma, mi, pa, ft, osv = struct.unpack_from("<HBBBBHBBBBI", image, i + 8)
            end = i + 24 + 2 * psize + 4
            if hv == 0x0200 and psize in (4, 8) and len(image) >= end:
                ptr = "<I" if psize == 4 else "<Q"
                (fw_string,) = struct.unpack_from(ptr, image, i + 24)
                (fw_hash_str,) = struct.unpack_from(ptr, image, i + 24 + psize)
                (fw_hash,) = struct.unpack_from("<I", image, i + 24 + 2 * psize)
                return FwVersion(vt, bt, ma, mi, pa, ft, osv, fw_hash, i, fw_string, fw_hash_str)
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

    Args:
        data: the whole file.
        name: what to call it in messages (its path).

    Raises:
        FirmwareFormatError: larger than :data:`MAX_RELEASE_FILE`; not strict
            JSON; wrong magic; a ``board_id``, ``image_size`` or ``flash_total``
            that is not an integer in range; bad base64; zlib data that is
            corrupt, truncated, followed by other data, or inflates to more or
            fewer bytes than ``image_size``. Nothing else.
    """
    if len(data) > MAX_RELEASE_FILE:
        raise FirmwareFormatError(f"{name}: larger than {MAX_RELEASE_FILE} bytes: not a firmware release file")
    try:
        obj = loads(data)
    except JSONFormatError as e:
        raise FirmwareFormatError(f"{name}: not a JSON firmware file ({e})") from e
    if not isinstance(obj, dict):
        raise FirmwareFormatError(f"{name}: not a JSON object")
    magic = obj.get("magic")
    fmt = {"APJFWv1": "apj", "PX4FWv1": "px4"}.get(magic) if isinstance(magic, str) else None
    if fmt is None:
        shown = magic[:40] if isinstance(magic, str) else type(magic).__name__
        raise FirmwareFormatError(f"{name}: magic is {shown!r}, expected 'APJFWv1' or 'PX4FWv1'")
    board_id, size, b64 = obj.get("board_id"), obj.get("image_size"), obj.get("image")
    if type(board_id) is not int or not 0 <= board_id < 1 << 16:
        raise FirmwareFormatError(f"{name}: board_id must be an integer 0..65535")
    if type(size) is not int or not 0 < size <= MAX_IMAGE:
        raise FirmwareFormatError(f"{name}: image_size must be an integer 1..{MAX_IMAGE}")
    if not isinstance(b64, str) or not b64:
        raise FirmwareFormatError(f"{name}: needs 'image' (base64 zlib data)")
    image = _inflate(b64, size, name)
    total = obj.get("flash_total")
    if total is not None and (type(total) is not int or not size <= total <= MAX_IMAGE):
        raise FirmwareFormatError(f"{name}: flash_total must be an integer from image_size ({size}) to {MAX_IMAGE}")
    git = obj.get("git_identity")
    meta = {k: v for k, v in obj.items() if k not in ("image", "extf_image") and isinstance(v, str | int)}
    return FirmwareImage(fmt, board_id, image, git if isinstance(git, str) else "", total, meta)


def _inflate(b64: str, size: int, name: str) -> bytes:
    """The ``size`` bytes a base64 zlib ``image`` holds; never more than ``size + 1`` are inflated.

    Raises:
        FirmwareFormatError: not base64, not zlib, truncated, trailing data, or not ``size`` bytes.
    """
    try:
        packed = base64.b64decode(b64.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as e:
        raise FirmwareFormatError(f"{name}: image is not base64 ({e})") from e
    inflater = zlib.decompressobj()
    try:
        # One byte more than declared is enough to tell "too large": a zip bomb stops here.
        image = inflater.decompress(packed, size + 1)
    except zlib.error as e:
        raise FirmwareFormatError(f"{name}: image is not zlib data ({e})") from e
    if len(image) > size or inflater.unconsumed_tail:
        raise FirmwareFormatError(f"{name}: image inflates to more than image_size ({size} bytes)")
    if not inflater.eof:
        raise FirmwareFormatError(f"{name}: image is truncated (the zlib stream does not end)")
    if inflater.unused_data:
        raise FirmwareFormatError(f"{name}: {len(inflater.unused_data)} bytes follow the compressed image")
    if len(image) != size:
        raise FirmwareFormatError(f"{name}: image is {len(image)} bytes, image_size says {size}")
    return image
