"""``attest baseline create|sign|show``: make, sign and inspect baselines."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attest._cli._baseline_promote import measure, read_baseline, register_diff_and_propose, write_unsigned
from attest._cli._common import (
    add_target_options,
    positive_int,
    require_readable,
    target_options,
    warn,
)
from attest.logs import get_logger

if TYPE_CHECKING:
    from attest.baseline import Baseline
    from attest.mavlink import VolatileParam
    from attest.signing import Envelope
    from attest.trust import TrustPolicy

# Most imports are inside the commands: `attest --help` builds every command's parser.
log = get_logger()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``baseline``."""
    p = sub.add_parser("baseline", help="create, sign and inspect baselines")
    bsub = p.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)

    c = bsub.add_parser(
        "create",
        help="measure a known-good device and write an unsigned baseline",
        description="Measure a known-good device and write its approved state as an unsigned "
        "in-toto Statement v1. Review it, then sign it with 'attest baseline sign'.",
    )
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--device", metavar="TARGET", help="directory, /dev/tty*, socket://, ssh://")
    src.add_argument(
        "--firmware",
        type=Path,
        metavar="IMAGE",
        help="a flight-controller release file (.apj, .px4) instead of a device",
    )
    c.add_argument(
        "--name",
        required=True,
        type=_baseline_name,
        help="baseline name: 1-64 ASCII letters, digits, '.', '_', '-' (rollback protection is per name)",
    )
    c.add_argument("--version", required=True, type=positive_int, help="positive integer, raised for every release")
    c.add_argument(
        "--expires",
        metavar="TIME",
        help="expiry: RFC 3339 (2027-01-31T00:00:00Z) or a date (2027-01-31 = its midnight UTC); default never",
    )
    c.add_argument("--include", action="append", metavar="GLOB", help="measure matching paths (default '**')")
    c.add_argument("--exclude", action="append", metavar="GLOB", help="skip matching paths (recorded in the baseline)")
    c.add_argument(
        "--rule", action="append", metavar="SPEC", help="rule on a value: NAME=V, NAME=MIN..MAX or NAME=A|B|C"
    )
    c.add_argument(
        "--advisory",
        action="append",
        metavar="GLOB",
        help="mark matching components advisory (paths, param/NAME; the --include syntax): a difference there "
        "is a finding of severity 'advisory' that does not block; rule violations still block. Repeatable",
    )
    c.add_argument(
        "--ignore-owner", action="store_true", help="do not compare uid/gid (image trees unpacked as another user)"
    )
    c.add_argument("--pin-device", action="store_true", help="match only this one airframe, not just its model")
    c.add_argument(
        "--accept-crc-only-firmware",
        action="store_true",
        help="DANGER: pin the flight controller's firmware by its forgeable CRC-32 only (a bootloader that cannot "
        "read the application back); recorded in the baseline and shown as 'CRC only' everywhere",
    )
    c.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the baseline")
    c.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_target_options(c)
    c.set_defaults(func=_create)

    s = bsub.add_parser(
        "sign",
        help="sign a baseline (or add a signature)",
        description="Wrap an unsigned baseline in a DSSE envelope signed with KEY, or add KEY's "
        "signature to an envelope (--key again for each further key). Writes in place unless --out is "
        "given; never replaces another "
        "existing file without --force. With --sigstore, write a Sigstore bundle over the same payload "
        "instead (needs the network and an OIDC login; pass it to verify with --bundle).",
    )
    s.add_argument("file", type=Path, metavar="FILE")
    how = s.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--key", action="append", type=Path, metavar="KEYFILE", help="Ed25519 private key (PEM); repeatable"
    )
    how.add_argument(
        "--sigstore",
        action="store_true",
        help="sign with your Sigstore identity into the bundle --out (network, OIDC login)",
    )
    s.add_argument("--out", type=Path, metavar="FILE", help="write here instead of in place")
    s.add_argument("--force", action="store_true", help="replace --out if it exists (and is not FILE itself)")
    s.set_defaults(func=_sign)

    w = bsub.add_parser(
        "show",
        help="print everything a baseline approves, and its signatures",
        description="Print every field that changes what is measured or compared (selection, collector "
        "settings, owner comparison, device selector, rules, components by kind) and the SHA-256 of the "
        "payload that is signed. Review this before signing.",
    )
    w.add_argument("file", type=Path, metavar="FILE")
    w.add_argument("--trust", type=Path, metavar="POLICY", help="check each signature against this trust policy")
    w.add_argument("--json", action="store_true", help="print one JSON object with every field")
    w.set_defaults(func=_show)

    register_diff_and_propose(bsub)


