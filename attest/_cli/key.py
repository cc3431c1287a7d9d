"""``attest key generate``: make an Ed25519 key pair for a fleet manager or a dock."""

from __future__ import annotations

import argparse
import json
import sys
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
    g.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: private_key_path, public_key_path, public_key (PEM), key_id",
    )
    g.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    from attest.signing import generate_key_files, key_id, load_public_key  # cryptography: not for --help

    private, public = generate_key_files(args.out)
    kid = key_id(load_public_key(public))  # read back: what is printed is what was written
    if args.json:
        obj = {
            "private_key_path": str(private),
            "public_key_path": str(public),
            "public_key": public.read_text(encoding="ascii"),
            "key_id": kid,
        }
        sys.stdout.write(json.dumps(obj) + "\n")
        return 0
    print(f"private key: {private} (mode 0600; keep it secret)")
    print(f"public key:  {public}")
    print(f"key id:      {kid}")
    return 0
