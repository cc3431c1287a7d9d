"""APK v1 (JAR) signatures: the certificates in ``META-INF/*.RSA|DSA|EC``, and the ``.SF`` stripping header.

A v1 signer is a signature file ``META-INF/NAME.SF`` with its PKCS #7
SignedData block ``META-INF/NAME.RSA`` (or ``.DSA``, ``.EC``), as apksig pairs
them. The block's certificates are read with ``cryptography``'s PKCS #7 loader
(no hand-written ASN.1). That loader does not expose the SignerInfo, so the
signer's certificate cannot be told apart from other certificates in the
block: a block must hold **exactly one** certificate (apksigner, jarsigner
with a self-signed key and every Android build tool write one); more is
refused as ambiguous rather than guessed.

**Not verified**: the PKCS #7 signature over the ``.SF`` file, and the
``.SF`` digests of the manifest and entries, are not checked. A v1
certificate reported here is the one the APK *names*; see docs/android.md.

The ``.SF`` main section's ``X-Android-APK-Signed`` header lists the newer
schemes the APK was also signed with; the caller refuses an APK whose header
names a scheme whose block is missing (a stripped v2/v3 signature), as Android does.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from attest.apk.errors import ApkFormatError
from attest.apk.signers import Signer, certificate_sha256, load_certificate
from attest.apk.source import ApkLimits, Source
from attest.apk.zip import ZipEntry, ZipLayout, read_entry

__all__ = ["V1Signature", "read_v1"]

_BLOCK_EXTENSIONS = (b".RSA", b".DSA", b".EC")
_APK_SIGNED = b"x-android-apk-signed"


@dataclass(frozen=True)
class V1Signature:
    """The v1 signers and the newer schemes their ``.SF`` files say the APK also carries.

    Attributes:
        signers: one per signature file, in name order.
        also_signed: scheme numbers from ``X-Android-APK-Signed`` (e.g. ``{2, 3}``), over all ``.SF`` files.
    """

    signers: tuple[Signer, ...]
    also_signed: frozenset[int]


def _also_signed(sf: bytes) -> set[int]:
    """The scheme numbers in the main section's ``X-Android-APK-Signed`` (continuation lines joined)."""
    lines: list[bytes] = []
    for line in sf.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if not line:
            break  # end of the main section
        if line.startswith(b" ") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    found: set[int] = set()
    for line in lines:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == _APK_SIGNED:
            for raw in value.split(b","):
                token = raw.strip()
                if token.isdigit() and len(token) < 4:
                    found.add(int(token))
    return found


def _certificate(block: bytes, what: str) -> bytes:
    try:
        certs = pkcs7.load_der_pkcs7_certificates(block)
        der = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as e:
        raise ApkFormatError(f"{what}: not a PKCS #7 SignedData block: {e}") from e
    if len(certs) != 1:
        raise ApkFormatError(
            f"{what}: {len(certs)} certificates; which one signed cannot be told without the SignerInfo (exactly one"
            " is supported)"
        )
    return der[0]


def read_v1(source: Source, layout: ZipLayout, *, contents_end: int, limits: ApkLimits) -> V1Signature | None:
    """The v1 signers of an APK, or ``None`` when it has no v1 signature.

    Raises:
        ApkFormatError: an entry is malformed or over a limit, a signature file has two blocks,
            a block is not PKCS #7 or does not hold exactly one certificate, or more than
            :attr:`~attest.apk.source.ApkLimits.max_v1_signers` signers.
    """
    by_name: dict[bytes, ZipEntry] = {e.name: e for e in layout.entries if e.name.startswith(b"META-INF/")}
    pairs: list[tuple[ZipEntry, ZipEntry]] = []
    for name in sorted(by_name):
        if not name.endswith(b".SF"):
            continue
        stem = name[: -len(b".SF")]
        blocks = [by_name[stem + ext] for ext in _BLOCK_EXTENSIONS if stem + ext in by_name]
        if len(blocks) > 1:
            raise ApkFormatError(f"{source.name}: signature file {name!r} has {len(blocks)} signature blocks")
        if blocks:
            pairs.append((by_name[name], blocks[0]))
    if not pairs:
        return None
    if len(pairs) > limits.max_v1_signers:
        raise ApkFormatError(f"{source.name}: {len(pairs)} v1 signers (limit {limits.max_v1_signers})")
    signers: list[Signer] = []
    also: set[int] = set()
    for sf_entry, block_entry in pairs:
        what = f"{source.name}: v1 signature {block_entry.name.decode('utf-8', 'replace')!r}"
        sf = read_entry(source, sf_entry, contents_end=contents_end, limit=limits.max_signature_file)
        block = read_entry(source, block_entry, contents_end=contents_end, limit=limits.max_signature_file)
        der = _certificate(block, what)
        cert = load_certificate(der, limits, what)
        digest = certificate_sha256(der)
        signers.append(Signer(der, digest, cert.subject.rfc4514_string(), (digest,)))
        also |= _also_signed(sf)
    return V1Signature(tuple(signers), frozenset(also))
