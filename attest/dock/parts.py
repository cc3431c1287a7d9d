"""A drone's parts in the dock's configuration: the kinds, the targets each accepts, and reading one.

A part's kind fixes which targets it may have, so that a target of the
wrong kind is a configuration problem, not a surprise at event time:

==============  =====================================================================
``fc``          ``device`` (a tty path or ``socket://``) or ``usb_serial`` (its tty)
``companion``   ``target``: ``ssh://USER@HOST[:PORT][/DIR]`` or a directory
``controller``  ``target``: ``adb+tcp://HOST[:PORT]`` or ``adb://SERIAL``; or only
                ``usb_serial``, which makes the target ``adb://<usb_serial>``
``aircraft``    ``device`` (``dji:///dev/ttyACM0``) or ``usb_serial`` (its tty, as ``dji://<tty>``)
==============  =====================================================================

Each part may list Sigstore bundles over its baselines' payloads
(``bundles``, ``full_bundles``): they count toward the trust policy's
threshold wherever the dock or the gate checks that baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attest.dock.tomlcheck import (
    Problems,
    duration_at,
    path_at,
    paths_at,
    positive_int_at,
    string_at,
    table_at,
    unknown_keys,
)
from attest.errors import ConfigError
from attest.targets import TargetOptions, target_kind

__all__ = ["PART_KINDS", "PART_NAMES", "PartConfig", "read_part"]

#: The kinds of part a drone can have, in the order a dock event attests (and logs) them.
PART_KINDS = ("fc", "companion", "controller", "aircraft")
#: What a part of each kind is, for messages.
PART_NAMES = {
    "fc": "a flight controller",
    "companion": "a companion computer",
    "controller": "an Android controller",
    "aircraft": "a DJI aircraft",
}
_COMMON_PART = {"baseline", "full_baseline", "bundles", "full_bundles", "usb_serial", "timeout", "match"}
_PART_KEYS = {
    "fc": _COMMON_PART | {"device", "baud", "bootloader"},
    "companion": _COMMON_PART | {"target", "identity", "known_hosts", "method", "audit_sample"},
    "controller": _COMMON_PART | {"target", "method", "audit_sample"},
    "aircraft": _COMMON_PART | {"device", "baud"},
}
#: The key naming a part's fixed target, by kind.
_FIXED_KEY = {"fc": "device", "companion": "target", "controller": "target", "aircraft": "device"}
#: The target kinds (:func:`attest.targets.target_kind`) each part kind accepts, and how to write them.
_TARGET_KINDS = {
    "fc": ({"serial"}, "a tty path or socket://HOST:PORT"),
    "companion": ({"ssh", "directory"}, "ssh://USER@HOST[:PORT][/DIR] or a directory"),
    "controller": ({"adb"}, "adb+tcp://HOST[:PORT] or adb://SERIAL"),
    "aircraft": ({"dji"}, "dji:// followed by its tty, e.g. dji:///dev/ttyACM0"),
}


@dataclass(frozen=True)
class PartConfig:
    """One part of a drone and how the dock finds and attests it.

    Attributes:
        kind: ``fc`` (flight controller), ``companion``, ``controller`` (Android) or ``aircraft`` (DJI).
        baseline: the signed baseline file it is attested against.
        usb_serial: found by this USB serial number (a tty whose USB device reports it; for a
            companion its USB network link; for a controller its USB device), or ``None``.
        device: a fixed port: a tty path or ``socket://`` (flight controllers), ``dji://TTY``
            (aircraft), or ``None``.
        target: a fixed target: ``ssh://USER@HOST[:PORT][/DIR]`` or a directory (companions),
            ``adb+tcp://HOST[:PORT]`` or ``adb://SERIAL`` (controllers), or ``None``.
        options: transport options (baud, timeout, SSH identity and known_hosts, method, the
            state directory holding the dock's ADB key).
        match: identity facts the device must report (e.g. ``uid``), checked after
            the run in addition to the baseline's own device selector.
        full_baseline: a second baseline that measures more (e.g. the whole flash,
            minutes at 115,200 baud), used by ``attest dock --full`` instead of ``baseline``;
            a pass against either clears.
        bundles: Sigstore bundle files over ``baseline``'s payload; each counts toward the
            threshold for the Sigstore signer of the trust policy it names.
        full_bundles: the same for ``full_baseline``.
    """

    kind: str
    baseline: Path
    usb_serial: str | None = None
    device: str | None = None
    target: str | None = None
    options: TargetOptions = field(default_factory=TargetOptions)
    match: Mapping[str, str] = field(default_factory=dict)
    full_baseline: Path | None = None
    bundles: tuple[Path, ...] = ()
    full_bundles: tuple[Path, ...] = ()

    def baseline_for(self, *, full: bool) -> Path:
        """The baseline an event attests this part against: ``full_baseline`` for a full event, if set."""
        return self.full_baseline if full and self.full_baseline is not None else self.baseline

    def bundles_for(self, *, full: bool) -> tuple[Path, ...]:
        """The Sigstore bundles of the baseline :meth:`baseline_for` names."""
        return self.full_bundles if full and self.full_baseline is not None else self.bundles

    def baselines(self) -> tuple[tuple[Path, tuple[Path, ...]], ...]:
        """Every configured baseline of the part with its bundles: ``baseline``, then ``full_baseline`` if set."""
        both = ((self.baseline, self.bundles), (self.full_baseline, self.full_bundles))
        return tuple((path, bundles) for path, bundles in both if path is not None)

    @property
    def fixed_target(self) -> str | None:
        """The target when it does not have to be found by USB serial number."""
        return self.device or self.target

    def describe(self) -> str:
        """``usb_serial 3A00…``, ``device /dev/pts/3`` or ``ssh://…``: how the part is found."""
        if self.usb_serial is not None:
            return f"usb_serial {self.usb_serial}"
        return f"device {self.fixed_target}" if self.device else str(self.target)


def _target_problem(kind: str, fixed: str) -> str | None:
    """Why ``fixed`` cannot be the target of a part of ``kind`` (a kind it is not measured through), or ``None``."""
    key = _FIXED_KEY[kind]
    accepted, how = _TARGET_KINDS[kind]
    try:
        found = target_kind(fixed)
    except ConfigError as e:
        return str(e)
    if found not in accepted:
        return f"{fixed!r} is not {how} ({PART_NAMES[kind]}'s {key})"
    if found == "adb":
        from attest.transports.adb import AdbTarget  # only docks with a controller pay for the import

        try:
            AdbTarget.parse(fixed)
        except ConfigError as e:
            return str(e)
    elif found == "dji":
        port = fixed.partition("://")[2]
        if not port.startswith("/") or "\0" in port:
            return f"{fixed!r}: expected dji:// followed by a device path, e.g. dji:///dev/ttyACM0"
    return None


def _locating(p: Problems, where: str, kind: str, usb_serial: str | None, fixed: str | None) -> str | None:
    """Check how the part is found; returns its fixed target (``adb://<usb_serial>`` for a bare controller)."""
    key = _FIXED_KEY[kind]
    if kind in ("fc", "aircraft") and (usb_serial is None) == (fixed is None):
        p.add(where, f"give exactly one of usb_serial (found by its USB serial number) or {key} (a fixed port)")
    if kind == "companion" and fixed is None:
        # A companion is always reached by its target; usb_serial only recognises its USB network link.
        p.add(f"{where}.target", "missing (required: ssh://USER@HOST[:PORT] or a directory)")
    if kind == "controller" and fixed is None:
        if usb_serial is None:
            p.add(f"{where}.target", "missing (required: adb+tcp://HOST[:PORT], adb://SERIAL, or usb_serial alone)")
            return None
        # Over USB, adb names a device by its USB serial number: the target is adb://<usb_serial>.
        fixed = f"adb://{usb_serial}"
        why = _target_problem(kind, fixed)
        if why is not None:
            p.add(f"{where}.usb_serial", f"cannot name an ADB device: {why}")
            return None
        return fixed
    if fixed is not None and (why := _target_problem(kind, fixed)) is not None:
        p.add(f"{where}.{key}", why)
    return fixed


def read_part(
    p: Problems, where: str, kind: str, data: Any, *, base: Path, baselines: Path, timeout: float, state_dir: Path
) -> PartConfig | None:
    """The part of ``kind`` in table ``data`` (at ``where``), or ``None`` after adding its problems to ``p``.

    Args:
        p: where problems go.
        where: the table's location, for messages (``drones[UAV-07].fc``).
        kind: one of :data:`PART_KINDS`.
        data: the table.
        base: the configuration file's directory (SSH identity, known_hosts, a directory target).
        baselines: where baseline and bundle names resolve.
        timeout: the dock's default timeout (the part's ``timeout`` overrides it).
        state_dir: the dock's state directory (a controller's ADB key lives there).
    """
    t = table_at(p, where, data)
    if not t:
        return None
    before = len(p.items)
    unknown_keys(p, where, t, _PART_KEYS[kind])
    baseline = path_at(p, f"{where}.baseline", t.get("baseline"), baselines, required=True)
    full_baseline = path_at(p, f"{where}.full_baseline", t.get("full_baseline"), baselines)
    bundles = paths_at(p, f"{where}.bundles", t.get("bundles"), baselines)
    full_bundles = paths_at(p, f"{where}.full_bundles", t.get("full_bundles"), baselines)
    if full_bundles and "full_baseline" not in t:
        p.add(f"{where}.full_bundles", "given without full_baseline (the bundles of baseline are bundles)")
    usb_serial = string_at(p, f"{where}.usb_serial", t.get("usb_serial"))
    key = _FIXED_KEY[kind]
    fixed = _locating(p, where, kind, usb_serial, string_at(p, f"{where}.{key}", t.get(key)))
    match = t.get("match", {})
    if not isinstance(match, dict) or not all(isinstance(v, str) for v in match.values()):
        p.add(f"{where}.match", f"expected a table of strings (identity facts, e.g. uid), got {match!r}")
        match = {}
    part_timeout = duration_at(p, f"{where}.timeout", t.get("timeout"), timeout)
    baud = positive_int_at(p, f"{where}.baud", t.get("baud"), 115200) if "baud" in _PART_KEYS[kind] else 115200
    bootloader = t.get("bootloader", False)
    if not isinstance(bootloader, bool):
        p.add(f"{where}.bootloader", f"expected true or false, got {bootloader!r}")
        bootloader = False
    method = t.get("method", "pull")
    if method not in ("pull", "remote"):
        p.add(f"{where}.method", f"expected 'pull' or 'remote', got {method!r}")
        method = "pull"
    options = TargetOptions(
        baud=baud or 115200,
        timeout=part_timeout,
        identity=path_at(p, f"{where}.identity", t.get("identity"), base),
        known_hosts=path_at(p, f"{where}.known_hosts", t.get("known_hosts"), base),
        method=method,
        bootloader=bootloader,
        audit_sample=positive_int_at(p, f"{where}.audit_sample", t.get("audit_sample"), None),
        # The dock's ADB key (created on first use) lives in the state directory, as for attest verify.
        state_dir=state_dir if kind == "controller" else None,
    )
    if len(p.items) != before or baseline is None:
        return None
    if kind == "companion" and fixed is not None and target_kind(fixed) == "directory":
        fixed = str(base / fixed)
    return PartConfig(
        kind=kind,
        baseline=baseline,
        full_baseline=full_baseline,
        bundles=bundles,
        full_bundles=full_bundles,
        usb_serial=usb_serial,
        device=fixed if key == "device" else None,
        target=fixed if key == "target" else None,
        options=options,
        match=dict(match),
    )
