"""A package's signing certificate, parsed on the dock from APK bytes it read: ``cert/<name>``.

The parser is :mod:`attest.apk` (v2/v3/v3.1 signing block, v1 JAR); this
module is the collector's one seam to it: :func:`certificate_digests` takes
what the dock kept of an APK while streaming it (its first and last bytes,
:class:`HeadTailSource`) and returns the digests Android compares, or raises
:class:`~attest.apk.ApkTailTooShortError` when the signature data lies in
between (then the caller reads the APK again in full).

The component's digest is the signing certificate's SHA-256 (what
``apksigner verify --print-certs`` prints as "certificate SHA-256 digest")
when there is one signer, else SHA-256 of the sorted digests joined by
newlines; attributes ``certs`` (every digest, comma-separated), ``scheme``
(``v1``, ``v2``, ``v3``, ``v3.1``) and, after a v3 key rotation, ``lineage``.
An APK with no signature at all (Android installs none; the simulator's
system apps are such) has ``scheme`` ``none`` and no digest, so signing it
later, or stripping a signature, changes the component.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from attest.apk import ApkNotSignedError, ApkTailTooShortError, Source, signing_from_source
from attest.model import Component, Method

__all__ = ["CertReading", "HeadTailSource", "cert_component", "certificate_digests"]


@dataclass(frozen=True)
class CertReading:
    """One APK's signing certificates.

    Attributes:
        digests: the signers' certificate SHA-256 digests, sorted (``()``: not signed).
        scheme: the scheme Android verifies on this device (``none`` when unsigned).
        lineage: after a v3 key rotation, every certificate from the oldest to the current.
    """

    digests: tuple[str, ...]
    scheme: str
    lineage: tuple[str, ...] = ()


class HeadTailSource(Source):
    """The first and last bytes of an APK the dock streamed (the whole of it when small).

    A read in between raises :class:`~attest.apk.ApkTailTooShortError` whose
    ``needed`` is how much of the file's end would have held it.

    Args:
        head: the file's first bytes.
        tail: the file's last bytes (``b""`` when ``head`` is the whole file).
        size: the file's size.
        name: how errors name the file.
    """

    def __init__(self, head: bytes, tail: bytes, *, size: int, name: str) -> None:
        if len(head) + len(tail) > size:
            raise ValueError("head and tail overlap")  # a caller's bug: keep the whole file as head instead
        self._head = head
        self._tail = tail
        self._tail_start = size - len(tail)
        self.size = size
        self.name = name

    def _read_at(self, offset: int, length: int, what: str) -> bytes:
        if offset + length <= len(self._head):
            return self._head[offset : offset + length]
        if offset >= self._tail_start:
            start = offset - self._tail_start
            return self._tail[start : start + length]
        raise ApkTailTooShortError(
            f"{self.name}: {what} lies between the first {len(self._head)} and the last {len(self._tail)} bytes kept",
            needed=self.size - offset,
        )


def certificate_digests(source: Source, *, sdk: int | None) -> CertReading:
    """The signing certificates of the APK ``source`` holds, as Android on API level ``sdk`` verifies them.

    Raises:
        ApkTailTooShortError: ``source`` does not hold the bytes the signatures are in.
        ApkFormatError: the APK is malformed, a signature does not verify, or the schemes disagree.
    """
    try:
        signing = signing_from_source(source, sdk=sdk)
    except ApkNotSignedError:  # a well-formed ZIP with no signature at all: a state, pinned like any other
        return CertReading((), "none")
    return CertReading(signing.digests, signing.scheme, signing.lineage if signing.rotated else ())


def cert_component(name: str, reading: CertReading, *, method: Method = Method.DOCK_READ) -> Component:
    """``cert/<package>`` from its base APK's reading."""
    digests = reading.digests
    if not digests:
        digest = None
    elif len(digests) == 1:
        digest = digests[0]
    else:
        digest = hashlib.sha256("\n".join(digests).encode()).hexdigest()
    attrs: dict[str, str | int | bool | None] = {"certs": ",".join(digests), "scheme": reading.scheme}
    if reading.lineage:
        attrs["lineage"] = ",".join(reading.lineage)
    return Component(name, "signing-cert", digest, attrs, method)
