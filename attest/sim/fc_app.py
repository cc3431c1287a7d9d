"""The simulated controller's firmware side: the MAVLink messages it answers.

HEARTBEAT, AUTOPILOT_VERSION (on MAV_CMD_REQUEST_MESSAGE or the legacy
REQUEST_AUTOPILOT_CAPABILITIES), SYSTEM_TIME (its uptime since the last
boot, on MAV_CMD_REQUEST_MESSAGE), the parameter protocol, MAVLink FTP (see
:mod:`attest.sim.fc_ftp`) and MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, which is
refused while armed (unless forced) and otherwise acknowledged before the
reboot, as ArduPilot does. Every answer is a ready MAVLink 2 frame.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from attest.mavlink import FTP_MSG_ID, Frame, Param, decode, encode, mavlink, pack_ftp, param_value_fields, unpack_ftp
from attest.sim.fc_flash import Board
from attest.sim.fc_ftp import FtpServer

__all__ = ["App", "Identity"]

SYSID, COMPID = 1, 1
_MAV_CMD_REQUEST_MESSAGE = 512
_MAV_CMD_REQUEST_CAPS = 520
_MAV_CMD_REBOOT = 246
_FORCE = 20190226
_RESULT_ACCEPTED, _RESULT_FAILED, _RESULT_UNSUPPORTED = 0, 4, 3
#: MISSION_FLOAT..MISSION_RALLY as ArduPilot sets them, FTP (32) and MAVLINK2 (8192) among them.
_CAPS_ARDUPILOT = 1 | 2 | 4 | 8 | 32 | 128 | 256 | 512 | 1024 | 4096 | 8192 | 16384 | 32768
_CAPS_PX4 = 4 | 8 | 16 | 32 | 128 | 256 | 512 | 8192 | 16384


@dataclass(frozen=True)
class Identity:
    """What the controller reports about itself (never changed by ``--flash``)."""

    board: Board
    uid: bytes
    armed: bool
    ftp: bool


class App:
    """Answers MAVLink requests; sets :attr:`action` to ``bootloader`` or ``reboot`` when asked."""

    def __init__(self, ident: Identity, params: list[Param], ftp: FtpServer, *, dup_param: bool = False) -> None:
        self._id = ident
        self._dup_param = dup_param
        self._params = params
        self._ftp = ftp
        self._mav = mavlink.MAVLink(None, SYSID, COMPID)
        self._px4 = ident.board.autopilot == "px4"
        #: ``bootloader`` or ``reboot`` once such a command was accepted.
        self.action: str | None = None
        #: When the controller last booted (monotonic): SYSTEM_TIME's ``time_boot_ms`` counts from here.
        self.booted = time.monotonic()

    def _pack(self, msg: object) -> bytes:
        frame = bytes(msg.pack(self._mav))  # type: ignore[attr-defined]
        self._mav.seq = (self._mav.seq + 1) % 256
        return frame

    def heartbeat(self) -> bytes:
        """One HEARTBEAT frame."""
        base_mode = 1 | 16 | 64 | (128 if self._id.armed else 0)
        return self._pack(
            mavlink.MAVLink_heartbeat_message(2, 12 if self._px4 else 3, base_mode, 0, 4 if self._id.armed else 3, 3)
        )

    def autopilot_version(self) -> bytes:
        """The AUTOPILOT_VERSION frame."""
        b = self._id.board
        major, minor, patch = b.version
        fsw = major << 24 | minor << 16 | patch << 8 | 255
        if self._px4:
            raw = bytearray((int(b.git_hash[:16], 16) & 0xFFFFFFFFFF000000).to_bytes(8, "little"))
            raw[0:3] = (0x010203).to_bytes(3, "little")  # vendor version >> 8
            custom, mw, os_ = bytes(raw), int(b.git_hash, 16).to_bytes(8, "little"), bytes.fromhex("a1b2c3d4e5f60718")
            caps, mw_version, uid = _CAPS_PX4 if self._id.ftp else _CAPS_PX4 & ~32, fsw, 0
        else:
            custom, mw, os_ = b.git_hash.encode(), bytes(8), b"8a7b6c5d"
            caps, mw_version, uid = _CAPS_ARDUPILOT if self._id.ftp else _CAPS_ARDUPILOT & ~32, 0, 0
        msg = mavlink.MAVLink_autopilot_version_message(
            caps, fsw, mw_version, 0, b.board_id << 16, list(custom), list(mw), list(os_),
            b.vendor_id, b.product_id, uid, list(self._id.uid.ljust(18, b"\0")[:18]),
        )  # fmt: skip
        return self._pack(msg)

    def _ack(self, command: int, result: int, frame: Frame) -> bytes:
        return self._pack(mavlink.MAVLink_command_ack_message(command, result, 0, 0, frame.sysid, frame.compid))

    def _param_value(self, index: int) -> bytes:
        p = self._params[index]
        bits, ptype = param_value_fields(p, bytewise=self._px4)
        payload = bits + (len(self._params)).to_bytes(2, "little") + index.to_bytes(2, "little")
        payload += p.name.encode().ljust(16, b"\0") + bytes((ptype,))
        seq = self._mav.seq
        self._mav.seq = (seq + 1) % 256
        return encode(mavlink.MAVLINK_MSG_ID_PARAM_VALUE, payload, seq=seq, sysid=SYSID, compid=COMPID)

    def handle(self, frame: Frame) -> Iterator[bytes]:
        """Frames answering ``frame`` (lazily: a parameter list or a burst is long)."""
        if frame.msgid == FTP_MSG_ID:
            tsys, _tcomp, op = unpack_ftp(frame.payload)
            if tsys in (0, SYSID) and self._id.ftp:
                for reply in self._ftp.handle(op):
                    payload = pack_ftp(reply, target_system=frame.sysid, target_component=frame.compid)
                    seq = self._mav.seq
                    self._mav.seq = (seq + 1) % 256
                    yield encode(FTP_MSG_ID, payload, seq=seq, sysid=SYSID, compid=COMPID)
            return
        if frame.msgid not in (
            mavlink.MAVLINK_MSG_ID_COMMAND_LONG,
            mavlink.MAVLINK_MSG_ID_PARAM_REQUEST_LIST,
            mavlink.MAVLINK_MSG_ID_PARAM_REQUEST_READ,
        ):
            return
        msg = decode(frame)
        if msg.target_system not in (0, SYSID):
            return
        if frame.msgid == mavlink.MAVLINK_MSG_ID_PARAM_REQUEST_LIST:
            while self._dup_param:  # hostile: the first parameter, forever
                yield self._param_value(0)
            for i in range(len(self._params)):
                yield self._param_value(i)
        elif frame.msgid == mavlink.MAVLINK_MSG_ID_PARAM_REQUEST_READ:
            index = msg.param_index
            if index < 0:
                name = msg.param_id.decode("ascii", "replace") if isinstance(msg.param_id, bytes) else msg.param_id
                index = next((i for i, p in enumerate(self._params) if p.name == name), -1)
            if 0 <= index < len(self._params):
                yield self._param_value(index)
        else:
            yield from self._command(msg, frame)

    def _command(self, msg: object, frame: Frame) -> Iterator[bytes]:
        cmd = int(msg.command)  # type: ignore[attr-defined]
        p1 = float(msg.param1)  # type: ignore[attr-defined]
        if cmd == _MAV_CMD_REQUEST_MESSAGE and int(p1) == mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            yield self._ack(cmd, _RESULT_ACCEPTED, frame)
            yield self.autopilot_version()
        elif cmd == _MAV_CMD_REQUEST_MESSAGE and int(p1) == mavlink.MAVLINK_MSG_ID_HEARTBEAT:
            yield self._ack(cmd, _RESULT_ACCEPTED, frame)
            yield self.heartbeat()
        elif cmd == _MAV_CMD_REQUEST_MESSAGE and int(p1) == mavlink.MAVLINK_MSG_ID_SYSTEM_TIME:
            yield self._ack(cmd, _RESULT_ACCEPTED, frame)
            up_ms = int((time.monotonic() - self.booted) * 1000) & 0xFFFFFFFF
            yield self._pack(mavlink.MAVLink_system_time_message(0, up_ms))
        elif cmd == _MAV_CMD_REQUEST_MESSAGE:
            yield self._ack(cmd, _RESULT_FAILED, frame)
        elif cmd == _MAV_CMD_REQUEST_CAPS:
            yield self._ack(cmd, _RESULT_ACCEPTED, frame)
            yield self.autopilot_version()
        elif cmd == _MAV_CMD_REBOOT and int(p1) in (1, 3):
            forced = int(msg.param6) == _FORCE  # type: ignore[attr-defined]
            if self._id.armed and not forced:
                yield self._ack(cmd, _RESULT_FAILED, frame)
                return
            yield self._ack(cmd, _RESULT_ACCEPTED, frame)
            self.action = "bootloader" if int(p1) == 3 else "reboot"
        else:
            yield self._ack(cmd, _RESULT_UNSUPPORTED, frame)
