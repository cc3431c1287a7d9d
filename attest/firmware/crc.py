"""The bootloader's CRC-32 and the arithmetic on it: padding, removing padding, CRCs of any range.

Hand-written (reference §6.4, §9.3) because the bootloader's CRC is zlib's
polynomial with init 0 and no final XOR, and the dock needs what no library
offers: the CRC after erased ``0xFF`` padding, the CRC of an image given only
the CRC of image plus padding, and the CRC of any range of a flash dump after
one pass over it (:class:`RangeCrc`, used by :mod:`attest.firmware.search`).
"""

from __future__ import annotations

import zlib

__all__ = ["RangeCrc", "app_crc_digest", "bootloader_crc", "crc32_strip_padding", "raw_crc32", "shift"]


def raw_crc32(data: bytes | bytearray | memoryview, state: int = 0) -> int:
    """CRC-32 as the bootloader and CalcFileCRC32 compute it: zlib's polynomial, init 0, no final XOR."""
    return zlib.crc32(data, state ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def bootloader_crc(image: bytes, fw_size: int) -> int:
    """The CRC the bootloader's GET_CRC reports for ``image`` in an app area of ``fw_size`` bytes.

    The bootloader erases the area (``0xFF``) before programming, and its CRC
    covers all of it (reference §9.3).

    Raises:
        ValueError: the image is larger than the area.
    """
    if len(image) > fw_size:
        raise ValueError(f"image of {len(image)} bytes does not fit an app area of {fw_size}")
    return _pad_ff(raw_crc32(image), fw_size - len(image))


def app_crc_digest(crc: int, length: int) -> str:
    """The digest of an ``fc/app-crc`` component: SHA-256 of ``raw-crc32:<crc hex>:<length>``.

    Components carry SHA-256 digests; this wraps the application's CRC and
    the length it covers so that a firmware-image baseline and a live
    controller (bootloader GET_CRC, or the dock's CRC of flash it read)
    compare with the verifier's ordinary digest check.
    """
    import hashlib

    return hashlib.sha256(f"raw-crc32:{crc:08x}:{length}".encode()).hexdigest()


def _pad_ff(state: int, n: int) -> int:
    """The CRC state after ``n`` erased (``0xFF``) bytes."""
    block = b"\xff" * 65536
    while n:
        k = min(n, len(block))
        state = raw_crc32(block[:k], state)
        n -= k
    return state


# -- removing erased padding from a reported CRC ---------------------------------
# raw_crc32 is linear over GF(2): appending n bytes maps a state s to
# Z^n(s) ^ raw_crc32(bytes, 0), where Z is "append one zero byte". Z is
# invertible, so a GET_CRC over image+padding can be turned back into the CRC
# of the image alone without knowing the image.


def _apply(m: list[int], v: int) -> int:
    out = 0
    i = 0
    while v:
        if v & 1:
            out ^= m[i]
        v >>= 1
        i += 1
    return out


def _compose(a: list[int], b: list[int]) -> list[int]:
    return [_apply(a, col) for col in b]


def _invert(m: list[int]) -> list[int]:
    # Gauss-Jordan on the 32x32 bit matrix given by columns.
    rows = [sum(((m[c] >> r) & 1) << c for c in range(32)) | (1 << (32 + r)) for r in range(32)]
    for c in range(32):
        p = next(r for r in range(c, 32) if rows[r] >> c & 1)
        rows[c], rows[p] = rows[p], rows[c]
        for r in range(32):
            if r != c and rows[r] >> c & 1:
                rows[r] ^= rows[c]
    inv_rows = [row >> 32 for row in rows]
    return [sum(((inv_rows[r] >> c) & 1) << r for r in range(32)) for c in range(32)]


_ZERO_BYTE = [raw_crc32(b"\0", 1 << i) for i in range(32)]
_UNZERO_BYTE = _invert(_ZERO_BYTE)
#: Z^(2^i) and Z^-(2^i), built as far as needed.
_POWERS: dict[bool, list[list[int]]] = {False: [_ZERO_BYTE], True: [_UNZERO_BYTE]}


def shift(state: int, n: int) -> int:
    """Z^n(state): the CRC state after ``n`` more zero bytes; ``n < 0`` undoes ``-n`` zero bytes.

    At most one 32x32 bit-matrix application per bit of ``n``, whatever ``n`` is.
    """
    table = _POWERS[n < 0]
    n = abs(n)
    i = 0
    while n:
        if i == len(table):
            table.append(_compose(table[-1], table[-1]))
        if n & 1:
            state = _apply(table[i], state)
        n >>= 1
        i += 1
    return state


def crc32_strip_padding(crc: int, n: int) -> int:
    """The CRC of the data before ``n`` trailing ``0xFF`` bytes, given the CRC of data plus padding."""
    return shift(crc ^ _pad_ff(0, n), -n)


class RangeCrc:
    """The raw CRC-32 of any range of a buffer, after one pass over it.

    Prefix CRCs are kept every ``step`` bytes; ``crc(a, b)`` is then
    ``P(b) ^ Z^(b-a) P(a)`` (raw_crc32 is linear), at most ``2 * step``
    bytes hashed plus a few matrix applications, not ``b - a`` bytes.
    """

    def __init__(self, buf: memoryview, step: int) -> None:
        self._buf, self._step = buf, step
        self._at = [0]  # _at[k]: raw CRC of buf[: k * step]
        for k in range(0, len(buf), step):
            self._at.append(raw_crc32(buf[k : k + step], self._at[-1]))

    def prefix(self, end: int) -> int:
        """raw_crc32(buf[:end])."""
        k = end // self._step
        return raw_crc32(self._buf[k * self._step : end], self._at[k])

    def crc(self, start: int, end: int) -> int:
        """raw_crc32(buf[start:end]) for ``start <= end``."""
        return self.prefix(end) ^ shift(self.prefix(start), end - start)

    def normalized(self, pos: int) -> int:
        """Z^-pos(P(pos)): ``crc(a, b) == c`` exactly when ``normalized(a) == Z^-b(P(b) ^ c)``."""
        return shift(self.prefix(pos), -pos)
