"""DUML v1 frames: find them in a noisy byte stream, and build them.

The layout (11-byte header, payload, 2-byte check; every multi-byte field
little-endian):

====== =====================================================================
offset field
====== =====================================================================
0      ``0x55``
1-2    bits 0-9: length of the whole frame (header, payload and check);
       bits 10-15: protocol version (1)
3      CRC-8 of bytes 0-2 (:func:`attest.duml.crc.crc8`)
4      sender: module type (bits 0-4) and index (bits 5-7)
5      receiver: the same
6-7    sequence number; a reply carries the request's
8      bit 7: reply (1) or request (0); bits 5-6: acknowledgement wanted
       (0 none, 1 before executing, 2 after executing); bits 0-2: encryption
9      command set
10     command id
11-    payload
last 2 CRC-16 of every byte before it (:func:`attest.duml.crc.crc16`)
====== =====================================================================

The :class:`Deframer` is written for a possibly hostile line: after a
candidate that fails either check, or claims another version or an
impossible length, it resumes the search **one byte** after that ``0x55``, so
a corrupted or truncated frame cannot swallow a good frame behind it, and it
never holds more than one frame's worth of bytes while waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

from attest.duml.crc import crc8, crc16

__all__ = ["HEADER_SIZE", "MAGIC", "MAX_FRAME", "MIN_FRAME", "Address", "Deframer", "Frame", "encode"]

MAGIC = 0x55
VERSION = 1
HEADER_SIZE = 11
#: The smallest frame: a header and the check, no payload.
MIN_FRAME = HEADER_SIZE + 2
#: The length field has 10 bits.
MAX_FRAME = 0x3FF

ACK_NONE = 0
ACK_BEFORE_EXEC = 1
ACK_AFTER_EXEC = 2


@dataclass(frozen=True, order=True, slots=True)
class Address:
    """A module on the DUML bus: its type (0-31) and index (0-7)."""

    type: int
    index: int

    def to_byte(self) -> int:
        """The sender/receiver byte.

        Raises:
            ValueError: a type or index out of range.
        """
        if not (0 <= self.type < 32 and 0 <= self.index < 8):
            raise ValueError(f"not a DUML module address: type {self.type}, index {self.index}")
        return self.type | self.index << 5

    @classmethod
    def from_byte(cls, b: int) -> Address:
        """The address a sender/receiver byte names."""
        return cls(b & 0x1F, b >> 5)


@dataclass(frozen=True, slots=True)
class Frame:
    """One DUML v1 frame whose header and frame checks both hold.

    Attributes:
        sender: who sent it (as the frame says: a module can claim any address).
        receiver: who it is for.
        seq: sequence number.
        reply: whether it is a reply (else a request or a push).
        ack: acknowledgement wanted (0, 1 or 2).
        encrypt: encryption type (0: none).
        cmd_set: command set.
        cmd_id: command id.
        payload: the bytes between header and check.
        raw: the frame's bytes as received.
    """

    sender: Address
    receiver: Address
    seq: int
    reply: bool
    ack: int
    encrypt: int
    cmd_set: int
    cmd_id: int
    payload: bytes
    raw: bytes


def encode(
    sender: Address,
    receiver: Address,
    *,
    seq: int,
    cmd_set: int,
    cmd_id: int,
    payload: bytes = b"",
    reply: bool = False,
    ack: int = ACK_NONE,
    encrypt: int = 0,
) -> bytes:
    """A DUML v1 frame.

    Raises:
        ValueError: a payload too long for the 10-bit length, or a field out of range.
    """
    length = MIN_FRAME + len(payload)
    if length > MAX_FRAME:
        raise ValueError(f"a {len(payload)}-byte payload does not fit a DUML frame")
    if not (
        0 <= seq <= 0xFFFF and 0 <= ack <= 3 and 0 <= encrypt <= 7 and 0 <= cmd_set <= 0xFF and 0 <= cmd_id <= 0xFF
    ):
        raise ValueError("DUML header field out of range")
    word = length | VERSION << 10
    head = bytes((MAGIC, word & 0xFF, word >> 8))
    cmd_type = (0x80 if reply else 0) | ack << 5 | encrypt
    body = (
        head
        + bytes((crc8(head), sender.to_byte(), receiver.to_byte(), seq & 0xFF, seq >> 8, cmd_type, cmd_set, cmd_id))
        + payload
    )
    check = crc16(body)
    return body + bytes((check & 0xFF, check >> 8))


class Deframer:
    """Splits a byte stream into verified DUML v1 frames.

    Everything else (noise, frames failing either check, other protocol
    versions, impossible lengths, truncated frames) is counted in
    :attr:`rejected` and skipped.
    """

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        """``max_frame``: the longest frame wanted; a header claiming more is skipped as noise.

        A reader that only wants short frames (the dock: version replies) should say so: every
        header that passes its 1-byte check makes the deframer hold and then check up to that
        many bytes, so a line full of such headers costs CPU in proportion to it.
        """
        self._max = max_frame
        self._buf = bytearray()
        #: Candidate frames dropped (bad header check, version, length or frame check).
        self.rejected = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return every complete verified frame they finish, in order."""
        buf = self._buf
        buf += data
        out: list[Frame] = []
        i, n = 0, len(buf)
        while True:
            j = buf.find(MAGIC, i)
            if j < 0:
                i = n
                break
            if n - j < 4:
                i = j
                break
            word = buf[j + 1] | buf[j + 2] << 8
            length, version = word & 0x3FF, word >> 10
            if crc8(bytes(buf[j : j + 3])) != buf[j + 3] or version != VERSION or not MIN_FRAME <= length <= self._max:
                self.rejected += 1
                i = j + 1
                continue
            if n - j < length:
                i = j  # wait for the rest (at most max_frame bytes are ever held)
                break
            frame = bytes(buf[j : j + length])
            if crc16(frame[:-2]) != frame[-2] | frame[-1] << 8:
                # A truncated frame followed by other bytes lands here too: resume
                # one byte later, so the frame starting inside it is still found.
                self.rejected += 1
                i = j + 1
                continue
            out.append(_parse(frame))
            i = j + length
        del buf[:i]
        return out

    def flush(self) -> list[Frame]:
        """The frames inside what is held, as if the stream ended here.

        A candidate still waiting for bytes is given up (rejected) and the bytes after its first
        are scanned again, so a frame a fake header was holding back is found.
        """
        out: list[Frame] = []
        while self._buf:
            held = bytes(self._buf)
            out += self.feed(b"")
            if bytes(self._buf) != held or not self._buf:
                continue
            # Still waiting on the same candidate: it will not complete. Skip its first byte.
            self.rejected += 1
            del self._buf[:1]
        return out


def _parse(frame: bytes) -> Frame:
    cmd_type = frame[8]
    return Frame(
        sender=Address.from_byte(frame[4]),
        receiver=Address.from_byte(frame[5]),
        seq=frame[6] | frame[7] << 8,
        reply=bool(cmd_type & 0x80),
        ack=cmd_type >> 5 & 3,
        encrypt=cmd_type & 7,
        cmd_set=frame[9],
        cmd_id=frame[10],
        payload=frame[HEADER_SIZE:-2],
        raw=frame,
    )
