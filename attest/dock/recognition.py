"""Which drone docked: from the port that appeared, or by name; and where each of its parts is now.

A dock event starts from one of three triggers:

* ``--device PATH`` (udev, a flight controller's or DJI aircraft's tty): a
  part whose fixed ``device`` is that path (``dji://PATH`` for an aircraft),
  else the ``fc`` or ``aircraft`` whose ``usb_serial`` is the USB serial
  number sysfs reports for the port;
* ``--net IFACE`` (udev, a USB network link): the part whose ``usb_serial``
  the interface's USB device reports;
* ``--drone NAME``: that drone.

Recognising never fails silently: a port that no drone entry matches is an
*unknown device* (:attr:`Recognised.drone` is ``None``), which the dock logs
and blocks. Then every part of the drone gets a target: its fixed one, the
triggering port, or the tty sysfs finds for its ``usb_serial`` (``None`` when
it is not plugged in: that part's result is an error). A tty is a flight
controller's target as it is and an aircraft's as ``dji://TTY``; a controller
always has a fixed target (``adb://<usb_serial>`` when only that is
configured), which its collector finds over USB itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from attest.dock.config import DockConfig, DroneConfig
from attest.dock.parts import PartConfig
from attest.dock.usb import UsbInfo, find_ttys, net_usb, tty_usb
from attest.errors import ConfigError
from attest.targets import target_kind

__all__ = ["Recognised", "Trigger", "recognise"]

#: Part kinds reached through a tty of their own, which a ``--device`` trigger or a USB serial number finds.
TTY_KINDS = ("fc", "aircraft")
#: The URL scheme that makes a tty path an aircraft's target.
_DJI = "dji://"


@dataclass(frozen=True)
class Trigger:
    """What started the event: exactly one of a tty path, a network interface, or a drone name."""

    device: str | None = None
    net: str | None = None
    drone: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.device, self.net, self.drone)) != 1:
            raise ValueError("a trigger is exactly one of device, net or drone")

    def to_json(self) -> dict[str, str]:
        """``{"device": ...}``, ``{"net": ...}`` or ``{"drone": ...}``."""
        if self.device is not None:
            return {"device": self.device}
        if self.net is not None:
            return {"net": self.net}
        return {"drone": str(self.drone)}

    def describe(self) -> str:
        """``/dev/ttyACM0``, ``network interface usb0`` or ``drone UAV-07``."""
        if self.device is not None:
            return self.device
        return f"network interface {self.net}" if self.net is not None else f"drone {self.drone}"


@dataclass(frozen=True)
class Recognised:
    """The outcome of recognition.

    Attributes:
        trigger: what started the event.
        drone: the drone, or ``None`` for an unknown device.
        usb: USB facts of the triggering port, when it has any.
        targets: each part's target for this event (``None``: not found).
        missing: why a part has no target, by part kind.
        message: why the device is unknown (``drone`` is ``None``).
    """

    trigger: Trigger
    drone: DroneConfig | None
    usb: UsbInfo | None = None
    targets: dict[str, str | None] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    message: str | None = None

    def usb_json(self) -> dict[str, str | None] | None:
        """The triggering port's USB facts as JSON data (for the event), or ``None``."""
        u = self.usb
        if u is None:
            return None
        return {"id": u.id, "serial": u.serial, "manufacturer": u.manufacturer, "product": u.product_name}


def _same_path(a: str, b: str) -> bool:
    return a == b or (a.startswith("/") and b.startswith("/") and os.path.realpath(a) == os.path.realpath(b))


def _by_serial(cfg: DockConfig, serial: str | None, kinds: tuple[str, ...]) -> tuple[DroneConfig, PartConfig] | None:
    if serial is None:
        return None
    for d in cfg.drones:
        for p in d.parts:
            if p.kind in kinds and p.usb_serial == serial:
                return d, p
    return None


def recognise(cfg: DockConfig, trigger: Trigger) -> Recognised:
    """Find the drone behind ``trigger`` and each of its parts' targets.

    Raises:
        ConfigError: ``--drone`` names no configured drone (a usage error: nothing docked).
    """
    if trigger.drone is not None:
        drone = cfg.drone(trigger.drone)
        if drone is None:
            known = ", ".join(d.name for d in cfg.drones) or "none"
            raise ConfigError(f"no drone {trigger.drone!r} in {cfg.source} (configured: {known})")
        return _locate(cfg, Recognised(trigger, drone))
    if trigger.device is not None:
        device = trigger.device
        for d in cfg.drones:
            for p in d.parts:
                if p.device is not None and _same_path(p.device.removeprefix(_DJI), device):
                    return _locate(cfg, Recognised(trigger, d), (p.kind, device))
        usb = tty_usb(device, cfg.sysfs)
        found = _by_serial(cfg, usb.serial if usb else None, TTY_KINDS)
        if found is not None:
            return _locate(cfg, Recognised(trigger, found[0], usb), (found[1].kind, device))
        what = usb.describe() if usb is not None else "not a USB device sysfs knows"
        return Recognised(
            trigger, None, usb, message=f"unknown device {device} ({what}): no drone in {cfg.source} matches it"
        )
    net = str(trigger.net)
    usb = net_usb(net, cfg.sysfs)
    found = _by_serial(cfg, usb.serial if usb else None, ("companion",))
    if found is not None:
        return _locate(cfg, Recognised(trigger, found[0], usb))
    what = usb.describe() if usb is not None else "not a USB network link sysfs knows"
    return Recognised(
        trigger, None, usb, message=f"unknown network link {net} ({what}): no drone's companion matches it"
    )


def _serial(path: str) -> str:
    """``path`` as a serial-port target: itself, or the tty it links to (a devfs elsewhere than /dev)."""
    if target_kind(path) == "serial":
        return path
    real = os.path.realpath(path)
    return real if target_kind(real) == "serial" else path


def _tty_target(kind: str, path: str) -> str:
    """The target of a part of ``kind`` on the tty ``path``: the port itself, or ``dji://PORT`` for an aircraft."""
    port = _serial(path)
    return f"{_DJI}{port}" if kind == "aircraft" else port


def _locate(cfg: DockConfig, rec: Recognised, given: tuple[str, str] | None = None) -> Recognised:
    """Fill in every part's target: the triggering port, its fixed target, or the tty found by USB serial."""
    if rec.drone is None:  # pragma: no cover - callers pass a drone
        raise ValueError("no drone to locate")
    for p in rec.drone.parts:
        if given is not None and p.kind == given[0]:
            rec.targets[p.kind] = _tty_target(p.kind, given[1])
        elif p.fixed_target is not None:
            rec.targets[p.kind] = p.fixed_target
        elif p.usb_serial is not None:
            names = find_ttys(p.usb_serial, cfg.sysfs)
            if names:
                rec.targets[p.kind] = _tty_target(p.kind, str(cfg.devfs / names[0]))
            else:
                rec.targets[p.kind] = None
                rec.missing[p.kind] = f"no serial port with USB serial {p.usb_serial} is connected"
    return rec
