"""ADB over USB (``adb://SERIAL``): find the device's adb interface, claim it, move messages over its bulk endpoints.

No adb server: the dock talks to the device's adbd through libusb, via
pyusb, which is imported only here and only when a USB target is opened
(``adb+tcp://`` never loads it).

Primary sources, aosp-mirror/platform_system_core at commit 5cf7868b7 (before
adb moved to packages/modules/adb): ``adb/client/usb_libusb.cpp``
(``process_device``, ``should_perform_zero_transfer``, ``usb_read``/``usb_write``),
``adb/transport_usb.cpp`` (``UsbReadMessage``, ``UsbReadPayload``,
``UsbConnection::Write``), ``adb/daemon/usb.cpp`` (``ProcessRead``, the
device's 16 KiB writes) and ``adb/daemon/usb_legacy.cpp`` ("the host *does*
send a zero packet for the device to read"). What they say, in our words:

* **Which device.** An adb interface is class 0xFF, subclass 0x42, protocol
  0x01, with one alternate setting and a bulk IN and a bulk OUT endpoint; the
  device is named by its ``iSerialNumber`` string (what ``adb devices`` lists).
  When the dock may not open the device, the serial number is read from sysfs
  instead (as adb does on Linux), so a permission problem is reported as one.
* **Writing.** Every message is two bulk transfers: the 24-byte header alone,
  then the payload (adbd's reader insists that a header arrives alone). A
  transfer whose length is a multiple of the OUT endpoint's packet size is
  followed by a zero-length packet: adbd's reads are larger than one packet
  and end only at a short packet, so without it the device would wait and run
  the next message into this one.
* **Reading.** The device sends no zero-length packets: a transfer ends at a
  short packet or when the dock's buffer is full. So the dock asks for the
  header with a one-packet buffer, and for the payload with the bytes still due
  rounded up to whole packets (never more: a larger buffer would run into the
  next header), at most 64 KiB per bulk read; a transfer bringing more bytes
  than were due breaks the framing and ends the connection.

The largest payload is negotiated in CNXN as on TCP
(:mod:`attest.transports.adb.connection`); this link reads at most what the
connection asks for, in bounded reads, each with a timeout of at least 1 ms
(libusb takes 0 as "wait forever"). Bytes the device still had queued from an
earlier session are drained (bounded) before the dock speaks.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from attest.errors import TransportError
from attest.transports.adb.link import LinkTimeoutError

__all__ = ["ADB_CLASS", "ADB_PROTOCOL", "ADB_SUBCLASS", "UDEV_RULE", "UsbLink"]

#: The adb interface (adb.h ``ADB_CLASS``, ``ADB_SUBCLASS``, ``ADB_PROTOCOL``).
ADB_CLASS = 0xFF
ADB_SUBCLASS = 0x42
ADB_PROTOCOL = 0x01
#: A udev rule giving group plugdev the device node of anything with an adb interface (docs/android.md).
UDEV_RULE = (
    'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ENV{ID_USB_INTERFACES}=="*:ff4201:*", MODE="0660", GROUP="plugdev"'
)
#: The most one bulk read asks for (a multiple of every bulk packet size: 8 ... 64, 512, 1024).
READ_CHUNK = 64 * 1024
#: Before the dock speaks: how long the device must be silent, and the most stale bytes it may send.
_DRAIN_QUIET = 0.1
_DRAIN_MAX = 4 * 1024 * 1024
_SYSFS_DEVICES = "/sys/bus/usb/devices"
_BULK = 0x02
_DIR_IN = 0x80


def _usb() -> tuple[Any, Any]:
    """The modules ``usb.core`` and ``usb.util`` of pyusb, imported on first use."""
    try:
        import usb.core
        import usb.util
    except ImportError as e:
        raise TransportError("ADB over USB needs pyusb (a dependency of drone-attest: pip install pyusb)") from e
    return usb.core, usb.util


@dataclass(frozen=True)
class _Candidate:
    """A device with an adb interface (from its descriptors; nothing opened yet)."""

    device: Any
    interface: int
    ep_in: int
    ep_out: int
    in_packet: int
    out_packet: int

    @property
    def where(self) -> str:
        """``USB 1-2.4 (18d1:4ee7)``: the bus and port path, and the ids."""
        ports = ".".join(str(p) for p in (getattr(self.device, "port_numbers", None) or ()))
        path = f"{self.device.bus}-{ports}" if ports else f"bus {self.device.bus} address {self.device.address}"
        return f"USB {path} ({self.device.idVendor:04x}:{self.device.idProduct:04x})"

    @property
    def node(self) -> str:
        """The device node the dock's user must be allowed to open."""
        return f"/dev/bus/usb/{self.device.bus:03d}/{self.device.address:03d}"


