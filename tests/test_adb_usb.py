"""ADB over USB (``adb://SERIAL``): the whole collector over UsbLink, device selection, framing, faults.

No USB hardware here, so the fake stands exactly at the USB boundary: pyusb's
``usb.core.find`` and ``usb.util.claim_interface``/``release_interface``/
``dispose_resources`` are replaced, and the devices they hand out are
:class:`FakeUsbDevice` objects with pyusb's descriptor attributes and bulk
``read``/``write``. Behind its endpoints the fake is a real ``attest sim
android`` subprocess: it turns the simulator's TCP byte stream into what an
Android device puts on the bus (each header its own write, payloads as 16 KiB
writes, cut into packets of the endpoint's size, no zero-length packets), and
ends a host read as USB does (at a short packet or a full buffer; a packet that
does not fit is an overflow). It checks what the dock writes the way adbd's
reader needs it (a header alone in its transfer, a zero-length packet after a
transfer of whole packets) and records every violation.
"""

from __future__ import annotations

import array
import errno
import select
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import usb.core
import usb.util
from adb_fixture import AndroidSim, dock_key, sim_android  # noqa: F401 - fixtures

import attest.transports.adb.usb as adb_usb
from attest.collectors.adb import AdbCollector
from attest.errors import TransportError
from attest.model import Evidence
from attest.transports.adb import (
    A_CNXN,
    A_WRTE,
    HEADER,
    AdbConnection,
    AdbLimits,
    AdbTarget,
    DockAdbKey,
    LinkTimeoutError,
    UsbLink,
    encode_message,
)

SERIAL = "RCPRO0000001"  # the simulator's ro.serialno (and so the fake's iSerialNumber)
ADB = (0xFF, 0x42, 0x01)
EP_IN, EP_OUT = 0x81, 0x01
DEVICE_WRITE = 16 * 1024  # adbd's kUsbWriteSize: how the device writes a payload


# -- the fake USB device ------------------------------------------------------------------------------


@dataclass
class FakeEndpoint:
    bEndpointAddress: int  # noqa: N815 - pyusb's descriptor field names
    wMaxPacketSize: int  # noqa: N815
    bmAttributes: int = 0x02  # noqa: N815 - bulk


@dataclass
class FakeInterface:
    bInterfaceNumber: int  # noqa: N815
    klass: tuple[int, int, int]
    endpoints: list[FakeEndpoint]
    bAlternateSetting: int = 0  # noqa: N815

    @property
    def bInterfaceClass(self) -> int:  # noqa: N802
        return self.klass[0]

    @property
    def bInterfaceSubClass(self) -> int:  # noqa: N802
        return self.klass[1]

    @property
    def bInterfaceProtocol(self) -> int:  # noqa: N802
        return self.klass[2]

    def __iter__(self) -> Iterator[FakeEndpoint]:
        return iter(self.endpoints)


@dataclass
class FakeConfiguration:
    interfaces: list[FakeInterface]
    bConfigurationValue: int = 1  # noqa: N815

    def __iter__(self) -> Iterator[FakeInterface]:
        return iter(self.interfaces)


def adb_interface(number: int = 1, klass: tuple[int, int, int] = ADB, packet: int = 512) -> FakeInterface:
    return FakeInterface(number, klass, [FakeEndpoint(EP_IN, packet), FakeEndpoint(EP_OUT, packet)])


def mtp_interface() -> FakeInterface:
    return FakeInterface(0, (0x06, 0x01, 0x01), [FakeEndpoint(0x82, 512), FakeEndpoint(0x02, 512)])


