"""Collectors: what to read on each kind of device, and how.

A collector turns a reachable device into :class:`~attest.model.Evidence`.
Its settings (what to select, which options) come from the baseline's
``collection`` object, so that ``attest verify`` measures exactly what
``attest baseline create`` measured; each collector owns that object's shape.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

from attest.model import Component, DeviceIdentity, Evidence
from attest.progress import NullProgress, Progress

__all__ = ["Collector"]


class Collector(abc.ABC):
    """Measures one device.

    Subclasses implement :meth:`_collect`; :meth:`collect` is the public entry
    point and guarantees the fail-closed contract.
    """

    #: The device kind, as recorded in baselines (``directory``, ``mavlink``, ``ssh``).
    kind: ClassVar[str]

    def collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        expected: Mapping[str, Component] | None = None,
    ) -> Evidence:
        """Measure the device.

        Args:
            settings: the baseline's ``collection`` object (or one built from
                command-line options when creating a baseline).
            nonce: a fresh value chosen by the dock for this run.
            device_match: the baseline's device selector; a collector that
                can check identity before reading (a pinned SSH host key)
                must do so and refuse to read from the wrong device.
            progress: receives byte counts for a progress display.
            expected: the trusted baseline's components when verifying (``None``
                when making a baseline). A collector may use them to bound its
                reads (a file the baseline does not name, or whose size differs,
                is a finding without being read); one that cannot ignores them.

        Returns:
            Evidence holding every selected component; a component that could
            not be read is present with its ``error`` set, never left out.

        Raises:
            TransportError: the device cannot be reached or stopped answering.
            CollectionError: the device answered but measurement could not complete.
            BaselineError: ``settings`` is not of this collector's shape.
        """
        prog = progress or NullProgress()
        try:
            return self._collect(
                settings, nonce=nonce, device_match=device_match or {}, progress=prog, expected=expected
            )
        finally:
            prog.finish()

    @abc.abstractmethod
    def _collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        """Do the measuring; see :meth:`collect`."""

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The device selector a new baseline made from ``evidence`` records.

        Args:
            evidence: what was measured on the reference device.
            pin_instance: also match this one airframe (e.g. its unique id),
                not just its model.
        """
        del evidence, pin_instance
        return {}

    #: Set by a collector as soon as it knows who the device is (a flight controller's
    #: AUTOPILOT_VERSION, a companion's host key), so that a later failure's result
    #: names the device exactly as a pass would.
    learned: DeviceIdentity | None = None

    def fallback_identity(
        self, target: str, device_match: Mapping[str, str], *, expected: Mapping[str, Component] | None = None
    ) -> DeviceIdentity:
        """The device's identity for a result without evidence (an error, an untrusted baseline).

        What the collector learned before it failed, else :meth:`stable_id`; the
        log then groups a drone's failures with its passes.

        Args:
            target: the target string as given.
            device_match: the baseline's device selector (``{}`` when no signed baseline was read).
            expected: the baseline's components (``None`` when no signed baseline was read).
        """
        if self.learned is not None:
            return self.learned
        return DeviceIdentity(kind=self.kind, id=self.stable_id(target, device_match, expected=expected), target=target)

    def stable_id(
        self, target: str, device_match: Mapping[str, str], *, expected: Mapping[str, Component] | None = None
    ) -> str:
        """The id a pass would record, as far as it is known without the device (default: ``target``).

        Every collector records one stable id per device on every result, pass
        or not: from the device's own identity facts when they are known, else
        from the canonical target. The log groups a drone's results by it.

        Args:
            target: the target string as given.
            device_match: the baseline's device selector (may name the airframe).
            expected: the baseline's components (may hold the identity a pass reported).
        """
        del device_match, expected
        return target

    def settings_extras(self) -> dict[str, Any]:
        """Collector-specific settings stored in a new baseline's ``collection`` object."""
        return {}
