"""Target strings: which collector measures which device.

=========================  ==================================================
``/dev/tty*``, ``/dev/pts/*``  flight controller over serial (MAVLink)
``socket://HOST:PORT``     flight controller over TCP (e.g. ArduPilot SITL)
``ssh://USER@HOST[:PORT]`` Linux companion computer over SSH
``adb://SERIAL``           Android controller over USB (ADB)
``adb+tcp://HOST[:PORT]``  Android controller over TCP (adbd, default port 5555)
``dji:///dev/ttyACM0``     DJI aircraft or remote controller over USB serial (DUML)
any other path             a local directory (SD card, unpacked image)
=========================  ==================================================

Which collector measures a target is decided by
:func:`attest.collectors.open_collector`; this module only names the kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attest.errors import ConfigError

__all__ = ["SCHEMES", "TargetOptions", "target_kind"]


@dataclass(frozen=True)
class TargetOptions:
    """Transport options from the command line or dock configuration.

    Attributes:
        baud: serial line rate.
        timeout: seconds any single wait on the device may last.
        identity: SSH private key file (else the ssh-agent).
        known_hosts: a known_hosts file supplying the pinned host key.
        method: SSH collection method, ``pull`` or ``remote``.
        bootloader: read flight-controller flash through its bootloader.
        audit_sample: files the dock re-reads itself in ``remote`` mode.
        workers: hashing threads for local targets.
        state_dir: the dock's state directory, where its ADB key lives (``adbkey``).
    """

    baud: int = 115200
    timeout: float = 10.0
    identity: Path | None = None
    known_hosts: Path | None = None
    method: str = "pull"
    bootloader: bool = False
    audit_sample: int | None = None
    workers: int | None = None
    state_dir: Path | None = None


#: URL schemes a target may have, and the kind each names
SCHEMES = {"ssh": "ssh", "socket": "serial", "adb": "adb", "adb+tcp": "adb", "dji": "dji"}


def target_kind(target: str) -> str:
    """``serial``, ``ssh`` or ``directory`` for a target string.

    Raises:
        ConfigError: a URL whose scheme no collector speaks (``http://…``), or an empty target.
    """
    if not target:
        raise ConfigError("the target is empty")
    scheme, sep, _ = target.partition("://")
    if sep and scheme.isascii() and scheme.replace("+", "").isalnum():
        kind = SCHEMES.get(scheme.lower())
        if kind is None:
            known = ", ".join(f"{s}://" for s in sorted(SCHEMES))
            raise ConfigError(f"{target}: unsupported target scheme {scheme}:// (use a directory, /dev/tty*, {known})")
        return kind
    if target.startswith(("/dev/tty", "/dev/pts/", "/dev/serial/")):
        return "serial"
    return "directory"