@dataclass
class FakeUsbDevice:
    """A pyusb ``Device`` as far as the dock uses one; with ``sim``, adbd behind the endpoints is the simulator."""

    serial: str = SERIAL
    sim: str | None = None  # host:port of a running `attest sim android`
    packet: int = 512
    interfaces: list[FakeInterface] | None = None
    idVendor: int = 0x18D1  # noqa: N815
    idProduct: int = 0x4EE7  # noqa: N815
    bus: int = 1
    address: int = 5
    port_numbers: tuple[int, ...] = (2,)
    deny: bool = False  # the dock's user may not open the device node
    busy: bool = False  # another program (an adb server) claimed the interface
    kernel_driver: bool = False
    pipe_error: bool = False  # the IN endpoint is halted (EPIPE)
    violations: list[str] = field(default_factory=list)
    out_transfers: list[int] = field(default_factory=list)
    read_sizes: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.interfaces is None:
            self.interfaces = [mtp_interface(), adb_interface(packet=self.packet)]
        self.iSerialNumber = 3
        self._packets: deque[bytes] = deque()
        self._from_sim = bytearray()
        self._sock: socket.socket | None = None
        self._claimed: set[int] = set()
        self._out_due: int | None = None  # payload bytes still due for the current message; None: a header
        self._zlp_due = False

    # descriptors and control

    def __iter__(self) -> Iterator[FakeConfiguration]:
        assert self.interfaces is not None
        return iter([FakeConfiguration(self.interfaces)])

    @property
    def serial_number(self) -> str:
        if self.deny:  # what pyusb raises when it cannot open the device to read the string
            raise ValueError("The device has no langid (permission issue, no string descriptors supported or ...)")
        return self.serial

    def _open(self) -> None:
        if self.deny:
            raise usb.core.USBError("Access denied (insufficient permissions)", errno=errno.EACCES)

    def get_active_configuration(self) -> FakeConfiguration:
        self._open()
        return next(iter(self))

    def is_kernel_driver_active(self, number: int) -> bool:
        del number
        self._open()
        return self.kernel_driver

    def detach_kernel_driver(self, number: int) -> None:
        self.kernel_driver = False
        self.events.append(f"detach {number}")

    def attach_kernel_driver(self, number: int) -> None:
        self.kernel_driver = True
        self.events.append(f"attach {number}")

    def clear_halt(self, ep: int) -> None:
        self.events.append(f"clear_halt 0x{ep:02x}")

    def claim(self, number: int) -> None:
        self._open()
        if self.busy:
            raise usb.core.USBError("Resource busy", errno=errno.EBUSY)
        self._claimed.add(number)
        self.events.append(f"claim {number}")
        if self.sim and self._sock is None:
            host, _, port = self.sim.rpartition(":")
            self._sock = socket.create_connection((host, int(port)), timeout=5)

    def release(self, number: int) -> None:
        self._claimed.discard(number)
        self.events.append(f"release {number}")

    def dispose(self) -> None:
        self.events.append("dispose")
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # bulk transfers

    def _timeout_ok(self, timeout: Any) -> None:
        if not isinstance(timeout, int) or timeout < 1:
            self.violations.append(f"timeout {timeout!r}: libusb waits forever on 0")

    def write(self, ep: int, data: bytes, timeout: int) -> int:
        self._timeout_ok(timeout)
        if ep != EP_OUT or not self._claimed:
            self.violations.append(f"write to 0x{ep:02x} (claimed {self._claimed})")
        self.out_transfers.append(len(data))
        if self._zlp_due:
            self._zlp_due = False
            if data:
                self.violations.append("no zero-length packet after a transfer of whole packets")
                return len(data)  # adbd would run this into the previous transfer: the device is wedged
        if not data:
            return 0
        if self._out_due is None:
            if len(data) != HEADER.size:
                self.violations.append(f"a {len(data)}-byte transfer where adbd reads a header alone")
                return len(data)
            due = HEADER.unpack(data)[3]
            self._out_due = due or None
        else:
            if len(data) > self._out_due:
                self.violations.append("payload transfer longer than the header said")
            self._out_due -= len(data)
            if self._out_due <= 0:
                self._out_due = None
        self._zlp_due = len(data) % self.packet == 0
        if self._sock is not None:
            self._sock.sendall(data)
        return len(data)

    def inject(self, data: bytes) -> None:
        """Bytes on the IN pipe as adbd writes one message: header alone, payload in 16 KiB writes."""
        header, payload = data[: HEADER.size], data[HEADER.size :]
        writes = [header] + [payload[i : i + DEVICE_WRITE] for i in range(0, len(payload), DEVICE_WRITE)]
        for w in writes:
            self._packets.extend(w[i : i + self.packet] for i in range(0, len(w), self.packet))

    def _pump(self, deadline: float) -> bool:
        """Move whole messages from the simulator onto the IN pipe; False when nothing came before ``deadline``."""
        while True:
            while len(self._from_sim) >= HEADER.size:
                length = HEADER.unpack_from(self._from_sim)[3]
                if len(self._from_sim) < HEADER.size + length:
                    break
                self.inject(bytes(self._from_sim[: HEADER.size + length]))
                del self._from_sim[: HEADER.size + length]
            if self._packets:
                return True
            remaining = deadline - time.monotonic()
            if self._sock is None or remaining <= 0:
                if remaining > 0:
                    time.sleep(remaining)
                return False
            ready, _, _ = select.select([self._sock], [], [], remaining)
            if not ready:
                return False
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise usb.core.USBError("No such device (it may have been disconnected)", errno=errno.ENODEV)
            self._from_sim += chunk

    def read(self, ep: int, size: int, timeout: int) -> array.array[int]:
        self._timeout_ok(timeout)
        self.read_sizes.append(size)
        if ep != EP_IN or not self._claimed:
            self.violations.append(f"read from 0x{ep:02x} (claimed {self._claimed})")
        if self.pipe_error:
            raise usb.core.USBError("Pipe error", errno=errno.EPIPE)
        deadline = time.monotonic() + timeout / 1000
        out = bytearray()
        while True:
            if not self._packets and not self._pump(deadline):
                raise usb.core.USBTimeoutError("Operation timed out", errno=errno.ETIMEDOUT)
            packet = self._packets.popleft()
            if len(out) + len(packet) > size:
                raise usb.core.USBError("Overflow", errno=errno.EOVERFLOW)
            out += packet
            if len(packet) < self.packet or len(out) == size:  # a short packet or a full buffer ends it
                return array.array("B", out)


