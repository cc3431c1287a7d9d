"""APKs signed by Debian's ``apksigner``, and what ``apksigner`` says about an APK: the cross-check of attest.apk.

Keys are made with ``cryptography`` (RSA-2048 and EC P-256) and written as
PKCS #8 DER plus a PEM certificate for ``apksigner sign --key/--cert``. The
APK is a minimal ZIP (``fuzz.apk_build.unsigned_apk``): ``apksigner`` reads
the manifest only to find the minimum SDK, so every call passes
``--min-sdk-version`` and the manifest need not be binary XML.

Tests that need ``apksigner`` use :data:`needs_apksigner`, which skips only
when it is absent. The pure-Python builder (``fuzz.apk_build``) needs nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from fuzz.apk_build import Key, SchemeSigner, make_key, sign_apk, unsigned_apk, v1_sign

__all__ = [
    "APKSIGNER",
    "ApksignerReport",
    "apksigner_lineage",
    "apksigner_rotate",
    "apksigner_sign",
    "apksigner_verify",
    "needs_apksigner",
    "write_key",
    "write_signed_pair",
]

APKSIGNER = shutil.which("apksigner")
needs_apksigner = pytest.mark.skipif(APKSIGNER is None, reason="Debian apksigner not installed (make system-deps)")
#: apksigner is a JVM: generous, but bounded.
_TIMEOUT = 180
_SCHEMES = ("v1", "v2", "v3")


def _run(args: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
    assert APKSIGNER is not None
    return subprocess.run([APKSIGNER, *map(str, args)], capture_output=True, text=True, timeout=_TIMEOUT, check=False)


def write_key(key: Key, directory: Path) -> tuple[Path, Path]:
    """``NAME.pk8`` (PKCS #8 DER) and ``NAME.pem`` (the certificate) for ``--key``/``--cert``."""
    pk8, pem = directory / f"{key.name}.pk8", directory / f"{key.name}.pem"
    pk8.write_bytes(key.pkcs8())
    pem.write_bytes(key.pem())
    return pk8, pem


def apksigner_sign(
    unsigned: Path,
    out: Path,
    keys: Sequence[Key],
    *,
    schemes: Sequence[str] = _SCHEMES,
    min_sdk: int = 24,
    lineage: Path | None = None,
) -> Path:
    """Sign ``unsigned`` into ``out`` with ``keys`` (several only with a lineage), only the given schemes."""
    args: list[str | Path] = ["sign", "--in", unsigned, "--out", out, "--min-sdk-version", str(min_sdk)]
    for scheme in _SCHEMES:
        args += [f"--{scheme}-signing-enabled", "true" if scheme in schemes else "false"]
    args += ["--v4-signing-enabled", "false"]
    if lineage is not None:
        args += ["--lineage", lineage]
    for i, key in enumerate(keys):
        pk8, pem = write_key(key, out.parent)
        args += (["--next-signer"] if i else []) + ["--key", pk8, "--cert", pem]
    done = _run(args)
    assert done.returncode == 0, f"apksigner sign failed: {done.stderr}"
    return out


def write_signed_pair(
    directory: Path, package: str, *, approved: Key | None = None, other: Key | None = None
) -> tuple[str, str]:
    """``DIR/PACKAGE.apk`` signed (v1-v3) by ``approved``; ``DIR/PACKAGE.swapped.apk``, the same entries by ``other``.

    What ``attest sim android --apk-dir DIR --swap-cert PACKAGE`` serves. Pure Python (no apksigner).

    Returns:
        The two certificates' SHA-256 digests (approved, other).
    """
    approved = approved or make_key("fleet-approved")
    other = other or make_key("re-signer")
    entries = unsigned_apk(
        {"AndroidManifest.xml": f"placeholder manifest of {package}".encode(), "classes.dex": b"dex\n035\x00" * 64}
    )
    for key, name in ((approved, f"{package}.apk"), (other, f"{package}.swapped.apk")):
        signed = sign_apk(v1_sign(entries, key), v2=[SchemeSigner(key)], v3=[SchemeSigner(key, min_sdk=28)])
        (directory / name).write_bytes(signed)
    return approved.sha256, other.sha256


def apksigner_rotate(old: Key, new: Key, out: Path) -> Path:
    """A SigningCertificateLineage file: ``old`` approves ``new``."""
    old_pk8, old_pem = write_key(old, out.parent)
    new_pk8, new_pem = write_key(new, out.parent)
    done = _run(
        ["rotate", "--out", out, "--old-signer", "--key", old_pk8, "--cert", old_pem,
         "--new-signer", "--key", new_pk8, "--cert", new_pem]
    )  # fmt: skip
    assert done.returncode == 0, f"apksigner rotate failed: {done.stderr}"
    return out


@dataclass(frozen=True)
class ApksignerReport:
    """What ``apksigner verify --print-certs -v`` printed."""

    verifies: bool
    schemes: frozenset[str]
    signers: tuple[str, ...]
    output: str


def apksigner_verify(apk: Path, *, min_sdk: int = 24, max_sdk: int | None = None) -> ApksignerReport:
    """Run ``apksigner verify --print-certs -v``: the "Signer #N certificate SHA-256 digest" lines, in order.

    ``min_sdk``..``max_sdk`` are the platforms apksigner verifies for, as Android on each of them would.
    """
    sdk = ["--min-sdk-version", str(min_sdk)] + ([] if max_sdk is None else ["--max-sdk-version", str(max_sdk)])
    done = _run(["verify", "--print-certs", "-v", *sdk, apk])
    out = done.stdout
    schemes = frozenset(m.group(1) for m in re.finditer(r"^Verified using (v\d) scheme .*: true$", out, re.MULTILINE))
    signers = tuple(
        m.group(1) for m in re.finditer(r"^Signer #\d+ certificate SHA-256 digest: ([0-9a-f]{64})$", out, re.MULTILINE)
    )
    return ApksignerReport(done.returncode == 0 and out.startswith("Verifies"), schemes, signers, out + done.stderr)


def apksigner_lineage(apk: Path) -> tuple[str, ...]:
    """``apksigner lineage --print-certs``: the lineage's certificate SHA-256 digests, oldest first."""
    done = _run(["lineage", "--in", apk, "--print-certs"])
    assert done.returncode == 0, f"apksigner lineage failed: {done.stderr}"
    return tuple(
        m.group(1)
        for m in re.finditer(
            r"^Signer #\d+ in lineage certificate SHA-256 digest: ([0-9a-f]{64})$", done.stdout, re.MULTILINE
        )
    )
