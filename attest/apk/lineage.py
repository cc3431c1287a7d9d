"""The APK Signature Scheme v3 proof of rotation (``SigningCertificateLineage``), parsed and verified.

The v3/v3.1 signed data may carry attribute ``0x3ba06f8c``: a version
(``1``) and a sequence of length-prefixed nodes, oldest first. Each node
holds signed data (a certificate and the ID of the algorithm its predecessor
signed it with), flags, the algorithm ID this node's key uses to sign the
next node, and a signature by the *previous* node's key over this node's
signed data (empty for the first node). So every certificate in the lineage
was approved by the key before it, back to the original one.

:func:`parse_lineage` checks each of those signatures (as apksig does),
that the algorithm a node was signed with is the one its predecessor named,
that no certificate appears twice, and returns the certificates' SHA-256
digests, oldest first. The caller checks that the last node is the signer.
"""

from __future__ import annotations

from attest.apk.errors import ApkFormatError
from attest.apk.sigalgs import ALGORITHMS, verify_signature
from attest.apk.signers import certificate_sha256, load_certificate
from attest.apk.source import ApkLimits
from attest.apk.wire import Fields

__all__ = ["LINEAGE_ATTRIBUTE", "parse_lineage"]

#: The v3 signed-data attribute ID of the proof of rotation.
LINEAGE_ATTRIBUTE = 0x3BA06F8C
_VERSION = 1


def parse_lineage(value: bytes | memoryview, limits: ApkLimits, what: str) -> tuple[tuple[str, bytes], ...]:
    """Parse and verify a proof of rotation.

    Args:
        value: the attribute's value.
        limits: bounds on node count and certificate size.
        what: the signer, for error messages.

    Returns:
        ``(sha256, der)`` of every certificate, oldest first.

    Raises:
        ApkFormatError: malformed, over a limit, a certificate repeated, or a node's signature does not verify.
    """
    fields = Fields(value, f"{what} lineage")
    version = fields.u32("version")
    if version != _VERSION:
        raise ApkFormatError(f"{what}: lineage version {version} (expected {_VERSION})")
    out: list[tuple[str, bytes]] = []
    previous_key = None
    previous_algorithm = 0
    while fields.remaining:
        if len(out) == limits.max_records:
            raise ApkFormatError(f"{what}: lineage of more than {limits.max_records} certificates")
        node = fields.prefixed(f"node {len(out)}")
        signed_raw = bytes(node.prefixed(f"node {len(out)} signed data").rest())
        node.u32("flags")
        algorithm_id = node.u32("signature algorithm")
        signature = node.prefixed_bytes("signature")
        signed = Fields(signed_raw, f"{what} lineage node {len(out)} signed data")
        der = signed.prefixed_bytes("certificate")
        signed_with = signed.u32("signed-with algorithm")
        cert = load_certificate(der, limits, f"{what} lineage node {len(out)}")
        if previous_key is not None:
            if signed_with != previous_algorithm:
                raise ApkFormatError(
                    f"{what}: lineage node {len(out)} says it was signed with algorithm {signed_with:#x},"
                    f" its predecessor signs with {previous_algorithm:#x}"
                )
            algorithm = ALGORITHMS.get(previous_algorithm)
            if algorithm is None:
                raise ApkFormatError(f"{what}: lineage node {len(out)}: unknown algorithm {previous_algorithm:#x}")
            try:
                verify_signature(previous_key, algorithm, signature, signed_raw)
            except ApkFormatError as e:
                raise ApkFormatError(f"{what}: lineage node {len(out)} is not signed by its predecessor: {e}") from e
        digest = certificate_sha256(der)
        if any(digest == d for d, _ in out):
            raise ApkFormatError(f"{what}: lineage names certificate {digest} twice")
        out.append((digest, der))
        previous_key = cert.public_key()
        previous_algorithm = algorithm_id
    if not out:
        raise ApkFormatError(f"{what}: empty lineage")
    return tuple(out)
