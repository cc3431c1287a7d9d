"""Hashing many files over SFTP: the read scheduler behind :meth:`SftpSession.hash_files`.

Files are opened several at a time and each has several reads in flight, all
within one budget of bytes asked for and not yet received. Data is hashed in
order as it arrives; a file is read to its end, past its listed size, and one
that changes while it is read is an error, never a digest.

Hand-written because paramiko's ``SFTPClient`` reads one file at a time, with
one round trip per request; here reads are pipelined across files, and a block
device (which refuses reads past its end where a file answers EOF) is read
to its end like a file.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attest.transports._sftpwire import (
    FX_EOF,
    FXF_READ,
    FXP_CLOSE,
    FXP_DATA,
    FXP_HANDLE,
    FXP_OPEN,
    FXP_READ,
    Handler,
    SftpProtocolError,
    ignore_reply,
    pack_string,
    read_string,
)

if TYPE_CHECKING:
    from attest.transports._sftp import SftpSession

__all__ = ["FileReads"]

#: Length of the read past a file's listed size that confirms its end.
_PROBE = 4096


@dataclass
class _File:
    """One file being read: requests in flight, bytes hashed so far, where it ends."""

    path: bytes
    size: int | None
    handle: bytes | None = None
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hashed: int = 0  # bytes hashed, in order, from offset 0
    next_offset: int = 0  # where the next read request starts
    outstanding: int = 0  # read requests in flight
    end: int | None = None  # the smallest offset the server said is end of file
    parked: dict[int, list[memoryview]] = field(default_factory=dict)  # data that arrived out of order
    failed: tuple[int, str] | None = None  # the lowest offset whose read failed, and why
    error: str | None = None


class FileReads:
    """The read scheduler behind :meth:`SftpSession.hash_files`."""

    #: Files open at once, and read requests in flight per file.
    PER_FILE = 8

    def __init__(self, session: SftpSession, on_bytes: Callable[[int], None] | None, max_bytes: int) -> None:
        self.s = session
        self.on_bytes = on_bytes
        self.max_bytes = max_bytes
        self.inflight_bytes = 0
        self.queue: deque[_File] = deque()
        self.open: set[int] = set()  # id() of open files
        self.hungry: deque[_File] = deque()  # open files that stopped asking at the byte limit
        self.opening = 0
        self.results: dict[bytes, str] = {}

    def add(self, path: bytes, size: int | None) -> None:
        self.queue.append(_File(path, size))

    def run(self) -> None:
        s = self.s
        while self.queue or self.open or self.opening:
            while self.hungry and self.inflight_bytes < self.max_bytes:
                self._ask(self.hungry.popleft())
            # Open more files while there is room; a file's reads start when its handle arrives.
            while self.queue and len(self.open) + self.opening < s.max_handles and self.inflight_bytes < self.max_bytes:
                f = self.queue.popleft()
                self.opening += 1
                s.request(
                    FXP_OPEN, pack_string(f.path) + struct.pack(">II", FXF_READ, 0), self._opened(f), "OPEN of", f.path
                )
            if not s.in_flight:
                raise RuntimeError("SFTP read scheduler stalled with files still open")  # a bug, not bad data
            s.pump()
        s.drain()  # the last CLOSE replies

    def _opened(self, f: _File) -> Handler:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            self.opening -= 1
            if kind == FXP_HANDLE:
                f.handle, _ = read_string(body, 0)
                self.open.add(id(f))
                self._ask(f)
            else:
                self.results[f.path] = f"cannot read: {self.s.status(kind, body, 'OPEN')[1]}"

        return got

    def _ask(self, f: _File) -> None:
        """Issue reads for ``f`` up to its listed size, then one just past it to see the end, within limits."""
        chunk = self.s.max_read
        while f.end is None and f.error is None and f.failed is None and f.outstanding < self.PER_FILE:
            if f.size is not None and f.next_offset > f.size and f.outstanding:
                return  # the end-of-file probe is in flight; if the file grew, its answer asks again
            if self.inflight_bytes >= self.max_bytes:
                self.hungry.append(f)
                return
            offset = f.next_offset
            if f.size is None:
                length = chunk
            elif offset < f.size:
                length = min(chunk, f.size - offset)
            else:
                length = _PROBE if offset == f.size else chunk
            self._read(f, offset, length)
            f.next_offset = offset + length

    def _read(self, f: _File, offset: int, length: int) -> None:
        assert f.handle is not None  # noqa: S101
        f.outstanding += 1
        self.inflight_bytes += length
        self.s.request(
            FXP_READ,
            pack_string(f.handle) + struct.pack(">QI", offset, length),
            self._got(f, offset, length),
            "READ of",
            f.path,
        )

    def _got(self, f: _File, offset: int, length: int) -> Handler:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            f.outstanding -= 1
            self.inflight_bytes -= length
            if kind == FXP_DATA:
                n = sum(len(v) for v in data)
                if n > length or n == 0:
                    raise SftpProtocolError(f"{self.s.label}: READ of {length} bytes answered with {n}")
                if f.end is not None and offset + n > f.end:
                    f.error = "cannot read: it changed while being read"
                elif f.error is None:
                    f.parked[offset] = list(data)
                    if n < length:  # a short read: ask again for the rest
                        self._read(f, offset + n, length - n)
                    self._hash_parked(f)
            else:
                code, text = self.s.status(kind, body, "READ")
                if code == FX_EOF:
                    f.end = offset if f.end is None else min(f.end, offset)
                    if f.hashed > f.end or any(o + sum(map(len, v)) > f.end for o, v in f.parked.items()):
                        f.error = "cannot read: it changed while being read"
                elif f.failed is None or offset < f.failed[0]:
                    # Judged at the end: a block device refuses reads past its end
                    # (EINVAL) where a file answers EOF, so a failure beyond the
                    # end the server reports is not an error.
                    f.failed = (offset, text)
            if f.outstanding == 0 and (f.end is not None or f.error is not None or f.failed is not None):
                self._finish(f)
            else:
                self._ask(f)

        return got

    def _hash_parked(self, f: _File) -> None:
        while f.hashed in f.parked:
            views = f.parked.pop(f.hashed)
            for v in views:
                f.digest.update(v)
                f.hashed += len(v)
            if self.on_bytes is not None:
                self.on_bytes(sum(len(v) for v in views))

    def _finish(self, f: _File) -> None:
        if f.error is None and f.failed is not None and (f.end is None or f.failed[0] < f.end):
            f.error = f"cannot read: {f.failed[1]}"
        if f.error is None and (f.parked or f.end != f.hashed):
            f.error = "cannot read: it changed while being read"
        self.results[f.path] = f.error if f.error is not None else f.digest.hexdigest()
        self.open.discard(id(f))
        assert f.handle is not None  # noqa: S101 (only open files finish)
        self.s.request(FXP_CLOSE, pack_string(f.handle), ignore_reply, "CLOSE of", f.path)
