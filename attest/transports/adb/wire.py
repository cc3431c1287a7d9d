"""ADB messages: the 24-byte header, its checks, and the command constants.

Primary source: AOSP ``system/core/adb/protocol.txt`` ("protocol overview and
basics", "message command constants") and ``adb.h``/``transport.cpp`` at
commit 5cf7868b7 of aosp-mirror/platform_system_core (before the move to
packages/modules/adb). A message is six little-endian 32-bit words --
command, arg0, arg1, data_length, data_crc32, magic (``command ^ 0xffffffff``)
-- then ``data_length`` payload bytes. Despite its name, ``data_crc32`` is the
byte sum of the payload (``calculate_apacket_checksum``), required only below
protocol version ``0x01000001`` (``A_VERSION_SKIP_CHECKSUM``); from that
version on senders write 0 and receivers ignore it.

This module is pure (no IO): :func:`encode` builds a message
(:func:`encode_header` its header alone, which USB sends as its own
transfer), :func:`decode_header` checks one header against the largest
payload the receiver declared, and :func:`check_payload` checks the sum
where it applies.
A bad magic, an unknown command or an oversized length is a
:class:`~attest.errors.TransportError`: the protocol says such a message
"MUST result in the closing of the remote connection".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from attest.errors import TransportError

__all__ = [
    "AUTH_RSAPUBLICKEY",
    "AUTH_SIGNATURE",
    "AUTH_TOKEN",
    "A_AUTH",
    "A_CLSE",
    "A_CNXN",
    "A_OKAY",
    "A_OPEN",
    "A_STLS",
    "A_SYNC",
    "A_WRTE",
    "COMMAND_NAMES",
    "CONNECT_PAYLOAD_MAX",
    "HEADER",
    "MAX_PAYLOAD",
    "TOKEN_SIZE",
    "VERSION",
    "VERSION_MIN",
    "VERSION_SKIP_CHECKSUM",
    "Header",
    "check_payload",
    "checksum",
    "decode_header",
    "encode",
    "encode_header",
]

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

#: Printable names, for messages.
COMMAND_NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_AUTH: "AUTH",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_STLS: "STLS",
}

#: AUTH arg0 (adb_auth.h): a token to sign, a signature of it, a public key offered for approval.
AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3
#: Bytes in an AUTH token (adb.h ``TOKEN_SIZE``): signed as if it were a SHA-1 digest.
TOKEN_SIZE = 20

VERSION_MIN = 0x01000000
VERSION_SKIP_CHECKSUM = 0x01000001
#: The version we announce (adb.h ``A_VERSION``).
VERSION = 0x01000001

#: The largest payload adbd accepts (adb.h ``MAX_PAYLOAD``, 1 MiB).
MAX_PAYLOAD = 1024 * 1024
#: CNXN and AUTH payloads are sent before the peer's maxdata is known: at most 4 KiB (``MAX_PAYLOAD_V1``).
CONNECT_PAYLOAD_MAX = 4096

#: The header: six little-endian uint32.
HEADER = struct.Struct("<6I")


@dataclass(frozen=True)
class Header:
    """One message header, checked.

    Attributes:
        command: ``A_CNXN`` and so on.
        arg0: first argument (for streams, the sender's local id).
        arg1: second argument (for streams, the receiver's id).
        length: payload bytes that follow.
        check: the payload byte sum (0 when the version skips it).
    """

    command: int
    arg0: int
    arg1: int
    length: int
    check: int

    @property
    def name(self) -> str:
        """The command's four letters."""
        return COMMAND_NAMES.get(self.command, f"0x{self.command:08x}")


def checksum(payload: bytes) -> int:
    """The ``data_crc32`` word: the sum of the payload's bytes, modulo 2**32."""
    return sum(payload) & 0xFFFFFFFF


def encode_header(command: int, arg0: int, arg1: int, payload: bytes = b"", *, with_checksum: bool = True) -> bytes:
    """The 24-byte header of a message carrying ``payload`` (arguments as for :func:`encode`)."""
    check = checksum(payload) if with_checksum else 0
    return HEADER.pack(command, arg0, arg1, len(payload), check, command ^ 0xFFFFFFFF)


def encode(command: int, arg0: int, arg1: int, payload: bytes = b"", *, with_checksum: bool = True) -> bytes:
    """One message, header and payload.

    Args:
        command: ``A_CNXN`` and so on.
        arg0: the first argument.
        arg1: the second argument.
        payload: the data.
        with_checksum: write the payload sum (needed until both sides agreed on
            ``VERSION_SKIP_CHECKSUM``; harmless after).
    """
    return encode_header(command, arg0, arg1, payload, with_checksum=with_checksum) + payload


def decode_header(raw: bytes, *, max_payload: int, label: str) -> Header:
    """Parse and check a 24-byte header.

    Args:
        raw: exactly ``HEADER.size`` bytes.
        max_payload: the most this side declared it accepts.
        label: the device, for messages.

    Raises:
        TransportError: bad magic, unknown command, or a payload longer than ``max_payload``.
    """
    command, arg0, arg1, length, check, magic = HEADER.unpack(raw)
    if magic != command ^ 0xFFFFFFFF:
        raise TransportError(f"{label}: not an ADB message (magic 0x{magic:08x} does not fit command 0x{command:08x})")
    if command not in COMMAND_NAMES:
        raise TransportError(f"{label}: unknown ADB command 0x{command:08x}")
    if length > max_payload:
        raise TransportError(f"{label}: ADB message of {length} bytes exceeds the {max_payload} bytes allowed")
    return Header(command, arg0, arg1, length, check)


def check_payload(header: Header, payload: bytes, *, version: int, label: str) -> None:
    """Check the payload sum where the protocol version requires it.

    Raises:
        TransportError: the sum does not match.
    """
    if version < VERSION_SKIP_CHECKSUM and checksum(payload) != header.check:
        raise TransportError(f"{label}: corrupt ADB {header.name} message (payload sum does not match)")
