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

What each part kind accepts is :mod:`attest.dock.parts`' to check; typed reading
of the tables, :mod:`attest.dock.tomlcheck`'s.

Whether the files the configuration names are usable (keys, trust policy,
baselines, bundles, hook programs) is
:func:`attest.dock.readiness.check_files`' job: ``attest config check`` runs both.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attest.dock.parts import PART_KINDS, PartConfig, read_part
from attest.dock.tomlcheck import (
    Problems,
    duration_at,
    path_at,
    string_at,
    table_at,
    unknown_keys,
)
from attest.errors import ConfigError
from attest.fsutil import read_bounded

__all__ = [
    "ACTIONS",
    "DEFAULT_CONFIG",
    "DockConfig",
    "DroneConfig",
    "HookConfig",
    "config_path",
    "load_config",
]

#: Where the dock service reads its configuration (``--config`` and ``$ATTEST_CONFIG`` override it).
DEFAULT_CONFIG = Path("/etc/attest/attest.toml")
#: A configuration file is small; a larger one is refused.
MAX_CONFIG_BYTES = 1024 * 1024
#: What a hook can be run on.
ACTIONS = ("block", "clear")
#: Drone names: ASCII, usable as a systemd instance name and a file name.
DRONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Time kept back from ``max_seconds`` for signing, logging and the gate (at most this, at most a fifth).
LOG_RESERVE_SECONDS = 10.0


def config_path(given: Path | None) -> Path:
    """``--config``, else ``$ATTEST_CONFIG``, else :data:`DEFAULT_CONFIG`."""
    if given is not None:
        return given
    env = os.environ.get("ATTEST_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


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


_TOP = {"dock", "gate", "hooks", "drones"}
_DOCK = {"origin", "key", "state_dir", "trust", "baselines", "max_seconds", "timeout", "sysfs", "devfs"}
_GATE = {"fresh_for", "ticket_valid_for"}
_HOOK = {"on", "run", "timeout"}
_DRONE = {"name", *PART_KINDS}


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
    p = Problems(str(path))
    base = path.parent if path.parent != Path() else Path(".")
    unknown_keys(p, "", data, _TOP)
    dock = table_at(p, "[dock]", data.get("dock", {})) if "dock" in data else {}
    if "dock" not in data:
        p.add("[dock]", "missing (required: origin, key, trust)")
    unknown_keys(p, "dock", dock, _DOCK)
    origin = string_at(p, "dock.origin", dock.get("origin"), required=bool(dock))
    if origin is not None and (not origin.isprintable() or "+" in origin or " " in origin):
        p.add("dock.origin", f"{origin!r} cannot be a log origin (printable, no spaces, no '+')")
    key = path_at(p, "dock.key", dock.get("key"), base, required=bool(dock))
    trust = path_at(p, "dock.trust", dock.get("trust"), base, required=bool(dock))
    state_dir = path_at(p, "dock.state_dir", dock.get("state_dir", "/var/lib/attest"), base)
    baselines = path_at(p, "dock.baselines", dock.get("baselines", "baselines"), base)
    sysfs = path_at(p, "dock.sysfs", dock.get("sysfs", "/sys"), base)
    devfs = path_at(p, "dock.devfs", dock.get("devfs", "/dev"), base)
    max_seconds = dock.get("max_seconds", 300)
    if type(max_seconds) not in (int, float) or not 0 < max_seconds < 86400:
        p.add("dock.max_seconds", f"expected a number of seconds between 0 and 86400, got {max_seconds!r}")
        max_seconds = 300
    timeout = duration_at(p, "dock.timeout", dock.get("timeout"), 10.0)

    gate = table_at(p, "[gate]", data.get("gate", {}))
    unknown_keys(p, "gate", gate, _GATE)
    fresh_for = duration_at(p, "gate.fresh_for", gate.get("fresh_for"), 900.0)
    ticket_valid_for = duration_at(p, "gate.ticket_valid_for", gate.get("ticket_valid_for"), 600.0)

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


def _hook(p: Problems, where: str, data: Any) -> HookConfig | None:
    h = table_at(p, where, data)
    if not h:
        return None
    unknown_keys(p, where, h, _HOOK)
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
    timeout = duration_at(p, f"{where}.timeout", h.get("timeout"), 10.0)
    if not ok:
        return None
    return HookConfig(on=tuple(dict.fromkeys(on)), run=tuple(run), timeout=timeout)  # type: ignore[arg-type]


def _drone(
    p: Problems, where: str, data: Any, *, base: Path, baselines: Path, timeout: float, state_dir: Path
) -> DroneConfig | None:
    d = table_at(p, where, data)
    if not d:
        return None
    unknown_keys(p, where, d, _DRONE)
    name = string_at(p, f"{where}.name", d.get("name"), required=True)
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
            part = read_part(
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


def _check_unique(p: Problems, drones: list[DroneConfig]) -> None:
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
