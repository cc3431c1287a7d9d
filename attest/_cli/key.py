"""``attest key generate``: make an Ed25519 key pair for a fleet manager or a dock."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``key``."""
    p = sub.add_parser("key", help="manage Ed25519 signing keys")
    ksub = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    g = ksub.add_parser(
        "generate",
        help="write a new key pair",
        description="Write an Ed25519 private key (PKCS#8 PEM, mode 0600) and its public key "
        "(NAME.key -> NAME.pub; any other X -> X.pub). Never overwrites.",
    )
    g.add_argument("--out", type=Path, required=True, metavar="FILE", help="private key file, e.g. fleet1.key")
    g.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    from attest.signing import generate_key_files, key_id, load_public_key  # cryptography: not for --help

    private, public = generate_key_files(args.out)
    print(f"private key: {private} (mode 0600; keep it secret)")
    print(f"public key:  {public}")
    print(f"key id:      {key_id(load_public_key(public))}")
    return 0
