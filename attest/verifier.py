"""Compare Evidence with a trusted baseline. Pure: no IO, no clock.

The verifier collects *every* difference rather than stopping at the first
(an operator needs the whole list to decide), then derives the verdict:
any unreadable component makes it ``error`` (we do not know what is there),
else any finding makes it ``drift``, else ``pass``. A device of the wrong
kind, or whose identity does not match the baseline's selector, makes it
``untrusted``: the baseline says nothing about that device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attest.baseline import Baseline
from attest.model import (
    COMPARED_ATTRIBUTES,
    BaselineRef,
    Component,
    Evidence,
    Finding,
    FindingKind,
    Result,
    Severity,
    Verdict,
)
from attest.trust import TrustedBaseline

__all__ = ["device_mismatch", "verify"]

_OWNER = ("uid", "gid")


def device_mismatch(evidence: Evidence, baseline: Baseline) -> str | None:
    """Why ``baseline`` does not apply to the measured device, or ``None`` if it does."""
    dev = evidence.device
    if dev.kind != baseline.device_kind:
        return f"baseline is for a {baseline.device_kind} target, but {dev.target} is a {dev.kind} target"
    for fact, want in sorted(baseline.device_match.items()):
        got = dev.facts.get(fact)
        if got != want:
            return f"wrong baseline for this device: {fact} is {got!r}, baseline requires {want!r}"
    return None


def verify(evidence: Evidence, trusted: TrustedBaseline) -> Result:
    """Judge ``evidence`` against ``trusted``.

    Returns:
        The result; it never raises for a device that differs.
    """
    baseline = trusted.baseline
    ref = BaselineRef(baseline.name, baseline.version, trusted.digest)
    mismatch = device_mismatch(evidence, baseline)
    if mismatch is not None:
        return Result(Verdict.UNTRUSTED, evidence.device, ref, message=mismatch, evidence=evidence)

    findings = list(evidence.findings)
    findings += compare_components(baseline.components, evidence.components, compare_owner=baseline.compare_owner)
    for name, rule in sorted(baseline.rules.items()):
        value = evidence.values.get(name)
        if value is None:
            findings.append(Finding(name, FindingKind.MISSING, Severity.CRITICAL, rule.describe(), None))
        elif not rule.holds(value):
            findings.append(Finding(name, FindingKind.OUT_OF_RANGE, Severity.CRITICAL, rule.describe(), value))

    unreadable = [f for f in findings if f.kind is FindingKind.UNREADABLE]
    if unreadable:
        first = unreadable[0]
        message = f"{len(unreadable)} component(s) could not be read; first {first.component!r}: {first.actual}"
        return Result(Verdict.ERROR, evidence.device, ref, tuple(findings), message, evidence)
    verdict = Verdict.DRIFT if findings else Verdict.PASS
    return Result(verdict, evidence.device, ref, tuple(findings), None, evidence)


def compare_components(
    expected: Mapping[str, Component], actual: Mapping[str, Component], *, compare_owner: bool = True
) -> list[Finding]:
    """Findings for every component that is missing, unexpected, unreadable or different."""
    findings: list[Finding] = []
    for name in sorted(expected.keys() | actual.keys()):
        exp, act = expected.get(name), actual.get(name)
        if act is not None and act.error is not None:
            findings.append(Finding(name, FindingKind.UNREADABLE, Severity.CRITICAL, _describe(exp), act.error))
        elif act is None:
            findings.append(Finding(name, FindingKind.MISSING, Severity.CRITICAL, _describe(exp), None))
        elif exp is None:
            findings.append(Finding(name, FindingKind.UNEXPECTED, Severity.HIGH, None, _describe(act)))
        else:
            findings += _compare_one(name, exp, act, compare_owner=compare_owner)
    return findings


def _compare_one(name: str, exp: Component, act: Component, *, compare_owner: bool) -> list[Finding]:
    out: list[Finding] = []
    if exp.kind != act.kind:
        return [Finding(name, FindingKind.ATTRIBUTES, Severity.CRITICAL, {"kind": exp.kind}, {"kind": act.kind})]
    # A file the collector did not hash (its size already differs) is never a match, even
    # against a baseline entry without a digest.
    if exp.digest != act.digest or act.not_hashed is not None:
        out.append(Finding(name, FindingKind.MODIFIED, Severity.CRITICAL, _digest(exp), _digest(act)))
    keys = [k for k in COMPARED_ATTRIBUTES if compare_owner or k not in _OWNER]
    want = {k: exp.attributes.get(k) for k in keys if exp.attributes.get(k) != act.attributes.get(k)}
    if want:
        got = {k: act.attributes.get(k) for k in want}
        out.append(Finding(name, FindingKind.ATTRIBUTES, Severity.HIGH, want, got))
    return out


def _digest(c: Component) -> str | None:
    if c.not_hashed is not None:
        return f"not hashed: {c.not_hashed}"
    return f"sha256:{c.digest}" if c.digest else None


def _describe(c: Component | None) -> Any:
    if c is None:
        return None
    if c.not_hashed is not None:
        return f"{c.kind} ({_digest(c)})"
    return _digest(c) or c.kind
