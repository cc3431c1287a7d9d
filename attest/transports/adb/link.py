"""The byte links under ADB messages: the :class:`Link` interface, and TCP to adbd.

A link moves whole messages out (:meth:`Link.send`: the 24-byte header and
its payload, kept apart because ADB over USB sends each as its own bulk
transfer) and reads exact byte counts in (:meth:`Link.recv_exact`: the
connection asks for a header, then for its payload), every wait before a
monotonic deadline. A wait that reaches its deadline is a
:class:`LinkTimeoutError`; every other failure a
:class:`~attest.errors.TransportError` naming what was awaited.
:mod:`attest.transports.adb.connection` speaks ADB over any link.

:class:`TcpLink` connects to ``adb+tcp://`` targets (the host name lookup,
which has no timeout of its own, runs in a helper thread under the deadline);
:class:`~attest.transports.adb.usb.UsbLink` serves ``adb://SERIAL``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from typing import Protocol

from attest.errors import TransportError

__all__ = ["Link", "LinkTimeoutError", "TcpLink"]


class LinkTimeoutError(TransportError):
    """A wait on the device ended at its deadline (the other failures are plain TransportError)."""


class Link(Protocol):
    """What the ADB connection needs of a byte link (TCP or USB)."""

    label: str

    def send(self, header: bytes, payload: bytes, *, deadline: float, what: str) -> None:
        """Send one message, ``header`` (24 bytes) then ``payload`` (may be empty), before ``deadline``.

        Raises:
            TransportError: the deadline passed or the link failed.
        """

    def recv_exact(self, n: int, *, deadline: float, what: str) -> bytes:
        """Exactly ``n`` bytes (a header, or one message's payload), all before ``deadline``.

        Raises:
            LinkTimeoutError: the deadline passed.
            TransportError: the link failed or the device broke the framing.
        """

    def close(self) -> None:
        """Release the link (idempotent)."""


def _resolve(host: str, port: int, timeout: float, label: str) -> list[tuple[int, tuple[str, int]]]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return [(family, (host, port))]
    found: list[tuple[int, tuple[str, int]]] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            for family, _, _, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                found.append((family, (str(addr[0]), int(addr[1]))))
        except OSError as e:
            failure.append(e)

    worker = threading.Thread(target=lookup, name="adb-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TransportError(f"{label}: timed out after {timeout:g} s looking up {host}")
    if failure or not found:
        why = failure[0] if failure else "no address"
        raise TransportError(f"{label}: cannot resolve {host}: {why}")
    return found


class TcpLink:
    """A connected TCP socket with deadline-bounded exact reads.

    Args:
        host: name or address.
        port: TCP port.
        timeout: seconds the lookup and the connection may take.
        label: the device, for messages.
    """

    def __init__(self, host: str, port: int, *, timeout: float, label: str) -> None:
        self.label = label
        deadline = time.monotonic() + timeout
        last: OSError | None = None
        for family, addr in _resolve(host, port, timeout, label):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(remaining)
            try:
                sock.connect(addr)
            except OSError as e:
                sock.close()
                last = e
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            return
        if isinstance(last, TimeoutError) or last is None:
            raise TransportError(f"{label}: timed out after {timeout:g} s connecting to adbd")
        raise TransportError(f"{label}: cannot connect to adbd: {last.strerror or last}") from last

    def send(self, header: bytes, payload: bytes, *, deadline: float, what: str) -> None:
        """Send one message (on TCP, header and payload are one byte stream) before ``deadline``.

        Raises:
            TransportError: the deadline passed or the connection failed.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportError(f"{self.label}: timed out sending {what}")
        self._sock.settimeout(remaining)
        try:
            self._sock.sendall(header + payload)
        except TimeoutError as e:
            raise TransportError(f"{self.label}: timed out sending {what} (the device stopped reading)") from e
        except OSError as e:
            raise TransportError(f"{self.label}: the connection failed sending {what}: {e.strerror or e}") from e

    def recv_exact(self, n: int, *, deadline: float, what: str) -> bytes:
        """Exactly ``n`` bytes, all before ``deadline``.

        Raises:
            TransportError: the deadline passed, the device closed the connection, or it failed.
        """
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkTimeoutError(f"{self.label}: timed out waiting for {what}")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(n - len(buf))
            except TimeoutError as e:
                raise LinkTimeoutError(f"{self.label}: timed out waiting for {what}") from e
            except OSError as e:
                raise TransportError(f"{self.label}: the connection failed awaiting {what}: {e.strerror or e}") from e
            if not chunk:
                raise TransportError(f"{self.label}: the device closed the connection while the dock waited for {what}")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with contextlib.suppress(OSError):
            self._sock.close()
