"""What one APK's signatures say: signers, their certificates' SHA-256 digests, per scheme; and certificate loading.

Data only, plus :func:`load_certificate` (DER X.509 through ``cryptography``,
bounded, every failure an :class:`~attest.apk.errors.ApkFormatError`).
Digests are SHA-256 over the certificate's bytes exactly as the APK holds
them: what ``apksigner verify --print-certs`` prints as "certificate SHA-256
digest" and what Android compares when it checks that an update is signed
by the same certificate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from attest.apk.errors import ApkFormatError
from attest.apk.source import ApkLimits

__all__ = ["ApkSigning", "SchemeSigners", "Signer", "load_certificate"]


def load_certificate(der: bytes, limits: ApkLimits, what: str) -> x509.Certificate:
    """Parse one DER X.509 certificate.

    Raises:
        ApkFormatError: over :attr:`~ApkLimits.max_certificate_size`, or not a certificate ``cryptography`` accepts.
    """
    if not der:
        raise ApkFormatError(f"{what}: empty certificate")
    if len(der) > limits.max_certificate_size:
        raise ApkFormatError(f"{what}: certificate of {len(der)} bytes (limit {limits.max_certificate_size})")
    try:
        cert = x509.load_der_x509_certificate(der)
        cert.public_key()  # an unknown key type fails here, not later
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as e:
        raise ApkFormatError(f"{what}: not a valid X.509 certificate: {e}") from e
    return cert


def certificate_sha256(der: bytes) -> str:
    """The lowercase hex SHA-256 of a certificate's DER bytes."""
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Signer:
    """One signer of one scheme.

    Attributes:
        certificate: the signer's certificate, DER, as the APK holds it.
        sha256: its SHA-256 (lowercase hex): **the** digest Android and apksigner use for this signer.
        subject: its subject DN (RFC 4514), for people; never compared.
        chain: SHA-256 of every certificate in the signer record, the signer's own first.
        min_sdk: v3/v3.1: the lowest Android API level this signer is for (else ``None``).
        max_sdk: v3/v3.1: the highest (else ``None``).
        lineage: v3/v3.1 proof of rotation, verified: the SHA-256 of each certificate
            from the oldest to this signer's own (``()`` without rotation).
        attributes: v2/v3 additional attributes of the signed data, ``(ID, value)`` (stripping protection).
        verified: the signer's signature over its signed data was verified (v2/v3); ``False``
            for v1, whose PKCS #7 signature is not checked (see docs/android.md).
    """

    certificate: bytes = field(repr=False)
    sha256: str
    subject: str
    chain: tuple[str, ...]
    min_sdk: int | None = None
    max_sdk: int | None = None
    lineage: tuple[str, ...] = ()
    attributes: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    verified: bool = False


@dataclass(frozen=True)
class SchemeSigners:
    """The signers one signature scheme names.

    Attributes:
        scheme: ``"v1"`` (JAR), ``"v2"``, ``"v3"`` or ``"v3.1"``.
        signers: in the order the APK lists them.
    """

    scheme: str
    signers: tuple[Signer, ...]

    @property
    def digests(self) -> tuple[str, ...]:
        """The signers' certificate SHA-256 digests, sorted."""
        return tuple(sorted(s.sha256 for s in self.signers))


@dataclass(frozen=True)
class ApkSigning:
    """An APK's signing certificates, as the dock parsed them.

    Attributes:
        scheme: the scheme whose signers Android uses (the highest present for the platform).
        signers: that scheme's signers for the platform: one for v3/v3.1, one or more for v1/v2.
        schemes: every scheme present, lowest first (all of them agree with the
            signers or their lineage, else parsing failed).
    """

    scheme: str
    signers: tuple[Signer, ...]
    schemes: tuple[SchemeSigners, ...]

    @property
    def digests(self) -> tuple[str, ...]:
        """The certificate SHA-256 digests of :attr:`signers`, sorted: what a baseline pins."""
        return tuple(sorted(s.sha256 for s in self.signers))

    @property
    def lineage(self) -> tuple[str, ...]:
        """The verified rotation history (oldest first, ending with the current certificate), else ``()``."""
        return self.signers[0].lineage if len(self.signers) == 1 else ()

    @property
    def rotated(self) -> bool:
        """The current certificate replaced an older one by v3 key rotation."""
        return len(self.lineage) > 1

    def by_scheme(self, scheme: str) -> SchemeSigners | None:
        """The signers of ``scheme`` (``"v1"``, ``"v2"``, ``"v3"``, ``"v3.1"``), if present."""
        return next((s for s in self.schemes if s.scheme == scheme), None)
