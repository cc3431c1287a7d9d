"""``attest baseline diff`` and ``attest baseline propose``: review a change, propose the next version.

``attest baseline`` (:mod:`attest._cli.baseline`) adds both actions through
:func:`register_diff_and_propose`. This module is private (``_``): the command
discovery of :mod:`attest._cli` registers only public modules, each a command
group of its own.

* ``diff A B [--json]`` reads two baselines, each an unsigned Statement or a
  DSSE envelope, as strictly as ``show`` does (:func:`read_baseline`), and
  prints what changed (:mod:`attest.baseline_diff`). Signatures are not
  checked, and the output says so. Exit 0 when the payloads are the same, 1
  when they differ (as ``diff`` does), 2 for a command-line mistake or a
  path that cannot be read, 4 for a file that is not a baseline ``show``
  would read.
* ``propose --device TARGET --from CURRENT --version N --out NEXT`` measures a
  known-good updated drone with CURRENT's collection settings and device
  selector, and writes NEXT: an **unsigned** Statement with CURRENT's name,
  rules, advisory globs, owner comparison, settings and selector, the measured components,
  version N (higher than CURRENT's) and no expiry unless ``--expires`` gives
  one. Then it prints the diff CURRENT → NEXT. Nothing trusts NEXT until a
  threshold of signers signs it (``attest baseline sign``).

The parts ``baseline create`` can share (:func:`measure`,
:func:`write_unsigned`, :func:`read_baseline`) are public here.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest._cli._common import (
    add_target_options,
    new_nonce,
    positive_int,
    require_readable,
    target_options,
    warn,
)
from attest.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Mapping

    from attest.baseline import Baseline
    from attest.baseline_diff import Side
    from attest.collectors import Collector
    from attest.model import Evidence
    from attest.signing import Envelope

__all__ = ["BaselineFile", "measure", "read_baseline", "register_diff_and_propose", "write_unsigned"]

# Imports of what the commands run are inside them: `attest --help` builds every parser.
log = get_logger()


def register_diff_and_propose(bsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``diff`` and ``propose`` to the ``attest baseline`` actions ``bsub``."""
    d = bsub.add_parser(
        "diff",
        help="show what changed between two baselines",
        description="Print every difference between baselines A and B: components and parameters added, "
        "removed and changed, rules, version, expiry, creation, device selector, collection settings. "
        "Signatures are not checked. Exit 0 when they are the same, 1 when they differ.",
    )
    d.add_argument("a", type=Path, metavar="A", help="the older baseline (signed or not)")
    d.add_argument("b", type=Path, metavar="B", help="the newer baseline (signed or not)")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=_diff)

    p = bsub.add_parser(
        "propose",
        help="measure an updated known-good drone and write the next version of a baseline (unsigned)",
        description="Measure TARGET with CURRENT's collection settings and device selector and write the next "
        "version of CURRENT as an unsigned baseline (same name, rules, advisory globs and settings; no expiry "
        "unless --expires), then print the diff CURRENT -> NEXT. Nothing trusts NEXT until a threshold of "
        "signers signs it.",
    )
    p.add_argument("--device", required=True, metavar="TARGET", help="directory, /dev/tty*, socket://, ssh://")
    p.add_argument(
        "--from", dest="current", required=True, type=Path, metavar="CURRENT", help="the baseline in use today"
    )
    p.add_argument("--version", required=True, type=positive_int, help="the new version, higher than CURRENT's")
    p.add_argument("--out", required=True, type=Path, metavar="NEXT", help="where to write the proposed baseline")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--expires",
        metavar="TIME",
        help="expiry of NEXT: RFC 3339 or a date (midnight UTC); default never (CURRENT's is not carried over)",
    )
    p.add_argument(
        "--trust", type=Path, metavar="POLICY", help="require CURRENT to be signed by this policy's threshold"
    )
    add_target_options(p)
    p.set_defaults(func=_propose)


