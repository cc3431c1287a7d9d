"""The simulated controller's MAVLink FTP server, modelled on ArduPilot's GCS_FTP.cpp.

Sessions as ArduPilot 4.x has them (``libraries/GCS_MAVLink/GCS_FTP.cpp``,
``GCS_MAVLINK::ftp_worker``; ``FTP_SESSION_TIMEOUT 3000``): **one file slot
for every client**, owned by the session that opened it.

* TerminateSession or ResetSessions from a session other than the owner's is
  acknowledged and closes nothing;
* while a file is open, any other request from another session is refused
  with NAK INVALID_SESSION, unless no reply at all was sent for
  :data:`SESSION_TIMEOUT`: then the file is closed and the request served;
* OpenFileRO while a file is open fails (NAK Fail) unless the slot was idle
  that long;
* every reply sent, ACK or NAK, to anyone, restarts the idle timer;
* a read without an open file is NAK FileNotFound (``fd == -1``), as after a
  reboot.

``stale_session`` starts with the slot held by another ground station's
session (:data:`STALE_SESSION`) that went away after opening ``@PARAM/param.pck``:
a client that keeps asking is refused forever; one that sends nothing for the
timeout and then asks (not with a reset) takes the slot over.

Also: a repeated sequence number gets the cached reply; BurstReadFile streams
up to 500 packets with advancing sequence numbers, the last one flagged
``burst_complete``; ``@SYS/*`` files stat as 100000 bytes; unsupported
operations NAK with Fail.

Misbehaviour for tests: ``lie_crc`` (CalcFileCRC32 reports the CRC of a
clean copy, or a wrong one), ``naks`` (every request with that opcode refused
with that NAK code),
``reboot_at`` (forget the session once a read passes that offset) and
``dup_burst`` (every burst repeats its first packet forever).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from attest.firmware import raw_crc32
from attest.mavlink import FTP_DATA_MAX, FtpOp, Nak, Opcode

__all__ = ["SESSION_TIMEOUT", "STALE_SESSION", "FtpServer", "VirtualFile"]

_BURST_MAX = 500
_ERRNO_EIO = 5
#: ArduPilot's FTP_SESSION_TIMEOUT: idle seconds after which another session may take the file slot.
SESSION_TIMEOUT = 3.0
#: The session id of the ground station that went away holding the slot (``stale_session``).
STALE_SESSION = 1
#: ArduPilot's ``current_session`` after a close: no session owns the slot.
_NO_SESSION = -1


@dataclass(frozen=True)
class VirtualFile:
    """A file the server offers: its bytes (computed on open) and the clean copy a liar would report."""

    content: Callable[[], bytes]
    clean: Callable[[], bytes] | None = None
    stat_size: int | None = None  # what OpenFileRO reports, if not the real size


class FtpServer:
    """Answers FTP requests; :meth:`handle` yields the replies."""

    def __init__(
        self,
        files: Mapping[str, VirtualFile],
        *,
        lie_crc: bool = False,
        naks: Mapping[int, int] | None = None,
        reboot_at: int | None = None,
        on_reboot: Callable[[], None] | None = None,
        dup_burst: bool = False,
        stale_session: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = dict(files)
        self._dup_burst = dup_burst
        self._lie_crc = lie_crc
        self._naks = dict(naks or {})
        self._reboot_at = reboot_at
        self._on_reboot = on_reboot
        self._clock = clock
        self._open: tuple[str, bytes] | None = None
        #: The session owning the slot (ArduPilot's ``current_session``; 0 after boot).
        self._session = 0
        #: When a reply was last sent (ArduPilot's ``last_send_ms``).
        self._last_send = clock()
        self._last: tuple[int, list[FtpOp]] | None = None
        if stale_session:
            # Another ground station opened param.pck and went away: the slot stays its own.
            self._open = ("@PARAM/param.pck", self._files["@PARAM/param.pck"].content())
            self._session = STALE_SESSION

    def reset(self) -> None:
        """Forget everything, as a reboot does."""
        self._open = None
        self._session = 0
        self._last = None

    def _idle(self) -> bool:
        """Whether no reply was sent for :data:`SESSION_TIMEOUT` (another session may take the slot)."""
        return self._clock() - self._last_send >= SESSION_TIMEOUT

    def _close(self) -> None:
        self._open = None
        self._session = _NO_SESSION

    def _dirs(self) -> set[str]:
        out = {"", "/"}
        for path in self._files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                out.add("/".join(parts[:i]) or "/")
        return out

    def _listing(self, path: str) -> list[bytes]:
        base = path.rstrip("/") if path not in ("", "/") else ("/" if path == "/" else "")
        entries: dict[str, bytes] = {}
        for full in self._files:
            if base == "/":
                rel = full.removeprefix("/")
            elif base == "":
                rel = full
            elif full.startswith(base + "/"):
                rel = full[len(base) + 1 :]
            else:
                continue
            head, sep, _ = rel.partition("/")
            if not head:
                continue
            if sep:
                entries[head] = b"D" + head.encode()
            else:
                size = self._files[full].stat_size or len(self._files[full].content())
                entries[head] = b"F" + head.encode() + b"\t" + str(size).encode()
        return [entries[k] for k in sorted(entries)]

    def handle(self, req: FtpOp) -> Iterator[FtpOp]:
        """The replies to ``req`` (a burst yields many, lazily); each one sent restarts the idle timer."""
        for reply in self._replies(req):
            self._last_send = self._clock()
            yield reply

    def _replies(self, req: FtpOp) -> Iterator[FtpOp]:
        if req.opcode != Opcode.BURST_READ_FILE and self._last is not None and self._last[0] == req.seq:
            yield from self._last[1]  # a retransmitted request: the cached reply
            return
        refusal = self._session_check(req)
        if refusal is not None:
            self._last = (req.seq, [refusal])
            yield refusal
            return
        if req.opcode == Opcode.BURST_READ_FILE:
            self._last = None
            yield from self._burst(req)
            return
        replies = list(self._one(req))
        self._last = (req.seq, replies)
        yield from replies

    def _session_check(self, req: FtpOp) -> FtpOp | None:
        """ArduPilot's checks before any operation: a reply for a request from another session, or ``None``."""
        other = req.session != self._session
        if other and req.opcode in (Opcode.TERMINATE_SESSION, Opcode.RESET_SESSIONS):
            return self._ack(req)  # "terminating a different session, just ack": nothing is closed
        if self._open is not None and other:
            if not self._idle():
                return self._nak_op(req, Nak.INVALID_SESSION)  # the slot is another session's, and active
            self._close()  # idle for the timeout: the new session takes the slot over
        return None

    def _ack(self, req: FtpOp, data: bytes = b"", *, offset: int = 0, seq: int | None = None, burst: int = 0) -> FtpOp:
        s = req.seq + 1 if seq is None else seq
        return FtpOp(s & 0xFFFF, req.session, Opcode.ACK, req.opcode, burst, offset, data)

    def _nak_op(self, req: FtpOp, code: int, *, seq: int | None = None, burst: int = 0) -> FtpOp:
        s = req.seq + 1 if seq is None else seq
        data = bytes((code, _ERRNO_EIO)) if code == Nak.FAIL_ERRNO else bytes((code,))
        return FtpOp(s & 0xFFFF, req.session, Opcode.NAK, req.opcode, burst, req.offset, data)

    def _one(self, req: FtpOp) -> Iterator[FtpOp]:
        op = req.opcode
        path = req.data.split(b"\0", 1)[0].decode("utf-8", "replace")
        if op in self._naks and op not in (Opcode.READ_FILE, Opcode.BURST_READ_FILE):
            yield self._nak_op(req, self._naks[op])
        elif op in (Opcode.RESET_SESSIONS, Opcode.TERMINATE_SESSION):
            self._close()
            yield self._ack(req)
        elif op == Opcode.LIST_DIRECTORY:
            yield from self._list(req, path)
        elif op == Opcode.OPEN_FILE_RO:
            if self._open is not None and self._idle():
                self._close()  # "no activity for 3s, assume client has timed out"
            if self._open is not None:
                yield self._nak_op(req, Nak.FAIL)  # one file per session
                return
            vf = self._files.get(path.split("?", 1)[0])
            if vf is None:
                yield self._nak_op(req, Nak.FILE_NOT_FOUND)
                return
            content = vf.content()
            self._session = req.session
            self._open = (path, content)
            yield self._ack(req, struct.pack("<I", vf.stat_size or len(content)))
        elif op == Opcode.READ_FILE:
            reply = self._read(req, req.seq + 1, req.offset, last=True)
            if reply is not None:
                yield reply
        elif op == Opcode.CALC_FILE_CRC32:
            vf = self._files.get(path)
            if vf is None:
                yield self._nak_op(req, Nak.FILE_NOT_FOUND)
                return
            crc = raw_crc32(vf.content())
            if self._lie_crc:
                clean = raw_crc32(vf.clean()) if vf.clean is not None else crc
                crc = clean if clean != crc else crc ^ 0x5A5A5A5A
            yield self._ack(req, struct.pack("<I", crc))
        else:
            yield self._nak_op(req, Nak.FAIL)

    def _list(self, req: FtpOp, path: str) -> Iterator[FtpOp]:
        if path.rstrip("/") not in self._dirs() and path not in self._dirs():
            yield self._nak_op(req, Nak.FILE_NOT_FOUND)
            return
        entries = self._listing(path)[req.offset :]
        if not entries:
            yield self._nak_op(req, Nak.EOF)
            return
        data = b""
        for e in entries:
            if len(data) + len(e) + 1 > FTP_DATA_MAX:
                break
            data += e + b"\0"
        yield self._ack(req, data, offset=req.offset)

    def _read(self, req: FtpOp, seq: int, offset: int, *, last: bool) -> FtpOp | None:
        """One read reply at ``offset``; ``None`` when the controller "reboots" instead of answering."""
        burst = 1 if req.opcode == Opcode.BURST_READ_FILE else 0
        if self._open is None:
            return self._nak_op(req, Nak.FILE_NOT_FOUND, seq=seq, burst=burst)  # no file open (fd == -1)
        if req.opcode in self._naks:
            return self._nak_op(req, self._naks[req.opcode], seq=seq, burst=burst)
        if self._reboot_at is not None and offset >= self._reboot_at:
            self._reboot_at = None
            if self._on_reboot is not None:
                self._on_reboot()
            return None
        content = self._open[1]
        if offset >= len(content):
            return FtpOp(seq & 0xFFFF, req.session, Opcode.NAK, req.opcode, burst, offset, bytes((Nak.EOF,)))
        size = req.size if 0 < req.size <= FTP_DATA_MAX else FTP_DATA_MAX
        chunk = content[offset : offset + size]
        complete = burst and (last or len(chunk) < size)
        return self._ack(req, chunk, offset=offset, seq=seq, burst=int(complete))

    def _burst(self, req: FtpOp) -> Iterator[FtpOp]:
        size = req.size if 0 < req.size <= FTP_DATA_MAX else FTP_DATA_MAX
        offset = req.offset
        for i in range(_BURST_MAX):
            reply = self._read(req, req.seq + 1 + i, offset, last=i == _BURST_MAX - 1)
            if reply is None:
                return
            yield reply
            if self._dup_burst and reply.opcode == Opcode.ACK:
                while True:  # the same packet forever: a valid sequence number, never the burst's end
                    yield reply
            if reply.opcode == Opcode.NAK or reply.burst_complete:
                return
            offset += size
