"""Target strings: which collector measures which device.

=========================  ==================================================
``/dev/tty*``, ``/dev/pts/*``  flight controller over serial (MAVLink)
``socket://HOST:PORT``     flight controller over TCP (e.g. ArduPilot SITL)
``ssh://USER@HOST[:PORT]`` Linux companion computer over SSH
any other path             a local directory (SD card, unpacked image)
=========================  ==================================================

Each transport's collector module provides ``from_target(target, options)``;
it is imported only when used, so a dock without, say, SSH targets never
loads paramiko.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from attest.collectors import Collector

__all__ = ["TargetOptions", "open_collector", "target_kind"]


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
    """

    baud: int = 115200
    timeout: float = 10.0
    identity: Path | None = None
    known_hosts: Path | None = None
    method: str = "pull"
    bootloader: bool = False
    audit_sample: int | None = None
    workers: int | None = None


class _Factory(Protocol):
    def __call__(self, target: str, options: TargetOptions) -> Collector: ...


#: target kind -> module providing ``from_target``
_MODULES = {
    "serial": "attest.collectors.mavlink.collector",
    "ssh": "attest.collectors.ssh.collector",
}


def target_kind(target: str) -> str:
    """``serial``, ``ssh`` or ``directory`` for a target string."""
    if target.startswith("ssh://"):
        return "ssh"
    if target.startswith(("socket://", "/dev/tty", "/dev/pts/", "/dev/serial/")):
        return "serial"
    return "directory"


def open_collector(target: str, options: TargetOptions | None = None) -> Collector:
    """The collector for ``target``.

    Raises:
        ConfigError: a malformed target string.
    """
    opts = options or TargetOptions()
    kind = target_kind(target)
    if kind == "directory":
        from attest.collectors.directory import DirectoryCollector

        return DirectoryCollector(target, workers=opts.workers)
    module = importlib.import_module(_MODULES[kind])
    factory = cast("_Factory", module.from_target)
    return factory(target, opts)
