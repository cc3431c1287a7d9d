"""Scripted devices: the far end of a serial line or an SFTP channel, playing fuzz bytes to the dock's real code.

The dock's own classes run unchanged on top: :class:`attest.transports.SerialTransport`
wraps a :class:`StreamPort` or :class:`FtpDevicePort` as it wraps a pyserial port,
and :class:`attest.transports.ssh.SftpSession` runs on a :class:`StreamChannel` as on
a paramiko channel. A script never makes the dock wait: each read hands over the
next bytes at once, and when the script is used up the device is gone (the port
raises ``OSError``, the channel reports end of file), so every input ends in
bounded time.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from collections.abc import Iterable

from attest.mavlink import FTP_DATA_MAX, FTP_MSG_ID, Deframer, FtpOp, Opcode, encode, pack_ftp, unpack_ftp

__all__ = ["DOCK", "FC", "FtpDevicePort", "FtpRecordEncoder", "StreamChannel", "StreamPort", "chunked"]

#: (system, component) of the dock and of the scripted flight controller.
DOCK = (255, 190)
FC = (1, 1)

#: Chunk sizes a scripted stream is cut into, in turn: a partial read, a single byte, a large read.
_CHUNKS = (4096, 1, 13, 512, 64, 3)


def chunked(data: bytes) -> list[bytes]:
    """``data`` cut into chunks of varying sizes (so frames and packets straddle reads)."""
    out, pos, i = [], 0, 0
    while pos < len(data):
        n = _CHUNKS[i % len(_CHUNKS)]
        out.append(data[pos : pos + n])
        pos += n
        i += 1
    return out


class _GoneError(OSError):
    def __init__(self) -> None:
        super().__init__(errno.EIO, "the scripted device has nothing more to send")


class StreamPort:
    """A pyserial-like port whose device sends ``data`` (in :func:`chunked` reads), then is gone."""

    def __init__(self, data: bytes) -> None:
        self._chunks: deque[bytes] = deque(chunked(data))
        self.timeout: float | None = 0
        self.written = 0

    def read(self, size: int = 1) -> bytes:
        """The next chunk (at most ``size`` bytes); ``OSError`` once the script is used up."""
        if not self._chunks:
            raise _GoneError
        chunk = self._chunks.popleft()
        if len(chunk) > size:
            self._chunks.appendleft(chunk[size:])
            chunk = chunk[:size]
        return chunk

    def write(self, data: bytes) -> int:
        """Accept what the dock sends (counted, not kept)."""
        self.written += len(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        """Nothing is stale in a script."""

    def close(self) -> None:
        """Nothing to close."""


# -- MAVLink FTP replies from a script ----------------------------------------------------------
#
# One reply record answers the dock's latest FTP request (the k-th reply to it):
#
#   ctl  bit 0: NAK (else ACK)            bit 1: burst_complete
#        bits 2-3: seq  0 = request + 1 + k, 1 = request's own, 2 = request + next byte, 3 = next 2 bytes
#        bit 4: session = next byte (else the request's)
#        bit 5: offset = next 4 bytes (else the request's, advanced by k packets for reads)
#        bit 6: header size = next byte (else the data's length; may claim more than is carried)
#        bit 7: req_opcode = next byte (else the request's opcode)
#   len  data bytes that follow (at most FTP_DATA_MAX are used)
#   data
#
# Defaults are what an honest controller answers, so a script of honest replies is short.

_NAK, _COMPLETE, _SEQ, _SESSION, _OFFSET, _SIZE, _REQ = 0x01, 0x02, 0x0C, 0x10, 0x20, 0x40, 0x80
_READS = (Opcode.READ_FILE, Opcode.BURST_READ_FILE)


def _default_offset(req: FtpOp, k: int) -> int:
    return (req.offset + k * FTP_DATA_MAX) & 0xFFFFFFFF if req.opcode in _READS else req.offset


class FtpDevicePort(StreamPort):
    """A pyserial-like port whose flight controller answers each FTP request from a script of reply records."""

    def __init__(self, script: bytes) -> None:
        super().__init__(b"")
        self._script = script
        self._pos = 0
        self._deframer = Deframer()
        self._req: FtpOp | None = None
        self._k = 0
        self._seq = 0
        self._out = b""

    def write(self, data: bytes) -> int:
        """Take the dock's requests; the latest FTP request is the one the next records answer."""
        super().write(data)
        for frame in self._deframer.feed(data):
            if frame.msgid == FTP_MSG_ID:
                self._req, self._k = unpack_ftp(frame.payload)[2], 0
        return len(data)

    def _take(self, n: int) -> bytes:
        chunk = self._script[self._pos : self._pos + n]
        self._pos += n
        return chunk.ljust(n, b"\0")

    def _reply(self, req: FtpOp) -> FtpOp:
        ctl = self._take(1)[0]
        seq = (req.seq + 1 + self._k) & 0xFFFF
        mode = (ctl & _SEQ) >> 2
        if mode == 1:
            seq = req.seq
        elif mode == 2:
            seq = (req.seq + self._take(1)[0]) & 0xFFFF
        elif mode == 3:
            seq = struct.unpack("<H", self._take(2))[0]
        session = self._take(1)[0] if ctl & _SESSION else req.session
        offset = struct.unpack("<I", self._take(4))[0] if ctl & _OFFSET else _default_offset(req, self._k)
        size = self._take(1)[0] if ctl & _SIZE else -1
        req_opcode = self._take(1)[0] if ctl & _REQ else req.opcode
        n = min(self._take(1)[0], FTP_DATA_MAX)
        data = self._script[self._pos : self._pos + n]
        self._pos += n
        opcode = Opcode.NAK if ctl & _NAK else Opcode.ACK
        return FtpOp(seq, session, opcode, req_opcode, int(bool(ctl & _COMPLETE)), offset, data, size)

    def read(self, size: int = 1) -> bytes:
        """The next reply frame; ``OSError`` when no request is waiting or the script is used up."""
        if not self._out:
            if self._req is None or self._pos >= len(self._script):
                raise _GoneError
            op = self._reply(self._req)
            self._k += 1
            payload = pack_ftp(op, target_system=DOCK[0], target_component=DOCK[1])
            self._out = encode(FTP_MSG_ID, payload, seq=self._seq, sysid=FC[0], compid=FC[1])
            self._seq = (self._seq + 1) & 0xFF
        chunk, self._out = self._out[:size], self._out[size:]
        return chunk


