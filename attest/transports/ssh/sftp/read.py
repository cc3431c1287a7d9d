"""Hashing many files over SFTP: the read scheduler behind ``SftpSession.hash_files`` and ``SftpSession.reader``.

Files are opened several at a time and each has several reads in flight on
one :class:`~attest.transports.ssh.sftp.channel.SftpChannel`, all within one
budget of bytes: asked for and not yet received, plus received out of order
and not yet hashed. Data is hashed in order as it arrives; a file is
read to its listed size and an ``FSTAT`` after its last read confirms that
size (a partition, which lists no size, is read until a read past its end
says so). A file that changes while it is read (more or fewer bytes than
listed) is an error, never a digest. Files may be added while others are being read (and while a tree
walk shares the channel): scheduling happens as replies arrive.

Time of check and time of use: the listing said what a file was (size,
mtime, mode, owner); the bytes come later. After its last read, every file
is ``FSTAT``-ed through the handle it was read with (SFTP processes requests
on one handle in order, so the answer describes the file after those reads),
and any difference from the attributes it was listed with is ``cannot read:
it changed between listing and reading (...)``, never a digest. SFTP v3 has
no inode number or ctime, so a change that restores size, mtime, mode and
owner (``touch -r``) is not seen here.

What a hostile server can make the dock hold is bounded: each file asks for
nothing more than :attr:`FileReads.PER_FILE` reads beyond the first byte not
yet hashed (a reply the server holds back stops that file's reads, not just
its hashing), every file is read to at most its listed size or, for a
partition, ``max_size`` (:data:`MAX_FILE_BYTES`), and a request the server
skips over while it answers later ones ends the run after the timeout
(:meth:`~attest.transports.ssh.sftp.channel.SftpChannel.pump`).

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

from attest.transports.ssh.sftp.wire import (
    FX_EOF,
    FXF_READ,
    FXP_ATTRS,
    FXP_CLOSE,
    FXP_DATA,
    FXP_FSTAT,
    FXP_HANDLE,
    FXP_OPEN,
    FXP_READ,
    Handler,
    SftpAttrs,
    SftpProtocolError,
    ignore_reply,
    pack_string,
    read_attrs,
    read_string,
)

if TYPE_CHECKING:
    from attest.transports.ssh.sftp.channel import SftpChannel

__all__ = ["MAX_FILE_BYTES", "FileReads"]

#: Default largest file or partition the dock reads (64 GiB): a file listed
#: as larger is not read, and a partition still sending data there is an error.
MAX_FILE_BYTES = 64 << 30
#: Length of the read past a file's end (its listed size, or the limit) that confirms the end.
_PROBE = 4096
#: What each piece of data held out of order costs in the budget beyond its
#: length (a dict entry, a bytes object).
_PARKED_COST = 512
#: Pieces one file may hold out of order. A short answer out of order asks
#: again for the rest outside the budget (so that no gap is ever left
#: unasked); a server answering in one-byte pieces would otherwise make the
#: dock hold millions of them. OpenSSH answers in order and in full.
_MAX_PIECES = 64
_TOO_MANY_PIECES = f"cannot read: the device answered in more than {_MAX_PIECES} pieces out of order"

CHANGED = "cannot read: it changed while being read"
#: The start of the error for a file whose attributes after reading differ from its listing.
CHANGED_SINCE_LISTING = "cannot read: it changed between listing and reading"


@dataclass(eq=False)
class _File:
    """One file being read: requests in flight, bytes hashed so far, where it ends."""

    path: bytes
    size: int | None
    limit: int  # reads stop here: the listed size, or the largest partition read
    listed: SftpAttrs | None = None  # what the listing said; compared with an FSTAT after the last read
    handle: bytes | None = None
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hashed: int = 0  # bytes hashed, in order, from offset 0
    next_offset: int = 0  # where the next read request starts
    outstanding: int = 0  # read requests in flight
    end: int | None = None  # the smallest offset the server said is end of file
    parked: dict[int, bytes] = field(default_factory=dict)  # data that arrived out of order
    failed: tuple[int, str] | None = None  # the lowest offset whose read failed, and why
    error: str | None = None
    hungry: bool = False  # waiting in FileReads.hungry for room in the budget
    stat_sent: bool = False  # an FSTAT was asked for ...
    stat_stale: bool = False  # ... but a read was sent after it, so it must be asked again
    stats_out: int = 0  # FSTATs in flight
    stat_problem: str | None = None  # how the file differs after reading from its listing (judged at the end)
    done: bool = False  # finished and closed


class FileReads:
    """The read scheduler behind :meth:`~attest.transports.ssh.sftp.session.SftpSession.hash_files`.

    :meth:`add` queues a file and opens it at once if there is room; every
    reply schedules what follows it (more reads, the next file), so files can
    be added while the channel is pumped by someone else (a tree walk), and
    :meth:`run` only pumps until everything added has finished.

    Args:
        channel: the started SFTP channel to read with.
        on_bytes: called with the length of each piece hashed.
        max_bytes: the budget: bytes asked for and not yet received, plus bytes
            (and :data:`_PARKED_COST` per piece) received out of order and not yet hashed.
        max_size: the most bytes read from one file or partition.
        max_open: the most files open at once (default: the server's handle limit).
    """

    #: Read requests in flight per file; a file also asks for nothing beyond
    #: this many reads past its first byte not yet hashed.
    PER_FILE = 8

    def __init__(
        self,
        channel: SftpChannel,
        on_bytes: Callable[[int], None] | None,
        max_bytes: int,
        *,
        max_size: int = MAX_FILE_BYTES,
        max_open: int | None = None,
    ) -> None:
        self.channel = channel
        self.max_open = min(max_open, channel.max_handles) if max_open is not None else channel.max_handles
        self.on_bytes = on_bytes
        self.max_bytes = max_bytes
        self.max_size = max_size
        self.inflight_bytes = 0  # asked for, not yet received
        self.parked_bytes = 0  # received out of order, not yet hashed (with _PARKED_COST each)
        self.queue: deque[_File] = deque()
        self.open: set[int] = set()  # id() of open files
        self.hungry: deque[_File] = deque()  # open files that stopped asking at the byte limit
        self.opening = 0
        self.results: dict[bytes, str] = {}
        self.lengths: dict[bytes, int] = {}  # bytes hashed, for every file read without error

    @property
    def held(self) -> int:
        """The bytes the budget counts: asked for and not received, or received and not hashed."""
        return self.inflight_bytes + self.parked_bytes

    def add(self, path: bytes, size: int | None, listed: SftpAttrs | None = None) -> None:
        """Read ``path``: a file of ``size`` bytes, or (``None``) a partition, read to its end.

        ``listed``: the attributes the listing gave it; after the last read they
        must still hold (see the module docstring), or the file is an error.
        """
        if size is not None and size > self.max_size:
            self.results[path] = f"cannot read: listed as {size} bytes, more than the {self.max_size}-byte limit"
            return
        self.queue.append(_File(path, size, size if size is not None else self.max_size, listed))
        self._open_more()

    @property
    def busy(self) -> bool:
        """Whether a file added is still being read."""
        return bool(self.queue or self.open or self.opening)

    def run(self) -> None:
        """Read every file added to its end, hashing in order; results land in :attr:`results`."""
        while self.busy:
            self.step()
        self.channel.drain()  # the last CLOSE replies

    def step(self) -> None:
        """Wait for one reply and act on it (more reads, the next file); only while :attr:`busy`."""
        if not self.channel.in_flight:
            raise RuntimeError("SFTP read scheduler stalled with files still open")  # a bug, not bad data
        self.channel.pump()

    def _open_more(self) -> None:
        """Let files that stopped at the budget ask again, then open queued files while there is room."""
        while self.hungry and self.held < self.max_bytes:
            f = self.hungry.popleft()
            f.hungry = False
            self._ask(f)
        # A file's reads start when its handle arrives.
        while self.queue and len(self.open) + self.opening < self.max_open and self.held < self.max_bytes:
            f = self.queue.popleft()
            self.opening += 1
            self.channel.request(
                FXP_OPEN, pack_string(f.path) + struct.pack(">II", FXF_READ, 0), self._opened(f), "OPEN of", f.path
            )

    def _opened(self, f: _File) -> Handler:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            self.opening -= 1
            if kind == FXP_HANDLE:
                f.handle, _ = read_string(body, 0)
                self.open.add(id(f))
                self._ask(f)
            else:
                self.results[f.path] = f"cannot read: {self.channel.status(kind, body, 'OPEN')[1]}"
                self._open_more()

        return got

    def _ask(self, f: _File) -> None:
        """Issue reads for ``f`` up to its limit within the budgets; then an FSTAT (a file) or a read past the end.

        Every byte between the first not yet hashed and ``f.next_offset`` is
        either parked or asked for, so a file that stops here always has a
        read in flight whose answer asks again. A file is read to its listed
        size and no further: the FSTAT after the last read shows whether it
        still has that size (see the module docstring). A partition has no
        size to list, so it is read until the server says it ends.
        """
        chunk = self.channel.max_read
        window = self.PER_FILE * chunk
        while not f.done and f.end is None and f.error is None and f.failed is None and f.outstanding < self.PER_FILE:
            offset = f.next_offset
            if f.size is not None and offset >= f.limit:
                if not f.stat_sent:
                    self._stat(f)  # the last read is asked for: the FSTAT follows it on the same handle
                return
            if offset > f.limit:
                return  # the read past the end is in flight
            if offset - f.hashed >= window:
                return  # a gap below is still unanswered: hold further reads until it is filled
            if self.held >= self.max_bytes:
                if not f.hungry:
                    f.hungry = True
                    self.hungry.append(f)
                return
            length = min(chunk, f.limit - offset) if offset < f.limit else _PROBE
            self._read(f, offset, length)
            f.next_offset = offset + length

    def _read(self, f: _File, offset: int, length: int) -> None:
        assert f.handle is not None  # noqa: S101
        if f.stat_sent:
            f.stat_stale = True  # this read is served after that FSTAT: ask again after it
        f.outstanding += 1
        self.inflight_bytes += length
        self.channel.request(
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
                    raise SftpProtocolError(f"{self.channel.label}: READ of {length} bytes answered with {n}")
                if offset + n > f.limit:
                    self._fail(f, self._past_limit(f))
                elif f.end is not None and offset + n > f.end:
                    self._fail(f, CHANGED)
                elif f.error is None:
                    if offset == f.hashed:
                        self._hash(f, data, n)
                        self._hash_parked(f)
                    elif len(f.parked) >= _MAX_PIECES:
                        self._fail(f, _TOO_MANY_PIECES)
                    else:  # a copy: a view would keep the whole buffer it points into alive
                        f.parked[offset] = b"".join(data)
                        self.parked_bytes += n + _PARKED_COST
                    if n < length and f.error is None:  # a short read: ask again for the rest
                        self._read(f, offset + n, length - n)
            else:
                code, text = self.channel.status(kind, body, "READ")
                if code == FX_EOF:
                    f.end = offset if f.end is None else min(f.end, offset)
                    if f.hashed > f.end or any(o + len(v) > f.end for o, v in f.parked.items()):
                        self._fail(f, CHANGED)
                elif f.failed is None or offset < f.failed[0]:
                    # Judged at the end: a block device refuses reads past its end
                    # (EINVAL) where a file answers EOF, so a failure beyond the
                    # end the server reports is not an error.
                    f.failed = (offset, text)
            self._settle(f)

        return got

    def _settle(self, f: _File) -> None:
        """After a reply for ``f``: finish it, check it after its last read, or ask for more."""
        read_all = f.size is not None and f.hashed == f.size and not f.parked
        if f.outstanding == 0 and (read_all or f.end is not None or f.error is not None or f.failed is not None):
            if f.error is None and (not f.stat_sent or f.stat_stale):
                self._stat(f)
            elif f.stats_out == 0:
                self._finish(f)
        else:
            self._ask(f)
        self._open_more()

    def _stat(self, f: _File) -> None:
        """FSTAT ``f`` through its handle, after every read asked so far (see the module docstring)."""
        assert f.handle is not None  # noqa: S101
        f.stat_sent, f.stat_stale = True, False
        f.stats_out += 1

        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            f.stats_out -= 1
            if kind == FXP_ATTRS:
                now = read_attrs(body, 0)[0]
                changes = (f.listed or SftpAttrs(f.size, None, None, None)).changes(now)
                if changes:
                    f.stat_problem = f"{CHANGED_SINCE_LISTING} ({', '.join(changes)})"
            else:
                why = self.channel.status(kind, body, "FSTAT")[1]
                f.stat_problem = f"cannot read: cannot check it after reading: {why}"
            self._settle(f)

        self.channel.request(FXP_FSTAT, pack_string(f.handle), got, "FSTAT of", f.path)

    def _past_limit(self, f: _File) -> str:
        if f.size is not None:
            return f"{CHANGED} (more than the {f.size} bytes listed)"
        return f"cannot read: longer than the {self.max_size}-byte limit"

    def _hash(self, f: _File, data: Sequence[memoryview] | Sequence[bytes], n: int) -> None:
        for v in data:
            f.digest.update(v)
        f.hashed += n
        if self.on_bytes is not None:
            self.on_bytes(n)

    def _hash_parked(self, f: _File) -> None:
        while (piece := f.parked.pop(f.hashed, None)) is not None:
            self.parked_bytes -= len(piece) + _PARKED_COST
            self._hash(f, (piece,), len(piece))

    def _fail(self, f: _File, error: str) -> None:
        """Record ``f``'s first error and let go of what it holds; its reads in flight are still awaited."""
        if f.error is None:
            f.error = error
        self._drop_parked(f)

    def _drop_parked(self, f: _File) -> None:
        self.parked_bytes -= sum(len(v) + _PARKED_COST for v in f.parked.values())
        f.parked.clear()

    def _finish(self, f: _File) -> None:
        if f.end is None and f.size is not None and f.hashed == f.size:
            f.end = f.size  # read to its listed size, which the FSTAT after it confirmed (or not)
        if f.error is None and f.failed is not None and (f.end is None or f.failed[0] < f.end):
            f.error = f"cannot read: {f.failed[1]}"
        if f.error is None and (f.parked or f.end != f.hashed):
            f.error = CHANGED
        if f.error is None and f.size is not None and f.end != f.size:
            f.error = f"{CHANGED} ({f.end} of the {f.size} bytes listed)"
        if f.error is None and f.stat_problem is not None:
            f.error = f.stat_problem
        self._drop_parked(f)
        f.done = True
        self.results[f.path] = f.error if f.error is not None else f.digest.hexdigest()
        if f.error is None:
            self.lengths[f.path] = f.hashed
        self.open.discard(id(f))
        assert f.handle is not None  # noqa: S101 (only open files finish)
        self.channel.request(FXP_CLOSE, pack_string(f.handle), ignore_reply, "CLOSE of", f.path)
