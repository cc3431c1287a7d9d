"""MAVLink 2 frames: find them in a noisy byte stream, and build them.

Hand-written rather than pymavlink's ``parse_buffer`` because a dock reading
a possibly hostile serial line needs two things that parser does not do:

* after a bad candidate frame (wrong CRC, unknown message, bad flags) it
  resumes the search **one byte** after the bad magic, so a truncated frame
  cannot swallow the good frame behind it;
* MAVLink 1 frames (magic ``0xFE``) are never accepted: a dock that speaks
  MAVLink 2 has no reason to trust a frame format without incompat flags.

Message definitions (CRC_EXTRA, lengths, field packing) still come from
pymavlink's generated ``common`` dialect; :func:`decode` hands a verified
frame to pymavlink to build the message object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import common as mavlink

__all__ = ["MAGIC_V1", "MAGIC_V2", "Deframer", "Frame", "decode", "encode", "mavlink", "x25"]

MAGIC_V2 = 0xFD
MAGIC_V1 = 0xFE
_HEADER = 10
_SIGNATURE = 13
_IFLAG_SIGNED = 0x01

#: msgid -> (CRC_EXTRA, full payload length) for every message of the dialect.
_INFO: dict[int, tuple[int, int]] = {
    mid: (cls.crc_extra, cls.unpacker.size) for mid, cls in mavlink.mavlink_map.items()
}


def x25(data: bytes) -> int:
    """CRC-16/MCRF4XX of ``data`` (pymavlink's implementation, C-accelerated when available)."""
    return int(mavlink.x25crc(data).crc)


@dataclass(frozen=True, slots=True)
class Frame:
    """One verified MAVLink 2 frame.

    Attributes:
        msgid: message id.
        sysid: sender system id.
        compid: sender component id.
        seq: sender's packet sequence number.
        payload: the payload zero-extended to the message's full length
            (MAVLink 2 senders trim trailing zeros).
        raw: the frame's bytes as received.
    """

    msgid: int
    sysid: int
    compid: int
    seq: int
    payload: bytes
    raw: bytes


class Deframer:
    """Splits a byte stream into verified MAVLink 2 frames.

    Everything else (garbage, corrupted or truncated frames, MAVLink 1 frames,
    messages this dialect does not define) is counted in :attr:`rejected`
    and skipped.
    """

    #: Bytes kept at most while waiting for the rest of a frame.
    _MAX_BUFFER = 1 << 20

    def __init__(self) -> None:
        self._buf = bytearray()
        #: Candidate frames dropped (bad CRC, flags, unknown id or length).
        self.rejected = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return every complete verified frame they finish, in order."""
        buf = self._buf
        buf += data
        out: list[Frame] = []
        i = 0
        n = len(buf)
        while True:
            j = buf.find(MAGIC_V2, i)
            if j < 0:
                i = n
                break
            if n - j < _HEADER:
                i = j
                break
            plen, iflags = buf[j + 1], buf[j + 2]
            msgid = buf[j + 7] | buf[j + 8] << 8 | buf[j + 9] << 16
            info = _INFO.get(msgid)
            if iflags & ~_IFLAG_SIGNED or info is None or plen > info[1]:
                # Not a frame we can verify: resume one byte later, so that
                # a good frame starting inside this candidate is still found.
                self.rejected += 1
                i = j + 1
                continue
            total = _HEADER + plen + 2 + (_SIGNATURE if iflags & _IFLAG_SIGNED else 0)
            if n - j < total:
                i = j
                break
            end = j + _HEADER + plen
            if x25(bytes(buf[j + 1 : end]) + bytes((info[0],))) != buf[end] | buf[end + 1] << 8:
                self.rejected += 1
                i = j + 1
                continue
            payload = bytes(buf[j + _HEADER : end])
            if plen < info[1]:
                payload += bytes(info[1] - plen)
            out.append(Frame(msgid, buf[j + 5], buf[j + 6], buf[j + 4], payload, bytes(buf[j : j + total])))
            i = j + total
        del buf[:i]
        if len(buf) > self._MAX_BUFFER:  # cannot happen with 280-byte frames; bound it anyway
            del buf[:]
        return out


def encode(msgid: int, payload: bytes, *, seq: int, sysid: int, compid: int) -> bytes:
    """A MAVLink 2 frame (unsigned) carrying ``payload``, with trailing zeros trimmed.

    Raises:
        ValueError: unknown ``msgid`` or a payload longer than the message.
    """
    info = _INFO.get(msgid)
    if info is None or len(payload) > info[1]:
        raise ValueError(f"cannot encode message {msgid} with a {len(payload)}-byte payload")
    body = payload.rstrip(b"\0") or b"\0"
    head = bytes((MAGIC_V2, len(body), 0, 0, seq & 0xFF, sysid, compid, msgid & 0xFF, msgid >> 8 & 0xFF, msgid >> 16))
    crc = x25(head[1:] + body + bytes((info[0],)))
    return head + body + bytes((crc & 0xFF, crc >> 8))


def payload_of(msg: Any) -> bytes:
    """The full (untrimmed) payload of a pymavlink message object."""
    mav = mavlink.MAVLink(None, 0, 0)
    frame = bytes(msg.pack(mav))
    size = _INFO[msg.id][1]
    body = frame[_HEADER : _HEADER + frame[1]]
    return body + bytes(size - len(body))


def decode(frame: Frame) -> Any:
    """The pymavlink message object for a verified frame.

    Raises:
        ValueError: pymavlink cannot build the message (should not happen for a verified frame).
    """
    try:
        return _DECODER.decode(bytearray(frame.raw))
    except mavlink.MAVError as e:
        raise ValueError(f"cannot decode message {frame.msgid}: {e}") from e


_DECODER = mavlink.MAVLink(None, 0, 0)
