"""Device shell commands: argument quoting, and the shell protocol v2 that carries exit codes.

A command reaches the device's ``/system/bin/sh`` as one string (``shell:CMD``
in adb/SERVICES.TXT); every argument the dock sends, including package names
and paths the device itself reported, is quoted with :func:`shlex.quote` by
:func:`command_line`, so a hostile name is one literal argument, never shell
syntax. A NUL cannot be passed to a shell at all and is refused.

Shell protocol v2 (``adb/shell_protocol.h`` at aosp-mirror/platform_system_core
5cf7868b7; service ``shell,v2,raw:CMD``, used when the device's CNXN banner
lists the ``shell_v2`` feature): the stream is a sequence of packets, one
byte id (0 stdin, 1 stdout, 2 stderr, 3 exit, 4 close stdin, 5 window size)
and a little-endian uint32 length, then the data; the exit packet carries one
byte, the exit status. :class:`ShellDecoder` splits the stream, which WRTE
messages cut at arbitrary points, into those packets.
"""

from __future__ import annotations

import shlex
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from attest.errors import TransportError

__all__ = ["ID_EXIT", "ID_STDERR", "ID_STDOUT", "ShellDecoder", "ShellResult", "command_line", "service_name"]

ID_STDIN = 0
ID_STDOUT = 1
ID_STDERR = 2
ID_EXIT = 3
ID_CLOSE_STDIN = 4
ID_WINDOW_SIZE = 5
_PACKET = struct.Struct("<BI")


def command_line(argv: Sequence[str]) -> str:
    """``argv`` as one shell command line, every argument quoted.

    Raises:
        TransportError: an empty command or an argument containing NUL (it
            could not reach the device intact; a device-supplied name with one is hostile).
    """
    if not argv:
        raise TransportError("an empty device command")
    for arg in argv:
        if "\0" in arg:
            raise TransportError(f"refusing to send an argument containing NUL: {arg[:40]!r}")
    return " ".join(shlex.quote(a) for a in argv)


def service_name(command: str, *, v2: bool) -> str:
    """The OPEN destination running ``command``: ``shell,v2,raw:CMD`` or ``shell:CMD``."""
    return f"shell,v2,raw:{command}" if v2 else f"shell:{command}"


@dataclass(frozen=True)
class ShellResult:
    """What one device command produced.

    Attributes:
        status: its exit status, or ``None`` when the device speaks only shell v1 (no status).
        stdout: its standard output.
        stderr: its standard error (always empty under v1, which merges it into stdout).
    """

    status: int | None
    stdout: bytes
    stderr: bytes


class ShellDecoder:
    """Splits a shell v2 stream into stdout, stderr and the exit status.

    Args:
        label: the device and command, for messages.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.status: int | None = None
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Consume stream bytes.

        Raises:
            TransportError: an unknown packet id, data after the exit packet, or an exit packet not 1 byte long.
        """
        self._buf += data
        while len(self._buf) >= _PACKET.size:
            ident, length = _PACKET.unpack_from(self._buf)
            if ident not in (ID_STDOUT, ID_STDERR, ID_EXIT):
                raise TransportError(f"{self.label}: unexpected shell protocol packet id {ident}")
            if ident == ID_EXIT and length != 1:
                raise TransportError(f"{self.label}: shell exit packet of {length} bytes (expected 1)")
            if self.status is not None:
                raise TransportError(f"{self.label}: shell output after the exit status")
            if len(self._buf) < _PACKET.size + length:
                if ident == ID_EXIT:
                    return
                # Pass partial stdout/stderr on at once, so the caller's size bound applies to what arrived.
                take = len(self._buf) - _PACKET.size
                (self.stdout if ident == ID_STDOUT else self.stderr).extend(self._buf[_PACKET.size :])
                self._buf[:] = _PACKET.pack(ident, length - take)
                return
            body = bytes(self._buf[_PACKET.size : _PACKET.size + length])
            del self._buf[: _PACKET.size + length]
            if ident == ID_EXIT:
                self.status = body[0]
            else:
                (self.stdout if ident == ID_STDOUT else self.stderr).extend(body)

    @property
    def size(self) -> int:
        """Output bytes received so far."""
        return len(self.stdout) + len(self.stderr)

    def finish(self) -> ShellResult:
        """The result once the device closed the stream.

        Raises:
            TransportError: the stream ended inside a packet or without an exit status.
        """
        if self.status is None:
            raise TransportError(f"{self.label}: the device ended the command without an exit status")
        if self._buf:
            raise TransportError(f"{self.label}: the device ended the command inside a shell protocol packet")
        return ShellResult(self.status, bytes(self.stdout), bytes(self.stderr))
