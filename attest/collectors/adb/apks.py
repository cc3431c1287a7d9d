"""APK files read by the dock over the ADB sync service: SHA-256 and the signing certificate from the same bytes.

:class:`ApkReader` sends ``RECV`` for one path at a time (no shell: the path
travels as bytes), hashes every chunk as it arrives, and keeps the first and
last few MiB (:attr:`AndroidLimits.apk_head`, :attr:`AndroidLimits.apk_tail`),
from which :mod:`attest.collectors.adb.certs` parses the certificate: the
digest and the certificate come from one read. An APK whose signature data
lies in between (a v1 JAR signature whose ``META-INF/`` entries sit in the
middle of a large file) is read a second time into a temporary file
(:attr:`AndroidLimits.max_spool`); the second read must hash the same, or the
APK is unreadable.

Bounds: a read never yields more than the size the device's ``STAT`` gave
(``recv(limit=size)``; more is a transport error), and fewer bytes than that
is an error too. Which APKs are read at all, given a baseline, is decided by
the collector (:func:`read_decision`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from attest.apk import ApkFormatError, ApkTailTooShortError, FileSource
from attest.collectors.adb.certs import CertReading, HeadTailSource, certificate_digests
from attest.collectors.adb.limits import AndroidLimits
from attest.progress import Progress
from attest.transports.adb import SyncSession

__all__ = ["ApkRead", "ApkReader", "read_decision"]


@dataclass(frozen=True)
class ApkRead:
    """What one read of an APK gave.

    Attributes:
        digest: SHA-256 of the bytes, or ``None`` with ``error`` set.
        cert: the signing certificates (when asked for and parsed).
        cert_error: why the certificates could not be parsed.
        error: why the file could not be read.
    """

    digest: str | None
    cert: CertReading | None = None
    cert_error: str | None = None
    error: str | None = None


def read_decision(size: int, expected_size: object, limits: AndroidLimits) -> str | None:
    """Why an APK of ``size`` bytes is not read when the baseline says ``expected_size``, or ``None`` to read it.

    An APK about the baseline's size (at most twice it plus :attr:`AndroidLimits.read_margin`) is
    read, so that a re-signed or rebuilt app is named by what changed; one far larger (a device
    claiming a 10 GB APK) is already a finding and costs nothing.
    """
    if not isinstance(expected_size, int) or isinstance(expected_size, bool):
        return "the baseline records no size for it"
    if size <= 2 * expected_size + limits.read_margin:
        return None
    return f"size {size} differs from the baseline's {expected_size}"


class ApkReader:
    """Reads APKs over one sync session.

    Args:
        sync: the open sync session.
        limits: what one read may keep and spool.
        sdk: the device's API level (which signature scheme Android verifies there).
        progress: receives the bytes read.
    """

    def __init__(self, sync: SyncSession, *, limits: AndroidLimits, sdk: int | None, progress: Progress) -> None:
        self._sync = sync
        self._limits = limits
        self._sdk = sdk
        self._progress = progress
        #: Bytes read, second reads included.
        self.bytes_read = 0

    def read(self, path: bytes, size: int, *, name: str, want_cert: bool) -> ApkRead:
        """Read ``path`` (``size`` bytes by its STAT), hash it and, with ``want_cert``, parse its certificate.

        Raises:
            TransportError: the device sent more than ``size`` bytes, stopped, or the link failed.
        """
        lim = self._limits
        whole = size <= lim.apk_head + lim.apk_tail
        digest = hashlib.sha256()
        head = bytearray()
        tail = bytearray()

        def sink(chunk: bytes) -> None:
            digest.update(chunk)
            if whole or len(head) < lim.apk_head:
                room = len(chunk) if whole else lim.apk_head - len(head)
                head.extend(chunk[:room])
                chunk = chunk[room:]
            if chunk:
                tail.extend(chunk)
                if len(tail) > 2 * lim.apk_tail:
                    del tail[: len(tail) - lim.apk_tail]

        got = self._recv(path, size, sink)
        if got != size:
            return ApkRead(None, error=f"cannot read: the device sent {got} bytes, its STAT said {size}")
        hexdigest = digest.hexdigest()
        if not want_cert:
            return ApkRead(hexdigest)
        source = HeadTailSource(bytes(head), bytes(tail[-lim.apk_tail :]) if tail else b"", size=size, name=name)
        try:
            return ApkRead(hexdigest, cert=certificate_digests(source, sdk=self._sdk))
        except ApkTailTooShortError:
            return self._read_whole(path, size, name=name, first=hexdigest)
        except ApkFormatError as e:
            return ApkRead(hexdigest, cert_error=f"cannot read its signing certificate: {e}")

    def _recv(self, path: bytes, size: int, sink: Callable[[bytes], None]) -> int:
        def counted(chunk: bytes) -> None:
            self.bytes_read += len(chunk)
            self._progress.advance(len(chunk))
            sink(chunk)

        return self._sync.recv(path, counted, limit=size)

    def _read_whole(self, path: bytes, size: int, *, name: str, first: str) -> ApkRead:
        """Read the APK again into a temporary file and parse its certificate from all of it."""
        if size > self._limits.max_spool:
            return ApkRead(
                first,
                cert_error=f"cannot read its signing certificate: its signature data is not near either end, and "
                f"the file is larger than the {self._limits.max_spool} bytes the dock reads twice",
            )
        digest = hashlib.sha256()
        with tempfile.SpooledTemporaryFile(max_size=32 << 20) as spool:

            def sink(chunk: bytes) -> None:
                digest.update(chunk)
                spool.write(chunk)

            got = self._recv(path, size, sink)
            if got != size or digest.hexdigest() != first:
                return ApkRead(None, error="cannot read: the device served other bytes on a second read of it")
            try:
                reading = certificate_digests(FileSource(spool, size=size, name=name), sdk=self._sdk)
            except ApkFormatError as e:
                return ApkRead(first, cert_error=f"cannot read its signing certificate: {e}")
        return ApkRead(first, cert=reading)
