"""``attest sim android``: a simulated Android controller speaking the real ADB wire protocol over TCP.

It listens on a loopback port, prints its target (``adb+tcp://127.0.0.1:PORT``)
alone on the first line of stdout once it is ready, and serves until killed.
The controller (:mod:`attest.sim.android_device`) is a smart controller with a
flight app, ``com.example.flight``, among system and user apps; its shell
(:mod:`attest.sim.android_shell`) answers ``getprop``, ``pm``, ``dumpsys
package``, ``cmd appops``, ``sha256sum`` and ``cat``; its adbd
(:mod:`attest.sim.android_adbd`) speaks CNXN, AUTH with RSA keys,
OPEN/OKAY/WRTE/CLSE, shell (v1 and v2) and sync (STAT, LIST, RECV), so
Debian's ``adb`` client can ``connect``, ``shell`` and ``pull`` against it.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from attest.sim.android_adbd import Adbd, AdbdFaults
from attest.sim.android_device import build_controller
from attest.sim.android_shell import Shell
from attest.transports.adb import parse_pubkey_line

__all__ = ["AndroidSimConfig", "make_adbd", "run_android"]


@dataclass
class AndroidSimConfig:
    """Everything ``attest sim android`` can be told."""

    host: str = "127.0.0.1"
    port: int = 0
    serial: str = "RCPRO0000001"
    props: dict[str, str] = field(default_factory=dict)
    apk_dir: Path | None = None
    swap_cert: tuple[str, ...] = ()
    extra_packages: tuple[str, ...] = ()
    packages: int = 0
    hostile_names: bool = False
    apk_size: int = 0
    huge_apk: tuple[str, ...] = ()
    lie_sha256: bool = False
    adb_keys: Path | None = None
    faults: AdbdFaults = field(default_factory=AdbdFaults)


def make_adbd(cfg: AndroidSimConfig) -> Adbd:
    """The simulated adbd for ``cfg`` (built before anything is printed).

    Raises:
        ValueError: a fault names a package that is not installed, or ``adb_keys`` holds a bad key.
        OSError: ``apk_dir`` or ``adb_keys`` cannot be read.
    """
    device = build_controller(
        serial=cfg.serial,
        props=cfg.props,
        apk_dir=cfg.apk_dir,
        swap_cert=cfg.swap_cert,
        extra_packages=cfg.extra_packages,
        packages=cfg.packages,
        hostile_names=cfg.hostile_names,
        apk_size=cfg.apk_size,
        huge_apk=cfg.huge_apk,
    )
    adbd = Adbd(device, Shell(device, lie_sha256=cfg.lie_sha256), cfg.faults)
    if cfg.adb_keys is not None:
        for line in cfg.adb_keys.read_bytes().splitlines():
            if line.strip():
                adbd.keys.append(parse_pubkey_line(line))
    return adbd


def run_android(cfg: AndroidSimConfig, stdout: TextIO = sys.stdout) -> None:
    """Listen, print the target, serve until killed."""
    adbd = make_adbd(cfg)
    listener = socket.create_server((cfg.host, cfg.port), reuse_port=False)
    port = listener.getsockname()[1]
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    stdout.write(f"adb+tcp://{host}:{port}\n")
    stdout.flush()
    try:
        adbd.serve(listener)
    finally:
        listener.close()