def _baseline_name(text: str) -> str:
    """Argparse type: a baseline name (exit 2 otherwise)."""
    from attest.baseline import name_problem

    why = name_problem(text)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return text


def _create(args: argparse.Namespace) -> int:
    from attest.baseline import Baseline
    from attest.collectors import Collector, FirmwareImageCollector, open_collector
    from attest.errors import ConfigError
    from attest.rules import Rule
    from attest.selection import Selection
    from attest.timeutil import parse_date_or_time

    expires = None
    if args.expires:
        try:
            expires = parse_date_or_time(args.expires)
        except ValueError as e:
            raise ConfigError(f"--expires: {e}") from e
        if expires <= datetime.now(UTC):
            warn(f"--expires {args.expires} is in the past: this baseline will never be trusted")
    if args.out.exists() and not args.force:
        raise ConfigError(f"{args.out}: already exists (use --force to replace it)")
    selection = Selection.from_args(args.include, args.exclude)
    rules = {r.name: r for r in (Rule.parse(spec) for spec in args.rule or [])}
    advisory = _advisory_args(args.advisory or [])
    if args.firmware is not None:
        collector: Collector = FirmwareImageCollector(args.firmware)
    else:
        collector = open_collector(args.device, target_options(args))
        if collector.kind == "mavlink":
            from attest.mavlink import creation_selection

            # Parameters a controller changes by itself are left out, unless an --include names them.
            selection = creation_selection(args.include, args.exclude)
    settings = {"selection": selection.to_json(), **collector.settings_extras()}
    if args.accept_crc_only_firmware:
        from attest.firmware import accept_crc_only_firmware

        settings = accept_crc_only_firmware(settings)
        warn("--accept-crc-only-firmware: a forged image with the same CRC-32 will pass this baseline")
    evidence = measure(collector, settings, device_match={})
    baseline = Baseline.from_evidence(
        evidence,
        name=args.name,
        version=args.version,
        collection=settings,
        expires=expires,
        device_match=collector.selector(evidence, pin_instance=args.pin_device),
        rules=rules,
        compare_owner=not args.ignore_owner,
        advisory=advisory,
    )
    _warn_advisory(baseline)
    write_unsigned(args.out, baseline)
    log.info("baseline_created", name=args.name, version=args.version, components=len(baseline.components))
    print(f"wrote {args.out}: {args.name} v{args.version}, {len(baseline.components)} components (unsigned)")
    return 0


def _advisory_args(globs: list[str]) -> tuple[str, ...]:
    """``--advisory`` globs, checked as a signed baseline's are.

    Raises:
        ConfigError: a malformed glob, or one given twice (exit 2).
    """
    from attest.errors import ConfigError
    from attest.selection import glob_to_regex

    for i, glob in enumerate(globs):
        try:
            glob_to_regex(glob)
        except ConfigError as e:
            raise ConfigError(f"--advisory: {e}") from e
        if glob in globs[:i]:
            raise ConfigError(f"--advisory {glob!r}: given twice")
    return tuple(globs)


def _warn_advisory(b: Baseline) -> None:
    """Warn about advisory globs that do less than they seem to: nothing measured matches, or a rule still blocks."""
    from attest.report import printable
    from attest.selection import Selection

    for glob in b.advisory:
        marked = Selection(include=(glob,))
        if not any(marked.selects(n) for n in b.components):
            warn(
                f"--advisory {printable(glob)}: matches nothing measured now "
                "(only what appears later; is it excluded from the selection?)"
            )
        for name in sorted(n for n in b.rules if marked.selects(n)):
            warn(f"--advisory {printable(glob)}: the rule on {printable(name)} still blocks when broken")


def _read(path: Path) -> tuple[Baseline, bytes, Envelope | None]:
    """The baseline, its signed (or to-be-signed) payload and envelope: :func:`read_baseline`, unpacked."""
    f = read_baseline(path)
    return f.baseline, f.payload, f.envelope


