"""APK signing certificates, parsed on the dock: v2/v3/v3.1 signing block, v1 JAR signatures.

A pure parser (like :mod:`attest.firmware`): bytes in, :class:`ApkSigning`
out, no device, transport or collector. It reads only the end of an APK (a
path, a seekable file, or the tail a collector kept while streaming it), every
read bounded by :class:`ApkLimits`, and raises only :class:`ApkFormatError`
(a :class:`~attest.errors.CollectionError`, exit 3) for any bad input.

``zip`` reads the ZIP end record, central directory and entries strictly;
``signing_block`` finds the APK Signing Block and parses and verifies the
v2/v3/v3.1 signers; ``lineage`` verifies a v3 proof of rotation; ``jar``
reads v1 certificates; ``certificates`` checks the schemes against each other
and chooses the signer Android uses. What a digest proves: docs/android.md,
"Signing certificates".
"""

from __future__ import annotations

from attest.apk.certificates import read_signing, read_signing_from_tail, signing_from_source
from attest.apk.errors import ApkFormatError, ApkNotSignedError, ApkTailTooShortError
from attest.apk.signers import ApkSigning, SchemeSigners, Signer
from attest.apk.signing_block import MAGIC, V2_ID, V3_ID, V31_ID
from attest.apk.source import (
    DEFAULT_LIMITS,
    DEFAULT_TAIL,
    ApkLimits,
    FileSource,
    SeekableReader,
    Source,
    TailSource,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TAIL",
    "MAGIC",
    "V2_ID",
    "V3_ID",
    "V31_ID",
    "ApkFormatError",
    "ApkLimits",
    "ApkNotSignedError",
    "ApkSigning",
    "ApkTailTooShortError",
    "FileSource",
    "SchemeSigners",
    "SeekableReader",
    "Signer",
    "Source",
    "TailSource",
    "read_signing",
    "read_signing_from_tail",
    "signing_from_source",
]
