"""Measure a firmware release file (``.apj``, ``.px4``) as the controller that runs it would measure.

``attest baseline create --firmware ArduCopter.apj`` uses this collector: it
"collects" from a file instead of a device, producing the same component
names and kinds the live MAVLink collector produces, so the baseline
verifies a real controller:

* ``fc/firmware``: SHA-256 of the decoded image, which the live collector
  compares with the application at the boot address of ``@SYS/flash.bin``
  or with what the bootloader's READ_MULTI serves;
* ``fc/app-crc``: the image's CRC over its own length, the form in which the
  live collector records the bootloader's GET_CRC (after removing the
  erased padding) or its own CRC of the application it read.

The baseline's collection settings name these parts, the image length and,
where the image says it (its AP_FWVersion pointers,
:func:`~attest.firmware.app_link_offset`), the boot address ``app_start``; its
device selector is the image's board id. Attributes record the file's
SHA-256, size, git identity and the CRC the bootloader will report for the
whole app area (``0xFF`` padding, as the bootloader pads).

A ``.px4`` baseline pins the bytes too, so it verifies only through a
bootloader that can read them back; PX4-Bootloader cannot, and a baseline
pinned by the CRC alone must be accepted explicitly
(:func:`~attest.firmware.accept_crc_only_firmware`), else it is refused here.
The file may be hostile: it is read up to
:data:`~attest.firmware.MAX_RELEASE_FILE` bytes and every decoding problem is
a :class:`~attest.errors.ConfigError` (exit 2) naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.collectors.base import Collector
from attest.errors import ConfigError
from attest.firmware import (
    MAX_RELEASE_FILE,
    FirmwareFormatError,
    FirmwareImage,
    app_crc_digest,
    app_link_offset,
    bootloader_crc,
    decode_image,
    find_app_descriptor,
    find_fw_version,
    judge_firmware_evidence,
    raw_crc32,
)
from attest.fsutil import read_bounded
from attest.model import Component, DeviceIdentity, Evidence, Method
from attest.progress import Progress
from attest.selection import Selection

__all__ = ["FirmwareImageCollector"]


class FirmwareImageCollector(Collector):
    """A firmware release file, measured as the flight controller running it would be."""

    kind = "mavlink"

    def __init__(self, path: Path) -> None:
        """Measure ``path``; the file is read and decoded now, so a bad file fails early.

        Raises:
            ConfigError: unreadable, larger than :data:`~attest.firmware.MAX_RELEASE_FILE`,
                or not a firmware release file (any :class:`~attest.firmware.FirmwareFormatError`).
        """
        self._path = path
        self._data = read_bounded(path, MAX_RELEASE_FILE, what="firmware release file")
        try:
            self._image = decode_image(self._data, name=str(path))
        except FirmwareFormatError as e:
            raise ConfigError(str(e)) from e
        # Where the bootloader must find this image in flash (ArduPilot: from its AP_FWVersion).
        self._app_start = app_link_offset(self._image.image) if self._image.format == "apj" else None

    @property
    def image(self) -> FirmwareImage:
        """The decoded image."""
        return self._image

    def settings_extras(self) -> dict[str, Any]:
        """The parts a controller is measured for, the image length and, when known, its boot address."""
        firmware: dict[str, Any] = {"image_size": len(self._image.image)}
        if self._app_start is not None:
            firmware["app_start"] = self._app_start
        return {"measure": ["firmware", "app-crc"], "firmware": firmware}

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The image's board id.

        Raises:
            ConfigError: ``pin_instance``: an image names no airframe.
        """
        if pin_instance:
            raise ConfigError("--pin-device: a firmware image names no airframe; pin a baseline made from a device")
        return {"board_id": evidence.device.facts["board_id"]}

    def _collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        del expected  # every read here is bounded by the protocol's own limits
        del device_match  # a file has no identity to check
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
        parts = settings.get("measure", ["firmware", "app-crc"])
        if not isinstance(parts, list) or not set(parts) <= {"firmware", "app-crc"}:
            raise ConfigError("a firmware image measures only 'firmware' and 'app-crc'")
        img = self._image
        image = img.image
        progress.start(len(image), "image")
        try:
            desc = find_app_descriptor(image)
        except FirmwareFormatError as e:  # e.g. stuffed with descriptor magics: not an image to trust
            raise ConfigError(f"{self._path}: {e}") from e
        fwv = find_fw_version(image)
        git = f"{desc.git_hash:08x}" if desc is not None else img.git_identity
        common: dict[str, str | int | bool | None] = {
            "file": self._path.name,
            "file_sha256": hashlib.sha256(self._data).hexdigest(),
            "board_id": img.board_id,
            "git_identity": img.git_identity,
        }
        components: dict[str, Component] = {}
        if "firmware" in parts and selection.selects("fc/firmware"):
            attrs = {**common, "size": len(image), "git_hash": git, "app_start": self._app_start}
            components["fc/firmware"] = Component(
                "fc/firmware", "firmware", hashlib.sha256(image).hexdigest(), attrs, Method.DOCK_READ
            )
        if "app-crc" in parts and selection.selects("fc/app-crc"):
            crc = raw_crc32(image)
            attrs = {**common, "crc32": f"{crc:08x}", "length": len(image)}
            if img.flash_total is not None:
                attrs["fw_size"] = img.flash_total
                attrs["bootloader_crc"] = f"{bootloader_crc(image, img.flash_total):08x}"
                if len(image) % 4:
                    # ArduPilot's uploader.py pads unaligned images with 255 zero bytes per missing byte.
                    padded = image + bytes(255 * (4 - len(image) % 4))
                    if len(padded) <= img.flash_total:
                        attrs["bootloader_crc_uploader_py"] = f"{bootloader_crc(padded, img.flash_total):08x}"
            components["fc/app-crc"] = Component(
                "fc/app-crc", "crc32", app_crc_digest(crc, len(image)), attrs, Method.DOCK_READ
            )
        progress.advance(len(image))
        components, why = judge_firmware_evidence(components, settings)
        bad = [c for c in components.values() if c.error is not None]
        if bad:  # pinned by the CRC alone, and not accepted
            raise ConfigError(f"{self._path}: {bad[0].name}: {bad[0].error}")
        facts = {"board_id": str(img.board_id), "git_hash": git, "image_format": img.format}
        if fwv is not None:
            facts["flight_sw_version"] = f"{fwv.major}.{fwv.minor}.{fwv.patch}"
        device = DeviceIdentity(kind=self.kind, id=f"image:{self._path.name}", target=str(self._path), facts=facts)
        return Evidence(
            device=device,
            components=components,
            nonce=nonce,
            collected_at=datetime.now(UTC),
            notes={"source": "firmware image", "format": img.format}
            | ({"firmware_evidence": why} if why is not None else {}),
        )
