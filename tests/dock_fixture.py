"""A dock on a bench: fleet and dock keys, signed baselines, drones, the configuration file, and a sysfs.

:class:`Dock` writes a real ``attest.toml`` (every key as the issue spells it)
for drones whose parts are real: a directory companion made by ``attest sim
tree``, a simulated flight controller (``attest sim fc`` on a pty), or a real
sshd. :func:`fake_sysfs` turns a ``udevadm info --attribute-walk`` recording
into a directory tree shaped like sysfs (attribute files, ``subsystem`` and
``driver`` links, ``uevent`` files, ``class/`` links), which both the dock's
sysfs reader and ``udevadm test`` (in a private mount namespace) read.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import Fleet, Run, run_attest

#: The flight controller's USB serial number of the issue's example (a CubeOrange's MCU unique id).
CUBE_SERIAL = "3A0029000F51383236383935"

#: ``udevadm info --attribute-walk --name=/dev/ttyACM0`` of a CubeOrange on a dock, in the exact format
#: udevadm prints (trimmed to the attributes udev rules and the dock read). The values are the board's
#: own: USB_VENDOR 0x2DAE / USB_PRODUCT 0x1016 / "Hex/ProfiCNC" from ArduPilot's
#: libraries/AP_HAL_ChibiOS/hwdef/CubeOrange/hwdef.dat, the product string ArduPilot derives from the
#: board name, and the serial number from the issue. It was written from those sources, not captured
#: from a board (no hardware here); the attribute layout follows recordings of cdc_acm ports.
CUBE_ORANGE_RECORDING = """\
Udevadm info starts with the device specified by the devpath and then
walks up the chain of parent devices. It prints for every device
found, all possible attributes in the udev rules key format.
A rule to match, can be composed by the attributes of the device
and the attributes from one single parent device.

  looking at device '/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/tty/ttyACM0':
    KERNEL=="ttyACM0"
    SUBSYSTEM=="tty"
    DRIVER==""
    ATTR{dev}=="166:0"

  looking at parent device '/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0':
    KERNELS=="1-2:1.0"
    SUBSYSTEMS=="usb"
    DRIVERS=="cdc_acm"
    ATTRS{authorized}=="1"
    ATTRS{bAlternateSetting}==" 0"
    ATTRS{bInterfaceClass}=="02"
    ATTRS{bInterfaceNumber}=="00"
    ATTRS{bInterfaceProtocol}=="01"
    ATTRS{bInterfaceSubClass}=="02"
    ATTRS{bNumEndpoints}=="01"
    ATTRS{bmCapabilities}=="2"
    ATTRS{supports_autosuspend}=="1"

  looking at parent device '/devices/pci0000:00/0000:00:14.0/usb1/1-2':
    KERNELS=="1-2"
    SUBSYSTEMS=="usb"
    DRIVERS=="usb"
    ATTRS{authorized}=="1"
    ATTRS{bConfigurationValue}=="1"
    ATTRS{bDeviceClass}=="ef"
    ATTRS{bDeviceProtocol}=="01"
    ATTRS{bDeviceSubClass}=="02"
    ATTRS{bNumConfigurations}=="1"
    ATTRS{bNumInterfaces}==" 4"
    ATTRS{bcdDevice}=="0200"
    ATTRS{busnum}=="1"
    ATTRS{devnum}=="7"
    ATTRS{idProduct}=="1016"
    ATTRS{idVendor}=="2dae"
    ATTRS{manufacturer}=="Hex/ProfiCNC"
    ATTRS{product}=="CubeOrange"
    ATTRS{serial}=="3A0029000F51383236383935"
    ATTRS{speed}=="12"
    ATTRS{version}==" 2.00"

  looking at parent device '/devices/pci0000:00/0000:00:14.0/usb1':
    KERNELS=="usb1"
    SUBSYSTEMS=="usb"
    DRIVERS=="usb"
    ATTRS{idProduct}=="0002"
    ATTRS{idVendor}=="1d6b"
    ATTRS{manufacturer}=="Linux 6.1.0-18-amd64 xhci-hcd"
    ATTRS{product}=="xHCI Host Controller"
    ATTRS{serial}=="0000:00:14.0"

  looking at parent device '/devices/pci0000:00/0000:00:14.0':
    KERNELS=="0000:00:14.0"
    SUBSYSTEMS=="pci"
    DRIVERS=="xhci_hcd"

  looking at parent device '/devices/pci0000:00':
    KERNELS=="pci0000:00"
    SUBSYSTEMS==""
    DRIVERS==""
