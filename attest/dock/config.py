"""The dock's configuration file, ``/etc/attest/attest.toml``: read it, check every key, resolve paths.

The file (docs/dock.md has every key; ``systemd/attest.toml.example`` is a
commented example)::

    [dock]                      origin, key, state_dir, trust, baselines, max_seconds, timeout
    [gate]                      fresh_for, ticket_valid_for
    [[hooks]]                   on, run, timeout
    [[drones]]                  name, fc = {...}, companion = {...}, controller = {...}, aircraft = {...}

:func:`load_config` refuses the file unless *every* key is known and of the
right type, and reports every problem at once (a :class:`ConfigError` whose
message has one line per problem). Relative paths resolve against the
configuration file's directory, and baseline and bundle names against
``baselines``.
Durations are written ``300ms``, ``10s``, ``15m``, ``1h``, ``2d`` or a sum
such as ``1h30m``; ``max_seconds`` is a plain number of seconds.

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

Whether the files the configuration names are usable (keys, trust policy,
baselines, bundles, hook programs) is
:func:`attest.dock.readiness.check_files`' job: ``attest config check`` runs both.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attest.errors import ConfigError
from attest.fsutil import read_bounded
from attest.targets import TargetOptions, target_kind

__all__ = [
    "ACTIONS",
    "DEFAULT_CONFIG",
    "PART_KINDS",
    "DockConfig",
    "DroneConfig",
    "HookConfig",
    "PartConfig",
    "config_path",
    "format_duration",
    "load_config",
    "parse_duration",
]

#: Where the dock service reads its configuration (``--config`` and ``$ATTEST_CONFIG`` override it).
DEFAULT_CONFIG = Path("/etc/attest/attest.toml")
#: A configuration file is small; a larger one is refused.
MAX_CONFIG_BYTES = 1024 * 1024
#: What a hook can be run on.
ACTIONS = ("block", "clear")
#: The kinds of part a drone can have, in the order a dock event attests (and logs) them.
PART_KINDS = ("fc", "companion", "controller", "aircraft")
#: What a part of each kind is, for messages.
PART_NAMES = {
    "fc": "a flight controller",
    "companion": "a companion computer",
    "controller": "an Android controller",
    "aircraft": "a DJI aircraft",
}
#: A Sigstore bundle list is short (one bundle per Sigstore signer); more is a mistake.
MAX_BUNDLES = 32
#: Drone names: ASCII, usable as a systemd instance name and a file name.
DRONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Time kept back from ``max_seconds`` for signing, logging and the gate (at most this, at most a fifth).
LOG_RESERVE_SECONDS = 10.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``10s``, ``15m``, ``1h30m`` or ``250ms``.

    Raises:
        ValueError: not of that form, or not positive.
    """
    pos, total = 0, 0.0
    text = text.strip()
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None:
            raise ValueError(f"{text!r} is not a duration (write e.g. 10s, 15m, 1h, 1h30m)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or total <= 0:
        raise ValueError(f"{text!r} is not a positive duration (write e.g. 10s, 15m, 1h)")
    return total


def format_duration(seconds: float) -> str:
    """``900`` -> ``15m``, ``5400`` -> ``1h30m``, ``2.5`` -> ``2.5s`` (the inverse of :func:`parse_duration`)."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    out, left = "", int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


def config_path(given: Path | None) -> Path:
    """``--config``, else ``$ATTEST_CONFIG``, else :data:`DEFAULT_CONFIG`."""
    if given is not None:
        return given
    env = os.environ.get("ATTEST_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


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


@dataclass(frozen=True)
class DroneConfig:
    """One drone: its name and its parts (at least one)."""

    name: str
    parts: tuple[PartConfig, ...]

    def part(self, kind: str) -> PartConfig | None:
        """The part of ``kind``, if the drone has one."""
        return next((p for p in self.parts if p.kind == kind), None)


@dataclass(frozen=True)
class HookConfig:
    """A program run after the gate changes: ``run`` plus the action as its last argument.

    Attributes:
        on: the actions that run it (``block``, ``clear``).
        run: the argv (no shell); ``run[0]`` is an absolute path.
        timeout: seconds before its whole process group is killed.
    """

    on: tuple[str, ...]
    run: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class DockConfig:
    """The whole configuration, checked and with every path resolved.

    Attributes:
        source: the file it was read from.
        origin: the log's origin (its checkpoints' first line).
        key: the dock's private key (signs results, checkpoints and tickets).
        state_dir: rollback state, the log (``state_dir/log``) and the gate's state (``state_dir/gate``).
        trust: the trust policy of baselines.
        baselines: where relative baseline names resolve.
        max_seconds: the whole-event deadline of one dock event.
        fresh_for: seconds a pass clears the gate.
        ticket_valid_for: seconds a clearance ticket is valid at most.
        hooks: programs run on ``block`` and ``clear``.
        drones: every drone this dock knows.
        sysfs: where sysfs is mounted (tests use a recorded copy).
        devfs: where device nodes of sysfs' ttys are (``devfs/ttyACM0``).
    """

    source: Path
    origin: str
    key: Path
    state_dir: Path
    trust: Path
    baselines: Path
    max_seconds: float = 300.0
    fresh_for: float = 900.0
    ticket_valid_for: float = 600.0
    hooks: tuple[HookConfig, ...] = ()
    drones: tuple[DroneConfig, ...] = ()
    sysfs: Path = Path("/sys")
    devfs: Path = Path("/dev")

    @property
    def log_dir(self) -> Path:
        """The log directory: ``state_dir/log``."""
        return self.state_dir / "log"

    @property
    def gate_dir(self) -> Path:
        """The gate's state directory: ``state_dir/gate``."""
        return self.state_dir / "gate"

    def drone(self, name: str) -> DroneConfig | None:
        """The drone called ``name``, if configured."""
        return next((d for d in self.drones if d.name == name), None)

    def hook_seconds(self) -> float:
        """The longest time the hooks of one action can take (they run one after the other)."""
        return max((sum(h.timeout for h in self.hooks if a in h.on) for a in ACTIONS), default=0.0)

    def measuring_budget(self, max_seconds: float | None = None) -> float:
        """Seconds the parts may be measured for, so that the whole event ends within ``max_seconds``.

        What is kept back: the hooks' timeouts (:meth:`hook_seconds`) and
        :data:`LOG_RESERVE_SECONDS` (at most a fifth of the deadline) for
        signing, logging and updating the gate.

        Raises:
            ConfigError: nothing would be left for measuring.
        """
        total = self.max_seconds if max_seconds is None else max_seconds
        budget = total - self.hook_seconds() - min(LOG_RESERVE_SECONDS, total / 5)
        if budget < 1:
            raise ConfigError(
                f"max_seconds {total:g} leaves {budget:.1f} s for measuring after the hooks' timeouts "
                f"({self.hook_seconds():g} s) and logging; raise it or shorten the hooks"
            )
        return budget