@dataclass(frozen=True)
class BaselineFile:
    """A baseline file as read, signatures NOT checked.

    Attributes:
        baseline: the parsed baseline.
        payload: the bytes that are signed (for an unsigned Statement, the
            canonical bytes ``sign`` will sign).
        envelope: the DSSE envelope, ``None`` for an unsigned Statement.
    """

    baseline: Baseline
    payload: bytes
    envelope: Envelope | None

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the payload (the ``baseline.digest`` of results)."""
        import hashlib

        return hashlib.sha256(self.payload).hexdigest()


def read_baseline(path: Path) -> BaselineFile:
    """A baseline file: an unsigned Statement, or a DSSE envelope (signatures NOT checked).

    Read exactly as ``show`` reads it: bounded, strict JSON
    (:mod:`attest.jsonutil`), an envelope's payload RFC 8785 canonical.

    Raises:
        ConfigError: the path cannot be read or is a directory (exit 2).
        BaselineError: anything ``verify`` would refuse before its signature count (exit 4).
    """
    from attest.baseline import Baseline, parse_envelope
    from attest.errors import BaselineError
    from attest.jsonutil import JSONFormatError, loads
    from attest.trust import read_baseline_file

    require_readable(path, "baseline")
    data = read_baseline_file(path)
    try:
        obj = loads(data)
    except JSONFormatError as e:
        raise BaselineError(f"{path}: not JSON this tool accepts: {e}") from e
    if isinstance(obj, dict) and obj.get("_type") is not None:
        baseline = Baseline.from_statement(obj, source=str(path))
        try:
            return BaselineFile(baseline, baseline.to_payload(), None)
        except BaselineError as e:
            raise BaselineError(f"{path}: {e}") from e
    env = parse_envelope(data, source=str(path))
    return BaselineFile(Baseline.from_payload(env.payload, source=str(path)), env.payload, env)


def measure(collector: Collector, settings: Mapping[str, Any], *, device_match: Mapping[str, str]) -> Evidence:
    """Measure a device for a new baseline: a fresh nonce, a progress bar on a terminal.

    Raises:
        TransportError, CollectionError, BaselineError: as :meth:`Collector.collect`.
    """
    from attest.progress import TerminalProgress

    return collector.collect(
        settings, nonce=new_nonce(), device_match=device_match, progress=TerminalProgress.for_stream()
    )


def write_unsigned(path: Path, baseline: Baseline) -> None:
    """Write ``baseline`` as an unsigned Statement: pretty JSON, for review, atomically.

    Raises:
        ConfigError: it cannot be written.
    """
    from attest.fsutil import atomic_write

    atomic_write(path, (json.dumps(baseline.to_statement(), indent=2) + "\n").encode())


# -- diff ------------------------------------------------------------------------------------------

_NOT_CHECKED = (
    "signatures: not checked (diff compares contents; 'attest baseline show FILE --trust POLICY' checks them)"
)


def _diff(args: argparse.Namespace) -> int:
    from attest.baseline_diff import diff_baselines, render_text

    a, b = read_baseline(args.a), read_baseline(args.b)
    d = diff_baselines(_side(str(args.a), a), _side(str(args.b), b))
    if args.json:
        obj = d.to_json()
        obj = {"a": obj.pop("a"), "b": obj.pop("b"), "signatures_checked": False, **obj}
        # ensure_ascii: every control or format character reaches the terminal escaped.
        json.dump(obj, sys.stdout, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        render_text(d, sys.stdout, notes=[_NOT_CHECKED])
    return 0 if d.same else 1


def _side(file: str, f: BaselineFile) -> Side:
    from attest.baseline_diff import Side

    return Side(file=file, baseline=f.baseline, digest=f.digest, signed=f.envelope is not None)


# -- propose ---------------------------------------------------------------------------------------


def _propose(args: argparse.Namespace) -> int:
    from attest.baseline import Baseline
    from attest.baseline_diff import diff_baselines, render_text
    from attest.collectors import open_collector
    from attest.errors import CollectionError, ConfigError, UntrustedBaselineError
    from attest.firmware import crc_only_accepted
    from attest.verifier import device_mismatch

    # Everything the command line alone decides, before the device is touched.
    current, checked = _read_current(args.current, args.trust)
    cur = current.baseline
    if args.version <= cur.version:
        raise ConfigError(f"--version {args.version}: must be higher than {args.current}'s version {cur.version}")
    if _same_file(args.out, args.current):
        raise ConfigError(f"{args.out}: is --from itself; write the proposal to another file")
    if (args.out.exists() or args.out.is_symlink()) and not args.force:
        raise ConfigError(f"{args.out}: already exists (use --force to replace it)")
    expires = _expires(args.expires, cur)
    collector = open_collector(args.device, target_options(args))
    if collector.kind != cur.device_kind:
        raise ConfigError(
            f"{args.current} is a {cur.device_kind} baseline, but {args.device} is a {collector.kind} target"
        )
    if crc_only_accepted(cur.collection):
        warn(f"{args.current} accepts firmware pinned by its CRC-32 alone; so will {args.out}")

    evidence = measure(collector, cur.collection, device_match=cur.device_match)
    mismatch = device_mismatch(evidence, cur)
    if mismatch is not None:  # as verify: CURRENT says nothing about this device
        raise UntrustedBaselineError(f"{args.device}: {mismatch}; nothing written")
    if evidence.findings:  # the device's own report disagrees with bytes the dock read: not known-good
        first = evidence.findings[0]
        raise CollectionError(
            f"{args.device}: {len(evidence.findings)} problem(s) while measuring, first {first.component!r}: "
            f"{first.detail or first.kind.value}; a proposal is made only from a device measured cleanly"
        )
    nxt = Baseline.from_evidence(
        evidence,
        name=cur.name,
        version=args.version,
        collection=cur.collection,
        expires=expires,
        device_match=cur.device_match,
        rules=cur.rules,
        compare_owner=cur.compare_owner,
        advisory=cur.advisory,
    )
    for rule_warning in _broken_rules(nxt, evidence):
        warn(rule_warning)
    write_unsigned(args.out, nxt)
    log.info("baseline_proposed", name=nxt.name, version=nxt.version, components=len(nxt.components))

    from attest.report import printable

    print(
        f"wrote {printable(str(args.out))}: {printable(nxt.name)} v{nxt.version}, {len(nxt.components)} components "
        "(unsigned: nothing trusts it until a threshold of signers signs it with 'attest baseline sign')"
    )
    next_file = BaselineFile(nxt, nxt.to_payload(), None)
    d = diff_baselines(_side(str(args.current), current), _side(str(args.out), next_file))
    render_text(d, sys.stdout, notes=[checked])
    return 0


def _read_current(path: Path, trust: Path | None) -> tuple[BaselineFile, str]:
    """CURRENT, and a line saying whether (and how) its signatures were checked.

    With ``trust``, CURRENT must be signed by the policy's threshold, checked
    before its payload is parsed (as ``verify`` does); its expiry and the
    dock's rollback state do not matter here (an expired baseline is exactly
    what gets a next version).

    Raises:
        ConfigError: unreadable path or trust policy (exit 2).
        BaselineError, UntrustedBaselineError: not a baseline, or with
            ``trust`` unsigned or below the threshold (exit 4).
    """
    if trust is None:
        return read_baseline(path), "a (CURRENT): signatures not checked (no --trust)"

    from attest.baseline import Baseline
    from attest.errors import UntrustedBaselineError
    from attest.report import printable
    from attest.trust import load_trust, read_baseline_file, verify_envelope

    require_readable(path, "baseline")
    policy = load_trust(trust, None, accept=False, warn=warn)
    data = read_baseline_file(path)
    if _is_statement(data, source=str(path)):
        raise UntrustedBaselineError(f"{path}: unsigned, but --trust requires it signed by {policy.threshold}")
    env, signers = verify_envelope(data, policy, source=str(path))
    baseline = Baseline.from_payload(env.payload, source=str(path))
    who = ", ".join(printable(s) for s in signers)
    note = (
        f"a (CURRENT): signatures checked against {printable(str(trust))}: "
        f"{len(signers)} valid ({who}), {policy.threshold} required (threshold met)"
    )
    return BaselineFile(baseline, env.payload, env), note


def _is_statement(data: bytes, *, source: str) -> bool:
    """Whether a baseline file that parses is an unsigned Statement (not an envelope)."""
    from attest.errors import BaselineError
    from attest.jsonutil import JSONFormatError, loads

    try:
        obj = loads(data)
    except JSONFormatError as e:
        raise BaselineError(f"{source}: not JSON this tool accepts: {e}") from e
    return isinstance(obj, dict) and obj.get("_type") is not None


def _expires(text: str | None, current: Baseline) -> datetime | None:
    """``--expires``, checked; CURRENT's expiry is not carried over (it may be the very reason for NEXT).

    Raises:
        ConfigError: not a date or timestamp.
    """
    from attest.errors import ConfigError
    from attest.timeutil import format_time, parse_date_or_time

    if text is None:
        if current.expires is not None:
            warn(f"the proposal never expires (CURRENT expires {format_time(current.expires)}); give --expires")
        return None
    try:
        expires = parse_date_or_time(text)
    except ValueError as e:
        raise ConfigError(f"--expires: {e}") from e
    if expires <= datetime.now(UTC):
        warn(f"--expires {text} is in the past: this baseline will never be trusted")
    return expires


def _broken_rules(b: Baseline, evidence: Evidence) -> list[str]:
    """A warning per rule of ``b`` the measured device breaks (verify would report it as drift)."""
    from attest.report import printable

    out = []
    for name, rule in sorted(b.rules.items()):
        value = evidence.values.get(name)
        if value is None:
            out.append(f"rule {printable(name)} = {printable(rule.describe())}: the device reports no such value")
        elif not rule.holds(value):
            out.append(f"rule {printable(name)} = {printable(rule.describe())} does not hold: the device has {value!r}")
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and a.samefile(b)
    except OSError:
        return False
