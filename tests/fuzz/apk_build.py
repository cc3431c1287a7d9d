"""Real APKs made in code: ZIP, v1 JAR signature, APK Signing Block v2/v3/v3.1 with proof of rotation.

No apksigner needed: the fuzz seeds and the hostile-input tests start from
these. The content digests are real (chunked SHA-256 over the entries, the
central directory and the end record, AOSP "APK Signature Scheme v2"), the
signatures are real (``cryptography``), so ``apksigner verify`` accepts what
:func:`sign_apk` makes (``tests/test_apk_certs.py`` checks that). Every knob a
hostile test needs is a keyword: sign with another key than the certificate
names, extra or duplicate pairs, attributes, SDK ranges.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

__all__ = [
    "LINEAGE_ATTR",
    "ROTATION_MIN_SDK_ATTR",
    "STRIPPING_ATTR",
    "V2",
    "V3",
    "V31",
    "Key",
    "SchemeSigner",
    "insert_block",
    "lineage_value",
    "make_key",
    "pair",
    "sign_apk",
    "signer_record",
    "signing_block",
    "split_zip",
    "unsigned_apk",
    "v1_sign",
]

V2, V3, V31 = 0x7109871A, 0xF05368C0, 0x1B93AD61
LINEAGE_ATTR, ROTATION_MIN_SDK_ATTR, STRIPPING_ATTR = 0x3BA06F8C, 0x559F8B02, 0xBEEFF00D
MAX_SDK = 0x7FFFFFFF
_MAGIC = b"APK Sig Block 42"
_CHUNK = 1 << 20
_WHEN = (2024, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Key:
    """A signing key and its self-signed certificate."""

    name: str
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def spki(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def algorithm(self) -> int:
        """ECDSA_WITH_SHA256 or RSA_PKCS1_V1_5_WITH_SHA256."""
        return 0x0201 if isinstance(self.private, ec.EllipticCurvePrivateKey) else 0x0103

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return self.private.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def pkcs8(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@functools.cache
def make_key(name: str, kind: str = "ec") -> Key:
    """A key named ``name`` (EC P-256 derived from the name, or a fresh RSA-2048), cached per name."""
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ec":
        scalar = int.from_bytes(hashlib.sha256(f"apk-test-key/{name}".encode()).digest()) % (2**255)
        private = ec.derive_private_key(scalar or 1, ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "drone-attest tests"),
        ]
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8]))
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=36500))
        .sign(private, hashes.SHA256())
    )
    return Key(name, private, cert)


def unsigned_apk(files: dict[str, bytes] | None = None, *, comment: bytes = b"") -> bytes:
    """A ZIP with the given entries (default: a manifest placeholder and a dex), fixed timestamps."""
    if files is None:
        files = {"AndroidManifest.xml": b"\x03\x00\x08\x00 placeholder manifest", "classes.dex": b"dex\n035\x00" * 64}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, _WHEN), data, compress_type=zipfile.ZIP_DEFLATED)
        z.comment = comment
    return buf.getvalue()


def split_zip(apk: bytes) -> tuple[bytes, bytes, bytearray]:
    """(entries, central directory, end record) of a well-formed ZIP with no comment tricks and no signing block."""
    eocd_at = apk.rindex(b"PK\x05\x06")
    eocd = bytearray(apk[eocd_at:])
    cd_size, cd_offset = struct.unpack_from("<II", eocd, 12)
    return apk[:cd_offset], apk[cd_offset : cd_offset + cd_size], eocd


def _b64sha256(data: bytes) -> bytes:
    return base64.b64encode(hashlib.sha256(data).digest())


def v1_sign(
    apk: bytes,
    key: Key,
    *,
    name: str = "CERT",
    also_signed: str | None = "2, 3",
    extra_certificates: Sequence[Key] = (),
) -> bytes:
    """Add a v1 (JAR) signature by ``key``: MANIFEST.MF, NAME.SF and a PKCS #7 NAME.EC/.RSA."""
    src = zipfile.ZipFile(io.BytesIO(apk))
    files = {i.filename: src.read(i) for i in src.infolist() if not i.filename.startswith("META-INF/")}
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: drone-attest tests\r\n\r\n"
    sections = []
    for entry, data in files.items():
        section = b"Name: " + entry.encode() + b"\r\nSHA-256-Digest: " + _b64sha256(data) + b"\r\n\r\n"
        sections.append((entry, section))
        manifest += section
    sf = (
        b"Signature-Version: 1.0\r\nCreated-By: drone-attest tests\r\nSHA-256-Digest-Manifest: "
        + _b64sha256(manifest)
        + b"\r\n"
    )
    if also_signed is not None:
        sf += b"X-Android-APK-Signed: " + also_signed.encode() + b"\r\n"
    sf += b"\r\n"
    for entry, section in sections:
        sf += b"Name: " + entry.encode() + b"\r\nSHA-256-Digest: " + _b64sha256(section) + b"\r\n\r\n"
    builder = pkcs7.PKCS7SignatureBuilder().set_data(sf).add_signer(key.certificate, key.private, hashes.SHA256())
    for extra in extra_certificates:
        builder = builder.add_certificate(extra.certificate)
    block = builder.sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCapabilities]
    )
    ext = "EC" if isinstance(key.private, ec.EllipticCurvePrivateKey) else "RSA"
    files |= {"META-INF/MANIFEST.MF": manifest, f"META-INF/{name}.SF": sf, f"META-INF/{name}.{ext}": block}
    return unsigned_apk(files, comment=src.comment)


