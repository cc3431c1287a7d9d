"""The flight-controller collector: MAVLink identity, parameters, FTP files and flash, and the bootloader.

``collector`` runs the steps; ``measure`` turns a live link's parameters,
files and flash into components; ``bootloader`` does the same for what the
serial bootloader serves. Loaded by name when a serial or ``socket://``
target is used (:func:`from_target`).
"""

from attest.collectors.mavlink.collector import MavlinkCollector, from_target

__all__ = ["MavlinkCollector", "from_target"]
