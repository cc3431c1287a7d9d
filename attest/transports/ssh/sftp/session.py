"""A pipelined SFTP v3 client: many requests in flight, names as bytes, every wait bounded.

:class:`SftpSession` lists trees (:meth:`~SftpSession.walk`) and reads
symlinks (both in :mod:`attest.transports.ssh.sftp.walk`), stats paths and hashes
files (:meth:`~SftpSession.hash_files`, scheduled by
:mod:`attest.transports.ssh.sftp.read`). It reads partitions and audit samples,
and is the exact fallback of the ``cat`` stream.

Nothing a server sends can make the dock wait or grow without bound: every
wait for a reply is bounded by the timeout, and so is the wait for a request
the server skips over while it answers later ones (:meth:`SftpSession.pump`);
a listing stops at :class:`SftpLimits` (entries, depth, bytes of names, each
name and path as long as Linux allows; see :mod:`attest.transports.ssh.sftp.walk`),
and reads are bounded as described in :mod:`attest.transports.ssh.sftp.read`.

Hand-written rather than paramiko's ``SFTPClient``, which decodes file names
as UTF-8 (a non-UTF-8 name raises) and waits for each reply before sending the
next request, so reading many small files costs one round trip each. This
client keeps many requests in flight, across directories and across files.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import paramiko

from attest.errors import TransportError
from attest.transports.ssh.errors import LOST, printable, timed_out
from attest.transports.ssh.sftp import walk as _sftpwalk
from attest.transports.ssh.sftp.read import MAX_FILE_BYTES, FileReads
from attest.transports.ssh.sftp.walk import MAX_WALK_BYTES, MAX_WALK_DEPTH, MAX_WALK_ENTRIES
from attest.transports.ssh.sftp.wire import (
    FX_TEXT,
    FXP_ATTRS,
    FXP_DATA,
    FXP_EXTENDED,
    FXP_EXTENDED_REPLY,
    FXP_INIT,
    FXP_STAT,
    FXP_STATUS,
    FXP_VERSION,
    Handler,
    SftpAttrs,
    SftpProtocolError,
    pack_string,
    read_attrs,
    read_string,
    read_u32,
)
from attest.transports.ssh.stream import ChannelReader

__all__ = ["SftpLimits", "SftpSession"]

#: Largest SFTP packet accepted from the device (OpenSSH sends at most 256 KiB).
_MAX_PACKET = 4 * 1024 * 1024
#: Read length when the server does not announce its limit (the SFTP minimum).
_DEFAULT_READ = 32 * 1024
#: Largest read length asked for, even if the server allows more.
_MAX_READ = 256 * 1024
#: Queued request bytes sent at once. Requests are otherwise sent only when the
#: dock is about to wait for a reply: one SSH packet carries many requests.
_FLUSH_AT = 64 * 1024
#: Requests sent and unanswered below which queued requests are sent at once.
_LOW_WATER = 32


@dataclass(frozen=True)
class SftpLimits:
    """How much a device may make one SFTP session list and read; more is an error, never a pass.

    Attributes:
        max_file_bytes: the most bytes read from one file or partition; a
            file listed as larger is not read (``cannot read: ...``), and a
            partition still sending data there is an error too.
        max_entries: the most names one :meth:`SftpSession.walk` accepts.
        max_depth: the deepest level below the root a walk lists.
        max_walk_bytes: the most bytes of relative paths one walk accepts.
    """

    max_file_bytes: int = MAX_FILE_BYTES
    max_entries: int = MAX_WALK_ENTRIES
    max_depth: int = MAX_WALK_DEPTH
    max_walk_bytes: int = MAX_WALK_BYTES


@dataclass
class _Pending:
    handler: Handler
    op: str
    path: bytes


class SftpSession:
    """An SFTP v3 client that pipelines requests.

    Requests are queued with :meth:`request` and answered through their
    handler while :meth:`pump` reads replies; :meth:`walk` and
    :meth:`hash_files` keep many requests in flight. Every wait on the device
    is bounded by ``timeout``; a dropped connection or a timeout raises
    :class:`~attest.errors.TransportError` and a reply that is not SFTP raises
    :class:`SftpProtocolError`, so no operation ends early with a partial answer.
    ``limits`` bounds what one walk lists and one file read holds;
    ``clock`` (seconds, monotonic) times requests the server skips over.
    """

    def __init__(
        self,
        chan: paramiko.Channel,
        *,
        label: str,
        timeout: float,
        limits: SftpLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chan = chan
        self.label = label  # user@host:port, for messages
        self._timeout = timeout
        self.limits = limits if limits is not None else SftpLimits()
        self._clock = clock
        # The oldest request while the server answers later ones first, and since when.
        self._skipped: tuple[int, float] | None = None
        self._reader = ChannelReader(chan, self._timed_out, self.flush)
        self._out = bytearray()
        self._unsent = 0  # requests in _out
        self._pending: dict[int, _Pending] = {}
        self._next_id = 1
        self.max_read = _DEFAULT_READ
        self.max_handles = 64

    # -- plumbing --------------------------------------------------------------------------------------------

    def _awaited(self) -> str:
        if not self._pending:
            return "an SFTP reply"
        first = next(iter(self._pending.values()))
        return f"the SFTP reply to {first.op} {printable(first.path)!r}"

    def _timed_out(self, e: TimeoutError) -> TransportError:
        del e
        return timed_out(self.label, self._timeout, self._awaited())

    def _closed(self) -> TransportError:
        return TransportError(f"{self.label}: the connection closed while waiting for {self._awaited()}")

    def start(self) -> None:
        """Negotiate version 3 and read the server's limits.

        Raises:
            TransportError: no answer within the timeout.
            SftpProtocolError: the server does not speak SFTP v3.
        """
        self._out += struct.pack(">IBI", 5, FXP_INIT, 3)
        self.flush()
        head = self._reader.take(5)
        if head is None:
            raise TransportError(f"{self.label}: the SFTP subsystem closed before saying its version")
        length, kind = struct.unpack(">IB", head)
        if kind != FXP_VERSION or not 5 <= length <= 65536:
            raise SftpProtocolError(f"{self.label}: the SFTP subsystem did not answer with its version")
        body = self._reader.take(length - 1)
        if body is None:
            raise self._closed()
        version, pos = read_u32(body, 0)
        if version != 3:
            raise SftpProtocolError(f"{self.label}: SFTP version {version}, expected 3")
        extensions: dict[bytes, bytes] = {}
        while pos < len(body):
            name, pos = read_string(body, pos)
            extensions[name], pos = read_string(body, pos)
        if b"limits@openssh.com" in extensions:
            self._read_limits()

    def _read_limits(self) -> None:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind == FXP_EXTENDED_REPLY and len(body) >= 32:
                _, max_read, _, max_handles = struct.unpack(">QQQQ", body[:32])
                if max_read:
                    self.max_read = max(1024, min(int(max_read), _MAX_READ))
                if max_handles:
                    self.max_handles = max(1, min(int(max_handles) - 4, 64))

        self.request(FXP_EXTENDED, pack_string(b"limits@openssh.com"), got, "limits", b"")
        self.drain()

    def request(self, kind: int, payload: bytes, handler: Handler, op: str, path: bytes) -> None:
        """Queue one request; ``handler`` gets its reply during :meth:`pump`."""
        rid = self._next_id
        self._next_id = (rid + 1) & 0xFFFFFFFF
        self._out += struct.pack(">IBI", len(payload) + 5, kind, rid)
        self._out += payload
        self._pending[rid] = _Pending(handler, op, path)
        self._unsent += 1
        if len(self._out) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Send every queued request.

        Raises:
            TransportError: the device did not accept them within the timeout.
        """
        if not self._out:
            return
        data, self._out, self._unsent = bytes(self._out), bytearray(), 0
        try:
            self._chan.sendall(data)
        except TimeoutError as e:
            raise TransportError(
                f"{self.label}: timed out after {self._timeout:g} s sending SFTP requests (the device stopped reading)"
            ) from e
        except LOST as e:
            raise TransportError(
                f"{self.label}: the connection closed while sending SFTP requests ({str(e) or type(e).__name__})"
            ) from e

    @property
    def in_flight(self) -> int:
        """Requests sent or queued and not yet answered."""
        return len(self._pending)

    def pump(self) -> None:
        """Read one reply and run its handler; queued requests are sent before waiting for it.

        The server may answer out of order, but not skip a request for good:
        once a later request is answered before the oldest one, the oldest
        must be answered within the timeout (a server that keeps the link busy
        with other answers would otherwise never time out).

        Raises:
            TransportError: the connection dropped, the device stopped
                answering, or it left a request unanswered for the timeout
                while answering later ones.
            SftpProtocolError: the reply is malformed or answers no request.
        """
        if self._out and len(self._pending) - self._unsent < _LOW_WATER:
            self.flush()  # keep the device busy while the dock works through replies
        head = self._reader.take(9)
        if head is None:
            raise self._closed()
        length, kind, rid = struct.unpack(">IBI", head)
        if not 5 <= length <= _MAX_PACKET:
            raise SftpProtocolError(f"{self.label}: SFTP reply of {length} bytes")
        oldest = next(iter(self._pending), None)
        pending = self._pending.pop(rid, None)
        if pending is None:
            raise SftpProtocolError(f"{self.label}: SFTP reply to request {rid}, which was never sent")
        if rid == oldest:
            self._skipped = None
        elif oldest is not None:
            self._check_skipped(oldest)
        if kind == FXP_DATA:
            size = self._reader.take(4)
            if size is None:
                raise self._closed()
            (n,) = struct.unpack(">I", size)
            if n != length - 9:
                raise SftpProtocolError(f"{self.label}: SFTP DATA reply with a bad length")
            views = self._reader.views(n)
            if views is None:
                raise self._closed()
            pending.handler(kind, b"", views)
            return
        body = self._reader.take(length - 5)
        if body is None:
            raise self._closed()
        pending.handler(kind, body, ())

    def _check_skipped(self, oldest: int) -> None:
        """A later request was answered before ``oldest``: start its clock, or raise if it has run out."""
        now = self._clock()
        if self._skipped is None or self._skipped[0] != oldest:
            self._skipped = (oldest, now)
        elif now - self._skipped[1] > self._timeout:
            skipped = self._pending[oldest]
            raise TransportError(
                f"{self.label}: timed out after {self._timeout:g} s waiting for the SFTP reply to {skipped.op} "
                f"{printable(skipped.path)!r} (the device kept answering later requests instead)"
            )

    def drain(self) -> None:
        """Pump until every request is answered."""
        while self._pending:
            self.pump()

    def close(self) -> None:
        """Close the channel (a connection that is already gone is not an error here)."""
        with contextlib.suppress(*LOST):
            self._chan.close()

    def status(self, kind: int, body: bytes, op: str) -> tuple[int, str]:
        """Parse a STATUS reply into (code, message) or raise if ``kind`` is not STATUS.

        Raises:
            SftpProtocolError: the reply is of an unexpected type.
        """
        if kind != FXP_STATUS:
            raise SftpProtocolError(f"{self.label}: unexpected SFTP reply type {kind} to {op}")
        code, pos = read_u32(body, 0)
        text = FX_TEXT.get(code)
        if text is None:
            msg, _ = read_string(body, pos) if pos < len(body) else (b"", pos)
            text = printable(msg) or f"SFTP error {code}"
        return code, text

    # -- blocking conveniences ---------------------------------------------------------------------------------

    def stat(self, path: bytes) -> SftpAttrs | str:
        """``stat`` (following symlinks) of ``path``: its attributes, or an error message."""
        result: list[SftpAttrs | str] = []

        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind == FXP_ATTRS:
                result.append(read_attrs(body, 0)[0])
            else:
                result.append(self.status(kind, body, "STAT")[1])

        self.request(FXP_STAT, pack_string(path), got, "STAT of", path)
        self.drain()
        return result[0]

    # -- pipelined operations -------------------------------------------------------------------------------

    def walk(
        self, root: bytes, *, descend: Callable[[bytes], bool], window: int = 64
    ) -> Iterator[tuple[bytes, SftpAttrs | str]]:
        """List the tree below ``root`` without following symlinks, within :attr:`limits`.

        See :func:`attest.transports.ssh.sftp.walk.walk` for what it yields and raises.
        """
        return _sftpwalk.walk(self, root, descend=descend, window=window)

    def readlinks(self, paths: Sequence[bytes], *, window: int = 64) -> dict[bytes, bytes | str]:
        """The targets of many symlinks: path -> target bytes, or an error message."""
        return _sftpwalk.readlinks(self, paths, window=window)

    def hash_files(
        self,
        jobs: Sequence[tuple[bytes, int | None]],
        *,
        on_bytes: Callable[[int], None] | None = None,
        max_inflight_bytes: int = 8 * 1024 * 1024,
    ) -> dict[bytes, str]:
        """SHA-256 of many files, read whole by the dock, with requests pipelined across files.

        Args:
            jobs: ``(absolute path, listed size, or None for a partition)``;
                a file is read to its listed size and one read past it
                confirms its end (more or fewer bytes: ``cannot read: it
                changed while being read``), a partition to its end, at most
                ``limits.max_file_bytes``.
            on_bytes: called with each chunk's length.
            max_inflight_bytes: read bytes asked for and not yet received,
                plus bytes received out of order and not yet hashed.

        Returns:
            path -> ``sha256:HEX``-less lowercase hex digest, or an error
            message starting with ``cannot read:`` (every job has an entry).

        Raises:
            TransportError: the connection dropped or the device stopped answering.
            SftpProtocolError: a reply is malformed.
        """
        reads = FileReads(self, on_bytes, max_inflight_bytes, max_size=self.limits.max_file_bytes)
        for path, size in jobs:
            reads.add(path, size)
        reads.run()
        return reads.results
