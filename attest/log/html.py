"""``attest log export --html``: one self-contained page for fleet managers.

Inline CSS, no scripts, no external resources: the file can be mailed,
archived and opened offline. Every value from the log is made printable
(:func:`attest.report.printable` turns controls, bidi overrides and other
format characters into visible escapes) and then HTML-escaped: a device may
name its files anything, and the page must show what is there, not what the
name makes a browser draw. Sections: damaged entries (when there are any),
fleet summary, each drone's status with its history as a timeline, every
drift/error/untrusted result with its findings, the checkpoint and how to verify it.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from attest.log.checkpoint import Checkpoint
from attest.log.review import DamagedEntry, DroneSummary, OtherEntry, summarise
from attest.report import printable
from attest.signing import LoggedResult
from attest.timeutil import format_time

__all__ = ["render_html"]

#: A drone's timeline shows at most this many of its latest results.
TIMELINE_MAX = 120
#: Findings shown per result; the rest are counted (``attest log show --json`` has them all).
FINDINGS_MAX = 100

_COLOURS = {"pass": "#1a7f37", "drift": "#cf222e", "error": "#9a6700", "untrusted": "#8250df"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#0d1117;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#9da7b3}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:18px 0;padding:14px 18px}
h2{font-size:17px;margin:0 0 10px}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td code{overflow-wrap:anywhere}
th{font-size:12px;text-transform:uppercase;color:#57606a}
td.num{text-align:right}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:10px;overflow-x:auto;white-space:pre-wrap;
word-break:break-all}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1 1 130px;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:26px}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;color:#fff;font-size:12px;font-weight:600}
.timeline{display:flex;flex-wrap:wrap;gap:2px;max-width:560px}
.tick{width:9px;height:18px;border-radius:2px}
.legend span{margin-right:12px}
.muted{color:#57606a}
.warn{background:#fff8c5;border-color:#d4a72c}
"""


def _e(value: Any) -> str:
    return html.escape(printable("-" if value is None else str(value)), quote=True)


def _lines(text: str) -> str:
    """``text`` escaped line by line: its newlines stay newlines."""
    return "\n".join(_e(line) for line in text.split("\n"))


_DAMAGED_NOTE = (
    "<p>These entries cannot be read as results; every other entry is shown. Run "
    "<code>attest log verify</code> to check the whole log.</p>"
)


def _damaged(damaged: Sequence[DamagedEntry]) -> str:
    if not damaged:
        return ""
    out = [
        f'<section id="damaged" class="warn"><h2>Damaged entries ({len(damaged)})</h2>',
        _DAMAGED_NOTE,
        "<table><tr><th>Entry</th><th>What is wrong</th></tr>",
    ]
    out += [f"<tr><td>#{d.index}</td><td><code>{_e(d.message)}</code></td></tr>" for d in damaged]
    out.append("</table></section>")
    return "".join(out)


def _others(others: Sequence[OtherEntry]) -> str:
    if not others:
        return ""
    counts = Counter(o.label for o in others)
    kinds = ", ".join(f"{n} {_e(label)}" for label, n in sorted(counts.items()))
    return (
        f'<section id="others"><p class="muted">The log also holds {len(others)} entries of other kinds '
        f"({kinds}); they are not results and are not shown here.</p></section>"
    )


def _badge(verdict: str) -> str:
    colour = _COLOURS.get(verdict, "#57606a")
    return f'<span class="badge" style="background:{colour}">{_e(verdict.upper())}</span>'