# -- reading ---------------------------------------------------------------------------------------


class _Problems:
    """Collects every problem with a location, so that one run of ``config check`` lists them all."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.source}: {where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError("\n".join(self.items))


_TOP = {"dock", "gate", "hooks", "drones"}
_DOCK = {"origin", "key", "state_dir", "trust", "baselines", "max_seconds", "timeout", "sysfs", "devfs"}
_GATE = {"fresh_for", "ticket_valid_for"}
_HOOK = {"on", "run", "timeout"}
_DRONE = {"name", *PART_KINDS}
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


def _unknown(p: _Problems, where: str, table: Mapping[str, Any], known: set[str]) -> None:
    for key in sorted(set(table) - known):
        p.add(f"{where}.{key}" if where else key, f"unknown key (known: {', '.join(sorted(known))})")


def _table(p: _Problems, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        p.add(where, f"expected a table, got {type(value).__name__}")
        return {}
    return value


def _string(p: _Problems, where: str, value: Any, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            p.add(where, "missing (required)")
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        p.add(where, f"expected a non-empty string, got {value!r}")
        return None
    return value


def _path(p: _Problems, where: str, value: Any, base: Path, *, required: bool = False) -> Path | None:
    text = _string(p, where, value, required=required)
    return base / text if text is not None else None


def _duration(p: _Problems, where: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if not isinstance(value, str):
        p.add(where, f"expected a duration string such as '10s' or '15m', got {value!r}")
        return default
    try:
        return parse_duration(value)
    except ValueError as e:
        p.add(where, str(e))
        return default


def _positive_int(p: _Problems, where: str, value: Any, default: int | None) -> int | None:
    if value is None:
        return default
    if type(value) is not int or value < 1:
        p.add(where, f"expected a positive integer, got {value!r}")
        return default
    return value


def load_config(path: Path) -> DockConfig:
    """Read and check the configuration file; every problem is reported at once.

    Args:
        path: the TOML file.

    Raises:
        ConfigError: unreadable, not TOML, or any key unknown, missing or
            malformed (one line per problem).
    """
    raw = read_bounded(path, MAX_CONFIG_BYTES, what="configuration")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a TOML configuration: {e}") from e
    except RecursionError as e:  # tomllib recurses on nested arrays and inline tables
        raise ConfigError(f"{path}: not a TOML configuration: nested too deeply") from e
    return _from_data(data, path)


def _from_data(data: dict[str, Any], path: Path) -> DockConfig:
    p = _Problems(str(path))
    base = path.parent if path.parent != Path() else Path(".")
    _unknown(p, "", data, _TOP)
    dock = _table(p, "[dock]", data.get("dock", {})) if "dock" in data else {}
    if "dock" not in data:
        p.add("[dock]", "missing (required: origin, key, trust)")
    _unknown(p, "dock", dock, _DOCK)
    origin = _string(p, "dock.origin", dock.get("origin"), required=bool(dock))
    if origin is not None and (not origin.isprintable() or "+" in origin or " " in origin):
        p.add("dock.origin", f"{origin!r} cannot be a log origin (printable, no spaces, no '+')")
    key = _path(p, "dock.key", dock.get("key"), base, required=bool(dock))
    trust = _path(p, "dock.trust", dock.get("trust"), base, required=bool(dock))
    state_dir = _path(p, "dock.state_dir", dock.get("state_dir", "/var/lib/attest"), base)
    baselines = _path(p, "dock.baselines", dock.get("baselines", "baselines"), base)
    sysfs = _path(p, "dock.sysfs", dock.get("sysfs", "/sys"), base)
    devfs = _path(p, "dock.devfs", dock.get("devfs", "/dev"), base)
    max_seconds = dock.get("max_seconds", 300)
    if type(max_seconds) not in (int, float) or not 0 < max_seconds < 86400:
        p.add("dock.max_seconds", f"expected a number of seconds between 0 and 86400, got {max_seconds!r}")
        max_seconds = 300
    timeout = _duration(p, "dock.timeout", dock.get("timeout"), 10.0)

    gate = _table(p, "[gate]", data.get("gate", {}))
    _unknown(p, "gate", gate, _GATE)
    fresh_for = _duration(p, "gate.fresh_for", gate.get("fresh_for"), 900.0)
    ticket_valid_for = _duration(p, "gate.ticket_valid_for", gate.get("ticket_valid_for"), 600.0)

    hooks_data = data.get("hooks", [])
    if not isinstance(hooks_data, list):
        p.add("hooks", "expected an array of tables ([[hooks]])")
        hooks_data = []
    hooks = tuple(hook for i, h in enumerate(hooks_data) if (hook := _hook(p, f"hooks[{i}]", h)) is not None)

    drones_data = data.get("drones", [])
    if not isinstance(drones_data, list):
        p.add("drones", "expected an array of tables ([[drones]])")
        drones_data = []
    drones = []
    for i, d in enumerate(drones_data):
        drone = _drone(
            p,
            f"drones[{i}]",
            d,
            base=base,
            baselines=baselines or base,
            timeout=timeout,
            state_dir=state_dir or Path("/var/lib/attest"),
        )
        if drone is not None:
            drones.append(drone)
    _check_unique(p, drones)
    p.raise_if_any()
    if origin is None or key is None or trust is None or state_dir is None or baselines is None:  # pragma: no cover
        raise ConfigError(f"{path}: incomplete [dock] table")
    cfg = DockConfig(
        source=path,
        origin=origin,
        key=key,
        state_dir=state_dir,
        trust=trust,
        baselines=baselines,
        max_seconds=float(max_seconds),
        fresh_for=fresh_for,
        ticket_valid_for=ticket_valid_for,
        hooks=hooks,
        drones=tuple(drones),
        sysfs=sysfs or Path("/sys"),
        devfs=devfs or Path("/dev"),
    )
    try:
        cfg.measuring_budget()
    except ConfigError as e:
        raise ConfigError(f"{path}: dock.max_seconds: {e}") from None
    return cfg


def _hook(p: _Problems, where: str, data: Any) -> HookConfig | None:
    h = _table(p, where, data)
    if not h:
        return None
    _unknown(p, where, h, _HOOK)
    ok = True
    on = h.get("on")
    if not isinstance(on, list) or not on or not all(a in ACTIONS for a in on):
        p.add(f"{where}.on", f"expected a non-empty list of {', '.join(repr(a) for a in ACTIONS)}, got {on!r}")
        ok = False
    run = h.get("run")
    if not isinstance(run, list) or not run or not all(isinstance(a, str) and "\0" not in a for a in run):
        p.add(f"{where}.run", f"expected a non-empty list of strings (an argv; no shell), got {run!r}")
        ok = False
    elif not os.path.isabs(run[0]):
        p.add(f"{where}.run", f"run[0] must be an absolute path (no PATH lookup), got {run[0]!r}")
        ok = False
    timeout = _duration(p, f"{where}.timeout", h.get("timeout"), 10.0)
    if not ok:
        return None
    return HookConfig(on=tuple(dict.fromkeys(on)), run=tuple(run), timeout=timeout)  # type: ignore[arg-type]


def _drone(
    p: _Problems, where: str, data: Any, *, base: Path, baselines: Path, timeout: float, state_dir: Path
) -> DroneConfig | None:
    d = _table(p, where, data)
    if not d:
        return None
    _unknown(p, where, d, _DRONE)
    name = _string(p, f"{where}.name", d.get("name"), required=True)
    if name is not None and DRONE_NAME.fullmatch(name) is None:
        p.add(
            f"{where}.name",
            f"{name!r}: use 1-64 ASCII letters, digits, '.', '_' or '-', starting with one of the first two",
        )
        name = None
    label = f"drones[{name}]" if name else where
    parts = []
    for kind in PART_KINDS:
        if kind in d:
            part = _part(
                p,
                f"{label}.{kind}",
                kind,
                d[kind],
                base=base,
                baselines=baselines,
                timeout=timeout,
                state_dir=state_dir,
            )
            if part is not None:
                parts.append(part)
    if not any(k in d for k in PART_KINDS):
        p.add(label, f"no parts: give at least one of {', '.join(PART_KINDS)}")
    if name is None or len(parts) != sum(k in d for k in PART_KINDS):
        return None
    return DroneConfig(name=name, parts=tuple(parts))


def _paths(p: _Problems, where: str, value: Any, base: Path) -> tuple[Path, ...]:
    """A list of file names (``bundles = ["a.sigstore.json"]``), each resolved against ``base``."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\0" not in v for v in value):
        p.add(where, f"expected a list of file names, got {value!r}")
        return ()
    if len(value) > MAX_BUNDLES:
        p.add(where, f"{len(value)} files, more than {MAX_BUNDLES}")
        return ()
    return tuple(dict.fromkeys(base / v for v in value))


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


