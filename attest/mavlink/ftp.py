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
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from attest.errors import CollectionError
from attest.mavlink.ftp_channel import FtpChannel
from attest.mavlink.ftp_errors import FtpNakError, FtpPathError
from attest.mavlink.ftp_proto import DATA_MAX, DirEntry, FtpOp, Nak, Opcode, parse_entry
from attest.mavlink.ftp_read import BURST_WINDOW, MAX_FILE_SIZE, Reader
from attest.mavlink.link import Link

__all__ = ["MAX_ENTRIES", "FtpClient"]

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

    def _call(self, opcode: int, what: str, *, session: int = 0, offset: int = 0, data: bytes = b"") -> FtpOp:
        """Send a new ``opcode`` request until answered; return its ACK (a NAK raises, see :meth:`FtpChannel.ack`)."""
        return self._channel.ack(self._channel.request(opcode, session=session, offset=offset, data=data), what)

    # -- operations ---------------------------------------------------------------

    def reset(self) -> None:
        """ResetSessions: close whatever a previous client left open."""
        self._call(Opcode.RESET_SESSIONS, "ResetSessions")

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
            FtpNakError: the open or a read was refused.
            FtpPathError: ``path`` is too long to be requested.
            SessionLostError: the controller forgot the session mid-read.
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