@pytest.fixture
def usb_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[FakeUsbDevice]]:
    """The devices pyusb will find (append to the list); sysfs is an empty directory unless a test fills it."""
    devices: list[FakeUsbDevice] = []
    monkeypatch.setattr(usb.core, "find", lambda **_: iter(list(devices)))
    monkeypatch.setattr(usb.util, "claim_interface", lambda dev, n: dev.claim(n))
    monkeypatch.setattr(usb.util, "release_interface", lambda dev, n: dev.release(n))
    monkeypatch.setattr(usb.util, "dispose_resources", lambda dev: dev.dispose())
    sysfs = tmp_path / "sysfs"
    sysfs.mkdir()
    monkeypatch.setattr(adb_usb, "_SYSFS_DEVICES", str(sysfs))
    yield devices
    for dev in devices:
        dev.dispose()


def keyboard() -> FakeUsbDevice:
    hid = FakeInterface(0, (0x03, 0x01, 0x01), [FakeEndpoint(0x81, 8, bmAttributes=0x03)])
    return FakeUsbDevice(serial="KBD", interfaces=[hid], idVendor=0x046D, idProduct=0xC31C, port_numbers=(1,))


def bridged(sim: AndroidSim, **kw: Any) -> FakeUsbDevice:
    return FakeUsbDevice(sim=sim.host_port, **kw)


def usb_connect(key: DockAdbKey, serial: str = SERIAL, **limits: float) -> AdbConnection:
    lim = AdbLimits(**{"timeout": 5.0, "auth_wait": 2.0, **limits})
    return AdbConnection.open(AdbTarget.parse(f"adb://{serial}"), key, lim)


def measure(target: str, key: DockAdbKey) -> Evidence:
    coll = AdbCollector(target, key=key, adb_limits=AdbLimits(timeout=5.0, auth_wait=2.0))
    return coll.collect({"method": "pull"}, nonce="00" * 32, device_match=None, expected=None)


