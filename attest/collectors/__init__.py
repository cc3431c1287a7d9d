"""Collectors: what to read on each kind of device, and how.

A collector turns a reachable device into :class:`~attest.model.Evidence`.
Its settings (what to select, which options) come from the baseline's
``collection`` object, so that ``attest verify`` measures exactly what
``attest baseline create`` measured; each collector owns that object's shape.

The transport-specific collectors (``mavlink``, ``ssh``) are subpackages,
imported only by :func:`open_collector` when a target of their kind is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest.collectors.base import Collector
from attest.collectors.dispatch import open_collector
from attest.lazy import lazy_exports

if TYPE_CHECKING:
    from attest.collectors.directory import DirectoryCollector
    from attest.collectors.firmware_image import FirmwareImageCollector

__all__ = ["Collector", "DirectoryCollector", "FirmwareImageCollector", "open_collector"]

__getattr__ = lazy_exports(
    __name__,
    {
        "DirectoryCollector": "attest.collectors.directory",
        "FirmwareImageCollector": "attest.collectors.firmware_image",
    },
)
