"""Measure a DJI aircraft or remote controller: the version each module reports over DUML.

Target: ``dji:///dev/ttyACM0`` (the USB serial link of the aircraft or its
remote controller; any absolute device path after ``dji://``), opened at
``--baud``.

One step: the version sweep (:func:`attest.duml.sweep_versions`) asks every
module address for its version and waits, within bounds, for the answers;
the baseline's modules are asked too and must answer. Each module that
answered becomes ``module/<name>-<index>`` (``module/flight-controller-0``,
``module/esc-3``): kind ``module``, method ``self-reported``, digest the
SHA-256 of the whole reply, attributes ``version`` (compared, so a finding
shows the versions), ``loader`` and ``hardware``; and a value
``identity/module/<name>-<index>`` holding the version, for exact-text rules.
A module whose answer could not be taken (answered for another, twice
differently, encrypted, malformed) or that the baseline expects and that did
not answer is present with ``error`` set: the verdict is ``error``.

These versions are what the modules *say*. A pass proves that every module
reports the approved version, nothing about the code it runs; the notes of
every result say so, and so does the human report.

Device facts: ``model``, the flight controller's hardware text (a remote
controller's when no flight controller answered), and ``model_from``, the
module it came from; the selector of a new baseline is ``model``.

Settings (the baseline's ``collection`` object): ``selection`` only (globs
over component names); any other key is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from attest.collectors.base import Collector
from attest.duml import (
    DISCOVERY,
    VERSION_FRAME_MAX,
    Address,
    Link,
    SweepResult,
    module_name,
    parse_module,
    sweep_versions,
)
from attest.errors import BaselineError, CollectionError, ConfigError, TransportError
from attest.model import Component, DeviceIdentity, Evidence, Method
from attest.progress import Progress
from attest.selection import Selection
from attest.targets import TargetOptions
from attest.transports import SerialTransport

__all__ = ["SELF_REPORTED_NOTE", "DjiCollector", "from_target"]

SCHEME = "dji://"
#: Seconds without a new answer that end the sweep (at most the timeout).
QUIET = 1.5
#: What every result's notes say about these measurements.
SELF_REPORTED_NOTE = (
    "self-reported: each module states its own version over DUML; a pass means the modules report the "
    "approved versions and proves nothing about the code they run"
)
_FC = Address(3, 0)
_RC = Address(6, 0)
_PREFIX = "module/"


def from_target(target: str, options: TargetOptions) -> Collector:
    """The collector for a ``dji://`` target (called by :func:`attest.collectors.open_collector`).

    Raises:
        ConfigError: not ``dji://`` followed by an absolute device path.
    """
    return DjiCollector(target, options)


def _port(target: str) -> str:
    path = target[len(SCHEME) :] if target.lower().startswith(SCHEME) else ""
    if not path.startswith("/") or "\0" in path:
        raise ConfigError(f"{target}: expected dji:// followed by a device path, e.g. dji:///dev/ttyACM0")
    return path


def _selection(settings: Mapping[str, Any]) -> Selection:
    unknown = sorted(set(settings) - {"selection"})
    if unknown:
        raise BaselineError(f"collection: unknown key(s) for a dji target: {', '.join(unknown)}")
    return Selection.from_json(settings.get("selection", {"include": ["**"]}))


def _expected_modules(expected: Mapping[str, Component] | None) -> set[Address]:
    """The baseline's modules (names that are not ``module/<name>-<index>`` are left to the verifier)."""
    out: set[Address] = set()
    for name in expected or {}:
        if name.startswith(_PREFIX):
            try:
                out.add(parse_module(name[len(_PREFIX) :]))
            except ValueError:
                continue
    return out


class DjiCollector(Collector):
    """A DJI aircraft or remote controller reached through its USB serial link."""

    kind = "dji"

    def __init__(self, target: str, options: TargetOptions) -> None:
        """Measure the device at ``target`` (opened only when collecting)."""
        self._target = target
        self._port = _port(target)
        self._opts = options

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The model (the flight controller's hardware text), when a module reported one.

        Raises:
            ConfigError: ``pin_instance``: the version inquiry carries no serial number.
        """
        if pin_instance:
            raise ConfigError("--pin-device: DJI modules report no unique id in their version replies")
        model = evidence.device.facts.get("model")
        return {"model": model} if model else {}

    def _collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        del progress  # one sweep of small frames: nothing to show
        selection = _selection(settings)
        opts = self._opts
        transport = SerialTransport.open(self._port, baud=opts.baud, timeout=opts.timeout)
        try:
            swept = sweep_versions(
                # Only version replies are wanted: a header claiming a longer frame is noise, not a
                # reason to hold and check up to 1,023 bytes (a line full of them would slow the dock).
                Link(transport, max_frame=VERSION_FRAME_MAX),
                DISCOVERY,
                expected=_expected_modules(expected),
                timeout=opts.timeout,
                quiet=min(opts.timeout, QUIET),
            )
        finally:
            transport.close()
        if not swept.versions and not swept.errors:
            raise TransportError(
                f"{self._target}: no DJI module answered a version inquiry within {min(opts.timeout, QUIET):g} s "
                "(is this a DJI aircraft or remote controller's USB serial link?)"
            )
        device = self._device(swept)
        self.learned = device
        if "model" in device_match and "model" not in device.facts:
            # Without the module that names the model the selector cannot be judged: say why, not "wrong device".
            why = (
                swept.errors.get(_FC) or swept.errors.get(_RC) or "neither flight-controller-0 nor remote-controller-0"
            )
            raise CollectionError(f"{self._target}: the device's model is unknown: {why}")
        components, values = _components(swept, selection)
        return Evidence(
            device=device,
            components=components,
            nonce=nonce,
            collected_at=datetime.now(UTC),
            values=values,
            notes={
                "versions": SELF_REPORTED_NOTE,
                "duml": {
                    "asked": swept.asked,
                    "answered": len(swept.versions),
                    "refused": len(swept.errors),
                    "frames_rejected": swept.rejected,
                    "frames_unrelated": swept.unrelated,
                    "replies_foreign": swept.foreign,
                    "replies_stale": swept.stale,
                },
            },
        )

    def _device(self, swept: SweepResult) -> DeviceIdentity:
        facts: dict[str, str] = {}
        for addr in (_FC, _RC):
            v = swept.versions.get(addr)
            if v is not None and v.hardware:
                facts = {"model": v.hardware, "model_from": module_name(addr)}
                break
        ident = f"dji-{re.sub(r'[^A-Za-z0-9._-]', '_', facts['model'])}" if facts else self._target
        return DeviceIdentity(kind=self.kind, id=ident, target=self._target, facts=facts)


def _components(swept: SweepResult, selection: Selection) -> tuple[dict[str, Component], dict[str, str | int | float]]:
    components: dict[str, Component] = {}
    values: dict[str, str | int | float] = {}
    for addr, v in swept.versions.items():
        name = _PREFIX + module_name(addr)
        if selection.selects(name):
            attrs: dict[str, str | int | bool | None] = {
                "version": v.firmware,
                "loader": v.loader,
                "hardware": v.hardware,
            }
            components[name] = Component(name, "module", v.digest(), attrs, Method.SELF_REPORTED)
            values[f"identity/{name}"] = v.firmware
    for addr, why in swept.errors.items():
        name = _PREFIX + module_name(addr)
        if selection.selects(name):
            components[name] = Component(name, "module", method=Method.SELF_REPORTED, error=why)
    return dict(sorted(components.items())), dict(sorted(values.items()))
