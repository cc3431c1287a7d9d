"""Serial transport: bytes to and from a serial device or a pyserial URL.

Targets are device paths (``/dev/ttyACM0``, ``/dev/ttyUSB0``, ``/dev/pts/N``,
``/dev/serial/by-id/...``) opened at ``baud``, or pyserial URLs such as
``socket://127.0.0.1:5760`` (ArduPilot SITL's first serial port). pyserial
does the work; this module bounds every wait and turns pyserial's and the
OS's errors into :class:`~attest.errors.TransportError`, naming the port, so
nothing above it ever sees a ``SerialException``.
"""

from __future__ import annotations

import contextlib
import re
import time
from types import TracebackType
from typing import Any, Self

from attest.errors import ConfigError, TransportError

__all__ = ["SerialTransport"]

#: The largest single read handed up; a USB CDC port delivers at most a few KiB at once.
_READ_CHUNK = 65536


class SerialTransport:
    """One open serial port (or pyserial URL).

    Use :meth:`open`; the object is a context manager that closes the port.
    """

    def __init__(self, port: Any, target: str) -> None:
        """Wrap an open pyserial port; use :meth:`open` instead."""
        self._port = port
        self.target = target

    @classmethod
    def open(cls, target: str, *, baud: int = 115200, timeout: float = 10.0) -> SerialTransport:
        """Open ``target``.

        Args:
            target: a device path or a pyserial URL (``socket://HOST:PORT``).
            baud: line rate for real serial ports (ignored by ptys and sockets).
            timeout: seconds the open itself may take (a TCP connect).

        Raises:
            ConfigError: ``target`` is a malformed URL.
            TransportError: the port does not exist or cannot be opened.
        """
        import serial

        _check_url(target)
        try:
            port = serial.serial_for_url(target, baudrate=baud, timeout=0, write_timeout=timeout, do_not_open=True)
            if target.startswith("socket://"):
                # pyserial's socket backend connects with the port timeout;
                # bound the connect, then switch back to polling reads.
                port.timeout = timeout
            port.open()
            port.timeout = 0
        except ValueError as e:
            raise ConfigError(f"{target}: {e}") from e
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{target}: cannot open port: {_reason(e)}") from e
        transport = cls(port, target)
        transport.discard_input()
        return transport

    def read(self, timeout: float) -> bytes:
        """Whatever bytes arrive within ``timeout`` seconds (``b""`` if none).

        Returns as soon as at least one byte is available, with everything
        buffered at that moment.

        Raises:
            TransportError: the port failed or the device went away.
        """
        import serial

        try:
            # Non-blocking first (everything already buffered), then wait for
            # one byte and take whatever came with it. pyserial's socket
            # backend reports in_waiting as 0/1, so it is not used.
            self._port.timeout = 0
            data = bytes(self._port.read(_READ_CHUNK))
            if data:
                return data
            self._port.timeout = max(0.0, timeout)
            first = bytes(self._port.read(1))
            if not first:
                return b""
            self._port.timeout = 0
            return first + bytes(self._port.read(_READ_CHUNK))
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self.target}: read failed: {_reason(e)}") from e

    def write(self, data: bytes) -> None:
        """Send all of ``data``.

        Raises:
            TransportError: the port failed or a write could not finish in time.
        """
        import serial

        try:
            self._port.write(data)
        except serial.SerialTimeoutException as e:
            raise TransportError(f"{self.target}: write timed out (device not reading?)") from e
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self.target}: write failed: {_reason(e)}") from e

    def discard_input(self) -> None:
        """Drop bytes that arrived before now (stale frames from before this run)."""
        import serial

        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self.target}: cannot flush input: {_reason(e)}") from e

    def close(self) -> None:
        """Close the port; errors on close are ignored (the port is gone either way)."""
        with contextlib.suppress(Exception):  # closing a dead port may raise anything; nothing to do
            self._port.close()

    @classmethod
    def reopen(cls, target: str, *, baud: int, timeout: float, settle: float = 0.2) -> SerialTransport:
        """Open ``target`` again after the device rebooted (USB re-enumeration).

        Retries until it opens or ``timeout`` seconds pass.

        Raises:
            TransportError: the port did not come back within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        last: TransportError | None = None
        while True:
            try:
                return cls.open(target, baud=baud, timeout=max(0.1, deadline - time.monotonic()))
            except TransportError as e:
                last = e
            if time.monotonic() >= deadline:
                raise TransportError(f"{target}: port did not come back within {timeout:g} s: {last}") from last
            time.sleep(settle)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_url(target: str) -> None:
    """Reject a malformed ``socket://`` URL as the user's mistake, before pyserial calls it a port failure."""
    if not target.startswith("socket://"):
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        port = None
        parts = None
    if parts is None or not parts.hostname or port is None or not 0 < port < 65536:
        raise ConfigError(f'{target}: expected a URL in the form "socket://<host>:<port>"')


def _reason(e: BaseException) -> str:
    """The cause alone: pyserial's messages repeat what ours already say ("could not open port X: ...")."""
    text = getattr(e, "strerror", None) or str(e)
    lowered = text.lower()
    for prefix in ("could not open port", "read failed", "write failed"):
        if lowered.startswith(prefix):
            _, sep, rest = text.partition(": ")
            text = rest if sep else text[len(prefix) :].strip()
            break
    text = _ERRNO.sub("", text).strip()
    return text or type(e).__name__


#: pyserial puts ``[Errno N] `` before the C library's text; the number adds nothing for a reader.
_ERRNO = re.compile(r"^\[Errno \d+\] ")