"""

_BLOCK = re.compile(r"looking at (?:parent )?device '([^']+)':\n((?:    .*\n?)*)")
_LINE = re.compile(r'    (KERNELS?|SUBSYSTEMS?|DRIVERS?|ATTRS?\{([^}]+)\})=="(.*)"')


def fake_sysfs(root: Path, recording: str = CUBE_ORANGE_RECORDING) -> Path:
    """Build ``root/sys`` from an attribute-walk recording; returns the device's syspath (``.../tty/ttyACM0``)."""
    sys_dir = root / "sys"
    first: Path | None = None
    for m in _BLOCK.finditer(recording):
        devpath, body = m.group(1), m.group(2)
        d = sys_dir / devpath.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        first = first or d
        facts: dict[str, str] = {}
        attrs: dict[str, str] = {}
        for line in body.splitlines():
            lm = _LINE.fullmatch(line)
            if lm is None:
                continue
            key, attr, value = lm.group(1), lm.group(2), lm.group(3)
            if attr is not None:
                attrs[attr] = value
            else:
                facts[key.rstrip("S")] = value
        for name, value in attrs.items():
            (d / name).write_text(value + "\n")
        subsystem, driver = facts.get("SUBSYSTEM", ""), facts.get("DRIVER", "")
        uevent = []
        if subsystem:
            target = sys_dir / ("class" if subsystem in ("tty", "net") else "bus") / subsystem
            target.mkdir(parents=True, exist_ok=True)
            _link(d / "subsystem", target)
        if driver:
            drv = sys_dir / "bus" / (subsystem or "platform") / "drivers" / driver
            drv.mkdir(parents=True, exist_ok=True)
            _link(d / "driver", drv)
            uevent.append(f"DRIVER={driver}")
        if "idVendor" in attrs:
            uevent += ["DEVTYPE=usb_device", f"PRODUCT={attrs['idVendor']}/{attrs['idProduct']}/1"]
        elif "bInterfaceNumber" in attrs:
            uevent += ["DEVTYPE=usb_interface", f"INTERFACE={attrs['bInterfaceClass']}/{attrs['bInterfaceSubClass']}/1"]
        if subsystem == "tty" and "dev" in attrs:
            major, minor = attrs["dev"].split(":")
            uevent += [f"MAJOR={major}", f"MINOR={minor}", f"DEVNAME={facts['KERNEL']}"]
            (sys_dir / "class" / "tty").mkdir(parents=True, exist_ok=True)
            _link(sys_dir / "class" / "tty" / facts["KERNEL"], d)
            _link(d / "device", d.parent.parent)  # the interface, as in sysfs
        if subsystem == "net":
            (sys_dir / "class" / "net").mkdir(parents=True, exist_ok=True)
            _link(sys_dir / "class" / "net" / facts["KERNEL"], d)
            _link(d / "device", d.parent.parent)
            uevent.append(f"INTERFACE={facts['KERNEL']}")
        (d / "uevent").write_text("".join(f"{u}\n" for u in uevent))
    if first is None:
        raise ValueError("no device in the recording")
    return first


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))


def net_recording(serial: str, driver: str = "cdc_ether", iface: str = "usb0") -> str:
    """A recording (same format) of a drone's USB network link: a Linux companion's USB Ethernet gadget."""
    usb = "/devices/pci0000:00/0000:00:14.0/usb1/1-3"
    blocks = [
        (f"{usb}/1-3:1.0/net/{iface}", [f'KERNEL=="{iface}"', 'SUBSYSTEM=="net"', 'DRIVER==""']),
        (
            f"{usb}/1-3:1.0",
            [
                'KERNELS=="1-3:1.0"',
                'SUBSYSTEMS=="usb"',
                f'DRIVERS=="{driver}"',
                'ATTRS{bInterfaceClass}=="02"',
                'ATTRS{bInterfaceNumber}=="00"',
                'ATTRS{bInterfaceSubClass}=="06"',
            ],
        ),
        (
            usb,
            [
                'KERNELS=="1-3"',
                'SUBSYSTEMS=="usb"',
                'DRIVERS=="usb"',
                'ATTRS{idProduct}=="a4a2"',
                'ATTRS{idVendor}=="0525"',
                'ATTRS{product}=="RNDIS/Ethernet Gadget"',
                f'ATTRS{{serial}}=="{serial}"',
            ],
        ),
    ]
    out = []
    for n, (path, lines) in enumerate(blocks):
        out.append(f"  looking at {'parent ' if n else ''}device '{path}':")
        out += [f"    {line}" for line in lines]
        out.append("")
    return "\n".join(out) + "\n"


# -- a dock ---------------------------------------------------------------------------------------


@dataclass
class Drone:
    """One drone of the configuration: its name and its parts' TOML inline tables."""

    name: str
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


