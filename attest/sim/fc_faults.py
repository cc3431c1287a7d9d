"""Misbehaviour of the simulated controller's serial line, for the robustness tests.

Applied to each outgoing MAVLink frame: random garbage before it, the frame
dropped, a byte of it flipped, the frame cut short, a MAVLink 1 copy or a
copy from another system id carrying altered data next to it. A seeded
generator makes every run of a test repeatable.

:class:`Hostile` is misbehaviour above the line, by a controller out to hang,
exhaust or crash the dock: repeating a burst packet or a parameter forever,
dribbling data just inside the dock's timeout, listing names too long to
request, stuffing its flash with fake app descriptors, a bootloader that
never stops talking. Each must end in a
bounded error verdict (exit 3), never a pass and never a hang.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from attest.firmware import APP_MAGIC
from attest.mavlink import FTP_MSG_ID, MAGIC_V1, MAGIC_V2, Opcode, mavlink, x25
from attest.sim.serial_line import mangle

__all__ = ["Faults", "Hostile", "LineFaults", "is_data_frame", "long_name_files", "stuff_descriptors"]

#: The system id of the "other system" sharing the wire.
OTHER_SYSTEM = 42


@dataclass(frozen=True)
class Faults:
    """Which faults to inject, and how often (probabilities per frame)."""

    garbage: float = 0.0
    drop: float = 0.0
    corrupt: float = 0.0
    truncate: float = 0.0
    mavlink1: bool = False
    other_system: bool = False
    seed: int = 1

    @property
    def any(self) -> bool:
        """Whether any line fault is on."""
        return bool(self.garbage or self.drop or self.corrupt or self.truncate or self.mavlink1 or self.other_system)


def _tamper(payload: bytes) -> bytes:
    # Flip the bytes a liar would change: every data byte after the first 3.
    return payload[:3] + bytes(b ^ 0x55 for b in payload[3:])


class LineFaults:
    """Turns each clean frame into the bytes the faulty line carries."""

    def __init__(self, faults: Faults) -> None:
        self._f = faults
        self._rng = random.Random(faults.seed)  # noqa: S311 (repeatable test noise, not secrets)
        self._seq = 0

    def _v1(self, frame: bytes) -> bytes:
        msgid = frame[7] | frame[8] << 8 | frame[9] << 16
        cls = mavlink.mavlink_map.get(msgid)
        if msgid > 255 or cls is None:
            return b""
        payload = _tamper(frame[10 : 10 + frame[1]].ljust(cls.unpacker.size, b"\0"))
        head = bytes((MAGIC_V1, len(payload), frame[4], frame[5], frame[6], msgid))
        crc = x25(head[1:] + payload + bytes((cls.crc_extra,)))
        return head + payload + bytes((crc & 0xFF, crc >> 8))

    def _other(self, frame: bytes) -> bytes:
        msgid = frame[7] | frame[8] << 8 | frame[9] << 16
        cls = mavlink.mavlink_map[msgid]
        payload = frame[10 : 10 + frame[1]]
        if msgid != mavlink.MAVLINK_MSG_ID_HEARTBEAT:
            payload = _tamper(payload)
        else:  # a companion computer's heartbeat: not an autopilot
            payload = payload[:5] + bytes((8,)) + payload[6:]
        self._seq = (self._seq + 1) & 0xFF
        head = bytes((MAGIC_V2, len(payload), 0, 0, self._seq, OTHER_SYSTEM, 1)) + frame[7:10]
        crc = x25(head[1:] + payload + bytes((cls.crc_extra,)))
        return head + payload + bytes((crc & 0xFF, crc >> 8))

    def apply(self, frame: bytes) -> bytes:
        """The bytes to send for ``frame``."""
        f, rng = self._f, self._rng
        out = b""
        if f.garbage and rng.random() < f.garbage:
            junk = bytearray(rng.randbytes(rng.randint(1, 40)))
            for _ in range(rng.randint(0, 3)):  # false magics make the noise hard
                junk[rng.randrange(len(junk))] = rng.choice((MAGIC_V2, MAGIC_V1))
            out += bytes(junk)
        if f.mavlink1 and rng.random() < 0.3:
            out += self._v1(frame)
        if f.other_system and rng.random() < 0.3:
            out += self._other(frame)
        body = mangle(frame, rng, drop=f.drop, corrupt=f.corrupt, truncate=f.truncate)
        return out if body is None else out + body


@dataclass(frozen=True)
class Hostile:
    """Protocol-level misbehaviour of a hostile controller.

    Attributes:
        dup_burst: every FTP burst repeats its first packet forever (valid sequence number, never complete).
        dup_param: PARAM_REQUEST_LIST is answered with parameter index 0, forever.
        drip: only the newest request is answered, and file data and parameter values leave
            at most one frame per ``drip`` seconds: each new, each just inside the dock's
            timeout, so no single wait runs out while the whole read never ends.
        long_name: ``/APM/scripts`` lists a file and a directory whose paths exceed one FTP request.
        fake_descriptors: this many fake app descriptors in the erased flash after the application.
        bl_chatter: the bootloader refuses READ_MULTI (as PX4's does) and then sends noise without end.
    """

    dup_burst: bool = False
    dup_param: bool = False
    drip: float = 0.0
    long_name: bool = False
    fake_descriptors: int = 0
    bl_chatter: bool = False


def is_data_frame(frame: bytes) -> bool:
    """Whether ``frame`` (a MAVLink 2 frame as sent) carries file data or a parameter value (what ``drip`` slows)."""
    msgid = frame[7] | frame[8] << 8 | frame[9] << 16
    if msgid == mavlink.MAVLINK_MSG_ID_PARAM_VALUE:
        return True
    # FTP payload: network, target system, target component, then seq(2), session, opcode, size, req_opcode.
    return (
        msgid == FTP_MSG_ID
        and len(frame) > 18
        and frame[16] == Opcode.ACK
        and frame[18] in (Opcode.READ_FILE, Opcode.BURST_READ_FILE)
    )


def long_name_files() -> dict[str, bytes]:
    """A file and a directory below ``/APM/scripts`` whose full paths are longer than one FTP request carries.

    Each entry still fits one ListDirectory reply, so the controller can list what the dock cannot ask for.
    """
    return {
        "/APM/scripts/" + "a" * 228 + ".lua": b"-- a name too long to request\n",
        "/APM/scripts/" + "d" * 230 + "/hidden.lua": b"-- inside a directory too long to list\n",
    }


def stuff_descriptors(flash: bytes, n: int) -> bytes:
    """``flash`` with ``n`` fake app descriptors (magic, zero CRCs, half the flash as size) after its last used byte.

    Raises:
        ValueError: they do not fit in the erased flash.
    """
    record = APP_MAGIC + struct.pack("<IIII", 0, 0, len(flash) // 2, 0) + bytes(12)
    used = len(flash.rstrip(b"\xff"))
    at = max(used + 15 & ~15, len(flash) // 2)
    if at + n * len(record) > len(flash):
        raise ValueError(f"{n} fake descriptors do not fit in the {len(flash) - at} erased bytes of the flash")
    return flash[:at] + record * n + flash[at + n * len(record) :]
