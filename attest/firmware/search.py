"""Finding ArduPilot's app descriptor, and so the application, in an image, an app area or a flash dump.

The descriptor's two CRCs and length let the dock tell the application's
bytes inside a raw ``@SYS/flash.bin`` (reference §8.2). Hand-written because
no library decodes it; every search is bounded: more descriptor magics than
:data:`MAX_DESCRIPTORS`, or more candidate starts than :data:`MAX_APP_CHECKS`,
raise :class:`~attest.firmware.image.FirmwareFormatError` rather than cost the dock
time, and CRCs of candidate ranges come from prefix CRCs
(:class:`~attest.firmware.crc.RangeCrc`), not from hashing each range again.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from attest.firmware.crc import RangeCrc, raw_crc32, shift
from attest.firmware.image import FirmwareFormatError

__all__ = [
    "APP_MAGIC",
    "APP_MAGIC_SIGNED",
    "AppDescriptor",
    "find_app_descriptor",
    "find_app_in_area",
    "locate_app",
]

APP_MAGIC = bytes.fromhex("40a2e4f164689106")
APP_MAGIC_SIGNED = bytes.fromhex("41a3e5f265699207")
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
    crcs = RangeCrc(buf, APP_START_STEP)
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
    (:class:`RangeCrc`), and only starts whose CRC1 matches are checked
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
    crcs = RangeCrc(buf, step)
    starts: dict[int, list[int]] = {}  # normalized prefix CRC -> app starts, highest first
    for start in reversed(range(0, len(buf), step)):
        starts.setdefault(crcs.normalized(start), []).append(start)
    checks = 0
    for desc in candidates:
        pos = desc.offset
        crc1_end = pos + 8
        want = shift(crcs.prefix(crc1_end) ^ desc.image_crc1, -crc1_end)
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