def _prefixed(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def _sequence(items: Sequence[bytes]) -> bytes:
    return _prefixed(b"".join(_prefixed(i) for i in items))


def _chunked_sha256(sections: Sequence[bytes]) -> bytes:
    chunks = [s[i : i + _CHUNK] for s in sections for i in range(0, len(s), _CHUNK)]
    digests = b"".join(hashlib.sha256(b"\xa5" + struct.pack("<I", len(c)) + c).digest() for c in chunks)
    return hashlib.sha256(b"\x5a" + struct.pack("<I", len(chunks)) + digests).digest()


def lineage_value(keys: Sequence[Key], *, flags: int = 0x1F, sign_with: Sequence[Key] | None = None) -> bytes:
    """A v3 proof of rotation through ``keys`` (oldest first); ``sign_with[i]`` forges node ``i``'s signer."""
    nodes = []
    previous: Key | None = None
    for i, key in enumerate(keys):
        signed = _prefixed(key.der) + struct.pack("<I", previous.algorithm if previous else 0)
        signer = sign_with[i] if sign_with is not None else previous
        signature = signer.sign(signed) if signer is not None and previous is not None else b""
        nodes.append(_prefixed(signed) + struct.pack("<II", flags, key.algorithm) + _prefixed(signature))
        previous = key
    return struct.pack("<I", 1) + b"".join(_prefixed(n) for n in nodes)


@dataclass(frozen=True)
class SchemeSigner:
    """One signer of a v2/v3/v3.1 block.

    ``sign_with`` and ``public_key`` forge: the signature is made by another key,
    or the record carries another public key, than the certificate's.
    """

    key: Key
    min_sdk: int = 24
    max_sdk: int = MAX_SDK
    lineage: tuple[Key, ...] = ()
    attributes: tuple[tuple[int, bytes], ...] = ()
    sign_with: Key | None = None
    public_key: Key | None = None
    certificates: tuple[bytes, ...] | None = None
    outer_sdk: tuple[int, int] | None = None
    extra: dict[str, bytes] = field(default_factory=dict)


def signer_record(scheme: int, signer: SchemeSigner, content_digest: bytes) -> bytes:
    """One signer record of a v2 (``V2``) or v3/v3.1 block, signed."""
    alg = signer.key.algorithm
    certs = signer.certificates if signer.certificates is not None else (signer.key.der,)
    attributes = list(signer.attributes)
    if signer.lineage:
        attributes.append((LINEAGE_ATTR, lineage_value(signer.lineage)))
    signed = _sequence([struct.pack("<I", alg) + _prefixed(content_digest)]) + _sequence(list(certs))
    sdk = struct.pack("<II", signer.min_sdk, signer.max_sdk)
    if scheme != V2:
        signed += sdk
    signed += _sequence([struct.pack("<I", a) + v for a, v in attributes])
    signature = (signer.sign_with or signer.key).sign(signed)
    record = _prefixed(signed)
    if scheme != V2:
        record += struct.pack("<II", *signer.outer_sdk) if signer.outer_sdk else sdk
    record += _sequence([struct.pack("<I", alg) + _prefixed(signature)])
    record += _prefixed((signer.public_key or signer.key).spki)
    return record


def pair(pair_id: int, value: bytes) -> bytes:
    """One ID-value pair of the signing block."""
    return struct.pack("<QI", len(value) + 4, pair_id) + value


def signing_block(pairs: Sequence[bytes]) -> bytes:
    """An APK Signing Block around already encoded pairs."""
    body = b"".join(pairs)
    size = len(body) + 8 + len(_MAGIC)
    return struct.pack("<Q", size) + body + struct.pack("<Q", size) + _MAGIC


def insert_block(apk: bytes, block: bytes) -> bytes:
    """``apk`` with ``block`` between its entries and its central directory (the end record's offset moved)."""
    contents, cd, eocd = split_zip(apk)
    struct.pack_into("<I", eocd, 16, len(contents) + len(block))
    return contents + block + cd + bytes(eocd)


def sign_apk(
    apk: bytes,
    *,
    v2: Sequence[SchemeSigner] = (),
    v3: Sequence[SchemeSigner] = (),
    v31: Sequence[SchemeSigner] = (),
    extra_pairs: Sequence[bytes] = (),
) -> bytes:
    """``apk`` (a ZIP, maybe v1-signed) with an APK Signing Block of real v2/v3/v3.1 signatures."""
    contents, cd, eocd = split_zip(apk)
    struct.pack_into("<I", eocd, 16, len(contents))  # the digest covers the end record as if no block were there
    digest = _chunked_sha256([contents, cd, bytes(eocd)])
    pairs = [
        pair(scheme, _sequence([signer_record(scheme, s, digest) for s in signers]))
        for scheme, signers in ((V2, v2), (V3, v3), (V31, v31))
        if signers
    ]
    return insert_block(apk, signing_block([*pairs, *extra_pairs]))
