"""The general command set's version inquiry (command set 0x00, command id 0x01).

A module asked for its version replies with (o-gs/dji-firmware-tools,
``dji-dumlv1-general.lua``, ``general_version_inquiry_dissector``, and
``comm_mkdupc.py``'s ``DJIPayload_General_VersionInquiryRe``):

====== ======= ===============================================================
offset size    field
====== ======= ===============================================================
0      1       unknown (0 on every module described; kept in the digest)
1      1       unknown (likewise)
2      16      hardware version: text, NUL-padded
18     4       loader (bootloader) version, little-endian, shown ``AA.BB.CC.DD``
               from the most significant byte
22     4       firmware (application) version, the same way
26     4       flags (bit 31 production, bit 30 safe upgrade, per the dissector)
30     0/1/4   a trailing field on some firmware (31 and 34-byte replies)
====== ======= ===============================================================

Everything here is what the module *says*: the dock cannot check a version
against the code the module runs. :func:`parse_version_reply` accepts 30 to
64 bytes (the described sizes are 30, 31 and 34; longer replies keep their
extra bytes in the report) and refuses anything shorter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "CMD_ID",
    "CMD_SET",
    "MAX_REPLY",
    "MIN_REPLY",
    "ModuleVersion",
    "VersionReplyError",
    "format_version",
    "parse_version",
    "parse_version_reply",
    "version_reply_payload",
]

CMD_SET = 0x00
CMD_ID = 0x01
MIN_REPLY = 30
MAX_REPLY = 64


class VersionReplyError(ValueError):
    """A version reply that does not have the described layout."""


def format_version(value: int) -> str:
    """``03.02.44.07`` for the 32-bit version word ``0x03022C07``."""
    return ".".join(f"{value >> shift & 0xFF:02d}" for shift in (24, 16, 8, 0))


def parse_version(text: str) -> int:
    """The 32-bit version word of ``AA.BB.CC.DD`` (each 0-255).

    Raises:
        ValueError: not four dot-separated numbers 0-255.
    """
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"{text!r}: expected a version AA.BB.CC.DD, each 0-255")
    a, b, c, d = (int(p) for p in parts)
    return a << 24 | b << 16 | c << 8 | d


@dataclass(frozen=True)
class ModuleVersion:
    """One module's answer to the version inquiry.

    Attributes:
        hardware: the hardware version text (up to the first NUL; bytes beyond ASCII as backslash escapes).
        loader: the loader version, ``AA.BB.CC.DD``.
        firmware: the firmware version, ``AA.BB.CC.DD``.
        flags: the flags word.
        raw: the reply payload exactly as received.
    """

    hardware: str
    loader: str
    firmware: str
    flags: int
    raw: bytes

    def digest(self) -> str:
        """SHA-256 (hex) of the whole reply payload: every byte the module reported."""
        return hashlib.sha256(self.raw).hexdigest()


def parse_version_reply(payload: bytes) -> ModuleVersion:
    """Decode a version reply payload.

    Raises:
        VersionReplyError: shorter than 30 or longer than 64 bytes.
    """
    if len(payload) < MIN_REPLY:
        status = f" (status byte {payload[0]})" if payload else ""
        raise VersionReplyError(f"a {len(payload)}-byte version reply{status}: at least {MIN_REPLY} bytes expected")
    if len(payload) > MAX_REPLY:
        raise VersionReplyError(f"a {len(payload)}-byte version reply: at most {MAX_REPLY} bytes expected")
    hw = payload[2:18].split(b"\0", 1)[0]
    return ModuleVersion(
        hardware=hw.decode("ascii", "backslashreplace"),
        loader=format_version(int.from_bytes(payload[18:22], "little")),
        firmware=format_version(int.from_bytes(payload[22:26], "little")),
        flags=int.from_bytes(payload[26:30], "little"),
        raw=bytes(payload),
    )


def version_reply_payload(hardware: str, loader: int, firmware: int, *, flags: int = 0x3FF, tail: bytes = b"") -> bytes:
    """A version reply payload (for the simulator and tests).

    Raises:
        ValueError: a hardware text longer than 16 bytes, or a tail longer than 34 bytes.
    """
    hw = hardware.encode("ascii")
    if len(hw) > 16 or len(tail) > MAX_REPLY - MIN_REPLY:
        raise ValueError("hardware text is at most 16 bytes, the tail at most 34")
    return (
        b"\0\0"
        + hw.ljust(16, b"\0")
        + loader.to_bytes(4, "little")
        + firmware.to_bytes(4, "little")
        + flags.to_bytes(4, "little")
        + tail
    )