class FtpRecordEncoder:
    """Turns observed (request, reply) pairs into the reply records :class:`FtpDevicePort` plays back."""

    def __init__(self) -> None:
        self._req: FtpOp | None = None
        self._k = 0
        self.script = bytearray()

    def request(self, req: FtpOp) -> None:
        """The dock sent ``req``: later replies answer it."""
        self._req, self._k = req, 0

    def reply(self, op: FtpOp) -> None:
        """Append the record that reproduces ``op`` as the next reply to the latest request."""
        req = self._req
        if req is None:
            return
        ctl = (_NAK if op.opcode == Opcode.NAK else 0) | (_COMPLETE if op.burst_complete else 0)
        extra = bytearray()
        if op.seq != (req.seq + 1 + self._k) & 0xFFFF:
            ctl |= 3 << 2
            extra += struct.pack("<H", op.seq)
        if op.session != req.session:
            ctl |= _SESSION
            extra.append(op.session & 0xFF)
        if op.offset != _default_offset(req, self._k):
            ctl |= _OFFSET
            extra += struct.pack("<I", op.offset & 0xFFFFFFFF)
        if op.size not in (-1, len(op.data)):
            ctl |= _SIZE
            extra.append(op.size & 0xFF)
        if op.req_opcode != req.opcode:
            ctl |= _REQ
            extra.append(op.req_opcode & 0xFF)
        self.script += bytes((ctl,)) + extra + bytes((len(op.data),)) + op.data
        self._k += 1


# -- an SFTP server's byte stream ---------------------------------------------------------------


class StreamChannel:
    """A paramiko-channel-like object whose SFTP server sends ``data`` (in :func:`chunked` reads), then EOF."""

    def __init__(self, data: bytes | Iterable[bytes]) -> None:
        self._chunks: deque[bytes] = deque(chunked(data) if isinstance(data, bytes) else data)
        self.sent = 0

    def recv_ready(self) -> bool:
        """Whether a read would return at once (always: a script never waits)."""
        return True

    def recv(self, nbytes: int) -> bytes:
        """The next chunk (at most ``nbytes``); ``b""`` (end of file) once the script is used up."""
        if not self._chunks:
            return b""
        chunk = self._chunks.popleft()
        if len(chunk) > nbytes:
            self._chunks.appendleft(chunk[nbytes:])
            chunk = chunk[:nbytes]
        return chunk

    def sendall(self, data: bytes) -> None:
        """Accept what the dock sends (counted, not kept)."""
        self.sent += len(data)

    def settimeout(self, timeout: float | None) -> None:
        """A script never waits."""

    def close(self) -> None:
        """Nothing to close."""
