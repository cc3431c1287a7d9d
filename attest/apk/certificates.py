"""An APK's signing certificates: every scheme parsed, checked against the others, and the one Android uses chosen.

**The certificate** of an APK is the certificate of the signer that Android
verifies on the device, which is the highest scheme present for its platform:

* v3.1 (``0x1b93ad61``) on Android 13+ (API 33) when one of its signers
  covers the platform, else
* v3 (``0xf05368c0``) on Android 9+ (API 28): the signer whose SDK range covers
  the platform (none covering it is refused, as Android refuses it), else
* v2 (``0x7109871a``) on Android 7+ (API 24): all its signers, else
* v1 (JAR): all its signers.

``sdk=None`` means the newest platform (the v3/v3.1 signer with the highest
range). A collector that knows ``ro.build.version.sdk`` passes it.

The schemes must tell one story: every signer of every scheme must be the
newest signer (highest scheme, highest SDK range) or in its verified proof of
rotation (its lineage). That admits an app whose key was rotated (v1/v2 and
old v3 signers are the original key; v3/v3.1 the new one, approved by the
old one) and refuses anything else, such as a v1 signature by another key
than the v2/v3 one: no honest signing tool writes that, and a dock that
reported either one would be reporting what an attacker chose.
Stripping protection is enforced as Android enforces it: a v1 ``.SF`` naming
scheme 2 or 3, a v2 signer's attribute naming v3, or a v3 signer announcing a
v3.1 block, with that block missing, is refused.

Each v2/v3/v3.1 signer's signature over its signed data is verified
(:mod:`attest.apk.signing_block`); the APK's contents are not re-digested,
so the whole-file SHA-256 the collector measures is what proves the
contents (docs/android.md, "Signing certificates").

Only the end of the file is read: the end record, the central directory,
the signing block and the v1 signature entries, each bounded by
:class:`~attest.apk.source.ApkLimits`.
"""

from __future__ import annotations

import os
import struct

from attest.apk.errors import ApkFormatError, ApkNotSignedError
from attest.apk.jar import read_v1
from attest.apk.signers import ApkSigning, SchemeSigners, Signer
from attest.apk.signing_block import (
    ROTATION_MIN_SDK_ATTRIBUTE,
    SCHEME_IDS,
    STRIPPING_PROTECTION_ATTRIBUTE,
    find_signing_block,
    parse_scheme,
)
from attest.apk.source import DEFAULT_LIMITS, ApkLimits, FileSource, SeekableReader, Source, TailSource, open_path
from attest.apk.zip import read_layout

__all__ = ["read_signing", "read_signing_from_tail", "signing_from_source"]

#: The first API level that verifies each scheme.
_FIRST_SDK = {"v3.1": 33, "v3": 28, "v2": 24, "v1": 1}
_ORDER = ("v1", "v2", "v3", "v3.1")


def _newest(signers: tuple[Signer, ...]) -> Signer:
    return max(signers, key=lambda s: (s.max_sdk or 0, s.min_sdk or 0))


def _effective(found: dict[str, tuple[Signer, ...]], sdk: int | None, name: str) -> tuple[str, tuple[Signer, ...]]:
    for scheme in ("v3.1", "v3"):
        signers = found.get(scheme)
        if not signers:
            continue
        if sdk is None:
            return scheme, (_newest(signers),)
        if sdk < _FIRST_SDK[scheme]:
            continue
        match = [s for s in signers if (s.min_sdk or 0) <= sdk <= (s.max_sdk or 0)]
        if match:
            return scheme, (match[0],)
        if scheme == "v3":
            raise ApkFormatError(f"{name}: no v3 signer covers API level {sdk} (Android refuses such an APK)")
    for scheme in ("v2", "v1"):
        if scheme in found and (sdk is None or sdk >= _FIRST_SDK[scheme]):
            return scheme, found[scheme]
    if not found:
        raise ApkNotSignedError(f"{name}: not signed (no v1, v2, v3 or v3.1 signature)")
    raise ApkFormatError(f"{name}: no signature scheme that API level {sdk} verifies ({', '.join(found)})")


def _check_stripping(found: dict[str, tuple[Signer, ...]], also_signed: frozenset[int], name: str) -> None:
    for number, scheme in ((2, "v2"), (3, "v3")):
        if number in also_signed and scheme not in found:
            raise ApkFormatError(f"{name}: the v1 signature says the APK is also signed with {scheme}; it is not")
    for signer in found.get("v2", ()):
        for attribute, value in signer.attributes:
            if attribute == STRIPPING_PROTECTION_ATTRIBUTE and len(value) >= 4:
                number = struct.unpack_from("<I", value)[0]
                if number == 3 and "v3" not in found:
                    raise ApkFormatError(f"{name}: the v2 signature says the APK is also signed with v3; it is not")
    for signer in found.get("v3", ()):
        if any(a == ROTATION_MIN_SDK_ATTRIBUTE for a, _ in signer.attributes) and "v3.1" not in found:
            raise ApkFormatError(f"{name}: the v3 signature announces a v3.1 block; there is none")