def _adb_interface(device: Any, configs: Iterable[Any] | None = None) -> _Candidate | None:
    """The first adb interface with bulk endpoints both ways, like adb's ``process_device``.

    ``configs``: the configurations to look in (default: all of ``device``'s; reading which one is
    active needs the device opened, so :meth:`UsbLink._claim` looks again in the active one).
    """
    for config in device if configs is None else configs:
        alternates: dict[int, int] = {}
        for intf in config:
            alternates[intf.bInterfaceNumber] = alternates.get(intf.bInterfaceNumber, 0) + 1
        for intf in config:
            if alternates[intf.bInterfaceNumber] != 1:
                continue  # adb interfaces have one setting; adb skips the others too
            if (intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol) != (
                ADB_CLASS,
                ADB_SUBCLASS,
                ADB_PROTOCOL,
            ):
                continue
            ep_in = ep_out = None
            for ep in intf:
                if ep.bmAttributes & 0x03 != _BULK:
                    continue
                size = ep.wMaxPacketSize & 0x7FF
                if ep.bEndpointAddress & _DIR_IN:
                    ep_in = ep_in or (ep.bEndpointAddress, size)
                else:
                    ep_out = ep_out or (ep.bEndpointAddress, size)
            if ep_in and ep_out and ep_in[1] and ep_out[1]:
                return _Candidate(device, intf.bInterfaceNumber, ep_in[0], ep_out[0], ep_in[1], ep_out[1])
    return None


def _serial(device: Any) -> str | None:
    """The device's ``iSerialNumber`` string; from sysfs when it cannot be opened; ``None`` if neither works."""
    try:
        serial = device.serial_number
    except (ValueError, OSError):  # pyusb: ValueError "no langid (permission issue ...)"; USBError is an OSError
        serial = None
    if isinstance(serial, str) and serial:
        return serial
    ports = getattr(device, "port_numbers", None)
    if not ports:
        return None
    path = os.path.join(_SYSFS_DEVICES, f"{device.bus}-{'.'.join(str(p) for p in ports)}", "serial")
    try:
        with open(path, "rb") as f:
            text = f.read(256).decode("ascii", "replace").strip()
    except OSError:
        return None
    return text or None


def _permission_error(label: str, cand: _Candidate) -> TransportError:
    return TransportError(
        f"{label}: permission denied opening {cand.node}, the controller's USB device {cand.where}. "
        f"Let the dock's user open it with a udev rule, e.g. /etc/udev/rules.d/70-attest-adb.rules: {UDEV_RULE} "
        "(and the dock's user in group plugdev); then 'udevadm control --reload', and unplug and replug the "
        'controller (docs/android.md, "Over USB")'
    )


def _find(serial: str, devices: Iterable[Any], label: str) -> _Candidate:
    """The one device with an adb interface and serial number ``serial``.

    Raises:
        TransportError: none (naming the ADB devices present, and any whose serial could not be read), or several.
    """
    matches: list[_Candidate] = []
    others: list[str] = []
    unreadable: list[_Candidate] = []
    for device in devices:
        cand = _adb_interface(device)
        if cand is None:
            continue
        found = _serial(device)
        if found is None:
            unreadable.append(cand)
        elif found == serial:
            matches.append(cand)
        else:
            others.append(found)
    if len(matches) > 1:
        raise TransportError(
            f"{label}: {len(matches)} ADB devices report the serial number {serial!r}: "
            f"{', '.join(c.where for c in matches)}; unplug all but one"
        )
    if matches:
        return matches[0]
    msg = f"{label}: no Android device with USB serial number {serial!r} and USB debugging on is connected"
    if others:
        msg += f" (ADB devices present: {', '.join(repr(o[:64]) for o in sorted(others))})"
    if unreadable:
        msg += (
            f"; the serial number of {', '.join(c.where for c in unreadable)} could not be read: "
            f"probably the dock's user may not open it. Allow it with a udev rule, e.g. {UDEV_RULE} "
            '(docs/android.md, "Over USB")'
        )
    else:
        msg += ": connect it and enable Developer options > USB debugging"
    raise TransportError(msg)


