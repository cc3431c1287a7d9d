"""``attest sim fc``: a simulated flight controller on a new pseudo-terminal.

It opens a pty, prints the slave's path (``/dev/pts/N``) alone on the first
line of stdout, and serves real MAVLink 2 on it until killed: heartbeats,
AUTOPILOT_VERSION, parameters, MAVLink FTP (``@PARAM/param.pck``,
``@SYS/flash.bin``, scripts, ``@ROMFS``) and, after a reboot-to-bootloader
command, the serial bootloader protocol. With a line rate it throttles its
output to ``baud / 10`` bytes per second, as a UART would.

``--stale-session`` starts with another ground station's FTP session holding
the one file slot (:mod:`attest.sim.fc_ftp`: ArduPilot's session rules);
``--volatile`` moves the parameters a healthy controller changes by itself
(:mod:`attest.sim.fc_volatile`).

Single-threaded: one ``select`` loop reads requests, answers them in order
(a parameter list or a burst is produced lazily so heartbeats and pacing
continue), and applies the configured line faults to every frame.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from attest.firmware import decode_image
from attest.mavlink import Deframer, Frame, Param, encode_pck
from attest.sim.bootloader import BootloaderServer
from attest.sim.fc_app import App, Identity
from attest.sim.fc_faults import Faults, Hostile, LineFaults, is_data_frame, long_name_files, stuff_descriptors
from attest.sim.fc_flash import Board, board_for, build_flash, build_image, stash_approved
from attest.sim.fc_ftp import FtpServer, VirtualFile
from attest.sim.fc_params import default_params
from attest.sim.fc_volatile import VolatileParams
from attest.sim.serial_line import serve_on_pty

__all__ = ["SimConfig", "SimFC", "default_files", "run_fc"]

#: Output queued ahead of the line; more waits in the answer generators.
_HIGH_WATER = 16384
#: Seconds the controller is silent while it "reboots".
_REBOOT_SILENCE = 0.3


def default_files(autopilot: str) -> dict[str, bytes]:
    """The files a fresh simulated controller carries (ArduPilot: a Lua script and ROMFS files)."""
    if autopilot == "px4":
        return {}
    script = b"-- patrol_geofence.lua: keep the patrol inside the approved area\n" + b"".join(
        f"local WP{i} = {{lat = {-35.36 + i / 1000:.4f}, lon = {149.16 + i / 997:.4f}}}\n".encode() for i in range(60)
    )
    return {
        "/APM/scripts/patrol_geofence.lua": script,
        "@ROMFS/hwdef.dat": b"MCU STM32H7xx STM32H743xx\nAPJ_BOARD_ID 140\nFLASH_SIZE_KB 2048\n" * 8,
        "@ROMFS/defaults.parm": b"FENCE_ENABLE 1\nRTL_ALT 1500\nFS_THR_ENABLE 1\n",
        "@ROMFS/scripts/led_status.lua": b"-- built-in: blink the LED while disarmed\nreturn update, 1000\n" * 4,
    }


@dataclass
class SimConfig:
    """Everything ``attest sim fc`` can be told."""

    autopilot: str = "ardupilot"
    params: list[Param] | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    flash_file: Path | None = None
    flash_kb: int = 2048
    lie_crc: bool = False
    stash_approved: bool = False
    baud: int | None = None
    armed: bool = False
    ftp: bool = True
    uid: bytes = bytes.fromhex("0034002b3138510d33373832")
    faults: Faults = field(default_factory=Faults)
    stall_after: int | None = None
    reboot_mid_read: bool = False
    ftp_naks: dict[int, int] = field(default_factory=dict)
    hostile: Hostile = field(default_factory=Hostile)
    #: Another ground station's session holds the FTP file slot from the start (ArduPilot only).
    stale_session: bool = False
    #: Move the volatile parameters (:mod:`attest.sim.fc_volatile`): STAT_RUNTIME every this many seconds.
    volatile_period: float | None = None


def _uptime() -> bytes:
    return f"uptime {time.monotonic():.3f}\n".encode()


def _const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


class SimFC:
    """The simulated controller; :meth:`serve` runs it on an open pty master."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.board: Board = board_for(cfg.autopilot, flash_kb=cfg.flash_kb)
        self.clean_flash = build_flash(self.board, build_image(self.board))
        self.flash = self._load_flash(cfg.flash_file) if cfg.flash_file else self.clean_flash
        if cfg.stash_approved:
            self.flash = stash_approved(self.board, build_image(self.board))
        if cfg.hostile.fake_descriptors:
            self.flash = stuff_descriptors(self.flash, cfg.hostile.fake_descriptors)
        self.params = cfg.params if cfg.params is not None else default_params(cfg.autopilot)
        defaults = default_files(cfg.autopilot)
        extra = long_name_files() if cfg.hostile.long_name else {}
        files: dict[str, VirtualFile] = {}
        for path, content in {**defaults, **extra, **cfg.files}.items():
            clean = defaults.get(path)
            files[path] = VirtualFile(_const(content), _const(clean) if clean is not None else None)
        if cfg.autopilot == "ardupilot":
            files["@PARAM/param.pck"] = VirtualFile(lambda: encode_pck(self.params))
            files["@SYS/flash.bin"] = VirtualFile(lambda: self.flash, lambda: self.clean_flash, stat_size=100000)
            files["@SYS/threads.txt"] = VirtualFile(_uptime)  # volatile, like the real one
        self.ftp = FtpServer(
            files,
            lie_crc=cfg.lie_crc,
            naks=cfg.ftp_naks,
            reboot_at=2 * 239 if cfg.reboot_mid_read else None,
            on_reboot=self._reboot,
            dup_burst=cfg.hostile.dup_burst,
            stale_session=cfg.stale_session,
        )
        self.ident = Identity(self.board, cfg.uid, cfg.armed, cfg.ftp)
        self.app = App(self.ident, self.params, self.ftp, dup_param=cfg.hostile.dup_param)
        self.volatile: VolatileParams | None = None
        if cfg.volatile_period is not None:
            self.volatile = VolatileParams(self.params, cfg.autopilot, period=cfg.volatile_period)
            self.volatile.boot()
        self.line = LineFaults(cfg.faults)
        self.bootloader: BootloaderServer | None = None
        self._deframer = Deframer()
        self._requests: deque[Frame] = deque()
        self._pending: Iterator[bytes] | None = None
        self._held: bytes | None = None  # a data frame waiting for its drip slot
        self._next_drip = 0.0
        self._out = bytearray()
        self._silent_until = 0.0
        self._frames_sent = 0
        # A UART's transmit buffer holds a fraction of a second: at a line
        # rate, queue at most 0.1 s ahead, so answers are not stuck behind a backlog.
        self._high_water = _HIGH_WATER if not cfg.baud else max(512, cfg.baud // 100)

    def _load_flash(self, path: Path) -> bytes:
        data = path.read_bytes()
        if path.suffix in (".apj", ".px4"):
            return build_flash(self.board, decode_image(data, name=str(path)).image)
        return data

    def _app_area(self, flash: bytes) -> bytes:
        start = self.board.app_start_kb * 1024
        return flash[start : start + self.board.fw_size].ljust(self.board.fw_size, b"\xff")

    def _reboot(self) -> None:
        """Lose all state and go quiet for a moment, as a controller that resets does."""
        self.ftp.reset()
        self._pending = None
        self._held = None
        self._requests.clear()
        self._out.clear()
        self._silent_until = time.monotonic() + _REBOOT_SILENCE
        self.app.booted = time.monotonic()  # SYSTEM_TIME counts from the new boot

    def _enter_bootloader(self) -> None:
        self._pending = None
        self._held = None
        self._requests.clear()
        self.ftp.reset()
        self.bootloader = BootloaderServer(
            app_area=self._app_area(self.flash),
            clean_area=self._app_area(self.clean_flash),
            board_id=self.board.board_id,
            chip_id=self.board.chip_id,
            flavour=self.cfg.autopilot,
            lie_crc=self.cfg.lie_crc,
            chatter=self.cfg.hostile.bl_chatter,
        )

    def _queue(self, frame: bytes) -> None:
        if self.cfg.stall_after is not None and self._frames_sent >= self.cfg.stall_after:
            return  # stalled: the line is dead from now on
        self._frames_sent += 1
        self._out += self.line.apply(frame) if self.cfg.faults.any else frame

    def _fill(self) -> None:
        """Move answers into the output buffer up to the high-water mark."""
        while len(self._out) < self._high_water:
            if self.cfg.hostile.drip and self._requests:
                # Hostile: only the newest request is answered, so the dock's repeats never queue up
                # and every answer it gets is new data, one frame per drip interval.
                newest = self._requests.pop()
                self._requests.clear()
                self._pending, self._held = self.app.handle(newest), None
            if self._held is not None:
                frame: bytes | None = self._held
                self._held = None
            else:
                if self._pending is None:
                    if not self._requests:
                        return
                    self._pending = self.app.handle(self._requests.popleft())
                frame = next(self._pending, None)
            if frame is not None and self.cfg.hostile.drip and is_data_frame(frame):
                now = time.monotonic()
                if now < self._next_drip:
                    self._held = frame  # hostile: data leaves one frame per drip interval
                    return
                self._next_drip = now + self.cfg.hostile.drip
            if frame is None:
                self._pending = None
                if self.app.action == "bootloader":
                    self.app.action = None
                    self._enter_bootloader()
                    return
                if self.app.action == "reboot":
                    self.app.action = None
                    pending_ack = bytes(self._out)
                    self._reboot()
                    self._out += pending_ack
                    return
                continue
            self._queue(frame)

    def _received(self, data: bytes, now: float) -> None:
        if now < self._silent_until:
            return
        if self.bootloader is not None:
            self._out += self.bootloader.feed(data)
            if self.bootloader.booted:
                self.bootloader = None
                self._deframer = Deframer()
                self._silent_until = now + _REBOOT_SILENCE
            return
        self._requests.extend(self._deframer.feed(data))

    def serve(self, fd: int) -> None:
        """Serve on pty master ``fd`` forever."""
        os.set_blocking(fd, False)
        rate = self.cfg.baud / 10 if self.cfg.baud else None
        tokens, last = 0.0, time.monotonic()
        next_hb = last
        while True:
            now = time.monotonic()
            if self.volatile is not None:
                self.volatile.tick()
            if self.bootloader is not None and self.bootloader.chattering and len(self._out) < 4096:
                self._out += bytes(256)  # hostile: noise without end
            if self.bootloader is None and now >= self._silent_until:
                if now >= next_hb:
                    next_hb = now + 1.0
                    if len(self._out) < 4096:  # nobody reading: do not pile heartbeats up
                        self._queue(self.app.heartbeat())
                self._fill()
            budget = len(self._out)
            due = self._silent_until if now < self._silent_until else next_hb
            wait = max(0.001, min(due - now, 0.5))
            if rate is not None:
                # A UART: bytes leave at baud/10 per second, in small bursts.
                tokens = min(tokens + (now - last) * rate, 256.0)
                want = min(len(self._out), 64)
                budget = min(budget, int(tokens)) if tokens >= want else 0
                if self._out and not budget:
                    wait = min(wait, (want - tokens) / rate)
            elif self._out or self._pending is not None or self._requests:
                wait = min(wait, 0.05)
            last = now
            readable, writable, _ = select.select([fd], [fd] if budget else [], [], wait)
            if readable:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    data = b""
                self._received(data, time.monotonic())
            if writable and budget:
                try:
                    n = os.write(fd, self._out[:budget])
                except BlockingIOError:
                    n = 0
                del self._out[:n]
                tokens -= n


def run_fc(cfg: SimConfig, stdout: TextIO = sys.stdout) -> None:
    """Open a pty, print its path, serve until killed."""
    sim = SimFC(cfg)  # build everything first: the printed path means "ready"
    serve_on_pty(sim, stdout)
