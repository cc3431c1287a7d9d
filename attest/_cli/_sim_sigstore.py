"""``attest sim sigstore``: a private, TEST-ONLY Sigstore instance that mints trusted roots and bundles offline.

``root --out DIR`` makes an instance (a CA, a CT log key, a transparency log
key) and keeps it in DIR: ``trusted_root.json`` to pin in a trust policy, and
the private keys (mode 0600). ``sign FILE --root DIR --identity ID`` signs
FILE's DSSE payload as ID with a fresh key, a certificate from the test CA and
an entry in the test log: a bundle v0.3 that ``attest verify --bundle`` counts
only under a policy pinning that very root. Anyone holding DIR can sign as
anyone, so no real fleet's policy may pin it; it exists for the demo and tests.

:func:`register_sigstore` adds the ``sigstore`` kind to ``attest sim``'s
sub-parsers (called from :mod:`attest._cli.sim`). ``python -m
attest._cli._sim_sigstore ARGS`` runs the same command standalone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from attest.errors import BaselineError, ConfigError

__all__ = ["register_sigstore"]

_ISSUER = "https://accounts.google.com"
_WARNING = (
    "TEST ONLY: its private keys are in DIR, so whoever has DIR can sign as any identity. A bundle from it is "
    "trusted only by a trust policy that pins this instance's trusted_root.json; never pin it for a real fleet."
)


def register_sigstore(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim sigstore root|sign``."""
    p = ssub.add_parser(
        "sigstore",
        help="a private TEST-ONLY Sigstore instance: trusted roots and bundles, offline",
        description="A Sigstore instance of its own (a certificate authority, a CT log, a transparency log) for "
        "demos and tests, with no network and no OIDC login. " + _WARNING,
    )
    sub = p.add_subparsers(dest="sigstore_command", metavar="ACTION", required=True)

    r = sub.add_parser(
        "root",
        help="make a test instance: trusted_root.json and its private keys",
        description="Make a new test Sigstore instance (fresh P-256 keys) and write into DIR its trusted_root.json "
        "(pin it in a trust policy's [[sigstore]] signer), its CA certificate and its private keys (mode 0600, "
        "named *.TEST-ONLY.key). DIR is created if missing; no file in it is replaced. " + _WARNING,
    )
    r.add_argument("--out", required=True, type=Path, metavar="DIR", help="an empty or new directory")
    r.add_argument("--name", default="test", help="the instance's name, in its CA's name and log URLs (default: test)")
    r.set_defaults(func=_root)

    s = sub.add_parser(
        "sign",
        help="sign a baseline's payload as an identity: a Sigstore bundle from the test instance",
        description="Write a Sigstore bundle v0.3 over the DSSE payload of FILE (a signed or unsigned baseline), "
        "byte for byte: a fresh key, a 10-minute certificate from the test CA for --identity at --issuer (with an "
        "SCT from the test CT log), and an entry in the test transparency log (inclusion proof, checkpoint, "
        "signed entry timestamp) a minute ago. 'attest verify --bundle' counts it toward the threshold. " + _WARNING,
    )
    s.add_argument("file", type=Path, metavar="FILE", help="the baseline whose payload to sign")
    s.add_argument("--root", required=True, type=Path, metavar="DIR", help="the instance 'root --out DIR' made")
    s.add_argument("--identity", required=True, metavar="ID", help="the certificate's SAN: an email, or a URI")
    s.add_argument("--issuer", default=_ISSUER, metavar="URL", help=f"the OIDC issuer it names (default {_ISSUER})")
    s.add_argument("--out", required=True, type=Path, metavar="B.sigstore.json", help="where to write the bundle")
    s.set_defaults(func=_sign)


def _root(args: argparse.Namespace) -> int:
    import hashlib

    from attest.fsutil import read_bounded
    from attest.report import printable
    from attest.sim import TestRoot

    if not args.name or not all(c.isascii() and (c.isalnum() or c == "-") for c in args.name):
        raise ConfigError(f"--name {printable(args.name)}: use letters, digits and '-'")
    path = TestRoot(name=args.name).save(args.out)
    digest = hashlib.sha256(read_bounded(path, 1 << 20, what="trusted root")).hexdigest()
    print(f"trusted root: {path} (sha256 {digest})")
    print(f"private keys: {args.out}/*.TEST-ONLY.key (mode 0600; TEST ONLY: they sign as any identity)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from attest.baseline import MAX_BASELINE_BYTES, parse_envelope
    from attest.fsutil import read_bounded, write_new
    from attest.report import printable
    from attest.sim import TestRoot

    if not args.identity or not args.issuer:
        raise ConfigError("--identity and --issuer must not be empty")
    try:
        env = parse_envelope(read_bounded(args.file, MAX_BASELINE_BYTES, what="baseline"), source=str(args.file))
    except BaselineError as e:  # a wrong FILE argument here, not an untrusted baseline
        raise ConfigError(str(e)) from e
    try:
        root = TestRoot.load(args.root)
    except ValueError as e:
        raise ConfigError(f"{args.root}: not a test Sigstore instance made by 'attest sim sigstore root': {e}") from e
    # Signed a minute ago (whole seconds, as a log records it), within the certificate's ten minutes.
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        data = root.bundle(
            env.payload,
            identity=args.identity,
            issuer=args.issuer,
            payload_type=env.payload_type,
            not_before=now - timedelta(minutes=2),
            integrated_at=now - timedelta(minutes=1),
        )
    except ValueError as e:  # an identity or issuer a certificate cannot carry
        raise ConfigError(f"cannot issue a certificate for {printable(args.identity)}: {e}") from e
    write_new(args.out, data, 0o644)  # never replaces a file (exit 2)
    print(
        f"wrote {args.out}: bundle by {printable(args.identity)} (issuer {printable(args.issuer)}) over "
        f"{args.file}'s payload, from the TEST instance {printable(root.name)} ({args.root})"
    )
    return 0
