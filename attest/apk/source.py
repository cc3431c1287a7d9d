"""Where an APK's bytes come from: a path, a seekable file, or only the tail of the file; and the limits.

The parsers never read a whole APK. They ask a :class:`Source` for a few
ranges (the end-of-central-directory search window, the central directory,
the APK Signing Block, the v1 signature files), each bounded by
:class:`ApkLimits` before it is read, so a 10 GB file or a field claiming a
huge size costs the dock a few bounded reads and one clear
:class:`~attest.apk.errors.ApkFormatError`.

* :class:`FileSource` reads a seekable binary file (a path is opened
  non-blocking, regular files only, so a FIFO cannot hang the dock).
* :class:`TailSource` holds only the last bytes of a file whose total size is
  known (what a collector can keep while it streams the APK over ADB to hash
  it); a read before the tail raises
  :class:`~attest.apk.errors.ApkTailTooShortError` with how much is needed.
"""

from __future__ import annotations

import abc
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from attest.apk.errors import ApkFormatError, ApkTailTooShortError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TAIL",
    "ApkLimits",
    "FileSource",
    "SeekableReader",
    "Source",
    "TailSource",
    "open_path",
]

#: A tail that holds the signing block, central directory and v1 signature files of most APKs.
DEFAULT_TAIL = 1 << 20


@dataclass(frozen=True)
class ApkLimits:
    """Bounds on what one APK may make the dock read or keep.

    Attributes:
        max_apk_size: the largest file accepted. A ZIP without ZIP64 (which
            Android refuses for APKs) addresses at most 4 GiB.
        max_central_directory: the largest central directory read (an APK with
            10,000 entries has about 1 MiB).
        max_signing_block: the largest APK Signing Block read (apksigner writes
            a few KiB; alignment padding adds at most 4 KiB).
        max_signature_file: the largest v1 ``.SF``/``.RSA``/``.DSA``/``.EC``
            entry inflated.
        max_v1_signers: the most v1 signature block files read.
        max_signers: the most signers in one v2/v3 block.
        max_certificates: the most certificates in one signer record.
        max_certificate_size: the largest DER certificate.
        max_records: the most digests, signatures, attributes or lineage nodes in one structure.
        max_pairs: the most ID-value pairs in the signing block.
    """

    max_apk_size: int = 1 << 32
    max_central_directory: int = 32 << 20
    max_signing_block: int = 16 << 20
    max_signature_file: int = 1 << 20
    max_v1_signers: int = 8
    max_signers: int = 8
    max_certificates: int = 16
    max_certificate_size: int = 64 << 10
    max_records: int = 32
    max_pairs: int = 256


DEFAULT_LIMITS = ApkLimits()


class SeekableReader(Protocol):
    """What :class:`FileSource` needs of a file: an open binary file, a ``SpooledTemporaryFile``, ``BytesIO``."""

    def seek(self, offset: int, whence: int = ..., /) -> int:
        """Move to ``offset``; return the new position."""
        ...

    def read(self, size: int = ..., /) -> bytes:
        """Up to ``size`` bytes (fewer at the end)."""
        ...


class Source(abc.ABC):
    """Bounded random reads from an APK of known size.

    Attributes:
        size: the file's size in bytes.
        name: how error messages name the file.
    """

    size: int
    name: str

    def read_at(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``.

        Raises:
            ApkFormatError: the range is outside the file, or the file is shorter than it said.
        """
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ApkFormatError(f"{self.name}: {what} at {offset}+{length} is outside the file ({self.size} bytes)")
        return self._read_at(offset, length, what)

    @abc.abstractmethod
    def _read_at(self, offset: int, length: int, what: str) -> bytes:
        """The range, already checked to lie inside the file."""


class FileSource(Source):
    """A seekable binary file; only the requested ranges are read.

    Args:
        file: open for reading in binary mode, seekable.
        size: the file's size, if known (else found by seeking to the end).
        name: how error messages name the file.
    """

    def __init__(self, file: SeekableReader, *, size: int | None = None, name: str = "APK") -> None:
        self._file = file
        self.name = name
        try:
            self.size = file.seek(0, os.SEEK_END) if size is None else size
        except (OSError, ValueError) as e:
            raise ApkFormatError(f"{name}: not a seekable file: {e}") from e

    def _read_at(self, offset: int, length: int, what: str) -> bytes:
        try:
            self._file.seek(offset)
            parts: list[bytes] = []
            left = length
            while left:
                chunk = self._file.read(left)
                if not chunk:
                    break
                parts.append(chunk)
                left -= len(chunk)
        except (OSError, ValueError) as e:
            raise ApkFormatError(f"{self.name}: cannot read {what}: {e}") from e
        data = b"".join(parts)
        if len(data) != length:
            raise ApkFormatError(f"{self.name}: {what}: the file ended after {len(data)} of {length} bytes")
        return data


class TailSource(Source):
    """The last ``len(tail)`` bytes of a file of ``size`` bytes.

    Args:
        tail: the end of the file.
        size: the whole file's size.
        name: how error messages name the file.

    Raises:
        ValueError: the tail is longer than the file (a caller's bug).
    """

    def __init__(self, tail: bytes, *, size: int, name: str = "APK") -> None:
        if len(tail) > size:
            raise ValueError(f"a tail of {len(tail)} bytes cannot end a file of {size} bytes")
        self._tail = memoryview(tail)
        self._start = size - len(tail)
        self.size = size
        self.name = name

    def _read_at(self, offset: int, length: int, what: str) -> bytes:
        if offset < self._start:
            raise ApkTailTooShortError(
                f"{self.name}: {what} starts {self.size - offset} bytes before the end; the tail has {len(self._tail)}",
                needed=self.size - offset,
            )
        start = offset - self._start
        return bytes(self._tail[start : start + length])


def open_path(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for reading without following a final symlink or blocking on a FIFO.

    Raises:
        ApkFormatError: it cannot be opened or is not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise ApkFormatError(f"{os.fsdecode(path)}: cannot open: {e.strerror}") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ApkFormatError(f"{os.fsdecode(path)}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
