"""The dock's MAVLink FTP client: list, read (burst), CalcFileCRC32.

Hand-written (pymavlink's MAVFTP writes to temporary files, runs on its own
idle loop and logs rather than raises) so that every wait is bounded by the
link timeout, every failure is an exception naming the file, and a read
either returns every byte of the file or raises.

Reads (reference §6.3): OpenFileRO, then BurstReadFile requests of
:data:`BLOCK`-byte packets; packets lost inside a burst are fetched with
ReadFile; a short packet or a NAK EOF marks the end. Replies are matched by
session, request opcode and a sequence window, so a stale reply to an
earlier request cannot be taken for data of this one.

A hostile controller must not be able to keep a read open: only new data
(or the file's end) earns more waiting time, never a repeated packet, and
each whole read must average :data:`RATE_FLOOR` bytes per second after the
first link timeout (:class:`~attest.mavlink.link.Budget`).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from attest.errors import CollectionError, TransportError
from attest.mavlink.frames import Frame
from attest.mavlink.ftp_proto import DATA_MAX, MSG_ID, DirEntry, FtpOp, Nak, Opcode, parse_entry, unpack_ftp
from attest.mavlink.link import DOCK_SYSTEM, Budget, Link

__all__ = ["BLOCK", "DirEntry", "FtpClient", "FtpNakError", "FtpPathError", "SessionLostError"]

#: Bytes requested per packet (the most one FTP packet carries).
BLOCK = DATA_MAX
#: Burst replies carry advancing sequence numbers: up to 500 (ArduPilot) or
#: 2000 (newer servers) after the request.
_BURST_WINDOW = 2100
#: Earlier bursts of the same read whose late packets are still taken.
_BURSTS_MATCHED = 8
#: The largest file read (a 2 MiB flash.bin plus external flash fits easily).
MAX_FILE_SIZE = 64 << 20
#: The most directory entries (skip entries included) accepted from one listing.
MAX_ENTRIES = 10_000
#: The slowest average rate, in bytes per second, a read may keep after its first
#: link timeout (a 57,600-baud radio carries about 5 KiB/s).
RATE_FLOOR = 1024


class FtpNakError(CollectionError):
    """The controller answered an FTP request with a NAK."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        #: The NAK error code (:class:`~attest.mavlink.ftp_proto.Nak`).
        self.code = code


class SessionLostError(CollectionError):
    """The controller forgot the open file mid-read (it rebooted, or another client reset FTP)."""


class FtpPathError(CollectionError):
    """A path too long for one FTP request: the dock cannot ask for it (the name came from the controller)."""


def _path_data(path: str, what: str) -> bytes:
    """``path`` as request data.

    Raises:
        FtpPathError: longer than one FTP packet carries (a controller can list such a name).
    """
    data = path.encode()
    if len(data) > DATA_MAX:
        raise FtpPathError(f"{what}: the path is {len(data)} bytes, more than one FTP request carries ({DATA_MAX})")
    return data


def _nak_name(code: int) -> str:
    try:
        return Nak(code).name
    except ValueError:
        return f"code {code}"


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
            raise SessionLostError(f"{what}: controller lost the FTP session ({_nak_name(code)}); did it reboot?")
        detail = f" (errno {reply.data[1]})" if code == Nak.FAIL_ERRNO and len(reply.data) > 1 else ""
        raise FtpNakError(f"{what}: controller answered NAK {_nak_name(code)}{detail}", code)

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
            data = _Reader(self, path, opened.session, on_bytes, limit=limit).run()
        except FtpNakError:
            # Close the refused read so the next file can be opened (one session for all).
            self._ack(self._new(Opcode.TERMINATE_SESSION, session=opened.session), f"TerminateSession {path!r}")
            raise
        # Only a complete read gets here; terminating is courtesy, but bounded.
        self._ack(self._new(Opcode.TERMINATE_SESSION, session=opened.session), f"TerminateSession {path!r}")
        self._seq = (self._seq + _BURST_WINDOW) & 0xFFFF  # stale burst replies fall outside every later window
        if exact_size and size is not None and len(data) != size:
            raise CollectionError(f"{path!r}: controller said {size} bytes, served {len(data)}")
        return data