# -- the collector over USB -----------------------------------------------------------------------------


@pytest.mark.parametrize("packet", [512, 64])  # high speed, full speed
def test_collector_over_usb_measures_what_tcp_measures(sim_android, dock_key, usb_bus, packet: int) -> None:  # noqa: F811
    """The same controller measured over adb+tcp and over UsbLink gives the same components and values.

    APKs of ~300 KB make the simulator send 256 KiB messages: whole packets, no short packet at their end,
    so a read asking for more than was due would run into the next header.
    """
    sim = sim_android("--apk-size", "300000")
    over_tcp = measure(sim.target, dock_key)
    dev = bridged(sim, packet=packet)
    usb_bus.extend([keyboard(), dev])
    over_usb = measure(f"adb://{SERIAL}", dock_key)
    assert over_usb.device.id == over_tcp.device.id == f"adb:{SERIAL}"
    assert over_usb.device.target == f"adb://{SERIAL}"
    assert over_usb.components == over_tcp.components
    assert over_usb.values == over_tcp.values
    assert len([c for c in over_usb.components if c.startswith("apk/")]) >= 16
    assert dev.violations == []
    assert max(dev.read_sizes) <= adb_usb.READ_CHUNK
    assert all(size % packet == 0 for size in dev.read_sizes)
    assert dev.events[-2:] == ["release 1", "dispose"]


def test_stale_bytes_from_an_earlier_session_are_drained(sim_android, dock_key, usb_bus) -> None:  # noqa: F811
    """A dock killed mid-transfer leaves the device's queued writes on the pipe: the next run discards them."""
    dev = bridged(sim_android())
    stale = encode_message(A_WRTE, 7, 1, b"x" * 1200)
    dev.inject(stale)
    for _ in range(2):  # the header and the first packet were read by the killed run: the tail of a payload is left
        dev._packets.popleft()
    usb_bus.append(dev)
    with usb_connect(dock_key) as conn:
        assert conn.shell(["getprop", "ro.serialno"]).stdout == b"RCPRO0000001\n"
    assert dev.violations == []


# -- framing --------------------------------------------------------------------------------------------


def test_each_header_is_its_own_transfer_and_whole_packets_end_with_a_zlp(usb_bus) -> None:
    dev = FakeUsbDevice()
    usb_bus.append(dev)
    link = UsbLink.open(SERIAL, timeout=1.0, label="adb://x")
    deadline = time.monotonic() + 5
    msg = encode_message(A_WRTE, 1, 2, b"p" * 512)
    link.send(msg[:24], msg[24:], deadline=deadline, what="a")  # payload of one whole packet
    msg = encode_message(A_WRTE, 1, 2, b"p" * 100)
    link.send(msg[:24], msg[24:], deadline=deadline, what="b")
    msg = encode_message(A_CNXN, 1, 2)
    link.send(msg[:24], b"", deadline=deadline, what="c")
    link.close()
    assert dev.out_transfers == [24, 512, 0, 24, 100, 24]
    assert dev.violations == []


def test_reads_never_run_past_a_payload_into_the_next_header(usb_bus) -> None:
    """A 1024-byte payload ends without a short packet; the dock asks for exactly 1024, then 24 more."""
    dev = FakeUsbDevice()
    usb_bus.append(dev)
    link = UsbLink.open(SERIAL, timeout=1.0, label="adb://x")
    first = encode_message(A_WRTE, 1, 2, bytes(range(256)) * 4)
    second = encode_message(A_WRTE, 1, 2, b"next")
    dev.inject(first)
    dev.inject(second)
    deadline = time.monotonic() + 5
    assert link.recv_exact(24, deadline=deadline, what="h1") == first[:24]
    assert link.recv_exact(1024, deadline=deadline, what="p1") == first[24:]
    assert link.recv_exact(24, deadline=deadline, what="h2") == second[:24]
    assert link.recv_exact(4, deadline=deadline, what="p2") == b"next"
    assert dev.read_sizes[-4:] == [512, 1024, 512, 512]
    link.close()


