"""``attest baseline create|sign|show``: make, sign and inspect baselines."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attest._cli._common import add_target_options, new_nonce, positive_int, target_options, warn
from attest.logs import get_logger

if TYPE_CHECKING:
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
    c.add_argument("--name", required=True, help="baseline name (rollback protection is per name)")
    c.add_argument("--version", required=True, type=positive_int, help="positive integer, raised for every release")
    c.add_argument("--expires", metavar="TIME", help="RFC 3339 expiry, e.g. 2027-01-31T00:00:00Z (default: never)")
    c.add_argument("--include", action="append", metavar="GLOB", help="measure matching paths (default '**')")
    c.add_argument("--exclude", action="append", metavar="GLOB", help="skip matching paths (recorded in the baseline)")
    c.add_argument(
        "--rule", action="append", metavar="SPEC", help="rule on a value: NAME=V, NAME=MIN..MAX or NAME=A|B|C"
    )
    c.add_argument(
        "--ignore-owner", action="store_true", help="do not compare uid/gid (image trees unpacked as another user)"
    )
    c.add_argument("--pin-device", action="store_true", help="match only this one airframe, not just its model")
    c.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the baseline")
    c.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_target_options(c)
    c.set_defaults(func=_create)

    s = bsub.add_parser(
        "sign",
        help="sign a baseline (or add a signature)",
        description="Wrap an unsigned baseline in a DSSE envelope signed with KEY, or add KEY's "
        "signature to an envelope. Writes in place unless --out is given.",
    )
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument("--key", required=True, type=Path, metavar="KEYFILE", help="Ed25519 private key (PEM)")
    s.add_argument("--out", type=Path, metavar="FILE", help="write here instead of in place")
    s.set_defaults(func=_sign)

    w = bsub.add_parser("show", help="print a baseline's summary and signatures")
    w.add_argument("file", type=Path, metavar="FILE")
    w.add_argument("--trust", type=Path, metavar="POLICY", help="check each signature against this trust policy")
    w.set_defaults(func=_show)


def _create(args: argparse.Namespace) -> int:
    from attest.baseline import Baseline
    from attest.collectors import Collector, FirmwareImageCollector, open_collector
    from attest.errors import ConfigError
    from attest.fsutil import atomic_write
    from attest.progress import TerminalProgress
    from attest.rules import Rule
    from attest.selection import Selection
    from attest.timeutil import parse_time

    expires = None
    if args.expires:
        try:
            expires = parse_time(args.expires)
        except ValueError as e:
            raise ConfigError(f"--expires: {e}") from e
        if expires <= datetime.now(UTC):
            warn(f"--expires {args.expires} is in the past: this baseline will never be trusted")
    if args.out.exists() and not args.force:
        raise ConfigError(f"{args.out}: already exists (use --force to replace it)")
    selection = Selection.from_args(args.include, args.exclude)
    rules = {r.name: r for r in (Rule.parse(spec) for spec in args.rule or [])}
    if args.firmware is not None:
        collector: Collector = FirmwareImageCollector(args.firmware)
    else:
        collector = open_collector(args.device, target_options(args))
    settings = {"selection": selection.to_json(), **collector.settings_extras()}
    evidence = collector.collect(settings, nonce=new_nonce(), progress=TerminalProgress.for_stream())
    baseline = Baseline.from_evidence(
        evidence,
        name=args.name,
        version=args.version,
        collection=settings,
        expires=expires,
        device_match=collector.selector(evidence, pin_instance=args.pin_device),
        rules=rules,
        compare_owner=not args.ignore_owner,
    )
    atomic_write(args.out, (json.dumps(baseline.to_statement(), indent=2) + "\n").encode())
    log.info("baseline_created", name=args.name, version=args.version, components=len(baseline.components))
    print(f"wrote {args.out}: {args.name} v{args.version}, {len(baseline.components)} components (unsigned)")
    return 0


def _load_for_signing(path: Path) -> Envelope:
    from attest.baseline import PAYLOAD_TYPE, Baseline, parse_envelope
    from attest.errors import BaselineError
    from attest.signing import Envelope
    from attest.trust import read_baseline_file

    data = read_baseline_file(path)
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"{path}: not JSON") from e
    if isinstance(obj, dict) and obj.get("_type") is not None:
        baseline = Baseline.from_statement(obj, source=str(path))
        return Envelope(payload=baseline.to_payload(), payload_type=PAYLOAD_TYPE)
    env = parse_envelope(data, source=str(path))
    Baseline.from_payload(env.payload, source=str(path))  # never sign what we cannot read
    return env


def _sign(args: argparse.Namespace) -> int:
    from attest.fsutil import atomic_write
    from attest.signing import load_private_key

    key = load_private_key(args.key)
    env = _load_for_signing(args.file).signed_by(key)
    out = args.out or args.file
    atomic_write(out, env.to_bytes(indent=2))
    print(f"signed {out}: {len(env.signatures)} signature(s)")
    return 0


def _show(args: argparse.Namespace) -> int:
    from attest.baseline import Baseline, parse_envelope
    from attest.errors import BaselineError
    from attest.signing import pae
    from attest.timeutil import format_time
    from attest.trust import TrustPolicy, read_baseline_file

    policy = TrustPolicy.from_file(args.trust) if args.trust else None
    data = read_baseline_file(args.file)
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"{args.file}: not JSON") from e
    env: Envelope | None = None
    if isinstance(obj, dict) and obj.get("_type") is not None:
        baseline = Baseline.from_statement(obj, source=str(args.file))
    else:
        env = parse_envelope(data, source=str(args.file))
        baseline = Baseline.from_payload(env.payload, source=str(args.file))
    b = baseline
    print(f"name:       {b.name}")
    print(f"version:    {b.version}")
    print(f"created:    {format_time(b.created)}")
    expiry = format_time(b.expires) if b.expires else "never"
    if b.expires and b.expires <= datetime.now(UTC):
        expiry += " (EXPIRED)"
    print(f"expires:    {expiry}")
    match = ", ".join(f"{k}={v}" for k, v in sorted(b.device_match.items())) or "any"
    print(f"device:     {b.device_kind} ({match})")
    print(f"components: {len(b.components)}")
    print(f"rules:      {len(b.rules)}")
    if env is None:
        print("signatures: none (unsigned; sign it with 'attest baseline sign')")
        return 0
    print(f"signatures: {len(env.signatures)}")
    message = pae(env.payload_type, env.payload)
    for sig in env.signatures:
        print(f"  {sig.keyid or '(no keyid)'}  {_signature_status(sig.keyid, sig.sig, message, policy)}")
    return 0


def _signature_status(kid: str, sig: bytes, message: bytes, policy: TrustPolicy | None) -> str:
    from cryptography.exceptions import InvalidSignature

    if policy is None:
        return "not checked (no --trust)"
    for k in policy.keys:
        if kid and k.key_id != kid:
            continue
        try:
            k.key.verify(sig, message)
        except InvalidSignature:
            if kid:
                return f"INVALID (key {k.id})"
            continue
        return f"valid (key {k.id})"
    return "not by a key in the trust policy"
