"""Measure an Android controller over ADB: ``adb://SERIAL`` (USB) or ``adb+tcp://HOST[:PORT]`` (adbd over TCP).

The dock connects with its own ADB key (``adbkey`` in its state directory,
created on first use; a controller that has not authorised it is exit 3 with
how to authorise it once), reads the build properties
(:mod:`~attest.collectors.adb.device`), and checks them against the baseline's
device selector before anything else: a controller of another model, or
another serial number under ``--pin-device``, is not measured further and
the verifier calls the baseline untrusted. Then every package, its APKs and
their signing certificates (:mod:`~attest.collectors.adb.measure`).

``--method`` (recorded in the baseline's collection settings and per component):

``pull`` (default)
    The dock reads every APK over the sync service and hashes it; the
    certificate is parsed from the same bytes. ``dock-read``.
``remote``
    The device's ``sha256sum`` hashes the APKs (``device-reported``); the dock
    then reads a nonce-chosen sample (``--audit-sample N``, default
    max(8, 2 %)) and any disagreement is a critical ``device_lied``. Only
    for verifying: a baseline pins certificates parsed from bytes the dock
    read, so ``baseline create`` needs ``pull``; a baseline allows remote
    checks when its signers add ``"allow_methods": ["remote"]`` to its
    collection settings (as for SSH), and a weaker method than the recorded
    one is refused otherwise.

The device's id is ``adb:<serial>`` (``ro.serialno``) on every result once
the properties were read, and, before that, when the baseline pins the serial;
otherwise the target (``adb+tcp://HOST:PORT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.collectors.adb.device import DeviceFacts, read_device_facts
from attest.collectors.adb.limits import AndroidLimits
from attest.collectors.adb.measure import Measurement
from attest.collectors.base import Collector
from attest.errors import BaselineError, ConfigError
from attest.logs import get_logger
from attest.model import Component, DeviceIdentity, Evidence, Finding
from attest.progress import Progress
from attest.selection import Selection
from attest.targets import TargetOptions
from attest.transports.adb import AdbConnection, AdbLimits, AdbTarget, DockAdbKey, SyncSession

__all__ = ["METHODS", "AdbCollector", "device_id", "from_target"]

log = get_logger()

#: ``--method`` values, strongest first.
METHODS = ("pull", "remote")


def device_id(serial: str) -> str:
    """The id of the controller with serial number ``serial``."""
    return f"adb:{serial}"


def from_target(target: str, options: TargetOptions) -> AdbCollector:
    """The collector for an ``adb://`` or ``adb+tcp://`` target (called by :func:`attest.collectors.open_collector`).

    Raises:
        ConfigError: a malformed target or an unknown ``--method``.
    """
    return AdbCollector(
        target,
        state_dir=options.state_dir,
        method=options.method,
        timeout=options.timeout,
        audit_sample=options.audit_sample,
    )


class AdbCollector(Collector):
    """Measures an Android controller's build, packages, APKs and signing certificates over ADB."""

    kind = "adb"

    def __init__(
        self,
        target: str,
        *,
        state_dir: Path | None = None,
        key: DockAdbKey | None = None,
        method: str = "pull",
        timeout: float = 10.0,
        audit_sample: int | None = None,
        limits: AndroidLimits | None = None,
        adb_limits: AdbLimits | None = None,
    ) -> None:
        """Measure ``target``.

        Args:
            target: ``adb+tcp://HOST[:PORT]`` or ``adb://SERIAL``.
            state_dir: the dock's state directory, where its ADB key is (or is created).
            key: the dock's ADB key itself (instead of ``state_dir``).
            method: ``pull`` or ``remote``.
            timeout: seconds any one wait on the device may last (also how long the
                device's user has to allow the dock's key).
            audit_sample: remote mode: APKs the dock reads itself; default max(8, 2 %).
            limits: how much the device may make the dock list, run and read.
            adb_limits: the transport's bounds (default from ``timeout``).

        Raises:
            ConfigError: a malformed target or method.
        """
        if method not in METHODS:
            raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
        self._text = target
        self._target = AdbTarget.parse(target)
        self._state_dir = state_dir
        self._key = key
        self._method = method
        self._audit_size = audit_sample
        self._limits = limits or AndroidLimits()
        self._adb_limits = adb_limits or AdbLimits(timeout=timeout, auth_wait=timeout)

    def settings_extras(self) -> dict[str, Any]:
        """A new baseline records the method it was made with."""
        return {"method": self._method}

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The manufacturer and model; with ``pin_instance`` also the serial number.

        Raises:
            ConfigError: ``pin_instance`` but the controller reports no plain serial number.
        """
        facts = evidence.device.facts
        out = {"manufacturer": facts.get("manufacturer", ""), "model": facts.get("model", "")}
        if pin_instance:
            if "serial" not in facts:
                raise ConfigError("--pin-device: this controller reports no plain serial number (ro.serialno)")
            out["serial"] = facts["serial"]
        return out

    def stable_id(
        self, target: str, device_match: Mapping[str, str], *, expected: Mapping[str, Component] | None = None
    ) -> str:
        """``adb:<serial>`` when the baseline pins the serial, else the target (``adb+tcp://HOST:PORT``)."""
        del target, expected
        serial = device_match.get("serial")
        return device_id(serial) if serial else self._target.label

    def _check_method(self, settings: Mapping[str, Any], *, creating: bool) -> None:
        """Refuse remote mode for a new baseline, and a method weaker than the baseline's unless it allows it.

        Raises:
            BaselineError: ``method`` or ``allow_methods`` in the baseline is malformed.
            ConfigError: remote mode when creating, or a weaker method than the baseline's, not allowed by it.
        """
        if creating and self._method != "pull":
            raise ConfigError(
                "--method remote: a baseline pins signing certificates parsed from APK bytes the dock reads; "
                "create it with --method pull, and let its signers allow remote checks "
                '("allow_methods": ["remote"] in its collection settings)'
            )
        recorded = settings.get("method")
        allowed = settings.get("allow_methods", [])
        if recorded is not None and recorded not in METHODS:
            raise BaselineError(f"baseline collection method {recorded!r}: expected one of {', '.join(METHODS)}")
        if not isinstance(allowed, list) or any(m not in METHODS for m in allowed):
            raise BaselineError(f"baseline allow_methods {allowed!r}: expected a list of {', '.join(METHODS)}")
        if recorded is None or METHODS.index(self._method) <= METHODS.index(recorded) or self._method in allowed:
            return
        raise ConfigError(
            f"--method {self._method}: the baseline was made with --method {recorded} and does not allow "
            f"{self._method} (its collection settings' allow_methods); verify with --method {recorded}"
        )

    def _dock_key(self) -> DockAdbKey:
        if self._key is not None:
            return self._key
        if self._state_dir is None:
            raise ConfigError(f"{self._text}: no state directory for the dock's ADB key (--state-dir)")
        return DockAdbKey.load_or_create(self._state_dir)

    def _collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        self._check_method(settings, creating=expected is None)
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
        key = self._dock_key()
        with AdbConnection.open(self._target, key, self._adb_limits) as conn:
            facts = read_device_facts(conn)
            device = self._identity(facts)
            self.learned = device  # any later failure names this controller as a pass would
            log.debug("adb_connected", device=conn.label, id=device.id, features=sorted(conn.banner.features))
            notes: dict[str, Any] = {
                "transport": "adb",
                "method": self._method,
                "device_facts": "device-reported (getprop)",
                "shell_v2": "shell_v2" in conn.banner.features,
            }
            if any(device.facts.get(k) != v for k, v in device_match.items()):
                # The wrong controller for this baseline: read nothing more (the verifier says untrusted).
                return _evidence(device, {}, nonce, values=facts.values(), findings=(), notes=notes)
            m = Measurement(
                conn, selection=selection, expected=expected, limits=self._limits, sdk=facts.sdk, progress=progress
            )
            build = facts.build_component()
            if selection.selects(build.name):
                m.components[build.name] = build
            m.values.update(facts.values())
            m.packages()
            with SyncSession.open(conn) as sync:
                m.stat_apks(sync)
                if self._method == "pull":
                    m.pull(sync)
                else:
                    m.remote(sync, nonce=nonce, sample_size=self._audit_size)
            notes.update(m.notes)
            changes = m.changes()
            if changes:
                notes["changes"] = changes
        return _evidence(device, m.components, nonce, values=m.values, findings=tuple(m.findings), notes=notes)

    def _identity(self, facts: DeviceFacts) -> DeviceIdentity:
        serial = facts.serial
        return DeviceIdentity(
            kind=self.kind,
            id=device_id(serial) if serial else self._target.label,
            target=self._text,
            facts=facts.identity(),
        )


def _evidence(
    device: DeviceIdentity,
    components: Mapping[str, Component],
    nonce: str,
    *,
    values: Mapping[str, str | int | float],
    findings: tuple[Finding, ...],
    notes: Mapping[str, Any],
) -> Evidence:
    return Evidence(
        device=device,
        components=dict(sorted(components.items())),
        nonce=nonce,
        collected_at=datetime.now(UTC),
        values=dict(sorted(values.items())),
        findings=findings,
        notes=dict(notes),
    )
