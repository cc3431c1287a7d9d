"""Where an ArduPilot application must sit in flash, and the application the bootloader starts.

The bootloader starts the application at a fixed offset of the MCU's flash
(``FLASH_RESERVE_START_KB``, reference §7), and the application is linked to
run from exactly there: its AP_FWVersion block (§8.3) holds *absolute*
flash addresses of strings inside the image. The pointer to the git-hash
string minus where that string is in the image is the address the image was
linked for, so the image itself says where the bootloader must find it.

Why the dock needs this: a flash can hold an untouched approved image
anywhere (a stashed copy, served honestly by ``@SYS/flash.bin``) while the
bootloader starts other code at its boot address; ArduPilot bootloaders do
not check the app descriptor by default. An approved image is only what runs
when it sits at the offset it was linked for. The pointers are covered by the
image's hash, so once the bytes are the approved ones, so is the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from attest.firmware.image import FirmwareFormatError, find_fw_version
from attest.firmware.search import AppDescriptor, find_app_descriptor, locate_app

__all__ = ["FLASH_BASE", "AtBoot", "app_link_offset", "application_at_boot"]

#: Where STM32 internal flash is mapped: ``@SYS/flash.bin`` is read from here (reference §7).
FLASH_BASE = 0x08000000
#: Application starts are whole KiB (``FLASH_RESERVE_START_KB``).
_START_ALIGN = 1024
#: The most copies of the git-hash string examined (an honest image holds one or two).
_MAX_HASH_STRINGS = 64
#: The longest string a pointer may name (ArduPilot's are under 100 characters).
_MAX_STRING = 256


def _c_string_at(image: bytes, pos: int) -> bool:
    """Whether a printable, NUL-terminated string of 1 to :data:`_MAX_STRING` characters starts at ``pos``."""
    if not 0 <= pos < len(image):
        return False
    end = image.find(b"\0", pos, pos + _MAX_STRING + 1)
    return end > pos and all(0x20 <= b < 0x7F for b in image[pos:end])


def app_link_offset(image: bytes) -> int | None:
    """The flash offset (from :data:`FLASH_BASE`) that ``image`` is linked to run from, or ``None``.

    Read from the image's AP_FWVersion: the ``fw_hash_str`` pointer must name
    the image's own 8-hex-digit git-hash string (``fw_hash``), and the
    ``fw_string`` pointer must then land on a printable string inside the
    image too. The answer is ``None`` unless exactly one offset, a whole
    number of KiB at or above :data:`FLASH_BASE`, satisfies both: an image
    without AP_FWVersion (PX4, or older than ArduPilot 4.0), or whose
    pointers do not fit, names no offset. Never raises.
    """
    fwv = find_fw_version(image)
    if fwv is None or not fwv.fw_hash_str_ptr:
        return None
    want = f"{fwv.fw_hash:08x}".encode() + b"\0"
    found: set[int] = set()
    pos = image.find(want)
    seen = 0
    while pos >= 0:
        seen += 1
        if seen > _MAX_HASH_STRINGS:
            return None  # more copies than any honest image holds: say nothing
        offset = fwv.fw_hash_str_ptr - pos - FLASH_BASE
        if (
            offset >= 0
            and offset % _START_ALIGN == 0
            and (not fwv.fw_string_ptr or _c_string_at(image, fwv.fw_string_ptr - FLASH_BASE - offset))
        ):
            found.add(offset)
        pos = image.find(want, pos + 1)
    return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class AtBoot:
    """The application the bootloader starts, as found in a flash dump.

    Attributes:
        start: the boot address (offset in the flash dump).
        length: how many bytes from there are measured as the application.
        desc: its app descriptor, when one verifies on exactly those bytes.
        note: why what is measured is not a verified application at its place, for the result's notes.
    """

    start: int
    length: int
    desc: AppDescriptor | None
    note: str | None


def application_at_boot(flash: bytes, *, image_size: int | None, app_start: int | None) -> AtBoot:
    """Where in ``flash`` the application the bootloader starts is, and how long it is.

    The boot address is ``app_start`` when a firmware-image baseline records
    it (with ``image_size``: no search at all). Otherwise the application is
    found by its verified app descriptor (:func:`~attest.firmware.search.locate_app`)
    and the boot address is the offset it is linked to run from
    (:func:`app_link_offset`): an approved image names the approved address,
    since its pointers are covered by its hash. An approved image anywhere
    else is a stashed copy, not what runs; the bytes at the boot address are
    then what is measured (so the verdict is drift), and ``note`` says so.

    Raises:
        FirmwareFormatError: no verifiable application anywhere (and no
            recorded boot address), more candidate descriptors than the
            search examines, an application that names no link address, or
            a flash too short for the application at the boot address.
    """
    located: tuple[int, AppDescriptor] | None = None
    if app_start is not None and image_size is not None:
        start, length = app_start, image_size
    else:
        located = locate_app(flash)
        if located is None:
            raise FirmwareFormatError("no application with a valid app descriptor found")
        found, desc = located
        length = image_size if image_size is not None else desc.image_size
        linked = app_link_offset(flash[found : found + length])
        if linked is None:
            raise FirmwareFormatError(
                f"cannot tell where the bootloader starts the application found at 0x{found:x}: "
                "its AP_FWVersion names no link address"
            )
        start = linked
    if start + length > len(flash):
        raise FirmwareFormatError(f"{len(flash)} bytes are too short for an application of {length} at 0x{start:x}")
    try:
        here = find_app_descriptor(flash[start : start + length])
    except FirmwareFormatError:
        here = None  # the hash decides; the descriptor only names the build
    note = None
    if located is not None and located[0] != start:
        note = (
            f"the verifiable application at 0x{located[0]:x} is not what the bootloader starts: it is linked to "
            f"run at 0x{start:x}"
            + ("" if here is not None else ", which holds no verifiable application")
            + "; the bytes there were measured"
        )
    elif here is None:
        note = f"no application with a valid app descriptor at the boot address 0x{start:x}"
    return AtBoot(start, length, here, note)