def _locating(p: _Problems, where: str, kind: str, usb_serial: str | None, fixed: str | None) -> str | None:
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


def _part(
    p: _Problems, where: str, kind: str, data: Any, *, base: Path, baselines: Path, timeout: float, state_dir: Path
) -> PartConfig | None:
    t = _table(p, where, data)
    if not t:
        return None
    before = len(p.items)
    _unknown(p, where, t, _PART_KEYS[kind])
    baseline = _path(p, f"{where}.baseline", t.get("baseline"), baselines, required=True)
    full_baseline = _path(p, f"{where}.full_baseline", t.get("full_baseline"), baselines)
    bundles = _paths(p, f"{where}.bundles", t.get("bundles"), baselines)
    full_bundles = _paths(p, f"{where}.full_bundles", t.get("full_bundles"), baselines)
    if full_bundles and "full_baseline" not in t:
        p.add(f"{where}.full_bundles", "given without full_baseline (the bundles of baseline are bundles)")
    usb_serial = _string(p, f"{where}.usb_serial", t.get("usb_serial"))
    key = _FIXED_KEY[kind]
    fixed = _locating(p, where, kind, usb_serial, _string(p, f"{where}.{key}", t.get(key)))
    match = t.get("match", {})
    if not isinstance(match, dict) or not all(isinstance(v, str) for v in match.values()):
        p.add(f"{where}.match", f"expected a table of strings (identity facts, e.g. uid), got {match!r}")
        match = {}
    part_timeout = _duration(p, f"{where}.timeout", t.get("timeout"), timeout)
    baud = _positive_int(p, f"{where}.baud", t.get("baud"), 115200) if "baud" in _PART_KEYS[kind] else 115200
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
        identity=_path(p, f"{where}.identity", t.get("identity"), base),
        known_hosts=_path(p, f"{where}.known_hosts", t.get("known_hosts"), base),
        method=method,
        bootloader=bootloader,
        audit_sample=_positive_int(p, f"{where}.audit_sample", t.get("audit_sample"), None),
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


def _check_unique(p: _Problems, drones: list[DroneConfig]) -> None:
    seen: dict[str, str] = {}
    for d in drones:
        if d.name in seen:
            p.add(f"drones[{d.name}]", "the name is used twice")
        seen[d.name] = d.name
    owners: dict[str, str] = {}
    for d in drones:
        for part in d.parts:
            for what, value in (("usb_serial", part.usb_serial), ("device", part.device)):
                if value is None:
                    continue
                # An aircraft's dji:///dev/ttyACM0 and a flight controller's /dev/ttyACM0 are one port.
                owner_key = f"{what}:{value.removeprefix('dji://')}"
                other = owners.get(owner_key)
                if other is not None:
                    p.add(
                        f"drones[{d.name}].{part.kind}.{what}", f"{value!r} is also {other}'s: a device names one drone"
                    )
                owners[owner_key] = f"drones[{d.name}].{part.kind}"
