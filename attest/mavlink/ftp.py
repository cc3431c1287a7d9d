"""The dock's MAVLink FTP client: list, read (burst), CalcFileCRC32.

Hand-written (pymavlink's MAVFTP writes to temporary files, runs on its own
idle loop and logs rather than raises) so that every wait is bounded by the
link timeout, every failure is an exception naming the file, and a read
either returns every byte of the file or raises.

Each request is re-sent with the same sequence number until it is answered,
and a reply is matched by request opcode and sequence, so a stale reply
cannot answer a later request. A file read's bursts, gap reads and bounds
are :mod:`attest.mavlink.ftp_read`'s; the errors are in
:mod:`attest.mavlink.ftp_errors`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from attest.errors import CollectionError
from attest.mavlink.frames import Frame
from attest.mavlink.ftp_errors import FtpNakError, FtpPathError, SessionLostError, nak_name
from attest.mavlink.ftp_proto import DATA_MAX, MSG_ID, DirEntry, FtpOp, Nak, Opcode, parse_entry, unpack_ftp
from attest.mavlink.ftp_read import BLOCK, BURST_WINDOW, MAX_FILE_SIZE, Reader
from attest.mavlink.link import DOCK_SYSTEM, Link

__all__ = ["BLOCK", "DirEntry", "FtpClient", "FtpNakError", "FtpPathError", "SessionLostError"]

#: The most directory entries (skip entries included) accepted from one listing.
MAX_ENTRIES = 10_000


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
    """MAVLink FTP requests over a :class:`~attest.mavlink.link.Link` whose autopilot is known."""

    def __init__(self, link: Link, *, retry: float | None = None) -> None:
        """Talk FTP over ``link``.

        Args:
            link: a link locked onto the autopilot.
            retry: seconds without a reply before a request is sent again
                (default: a fifth of the link timeout, between 0.2 and 1 s).
        """
        self._link = link
        self._seq = 0
        self._retry = retry if retry is not None else min(1.0, max(0.2, link.timeout / 5))
        #: Smoothed round-trip time of read requests, for quick re-requests of lost packets.
        self._srtt = 0.1
        #: Directory entries (skip entries included) received by :meth:`list_dir` so far.
        self.listed = 0

    @property
    def _read_retry(self) -> float:
        """Silence after which a read (or the rest of a burst) is presumed lost: a few round trips."""
        return min(self._retry, max(0.05, 4 * self._srtt + 0.02))

    def _sample_rtt(self, seconds: float) -> None:
        self._srtt += (seconds - self._srtt) / 8

    # -- one request, one reply ------------------------------------------------

    @staticmethod
    def _parse(frame: Frame) -> FtpOp | None:
        """The FTP reply ``frame`` carries to the dock, if it is one."""
        if frame.msgid != MSG_ID:
            return None
        tsys, _tcomp, op = unpack_ftp(frame.payload)
        if tsys != DOCK_SYSTEM or op.opcode not in (Opcode.ACK, Opcode.NAK):
            return None
        return op

    def _accept(self, op: FtpOp, req: FtpOp, window: int = 1) -> bool:
        """Whether ``op`` answers ``req`` (within ``window`` sequence numbers); advances our sequence past it."""
        if op.req_opcode != req.opcode or not 1 <= (op.seq - req.seq) & 0xFFFF <= window:
            return False  # another request's reply, or a stale one
        if (op.seq + 1 - self._seq) & 0xFFFF < 0x8000:
            # Keep later requests beyond every reply seen, so their windows
            # never cover a reply to this one (bursts advance seq per packet).
            self._seq = (op.seq + 1) & 0xFFFF
        return True

    def _reply_to(self, frame: Frame, req: FtpOp) -> FtpOp | None:
        op = self._parse(frame)
        return op if op is not None and self._accept(op, req) else None

    def _new(self, opcode: int, *, session: int = 0, offset: int = 0, data: bytes = b"", size: int = -1) -> FtpOp:
        op = FtpOp(self._seq, session, opcode, offset=offset, data=data, size=size)
        self._seq = (self._seq + 1) & 0xFFFF
        return op

    def _transact(self, op: FtpOp, what: str, *, every: float | None = None) -> FtpOp:
        """Send ``op`` (again, same seq, until answered); return the ACK/NAK reply."""
        sends: list[float] = []

        def send() -> None:
            sends.append(time.monotonic())
            self._link.send_ftp(op)

        reply = self._link.wait(
            lambda f: self._reply_to(f, op),
            what=f"FTP reply to {what}",
            resend=send,
            every=self._retry if every is None else every,
        )
        if len(sends) == 1:
            self._sample_rtt(time.monotonic() - sends[0])
        return reply

    def _ack(self, op: FtpOp, what: str, *, every: float | None = None) -> FtpOp:
        reply = self._transact(op, what, every=every)
        code = reply.nak_code()
        if code is None:
            return reply
        if code in (Nak.INVALID_SESSION, Nak.NO_SESSIONS_AVAILABLE):
            raise SessionLostError(f"{what}: controller lost the FTP session ({nak_name(code)}); did it reboot?")
        detail = f" (errno {reply.data[1]})" if code == Nak.FAIL_ERRNO and len(reply.data) > 1 else ""
        raise FtpNakError(f"{what}: controller answered NAK {nak_name(code)}{detail}", code)

    # -- operations ---------------------------------------------------------------

    def reset(self) -> None:
        """ResetSessions: close whatever a previous client left open."""
        self._ack(self._new(Opcode.RESET_SESSIONS), "ResetSessions")

    def list_dir(self, path: str) -> list[DirEntry]:
        """Every entry of directory ``path`` (without ``.`` and ``..``).

        Raises:
            FtpNakError: the directory does not exist (code FILE_NOT_FOUND) or cannot be listed.
            FtpPathError: ``path`` is too long to be requested.
            CollectionError: a malformed entry or too many entries.
        """
        out: list[DirEntry] = []
        index = 0
        data = _path_data(path, f"ListDirectory {path!r}")
        while True:
            what = f"ListDirectory {path!r} from entry {index}"
            try:
                reply = self._ack(self._new(Opcode.LIST_DIRECTORY, offset=index, data=data), what)
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
            reply = self._ack(self._new(Opcode.CALC_FILE_CRC32, data=_path_data(path, what)), what)
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
            FtpNakError: the open or a read was refused.
            FtpPathError: ``path`` is too long to be requested.
            SessionLostError: the controller forgot the session mid-read.
            CollectionError: inconsistent or oversized data, or a length other than reported.
            TransportError: the controller stopped answering, or served slower than :data:`RATE_FLOOR`.
        """
        what = f"OpenFileRO {path!r}"
        opened = self._ack(self._new(Opcode.OPEN_FILE_RO, data=_path_data(path, what)), what)
        size = struct.unpack("<I", opened.data[:4])[0] if len(opened.data) >= 4 else None
        # A file that must have its stated length cannot grow past it: stop as soon as it does.
        limit = min(size, MAX_FILE_SIZE) if exact_size and size is not None else MAX_FILE_SIZE
        try:
            data = Reader(self, path, opened.session, on_bytes, limit=limit).run()
        except FtpNakError:
            # Close the refused read so the next file can be opened (one session for all).
            self._ack(self._new(Opcode.TERMINATE_SESSION, session=opened.session), f"TerminateSession {path!r}")
            raise
        # Only a complete read gets here; terminating is courtesy, but bounded.
        self._ack(self._new(Opcode.TERMINATE_SESSION, session=opened.session), f"TerminateSession {path!r}")
        self._seq = (self._seq + BURST_WINDOW) & 0xFFFF  # stale burst replies fall outside every later window
        if exact_size and size is not None and len(data) != size:
            raise CollectionError(f"{path!r}: controller said {size} bytes, served {len(data)}")
        return data