def test_a_transfer_longer_than_what_was_due_breaks_the_framing(usb_bus) -> None:
    """A device that packs a header and its payload into one transfer is not speaking ADB over USB."""
    dev = FakeUsbDevice()
    usb_bus.append(dev)
    link = UsbLink.open(SERIAL, timeout=1.0, label="adb://x")
    dev._packets.append(encode_message(A_WRTE, 1, 2, b"glued"))
    with pytest.raises(TransportError, match="29 bytes in one USB transfer where 24 were due"):
        link.recv_exact(24, deadline=time.monotonic() + 5, what="a header")
    link.close()


@pytest.mark.parametrize(
    ("pieces", "due", "match"),
    [
        # A payload the header says is 1000 bytes, ended by a short packet after 100: the next
        # message (well framed) must not fill the rest.
        ((b"A" * 100,), 1000, "ended a USB transfer after 100 of the 1000 bytes"),
        # A header in short transfers (5, a zero-length packet, then the rest): adb takes 24 in one.
        ((b"H" * 5, b"", b"H" * 19), 24, "ended a USB transfer after 5 of the 24 bytes"),
        # A zero-length packet in the middle of a payload of whole packets.
        ((b"P" * 512, b"", b"P" * 512), 1024, "ended a USB transfer after 512 of the 1024 bytes"),
    ],
    ids=["short-payload", "split-header", "zlp-mid-payload"],
)
def test_a_transfer_that_ends_before_what_was_due_breaks_the_framing(
    usb_bus, pieces: tuple[bytes, ...], due: int, match: str
) -> None:
    """adb reads a header and a payload as one transfer each: a shorter one is an error, never completed."""
    dev = FakeUsbDevice()
    usb_bus.append(dev)
    link = UsbLink.open(SERIAL, timeout=1.0, label="adb://x")
    dev._packets.extend(pieces)
    dev.inject(encode_message(A_WRTE, 1, 2, b"N" * 876))  # a next message the short one must not swallow
    with pytest.raises(TransportError, match=match):
        link.recv_exact(due, deadline=time.monotonic() + 5, what="a message")
    link.close()


def test_a_zero_length_packet_before_a_message_is_skipped(usb_bus) -> None:
    """The zero-length packet that ends a payload of whole packets may arrive before the next header."""
    dev = FakeUsbDevice()
    usb_bus.append(dev)
    link = UsbLink.open(SERIAL, timeout=1.0, label="adb://x")
    message = encode_message(A_WRTE, 1, 2, b"after the zlp")
    dev._packets.append(b"")
    dev.inject(message)
    assert link.recv_exact(24, deadline=time.monotonic() + 5, what="a header") == message[:24]
    link.close()


# -- faults ---------------------------------------------------------------------------------------------


def test_a_stalled_endpoint_ends_at_the_deadline(sim_android, dock_key, usb_bus) -> None:  # noqa: F811
    """The device goes silent after the handshake: the wait ends in a timeout, every libusb timeout finite."""
    dev = bridged(sim_android("--stall-after", "3"))  # two AUTH tokens and CNXN, then silence
    usb_bus.append(dev)
    stall = pytest.raises(LinkTimeoutError, match="timed out waiting for the device to open")
    with usb_connect(dock_key, timeout=0.5) as conn, stall:
        conn.shell(["getprop", "ro.serialno"])
    assert dev.violations == []


def test_a_halted_endpoint_is_an_error_naming_it(dock_key, usb_bus) -> None:  # noqa: F811
    usb_bus.append(FakeUsbDevice(pipe_error=True))
    with pytest.raises(TransportError, match="stalled its USB endpoint") as e:
        usb_connect(dock_key)
    assert e.value.exit_code == 3


def test_an_unplugged_controller_is_an_error(sim_android, dock_key, usb_bus) -> None:  # noqa: F811
    usb_bus.append(bridged(sim_android("--drop-after", "5")))
    gone = pytest.raises(TransportError, match="the controller was disconnected while the dock was waiting")
    with usb_connect(dock_key) as conn, gone:
        conn.shell(["getprop", "ro.serialno"])