def _short(value: Any, width: int = 60) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and set(value) == {"sha256"} and isinstance(value["sha256"], str):
        return f"sha256:{value['sha256'][:16]}\u2026"  # digests differ early; the full value is in --json
    text = json.dumps(value, sort_keys=True, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _summary(results: list[LoggedResult], drones: list[DroneSummary]) -> str:
    latest = Counter(d.latest.verdict for d in drones)
    cards = [("drones", len(drones), "#0d1117"), ("results logged", len(results), "#0d1117")]
    cards += [(f"drones now {v}", latest.get(v, 0), c) for v, c in _COLOURS.items()]
    out = ['<section id="summary"><h2>Fleet summary</h2><div class="cards">']
    out += [f'<div class="card"><b style="color:{c}">{n}</b>{_e(label)}</div>' for label, n, c in cards]
    out.append("</div>")
    if results:
        out.append(
            f'<p class="muted">Results from {_e(format_time(results[0].time))} to '
            f"{_e(format_time(results[-1].time))}. A drone's status is its latest result.</p>"
        )
    out.append("</section>")
    return "".join(out)


def _drones(drones: list[DroneSummary]) -> str:
    out = ['<section id="drones"><h2>Drones</h2>']
    legend = "".join(f"<span>{_badge(v)}</span>" for v in _COLOURS)
    out.append(f'<p class="legend muted">Timeline, oldest to newest: {legend}</p>')
    out.append(
        "<table><tr><th>Drone</th><th>Status</th><th>Last result</th><th>Baseline</th>"
        "<th>Last pass</th><th>Results</th><th>History</th></tr>"
    )
    for d in drones:
        r = d.latest
        last_pass = d.last_pass
        ticks = "".join(
            f'<span class="tick" style="background:{_COLOURS.get(x.verdict, "#57606a")}" '
            f'title="#{x.index} {_e(format_time(x.time))} {_e(x.verdict)} ({len(x.findings)} findings)"></span>'
            for x in d.results[-TIMELINE_MAX:]
        )
        hidden = len(d.results) - TIMELINE_MAX
        more = f'<div class="muted">{hidden} earlier not shown</div>' if hidden > 0 else ""
        counts = ", ".join(f"{n} {v}" for v, n in sorted(d.counts.items()))
        out.append(
            f"<tr><td><b>{_e(d.device_id)}</b></td><td>{_badge(r.verdict)}</td>"
            f"<td>{_e(format_time(r.time))}<br><span class='muted'>entry #{r.index}</span></td>"
            f"<td>{_e(r.baseline_label())}</td>"
            f"<td>{_e(format_time(last_pass.time)) if last_pass else 'never'}</td>"
            f"<td>{_e(counts)}</td><td><div class='timeline'>{ticks}</div>{more}</td></tr>"
        )
    out.append("</table></section>")
    return "".join(out)


def _finding_row(f: Any) -> str:
    f = f if isinstance(f, dict) else {"component": f}
    return (
        f"<tr><td><code>{_e(f.get('component'))}</code></td><td>{_e(f.get('kind'))}</td>"
        f"<td>{_e(f.get('severity'))}</td><td><code>{_e(_short(f.get('expected')))}</code></td>"
        f"<td><code>{_e(_short(f.get('actual')))}</code></td></tr>"
    )


def _drifts(results: list[LoggedResult]) -> str:
    bad = [r for r in results if r.verdict != "pass"]
    out = [f'<section id="drifts"><h2>Drifts and failures ({len(bad)})</h2>']
    if not bad:
        out.append("<p>Every logged result passed.</p>")
    for r in reversed(bad):  # newest first: what a manager acts on
        out.append(
            f"<h3>{_badge(r.verdict)} {_e(r.device_id)} against {_e(r.baseline_label())} "
            f"<span class='muted'>{_e(format_time(r.time))}, entry #{r.index}, dock {_e(r.dock_id)}</span></h3>"
        )
        if r.message:
            out.append(f"<p>{_e(r.message)}</p>")
        if r.findings:
            out.append(
                "<table><tr><th>Component</th><th>Kind</th><th>Severity</th><th>Expected</th><th>Actual</th></tr>"
            )
            out.extend(_finding_row(f) for f in r.findings[:FINDINGS_MAX])
            out.append("</table>")
            if len(r.findings) > FINDINGS_MAX:
                out.append(
                    f"<p class='muted'>\u2026 and {len(r.findings) - FINDINGS_MAX} more findings: "
                    f"<code>attest log show --log DIR --device {_e(r.device_id)} --json</code></p>"
                )
    out.append("</section>")
    return "".join(out)


def _checkpoint(origin: str, note: bytes | None, head: Checkpoint | None, vkey: str | None, verified: bool) -> str:
    out = ['<section id="checkpoint"><h2>Checkpoint and how to verify it</h2>']
    if note is None or head is None:
        out.append("<p>This log has no checkpoint yet: nothing in it is signed.</p></section>")
        return "".join(out)
    if verified:
        out.append(
            f"<p><b>Verified</b> at export with the verifier key <code>{_e(vkey)}</code>: every entry's "
            "signature, every stored hash and the checkpoint's signature.</p>"
        )
    else:
        out.append(
            '<p class="warn" style="padding:6px 10px;border:1px solid">Not verified by this export. '
            "Verify the log copy before you rely on this page (below).</p>"
        )
    out.append(
        f"<p>Origin <code>{_e(origin)}</code>, tree size <b>{head.size}</b>, root hash "
        f"<code>{_e(head.root.hex())}</code>.</p><pre>{_lines(note.decode('utf-8', 'replace'))}</pre>"
    )
    key = _e(vkey) if vkey else "VKEY"
    out.append(
        "<h3>To verify offline</h3><ol>"
        "<li>Get the dock's verifier key from its operator, over a channel you trust "
        "(<code>attest log key --dock-key DOCK.key --log LOG</code> prints it).</li>"
        f"<li>Check everything: <code>attest log verify --log COPY --vkey '{key}'</code> "
        "(exit 0 intact, 1 tampered, naming the first bad entry).</li>"
        "<li>Keep this checkpoint (save the text above as a file). Next time, add "
        "<code>--checkpoint SAVED</code>: the log must still contain everything it signed.</li>"
        "<li>For a single result: <code>attest log proof INDEX --log COPY --out r.tlog-proof</code>, then "
        f"<code>attest log verify-proof r.tlog-proof --vkey '{key}'</code> (a C2SP tlog-proof).</li></ol>"
    )
    out.append("</section>")
    return "".join(out)


def render_html(
    results: list[LoggedResult],
    *,
    origin: str,
    checkpoint_note: bytes | None,
    checkpoint: Checkpoint | None,
    generated: datetime,
    vkey: str | None = None,
    verified: bool = False,
    damaged: Sequence[DamagedEntry] = (),
    others: Sequence[OtherEntry] = (),
) -> str:
    """The report page.

    Args:
        results: every result of the log, oldest first.
        damaged: entries that could not be read as results (a section lists them).
        others: valid entries of other kinds (counted, not shown).
        origin: the log's origin.
        checkpoint_note: the signed checkpoint, verbatim.
        checkpoint: the parsed checkpoint.
        generated: when the page was made.
        vkey: the verifier key text, when known.
        verified: whether the log was verified with ``vkey`` just before.
    """
    drones = summarise(results)
    root = base64.b64encode(checkpoint.root).decode() if checkpoint else "-"
    title = f"Attestation log {origin}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>Generated {_e(format_time(generated))} \u00b7 "
        f"{len(results)} results \u00b7 checkpoint root {_e(root)}</p></header><main>"
        + _damaged(damaged)
        + _summary(results, drones)
        + _others(others)
        + _drones(drones)
        + _drifts(results)
        + _checkpoint(origin, checkpoint_note, checkpoint, vkey, verified)
        + "</main></body></html>\n"
    )
