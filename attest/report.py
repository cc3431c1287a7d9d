"""Render a :class:`~attest.model.Result` for people (a short table) and scripts (``--json``).

A pass with advisory findings (differences the signed baseline marks as not
blocking) says so in its headline, ``PASS (2 advisory findings): ...``, and
lists them in the table with severity ``advisory``; ``--json`` lists every
finding with its severity, advisory ones included.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, TextIO

from attest.model import Finding, Method, Result, Severity, Verdict
from attest.timeutil import format_time

__all__ = ["printable", "render_text", "result_json", "write_json"]


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    # Format characters (bidi overrides, zero-width joiners...) reorder or hide text on a terminal.
    # Lone surrogates (Cs) cannot even be encoded for the terminal.
    if code > 0x9F and unicodedata.category(ch) in ("Cf", "Cs", "Zl", "Zp"):
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return ch


def printable(text: str) -> str:
    r"""``text`` safe to print on a terminal: every control character escaped, nothing lost.

    C0 and C1 controls, DEL, and Unicode format characters (bidi overrides,
    zero-width characters, line and paragraph separators) become ``\xNN`` /
    ``\uNNNN``; a backslash becomes ``\\`` so that the escaped text still names
    one string only. A file name with ``ESC[1A ESC[2K`` cannot erase a report's
    headline. (``--json`` output needs none of this: JSON escapes controls.)
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(map(_escape, text))


def result_json(result: Result, *, log_index: int | None = None) -> dict[str, Any]:
    """The ``--json`` object (see docs/cli.md for every field)."""
    out: dict[str, Any] = {
        "verdict": result.verdict.value,
        "device": result.device.to_json() if result.device else None,
        "baseline": result.baseline.to_json(),
        "findings": [f.to_json() for f in result.findings],
        "log_index": log_index,
    }
    if result.evidence is not None:
        out["nonce"] = result.evidence.nonce
        out["collected_at"] = format_time(result.evidence.collected_at)
        out["components"] = len(result.evidence.components)
        out["methods"] = sorted({c.method.value for c in result.evidence.components.values()})
        if result.evidence.notes:
            # How the run went: audit sample, fallbacks, sources (collector-specific, JSON data).
            out["notes"] = dict(result.evidence.notes)
    if result.verdict in (Verdict.ERROR, Verdict.UNTRUSTED):
        out["message"] = result.message or result.verdict.value
    return out


def write_json(result: Result, stream: TextIO, *, log_index: int | None = None) -> None:
    """Print the ``--json`` object on one line."""
    stream.write(json.dumps(result_json(result, log_index=log_index), sort_keys=False) + "\n")


_WIDTH = 40


def _short(value: Any) -> str:
    if value is None:
        return "-"
    text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
    if text.startswith("sha256:") and len(text) > 23:
        text = text[:23] + "…"
    text = printable(text)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def render_text(result: Result, stream: TextIO, *, limit: int = 50) -> None:
    """A short human summary and, for findings, a table of at most ``limit`` rows."""
    b = result.baseline
    against = f"{b.name} v{b.version}" if b.name else "baseline"
    device = result.device.target if result.device else "device"
    advisory = sum(f.severity is Severity.ADVISORY for f in result.findings)
    verdict = result.verdict.value.upper()
    if result.verdict is Verdict.PASS and advisory:
        verdict += f" ({advisory} advisory finding{'s' if advisory != 1 else ''})"
    head = f"{verdict}: {printable(device)} against {printable(against)}"
    if result.evidence is not None:
        head += f" ({len(result.evidence.components)} components"
        head += f", {len(result.findings)} finding{'s' if len(result.findings) != 1 else ''}"
        head += f", {advisory} advisory)" if advisory and result.verdict is not Verdict.PASS else ")"
    stream.write(head + "\n")
    if result.verdict is Verdict.PASS and advisory:
        stream.write("  advisory: the baseline marks these components advisory; their differences do not block\n")
    if result.verdict is Verdict.PASS and _self_reported(result):
        stream.write(
            "  self-reported: the modules report the approved versions (this proves nothing about the bytes)\n"
        )
    if result.message:
        stream.write(f"  {printable(result.message)}\n")
    if result.findings:
        _table(result.findings[:limit], stream)
        if len(result.findings) > limit:
            stream.write(f"  … and {len(result.findings) - limit} more (use --json for all)\n")


def _self_reported(result: Result) -> bool:
    """Whether the pass rests on versions the modules stated (DJI), not on anything measured."""
    ev = result.evidence
    return ev is not None and any(c.method is Method.SELF_REPORTED for c in ev.components.values())


def _table(findings: tuple[Finding, ...], stream: TextIO) -> None:
    # One line per finding: "modified  critical  param/RTL_ALT  1500 → 2345".
    rows = [("KIND", "SEVERITY", "COMPONENT", "EXPECTED → ACTUAL")]
    rows += [
        (f.kind.value, f.severity.value, _short(f.component), f"{_short(f.expected)} → {_short(f.actual)}")
        for f in findings
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    stream.writelines(
        "  " + "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] + "\n" for r in rows
    )
