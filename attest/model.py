"""Frozen data that flows from collectors to the verifier and out to reports.

Nothing here does IO. A collector produces :class:`Evidence`; the verifier
turns Evidence plus a trusted baseline into a :class:`Result`. Every object can
render itself as plain JSON data (``to_json``) so reports, signed results and
the log all speak the same shapes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Attributes",
    "Component",
    "DeviceIdentity",
    "Evidence",
    "Finding",
    "FindingKind",
    "Method",
    "Result",
    "Severity",
    "Verdict",
]

#: Attribute values are JSON scalars so that they canonicalise (RFC 8785).
Attributes = Mapping[str, "str | int | bool | None"]


class Verdict(enum.StrEnum):
    """Outcome of one attestation; the exit code follows from it."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    DRIFT = "drift"
    ERROR = "error"
    UNTRUSTED = "untrusted"

    @property
    def exit_code(self) -> int:
        """Exit code of ``attest verify`` for this verdict."""
        return {"pass": 0, "drift": 1, "error": 3, "untrusted": 4}[self.value]


class FindingKind(enum.StrEnum):
    """What is wrong with one component."""

    MODIFIED = "modified"  # content digest differs
    MISSING = "missing"  # in the baseline, not on the device
    UNEXPECTED = "unexpected"  # on the device and selected, not in the baseline
    ATTRIBUTES = "attributes"  # mode, owner, file type or symlink target differ
    UNREADABLE = "unreadable"  # selected, but the dock could not read it
    OUT_OF_RANGE = "out_of_range"  # a value breaks a rule of the baseline
    DEVICE_LIED = "device_lied"  # the device's own report disagrees with bytes the dock read


class Severity(enum.StrEnum):
    """How bad a finding is.

    Every finding blocks deployment except an ``ADVISORY`` one: a difference
    in a component the signed baseline marks advisory, recorded and logged
    but not blocking (:mod:`attest.verifier` says which findings may be).
    """

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    ADVISORY = "advisory"


class Method(enum.StrEnum):
    """How a measurement was obtained, recorded per component.

    ``DOCK_READ`` means the dock read the bytes and hashed them itself;
    ``DEVICE_REPORTED`` means the device computed the value and could lie;
    ``SELF_REPORTED`` means a module stated its own version: nothing was
    measured, and a match proves nothing about the code it runs.
    """

    DOCK_READ = "dock-read"
    DEVICE_REPORTED = "device-reported"
    SELF_REPORTED = "self-reported"


@dataclass(frozen=True)
class Component:
    """One measured thing on a device: a file, a partition, a parameter set, a flash image.

    Attributes:
        name: unique name within the device, e.g. ``usr/bin/px4`` or ``fc/params``.
        kind: ``file``, ``symlink``, ``directory``, ``fifo``, ``socket``,
            ``char-device``, ``block-device``, or a collector's own kind
            (``parameters``, ``flash``, ``identity`` ...).
        digest: lowercase hex SHA-256 of the content, or ``None`` where a
            component has no content (a directory, a symlink).
        attributes: what else is compared: ``mode`` (octal string), ``uid``,
            ``gid``, ``target`` (symlinks), ``size``, ``xattrs`` (the
            security-relevant extended attributes, decoded to one readable
            string; absent when the file has none); only keys named in
            :data:`COMPARED_ATTRIBUTES` are compared.
        method: how the value was obtained.
        error: why the component could not be read; a component with an error
            is never a match.
        not_hashed: why a file's content was deliberately not hashed: the
            baseline already shows it differs (``not in baseline``, ``size
            differs ...``), so reading it in full would only cost time. A
            component with ``not_hashed`` set is never a match.
    """

    name: str
    kind: str
    digest: str | None = None
    attributes: Attributes = field(default_factory=dict)
    method: Method = Method.DOCK_READ
    error: str | None = None
    not_hashed: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data, as stored in baselines and results."""
        out: dict[str, Any] = {"kind": self.kind, "method": self.method.value}
        if self.digest is not None:
            out["digest"] = {"sha256": self.digest}
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        if self.error is not None:
            out["error"] = self.error
        if self.not_hashed is not None:
            out["not_hashed"] = self.not_hashed
        return out


#: Attributes whose change is an ``attributes`` finding. ``size`` is not here:
#: a size change always changes the digest too. ``version`` is a self-reported
#: module version (DJI), shown as text next to its digest's change.
COMPARED_ATTRIBUTES = ("mode", "uid", "gid", "target", "major", "minor", "xattrs", "version")


@dataclass(frozen=True)
class DeviceIdentity:
    """Who the device says it is, plus how the dock reached it.

    Attributes:
        kind: the collector kind: ``directory``, ``mavlink``, ``ssh``.
        id: a short stable identifier for reports and the log.
        target: the target string the user gave.
        facts: identity facts (board id, uid, host key fingerprint ...), the
            things a baseline's device selector matches on.
    """

    kind: str
    id: str
    target: str
    facts: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"kind": self.kind, "id": self.id, "target": self.target, "facts": dict(self.facts)}


@dataclass(frozen=True)
class Finding:
    """One way the device differs from its baseline."""

    component: str
    kind: FindingKind
    severity: Severity
    expected: Any = None
    actual: Any = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``findings[]`` object of ``--json`` and of signed results."""
        out: dict[str, Any] = {
            "component": self.component,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "expected": self.expected,
            "actual": self.actual,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Evidence:
    """Everything one collection run measured on one device.

    Attributes:
        device: the identity of the device.
        components: measured components, keyed by name.
        nonce: a fresh dock-chosen value for this run (hex).
        collected_at: when collection finished (UTC).
        values: observed named values that a baseline's rules judge (e.g.
            flight-controller parameters), keyed by name.
        findings: what the collector itself caught (e.g. a device whose own
            CRC disagrees with the bytes it served); always reported.
        notes: free-form facts about the run (e.g. audit sample), for reports.
    """

    device: DeviceIdentity
    components: Mapping[str, Component]
    nonce: str
    collected_at: datetime
    values: Mapping[str, str | int | float] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    notes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineRef:
    """Which baseline a result was judged against."""

    name: str | None
    version: int | None
    digest: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``baseline`` object of ``--json``."""
        return {"name": self.name, "version": self.version, "digest": self.digest}


@dataclass(frozen=True)
class Result:
    """The verdict on one device against one baseline.

    Attributes:
        verdict: pass, drift, error or untrusted.
        device: the device identity (``None`` when collection never started).
        baseline: the baseline reference (fields ``None`` when it could not be read).
        findings: every difference found, in a stable order.
        message: why the verdict is ``error`` or ``untrusted``.
        evidence: the evidence the verdict was computed from, when there is one.
    """

    verdict: Verdict
    device: DeviceIdentity | None
    baseline: BaselineRef
    findings: tuple[Finding, ...] = ()
    message: str | None = None
    evidence: Evidence | None = None
