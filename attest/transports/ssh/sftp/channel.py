"""The SFTP v3 request/reply pump: requests pipelined on one channel, replies to their handlers, every wait bounded.

:class:`SftpChannel` negotiates version 3 and the server's limits, queues
requests (:meth:`~SftpChannel.request`), sends them in batches, and reads
replies one at a time (:meth:`~SftpChannel.pump`), handing each to the
handler of the request it answers. It knows nothing of files or directories:
the tree walk (:mod:`attest.transports.ssh.sftp.walk`) and the file reads
(:mod:`attest.transports.ssh.sftp.read`) are its clients, and
:class:`~attest.transports.ssh.sftp.session.SftpSession` puts them together.

Nothing a server sends can make the dock wait or grow without bound here:
every wait for a reply is bounded by the timeout, and so is the wait for a
request the server skips over while it answers later ones; a reply is at
most :data:`_MAX_PACKET` bytes, and what the server announces of its limits
(read length, open handles) is clamped.

Hand-written rather than paramiko's ``SFTPClient``, which waits for each
reply before sending the next request, so reading many small files costs one
round trip each. This keeps many requests in flight.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paramiko

from attest.errors import TransportError
from attest.transports.ssh.errors import LOST, printable, timed_out
from attest.transports.ssh.sftp.wire import (
    FX_TEXT,
    FXP_DATA,
    FXP_EXTENDED,
    FXP_EXTENDED_REPLY,
    FXP_INIT,
    FXP_STATUS,
    FXP_VERSION,
    Handler,
    SftpProtocolError,
    pack_string,
    read_string,
    read_u32,
)
from attest.transports.ssh.stream import ChannelReader

__all__ = ["SftpChannel"]

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
#: Most handles held open at once, however many the server allows: enough for a
#: walk and the file reads beside it to keep 64 each in flight.
_MAX_HANDLES = 128


@dataclass
class _Pending:
    handler: Handler
    op: str
    path: bytes


class SftpChannel:
    """One SFTP v3 subsystem channel: pipelined requests, replies dispatched to their handlers.

    Requests are queued with :meth:`request` and answered through their
    handler while :meth:`pump` reads replies. Every wait on the device is
    bounded by ``timeout``; a dropped connection or a timeout raises
    :class:`~attest.errors.TransportError` and a reply that is not SFTP raises
    :class:`~attest.transports.ssh.sftp.wire.SftpProtocolError`.

    Args:
        chan: the channel the ``sftp`` subsystem runs on.
        label: ``user@host:port``, for messages.
        timeout: seconds any one wait on the device may last.
        clock: seconds, monotonic; times requests the server skips over.

    Attributes:
        label: ``user@host:port``, for messages.
        max_read: the read length to ask for (the server's limit, clamped).
        max_handles: the most files and directories to hold open at once (64 unless
            the server announces its limit; at most :data:`_MAX_HANDLES`).
    """

    def __init__(
        self,
        chan: paramiko.Channel,
        *,
        label: str,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chan = chan
        self.label = label
        self._timeout = timeout
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
                    self.max_handles = max(1, min(int(max_handles) - 4, _MAX_HANDLES))

        self.request(FXP_EXTENDED, pack_string(b"limits@openssh.com"), got, "limits", b"")
        self.drain()

    def request(self, kind: int, payload: bytes, handler: Handler, op: str, path: bytes) -> None:
        """Queue one request; ``handler`` gets its reply during :meth:`pump`.

        Args:
            kind: the request type (``FXP_...``).
            payload: the request after its id.
            handler: called with the reply.
            op: what the request is (``"READ of"``), for messages.
            path: what it is about, for messages.
        """
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
