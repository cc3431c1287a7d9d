"""The signature algorithms of APK Signature Schemes v2/v3 and the v3 proof of rotation, checked by ``cryptography``.

IDs from the AOSP ``SignatureAlgorithm`` list (apksig). The verity variants
(``0x042x``) sign the signed data with SHA-256 like the plain ones; they differ
only in how the APK's content digest is computed, which this package does not
recompute. An unknown ID is skipped by the caller, as Android skips it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from attest.apk.errors import ApkFormatError

__all__ = ["ALGORITHMS", "SignatureAlgorithm", "verify_signature"]


@dataclass(frozen=True)
class SignatureAlgorithm:
    """One signature algorithm ID.

    Attributes:
        id: the ``uint32`` ID in the signing block.
        name: its AOSP name.
        key: ``"RSA"``, ``"EC"`` or ``"DSA"``.
        pss_salt: the RSASSA-PSS salt length, ``None`` for PKCS #1 v1.5 (RSA only).
        sha512: SHA-512 (else SHA-256).
    """

    id: int
    name: str
    key: str
    pss_salt: int | None = None
    sha512: bool = False


ALGORITHMS: dict[int, SignatureAlgorithm] = {
    a.id: a
    for a in (
        SignatureAlgorithm(0x0101, "RSA_PSS_WITH_SHA256", "RSA", pss_salt=32),
        SignatureAlgorithm(0x0102, "RSA_PSS_WITH_SHA512", "RSA", pss_salt=64, sha512=True),
        SignatureAlgorithm(0x0103, "RSA_PKCS1_V1_5_WITH_SHA256", "RSA"),
        SignatureAlgorithm(0x0104, "RSA_PKCS1_V1_5_WITH_SHA512", "RSA", sha512=True),
        SignatureAlgorithm(0x0201, "ECDSA_WITH_SHA256", "EC"),
        SignatureAlgorithm(0x0202, "ECDSA_WITH_SHA512", "EC", sha512=True),
        SignatureAlgorithm(0x0301, "DSA_WITH_SHA256", "DSA"),
        SignatureAlgorithm(0x0421, "VERITY_RSA_PKCS1_V1_5_WITH_SHA256", "RSA"),
        SignatureAlgorithm(0x0423, "VERITY_ECDSA_WITH_SHA256", "EC"),
        SignatureAlgorithm(0x0425, "VERITY_DSA_WITH_SHA256", "DSA"),
    )
}


def verify_signature(key: PublicKeyTypes, algorithm: SignatureAlgorithm, signature: bytes, data: bytes) -> None:
    """Check that ``signature`` by ``key`` over ``data`` verifies under ``algorithm``.

    Raises:
        ApkFormatError: the key's type does not suit the algorithm, or the signature does not verify.
    """
    digest: hashes.HashAlgorithm = hashes.SHA512() if algorithm.sha512 else hashes.SHA256()
    try:
        if algorithm.key == "RSA" and isinstance(key, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if algorithm.pss_salt is None
                else padding.PSS(mgf=padding.MGF1(digest), salt_length=algorithm.pss_salt)
            )
            key.verify(signature, data, pad, digest)
        elif algorithm.key == "EC" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest))
        elif algorithm.key == "DSA" and isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, digest)
        else:
            raise ApkFormatError(f"{algorithm.name} signature with a {type(key).__name__.lstrip('_')} key")
    except InvalidSignature as e:
        raise ApkFormatError(f"{algorithm.name} signature does not verify") from e
    except (UnsupportedAlgorithm, ValueError, TypeError) as e:
        raise ApkFormatError(f"{algorithm.name} signature cannot be checked: {e}") from e
