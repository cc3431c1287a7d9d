"""Measure a flight controller's application through its serial bootloader: ``fc/firmware`` and ``fc/app-crc``.

The collector (:mod:`attest.collectors.mavlink.collector`) reboots the
controller into its bootloader and syncs a
:class:`~attest.firmware.BootloaderClient`; this turns what the bootloader
serves into components and findings:

* ``fc/firmware`` (dock-read): SHA-256 of the application READ_MULTI served,
  cut to the length a firmware-image baseline records (else the app
  descriptor found in the app area, else the whole area); READ_MULTI reads
  from the start of the app area, the boot address, so a copy of the
  application elsewhere is never what is hashed. A bootloader without
  READ_MULTI makes it unreadable, never a silent CRC-only pass;
* ``fc/app-crc`` (device-reported): the bootloader's GET_CRC with the erased
  padding after the application removed;
* ``device_lied`` findings: the bootloader's board id differs from the
  firmware's claim, or GET_CRC disagrees with the bytes READ_MULTI served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from attest.collectors.mavlink.measure import Measured
from attest.errors import CollectionError
from attest.firmware import (
    INFO_BL_REV,
    INFO_BOARD_ID,
    INFO_FW_SIZE,
    MAX_FW_SIZE,
    BootloaderClient,
    FirmwareFormatError,
    app_crc_digest,
    crc32_strip_padding,
    find_app_in_area,
    raw_crc32,
)
from attest.model import Component, Finding, FindingKind, Method, Severity

__all__ = ["measure_via_bootloader"]


def measure_via_bootloader(
    bl: BootloaderClient,
    *,
    parts: list[str],
    board_id: int,
    image_size: int | None,
    on_bytes: Callable[[int], None] | None = None,
) -> Measured:
    """``fc/firmware`` (READ_MULTI, dock-hashed) and ``fc/app-crc`` (GET_CRC) from a synced bootloader.

    Findings: the bootloader's board id differs from the firmware's claim;
    GET_CRC disagrees with the CRC of the bytes READ_MULTI served.

    Args:
        bl: a client whose :meth:`BootloaderClient.sync` succeeded.
        parts: which of ``firmware``, ``app-crc`` to produce.
        board_id: the board id the running firmware reported.
        image_size: the application length a firmware-image baseline records
            (else the app descriptor found in the app area, else the whole area).
        on_bytes: progress callback.
    """
    out = Measured()
    rev = bl.get_device(INFO_BL_REV)
    bl_board = bl.get_device(INFO_BOARD_ID)
    fw_size = bl.get_device(INFO_FW_SIZE)
    if bl_board is None or fw_size is None or not 0 < fw_size <= MAX_FW_SIZE:
        raise CollectionError(f"bootloader reports board id {bl_board} and app area {fw_size}: not usable")
    out.notes["bootloader"] = {"protocol": rev, "board_id": bl_board, "fw_size": fw_size}
    if bl_board != board_id:
        out.findings.append(
            Finding("fc/bootloader", FindingKind.DEVICE_LIED, Severity.CRITICAL, board_id, bl_board,
                    "the bootloader's board id differs from the one the firmware reported")
        )  # fmt: skip
    crc = bl.get_crc()
    area = None
    if "firmware" in parts:
        bl.get_device(INFO_FW_SIZE)  # resets the READ_MULTI address
        area = bl.read_app(fw_size, on_bytes)
    length = image_size
    if length is None and area is not None:
        try:
            desc = find_app_in_area(area)
        except FirmwareFormatError as e:
            # Too many candidate descriptors to examine: what the application is cannot be said.
            for p in parts:
                name = f"fc/{p}"
                out.components[name] = Component(name, _KINDS[p], error=f"bootloader app area: {e}")
            return out
        length = desc.image_size if desc is not None else None
    if length is None or length > fw_size:
        length = fw_size
    if area is not None:
        if raw_crc32(area) != crc:
            out.findings.append(
                Finding("fc/app-crc", FindingKind.DEVICE_LIED, Severity.CRITICAL, f"crc32:{raw_crc32(area):08x}",
                        f"crc32:{crc:08x}", "bootloader GET_CRC does not match the flash it served")
            )  # fmt: skip
        attrs: dict[str, str | int | bool | None] = {"size": length, "source": "bootloader READ_MULTI"}
        out.components["fc/firmware"] = Component(
            "fc/firmware", "firmware", hashlib.sha256(area[:length]).hexdigest(), attrs, Method.DOCK_READ
        )
    else:
        out.notes["read_multi"] = "not offered by this bootloader: the application was not read"
        if "firmware" in parts:
            # Asked for the bytes and cannot have them: never fall back to the CRC silently.
            out.components["fc/firmware"] = Component("fc/firmware", "firmware", error=_NO_READ_MULTI)
    if "app-crc" in parts:
        app_crc = crc32_strip_padding(crc, fw_size - length)
        attrs = {"crc32": f"{app_crc:08x}", "length": length, "get_crc": f"{crc:08x}", "fw_size": fw_size}
        out.components["fc/app-crc"] = Component(
            "fc/app-crc", "crc32", app_crc_digest(app_crc, length), attrs, Method.DEVICE_REPORTED
        )
    return out


_KINDS = {"firmware": "firmware", "app-crc": "crc32"}
_NO_READ_MULTI = (
    "this bootloader cannot read the application back (no READ_MULTI, as PX4-Bootloader): its bytes cannot be "
    "hashed, only its CRC-32 compared, which is forgeable; a baseline that accepts that needs "
    "--accept-crc-only-firmware"
)
