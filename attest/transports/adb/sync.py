"""The ADB file sync service (``sync:``): STAT, LIST and RECV, bounded.

Primary sources: ``adb/SYNC.TXT`` and ``adb/file_sync_protocol.h`` at
aosp-mirror/platform_system_core 5cf7868b7. Every request is an id (four
ASCII letters) and a little-endian uint32 path length, then the path (at
most 1024 bytes). ``STAT`` is answered by ``STAT mode size mtime`` (all zero
for a missing file); ``LIST`` by ``DENT mode size mtime namelen name`` entries
and ``DONE``; ``RECV`` by ``DATA len bytes`` chunks of at most 64 KiB, then
``DONE``, or ``FAIL len message``. The replies form one byte stream that WRTE
messages cut anywhere. ``QUIT`` ends the session.

No shell is involved: a path is sent as bytes exactly as given. A listing
is bounded in entries and name length, a transfer by the caller's ``limit``
(more bytes than that is an error, so a device claiming a 10 GB APK costs
the dock at most ``limit`` bytes) and by a floor rate
(:class:`~attest.transports.budget.Budget`).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from attest.errors import TransportError
from attest.report import printable
from attest.transports.adb.connection import AdbConnection, AdbStream
from attest.transports.budget import Budget

__all__ = ["MAX_PATH", "SYNC_DATA_MAX", "SyncEntry", "SyncSession"]

#: ``SyncRequest.path_length <= 1024``.
MAX_PATH = 1024
#: ``SYNC_DATA_MAX``: the largest DATA chunk.
SYNC_DATA_MAX = 64 * 1024
_HEAD = struct.Struct("<4sI")
_STAT = struct.Struct("<4sIII")
_DENT = struct.Struct("<4sIIII")
#: The longest name a listing entry may carry (Linux NAME_MAX is 255; generous).
_MAX_NAME = 4096
_MAX_FAIL = 4096


@dataclass(frozen=True)
class SyncEntry:
    """A STAT answer or a LIST entry (sync v1: 32-bit sizes and times).

    Attributes:
        name: the entry's name (LIST) or the path asked for (STAT).
        mode: ``st_mode`` (0 when STAT found nothing).
        size: the size in bytes (modulo 2**32 on the wire).
        mtime: the modification time, seconds since the epoch.
    """

    name: bytes
    mode: int
    size: int
    mtime: int

    @property
    def exists(self) -> bool:
        """Whether STAT found the path (sync v1 answers all zeros when it did not)."""
        return self.mode != 0 or self.size != 0 or self.mtime != 0


class SyncSession:
    """An open ``sync:`` stream.

    Args:
        stream: the stream the device opened for ``sync:``.
    """

    def __init__(self, stream: AdbStream) -> None:
        self._stream = stream
        self._conn = stream.conn
        self.label = stream.conn.label
        self._buf = bytearray()

    @classmethod
    def open(cls, conn: AdbConnection) -> SyncSession:
        """Open the file sync service (``sync:``) on ``conn``.

        Raises:
            TransportError: the device refused it or did not answer in time.
        """
        return cls(conn.open_stream("sync:"))

    def _request(self, ident: bytes, path: bytes) -> None:
        if len(path) > MAX_PATH:
            raise TransportError(f"{self.label}: path of {len(path)} bytes exceeds the sync limit of {MAX_PATH}")
        self._buf.clear()
        self._stream.write(_HEAD.pack(ident, len(path)) + path)

    def _read(self, n: int, budget: Budget | None, what: str) -> bytes:
        while len(self._buf) < n:
            data = self._stream.read(budget)
            if data is None:
                raise TransportError(f"{self.label}: the device closed the sync session during {what}")
            self._buf += data
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _fail(self, length: int, what: str) -> TransportError:
        if length > _MAX_FAIL:
            return TransportError(f"{self.label}: {what} failed (FAIL message of {length} bytes)")
        message = self._read(length, None, what)
        return TransportError(f"{self.label}: {what} failed: {printable(message.decode('utf-8', 'replace'))[:200]}")

    def stat(self, path: bytes) -> SyncEntry:
        """STAT ``path`` (``lstat`` on the device: a symlink is not followed).

        Raises:
            TransportError: a wrong reply or a broken stream.
        """
        what = f"STAT {path[:80]!r}"
        self._request(b"STAT", path)
        ident, mode, size, mtime = _STAT.unpack(self._read(_STAT.size, None, what))
        if ident != b"STAT":
            raise TransportError(f"{self.label}: {what}: unexpected reply {ident!r}")
        return SyncEntry(path, mode, size, mtime)

    def list(self, path: bytes, *, max_entries: int) -> list[SyncEntry]:
        """LIST the directory ``path`` (``.`` and ``..`` are dropped).

        Raises:
            TransportError: more than ``max_entries`` entries, an over-long name, a
                wrong reply, a transfer below the floor rate, or a broken stream.
        """
        what = f"LIST {path[:80]!r}"
        self._request(b"LIST", path)
        limits = self._conn.limits
        budget = Budget(limits.timeout, limits.floor_rate, what=what, unit="bytes", target=self.label)
        out: list[SyncEntry] = []
        while True:
            head = self._read(4, budget, what)
            if head == b"DONE":
                self._read(_DENT.size - 4, budget, what)
                return out
            if head == b"FAIL":
                (length,) = struct.unpack("<I", self._read(4, budget, what))
                raise self._fail(length, what)
            if head != b"DENT":
                raise TransportError(f"{self.label}: {what}: unexpected reply {head!r}")
            mode, size, mtime, namelen = struct.unpack("<IIII", self._read(16, budget, what))
            if namelen > _MAX_NAME:
                raise TransportError(f"{self.label}: {what}: a name of {namelen} bytes")
            name = self._read(namelen, budget, what)
            if name in (b".", b".."):
                continue
            if len(out) >= max_entries:
                raise TransportError(f"{self.label}: {what}: more than {max_entries} entries")
            out.append(SyncEntry(name, mode, size, mtime))

    def recv(self, path: bytes, sink: Callable[[bytes], object], *, limit: int) -> int:
        """RECV ``path``, passing each chunk to ``sink``; returns the bytes received.

        Raises:
            TransportError: more than ``limit`` bytes, a chunk over 64 KiB, FAIL (no
                such file, permission), a transfer below the floor rate, or a broken stream.
        """
        what = f"RECV {path[:80]!r}"
        self._request(b"RECV", path)
        limits = self._conn.limits
        budget = Budget(limits.timeout, limits.floor_rate, what=what, unit="bytes", target=self.label)
        total = 0
        while True:
            ident, length = _HEAD.unpack(self._read(_HEAD.size, budget, what))
            if ident == b"DONE":
                return total
            if ident == b"FAIL":
                raise self._fail(length, what)
            if ident != b"DATA":
                raise TransportError(f"{self.label}: {what}: unexpected reply {ident!r}")
            if length > SYNC_DATA_MAX:
                raise TransportError(f"{self.label}: {what}: DATA chunk of {length} bytes (at most {SYNC_DATA_MAX})")
            total += length
            if total > limit:
                raise TransportError(f"{self.label}: {what}: the file is larger than the {limit} bytes allowed")
            sink(self._read(length, budget, what))

    def close(self) -> None:
        """Send QUIT and close the stream."""
        if not self._stream.closed:
            with contextlib.suppress(TransportError):  # closing the stream ends the session anyway
                self._stream.write(_HEAD.pack(b"QUIT", 0))
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