def _sign(args: argparse.Namespace) -> int:
    import hashlib

    from attest.baseline import PAYLOAD_TYPE
    from attest.errors import ConfigError
    from attest.fsutil import atomic_write
    from attest.signing import Envelope, load_private_key

    require_readable(args.file, "baseline")
    if args.sigstore and args.out is None:
        raise ConfigError("--sigstore writes a separate bundle: give it a file with --out B.sigstore.json")
    # Every key is loaded before anything is written: a bad second key leaves the file unsigned by the first.
    keys = [] if args.sigstore else [load_private_key(path) for path in args.key]
    out = args.out or args.file
    if args.out is not None and not args.force and _is_other_file(args.out, args.file):
        raise ConfigError(f"{args.out}: already exists (use --force to replace it)")
    _, payload, env = _read(args.file)  # never sign what we cannot read
    if not keys:
        from attest.trust import sign_with_sigstore

        atomic_write(out, sign_with_sigstore(payload, payload_type=PAYLOAD_TYPE))
        print(f"signed {out}: Sigstore bundle; payload sha256 {hashlib.sha256(payload).hexdigest()}")
        return 0
    if env is None:
        env = Envelope(payload=payload, payload_type=PAYLOAD_TYPE)
    for key in keys:
        env = env.signed_by(key)
    atomic_write(out, env.to_bytes(indent=2))
    digest = hashlib.sha256(env.payload).hexdigest()
    print(f"signed {out}: {len(env.signatures)} signature(s); payload sha256 {digest}")
    return 0


def _is_other_file(out: Path, source: Path) -> bool:
    """Whether ``out`` exists (a dangling symlink counts) and is not ``source`` itself (signing in place)."""
    if not (out.exists() or out.is_symlink()):
        return False
    try:
        return not out.samefile(source)
    except OSError:
        return True


def _show(args: argparse.Namespace) -> int:
    import hashlib

    from attest.trust import load_trust

    require_readable(args.file, "baseline")

    policy = load_trust(args.trust, None, accept=False, warn=warn) if args.trust else None
    baseline, payload, env = _read(args.file)
    digest = hashlib.sha256(payload).hexdigest()
    signatures = _signature_report(env, policy)
    if args.json:
        _show_json(args.file, baseline, env=env, digest=digest, signatures=signatures, policy=policy)
    else:
        _show_text(args.file, baseline, env=env, digest=digest, signatures=signatures, policy=policy)
    return 0


def _volatile_excludes(b: Baseline, excludes: tuple[str, ...]) -> dict[str, VolatileParam]:
    """The excludes of a flight controller's baseline that are volatile-parameter defaults, with their entries."""
    if b.device_kind != "mavlink":
        return {}
    from attest.mavlink import volatile_for_exclude

    return {g: v for g in excludes if (v := volatile_for_exclude(g)) is not None}


def _show_crc_only(b: Baseline) -> None:
    """The one line a reviewer must not miss: firmware pinned by a forgeable CRC only."""
    from attest.firmware import crc_only_accepted, crc_only_components

    for name in crc_only_components(b.components):
        crc = b.components[name].attributes.get("crc32")
        accepted = "accepted by this baseline" if crc_only_accepted(b.collection) else "NOT accepted: verify fails"
        print(f"firmware:   CRC only ({name} crc32 {crc}, forgeable; {accepted})")


def _show_json(
    path: Path,
    b: Baseline,
    *,
    env: Envelope | None,
    digest: str,
    signatures: list[dict[str, str | None]],
    policy: TrustPolicy | None,
) -> None:
    import sys

    from attest.selection import Selection

    predicate = b.to_statement()["predicate"]
    excludes = Selection.from_json(b.collection.get("selection", {"include": ["**"]})).exclude
    obj = {
        "file": str(path),
        "signed": env is not None,
        "payload_sha256": digest,
        **predicate,
        "advisory": list(b.advisory),
        "expired": b.expires is not None and b.expires <= datetime.now(UTC),
        "volatile_excludes": {
            g: {"autopilot": v.autopilot, "why": v.why, "source": v.source}
            for g, v in _volatile_excludes(b, excludes).items()
        },
        "signatures": signatures,
        "threshold": None if policy is None else {"required": policy.threshold, "valid": _valid_count(signatures)},
    }
    # ensure_ascii: every control or format character reaches the terminal escaped.
    json.dump(obj, sys.stdout, ensure_ascii=True, sort_keys=False)
    sys.stdout.write("\n")


