"""MAVLink FTP wire format: the 12-byte header inside FILE_TRANSFER_PROTOCOL, opcodes, NAK codes.

Shared by the dock's client (:mod:`attest.mavlink.ftp`) and the simulated
flight controller, so both sides agree on one definition (reference §6).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = ["DATA_MAX", "DirEntry", "FtpOp", "Nak", "Opcode", "pack_ftp", "parse_entry", "unpack_ftp"]

#: FILE_TRANSFER_PROTOCOL message id.
MSG_ID = 110
#: Data bytes one FTP packet carries.
DATA_MAX = 239
_HDR = struct.Struct("<HBBBBBBI")


class Opcode(enum.IntEnum):
    """FTP opcodes (requests, and ACK/NAK replies)."""

    NONE = 0
    TERMINATE_SESSION = 1
    RESET_SESSIONS = 2
    LIST_DIRECTORY = 3
    OPEN_FILE_RO = 4
    READ_FILE = 5
    CREATE_FILE = 6
    WRITE_FILE = 7
    REMOVE_FILE = 8
    CREATE_DIRECTORY = 9
    REMOVE_DIRECTORY = 10
    OPEN_FILE_WO = 11
    TRUNCATE_FILE = 12
    RENAME = 13
    CALC_FILE_CRC32 = 14
    BURST_READ_FILE = 15
    LIST_DIRECTORY_WITH_TIME = 16
    ACK = 128
    NAK = 129


class Nak(enum.IntEnum):
    """NAK error codes (``data[0]`` of a NAK)."""

    NONE = 0
    FAIL = 1
    FAIL_ERRNO = 2
    INVALID_DATA_SIZE = 3
    INVALID_SESSION = 4
    NO_SESSIONS_AVAILABLE = 5
    EOF = 6
    UNKNOWN_COMMAND = 7
    FILE_EXISTS = 8
    FILE_PROTECTED = 9
    FILE_NOT_FOUND = 10


@dataclass(frozen=True, slots=True)
class FtpOp:
    """One FTP packet (request or reply).

    Attributes:
        seq: sequence number (a reply carries request + 1).
        session: session id.
        opcode: the operation, or ACK/NAK in replies.
        req_opcode: in replies, the request's opcode.
        burst_complete: last packet of a burst.
        offset: file offset or directory entry index.
        data: the valid data bytes.
        size: the header's ``size`` when it is not ``len(data)``: the
            requested length of a read (``-1``: use ``len(data)``).
    """

    seq: int
    session: int
    opcode: int
    req_opcode: int = 0
    burst_complete: int = 0
    offset: int = 0
    data: bytes = b""
    size: int = -1

    def nak_code(self) -> int | None:
        """The NAK error code, or ``None`` for an ACK (a NAK without data reads as FAIL)."""
        if self.opcode != Opcode.NAK:
            return None
        return self.data[0] if self.data else Nak.FAIL


def pack_ftp(op: FtpOp, *, target_system: int, target_component: int) -> bytes:
    """The FILE_TRANSFER_PROTOCOL payload (254 bytes) carrying ``op``.

    Raises:
        ValueError: more than :data:`DATA_MAX` data bytes (misuse).
    """
    if len(op.data) > DATA_MAX:
        raise ValueError(f"FTP data of {len(op.data)} bytes exceeds {DATA_MAX}")
    size = len(op.data) if op.size < 0 else op.size
    head = _HDR.pack(op.seq & 0xFFFF, op.session, op.opcode, size, op.req_opcode, op.burst_complete, 0, op.offset)
    body = bytes((0, target_system, target_component)) + head + op.data
    return body + bytes(254 - len(body))


def unpack_ftp(payload: bytes) -> tuple[int, int, FtpOp]:
    """``(target_system, target_component, op)`` from a zero-extended FILE_TRANSFER_PROTOCOL payload.

    The header's ``size`` is kept in ``op.size``; ``op.data`` holds at most
    the bytes the packet can carry, so a reply claiming more than
    :data:`DATA_MAX` is visibly malformed (``op.size != len(op.data)``).

    Raises:
        ValueError: ``payload`` is shorter than the 15 bytes of targets and
            header (a verified frame's payload is zero-extended to 254: misuse).
    """
    if len(payload) < 3 + _HDR.size:
        raise ValueError(f"FTP payload of {len(payload)} bytes is shorter than its header")
    seq, session, opcode, size, req_opcode, burst, _pad, offset = _HDR.unpack_from(payload, 3)
    data = payload[15 : 15 + min(size, DATA_MAX)]
    return payload[1], payload[2], FtpOp(seq, session, opcode, req_opcode, burst, offset, data, size)


@dataclass(frozen=True)
class DirEntry:
    """One directory listing entry."""

    name: str
    is_dir: bool
    size: int | None


def parse_entry(raw: bytes) -> DirEntry | None:
    r"""One ListDirectory entry: ``F<name>\t<size>``, ``D<name>``, or ``S`` (skip: ``None``).

    Raises:
        ValueError: a malformed entry (unknown type, empty or non-UTF-8 name, a ``/`` in it, a bad size).
    """
    kind, body = raw[:1], raw[1:]
    if kind == b"S":  # a "skip" entry: counted, carries nothing
        return None
    name_b, _, size_b = body.partition(b"\t")
    try:
        name = name_b.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"entry name is not UTF-8: {name_b!r}") from None
    if kind not in (b"F", b"D") or not name or "/" in name or name in (".", ".."):
        if kind == b"D" and name in (".", ".."):
            return None
        raise ValueError(f"malformed entry {raw!r}")
    if kind == b"D":
        return DirEntry(name, is_dir=True, size=None)
    try:
        size = int(size_b) if size_b else None
    except ValueError:
        raise ValueError(f"bad size in entry {raw!r}") from None
    return DirEntry(name, is_dir=False, size=size)