def _check_one_story(found: dict[str, tuple[Signer, ...]], name: str) -> None:
    highest = next(s for s in reversed(_ORDER) if s in found)
    newest = (_newest(found[highest]),) if highest in ("v3", "v3.1") else found[highest]
    allowed = {s.sha256 for s in newest} | {d for s in newest for d in s.lineage}
    for scheme, signers in found.items():
        for signer in signers:
            if signer.sha256 not in allowed:
                raise ApkFormatError(
                    f"{name}: the {scheme} signer {signer.sha256} is neither the {highest} signer nor in its"
                    " proof of rotation: the schemes disagree"
                )


def signing_from_source(source: Source, *, sdk: int | None = None, limits: ApkLimits = DEFAULT_LIMITS) -> ApkSigning:
    """Parse and check every signature scheme of the APK ``source`` holds.

    Args:
        source: where the bytes are read from.
        sdk: the device's API level (``ro.build.version.sdk``); ``None``: the newest platform.
        limits: the bounds.

    Raises:
        ApkFormatError: the APK is malformed, ambiguous, over a limit, a signature does not verify,
            the schemes disagree, or one was stripped. Two subclasses say more:
            :class:`ApkNotSignedError`, a well-formed ZIP with no signature of any scheme; and
            :class:`ApkTailTooShortError`, a :class:`TailSource` that does not reach far enough.
    """
    name = source.name
    if source.size > limits.max_apk_size:
        raise ApkFormatError(
            f"{name}: {source.size} bytes: larger than {limits.max_apk_size}, which an APK without ZIP64 cannot be"
        )
    layout = read_layout(source, limits)
    block = find_signing_block(source, layout.cd_offset, limits)
    contents_end = layout.cd_offset if block is None else block.offset
    found: dict[str, tuple[Signer, ...]] = {}
    v1 = read_v1(source, layout, contents_end=contents_end, limits=limits)
    if v1 is not None:
        found["v1"] = v1.signers
    if block is not None:
        for pair_id, scheme in SCHEME_IDS.items():
            if pair_id in block.pairs:
                found[scheme] = parse_scheme(block.pairs[pair_id], scheme, limits, name)
    _check_stripping(found, v1.also_signed if v1 is not None else frozenset(), name)
    scheme, signers = _effective(found, sdk, name)
    _check_one_story(found, name)
    schemes = tuple(SchemeSigners(s, found[s]) for s in _ORDER if s in found)
    return ApkSigning(scheme=scheme, signers=signers, schemes=schemes)


def read_signing(
    apk: str | os.PathLike[str] | SeekableReader,
    *,
    size: int | None = None,
    sdk: int | None = None,
    limits: ApkLimits = DEFAULT_LIMITS,
    name: str | None = None,
) -> ApkSigning:
    """The signing certificates of an APK file, reading only its end.

    Args:
        apk: a path (opened non-blocking, regular files only, no final symlink) or a seekable binary file.
        size: the file's size, when a file object's end should not be sought.
        sdk: the device's API level; ``None``: the newest platform.
        limits: the bounds.
        name: how errors name the file (default: the path, or ``"APK"``).

    Raises:
        ApkFormatError: see :func:`signing_from_source`; also a path that cannot be opened.
    """
    if isinstance(apk, (str, os.PathLike)):
        with open_path(apk) as f:
            return signing_from_source(FileSource(f, size=size, name=name or os.fsdecode(apk)), sdk=sdk, limits=limits)
    return signing_from_source(FileSource(apk, size=size, name=name or "APK"), sdk=sdk, limits=limits)


def read_signing_from_tail(
    tail: bytes,
    *,
    size: int,
    sdk: int | None = None,
    limits: ApkLimits = DEFAULT_LIMITS,
    name: str = "APK",
) -> ApkSigning:
    """The signing certificates from the last bytes of an APK of ``size`` bytes.

    For a collector that streams the APK (to hash it) and keeps only its end:
    :data:`~attest.apk.source.DEFAULT_TAIL` bytes hold what most APKs need.

    Raises:
        ApkTailTooShortError: the tail does not reach what must be read; its ``needed`` says how much would.
        ApkFormatError: see :func:`signing_from_source`.
        ValueError: the tail is longer than ``size`` (a caller's bug).
    """
    return signing_from_source(TailSource(tail, size=size, name=name), sdk=sdk, limits=limits)
