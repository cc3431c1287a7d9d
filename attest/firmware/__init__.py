"""Flight-controller firmware: release files, the bootloader's CRC, the app descriptor, the serial bootloader.

``image`` decodes release files and the version block, ``crc`` computes the
bootloader's CRC-32 and its padding, ``search`` finds the application by its
app descriptor, ``layout`` says where in flash the application must sit,
``evidence`` judges firmware evidence that is only a CRC, and ``bootloader``
is the serial bootloader protocol's client.
Outside this package, import from here. :class:`BootloaderClient` is loaded on
first use: the decoders need neither the serial transport nor MAVLink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest.firmware.crc import app_crc_digest, bootloader_crc, crc32_strip_padding, raw_crc32
from attest.firmware.evidence import (
    CRC_ONLY,
    accept_crc_only_firmware,
    crc_only_accepted,
    crc_only_components,
    judge_firmware_evidence,
)
from attest.firmware.image import (
    FW_VERSION_MAGIC,
    MAX_IMAGE,
    MAX_RELEASE_FILE,
    FirmwareFormatError,
    FirmwareImage,
    FwVersion,
    decode_image,
    find_fw_version,
)
from attest.firmware.layout import FLASH_BASE, AtBoot, app_link_offset, application_at_boot
from attest.firmware.search import (
    APP_MAGIC,
    APP_MAGIC_SIGNED,
    AppDescriptor,
    find_app_descriptor,
    find_app_in_area,
    locate_app,
)
from attest.lazy import lazy_exports

if TYPE_CHECKING:
    from attest.firmware.bootloader import INFO_BL_REV, INFO_BOARD_ID, INFO_FW_SIZE, MAX_FW_SIZE, BootloaderClient

__all__ = [
    "APP_MAGIC",
    "APP_MAGIC_SIGNED",
    "CRC_ONLY",
    "FLASH_BASE",
    "FW_VERSION_MAGIC",
    "INFO_BL_REV",
    "INFO_BOARD_ID",
    "INFO_FW_SIZE",
    "MAX_FW_SIZE",
    "MAX_IMAGE",
    "MAX_RELEASE_FILE",
    "AppDescriptor",
    "AtBoot",
    "BootloaderClient",
    "FirmwareFormatError",
    "FirmwareImage",
    "FwVersion",
    "accept_crc_only_firmware",
    "app_crc_digest",
    "app_link_offset",
    "application_at_boot",
    "bootloader_crc",
    "crc32_strip_padding",
    "crc_only_accepted",
    "crc_only_components",
    "decode_image",
    "find_app_descriptor",
    "find_app_in_area",
    "find_fw_version",
    "judge_firmware_evidence",
    "locate_app",
    "raw_crc32",
]

_BOOTLOADER = "attest.firmware.bootloader"
__getattr__ = lazy_exports(
    __name__,
    dict.fromkeys(("BootloaderClient", "INFO_BL_REV", "INFO_BOARD_ID", "INFO_FW_SIZE", "MAX_FW_SIZE"), _BOOTLOADER),
)
