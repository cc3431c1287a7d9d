"""``adb://SERIAL`` (USB) and ``adb+tcp://HOST[:PORT]`` (adbd over TCP): the parsed target."""

from __future__ import annotations

import re
from dataclasses import dataclass

from attest.errors import ConfigError

__all__ = ["DEFAULT_PORT", "AdbTarget"]

#: adbd's TCP port (adb.h ``DEFAULT_ADB_LOCAL_TRANSPORT_PORT``).
DEFAULT_PORT = 5555
_SERIAL = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}")


@dataclass(frozen=True)
class AdbTarget:
    """Where a device's adbd is.

    Attributes:
        serial: the USB serial number (``adb://``), else ``None``.
        host: the TCP host (``adb+tcp://``), else ``None``.
        port: the TCP port.
    """

    serial: str | None = None
    host: str | None = None
    port: int = DEFAULT_PORT

    @property
    def label(self) -> str:
        """The target as the user wrote it (normalised), for messages."""
        if self.serial is not None:
            return f"adb://{self.serial}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"adb+tcp://{host}:{self.port}"

    @classmethod
    def parse(cls, target: str) -> AdbTarget:
        """Parse ``adb://SERIAL`` or ``adb+tcp://HOST[:PORT]`` (an IPv6 host in brackets).

        Raises:
            ConfigError: another scheme, an empty or odd serial, a bad host or port.
        """
        scheme, sep, rest = target.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in {"adb", "adb+tcp"}:
            raise ConfigError(f"{target}: expected adb://SERIAL or adb+tcp://HOST[:PORT]")
        if scheme == "adb":
            if not _SERIAL.fullmatch(rest):
                raise ConfigError(f"{target}: expected adb://SERIAL: 1-64 letters, digits, '.', '_', ':' or '-'")
            return cls(serial=rest)
        host, port_text = rest, ""
        if rest.startswith("["):
            host, close, after = rest[1:].partition("]")
            if not close or (after and not after.startswith(":")) or not re.fullmatch(r"[0-9A-Fa-f:.]{2,45}", host):
                raise ConfigError(f"{target}: expected adb+tcp://[IPV6]:PORT")
            port_text = after[1:]
        elif ":" in rest:
            host, _, port_text = rest.rpartition(":")
        if not (":" in host or _HOST.fullmatch(host)):
            raise ConfigError(f"{target}: expected adb+tcp://HOST[:PORT] with a host name or address")
        port = DEFAULT_PORT
        if port_text or rest.endswith(":"):
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigError(f"{target}: the port must be a number from 1 to 65535")
            port = int(port_text)
        return cls(host=host, port=port)
