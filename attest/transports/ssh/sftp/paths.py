"""Per-path SFTP lookups, many in flight: attributes, canonical paths, and small files read whole.

The SSH collector looks a few things up beside the tree walk: the attributes
of the tools it will run and of files to check again, where a tool's path
really leads (``REALPATH``), and small kernel files (``/sys/dev/block/...``)
whose contents it compares with what the device's commands said. Each
function sends every request at once (up to ``window`` in flight) on one
:class:`~attest.transports.ssh.sftp.channel.SftpChannel` and returns a result
or an error message per path, never a partial answer.

Hand-written for the same reason as the rest of this client: paramiko's
``SFTPClient`` waits for each reply before the next request and decodes names
as UTF-8.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attest.transports.ssh.errors import printable
from attest.transports.ssh.sftp.walk import MAX_PATH
from attest.transports.ssh.sftp.wire import (
    FX_EOF,
    FXF_READ,
    FXP_ATTRS,
    FXP_CLOSE,
    FXP_DATA,
    FXP_HANDLE,
    FXP_LSTAT,
    FXP_NAME,
    FXP_OPEN,
    FXP_READ,
    FXP_REALPATH,
    FXP_STAT,
    SftpAttrs,
    SftpProtocolError,
    ignore_reply,
    pack_string,
    read_attrs,
    read_string,
    read_u32,
)

if TYPE_CHECKING:
    from attest.transports.ssh.sftp.channel import SftpChannel

__all__ = ["SMALL_FILE_BYTES", "read_small", "realpaths", "stat_paths"]

#: Most bytes :func:`read_small` reads from one file: kernel attribute files are a line.
SMALL_FILE_BYTES = 4096


def _each(channel: SftpChannel, paths: Sequence[bytes], send: Callable[[bytes], None], window: int) -> None:
    """Call ``send`` for every path with at most ``window`` requests in flight, then pump until all are answered."""
    queue = deque(paths)
    while queue or channel.in_flight:
        while queue and channel.in_flight < window:
            send(queue.popleft())
        channel.pump()


def stat_paths(
    channel: SftpChannel, paths: Sequence[bytes], *, follow: bool, window: int = 64
) -> dict[bytes, SftpAttrs | str]:
    """``STAT`` (``follow``) or ``LSTAT`` of many paths: path -> attributes, or an error message.

    Raises:
        TransportError: the connection dropped or the device stopped answering.
        SftpProtocolError: a reply is malformed.
    """
    op = "STAT" if follow else "LSTAT"
    result: dict[bytes, SftpAttrs | str] = {}

    def send(path: bytes) -> None:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            result[path] = read_attrs(body, 0)[0] if kind == FXP_ATTRS else channel.status(kind, body, op)[1]

        channel.request(FXP_STAT if follow else FXP_LSTAT, pack_string(path), got, f"{op} of", path)

    _each(channel, paths, send, window)
    return result


def realpaths(channel: SftpChannel, paths: Sequence[bytes], *, window: int = 64) -> dict[bytes, bytes | str]:
    """``REALPATH`` of many paths (the server resolves every symlink): path -> canonical path, or an error message.

    Raises:
        TransportError: the connection dropped or the device stopped answering.
        SftpProtocolError: a reply is not one absolute path of at most :data:`MAX_PATH` bytes.
    """
    result: dict[bytes, bytes | str] = {}

    def send(path: bytes) -> None:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind != FXP_NAME:
                result[path] = channel.status(kind, body, "REALPATH")[1]
                return
            count, pos = read_u32(body, 0)
            real, _ = read_string(body, pos) if count == 1 else (b"", pos)
            if count != 1 or not real.startswith(b"/") or len(real) > MAX_PATH:
                raise SftpProtocolError(
                    f"{channel.label}: REALPATH of {printable(path)!r} answered with {count} names "
                    f"({printable(real, 100)!r})"
                )
            result[path] = real

        channel.request(FXP_REALPATH, pack_string(path), got, "REALPATH of", path)

    _each(channel, paths, send, window)
    return result


def read_small(
    channel: SftpChannel, paths: Sequence[bytes], *, max_bytes: int = SMALL_FILE_BYTES, window: int = 32
) -> dict[bytes, bytes | str]:
    """The whole contents of many small files: path -> bytes, or an error message (``cannot read: ...``).

    Each file is opened, read once for up to ``max_bytes`` and once more to
    see its end (kernel attribute files report a size of 4096 whatever they
    hold, so the listed size cannot be used); a file longer than ``max_bytes``
    is an error, never cut short.

    Raises:
        TransportError: the connection dropped or the device stopped answering.
        SftpProtocolError: a reply is malformed.
    """
    result: dict[bytes, bytes | str] = {}
    got_data: dict[bytes, bytearray] = {}

    def send(path: bytes) -> None:
        def opened(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind != FXP_HANDLE:
                result[path] = f"cannot read: {channel.status(kind, body, 'OPEN')[1]}"
                return
            handle, _ = read_string(body, 0)
            got_data[path] = bytearray()
            read(handle, 0)

        def read(handle: bytes, offset: int) -> None:
            def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                buf = got_data[path]
                if kind == FXP_DATA:
                    for v in data:
                        buf += v
                    if len(buf) > max_bytes:
                        done(handle, f"cannot read: longer than {max_bytes} bytes")
                    else:
                        read(handle, len(buf))
                    return
                code, text = channel.status(kind, body, "READ")
                done(handle, bytes(buf) if code == FX_EOF else f"cannot read: {text}")

            channel.request(
                FXP_READ, pack_string(handle) + struct.pack(">QI", offset, max_bytes + 1 - offset), got, "READ of", path
            )

        def done(handle: bytes, outcome: bytes | str) -> None:
            result[path] = outcome
            channel.request(FXP_CLOSE, pack_string(handle), ignore_reply, "CLOSE of", path)

        channel.request(FXP_OPEN, pack_string(path) + struct.pack(">II", FXF_READ, 0), opened, "OPEN of", path)

    _each(channel, paths, send, window)
    return result
