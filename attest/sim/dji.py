"""``attest sim dji``: a simulated DJI aircraft speaking DUML v1 on a new pseudo-terminal.

It opens a pty, prints the slave's path (``/dev/pts/N``) alone on the first
line of stdout, and serves until killed: every module of the aircraft
(:func:`default_modules`: flight controller, gimbal, camera, four ESCs,
battery, radio link, vision) answers the general version inquiry (command set
0x00, id 0x01) addressed to it with its hardware text, loader and firmware
versions, in the reply layouts of 30, 31 and 34 bytes; the flight controller
pushes telemetry to the app ten times a second, as a real bus carries
traffic that is not for the dock.

Faults (:class:`DjiFaults`), each for the robustness tests: random garbage
between frames, bit flips (bad CRCs), dropped and truncated frames, silent
modules, a module that answers requests addressed to another, a module
that answers every request twice with different versions, a flood of
unrelated and foreign frames (including version replies to the app that
carry other versions), a bus where every address answers, answers dripped
one at a time, and a line that goes dead after N frames. A seeded generator
makes every run repeatable.

Single-threaded: one ``select`` loop reads requests and writes answers.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from attest.duml import (
    MAGIC,
    VERSION_CMD_ID,
    VERSION_CMD_SET,
    Address,
    Deframer,
    Frame,
    encode,
    parse_version,
    version_reply_payload,
)
from attest.sim.serial_line import mangle, serve_on_pty

__all__ = ["DjiFaults", "DjiSimConfig", "SimModule", "default_modules", "run_dji"]

#: Output queued ahead of the line at most.
_HIGH_WATER = 16384
_APP = Address(2, 0)
_FC = Address(3, 0)
#: Telemetry pushes per second (OSD general data, flight-controller command set 0x03, id 0x43).
_PUSH_RATE = 10.0


@dataclass(frozen=True)
class SimModule:
    """One simulated module: what it reports."""

    hardware: str
    loader: int
    firmware: int
    tail: bytes = b""

    def payload(self) -> bytes:
        """Its version reply payload."""
        return version_reply_payload(self.hardware, self.loader, self.firmware, tail=self.tail)


def default_modules(model: str = "SIMAIR FC") -> dict[Address, SimModule]:
    """The simulated aircraft's modules; ``model`` is the flight controller's hardware text."""
    v = parse_version
    mods = {
        _FC: SimModule(model, v("01.00.00.07"), v("03.02.44.07"), b"\x01\0\0\0"),
        Address(4, 0): SimModule("SIMAIR GMB", v("01.00.00.02"), v("01.04.00.20")),
        Address(1, 0): SimModule("SIMAIR CAM", v("01.00.00.03"), v("01.07.00.30"), b"\x01"),
        Address(11, 0): SimModule("SIMAIR BAT", v("01.00.00.01"), v("01.01.00.05")),
        Address(9, 0): SimModule("SIMAIR LB", v("01.00.00.04"), v("01.00.01.02")),
        Address(18, 0): SimModule("SIMAIR VPS", v("01.00.00.01"), v("01.02.00.07")),
    }
    for i in range(4):
        mods[Address(12, i)] = SimModule("SIMAIR ESC", v("01.00.00.01"), v("01.00.00.12"))
    return mods


@dataclass(frozen=True)
class DjiFaults:
    """Which faults to inject (line probabilities are per frame)."""

    garbage: float = 0.0
    corrupt: float = 0.0
    drop: float = 0.0
    truncate: float = 0.0
    silent: frozenset[Address] = frozenset()
    #: addressed module -> the module that answers in its place (as well)
    answer_for: dict[Address, Address] = field(default_factory=dict)
    inconsistent: frozenset[Address] = frozenset()
    chatter: bool = False
    answer_everything: bool = False
    drip: float = 0.0
    stall_after: int | None = None
    seed: int = 1


@dataclass
class DjiSimConfig:
    """Everything ``attest sim dji`` can be told."""

    modules: dict[Address, SimModule] = field(default_factory=default_modules)
    faults: DjiFaults = field(default_factory=DjiFaults)


class SimDji:
    """The simulated aircraft; :meth:`serve` runs it on an open pty master."""

    def __init__(self, cfg: DjiSimConfig) -> None:
        self.cfg = cfg
        self.f = cfg.faults
        self._rng = random.Random(self.f.seed)  # noqa: S311 (repeatable test noise, not secrets)
        self._deframer = Deframer()
        self._out = bytearray()
        self._answers: deque[bytes] = deque()
        self._next_drip = 0.0
        self._sent = 0
        self._push_seq = 0

    def _module(self, addr: Address) -> SimModule | None:
        if addr in self.f.silent:
            return None
        mod = self.cfg.modules.get(addr)
        if mod is None and self.f.answer_everything and addr.type not in (0, 2, 10):
            mod = SimModule(f"FAKE {addr.type}", 0x01000000, 0x01000000 | addr.index)
        return mod

    def _reply(self, sender: Address, request: Frame, payload: bytes) -> bytes:
        return encode(
            sender, request.sender, seq=request.seq, cmd_set=request.cmd_set, cmd_id=request.cmd_id,
            payload=payload, reply=True,
        )  # fmt: skip

    def answers(self, request: Frame) -> list[bytes]:
        """The frames the bus sends back for ``request``."""
        if request.reply or request.cmd_set != VERSION_CMD_SET or request.cmd_id != VERSION_CMD_ID:
            return []
        out: list[bytes] = []
        addr = request.receiver
        mod = self._module(addr)
        if mod is not None:
            out.append(self._reply(addr, request, mod.payload()))
            if addr in self.f.inconsistent:
                newer = SimModule(mod.hardware, mod.loader, mod.firmware + 1, mod.tail)
                out.append(self._reply(addr, request, newer.payload()))
        impostor = self.f.answer_for.get(addr)
        if impostor is not None and (imp := self.cfg.modules.get(impostor)) is not None:
            out.append(self._reply(impostor, request, imp.payload()))
        return out

    def _line(self, frame: bytes) -> bytes:
        """The bytes the faulty line carries for ``frame``."""
        f, rng = self.f, self._rng
        out = b""
        if f.garbage and rng.random() < f.garbage:
            junk = bytearray(rng.randbytes(rng.randint(1, 40)))
            for _ in range(rng.randint(0, 3)):  # false start bytes make the noise hard
                junk[rng.randrange(len(junk))] = MAGIC
            out += bytes(junk)
        body = mangle(frame, rng, drop=f.drop, corrupt=f.corrupt, truncate=f.truncate)
        return out if body is None else out + body

    def _queue(self, frame: bytes) -> None:
        if self.f.stall_after is not None and self._sent >= self.f.stall_after:
            return  # stalled: the line is dead from now on
        self._sent += 1
        self._out += self._line(frame)

    def _push(self) -> None:
        """Telemetry for the app: traffic the dock must ignore."""
        self._push_seq = (self._push_seq + 1) & 0xFFFF
        payload = self._rng.randbytes(48)
        self._queue(encode(_FC, _APP, seq=self._push_seq, cmd_set=0x03, cmd_id=0x43, payload=payload))

    def _chatter(self) -> None:
        """A flood: pushes, the app's version requests and their replies, with other versions (foreign traffic)."""
        rng = self._rng
        for addr, mod in list(self.cfg.modules.items())[:4]:
            liar = SimModule(mod.hardware, mod.loader, mod.firmware ^ 0x00010000, mod.tail).payload()
            seq = rng.randrange(0x10000)
            self._queue(encode(addr, _APP, seq=seq, cmd_set=VERSION_CMD_SET, cmd_id=VERSION_CMD_ID, payload=liar,
                               reply=True))  # fmt: skip
            self._queue(encode(_APP, addr, seq=seq, cmd_set=VERSION_CMD_SET, cmd_id=VERSION_CMD_ID))
        self._push()

    def received(self, data: bytes) -> None:
        """Take bytes from the dock."""
        for request in self._deframer.feed(data):
            self._answers.extend(self.answers(request))

    def fill(self, now: float) -> None:
        """Move answers into the output buffer (one per drip interval when dripping)."""
        while self._answers and len(self._out) < _HIGH_WATER:
            if self.f.drip:
                if now < self._next_drip:
                    return
                self._next_drip = now + self.f.drip
                self._queue(self._answers.popleft())
                return
            self._queue(self._answers.popleft())

    def serve(self, fd: int) -> None:
        """Serve on pty master ``fd`` forever."""
        os.set_blocking(fd, False)
        next_push = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_push:
                next_push = now + 1 / _PUSH_RATE
                if len(self._out) < 4096:  # nobody reading: do not pile pushes up
                    self._push()
            if self.f.chatter and len(self._out) < 4096:
                self._chatter()
            self.fill(now)
            wait = max(0.001, min(next_push - now, 0.05))
            if self._answers and self.f.drip:
                wait = min(wait, max(0.001, self._next_drip - now))
            readable, writable, _ = select.select([fd], [fd] if self._out else [], [], wait)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    self.received(os.read(fd, 65536))
            if writable and self._out:
                try:
                    n = os.write(fd, self._out)
                except BlockingIOError:
                    n = 0
                del self._out[:n]


def run_dji(cfg: DjiSimConfig, stdout: TextIO = sys.stdout) -> None:
    """Open a pty, print its path, serve until killed."""
    sim = SimDji(cfg)  # build everything first: the printed path means "ready"
    serve_on_pty(sim, stdout)
