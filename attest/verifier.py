"""Compare Evidence with a trusted baseline. Pure: no IO, no clock.

The verifier collects *every* difference rather than stopping at the first
(an operator needs the whole list to decide), then derives the verdict:
any unreadable component makes it ``error`` (we do not know what is there),
else any blocking finding makes it ``drift``, else ``pass``. A ``parameter`` component
(a flight controller's setting) that changed is one ``modified`` finding
carrying the old and new value, ``1500 → 2345``. A device of the wrong
kind, or whose identity does not match the baseline's selector, makes it
``untrusted``: the baseline says nothing about that device.

Advisory findings. A baseline may mark components advisory (its signed
``advisory`` globs, matched against component names as the selection's
globs are: paths, ``param/NAME``). Every difference of such a component
(``modified``, ``attributes``, ``missing``, ``unexpected``) gets severity
``advisory``: listed, signed and logged, but not blocking, so a result whose
findings are all advisory is ``pass``. Never advisory, whatever the globs:

* ``unreadable`` (the verdict is ``error``: nothing is known about it);
* ``device_lied`` and whatever else the collector itself caught;
* a broken rule (``out_of_range``, or ``missing`` for a value a rule needs):
  rules are the signers' explicit safety constraints, so a rule on an
  advisory parameter still blocks.

``fc/params`` (one digest over every selected parameter) changes with any
parameter. Its ``modified`` finding is advisory only when the baseline also
holds per-parameter components (``param/NAME``, kind ``parameter``) and at
least one of them differs and every one that differs is advisory; so an
advisory ``param/SR0_*`` does not block through the set digest, while a
baseline without per-parameter components (made before them) fails closed:
its ``fc/params`` change blocks. A directory is judged by its own name only:
an advisory ``var/cache/**`` covers what lies below ``var/cache``, not the
directory's own mode or owner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
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
from attest.selection import Selection
from attest.trust import TrustedBaseline

__all__ = ["device_mismatch", "mark_advisory", "verify"]

_OWNER = ("uid", "gid")
#: The kind of a flight controller's per-parameter component: compared by its ``type`` and ``value`` attributes.
PARAMETER = "parameter"
#: The digest over a flight controller's whole selected parameter set, and its kind.
_PARAM_SET, _PARAM_SET_KIND = "fc/params", "parameters"


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
    compared = compare_components(baseline.components, evidence.components, compare_owner=baseline.compare_owner)
    findings += mark_advisory(compared, baseline.advisory, baseline.components, evidence.components)
    for name, rule in sorted(baseline.rules.items()):
        value = evidence.values.get(name)
        if value is None:
            if not rule.allows_absent:  # only NAME!=... rules hold for an absent value
                findings.append(Finding(name, FindingKind.MISSING, Severity.CRITICAL, rule.describe(), None))
        elif not rule.holds(value):
            findings.append(Finding(name, FindingKind.OUT_OF_RANGE, Severity.CRITICAL, rule.describe(), value))

    unreadable = [f for f in findings if f.kind is FindingKind.UNREADABLE]
    if unreadable:
        first = unreadable[0]
        message = f"{len(unreadable)} component(s) could not be read; first {first.component!r}: {first.actual}"
        return Result(Verdict.ERROR, evidence.device, ref, tuple(findings), message, evidence)
    blocking = any(f.severity is not Severity.ADVISORY for f in findings)
    verdict = Verdict.DRIFT if blocking else Verdict.PASS
    return Result(verdict, evidence.device, ref, tuple(findings), None, evidence)


def mark_advisory(
    findings: list[Finding],
    advisory: Sequence[str],
    expected: Mapping[str, Component],
    actual: Mapping[str, Component],
) -> list[Finding]:
    """``findings`` (of :func:`compare_components`) with those of advisory components made ``advisory``.

    See the module docstring: ``unreadable`` stays as it is, and ``fc/params``
    follows its per-parameter components, failing closed without them.
    """
    if not advisory:
        return findings
    marked = Selection(include=tuple(advisory))  # the same glob semantics as the selection

    def is_param(name: str) -> bool:
        comp = expected.get(name) or actual.get(name)
        return comp is not None and comp.kind == PARAMETER

    out = [
        replace(f, severity=Severity.ADVISORY)
        if f.kind is not FindingKind.UNREADABLE and marked.selects(f.component)
        else f
        for f in findings
    ]
    per_param = [f for f in out if is_param(f.component)]
    has_params = any(c.kind == PARAMETER for c in expected.values())
    if has_params and per_param and all(f.severity is Severity.ADVISORY for f in per_param):
        out = [
            replace(f, severity=Severity.ADVISORY)
            if f.component == _PARAM_SET and f.kind is FindingKind.MODIFIED and _is_param_set(expected.get(f.component))
            else f
            for f in out
        ]
    return out


def _is_param_set(c: Component | None) -> bool:
    return c is not None and c.kind == _PARAM_SET_KIND


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
        elif act == exp and act.not_hashed is None:
            continue  # equal in every field, so in everything compared: the common case, in one comparison
        else:
            findings += _compare_one(name, exp, act, compare_owner=compare_owner)
    return findings


def _compare_one(name: str, exp: Component, act: Component, *, compare_owner: bool) -> list[Finding]:
    out: list[Finding] = []
    if exp.kind != act.kind:
        return [Finding(name, FindingKind.ATTRIBUTES, Severity.CRITICAL, {"kind": exp.kind}, {"kind": act.kind})]
    if exp.kind == PARAMETER:
        return _compare_parameter(name, exp, act)
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


def _compare_parameter(name: str, exp: Component, act: Component) -> list[Finding]:
    """A changed parameter: one finding with the old and new value (and types, when they differ too)."""
    old_type, new_type = exp.attributes.get("type"), act.attributes.get("type")
    old, new = exp.attributes.get("value"), act.attributes.get("value")
    if (old_type, old) == (new_type, new):
        return []
    detail = f"{old} → {new}" if old_type == new_type else f"{old_type} {old} → {new_type} {new}"
    return [Finding(name, FindingKind.MODIFIED, Severity.CRITICAL, _param_value(exp), _param_value(act), detail)]


def _param_value(c: Component) -> int | float | str | None:
    """A ``parameter`` component's value for reports: a JSON number (``1500``, ``0.25``) where it is one.

    The value is stored as text (:func:`attest.mavlink.value_text`), exact for
    the float32 the autopilot holds and short (``0.1``, not
    ``0.10000000149011612``); a text that is no finite number (``nan(...)``,
    ``inf``) stays text.
    """
    text = c.attributes.get("value")
    if not isinstance(text, str):
        return text if isinstance(text, int) and not isinstance(text, bool) else None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _digest(c: Component) -> str | None:
    if c.not_hashed is not None:
        return f"not hashed: {c.not_hashed}"
    return f"sha256:{c.digest}" if c.digest else None


def _describe(c: Component | None) -> Any:
    if c is None:
        return None
    if c.kind == PARAMETER:
        return _param_value(c)
    if c.not_hashed is not None:
        return f"{c.kind} ({_digest(c)})"
    return _digest(c) or c.kind
