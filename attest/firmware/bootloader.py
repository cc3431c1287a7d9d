"""The PX4/ArduPilot serial bootloader protocol, client side (reference §5, §9).

:class:`BootloaderClient` talks to a bootloader on an open port: GET_SYNC,
GET_DEVICE (board id, app-area size), GET_CRC (the bootloader's own CRC of
the app area), READ_MULTI (the app area itself, on ArduPilot bootloaders;
PX4-Bootloader has none) and BOOT, which starts the firmware again. Asking
the running firmware to reboot into its bootloader, and turning what the
bootloader serves into measured components, are the MAVLink collector's
(:mod:`attest.collectors.mavlink.bootloader`).

Why: the bootloader is separate code from the firmware being attested, so a
firmware that lies about itself over MAVLink does not answer here. It can
still lie (GET_CRC is a claim); bytes the dock read and hashed are not.

Bounds: every reply is awaited for at most the timeout; READ_MULTI of the
whole area must average :data:`RATE_FLOOR` bytes per second after the first
timeout; what a device sends while the dock waits for sync or drains the
line is neither kept nor waited on beyond the timeout.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from attest.errors import CollectionError, TransportError
from attest.transports import Budget, SerialTransport

__all__ = ["INFO_BL_REV", "INFO_BOARD_ID", "INFO_FW_SIZE", "MAX_FW_SIZE", "BootloaderClient"]

INSYNC, OK, FAILED, INVALID = 0x12, 0x10, 0x11, 0x13
EOC = 0x20
GET_SYNC, GET_DEVICE, READ_MULTI, GET_CRC, BOOT = 0x21, 0x22, 0x28, 0x29, 0x30
INFO_BL_REV, INFO_BOARD_ID, INFO_FW_SIZE = 1, 2, 4
#: READ_MULTI length used by ArduPilot's uploader (a multiple of 4, at most 255).
READ_CHUNK = 252
#: READ_MULTI requests in flight at once (the bootloader answers them in order).
_PIPELINE = 16
#: The largest app area believed (a 16 MiB internal flash is far beyond any autopilot MCU).
MAX_FW_SIZE = 16 << 20
#: The slowest average rate, in bytes per second, READ_MULTI may keep after the first timeout.
RATE_FLOOR = 1024


class _UnsupportedError(Exception):
    """The bootloader answered INVALID: it does not implement the command."""


class BootloaderClient:
    """The bootloader protocol over an open port."""

    def __init__(self, transport: SerialTransport, *, timeout: float) -> None:
        self._t = transport
        self._timeout = timeout
        self._buf = bytearray()

    def _take(self, n: int, what: str, deadline: float) -> bytes:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransportError(f"{self._t.target}: bootloader: no reply to {what} within {self._timeout:g} s")
            self._buf += self._t.read(left)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _status(self, what: str, deadline: float) -> None:
        sync, status = self._take(2, what, deadline)
        if sync != INSYNC:
            raise CollectionError(f"bootloader: {what}: out of sync (got 0x{sync:02x}, expected INSYNC)")
        if status == INVALID:
            raise _UnsupportedError(what)
        if status != OK:
            raise CollectionError(f"bootloader: {what} failed (status 0x{status:02x})")

    def _call(self, what: str, request: bytes, reply_len: int) -> bytes:
        self._t.write(request)
        deadline = time.monotonic() + self._timeout
        data = self._take(reply_len, what, deadline) if reply_len else b""
        self._status(what, deadline)
        return data

    def sync(self) -> None:
        """GET_SYNC until the bootloader answers (it may still be starting).

        Raises:
            TransportError: no INSYNC/OK within the timeout.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            self._buf.clear()
            self._t.write(bytes((GET_SYNC, EOC)))
            got = bytearray()
            step = min(deadline, time.monotonic() + 0.3)
            while time.monotonic() < step:
                got += self._t.read(step - time.monotonic())
                if got.endswith(bytes((INSYNC, OK))):
                    self._buf.clear()
                    return
                del got[:-1]  # only the last byte can start the answer: a chattering line costs no memory
            if time.monotonic() >= deadline:
                raise TransportError(f"{self._t.target}: bootloader: no answer to GET_SYNC within {self._timeout:g} s")

    def get_device(self, info: int) -> int | None:
        """GET_DEVICE ``info``; ``None`` if the bootloader does not know that field."""
        try:
            data = self._call(f"GET_DEVICE {info}", bytes((GET_DEVICE, info, EOC)), 4)
        except _UnsupportedError:
            return None
        return int(struct.unpack("<I", data)[0])

    def get_crc(self) -> int:
        """GET_CRC: the bootloader's CRC of the whole app area."""
        try:
            return int(struct.unpack("<I", self._call("GET_CRC", bytes((GET_CRC, EOC)), 4))[0])
        except _UnsupportedError:
            raise CollectionError("bootloader does not implement GET_CRC") from None

    def read_app(self, fw_size: int, on_bytes: Callable[[int], None] | None = None) -> bytes | None:
        """The whole app area by READ_MULTI, or ``None`` if the bootloader has no READ_MULTI (PX4).

        Call right after GET_DEVICE, which resets the read address to 0.
        """
        sizes = [READ_CHUNK] * (fw_size // READ_CHUNK)
        if fw_size % READ_CHUNK:
            sizes.append(fw_size % READ_CHUNK)
        if any(s % 4 for s in sizes):
            raise CollectionError(f"bootloader app area of {fw_size} bytes is not a multiple of 4")
        out = bytearray()
        sent = 0
        budget = Budget(self._timeout, RATE_FLOOR, what="bootloader READ_MULTI", unit="bytes", target=self._t.target)
        try:
            for i, n in enumerate(sizes):
                while sent < len(sizes) and sent < i + _PIPELINE:
                    self._t.write(bytes((READ_MULTI, sizes[sent], EOC)))
                    sent += 1
                deadline = time.monotonic() + self._timeout
                what = f"READ_MULTI at {len(out)}"
                if i == 0:
                    # The first reply tells whether READ_MULTI exists: INVALID comes without data.
                    head = self._take(2, what, deadline)
                    if head == bytes((INSYNC, INVALID)):
                        raise _UnsupportedError(what)
                    self._buf[0:0] = head
                out += self._take(n, what, deadline)
                self._status(what, deadline)
                budget.done += n
                budget.check()
                if on_bytes is not None:
                    on_bytes(n)
        except _UnsupportedError:
            self._drain()
            return None
        return bytes(out)

    def _drain(self) -> None:
        """Discard what the bootloader still sends (the rest of a refused pipeline), for at most the timeout."""
        time.sleep(0.05)
        end = time.monotonic() + self._timeout
        while self._t.read(0.05) and time.monotonic() < end:
            pass
        self._buf.clear()

    def boot(self) -> None:
        """BOOT: start the firmware."""
        try:
            self._call("BOOT", bytes((BOOT, EOC)), 0)
        except _UnsupportedError:
            raise CollectionError("bootloader refused BOOT") from None
