r"""An ADB connection to a device's adbd, spoken directly (no adb server): handshake, streams, shell, sync.

Primary source: ``adb/protocol.txt`` and ``adb/adb.cpp`` (``handle_packet``,
``parse_banner``) at aosp-mirror/platform_system_core 5cf7868b7.

The link under it is chosen by the target: ``adb+tcp://`` a
:class:`~attest.transports.adb.link.TcpLink`, ``adb://SERIAL`` a
:class:`~attest.transports.adb.usb.UsbLink` (bulk transfers). Everything
here -- handshake, streams, shell, sync -- only sends whole messages and reads
exact byte counts (:class:`~attest.transports.adb.link.Link`), so it is the
same over both.

Handshake: the dock sends ``CNXN(version, maxdata, "host::features=...")``;
adbd answers ``AUTH(TOKEN)`` with 20 random bytes; the dock signs it with its
key (:mod:`attest.transports.adb.keys`). A device that knows the key answers
``CNXN(version, maxdata, "device::ro.product.name=...;features=...")``. One
that does not sends a new token; the dock then offers its public key
(``AUTH(RSAPUBLICKEY)``), which makes the device ask its user "Allow USB
debugging?". If no CNXN arrives within ``auth_wait`` seconds the dock gives
up with a :class:`~attest.errors.TransportError` (exit 3) that says how to
authorise the dock once. A device that asks for TLS (``STLS``, Android 11
wireless debugging) is refused: this client speaks only the RSA handshake.

Streams: ``OPEN(local, 0, "service\\0")`` is answered by ``OKAY(remote, local)``
or ``CLSE``; then each ``WRTE`` is acknowledged with one ``OKAY`` (flow
control: one message in flight per direction). Streams are used one at a
time; messages for other (closed) streams are ignored, but never extend a
wait.

Bounds: every wait has a deadline, and only progress earns time: a wait is
reset by new payload bytes, never by empty or unrelated messages; a long
transfer also runs under a :class:`~attest.transports.budget.Budget` (a floor
rate after a grace period), so a device dribbling one byte per timeout still
ends in an error. Messages are at most the ``maxdata`` the dock declared
(1 MiB); shell output is capped per command; sync transfers by the caller's
limit (:mod:`attest.transports.adb.sync`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from attest.errors import TransportError
from attest.transports.adb import wire
from attest.transports.adb.keys import DockAdbKey
from attest.transports.adb.link import Link, LinkTimeoutError, TcpLink
from attest.transports.adb.shell import ShellDecoder, ShellResult, command_line, service_name
from attest.transports.adb.target import AdbTarget
from attest.transports.adb.usb import UsbLink
from attest.transports.budget import Budget

__all__ = ["AdbConnection", "AdbLimits", "AdbStream", "DeviceBanner"]

#: The features the dock announces (none it does not implement).
_HOST_FEATURES = "shell_v2,cmd"
#: AUTH tokens the dock answers before it gives up on a device that keeps asking.
_MAX_TOKENS = 4


@dataclass(frozen=True)
class AdbLimits:
    """How long the dock waits and how much it accepts.

    Attributes:
        timeout: seconds any single wait on the device may last without progress.
        auth_wait: seconds to wait for the device's user to allow the dock's key.
        max_output: bytes one shell command may print (stdout and stderr together).
        floor_rate: bytes per second a long transfer must average after ``timeout`` seconds.
    """

    timeout: float = 10.0
    auth_wait: float = 10.0
    max_output: int = 64 * 1024 * 1024
    floor_rate: float = 64 * 1024


@dataclass(frozen=True)
class DeviceBanner:
    """What the device's CNXN said about itself (``parse_banner``).

    Attributes:
        state: ``device``, ``recovery``, ``bootloader``, ``sideload``, ``rescue`` or what it sent.
        properties: ``ro.product.name``, ``ro.product.model``, ``ro.product.device`` as sent.
        features: the adb features it supports (``shell_v2``, ``cmd``, ...).
    """

    state: str
    properties: dict[str, str] = field(default_factory=dict)
    features: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, payload: bytes) -> DeviceBanner:
        """Parse ``state:serial:key=value;key=value;features=a,b`` (trailing NULs ignored)."""
        text = payload.rstrip(b"\0").decode("utf-8", "replace")
        pieces = text.split(":")
        props: dict[str, str] = {}
        features: frozenset[str] = frozenset()
        if len(pieces) > 2:
            for prop in pieces[2].split(";"):
                key, sep, value = prop.partition("=")
                if not sep or "=" in value:
                    continue
                if key == "features":
                    features = frozenset(f for f in value.split(",") if f)
                elif key in {"ro.product.name", "ro.product.model", "ro.product.device"}:
                    props[key] = value
        return cls(pieces[0], props, features)


class AdbConnection:
    """One authenticated ADB connection to a device.

    Use :meth:`open`; then :meth:`shell`, :meth:`open_stream` or
    :meth:`attest.transports.adb.sync.SyncSession.open`;
    close it (or use it as a context manager).
    """

    def __init__(self, link: Link, target: AdbTarget, limits: AdbLimits) -> None:
        self._link = link
        self.target = target
        self.label = target.label
        self.limits = limits
        self.version = wire.VERSION_MIN
        #: The most the device accepts in one message (from its CNXN).
        self.peer_max = wire.CONNECT_PAYLOAD_MAX
        self.banner = DeviceBanner("offline")
        self._next_id = 1
        self._open_ids: set[int] = set()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, target: AdbTarget, key: DockAdbKey, limits: AdbLimits | None = None) -> AdbConnection:
        """Connect, authenticate with ``key`` and return the connection.

        Raises:
            TransportError: unreachable (over USB: not connected, several with that serial number,
                permission denied, the interface busy), not ADB, not authorised within
                ``limits.auth_wait``, asks for TLS, not in the ``device`` state, or any wait timed out.
        """
        limits = limits or AdbLimits()
        link: Link
        if target.serial is not None:
            link = UsbLink.open(target.serial, timeout=limits.timeout, label=target.label)
        else:
            assert target.host is not None  # noqa: S101 - AdbTarget.parse gives one or the other
            link = TcpLink(target.host, target.port, timeout=limits.timeout, label=target.label)
        conn = cls(link, target, limits)
        try:
            conn._handshake(key)
        except BaseException:
            conn.close()
            raise
        return conn

    def _handshake(self, key: DockAdbKey) -> None:
        banner = f"host::features={_HOST_FEATURES}".encode()
        self._send(wire.A_CNXN, wire.VERSION, wire.MAX_PAYLOAD, banner, what="the CNXN message")
        deadline = time.monotonic() + self.limits.timeout
        tokens = 0
        signed = offered = False
        while True:
            try:
                header, payload = self._recv(deadline, "authorisation" if offered else "the device's answer to CNXN")
            except LinkTimeoutError as e:
                if offered:
                    raise self._not_authorised(key) from e
                raise
            if header.command == wire.A_CNXN:
                self._connected(header, payload)
                return
            if header.command == wire.A_STLS:
                raise TransportError(
                    f"{self.label}: the device asks for TLS (Android 11 wireless debugging); the dock speaks only "
                    "the RSA handshake: enable ADB over TCP with 'adb tcpip 5555' instead"
                )
            if header.command != wire.A_AUTH or header.arg0 != wire.AUTH_TOKEN:
                continue  # anything before CNXN "MUST be ignored" (protocol.txt); it earns no time
            tokens += 1
            if tokens > _MAX_TOKENS:
                raise TransportError(f"{self.label}: the device keeps asking for authentication ({tokens} tokens)")
            if len(payload) != wire.TOKEN_SIZE:
                raise TransportError(f"{self.label}: AUTH token of {len(payload)} bytes (expected 20)")
            if not signed:
                self._send(wire.A_AUTH, wire.AUTH_SIGNATURE, 0, key.sign(payload), what="the AUTH signature")
                signed = True
                deadline = time.monotonic() + self.limits.timeout
            elif not offered:
                # The device does not know the key: offer it, and wait for its user to allow it.
                line = key.public_line + b"\0"
                self._send(wire.A_AUTH, wire.AUTH_RSAPUBLICKEY, 0, line, what="the dock's public key")
                offered = True
                deadline = time.monotonic() + self.limits.auth_wait
            else:
                raise self._not_authorised(key)

    def _not_authorised(self, key: DockAdbKey) -> TransportError:
        return TransportError(
            f"{self.label}: the device has not authorised this dock's ADB key (RSA fingerprint {key.fingerprint}). "
            "Authorise the dock once: unlock the controller, enable USB debugging, connect it to the dock and run "
            "again; when the controller asks 'Allow USB debugging?' with that fingerprint, tick 'Always allow from "
            f"this computer' and tap Allow. Or add {key.path}.pub to the device's /data/misc/adb/adb_keys."
        )

    def _connected(self, header: wire.Header, payload: bytes) -> None:
        if header.arg0 < wire.VERSION_MIN:
            raise TransportError(f"{self.label}: unsupported ADB protocol version 0x{header.arg0:08x}")
        if header.arg1 < 256:
            raise TransportError(f"{self.label}: the device accepts messages of only {header.arg1} bytes")
        self.version = min(header.arg0, wire.VERSION)
        self.peer_max = min(header.arg1, wire.MAX_PAYLOAD)
        self.banner = DeviceBanner.parse(payload)
        if self.banner.state != "device":
            raise TransportError(
                f"{self.label}: the device is in the {self.banner.state[:40]!r} state, not running Android ('device')"
            )

    # -- messages --------------------------------------------------------------------------

    def _send(self, command: int, arg0: int, arg1: int, payload: bytes = b"", *, what: str) -> None:
        skip = self.version >= wire.VERSION_SKIP_CHECKSUM
        header = wire.encode_header(command, arg0, arg1, payload, with_checksum=not skip)
        self._link.send(header, payload, deadline=time.monotonic() + self.limits.timeout, what=what)

    def _recv(self, deadline: float, what: str) -> tuple[wire.Header, bytes]:
        raw = self._link.recv_exact(wire.HEADER.size, deadline=deadline, what=what)
        header = wire.decode_header(raw, max_payload=wire.MAX_PAYLOAD, label=self.label)
        payload = self._link.recv_exact(header.length, deadline=deadline, what=what) if header.length else b""
        if self.banner.state != "offline":
            wire.check_payload(header, payload, version=self.version, label=self.label)
        return header, payload

    # -- streams ---------------------------------------------------------------------------

    def open_stream(self, service: str) -> AdbStream:
        """Open a stream to ``service`` (``shell,v2,raw:...``, ``sync:``, ...).

        Raises:
            TransportError: the device refused it (CLSE), or did not answer in time.
        """
        encoded = service.encode() + b"\0"
        if len(encoded) > self.peer_max:
            raise TransportError(f"{self.label}: service name of {len(encoded)} bytes exceeds the device's limit")
        local = self._next_id
        self._next_id += 1
        self._send(wire.A_OPEN, local, 0, encoded, what=f"OPEN {service[:60]!r}")
        deadline = time.monotonic() + self.limits.timeout
        while True:
            header, _ = self._recv(deadline, f"the device to open {service[:60]!r}")
            if header.arg1 != local:
                continue
            if header.command == wire.A_OKAY and header.arg0 != 0:
                self._open_ids.add(local)
                return AdbStream(self, local, header.arg0, service)
            if header.command == wire.A_CLSE:
                raise TransportError(f"{self.label}: the device refused the service {service[:60]!r}")

    def shell(self, argv: Sequence[str], *, max_output: int | None = None) -> ShellResult:
        """Run ``argv`` (every argument quoted) and return its output and exit status.

        The status is ``None`` on a device without ``shell_v2`` (adb before Android 7).

        Raises:
            TransportError: output beyond ``max_output`` (default ``limits.max_output``),
                a wait without progress, a transfer below the floor rate, or a broken stream.
        """
        cmd = command_line(argv)
        cap = self.limits.max_output if max_output is None else max_output
        v2 = "shell_v2" in self.banner.features
        what = f"'{cmd[:80]}'"
        stream = self.open_stream(service_name(cmd, v2=v2))
        budget = Budget(self.limits.timeout, self.limits.floor_rate, what=what, unit="bytes", target=self.label)
        decoder = ShellDecoder(f"{self.label}: {what}")
        raw = bytearray()
        with stream:
            while (data := stream.read(budget)) is not None:
                if v2:
                    decoder.feed(data)
                else:
                    raw += data
                if (decoder.size if v2 else len(raw)) > cap:
                    raise TransportError(f"{self.label}: {what} printed more than {cap} bytes")
        return decoder.finish() if v2 else ShellResult(None, bytes(raw), b"")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AdbStream:
    """One open stream; read and write with flow control, close when done.

    Args:
        conn: the connection.
        local: the dock's id for the stream.
        remote: the device's id for it.
        service: what was opened, for messages.
    """

    def __init__(self, conn: AdbConnection, local: int, remote: int, service: str) -> None:
        self.conn = conn
        self.local = local
        self.remote = remote
        self.service = service
        self.closed = False
        self._pending: list[bytes] = []

    def _mine(self, header: wire.Header) -> bool:
        return header.arg1 == self.local and header.arg0 in (self.remote, 0)

    def read(self, budget: Budget | None = None) -> bytes | None:
        """The next non-empty data the device wrote, or ``None`` once it closed the stream.

        Raises:
            TransportError: no new bytes within the timeout, or ``budget`` exhausted.
        """
        if self._pending:
            return self._pending.pop(0)
        if self.closed:
            return None
        conn = self.conn
        deadline = time.monotonic() + conn.limits.timeout
        while True:
            if budget is not None:
                budget.check()
                wait_until = min(deadline, budget.deadline)
            else:
                wait_until = deadline
            try:
                header, payload = conn._recv(wait_until, f"data from {self.service[:60]!r}")
            except LinkTimeoutError:
                if budget is not None:
                    budget.check()  # the floor rate, not the wait, ran out: say so
                raise
            if not self._mine(header):
                continue
            if header.command == wire.A_CLSE:
                self.closed = True
                conn._open_ids.discard(self.local)
                return None
            if header.command == wire.A_WRTE:
                conn._send(wire.A_OKAY, self.local, self.remote, what="OKAY")
                if payload:
                    if budget is not None:
                        budget.done += len(payload)
                    return payload
                # An empty write is no progress: the deadline stands.

    def write(self, data: bytes) -> None:
        """Send ``data`` in messages the device accepts, each acknowledged before the next.

        Data the device writes meanwhile is kept for :meth:`read`.

        Raises:
            TransportError: the device closed the stream or did not acknowledge in time.
        """
        conn = self.conn
        view = memoryview(data)
        while view:
            chunk, view = bytes(view[: conn.peer_max]), view[conn.peer_max :]
            if self.closed:
                raise TransportError(f"{conn.label}: the device closed {self.service[:60]!r}")
            conn._send(wire.A_WRTE, self.local, self.remote, chunk, what=f"data to {self.service[:60]!r}")
            deadline = time.monotonic() + conn.limits.timeout
            while True:
                header, payload = conn._recv(deadline, f"the device to accept data on {self.service[:60]!r}")
                if not self._mine(header):
                    continue
                if header.command == wire.A_OKAY:
                    break
                if header.command == wire.A_CLSE:
                    self.closed = True
                    raise TransportError(f"{conn.label}: the device closed {self.service[:60]!r}")
                if header.command == wire.A_WRTE:
                    conn._send(wire.A_OKAY, self.local, self.remote, what="OKAY")
                    if payload:
                        if sum(len(p) for p in self._pending) > conn.limits.max_output:
                            raise TransportError(f"{conn.label}: the device wrote too much to {self.service[:60]!r}")
                        self._pending.append(payload)

    def close(self) -> None:
        """Close the stream (the device is told; its late messages are ignored)."""
        if not self.closed:
            self.closed = True
            self.conn._open_ids.discard(self.local)
            # A failing connection shows itself on the caller's next wait.
            with contextlib.suppress(TransportError):
                self.conn._send(wire.A_CLSE, self.local, self.remote, what="CLSE")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
