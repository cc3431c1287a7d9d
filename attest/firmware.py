"""Flight-controller firmware images and flash: containers, app descriptor, CRCs.

Hand-written decoders for the few structures the dock needs (reference §8, §9.3):

* ``.apj`` (ArduPilot) and ``.px4`` (PX4) release files: JSON with a
  base64 zlib ``image``;
* ArduPilot's ``app_descriptor`` inside an image, whose two CRCs and length
  let the dock find the application inside a raw ``@SYS/flash.bin``;
* ``AP_FWVersion``, the version block ArduPilot links into every image;
* the bootloader's CRC-32 (reflected, init 0, no final XOR) and its padding
  of the application area with erased ``0xFF`` bytes.

Every decoder bounds what it reads and raises :class:`FirmwareFormatError`
on anything unexpected; callers turn that into a ConfigError or a finding.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "APP_MAGIC",
    "APP_MAGIC_SIGNED",
    "AppDescriptor",
    "FirmwareFormatError",
    "FirmwareImage",
    "FwVersion",
    "app_crc_digest",
    "bootloader_crc",
    "crc32_strip_padding",
    "decode_image",
    "find_app_descriptor",
    "find_app_in_area",
    "find_fw_version",
    "locate_app",
    "raw_crc32",
]

APP_MAGIC = bytes.fromhex("40a2e4f164689106")
APP_MAGIC_SIGNED = bytes.fromhex("41a3e5f265699207")
FW_VERSION_MAGIC = bytes.fromhex("fb72657677667061")
#: The largest image or decompressed image accepted.
MAX_IMAGE = 64 << 20
#: Application start offsets tried in a flash dump: multiples of this (every
#: ArduPilot FLASH_RESERVE_START_KB in use is a multiple of 16 KiB).
APP_START_STEP = 16 * 1024
#: The most app-descriptor magics examined in one image, app area or flash dump. An
#: honest flash holds one or two (the bootloader may carry the constant); more is a
#: flash stuffed with fakes, refused rather than searched.
MAX_DESCRIPTORS = 64
#: The most (descriptor, app start) pairs whose CRC1 matches that are checked further
#: in one flash dump; more is refused.
MAX_APP_CHECKS = 256


class FirmwareFormatError(ValueError):
    """A firmware image or flash dump is not of the expected format."""


def raw_crc32(data: bytes | bytearray | memoryview, state: int = 0) -> int:
    """CRC-32 as the bootloader and CalcFileCRC32 compute it: zlib's polynomial, init 0, no final XOR."""
    return zlib.crc32(data, state ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def bootloader_crc(image: bytes, fw_size: int) -> int:
    """The CRC the bootloader's GET_CRC reports for ``image`` in an app area of ``fw_size`` bytes.

    The bootloader erases the area (``0xFF``) before programming, and its CRC
    covers all of it (reference §9.3).

    Raises:
        ValueError: the image is larger than the area.
    """
    if len(image) > fw_size:
        raise ValueError(f"image of {len(image)} bytes does not fit an app area of {fw_size}")
    return _pad_ff(raw_crc32(image), fw_size - len(image))


def app_crc_digest(crc: int, length: int) -> str:
    """The digest of an ``fc/app-crc`` component: SHA-256 of ``raw-crc32:<crc hex>:<length>``.

    Components carry SHA-256 digests; this wraps the application's CRC and
    the length it covers so that a firmware-image baseline and a live
    controller (bootloader GET_CRC, or the dock's CRC of flash it read)
    compare with the verifier's ordinary digest check.
    """
    import hashlib

    return hashlib.sha256(f"raw-crc32:{crc:08x}:{length}".encode()).hexdigest()


def _pad_ff(state: int, n: int) -> int:
    """The CRC state after ``n`` erased (``0xFF``) bytes."""
    block = b"\xff" * 65536
    while n:
        k = min(n, len(block))
        state = raw_crc32(block[:k], state)
        n -= k
    return state


# -- removing erased padding from a reported CRC ---------------------------------
# raw_crc32 is linear over GF(2): appending n bytes maps a state s to
# Z^n(s) ^ raw_crc32(bytes, 0), where Z is "append one zero byte". Z is
# invertible, so a GET_CRC over image+padding can be turned back into the CRC
# of the image alone without knowing the image.


def _apply(m: list[int], v: int) -> int:
    out = 0
    i = 0
    while v:
        if v & 1:
            out ^= m[i]
        v >>= 1
        i += 1
    return out


def _compose(a: list[int], b: list[int]) -> list[int]:
    return [_apply(a, col) for col in b]


def _invert(m: list[int]) -> list[int]:
    # Gauss-Jordan on the 32x32 bit matrix given by columns.
    rows = [sum(((m[c] >> r) & 1) << c for c in range(32)) | (1 << (32 + r)) for r in range(32)]
    for c in range(32):
        p = next(r for r in range(c, 32) if rows[r] >> c & 1)
        rows[c], rows[p] = rows[p], rows[c]
        for r in range(32):
            if r != c and rows[r] >> c & 1:
                rows[r] ^= rows[c]
    inv_rows = [row >> 32 for row in rows]
    return [sum(((inv_rows[r] >> c) & 1) << r for r in range(32)) for c in range(32)]


_ZERO_BYTE = [raw_crc32(b"\0", 1 << i) for i in range(32)]
_UNZERO_BYTE = _invert(_ZERO_BYTE)
#: Z^(2^i) and Z^-(2^i), built as far as needed.
_POWERS: dict[bool, list[list[int]]] = {False: [_ZERO_BYTE], True: [_UNZERO_BYTE]}


def _shift(state: int, n: int) -> int:
    """Z^n(state): the CRC state after ``n`` more zero bytes; ``n < 0`` undoes ``-n`` zero bytes.

    At most one 32x32 bit-matrix application per bit of ``n``, whatever ``n`` is.
    """
    table = _POWERS[n < 0]
    n = abs(n)
    i = 0
    while n:
        if i == len(table):
            table.append(_compose(table[-1], table[-1]))
        if n & 1:
            state = _apply(table[i], state)
        n >>= 1
        i += 1
    return state


def crc32_strip_padding(crc: int, n: int) -> int:
    """The CRC of the data before ``n`` trailing ``0xFF`` bytes, given the CRC of data plus padding."""
    return _shift(crc ^ _pad_ff(0, n), -n)


class _RangeCrc:
    """The raw CRC-32 of any range of a buffer, after one pass over it.

    Prefix CRCs are kept every ``step`` bytes; ``crc(a, b)`` is then
    ``P(b) ^ Z^(b-a) P(a)`` (raw_crc32 is linear), at most ``2 * step``
    bytes hashed plus a few matrix applications, not ``b - a`` bytes.
    """

    def __init__(self, buf: memoryview, step: int) -> None:
        self._buf, self._step = buf, step
        self._at = [0]  # _at[k]: raw CRC of buf[: k * step]
        for k in range(0, len(buf), step):
            self._at.append(raw_crc32(buf[k : k + step], self._at[-1]))

    def prefix(self, end: int) -> int:
        """raw_crc32(buf[:end])."""
        k = end // self._step
        return raw_crc32(self._buf[k * self._step : end], self._at[k])

    def crc(self, start: int, end: int) -> int:
        """raw_crc32(buf[start:end]) for ``start <= end``."""
        return self.prefix(end) ^ _shift(self.prefix(start), end - start)

    def normalized(self, pos: int) -> int:
        """Z^-pos(P(pos)): ``crc(a, b) == c`` exactly when ``normalized(a) == Z^-b(P(b) ^ c)``."""
        return _shift(self.prefix(pos), -pos)


# -- ArduPilot app descriptor -----------------------------------------------------


@dataclass(frozen=True)
class AppDescriptor:
    """ArduPilot's app_descriptor (reference §8.2).

    Attributes:
        offset: offset of the magic inside the image.
        signed: the 112-byte signed form.
        image_crc1: CRC of the image up to the end of the magic.
        image_crc2: CRC of the image after the CRC/size/hash (and signature) fields.
        image_size: length of the image.
        git_hash: the first 8 hex digits of the git hash, as a number.
        version: ``(major, minor)``.
        board_id: the board id the image is for.
    """

    offset: int
    signed: bool
    image_crc1: int
    image_crc2: int
    image_size: int
    git_hash: int
    version: tuple[int, int]
    board_id: int

    @property
    def crc_len(self) -> int:
        """Bytes after the magic that neither CRC covers."""
        return 92 if self.signed else 16

    def matches(self, image: bytes | memoryview) -> bool:
        """Whether ``image`` (starting at the app start) has exactly the CRCs and length this descriptor states.

        The descriptor must lie wholly inside the image.
        """
        off = self.offset + 8
        return (
            len(image) == self.image_size
            and off + self.crc_len <= len(image)
            and raw_crc32(image[:off]) == self.image_crc1
            and raw_crc32(image[off + self.crc_len :]) == self.image_crc2
        )


def _descriptor_at(buf: bytes, pos: int) -> AppDescriptor | None:
    signed = buf[pos : pos + 8] == APP_MAGIC_SIGNED
    tail = 92 if signed else 16
    if len(buf) < pos + 8 + tail + 12:
        return None
    crc1, crc2, size, git = struct.unpack_from("<IIII", buf, pos + 8)
    major, minor, board = struct.unpack_from("<BBH", buf, pos + 8 + tail)
    return AppDescriptor(pos, signed, crc1, crc2, size, git, (major, minor), board)


def _descriptors(buf: bytes) -> list[AppDescriptor]:
    """Every well-formed descriptor in ``buf``, in position order (offsets relative to ``buf``).

    Raises:
        FirmwareFormatError: more than :data:`MAX_DESCRIPTORS` magics (a flash stuffed with fakes
            would cost the dock time for each: it is refused, never searched).
    """
    positions: list[int] = []
    for magic in (APP_MAGIC, APP_MAGIC_SIGNED):
        i = buf.find(magic)
        while i >= 0:
            positions.append(i)
            if len(positions) > MAX_DESCRIPTORS:
                raise FirmwareFormatError(
                    f"more than {MAX_DESCRIPTORS} app-descriptor magics: refusing to search for the application"
                )
            i = buf.find(magic, i + 1)
    found = (_descriptor_at(buf, pos) for pos in sorted(positions))
    return [d for d in found if d is not None]


def _contains(desc: AppDescriptor, start: int) -> bool:
    """Whether an image of ``desc.image_size`` bytes from ``start`` holds the whole descriptor."""
    return start <= desc.offset and desc.offset + 8 + desc.crc_len <= start + desc.image_size


def _at_start(data: bytes, fits: Callable[[AppDescriptor], bool]) -> AppDescriptor | None:
    """The first descriptor of an application starting at offset 0 of ``data`` whose CRCs and length match."""
    candidates = [d for d in _descriptors(data) if fits(d) and _contains(d, 0)]
    if not candidates:
        return None
    buf = memoryview(data)
    crcs = _RangeCrc(buf, APP_START_STEP)
    for desc in candidates:
        end = desc.image_size
        if (
            crcs.prefix(desc.offset + 8) == desc.image_crc1
            and crcs.crc(desc.offset + 8 + desc.crc_len, end) == desc.image_crc2
            and desc.matches(buf[:end])  # confirmed on the bytes themselves
        ):
            return desc
    return None


def find_app_descriptor(image: bytes) -> AppDescriptor | None:
    """The app descriptor of ``image`` whose CRCs and length match it, or ``None``.

    Raises:
        FirmwareFormatError: more than :data:`MAX_DESCRIPTORS` descriptor magics.
    """
    return _at_start(image, lambda d: d.image_size == len(image))


def find_app_in_area(area: bytes) -> AppDescriptor | None:
    """The app descriptor of an application at the start of ``area`` (an app area with trailing erased flash).

    Raises:
        FirmwareFormatError: more than :data:`MAX_DESCRIPTORS` descriptor magics.
    """
    return _at_start(area, lambda d: d.image_size <= len(area))


def locate_app(flash: bytes, *, step: int = APP_START_STEP) -> tuple[int, AppDescriptor] | None:
    """Find the application inside a raw flash dump.

    Tries every app start that is a multiple of ``step`` below each
    descriptor magic and keeps the one whose bytes match the descriptor's
    CRCs and length exactly (descriptors in position order, starts from the
    highest down). The cost does not grow with starts times image size: the
    CRC1 of every start is compared at once through normalized prefix CRCs
    (:class:`_RangeCrc`), and only starts whose CRC1 matches are checked
    further.

    Returns:
        ``(app_start, descriptor)`` with ``descriptor.offset`` relative to
        the app start, or ``None`` if no application verifies.

    Raises:
        FirmwareFormatError: more than :data:`MAX_DESCRIPTORS` descriptor magics, or more than
            :data:`MAX_APP_CHECKS` starts whose CRC1 matches but nothing else.
    """
    candidates = [d for d in _descriptors(flash) if d.image_size <= len(flash)]
    if not candidates:
        return None
    buf = memoryview(flash)
    crcs = _RangeCrc(buf, step)
    starts: dict[int, list[int]] = {}  # normalized prefix CRC -> app starts, highest first
    for start in reversed(range(0, len(buf), step)):
        starts.setdefault(crcs.normalized(start), []).append(start)
    checks = 0
    for desc in candidates:
        pos = desc.offset
        crc1_end = pos + 8
        want = _shift(crcs.prefix(crc1_end) ^ desc.image_crc1, -crc1_end)
        for start in starts.get(want, ()):
            if start + desc.image_size > len(buf) or not _contains(desc, start):
                continue
            checks += 1
            if checks > MAX_APP_CHECKS:
                raise FirmwareFormatError(
                    f"more than {MAX_APP_CHECKS} candidate application starts: refusing to search further"
                )
            end = start + desc.image_size
            if crcs.crc(crc1_end + desc.crc_len, end) != desc.image_crc2:
                continue
            rel = AppDescriptor(pos - start, *(getattr(desc, f) for f in _DESC_FIELDS))
            if rel.matches(buf[start:end]):  # confirmed on the bytes themselves
                return start, rel
    return None


_DESC_FIELDS = ("signed", "image_crc1", "image_crc2", "image_size", "git_hash", "version", "board_id")


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
