"""Targets for APKs from a device: the ZIP end, the APK Signing Block (v2/v3/v3.1, rotation), v1 JAR signatures."""

from __future__ import annotations

import io
import struct

from attest.apk import ApkFormatError, read_signing, read_signing_from_tail

from .apk_build import ROTATION_MIN_SDK_ATTR, SchemeSigner, make_key, pair, sign_apk, unsigned_apk, v1_sign
from .core import Target, attempt

__all__ = ["TARGETS"]

_ALLOWED = (ApkFormatError,)


def _signing(data: bytes) -> None:
    """The whole file as a seekable file (newest platform, then API 26), then its last 4 KiB as a collector's tail."""
    attempt(_ALLOWED, read_signing, io.BytesIO(data))
    attempt(_ALLOWED, read_signing, io.BytesIO(data), sdk=26)
    attempt(_ALLOWED, read_signing_from_tail, data[-4096:], size=len(data))


def _seeds() -> list[bytes]:
    old, new = make_key("fuzz-old"), make_key("fuzz-new")
    files = {"AndroidManifest.xml": b"\x03\x00\x08\x00manifest", "classes.dex": b"dex\n035\x00"}
    u = unsigned_apk(files)
    announce = ((ROTATION_MIN_SDK_ATTR, struct.pack("<I", 33)),)
    return [
        v1_sign(u, old, also_signed=None),
        sign_apk(v1_sign(u, old), v2=[SchemeSigner(old)], v3=[SchemeSigner(old, min_sdk=28)]),
        sign_apk(v1_sign(u, old), v2=[SchemeSigner(old)], v3=[SchemeSigner(new, min_sdk=28, lineage=(old, new))]),
        sign_apk(
            unsigned_apk(files, comment=b"comment"),
            v2=[SchemeSigner(old)],
            v3=[SchemeSigner(old, min_sdk=28, max_sdk=32, attributes=announce)],
            v31=[SchemeSigner(new, min_sdk=33, lineage=(old, new))],
            extra_pairs=[pair(0x42726577, b"\x00" * 64)],
        ),
    ]


TARGETS = [
    Target(
        "apk_signing",
        "attest.apk.read_signing (seekable file; sdk 26 and newest), read_signing_from_tail",
        _signing,
        _ALLOWED,
        _seeds,
        64 * 1024,
    ),
]
