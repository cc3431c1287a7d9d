"""The dock's MAVLink FTP client: list, read (burst), CalcFileCRC32.

Hand-written (pymavlink's MAVFTP writes to temporary files, runs on its own
idle loop and logs rather than raises) so that every wait is bounded by the
link timeout, every failure is an exception naming the file, and a read
either returns every byte of the file or raises.

:class:`FtpClient` is the facade the collector uses. Its requests go through
one :class:`~attest.mavlink.ftp_channel.FtpChannel` (sequence numbers,
re-sends, reply matching); a file read's bursts, gap reads and bounds are
:mod:`attest.mavlink.ftp_read`'s; the errors are in
:mod:`attest.mavlink.ftp_errors`.

**A stale session of another client.** ArduPilot has one file slot for all
clients (``libraries/GCS_MAVLink/GCS_FTP.cpp``, ``GCS_MAVLINK::ftp_worker``):
while a file is open, a request from another session is refused with NAK
INVALID_SESSION unless no FTP reply was sent for ``FTP_SESSION_TIMEOUT``
(3 s), and *every* reply, a refusal included, restarts that timer.
ResetSessions from another session is acknowledged without closing anything.
So a ground station that opened a file and went away locks out a client that
keeps asking. When a request outside an open file is refused so, the client
falls quiet (no FTP request) until the controller has sent no FTP reply for
:data:`QUIET` seconds, then sends the request once more (not a reset, which
would restart the timer); the controller then closes the stale file and
serves it. This happens at most once per client (bounded: :data:`QUIET`
plus one link timeout); a second refusal is an :class:`FtpBusyError`.

A read that loses its open file (:class:`SessionLostError`) says whether the
controller rebooted only with evidence: SYSTEM_TIME's uptime shorter than
the time the link has been open.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from attest.errors import CollectionError
from attest.mavlink.ftp_channel import FtpChannel
from attest.mavlink.ftp_errors import FtpBusyError, FtpNakError, FtpPathError, SessionLostError
from attest.mavlink.ftp_proto import DATA_MAX, MSG_ID, DirEntry, FtpOp, Nak, Opcode, parse_entry
from attest.mavlink.ftp_read import BURST_WINDOW, MAX_FILE_SIZE, Reader
from attest.mavlink.link import Link

__all__ = ["MAX_ENTRIES", "QUIET", "SESSION_TIMEOUT", "FtpClient"]

#: The most directory entries (skip entries included) accepted from one listing.
MAX_ENTRIES = 10_000
#: ArduPilot's ``FTP_SESSION_TIMEOUT``: after this long without an FTP reply another session may take the slot.
SESSION_TIMEOUT = 3.0
#: Seconds without any FTP reply the client waits before taking a stale slot over (the timeout plus a margin).
QUIET = SESSION_TIMEOUT + 0.5
#: The longest uptime query when a read lost its file (is it evidence of a reboot?).
_UPTIME_WAIT = 2.0


def _path_data(path: str, what: str) -> bytes:
    """``path`` as request data.

    Raises:
        FtpPathError: longer than one FTP packet carries (a controller can list such a name).
    """
    data = path.encode()
    if len(data) > DATA_MAX:
        raise FtpPathError(f"{what}: the path is {len(data)} bytes, more than one FTP request carries ({DATA_MAX})")
    return data


class FtpClient:
    """MAVLink FTP operations on the autopilot a :class:`~attest.mavlink.link.Link` is locked onto."""

    def __init__(self, link: Link, *, retry: float | None = None) -> None:
        """Talk FTP over ``link``.

        Args:
            link: a link locked onto the autopilot.
            retry: seconds without a reply before a request is sent again
                (default: a fifth of the link timeout, between 0.2 and 1 s).
        """
        self._channel = FtpChannel(link, retry=retry)
        #: Directory entries (skip entries included) received by :meth:`list_dir` so far.
        self.listed = 0
        #: What happened to a stale session of another client, once one was met (for the result's notes).
        self.takeover: str | None = None
        self._quiet_tried = False

    def _call(self, opcode: int, what: str, *, session: int = 0, offset: int = 0, data: bytes = b"") -> FtpOp:
        """Send a new ``opcode`` request until answered; return its ACK (a NAK raises, see :meth:`FtpChannel.ack`).

        A refusal because another client holds the session is met once per
        client by falling quiet and asking again (see the module docstring).

        Raises:
            FtpBusyError: refused as busy, again after falling quiet (or quiet was tried before).
        """

        def send() -> FtpOp:  # a new request each time: a repeated sequence number gets the cached refusal
            return self._channel.ack(self._channel.request(opcode, session=session, offset=offset, data=data), what)

        try:
            return send()
        except FtpBusyError:
            if self._quiet_tried:
                raise
            self._quiet_tried = True
        waited = self._fall_quiet()
        try:
            reply = send()
        except FtpBusyError as e:
            self.takeover = f"held by another client; still refused after {waited:.1f} s without FTP traffic"
            raise FtpBusyError(
                f"{e}, still after {waited:.1f} s without FTP traffic (is a ground station transferring files?)",
                e.code,
            ) from None
        self.takeover = f"a stale session of another client, taken over after {waited:.1f} s without FTP traffic"
        return reply

    def _fall_quiet(self) -> float:
        """Send nothing until the controller sent no FTP reply for :data:`QUIET` s; return the seconds waited.

        Any FTP reply (to anyone: each restarts the controller's timer) restarts
        the wait, for at most one link timeout beyond :data:`QUIET` in all.
        """
        link = self._channel.link
        start = time.monotonic()
        limit = start + QUIET + link.timeout
        end = start + QUIET
        while (frame := link.recv(end)) is not None:
            if frame.msgid == MSG_ID:
                end = min(time.monotonic() + QUIET, limit)
        return time.monotonic() - start

    def _reboot_evidence(self) -> str:
        """Whether the controller rebooted while the link was open, as far as its uptime says."""
        link = self._channel.link
        up = link.uptime(timeout=min(link.timeout, _UPTIME_WAIT))
        since = time.monotonic() - link.opened
        if up is None:
            return "; it does not report its uptime, so whether it rebooted is not known"
        if up < since:
            return (
                f"; it reports {up:.2f} s since boot, less than the {since:.2f} s this attestation has talked to it: "
                "it rebooted, and could have come back as anything"
            )
        return f"; not a reboot (up {up:.1f} s, longer than this attestation): another client may have closed the file"

    # -- operations ---------------------------------------------------------------

    def reset(self) -> bool:
        """ResetSessions: close whatever a previous client left open.

        Returns:
            ``False`` when refused because another client holds the session
            (the next request meets that, see :meth:`_call`); else ``True``.
            ArduPilot acknowledges a reset from another session without
            closing anything, so ``True`` does not mean the slot is free.
        """
        try:
            self._channel.ack(self._channel.request(Opcode.RESET_SESSIONS), "ResetSessions")
        except FtpBusyError:
            return False
        return True

    def list_dir(self, path: str) -> list[DirEntry]:
        """Every entry of directory ``path`` (without ``.`` and ``..``).

        Raises:
            FtpNakError: the directory does not exist (code FILE_NOT_FOUND) or cannot be listed
                (:class:`FtpBusyError`: another client holds the session).
            FtpPathError: ``path`` is too long to be requested.
            CollectionError: a malformed entry or too many entries.
        """
        out: list[DirEntry] = []
        index = 0
        data = _path_data(path, f"ListDirectory {path!r}")
        while True:
            what = f"ListDirectory {path!r} from entry {index}"
            try:
                reply = self._call(Opcode.LIST_DIRECTORY, what, offset=index, data=data)
            except FtpNakError as e:
                if e.code == Nak.EOF:
                    return out
                raise
            entries = [e for e in reply.data.split(b"\0") if e]
            if not entries:
                raise CollectionError(f"{what}: empty ACK (expected entries or NAK EOF)")
            self.listed += len(entries)
            for raw in entries:
                index += 1
                try:
                    entry = parse_entry(raw)
                except ValueError as e:
                    raise CollectionError(f"ListDirectory {path!r}: {e}") from None
                if entry is not None:
                    out.append(entry)
            if index > MAX_ENTRIES:
                raise CollectionError(f"ListDirectory {path!r}: more than {MAX_ENTRIES} entries")

    def crc32(self, path: str) -> int | None:
        """The controller's CalcFileCRC32 of ``path``, or ``None`` if it does not support the operation.

        Raises:
            FtpNakError: any other NAK (e.g. FILE_NOT_FOUND).
            FtpPathError: ``path`` is too long to be requested.
        """
        what = f"CalcFileCRC32 {path!r}"
        try:
            reply = self._call(Opcode.CALC_FILE_CRC32, what, data=_path_data(path, what))
        except FtpNakError as e:
            if e.code in (Nak.FAIL, Nak.UNKNOWN_COMMAND):
                return None
            raise
        if len(reply.data) != 4:
            raise CollectionError(f"{what}: ACK with {len(reply.data)} data bytes, expected 4")
        return int(struct.unpack("<I", reply.data)[0])

    def read(self, path: str, *, on_bytes: Callable[[int], None] | None = None, exact_size: bool = True) -> bytes:
        """All bytes of ``path``.

        Args:
            path: the file.
            on_bytes: progress callback (bytes just received).
            exact_size: require the length OpenFileRO reported (off for
                virtual files such as ``@SYS/*``, whose stat size is a placeholder).

        Raises:
            FtpNakError: the open or a read was refused (:class:`FtpBusyError`:
                another client holds the session, also after falling quiet).
            FtpPathError: ``path`` is too long to be requested.
            SessionLostError: the controller dropped the open file mid-read; the
                message says whether it rebooted only where its uptime shows it.
            CollectionError: inconsistent or oversized data, or a length other than reported.
            TransportError: the controller stopped answering, or served slower than
                :data:`~attest.mavlink.ftp_read.RATE_FLOOR`.
        """
        what = f"OpenFileRO {path!r}"
        opened = self._call(Opcode.OPEN_FILE_RO, what, data=_path_data(path, what))
        size = struct.unpack("<I", opened.data[:4])[0] if len(opened.data) >= 4 else None
        # A file that must have its stated length cannot grow past it: stop as soon as it does.
        limit = min(size, MAX_FILE_SIZE) if exact_size and size is not None else MAX_FILE_SIZE
        try:
            data = Reader(self._channel, path, opened.session, on_bytes, limit=limit).run()
        except SessionLostError as e:
            raise SessionLostError(f"{e}{self._reboot_evidence()}") from None
        except FtpNakError:
            # Close the refused read so the next file can be opened (one session for all).
            self._call(Opcode.TERMINATE_SESSION, f"TerminateSession {path!r}", session=opened.session)
            raise
        # Only a complete read gets here; terminating is courtesy, but bounded.
        self._call(Opcode.TERMINATE_SESSION, f"TerminateSession {path!r}", session=opened.session)
        self._channel.skip(BURST_WINDOW)  # stale burst replies fall outside every later window
        if exact_size and size is not None and len(data) != size:
            raise CollectionError(f"{path!r}: controller said {size} bytes, served {len(data)}")
        return data
