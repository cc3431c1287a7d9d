"""What the simulators on a pty share: serving on a new pty, and how a noisy line mangles a frame.

The flight controller (:mod:`attest.sim.fc`) and the DJI aircraft
(:mod:`attest.sim.dji`) each speak their own protocol; the pty they are
reached on and the line faults they can be given (drop, flip a bit, cut
short) are the same.
"""

from __future__ import annotations

import os
import random
import tty
from typing import Protocol, TextIO

__all__ = ["mangle", "serve_on_pty"]


class _Serves(Protocol):
    def serve(self, fd: int) -> None: ...


def serve_on_pty(sim: _Serves, stdout: TextIO) -> None:
    """Open a raw pty, print its path alone on a line of ``stdout``, and serve ``sim`` on it until killed.

    Build ``sim`` completely first: the printed path tells the caller it is ready.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    stdout.write(os.ttyname(slave) + "\n")
    stdout.flush()
    try:
        sim.serve(master)
    finally:
        os.close(slave)
        os.close(master)


def mangle(frame: bytes, rng: random.Random, *, drop: float, corrupt: float, truncate: float) -> bytes | None:
    """``frame`` as a noisy line delivers it: ``None`` when dropped, else perhaps one bit flipped, perhaps cut short.

    Each argument is a probability; ``rng`` is drawn from only for the faults that are on.
    """
    if drop and rng.random() < drop:
        return None
    if corrupt and rng.random() < corrupt:
        b = bytearray(frame)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        frame = bytes(b)
    if truncate and rng.random() < truncate:
        frame = frame[: rng.randrange(1, len(frame))]
    return frame