# -- which device ---------------------------------------------------------------------------------------


def test_no_matching_device_names_the_adb_devices_present(dock_key, usb_bus) -> None:  # noqa: F811
    usb_bus.extend([keyboard(), FakeUsbDevice(serial="OTHER0001")])
    with pytest.raises(TransportError, match="no Android device with USB serial number 'RCPRO0000001'") as e:
        usb_connect(dock_key)
    assert "'OTHER0001'" in str(e.value) and "USB debugging" in str(e.value)
    assert e.value.exit_code == 3


def test_two_devices_with_the_serial_are_both_named(dock_key, usb_bus) -> None:  # noqa: F811
    usb_bus.extend([FakeUsbDevice(port_numbers=(2,)), FakeUsbDevice(port_numbers=(3, 1), address=9)])
    with pytest.raises(TransportError, match="2 ADB devices report the serial number") as e:
        usb_connect(dock_key)
    assert "USB 1-2 (18d1:4ee7)" in str(e.value) and "USB 1-3.1 (18d1:4ee7)" in str(e.value)
    assert all(not d.events for d in usb_bus)  # neither was claimed


@pytest.mark.parametrize(
    "interfaces",
    [
        [mtp_interface()],  # USB debugging off: MTP only
        [adb_interface(klass=(0xFF, 0x42, 0x03))],  # fastboot
        [adb_interface(klass=(0xFF, 0x43, 0x01))],
        [FakeInterface(1, ADB, [FakeEndpoint(EP_IN, 512)])],  # no bulk OUT
        [FakeInterface(1, ADB, [FakeEndpoint(EP_IN, 512), FakeEndpoint(EP_OUT, 512, bmAttributes=0x03)])],
    ],
    ids=["mtp", "fastboot", "subclass", "no-out", "interrupt-out"],
)
def test_a_device_without_an_adb_interface_is_not_chosen(dock_key, usb_bus, interfaces) -> None:  # noqa: F811
    usb_bus.append(FakeUsbDevice(interfaces=interfaces))
    with pytest.raises(TransportError, match="no Android device with USB serial number"):
        usb_connect(dock_key)
    assert not usb_bus[0].events


def test_permission_denied_says_which_udev_rule_to_add(dock_key, usb_bus, tmp_path: Path) -> None:  # noqa: F811
    """The dock may not open the node: the serial comes from sysfs, and opening fails with the rule to add."""
    (tmp_path / "sysfs" / "1-2").mkdir()
    (tmp_path / "sysfs" / "1-2" / "serial").write_text(f"{SERIAL}\n")
    usb_bus.append(FakeUsbDevice(deny=True))
    with pytest.raises(TransportError, match="permission denied opening /dev/bus/usb/001/005") as e:
        usb_connect(dock_key)
    assert adb_usb.UDEV_RULE in str(e.value) and "plugdev" in str(e.value)
    assert e.value.exit_code == 3


def test_an_unreadable_serial_number_points_at_permissions(dock_key, usb_bus) -> None:  # noqa: F811
    usb_bus.append(FakeUsbDevice(deny=True))  # and no sysfs serial
    with pytest.raises(TransportError, match="could not be read: probably the dock's user may not open it") as e:
        usb_connect(dock_key)
    assert adb_usb.UDEV_RULE in str(e.value)


def test_a_busy_interface_suggests_stopping_the_adb_server(dock_key, usb_bus) -> None:  # noqa: F811
    usb_bus.append(FakeUsbDevice(busy=True))
    with pytest.raises(TransportError, match="adb kill-server"):
        usb_connect(dock_key)


