"""The APK Signing Block: found before the central directory, its ID-value pairs, v2/v3/v3.1 signers.

Layout (AOSP "APK Signature Scheme v2"): immediately before the ZIP central
directory, ``uint64`` size (excluding this field), ID-value pairs (``uint64``
length, ``uint32`` ID, value), the same ``uint64`` size again and the magic
``"APK Sig Block 42"``. Both sizes must agree and the block must fit before the
central directory and within :attr:`~attest.apk.source.ApkLimits.max_signing_block`
*before* it is read. A scheme's ID appearing twice is ambiguous and refused.

Each signer record of the v2 (``0x7109871a``), v3 (``0xf05368c0``) and v3.1
(``0x1b93ad61``) blocks is parsed and **its signature over its signed data is
verified** with its public key, which must be its first certificate's key:

* the digest and signature records must name the same algorithms in the same order;
* every signature with an algorithm this package knows must verify (at least one must be known);
* v3/v3.1: the SDK range inside the signed data must equal the one outside it;
  a proof of rotation must verify and end with the signer's certificate;
  two signers' SDK ranges must not overlap.

What that proves: whoever holds the private key of the certificate signed
this signed data, which holds the APK contents' digests. It does **not** prove
that the contents in this file are the ones those digests describe (that
needs the whole file, chunked): a genuine signing block pasted onto other
contents passes here. The collector's whole-file SHA-256 catches that.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from attest.apk.errors import ApkFormatError
from attest.apk.lineage import LINEAGE_ATTRIBUTE, parse_lineage
from attest.apk.sigalgs import ALGORITHMS, verify_signature
from attest.apk.signers import Signer, certificate_sha256, load_certificate
from attest.apk.source import ApkLimits, Source
from attest.apk.wire import Fields

__all__ = [
    "MAGIC",
    "ROTATION_MIN_SDK_ATTRIBUTE",
    "SCHEME_IDS",
    "STRIPPING_PROTECTION_ATTRIBUTE",
    "V2_ID",
    "V3_ID",
    "V31_ID",
    "SigningBlock",
    "find_signing_block",
    "parse_scheme",
]

MAGIC = b"APK Sig Block 42"
V2_ID = 0x7109871A
V3_ID = 0xF05368C0
V31_ID = 0x1B93AD61
#: Scheme name of each block ID this package parses.
SCHEME_IDS = {V2_ID: "v2", V3_ID: "v3", V31_ID: "v3.1"}
#: v2 signed-data attribute: the APK is also signed with the scheme its ``uint32`` value names (3).
STRIPPING_PROTECTION_ATTRIBUTE = 0xBEEFF00D
#: v3 signed-data attribute: a v3.1 block holds the rotated signer for newer platforms.
ROTATION_MIN_SDK_ATTRIBUTE = 0x559F8B02

_FOOTER = 24  # uint64 size + 16-byte magic
_HEADER = 8


@dataclass(frozen=True)
class SigningBlock:
    """A located APK Signing Block.

    Attributes:
        offset: where it starts (where the signed ZIP entry contents end).
        pairs: the value of each ID (IDs are unique in the block).
    """

    offset: int
    pairs: dict[int, bytes]


def find_signing_block(source: Source, cd_offset: int, limits: ApkLimits) -> SigningBlock | None:
    """The signing block ending at ``cd_offset``, or ``None`` if there is none (a v1-only or unsigned APK).

    Raises:
        ApkFormatError: the footer's magic is there but the block is malformed, ambiguous or over the limit.
    """
    name = source.name
    if cd_offset < _HEADER + _FOOTER:
        return None
    footer = source.read_at(cd_offset - _FOOTER, _FOOTER, "the APK Signing Block footer")
    if footer[8:] != MAGIC:
        return None
    size = struct.unpack("<Q", footer[:8])[0]
    total = size + _HEADER
    if size < _FOOTER or total > cd_offset:
        raise ApkFormatError(f"{name}: APK Signing Block size {size} does not fit before the central directory")
    if total > limits.max_signing_block:
        raise ApkFormatError(f"{name}: APK Signing Block of {total} bytes (limit {limits.max_signing_block})")
    offset = cd_offset - total
    block = source.read_at(offset, total, "the APK Signing Block")
    if struct.unpack("<Q", block[:8])[0] != size:
        raise ApkFormatError(f"{name}: APK Signing Block header and footer sizes differ")
    pairs = Fields(memoryview(block)[_HEADER : total - _FOOTER], f"{name}: APK Signing Block")
    values: dict[int, bytes] = {}
    count = 0
    while pairs.remaining:
        count += 1
        if count > limits.max_pairs:
            raise ApkFormatError(f"{name}: more than {limits.max_pairs} ID-value pairs in the APK Signing Block")
        length = pairs.u64("pair length")
        if length < 4 or length > pairs.remaining:
            raise ApkFormatError(f"{name}: APK Signing Block pair of {length} bytes ({pairs.remaining} left)")
        pair = Fields(pairs.raw(length, "pair"), "pair")
        pair_id = pair.u32("ID")
        if pair_id in SCHEME_IDS and pair_id in values:
            raise ApkFormatError(f"{name}: two {SCHEME_IDS[pair_id]} blocks in the APK Signing Block: ambiguous")
        values.setdefault(pair_id, bytes(pair.rest()))
    return SigningBlock(offset, values)


def _public_key_der(key: PublicKeyTypes, what: str) -> bytes:
    try:
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ApkFormatError(f"{what}: public key cannot be encoded: {e}") from e


def _signer(record: Fields, scheme: str, limits: ApkLimits, what: str) -> Signer:
    signed_raw = bytes(record.prefixed("signed data").rest())
    signed = Fields(signed_raw, f"{what} signed data")
    digests = [
        (d.u32("algorithm"), d.prefixed_bytes("digest")) for d in signed.sequence("digests", limit=limits.max_records)
    ]
    certificates = [bytes(c.rest()) for c in signed.sequence("certificates", limit=limits.max_certificates)]
    sdk: tuple[int, int] | None = None
    if scheme != "v2":
        sdk = (signed.u32("min SDK"), signed.u32("max SDK"))
    attributes = [(a.u32("ID"), bytes(a.rest())) for a in signed.sequence("attributes", limit=limits.max_records)]
    if sdk is not None:
        outer = (record.u32("min SDK"), record.u32("max SDK"))
        if outer != sdk:
            raise ApkFormatError(f"{what}: SDK range {outer} outside the signed data, {sdk} inside")
        if sdk[0] > sdk[1]:
            raise ApkFormatError(f"{what}: SDK range {sdk[0]}..{sdk[1]} is empty")
    signatures = [
        (s.u32("algorithm"), s.prefixed_bytes("signature"))
        for s in record.sequence("signatures", limit=limits.max_records)
    ]
    public_key = record.prefixed_bytes("public key")

    if not certificates:
        raise ApkFormatError(f"{what}: no certificates")
    if not signatures:
        raise ApkFormatError(f"{what}: no signatures")
    if [a for a, _ in digests] != [a for a, _ in signatures]:
        raise ApkFormatError(f"{what}: the digest and signature records name different algorithms")
    certs = [load_certificate(der, limits, f"{what} certificate {i}") for i, der in enumerate(certificates)]
    try:
        key = serialization.load_der_public_key(public_key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ApkFormatError(f"{what}: bad public key: {e}") from e
    if _public_key_der(key, what) != _public_key_der(certs[0].public_key(), what):
        raise ApkFormatError(f"{what}: the public key is not the first certificate's")
    known = [(ALGORITHMS[a], sig) for a, sig in signatures if a in ALGORITHMS]
    if not known:
        raise ApkFormatError(f"{what}: no signature with a known algorithm ({[hex(a) for a, _ in signatures]})")
    for algorithm, sig in known:
        try:
            verify_signature(key, algorithm, sig, signed_raw)
        except ApkFormatError as e:
            raise ApkFormatError(f"{what}: {e}") from e

    digest = certificate_sha256(certificates[0])
    lineage: tuple[str, ...] = ()
    if sdk is not None:
        values = [v for a, v in attributes if a == LINEAGE_ATTRIBUTE]
        if len(values) > 1:
            raise ApkFormatError(f"{what}: two proofs of rotation")
        if values:
            nodes = parse_lineage(values[0], limits, what)
            if nodes[-1][1] != certificates[0]:
                raise ApkFormatError(f"{what}: the proof of rotation does not end with the signer's certificate")
            lineage = tuple(d for d, _ in nodes)
    return Signer(
        certificate=certificates[0],
        sha256=digest,
        subject=certs[0].subject.rfc4514_string(),
        chain=tuple(certificate_sha256(c) for c in certificates),
        min_sdk=None if sdk is None else sdk[0],
        max_sdk=None if sdk is None else sdk[1],
        lineage=lineage,
        attributes=tuple(attributes),
        verified=True,
    )


def parse_scheme(value: bytes, scheme: str, limits: ApkLimits, name: str) -> tuple[Signer, ...]:
    """Parse and verify every signer of one v2/v3/v3.1 block.

    Args:
        value: the block's value in the APK Signing Block.
        scheme: ``"v2"``, ``"v3"`` or ``"v3.1"``.
        limits: the bounds.
        name: the APK, for error messages.

    Raises:
        ApkFormatError: malformed, over a limit, no signer, a signature that does not verify,
            or (v3/v3.1) overlapping SDK ranges.
    """
    what = f"{name}: {scheme} block"
    fields = Fields(value, what)
    records = fields.sequence("signers", limit=limits.max_signers)
    if not records:
        raise ApkFormatError(f"{what}: no signers")
    signers = tuple(_signer(r, scheme, limits, f"{what} signer {i}") for i, r in enumerate(records))
    if scheme != "v2":
        ranges = sorted((s.min_sdk or 0, s.max_sdk or 0) for s in signers)
        for (_, hi), (lo, _) in itertools.pairwise(ranges):
            if lo <= hi:
                raise ApkFormatError(f"{what}: signers' SDK ranges overlap")
    return signers