@dataclass
class Dock:
    """A dock directory: keys, trust policy, baselines, the configuration, state.

    Attributes:
        dir: everything lives here.
        fleet: the fleet key that signs baselines.
        drones: the configured drones.
        hooks: ``[[hooks]]`` tables.
        dock: extra ``[dock]`` keys.
        gate: ``[gate]`` keys.
    """

    dir: Path
    fleet: Fleet
    drones: list[Drone] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    dock: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=lambda: {"fresh_for": "15m", "ticket_valid_for": "10m"})
    origin: str = "dock-test.example/attest"

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        key = self.dir / "dock.key"
        if not key.exists():
            r = run_attest(["key", "generate", "--out", key])
            assert r.code == 0, r.err
        (self.dir / "baselines").mkdir(exist_ok=True)

    @property
    def config(self) -> Path:
        return self.dir / "attest.toml"

    @property
    def state(self) -> Path:
        return self.dir / "state"

    @property
    def log(self) -> Path:
        return self.state / "log"

    def write(self) -> Path:
        """Write ``attest.toml``; returns its path."""
        dock = {
            "origin": self.origin,
            "key": "dock.key",
            "state_dir": "state",
            "trust": str(self.fleet.trust),
            "baselines": "baselines",
            "max_seconds": 60,
            **self.dock,
        }
        lines = ["[dock]", *(f"{k} = {_toml_value(v)}" for k, v in dock.items()), "", "[gate]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in self.gate.items()]
        for h in self.hooks:
            lines += ["", "[[hooks]]", *(f"{k} = {_toml_value(v)}" for k, v in h.items())]
        for d in self.drones:
            lines += ["", "[[drones]]", f"name = {_toml_value(d.name)}"]
            lines += [f"{kind} = {_toml_value(part)}" for kind, part in d.parts.items()]
        self.config.write_text("\n".join(lines) + "\n")
        return self.config

    def baseline(self, device: str, name: str, *extra: str, version: int = 1, out: str | None = None) -> str:
        """Create and sign a baseline of ``device`` into ``baselines/``; returns its file name.

        It runs with the dock's state directory, so an ADB target sees the dock's own ADB key.
        """
        file = out or f"{name}-v{version}.json"
        path = self.dir / "baselines" / file
        r = run_attest(
            ["baseline", "create", "--device", device, "--name", name, "--version", str(version), "--out", path,
             "--force", "--timeout", "5", *extra],
            env={"ATTEST_STATE_DIR": str(self.state)},
        )  # fmt: skip
        assert r.code == 0, r.err
        r = run_attest(["baseline", "sign", path, "--key", self.fleet.keys[0]])
        assert r.code == 0, r.err
        return file

    def companion_tree(self, name: str = "companion") -> Path:
        """A simulated companion filesystem (``attest sim tree``)."""
        path = self.dir / name
        if not path.exists():
            r = run_attest(["sim", "tree", "--out", path])
            assert r.code == 0, r.err
        return path

    def attest(self, *args: str | os.PathLike[str], timeout: float = 120, env: dict[str, str] | None = None) -> Run:
        """Run ``attest ARGS`` with this dock's configuration."""
        return run_attest(list(args), env={"ATTEST_CONFIG": str(self.config), **(env or {})}, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start ``attest ARGS`` with this dock's configuration, without waiting."""
        env = {**os.environ, "ATTEST_CONFIG": str(self.config)}
        return subprocess.Popen(
            [sys.executable, "-m", "attest", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def copy(self, dest: Path) -> Dock:
        """A copy of this dock in ``dest`` (keys, baselines, trees, state), its configuration rewritten there."""
        subprocess.run(["cp", "-a", str(self.dir), str(dest)], check=True)  # cp: the trees hold a FIFO
        other = Dock(
            dest,
            self.fleet,
            drones=copy.deepcopy(self.drones),
            hooks=copy.deepcopy(self.hooks),
            dock=dict(self.dock),
            gate=dict(self.gate),
            origin=self.origin,
        )
        other.write()
        return other

    def vkey(self) -> str:
        r = run_attest(["log", "key", "--dock-key", self.dir / "dock.key", "--origin", self.origin])
        assert r.code == 0, r.err
        return r.out.strip()

    def log_verifies(self) -> Run:
        return run_attest(["log", "verify", "--log", self.log, "--vkey", self.vkey()])


def directory_drone(dock: Dock, name: str, *, tree: str | None = None) -> Drone:
    """A drone whose only part is a directory companion (fast: no device to wait for).

    The target is relative to the configuration file, so a :meth:`Dock.copy` attests its own trees.
    """
    path = dock.companion_tree(tree or f"{name}-companion")
    file = dock.baseline(str(path), f"{name}-companion")
    drone = Drone(name, {"companion": {"target": path.name, "baseline": file}})
    dock.drones.append(drone)
    return drone


def require_tools(*tools: str) -> list[str]:
    """The tools missing from PATH."""
    return [t for t in tools if shutil.which(t) is None]


def write_hook(path: Path, body: str) -> Path:
    """An executable shell hook (``#!/bin/sh``) at ``path``."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path