class TwoConfigurations(FakeUsbDevice):
    """The adb interface is #1 of configuration 2; the active configuration 1 has mass storage as #1."""

    def __iter__(self) -> Iterator[FakeConfiguration]:
        storage = FakeInterface(1, (0x08, 0x06, 0x50), [FakeEndpoint(0x83, 512), FakeEndpoint(0x04, 512)])
        return iter([
            FakeConfiguration([adb_interface()], bConfigurationValue=2),
            FakeConfiguration([mtp_interface(), storage], bConfigurationValue=1),
        ])  # fmt: skip

    def get_active_configuration(self) -> FakeConfiguration:
        self._open()
        return list(iter(self))[1]


def test_only_the_active_configurations_adb_interface_is_used(usb_bus) -> None:
    """An adb interface of a configuration that is not active: refused, and nothing of the active one touched
    (its interface of the same number, mass storage here, kept its kernel driver and was never claimed)."""
    dev = TwoConfigurations(kernel_driver=True)
    usb_bus.append(dev)
    with pytest.raises(TransportError, match="not in its active USB configuration"):
        UsbLink.open(SERIAL, timeout=1.0, label="adb://x")
    assert dev.events == ["dispose"]


@dataclass
class Chatty(FakeUsbDevice):
    """Never quiet: a short transfer every 50 ms (or, with ``zlp``, zero-length packets without end)."""

    zlp: bool = False

    def read(self, ep: int, size: int, timeout: int) -> array.array[int]:
        del ep, timeout
        self.read_sizes.append(size)
        time.sleep(0.001 if self.zlp else 0.05)
        return array.array("B", b"" if self.zlp else b"s" * 100)


@pytest.mark.parametrize("zlp", [False, True], ids=["short-transfers", "zero-length-packets"])
def test_a_controller_that_never_stops_sending_is_refused(usb_bus, zlp: bool) -> None:
    """Stale data is drained until the device is quiet; one that never is cannot be framed: an error, at the timeout."""
    dev = Chatty(zlp=zlp)
    usb_bus.append(dev)
    started = time.monotonic()
    with pytest.raises(TransportError, match="keeps sending before the dock has spoken"):
        UsbLink.open(SERIAL, timeout=0.5, label="adb://x")
    assert time.monotonic() - started < 5
    assert dev.events[-2:] == ["release 1", "dispose"]


class ReleaseFails(FakeUsbDevice):
    def release(self, number: int) -> None:
        self.events.append(f"release {number} failed")
        raise usb.core.USBError("Entity not found", errno=errno.ENOENT)


def test_a_failed_release_still_gives_the_kernel_driver_back(usb_bus) -> None:
    dev = ReleaseFails(kernel_driver=True)
    usb_bus.append(dev)
    UsbLink.open(SERIAL, timeout=1.0, label="adb://x").close()
    assert dev.events[-3:] == ["release 1 failed", "attach 1", "dispose"]
    assert dev.kernel_driver


def test_a_kernel_driver_is_detached_and_given_back(usb_bus) -> None:
    dev = FakeUsbDevice(kernel_driver=True)
    plain = FakeUsbDevice(port_numbers=(4,), serial="PLAIN")
    usb_bus.extend([dev, plain])
    UsbLink.open(SERIAL, timeout=1.0, label="adb://x").close()
    UsbLink.open("PLAIN", timeout=1.0, label="adb://y").close()
    assert dev.events == [
        "detach 1",
        "claim 1",
        "clear_halt 0x81",
        "clear_halt 0x01",
        "release 1",
        "attach 1",
        "dispose",
    ]
    assert "detach 1" not in plain.events and "attach 1" not in plain.events


def test_missing_libusb_is_named(dock_key, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import usb.backend.libusb1

    monkeypatch.setattr(usb.backend.libusb1, "get_backend", lambda **_: None)  # what pyusb returns without libusb-1.0
    with pytest.raises(TransportError, match=r"apt-get install libusb-1\.0-0"):
        usb_connect(dock_key)


def test_tcp_targets_do_not_load_pyusb() -> None:
    code = (
        "import sys; import attest.collectors.adb, attest.transports.adb; "
        "from attest.transports.adb import AdbTarget; AdbTarget.parse('adb+tcp://127.0.0.1:5555'); "
        "print('usb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
