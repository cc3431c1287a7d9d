"""The SFTP version 3 wire format: packet and status codes, reply parsing, request encoding.

Pure functions on bytes, no channel: whatever a device sends, parsing either
succeeds or raises :class:`SftpProtocolError` (a
:class:`~attest.errors.CollectionError`). Names are bytes, never decoded.

Hand-written rather than taken from paramiko's ``SFTPClient``, which decodes
file names as UTF-8 (a non-UTF-8 name raises); see
:mod:`attest.transports.ssh.sftp.channel` and :mod:`attest.transports.ssh.sftp.session`
for the client built on this.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from attest.errors import CollectionError

__all__ = [
    "Handler",
    "SftpAttrs",
    "SftpProtocolError",
    "ignore_reply",
    "pack_string",
    "read_attrs",
    "read_string",
    "read_u32",
]

FXP_INIT, FXP_VERSION = 1, 2
FXP_OPEN, FXP_CLOSE, FXP_READ = 3, 4, 5
FXP_LSTAT, FXP_FSTAT = 7, 8
FXP_OPENDIR, FXP_READDIR = 11, 12
FXP_REALPATH, FXP_STAT, FXP_READLINK = 16, 17, 19
FXP_EXTENDED = 200
FXP_STATUS, FXP_HANDLE, FXP_DATA, FXP_NAME, FXP_ATTRS = 101, 102, 103, 104, 105
FXP_EXTENDED_REPLY = 201

FX_OK, FX_EOF = 0, 1
#: SFTP status codes, worded as the directory collector words the matching errno.
FX_TEXT = {2: "No such file or directory", 3: "Permission denied", 8: "Operation not supported"}

ATTR_SIZE, ATTR_UIDGID, ATTR_PERMISSIONS, ATTR_ACMODTIME = 0x1, 0x2, 0x4, 0x8
ATTR_EXTENDED = 0x80000000
FXF_READ = 0x1


class SftpProtocolError(CollectionError):
    """The device sent something that is not SFTP v3."""


@dataclass(frozen=True)
class SftpAttrs:
    """The attributes of one SFTP ``ATTRS`` structure (``None`` where the server left one out).

    ``mtime`` is in whole seconds (SFTP v3 carries no finer time, no inode and
    no ctime); it is kept to notice a file that changed between two looks.
    """

    size: int | None
    uid: int | None
    gid: int | None
    mode: int | None
    mtime: int | None = None

    def changes(self, now: SftpAttrs) -> list[str]:
        """How ``now`` differs from these attributes, as ``"size 10 -> 12"``; only fields both carry count."""
        out = []
        for name in ("size", "mtime", "mode", "uid", "gid"):
            before, after = getattr(self, name), getattr(now, name)
            if before is not None and after is not None and before != after:
                shown = (f"{before:o}", f"{after:o}") if name == "mode" else (before, after)
                out.append(f"{name} {shown[0]} -> {shown[1]}")
        return out


def read_u32(buf: bytes, pos: int) -> tuple[int, int]:
    """The big-endian uint32 at ``pos``, and the position after it."""
    if pos + 4 > len(buf):
        raise SftpProtocolError("SFTP reply ends inside a number")
    return int.from_bytes(buf[pos : pos + 4], "big"), pos + 4


def read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """The length-prefixed string at ``pos`` (bytes, never decoded), and the position after it."""
    n, pos = read_u32(buf, pos)
    if pos + n > len(buf):
        raise SftpProtocolError("SFTP reply ends inside a string")
    return buf[pos : pos + n], pos + n


#: The attributes OpenSSH's sftp-server sends for every file: size, owner, mode, times.
_ALL_BASIC = ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME
_BASIC = struct.Struct(">IQIIIII")


def read_attrs(buf: bytes, pos: int) -> tuple[SftpAttrs, int]:
    """The ``ATTRS`` structure at ``pos``, and the position after it (atime and extensions are skipped)."""
    if len(buf) >= pos + _BASIC.size and int.from_bytes(buf[pos : pos + 4], "big") == _ALL_BASIC:
        # What every OpenSSH listing and stat carries, in one unpack (a walk parses thousands).
        _, size, uid, gid, mode, _, mtime = _BASIC.unpack_from(buf, pos)
        return SftpAttrs(size, uid, gid, mode, mtime), pos + _BASIC.size
    flags, pos = read_u32(buf, pos)
    size = uid = gid = mode = mtime = None
    if flags & ATTR_SIZE:
        if pos + 8 > len(buf):
            raise SftpProtocolError("SFTP attributes end inside the size")
        size, pos = int.from_bytes(buf[pos : pos + 8], "big"), pos + 8
    if flags & ATTR_UIDGID:
        uid, pos = read_u32(buf, pos)
        gid, pos = read_u32(buf, pos)
    if flags & ATTR_PERMISSIONS:
        mode, pos = read_u32(buf, pos)
    if flags & ATTR_ACMODTIME:
        _, pos = read_u32(buf, pos)  # atime: changes on every read
        mtime, pos = read_u32(buf, pos)
    if flags & ATTR_EXTENDED:
        count, pos = read_u32(buf, pos)
        for _ in range(count):
            _, pos = read_string(buf, pos)
            _, pos = read_string(buf, pos)
    return SftpAttrs(size, uid, gid, mode, mtime), pos


def pack_string(data: bytes) -> bytes:
    """``data`` as an SFTP string: length-prefixed."""
    return struct.pack(">I", len(data)) + data


#: A reply handler: (reply type, body after the request id, data views of a DATA reply).
Handler = Callable[[int, bytes, Sequence[memoryview]], None]


def ignore_reply(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
    """A :data:`Handler` for replies nothing waits for (CLOSE)."""
    del kind, body, data
