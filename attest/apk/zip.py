"""The ZIP structure of an APK, read from its end: the end record, the central directory, single entries.

Only what the signature parsers need, read strictly so that the dock and
Android cannot be shown two different archives (the classic ZIP tricks):

* the end-of-central-directory record is searched, as apksig does, in the
  last 64 KiB + 22 bytes, accepting a record only where its comment length
  reaches exactly to the end of the file; **two** such records (a forged one
  hidden in the comment) are ambiguous and refused;
* ZIP64 is refused (Android refuses ZIP64 APKs), as are multi-disk archives;
* the central directory must end exactly where the end record starts, fit
  :attr:`~attest.apk.source.ApkLimits.max_central_directory`, hold exactly the
  number of entries the end record says, and name no entry twice;
* an entry is read through its local header, whose name must equal the
  central directory's; its data must end before the signed contents end
  (the signing block or the central directory); stored or deflated only,
  inflated with an output bound, its size and CRC-32 checked.

Every violation raises :class:`~attest.apk.errors.ApkFormatError`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from attest.apk.errors import ApkFormatError
from attest.apk.source import ApkLimits, Source

__all__ = ["ZipEntry", "ZipLayout", "read_entry", "read_layout"]

_EOCD = struct.Struct("<IHHHHIIH")
_EOCD_SIG = 0x06054B50
_ZIP64_LOCATOR_SIG = 0x07064B50
_CDH = struct.Struct("<IHHHHHHIIIHHHHHII")
_CDH_SIG = 0x02014B50
_LFH = struct.Struct("<IHHHHHIIIHH")
_LFH_SIG = 0x04034B50
_MAX_COMMENT = 0xFFFF
_STORED, _DEFLATED = 0, 8


@dataclass(frozen=True)
class ZipEntry:
    """One central directory entry (only the fields the parsers use)."""

    name: bytes
    flags: int
    method: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    local_offset: int


@dataclass(frozen=True)
class ZipLayout:
    """Where the archive's parts are.

    Attributes:
        eocd_offset: the end-of-central-directory record's offset.
        cd_offset: the central directory's offset (where an APK Signing Block ends).
        cd_size: the central directory's size.
        entries: every entry, in central directory order.
    """

    eocd_offset: int
    cd_offset: int
    cd_size: int
    entries: tuple[ZipEntry, ...]


def _find_eocd(source: Source) -> tuple[int, tuple[int, ...]]:
    if source.size < _EOCD.size:
        raise ApkFormatError(f"{source.name}: not a ZIP archive ({source.size} bytes)")
    window_len = min(source.size, _EOCD.size + _MAX_COMMENT)
    window_start = source.size - window_len
    window = source.read_at(window_start, window_len, "the end-of-central-directory search window")
    found: list[int] = []
    pos = len(window) - _EOCD.size
    while pos >= 0:
        pos = window.rfind(b"PK\x05\x06", 0, pos + 4)
        if pos < 0:
            break
        fields = _EOCD.unpack_from(window, pos)
        if fields[7] == len(window) - pos - _EOCD.size:
            found.append(pos)
        pos -= 1
    if not found:
        raise ApkFormatError(f"{source.name}: not a ZIP archive: no end-of-central-directory record")
    if len(found) > 1:
        raise ApkFormatError(
            f"{source.name}: {len(found)} end-of-central-directory records whose comment reaches the end: ambiguous"
        )
    return window_start + found[0], _EOCD.unpack_from(window, found[0])


def read_layout(source: Source, limits: ApkLimits) -> ZipLayout:
    """Find and check the end record and read the central directory.

    Raises:
        ApkFormatError: not a ZIP archive Android would accept, or ambiguous, or over a limit.
    """
    eocd_offset, (_, disk, cd_disk, disk_entries, total_entries, cd_size, cd_offset, _) = _find_eocd(source)
    name = source.name
    if 0xFFFF in (disk, cd_disk, disk_entries, total_entries) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise ApkFormatError(f"{name}: ZIP64 archive: Android does not accept ZIP64 APKs")
    if eocd_offset >= 20:
        locator = source.read_at(eocd_offset - 20, 4, "the ZIP64 locator check")
        if struct.unpack("<I", locator)[0] == _ZIP64_LOCATOR_SIG:
            raise ApkFormatError(f"{name}: ZIP64 archive: Android does not accept ZIP64 APKs")
    if disk != 0 or cd_disk != 0 or disk_entries != total_entries:
        raise ApkFormatError(f"{name}: multi-disk ZIP archive")
    if cd_offset + cd_size != eocd_offset:
        raise ApkFormatError(
            f"{name}: the central directory ({cd_offset}+{cd_size}) does not end where the end record starts"
            f" ({eocd_offset})"
        )
    if cd_size > limits.max_central_directory:
        raise ApkFormatError(f"{name}: central directory of {cd_size} bytes (limit {limits.max_central_directory})")
    cd = source.read_at(cd_offset, cd_size, "the central directory")
    entries: list[ZipEntry] = []
    names: set[bytes] = set()
    pos = 0
    for i in range(total_entries):
        if pos + _CDH.size > len(cd):
            raise ApkFormatError(f"{name}: central directory entry {i} overruns the central directory")
        f = _CDH.unpack_from(cd, pos)
        if f[0] != _CDH_SIG:
            raise ApkFormatError(f"{name}: central directory entry {i}: bad signature")
        flags, method, crc, csize, usize, nlen, elen, clen, local = (
            f[3],
            f[4],
            f[7],
            f[8],
            f[9],
            f[10],
            f[11],
            f[12],
            f[16],
        )
        end = pos + _CDH.size + nlen + elen + clen
        if end > len(cd):
            raise ApkFormatError(f"{name}: central directory entry {i} overruns the central directory")
        entry_name = bytes(cd[pos + _CDH.size : pos + _CDH.size + nlen])
        if 0xFFFFFFFF in (csize, usize, local):
            raise ApkFormatError(f"{name}: central directory entry {i}: ZIP64 fields")
        if entry_name in names:
            raise ApkFormatError(f"{name}: the central directory names {entry_name!r} twice")
        names.add(entry_name)
        entries.append(ZipEntry(entry_name, flags, method, crc, csize, usize, local))
        pos = end
    if pos != len(cd):
        raise ApkFormatError(f"{name}: {len(cd) - pos} bytes after the last central directory entry")
    return ZipLayout(eocd_offset, cd_offset, cd_size, tuple(entries))


def read_entry(source: Source, entry: ZipEntry, *, contents_end: int, limit: int) -> bytes:
    """One entry's uncompressed bytes, at most ``limit`` of them.

    Args:
        source: the APK.
        entry: from :func:`read_layout`.
        contents_end: where entry data must end (the signing block's or central directory's offset).
        limit: the largest uncompressed size accepted.

    Raises:
        ApkFormatError: the entry is malformed, encrypted, over the limit, or its data disagree with the directory.
    """
    what = f"{source.name}: entry {entry.name!r}"
    if entry.uncompressed_size > limit:
        raise ApkFormatError(f"{what}: {entry.uncompressed_size} bytes (limit {limit})")
    if entry.compressed_size > limit + (limit >> 4) + 1024:
        raise ApkFormatError(f"{what}: {entry.compressed_size} compressed bytes (limit about {limit})")
    if entry.flags & 1:
        raise ApkFormatError(f"{what}: encrypted")
    if entry.local_offset + _LFH.size > contents_end:
        raise ApkFormatError(f"{what}: local header at {entry.local_offset} is not within the archive's contents")
    lfh = _LFH.unpack(source.read_at(entry.local_offset, _LFH.size, f"{what} local header"))
    if lfh[0] != _LFH_SIG:
        raise ApkFormatError(f"{what}: bad local header signature at {entry.local_offset}")
    nlen, elen = lfh[9], lfh[10]
    data_start = entry.local_offset + _LFH.size + nlen + elen
    if data_start + entry.compressed_size > contents_end:
        raise ApkFormatError(f"{what}: data runs past the archive's contents (into the signing block or directory)")
    local_name = source.read_at(entry.local_offset + _LFH.size, nlen, f"{what} local name")
    if local_name != entry.name:
        raise ApkFormatError(f"{what}: the local header names {local_name!r}")
    if lfh[3] != entry.method:
        raise ApkFormatError(f"{what}: the local header's compression method differs from the directory's")
    raw = source.read_at(data_start, entry.compressed_size, f"{what} data")
    if entry.method == _STORED:
        data = raw
    elif entry.method == _DEFLATED:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, limit + 1)
        except zlib.error as e:
            raise ApkFormatError(f"{what}: bad deflate data: {e}") from e
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            raise ApkFormatError(f"{what}: deflate data do not end where the entry does")
    else:
        raise ApkFormatError(f"{what}: compression method {entry.method} (only stored and deflated are read)")
    if len(data) != entry.uncompressed_size:
        raise ApkFormatError(f"{what}: {len(data)} bytes, the directory says {entry.uncompressed_size}")
    if zlib.crc32(data) != entry.crc32:
        raise ApkFormatError(f"{what}: CRC-32 mismatch")
    return data