def _ms(deadline: float) -> int | None:
    """Milliseconds left before ``deadline`` (at least 1: libusb reads 0 as no timeout), ``None`` once passed."""
    remaining = deadline - time.monotonic()
    return max(1, math.ceil(remaining * 1000)) if remaining > 0 else None


class UsbLink:
    """A claimed adb interface: message-framed bulk writes, deadline-bounded exact reads.

    Use :meth:`open`, which finds the device (a pyusb ``Device``) and its interface, then builds this.
    """

    def __init__(self, device: Any, candidate: _Candidate, *, label: str) -> None:
        self.label = label
        self._dev = device
        self._use(candidate)
        self._claimed = False
        self._reattach = False
        self._closed = False
        core, self._util = _usb()
        # pyusb raises ValueError too (an endpoint it does not know): a USB failure all the same.
        self._usb_error: tuple[type[Exception], ...] = (core.USBError, ValueError)
        self._usb_timeout: type[Exception] = core.USBTimeoutError

    def _use(self, candidate: _Candidate) -> None:
        self._cand = candidate
        # Bulk reads of whole packets, at most READ_CHUNK bytes.
        self._chunk = max(candidate.in_packet, READ_CHUNK // candidate.in_packet * candidate.in_packet)

    @classmethod
    def open(cls, serial: str, *, timeout: float, label: str) -> UsbLink:
        """Find the device whose USB serial number is ``serial``, claim its adb interface, drain stale data.

        Raises:
            TransportError: pyusb or libusb missing, no such device or several, permission denied
                (the message gives the udev rule), the interface busy (an adb server?), or a USB failure.
        """
        core, _ = _usb()
        # libusb-1.0 itself, never pyusb's fallbacks (openusb, libusb-0.1): the one backend that
        # reports and detaches kernel drivers, and the one the docs and system-deps install.
        from usb.backend import libusb1

        backend = libusb1.get_backend()
        if backend is None:
            raise TransportError(f"{label}: libusb-1.0 is not installed (Debian: apt-get install libusb-1.0-0)")
        try:
            devices = list(core.find(find_all=True, backend=backend))
        except core.USBError as e:
            raise TransportError(f"{label}: cannot list USB devices: {e}") from e
        cand = _find(serial, devices, label)
        link = cls(cand.device, cand, label=label)
        try:
            link._claim()
            link._drain(time.monotonic() + timeout)
        except BaseException:
            link.close()
            raise
        return link

    # -- opening -----------------------------------------------------------------------------

    def _fail(self, e: Exception, doing: str) -> TransportError:
        """``e`` (a pyusb error) as a TransportError that says what the dock was doing."""
        code = getattr(e, "errno", None)
        if code == errno.EACCES:
            return _permission_error(self.label, self._cand)
        if code == errno.EBUSY:
            return TransportError(
                f"{self.label}: another program holds the controller's ADB interface ({self._cand.where}); "
                "is an adb server running? Stop it with 'adb kill-server'"
            )
        if code == errno.ENODEV:
            return TransportError(f"{self.label}: the controller was disconnected while the dock was {doing}")
        if code == errno.EPIPE:
            return TransportError(f"{self.label}: the controller stalled its USB endpoint while the dock was {doing}")
        if code == errno.EOVERFLOW:
            return TransportError(
                f"{self.label}: the controller sent more than the dock asked for while it was {doing} "
                "(not ADB-over-USB framing)"
            )
        return TransportError(f"{self.label}: USB failure while the dock was {doing}: {e}")

    def _claim(self) -> None:
        cand, dev = self._cand, self._dev
        try:
            # adb uses the interface of the active configuration only: another configuration's
            # interface number may name something else here (a mass-storage interface, say).
            active = _adb_interface(dev, [dev.get_active_configuration()])
            if active is None:
                raise TransportError(
                    f"{self.label}: the ADB interface of {cand.where} is not in its active USB configuration"
                )
            self._use(active)
            cand = active
            if dev.is_kernel_driver_active(cand.interface):
                dev.detach_kernel_driver(cand.interface)
                self._reattach = True
            self._util.claim_interface(dev, cand.interface)
            self._claimed = True
            # As adb does after claiming: a halt left by an earlier session would stall the first transfer.
            for ep in (cand.ep_in, cand.ep_out):
                dev.clear_halt(ep)
        except self._usb_error as e:
            raise self._fail(e, "opening its ADB interface") from e

    def _drain(self, deadline: float) -> None:
        """Discard what the device still had queued for an earlier session (it would break the framing)."""
        drained = 0
        while True:
            ms = _ms(min(deadline, time.monotonic() + _DRAIN_QUIET))
            if ms is None:  # never quiet for _DRAIN_QUIET: what it sends would break the framing
                raise TransportError(f"{self.label}: the controller keeps sending before the dock has spoken")
            try:
                data = self._dev.read(self._cand.ep_in, READ_CHUNK, ms)
            except self._usb_timeout:
                return  # quiet: nothing stale
            except self._usb_error as e:
                raise self._fail(e, "clearing stale data") from e
            drained += len(data)
            if drained > _DRAIN_MAX:
                raise TransportError(f"{self.label}: the controller keeps sending before the dock has spoken")

    # -- messages ----------------------------------------------------------------------------

    def send(self, header: bytes, payload: bytes, *, deadline: float, what: str) -> None:
        """Send the header and then the payload as separate bulk transfers, each ended as adbd needs.

        Raises:
            TransportError: the deadline passed, or a USB failure.
        """
        self._transfer_out(header, deadline, what)
        if payload:
            self._transfer_out(payload, deadline, what)

    def _transfer_out(self, data: bytes, deadline: float, what: str) -> None:
        ms = _ms(deadline)
        if ms is None:
            raise TransportError(f"{self.label}: timed out sending {what}")
        try:
            written = self._dev.write(self._cand.ep_out, data, ms)
            if written != len(data):
                raise TransportError(f"{self.label}: the controller took {written} of {len(data)} bytes of {what}")
            if len(data) % self._cand.out_packet == 0:
                # A zero-length packet ends a transfer of whole packets (should_perform_zero_transfer).
                self._dev.write(self._cand.ep_out, b"", _ms(deadline) or 1)
        except self._usb_timeout as e:
            raise TransportError(f"{self.label}: timed out sending {what} (the device stopped reading)") from e
        except self._usb_error as e:
            raise self._fail(e, f"sending {what}") from e

    def recv_exact(self, n: int, *, deadline: float, what: str) -> bytes:
        """Exactly ``n`` bytes (a header, or one payload) in bulk reads of whole packets, before ``deadline``.

        Raises:
            LinkTimeoutError: the deadline passed.
            TransportError: a USB failure, or a transfer with more bytes than were due.
        """
        buf = bytearray()
        packet = self._cand.in_packet
        while len(buf) < n:
            due = n - len(buf)
            size = min(-(-due // packet) * packet, self._chunk)
            ms = _ms(deadline)
            if ms is None:
                raise LinkTimeoutError(f"{self.label}: timed out waiting for {what}")
            try:
                data = self._dev.read(self._cand.ep_in, size, ms)
            except self._usb_timeout as e:
                raise LinkTimeoutError(f"{self.label}: timed out waiting for {what}") from e
            except self._usb_error as e:
                raise self._fail(e, f"waiting for {what}") from e
            if len(data) > due:
                raise TransportError(
                    f"{self.label}: the controller sent {len(data)} bytes in one USB transfer where {due} "
                    f"were due for {what} (not ADB-over-USB framing)"
                )
            if len(data) < min(size, due) and (data or buf):
                # A short packet (or a zero-length one) ended the device's transfer before the bytes
                # the header promised: adb reads a header and a payload as one transfer each, and so
                # must we, or the next message's bytes would fill this one.
                raise TransportError(
                    f"{self.label}: the controller ended a USB transfer after {len(buf) + len(data)} of the "
                    f"{n} bytes due for {what} (not ADB-over-USB framing)"
                )
            buf += bytes(data)  # a zero-length packet before a message (ending the last one) is no progress
        return bytes(buf)

    def close(self) -> None:
        """Release the interface, give back a kernel driver it had, free the device (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # A vanished device cannot be released or freed (libusb says so with a USBError): nothing is left to do.
        if self._claimed:
            with contextlib.suppress(*self._usb_error):
                self._util.release_interface(self._dev, self._cand.interface)
        if self._reattach:  # even when the release failed: the kernel driver is the device's, not ours
            with contextlib.suppress(*self._usb_error):
                self._dev.attach_kernel_driver(self._cand.interface)
        with contextlib.suppress(*self._usb_error):
            self._util.dispose_resources(self._dev)
