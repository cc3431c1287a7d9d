"""Transports: bytes to and from a device (serial ports and pyserial URLs here; SSH in :mod:`attest.transports.ssh`).

:class:`Budget` bounds one long transfer on any of them: a time limit plus a minimum average rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest.lazy import lazy_exports
from attest.transports.budget import Budget

if TYPE_CHECKING:
    from attest.transports.serialport import SerialTransport

__all__ = ["Budget", "SerialTransport"]

# Lazy: importing attest.transports.ssh must not load pyserial, nor the reverse.
__getattr__ = lazy_exports(__name__, {"SerialTransport": "attest.transports.serialport"})
