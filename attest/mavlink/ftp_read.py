"""One MAVLink FTP file read: bursts, gap reads, end-of-file detection, every wait bounded.

Reads (reference §6.3): OpenFileRO (by :meth:`FtpClient.read
<attest.mavlink.ftp.FtpClient.read>`), then BurstReadFile requests of
:data:`BLOCK`-byte packets; packets lost inside a burst are fetched with
ReadFile; a short packet or a NAK EOF marks the end. Replies are matched by
session, request opcode and a sequence window, so a stale reply to an
earlier request cannot be taken for data of this one.

A hostile controller must not be able to keep a read open: only new data
(or the file's end) earns more waiting time, never a repeated packet, and
each whole read must average :data:`RATE_FLOOR` bytes per second after the
first link timeout (:class:`~attest.mavlink.budget.Budget`).

Hand-written for the same reasons as :mod:`attest.mavlink.ftp`: a read
either returns every byte of the file or raises. The reader is a client of
:class:`~attest.mavlink.ftp_channel.FtpChannel`'s public interface (new
requests, reply matching, round-trip samples); the
:class:`~attest.mavlink.ftp.FtpClient` facade opens the file, runs a
:class:`Reader` and closes the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from attest.errors import CollectionError, TransportError
from attest.mavlink.frames import Frame
from attest.mavlink.ftp_channel import FtpChannel
from attest.mavlink.ftp_errors import FtpNakError, SessionLostError, nak_name
from attest.mavlink.ftp_proto import DATA_MAX, FtpOp, Nak, Opcode
from attest.transports import Budget

__all__ = ["BLOCK", "BURST_WINDOW", "MAX_FILE_SIZE", "RATE_FLOOR", "Reader"]

#: Bytes requested per packet (the most one FTP packet carries).
BLOCK = DATA_MAX
#: Burst replies carry advancing sequence numbers: up to 500 (ArduPilot) or
#: 2000 (newer servers) after the request.
BURST_WINDOW = 2100
#: Earlier bursts of the same read whose late packets are still taken.
_BURSTS_MATCHED = 8
#: The largest file read (a 2 MiB flash.bin plus external flash fits easily).
MAX_FILE_SIZE = 64 << 20
#: The slowest average rate, in bytes per second, a read may keep after its first
#: link timeout (a 57,600-baud radio carries about 5 KiB/s).
RATE_FLOOR = 1024


class Reader:
    """One file read: bursts, gap reads, end-of-file detection.

    Every data reply to any request of this read (a burst still streaming
    while a gap is re-read, a late answer to a re-sent ReadFile) is stored
    when it arrives: the data is for this session's file, at the offset it
    names, and is checked against anything already stored there.
    """

    def __init__(
        self, channel: FtpChannel, path: str, session: int, on_bytes: Callable[[int], None] | None, *, limit: int
    ) -> None:
        """Prepare to read ``path``, open as ``session`` (nothing is sent before :meth:`run`).

        Args:
            channel: the FTP channel the file was opened on.
            path: the file, for error messages.
            session: the session id OpenFileRO returned.
            on_bytes: progress callback (bytes just stored).
            limit: the most bytes the file may have (its stated length, or :data:`MAX_FILE_SIZE`).
        """
        self.channel, self.path, self.session, self.on_bytes, self.limit = channel, path, session, on_bytes, limit
        self.blocks: dict[int, bytes] = {}  # block index -> data (BLOCK bytes, shorter only at the end)
        self.eof: int | None = None  # file length, once known
        self.burst_ok = True
        self.requests: dict[int, FtpOp] = {}  # seq -> ReadFile request of this read
        self.bursts: list[FtpOp] = []  # BurstReadFile requests of this read, oldest first
        link = channel.link
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
        link = self.channel.link
        if time.monotonic() - self.last_progress >= link.timeout:
            raise TransportError(
                f"{link.transport.target}: no FTP data for {self.path!r} at offset {have} within {link.timeout:g} s"
            )
        self.budget.check()

    def _send(self, opcode: int, offset: int) -> FtpOp:
        req = self.channel.request(opcode, session=self.session, offset=offset, size=BLOCK)
        if opcode == Opcode.BURST_READ_FILE:
            self.bursts.append(req)
        else:
            self.requests[req.seq] = req
        self.channel.send(req)
        return req

    def _match(self, frame: Frame) -> tuple[FtpOp, FtpOp] | None:
        """``(request, reply)`` if ``frame`` answers one of this read's requests."""
        op = self.channel.parse(frame)
        if op is None or op.session != self.session:
            return None
        if op.req_opcode == Opcode.READ_FILE:
            req = self.requests.get((op.seq - 1) & 0xFFFF)
            return (req, op) if req is not None and self.channel.accept(op, req) else None
        for req in reversed(self.bursts[-_BURSTS_MATCHED:]):  # newest first: windows overlap
            if self.channel.accept(op, req, BURST_WINDOW):
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
        elif code in (Nak.INVALID_SESSION, Nak.NO_SESSIONS_AVAILABLE, Nak.FILE_NOT_FOUND):
            # The file was open: "not found" is ArduPilot's answer to a read once its slot was closed.
            raise SessionLostError(
                f"reading {self.path!r}: the controller dropped the open file mid-read (NAK {nak_name(code)})"
            )
        else:
            name = "BurstReadFile" if req.opcode == Opcode.BURST_READ_FILE else "ReadFile"
            raise FtpNakError(f"{name} {self.path!r} at {req.offset}: NAK {nak_name(code)}", code)
        return True

    def _await(self, req: FtpOp, first_wait: float) -> bool:
        """Take replies until ``req`` ends or a pause; returns whether ``req`` ended.

        Only new data (or the file's end) extends the pause: a controller
        repeating a packet the dock already has gains no time. Nor does
        anything extend it past the read's budget.
        """
        channel = self.channel
        start = time.monotonic()
        deadline = min(start + first_wait, self.budget.deadline)
        answered = False
        while (frame := channel.link.recv(deadline)) is not None:
            matched = self._match(frame)
            if matched is None:
                continue
            of, op = matched
            if of is req and not answered:
                channel.sample_rtt(time.monotonic() - start)
                answered = True
            before = self.progress
            if self._handle(of, op) and of is req:
                return True
            if self.progress != before:
                deadline = min(time.monotonic() + channel.read_retry, self.budget.deadline)
        return False

    def _read_block(self, index: int) -> None:
        """ReadFile one block (again, same seq, until answered or the link timeout)."""
        channel, link = self.channel, self.channel.link
        req = self._send(Opcode.READ_FILE, index * BLOCK)
        end = time.monotonic() + link.timeout
        while not self._await(req, channel.read_retry):
            if index in self.blocks or (self.eof is not None and index * BLOCK >= self.eof):
                return  # a late burst packet already filled it
            self.budget.check()
            if time.monotonic() >= end:
                raise TransportError(
                    f"{link.transport.target}: no FTP reply to ReadFile {self.path!r} at offset "
                    f"{index * BLOCK} within {link.timeout:g} s"
                )
            channel.send(req)

    def run(self) -> bytes:
        """Read the whole file (the session is open): every byte of it, or raise.

        Raises:
            FtpNakError: a read was refused.
            SessionLostError: the controller dropped the open file mid-read
                (NAK INVALID_SESSION, NO_SESSIONS_AVAILABLE or FILE_NOT_FOUND).
            CollectionError: inconsistent or oversized data.
            TransportError: the controller stopped answering, or served slower than :data:`RATE_FLOOR`.
        """
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
                self._await(self._send(Opcode.BURST_READ_FILE, have), self.channel.retry)
            else:
                self._read_block(have // BLOCK)
        end = self.eof if self.eof is not None else 0
        if any(i * BLOCK >= end for i in self.blocks if self.blocks[i]):
            raise CollectionError(f"{self.path!r}: controller served data past the end of the file")
        return b"".join(self.blocks[i] for i in range((end + BLOCK - 1) // BLOCK))
