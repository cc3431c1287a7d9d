"""Measure a firmware release file (``.apj``, ``.px4``) as the controller that runs it would measure.

``attest baseline create --firmware ArduCopter.apj`` uses this collector: it
"collects" from a file instead of a device, producing the same component
names and kinds the live MAVLink collector produces, so the baseline
verifies a real controller:

* ``fc/firmware`` (``.apj`` only): SHA-256 of the decoded image, which the
  live collector compares with the application it cuts out of
  ``@SYS/flash.bin`` or reads through the bootloader;
* ``fc/app-crc``: the image's CRC over its own length, the form in which the
  live collector records the bootloader's GET_CRC (after removing the
  erased padding) or its own CRC of the application it read.

The baseline's collection settings name just these parts and the image
length, and its device selector is the image's board id. Attributes record
the file's SHA-256, size, git identity and the CRC the bootloader will
report for the whole app area (``0xFF`` padding, as the bootloader pads).
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
    FirmwareFormatError,
    FirmwareImage,
    app_crc_digest,
    bootloader_crc,
    decode_image,
    find_app_descriptor,
    find_fw_version,
    raw_crc32,
)
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
            ConfigError: unreadable or not a firmware image.
        """
        self._path = path
        try:
            self._data = path.read_bytes()
            self._image = decode_image(self._data, name=str(path))
        except OSError as e:
            raise ConfigError(f"{path}: cannot read firmware image: {e.strerror}") from e
        except FirmwareFormatError as e:
            raise ConfigError(str(e)) from e

    @property
    def image(self) -> FirmwareImage:
        """The decoded image."""
        return self._image

    def _parts(self) -> list[str]:
        # A PX4 bootloader cannot be read back (no READ_MULTI): only its CRC can be compared.
        return ["firmware", "app-crc"] if self._image.format == "apj" else ["app-crc"]

    def settings_extras(self) -> dict[str, Any]:
        """The parts a controller is measured for, and the image length they cover."""
        return {"measure": self._parts(), "firmware": {"image_size": len(self._image.image)}}

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The image's board id.

        Raises:
            ConfigError: ``pin_instance``: an image names no airframe.
        """
        if pin_instance:
            raise ConfigError("--pin-device: a firmware image names no airframe; pin a baseline made from a device")
        return {"board_id": evidence.device.facts["board_id"]}

    def _collect(
        self, settings: Mapping[str, Any], *, nonce: str, device_match: Mapping[str, str], progress: Progress
    ) -> Evidence:
        del device_match  # a file has no identity to check
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
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
        if "firmware" in self._parts() and selection.selects("fc/firmware"):
            attrs = {**common, "size": len(image), "git_hash": git}
            components["fc/firmware"] = Component(
                "fc/firmware", "firmware", hashlib.sha256(image).hexdigest(), attrs, Method.DOCK_READ
            )
        if selection.selects("fc/app-crc"):
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
        facts = {"board_id": str(img.board_id), "git_hash": git, "image_format": img.format}
        if fwv is not None:
            facts["flight_sw_version"] = f"{fwv.major}.{fwv.minor}.{fwv.patch}"
        device = DeviceIdentity(kind=self.kind, id=f"image:{self._path.name}", target=str(self._path), facts=facts)
        return Evidence(
            device=device,
            components=components,
            nonce=nonce,
            collected_at=datetime.now(UTC),
            notes={"source": "firmware image", "format": img.format},
        )
