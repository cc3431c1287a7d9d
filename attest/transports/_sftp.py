"""A pipelined SFTP v3 client: many requests in flight, names as bytes, every wait bounded.

:class:`SftpSession` lists trees (:meth:`~SftpSession.walk`), reads symlinks,
stats paths and hashes files (:meth:`~SftpSession.hash_files`, scheduled by
:mod:`attest.transports._sftpread`). It reads partitions and audit samples,
and is the exact fallback of the ``cat`` stream.

Hand-written rather than paramiko's ``SFTPClient``, which decodes file names
as UTF-8 (a non-UTF-8 name raises) and waits for each reply before sending the
next request, so reading many small files costs one round trip each. This
client keeps many requests in flight, across directories and across files.
"""

from __future__ import annotations

import contextlib
import stat
import struct
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import paramiko

from attest.errors import TransportError
from attest.transports._sftpread import FileReads
from attest.transports._sftpwire import (
    FX_EOF,
    FX_TEXT,
    FXP_ATTRS,
    FXP_CLOSE,
    FXP_DATA,
    FXP_EXTENDED,
    FXP_EXTENDED_REPLY,
    FXP_HANDLE,
    FXP_INIT,
    FXP_NAME,
    FXP_OPENDIR,
    FXP_READDIR,
    FXP_READLINK,
    FXP_STAT,
    FXP_STATUS,
    FXP_VERSION,
    Handler,
    SftpAttrs,
    SftpProtocolError,
    ignore_reply,
    pack_string,
    read_attrs,
    read_string,
    read_u32,
)
from attest.transports._ssherrors import LOST, printable, timed_out
from attest.transports._sshstream import ChannelReader

__all__ = ["SftpSession"]

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
    """

    def __init__(self, chan: paramiko.Channel, *, label: str, timeout: float) -> None:
        self._chan = chan
        self.label = label  # user@host:port, for messages
        self._timeout = timeout
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

        Raises:
            TransportError: the connection dropped or the device stopped answering.
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
        pending = self._pending.pop(rid, None)
        if pending is None:
            raise SftpProtocolError(f"{self.label}: SFTP reply to request {rid}, which was never sent")
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
        """List the tree below ``root`` without following symlinks, several directories at a time.

        Args:
            root: an absolute directory path.
            descend: called with a subdirectory's path relative to ``root``;
                it is listed only if this returns true.
            window: directories listed at once.

        Yields:
            ``(relative path, lstat attributes)`` for every entry, and
            ``(relative path of a directory, error message)`` for a directory
            that could not be (completely) listed (``b""`` is ``root``).
        """
        base = root.rstrip(b"/") + b"/" if root != b"/" else b"/"
        todo: deque[bytes] = deque([b""])
        active = 0
        out: deque[tuple[bytes, SftpAttrs | str]] = deque()

        def start(rel: bytes) -> None:
            nonlocal active
            active += 1
            path = base + rel if rel else root

            def opened(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                nonlocal active
                del data
                if kind == FXP_HANDLE:
                    handle, _ = read_string(body, 0)
                    self.request(FXP_READDIR, pack_string(handle), listing(handle), "READDIR of", path)
                    return
                active -= 1
                out.append((rel, f"cannot list directory: {self.status(kind, body, 'OPENDIR')[1]}"))

            def listing(handle: bytes) -> Handler:
                def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                    nonlocal active
                    del data
                    if kind == FXP_NAME:
                        count, pos = read_u32(body, 0)
                        for _ in range(count):
                            name, pos = read_string(body, pos)
                            _, pos = read_string(body, pos)  # the 'ls -l' line: not used, not trusted
                            attrs, pos = read_attrs(body, pos)
                            if name in (b".", b".."):
                                continue
                            if not name or b"/" in name:
                                raise SftpProtocolError(f"{self.label}: SFTP listing holds the name {name!r}")
                            child = rel + b"/" + name if rel else name
                            out.append((child, attrs))
                            if attrs.mode is not None and stat.S_ISDIR(attrs.mode) and descend(child):
                                todo.append(child)
                        self.request(FXP_READDIR, pack_string(handle), got, "READDIR of", path)
                        return
                    code, text = self.status(kind, body, "READDIR")
                    active -= 1
                    self.request(FXP_CLOSE, pack_string(handle), ignore_reply, "CLOSE of", path)
                    if code != FX_EOF:
                        out.append((rel, f"cannot list directory: {text}"))

                return got

            self.request(FXP_OPENDIR, pack_string(path), opened, "OPENDIR of", path)

        window = min(window, self.max_handles)
        while todo or active or out:
            while todo and active < window:
                start(todo.popleft())
            while out:
                yield out.popleft()
            if active:
                self.pump()
        self.drain()  # the last CLOSE replies

    def readlinks(self, paths: Sequence[bytes], *, window: int = 64) -> dict[bytes, bytes | str]:
        """The targets of many symlinks: path -> target bytes, or an error message."""
        result: dict[bytes, bytes | str] = {}
        queue = deque(paths)

        def handler(path: bytes) -> Handler:
            def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                del data
                if kind == FXP_NAME:
                    count, pos = read_u32(body, 0)
                    if count != 1:
                        raise SftpProtocolError(f"{self.label}: READLINK answered with {count} names")
                    result[path], _ = read_string(body, pos)
                else:
                    result[path] = f"cannot read link: {self.status(kind, body, 'READLINK')[1]}"

            return got

        while queue or self._pending:
            while queue and len(self._pending) < window:
                path = queue.popleft()
                self.request(FXP_READLINK, pack_string(path), handler(path), "READLINK of", path)
            self.pump()
        return result

    def hash_files(
        self,
        jobs: Sequence[tuple[bytes, int | None]],
        *,
        on_bytes: Callable[[int], None] | None = None,
        max_inflight_bytes: int = 8 * 1024 * 1024,
    ) -> dict[bytes, str]:
        """SHA-256 of many files, read whole by the dock, with requests pipelined across files.

        Args:
            jobs: ``(absolute path, expected size or None)``; the size only
                sizes the reads, a file is always read to its end.
            on_bytes: called with each chunk's length.
            max_inflight_bytes: read bytes asked for and not yet received.

        Returns:
            path -> ``sha256:HEX``-less lowercase hex digest, or an error
            message starting with ``cannot read:`` (every job has an entry).

        Raises:
            TransportError: the connection dropped or the device stopped answering.
            SftpProtocolError: a reply is malformed.
        """
        reads = FileReads(self, on_bytes, max_inflight_bytes)
        for path, size in jobs:
            reads.add(path, size)
        reads.run()
        return reads.results