class _Reader:
    """One file read: bursts, gap reads, end-of-file detection.

    Every data reply to any request of this read (a burst still streaming
    while a gap is re-read, a late answer to a re-sent ReadFile) is stored
    when it arrives: the data is for this session's file, at the offset it
    names, and is checked against anything already stored there.
    """

    def __init__(
        self, ftp: FtpClient, path: str, session: int, on_bytes: Callable[[int], None] | None, *, limit: int
    ) -> None:
        self.ftp, self.path, self.session, self.on_bytes, self.limit = ftp, path, session, on_bytes, limit
        self.blocks: dict[int, bytes] = {}  # block index -> data (BLOCK bytes, shorter only at the end)
        self.eof: int | None = None  # file length, once known
        self.burst_ok = True
        self.requests: dict[int, FtpOp] = {}  # seq -> ReadFile request of this read
        self.bursts: list[FtpOp] = []  # BurstReadFile requests of this read, oldest first
        link = ftp._link
        # budget.done counts the bytes stored (plus one per block, so an empty last block counts):
        # it grows only with new data, never with a repeat.
        self.budget = Budget(
            link.timeout, RATE_FLOOR, what=f"FTP read of {path!r}", unit="bytes", target=link.transport.target
        )
        self.progress = 0  # new blocks stored plus the file's end learned: what earns more waiting time
        self.last_progress = time.monotonic()  # when progress last grew

    def _progressed(self) -> None:
        self.progress += 1
        self.last_progress = time.monotonic()

    def _check(self, have: int) -> None:
        """Raise if nothing new arrived for the link timeout, or the read fell below its floor rate."""
        link = self.ftp._link
        if time.monotonic() - self.last_progress >= link.timeout:
            raise TransportError(
                f"{link.transport.target}: no FTP data for {self.path!r} at offset {have} within {link.timeout:g} s"
            )
        self.budget.check()

    def _send(self, opcode: int, offset: int) -> FtpOp:
        req = self.ftp._new(opcode, session=self.session, offset=offset, size=BLOCK)
        if opcode == Opcode.BURST_READ_FILE:
            self.bursts.append(req)
        else:
            self.requests[req.seq] = req
        self.ftp._link.send_ftp(req)
        return req

    def _match(self, frame: Frame) -> tuple[FtpOp, FtpOp] | None:
        """``(request, reply)`` if ``frame`` answers one of this read's requests."""
        op = self.ftp._parse(frame)
        if op is None or op.session != self.session:
            return None
        if op.req_opcode == Opcode.READ_FILE:
            req = self.requests.get((op.seq - 1) & 0xFFFF)
            return (req, op) if req is not None and self.ftp._accept(op, req) else None
        for req in reversed(self.bursts[-_BURSTS_MATCHED:]):  # newest first: windows overlap
            if self.ftp._accept(op, req, _BURST_WINDOW):
                return req, op
        return None

    def _store(self, op: FtpOp) -> None:
        if op.offset % BLOCK or len(op.data) > BLOCK or op.size != len(op.data):
            return  # not an answer to a request of ours: ignore, the gap is re-read
        index = op.offset // BLOCK
        if op.offset + len(op.data) > self.limit:
            if self.limit < MAX_FILE_SIZE:
                raise CollectionError(f"{self.path!r}: controller said {self.limit} bytes, served more")
            raise CollectionError(f"{self.path!r}: larger than {MAX_FILE_SIZE} bytes")
        old = self.blocks.get(index)
        if old is not None:
            if old != op.data:
                raise CollectionError(f"{self.path!r}: controller served different bytes at offset {op.offset}")
            return  # a repeat: no progress
        self.blocks[index] = op.data
        self.budget.done += len(op.data) + 1  # +1: an empty last block is progress too
        self._progressed()
        if self.on_bytes is not None:
            self.on_bytes(len(op.data))
        if len(op.data) < BLOCK:
            self._set_eof(op.offset + len(op.data))

    def _set_eof(self, end: int) -> None:
        if self.eof is not None and self.eof != end:
            raise CollectionError(f"{self.path!r}: controller reported two different file ends ({self.eof}, {end})")
        if self.eof is None:
            self.eof = end
            self._progressed()

    def _contiguous(self) -> int:
        i = 0
        while len(self.blocks.get(i, b"")) == BLOCK:
            i += 1
        return i * BLOCK + len(self.blocks.get(i, b""))

    def _handle(self, req: FtpOp, op: FtpOp) -> bool:
        """Store or act on a reply; returns whether it ends ``req`` (a NAK, a burst's last packet, a read's answer)."""
        code = op.nak_code()
        if code is None:
            if req.opcode == Opcode.READ_FILE and op.offset != req.offset:
                raise CollectionError(f"ReadFile {self.path!r} at {req.offset}: reply for offset {op.offset}")
            self._store(op)
            return req.opcode == Opcode.READ_FILE or bool(op.burst_complete)
        if code == Nak.EOF:
            self._set_eof(req.offset)
        elif code in (Nak.FAIL, Nak.UNKNOWN_COMMAND) and req.opcode == Opcode.BURST_READ_FILE and not self.blocks:
            self.burst_ok = False  # a server without burst reads: use ReadFile
        elif code in (Nak.INVALID_SESSION, Nak.NO_SESSIONS_AVAILABLE):
            raise SessionLostError(f"reading {self.path!r}: controller lost the FTP session; did it reboot?")
        else:
            name = "BurstReadFile" if req.opcode == Opcode.BURST_READ_FILE else "ReadFile"
            raise FtpNakError(f"{name} {self.path!r} at {req.offset}: NAK {_nak_name(code)}", code)
        return True

    def _await(self, req: FtpOp, first_wait: float) -> bool:
        """Take replies until ``req`` ends or a pause; returns whether ``req`` ended.

        Only new data (or the file's end) extends the pause: a controller
        repeating a packet the dock already has gains no time. Nor does
        anything extend it past the read's budget.
        """
        ftp = self.ftp
        start = time.monotonic()
        deadline = min(start + first_wait, self.budget.deadline)
        answered = False
        while (frame := ftp._link.recv(deadline)) is not None:
            matched = self._match(frame)
            if matched is None:
                continue
            of, op = matched
            if of is req and not answered:
                ftp._sample_rtt(time.monotonic() - start)
                answered = True
            before = self.progress
            if self._handle(of, op) and of is req:
                return True
            if self.progress != before:
                deadline = min(time.monotonic() + ftp._read_retry, self.budget.deadline)
        return False

    def _read_block(self, index: int) -> None:
        """ReadFile one block (again, same seq, until answered or the link timeout)."""
        ftp = self.ftp
        req = self._send(Opcode.READ_FILE, index * BLOCK)
        end = time.monotonic() + ftp._link.timeout
        while not self._await(req, ftp._read_retry):
            if index in self.blocks or (self.eof is not None and index * BLOCK >= self.eof):
                return  # a late burst packet already filled it
            self.budget.check()
            if time.monotonic() >= end:
                raise TransportError(
                    f"{ftp._link.transport.target}: no FTP reply to ReadFile {self.path!r} at offset "
                    f"{index * BLOCK} within {ftp._link.timeout:g} s"
                )
            ftp._link.send_ftp(req)

    def run(self) -> bytes:
        ftp = self.ftp
        while True:
            have = self._contiguous()
            if self.eof is not None and have >= self.eof:
                break
            self._check(have)
            top = max(self.blocks, default=-1)
            if top * BLOCK > have:  # packets lost inside a burst: fetch just those
                for index in range(have // BLOCK, top):
                    if len(self.blocks.get(index, b"")) != BLOCK:
                        self._check(index * BLOCK)  # every gap re-read counts against the same bounds
                        self._read_block(index)
                continue
            if self.burst_ok:
                # The first reply may take a while (the file is opened, seeked): wait the full retry.
                self._await(self._send(Opcode.BURST_READ_FILE, have), ftp._retry)
            else:
                self._read_block(have // BLOCK)
        end = self.eof if self.eof is not None else 0
        if any(i * BLOCK >= end for i in self.blocks if self.blocks[i]):
            raise CollectionError(f"{self.path!r}: controller served data past the end of the file")
        return b"".join(self.blocks[i] for i in range((end + BLOCK - 1) // BLOCK))
