"""USB facts of a serial port or network interface, read from sysfs.

A USB serial port ``/dev/ttyACM0`` is ``SYSFS/class/tty/ttyACM0``; its
``device`` link points at the USB *interface* (``1-1:1.0``), whose parent
directory is the USB *device* with ``idVendor``, ``idProduct`` and ``serial``
(the iSerialNumber string; ArduPilot and PX4 boards report the MCU's unique
id there). A USB network link (``cdc_ether``, ``rndis_host``) is
``SYSFS/class/net/usb0`` the same way.

Every read is bounded and nothing is followed outside ``SYSFS``. A port that
is not USB (a pty, ``ttyS0``) simply has no USB facts: :func:`tty_usb`
returns ``None``, and recognising the drone falls back to fixed ``device``
entries. The serial number is a claim of the device's USB firmware, not
proof: the dock checks identity again against what the device reports over
MAVLink, SSH, ADB or DUML (the baseline's device selector). A DJI aircraft's
tty found here becomes its ``dji://`` target in :mod:`attest.dock.recognition`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["UsbInfo", "find_ttys", "net_usb", "tty_name", "tty_usb"]

#: USB string descriptors are at most 126 UTF-16 characters; sysfs attribute files are one page.
_MAX_ATTR = 4096
#: How many directories up from an interface a USB device may be (hubs add none: the device is the parent).
_MAX_UP = 4
_HEX4 = re.compile(r"[0-9a-f]{4}")


@dataclass(frozen=True)
class UsbInfo:
    """What sysfs says about the USB device behind a port.

    Attributes:
        vendor: ``idVendor``, 4 lowercase hex digits.
        product: ``idProduct``, 4 lowercase hex digits.
        serial: the iSerialNumber string, or ``None`` when the device has none.
        manufacturer: the manufacturer string, or ``None``.
        product_name: the product string, or ``None``.
        driver: the interface's driver (``cdc_acm``, ``cdc_ether``, ...), or ``None``.
        syspath: the USB device's sysfs directory.
    """

    vendor: str
    product: str
    serial: str | None
    manufacturer: str | None
    product_name: str | None
    driver: str | None
    syspath: Path

    @property
    def id(self) -> str:
        """``vendor:product``, as lsusb and udev write it."""
        return f"{self.vendor}:{self.product}"

    def describe(self) -> str:
        """``USB 1209:5741 serial 3A00…`` for messages."""
        return f"USB {self.id} serial {self.serial or '(none)'}"


def _attr(directory: Path, name: str) -> str | None:
    """One sysfs attribute, stripped; ``None`` when absent or unreadable."""
    try:
        fd = os.open(directory / name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.read(fd, _MAX_ATTR)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace").strip()
    return text or None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _usb_device(link: Path, sysfs: Path) -> UsbInfo | None:
    """The USB device above the interface that ``link`` (a ``device`` symlink) points at."""
    try:
        interface = link.resolve(strict=True)
        root = sysfs.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not _inside(interface, root):
        return None
    driver_link = interface / "driver"
    driver = driver_link.resolve().name if driver_link.is_symlink() else None
    here = interface
    for _ in range(_MAX_UP + 1):
        vendor, product = _attr(here, "idVendor"), _attr(here, "idProduct")
        if vendor is not None and product is not None:
            if not (_HEX4.fullmatch(vendor.lower()) and _HEX4.fullmatch(product.lower())):
                return None
            return UsbInfo(
                vendor=vendor.lower(),
                product=product.lower(),
                serial=_attr(here, "serial"),
                manufacturer=_attr(here, "manufacturer"),
                product_name=_attr(here, "product"),
                driver=driver,
                syspath=here,
            )
        if here.parent == here or not _inside(here.parent, root):
            return None
        here = here.parent
    return None


def tty_name(device: str, sysfs: Path) -> str | None:
    """The kernel name (``ttyACM0``) of a tty path, as sysfs knows it, or ``None``.

    The path's own name is tried first (``/dev/ttyACM0``), then the name it
    resolves to (``/dev/serial/by-id/usb-…-if00`` -> ``ttyACM0``).
    """
    for name in (os.path.basename(device), os.path.basename(os.path.realpath(device))):
        if name and (sysfs / "class" / "tty" / name).exists():
            return name
    return None


def tty_usb(device: str, sysfs: Path) -> UsbInfo | None:
    """The USB device behind the tty ``device``, or ``None`` (not USB, or not in sysfs)."""
    name = tty_name(device, sysfs)
    if name is None:
        return None
    return _usb_device(sysfs / "class" / "tty" / name / "device", sysfs)


def net_usb(interface: str, sysfs: Path) -> UsbInfo | None:
    """The USB device behind the network interface ``interface`` (``usb0``), or ``None``."""
    if not interface or "/" in interface or interface in (".", ".."):
        return None
    return _usb_device(sysfs / "class" / "net" / interface / "device", sysfs)


def find_ttys(serial: str, sysfs: Path) -> list[str]:
    """Kernel names of every tty whose USB device reports ``serial``, sorted (``ttyACM0`` before ``ttyACM1``).

    A flight controller with two USB interfaces (ArduPilot's dual CDC: MAVLink
    and SLCAN) has two ttys; the first is its MAVLink port.
    """
    base = sysfs / "class" / "tty"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for name in names:
        link = base / name / "device"
        if not link.is_symlink():
            continue
        info = _usb_device(link, sysfs)
        if info is not None and info.serial == serial:
            found.append(name)
    return found
