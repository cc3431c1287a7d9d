"""The simulated controller's serial bootloader (reference §9), after a reboot-to-bootloader.

Speaks the PX4/ArduPilot protocol: ``<opcode>[args]<EOC>`` in,
``[data]<INSYNC><status>`` out. The ArduPilot flavour offers READ_MULTI
(0x28) and GET_DEVICE 6; the PX4 flavour answers both with INVALID, as
PX4-Bootloader does. ``lie_crc`` makes GET_CRC report the CRC of the clean
image rather than of the flash it holds. ``chatter`` (hostile) makes a
refused READ_MULTI the start of an endless stream of noise (:attr:`chattering`).
"""

from __future__ import annotations

import struct

from attest.firmware import raw_crc32

__all__ = ["BootloaderServer"]

INSYNC, OK, FAILED, INVALID = 0x12, 0x10, 0x11, 0x13
EOC = 0x20
GET_SYNC, GET_DEVICE, READ_MULTI, GET_CRC = 0x21, 0x22, 0x28, 0x29
GET_SN, GET_CHIP, GET_CHIP_DES, BOOT = 0x2B, 0x2C, 0x2E, 0x30
#: opcode -> bytes of arguments before EOC
_ARGS = {GET_SYNC: 0, GET_DEVICE: 1, READ_MULTI: 1, GET_CRC: 0, GET_SN: 4, GET_CHIP: 0, GET_CHIP_DES: 0, BOOT: 0}


class BootloaderServer:
    """Feeds on command bytes, returns reply bytes; :attr:`booted` turns true after BOOT."""

    def __init__(
        self,
        *,
        app_area: bytes,
        clean_area: bytes,
        board_id: int,
        chip_id: int,
        flavour: str,
        lie_crc: bool,
        chatter: bool = False,
    ) -> None:
        self._area = app_area
        self._clean = clean_area
        self._board_id = board_id
        self._chip_id = chip_id
        self._ardupilot = flavour == "ardupilot"
        self._lie = lie_crc
        self._buf = bytearray()
        self._address = 0
        self._chatter = chatter
        self.booted = False
        #: Hostile: the line now carries noise without end (the server's owner sends it).
        self.chattering = False

    def feed(self, data: bytes) -> bytes:
        """Process received bytes; return everything to send back."""
        self._buf += data
        out = bytearray()
        while self._buf and not self.booted:
            op = self._buf[0]
            nargs = _ARGS.get(op)
            if nargs is None:
                del self._buf[0]  # noise or an unsupported command: PX4 bl.c answers INVALID once EOC arrives
                if op == EOC:
                    out += bytes((INSYNC, INVALID))
                continue
            if len(self._buf) < nargs + 2:
                break
            args, eoc = bytes(self._buf[1 : 1 + nargs]), self._buf[1 + nargs]
            del self._buf[: nargs + 2]
            if eoc != EOC:
                out += bytes((INSYNC, INVALID))
                continue
            out += self._command(op, args)
        return bytes(out)

    def _crc(self) -> int:
        crc = raw_crc32(self._area)
        if self._lie:
            clean = raw_crc32(self._clean)
            return clean if clean != crc else crc ^ 0x5A5A5A5A
        return crc

    def _command(self, op: int, args: bytes) -> bytes:  # noqa: PLR0911 (one return per opcode, like the table)
        ok = bytes((INSYNC, OK))
        if op == GET_SYNC:
            return ok
        if op == GET_DEVICE:
            self._address = 0
            values = {1: 5, 2: self._board_id, 3: 0, 4: len(self._area), 5: 0}
            if self._ardupilot:
                values[6] = 0
            value = values.get(args[0])
            return struct.pack("<I", value) + ok if value is not None else bytes((INSYNC, INVALID))
        if op == GET_CRC:
            return struct.pack("<I", self._crc()) + ok
        if op == READ_MULTI:
            n = args[0]
            if not self._ardupilot:
                self.chattering = self._chatter
                return bytes((INSYNC, INVALID))
            if n % 4 or self._address + n > len(self._area):
                return bytes((INSYNC, FAILED))
            data = self._area[self._address : self._address + n]
            self._address += n
            return data + ok
        if op == GET_SN:
            (index,) = struct.unpack("<I", args)
            return struct.pack(">I", 0x00410036 + index) + ok
        if op == GET_CHIP:
            return struct.pack("<I", self._chip_id) + ok
        if op == GET_CHIP_DES:
            text = b"STM32H7[4|5]x,V"
            return struct.pack("<I", len(text)) + text + ok
        self.booted = True  # BOOT
        return ok
