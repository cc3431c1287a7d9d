"""A hard bound on one long transfer: a grace period, then a floor rate of progress.

Used by the MAVLink FTP reader and parameter read, and by the serial
bootloader's READ_MULTI (:mod:`attest.firmware.bootloader`): nothing in it is
MAVLink-specific.
"""

from __future__ import annotations

import time

from attest.errors import TransportError

__all__ = ["Budget"]


class Budget:
    """A hard bound on one long transfer: ``grace`` seconds, plus one second per ``floor`` units received.

    Each wait inside a transfer is bounded by the link timeout, which stops a
    device that goes silent. This stops one that keeps a transfer alive by
    dribbling (one new block or parameter just inside every timeout): after
    the first ``grace`` seconds the transfer must average at least ``floor``
    units per second, or :meth:`check` raises.

    Args:
        grace: seconds allowed before anything must have arrived (the link timeout).
        floor: the slowest average rate accepted, in units per second.
        what: the transfer, for the error message (``"FTP read of '@PARAM/param.pck'"``).
        unit: the unit counted in :attr:`done` (``"bytes"``).
        target: the device, for the error message.
    """

    def __init__(self, grace: float, floor: float, *, what: str, unit: str, target: str) -> None:
        self.start = time.monotonic()
        self.grace = grace
        self.floor = floor
        self.what = what
        self.unit = unit
        self.target = target
        #: Units received so far (the caller counts only new ones).
        self.done = 0

    @property
    def deadline(self) -> float:
        """The monotonic time by which more must have arrived."""
        return self.start + self.grace + self.done / self.floor

    def check(self) -> None:
        """Raise if the transfer fell below its floor rate.

        Raises:
            TransportError: naming the transfer, what arrived and the rate required.
        """
        now = time.monotonic()
        if now > self.deadline:
            raise TransportError(
                f"{self.target}: {self.what} too slow: {self.done} {self.unit} in {now - self.start:.1f} s "
                f"(at least {self.floor:g} {self.unit}/s are required after the first {self.grace:g} s)"
            )