def _show_text(
    path: Path,
    b: Baseline,
    *,
    env: Envelope | None,
    digest: str,
    signatures: list[dict[str, str | None]],
    policy: TrustPolicy | None,
) -> None:
    from collections import Counter

    from attest.report import printable as p
    from attest.selection import Selection
    from attest.timeutil import format_time

    def compact(value: object) -> str:  # JSON escapes controls; printable() the format characters
        return p(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))

    print(f"file:       {p(str(path))}")
    print(f"name:       {p(b.name)}")
    print(f"version:    {b.version}")
    print(f"created:    {format_time(b.created)}")
    expiry = format_time(b.expires) if b.expires else "never"
    if b.expires and b.expires <= datetime.now(UTC):
        expiry += " (EXPIRED)"
    print(f"expires:    {expiry}")
    match = ", ".join(f"{p(k)}={p(v)}" for k, v in sorted(b.device_match.items())) or "any device of this kind"
    print(f"device:     {p(b.device_kind)} ({match})")
    selection = Selection.from_json(b.collection.get("selection", {"include": ["**"]}))
    print("collection:")
    print(f"  include:  {', '.join(p(g) for g in selection.include)}")
    volatile = _volatile_excludes(b, selection.exclude)
    chosen = [g for g in selection.exclude if g not in volatile]
    print(f"  exclude:  {', '.join(p(g) for g in chosen) or '(none)'}")
    if volatile:  # the default exclusions of a flight controller's baseline, each with why
        print(f"  volatile: {len(volatile)} excluded, changed by the controller itself (--include keeps one)")
        for glob, entry in volatile.items():
            print(f"    {p(glob)}  {entry.autopilot}: {entry.why} [{entry.source}]")
    for key, value in sorted(b.collection.items()):
        if key != "selection":  # collector settings: measured parts, FTP roots, image size...
            print(f"  {p(key) + ':':<9} {compact(value)}")
    owner = "true (uid/gid compared)" if b.compare_owner else "false (uid/gid NOT compared)"
    if not any("uid" in c.attributes or "gid" in c.attributes for c in b.components.values()):
        owner += "; no component records an owner"  # a flight controller or an Android device
    print(f"owner:      {owner}")
    kinds = Counter(c.kind for c in b.components.values())
    methods = Counter(c.method.value for c in b.components.values())
    by_kind = ", ".join(f"{p(k)} {n}" for k, n in sorted(kinds.items()))
    by_method = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
    print(f"components: {len(b.components)} ({by_kind}; {by_method})")
    _show_crc_only(b)
    print(f"rules:      {len(b.rules)}")
    for name, rule in sorted(b.rules.items()):
        print(f"  {p(name)} = {p(rule.describe())}")
    if b.advisory:  # differences there pass: a reviewer must see every glob
        print(f"advisory:   {', '.join(p(g) for g in b.advisory)} (differences there do not block; rules still do)")
    else:
        print("advisory:   (none: every difference blocks)")
    what = "signed" if env is not None else "to be signed"
    print(f"payload:    sha256 {digest} (the bytes {what})")
    if env is None:
        print("signatures: none (unsigned; sign it with 'attest baseline sign')")
        return
    print(f"signatures: {len(signatures)}")
    for sig in signatures:
        print(f"  {p(sig['keyid'] or '(no keyid)')}  {p(_status_text(sig))}")
    if policy is not None:
        valid = _valid_count(signatures)
        met = "met" if valid >= policy.threshold else "NOT met"
        print(f"threshold:  {valid} valid of {policy.threshold} required by {p(policy.source)} ({met})")


def _valid_count(signatures: list[dict[str, str | None]]) -> int:
    return len({s["key"] for s in signatures if s["status"] == "valid"})


def _status_text(sig: dict[str, str | None]) -> str:
    status, key = sig["status"], sig["key"]
    if status == "valid":
        return f"valid (key {key})"
    if status == "invalid":
        return f"INVALID (key {key})"
    if status == "unknown_key":
        return "not by a key in the trust policy"
    return "not checked (no --trust)"


def _signature_report(env: Envelope | None, policy: TrustPolicy | None) -> list[dict[str, str | None]]:
    """Each signature's keyid and status: ``valid``, ``invalid``, ``unknown_key`` or ``not_checked``.

    Checked with the same rule as ``verify`` (:func:`attest.signing.signature_checker`).
    """
    from attest.signing import pae, signature_checker

    if env is None:
        return []
    message = pae(env.payload_type, env.payload)
    checkers = [] if policy is None else [(k, signature_checker(k.key)) for k in policy.keys]
    out: list[dict[str, str | None]] = []
    for sig in env.signatures:
        status, name = ("not_checked", None) if policy is None else ("unknown_key", None)
        for k, check in checkers:
            if sig.keyid and k.key_id != sig.keyid:
                continue
            if check(sig.sig, message):
                status, name = "valid", k.id
                break
            if sig.keyid:
                status, name = "invalid", k.id
                break
        out.append({"keyid": sig.keyid, "status": status, "key": name})
    return out
