"""Little-endian fields and length-prefixed slices: the encoding of the APK Signing Block.

Every value of the APK Signature Scheme v2/v3 blocks is a ``uint32`` (or, for
the ID-value pairs, ``uint64``) length followed by that many bytes. A
:class:`Fields` reader never reads past its slice: any length that overruns,
or bytes left over where a structure must end, raise
:class:`~attest.apk.errors.ApkFormatError` naming what was being read.
"""

from __future__ import annotations

import struct

from attest.apk.errors import ApkFormatError

__all__ = ["Fields"]

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class Fields:
    """Sequential reads from one bounded slice of bytes.

    Args:
        data: the slice (not copied).
        what: the structure's name, for error messages.
    """

    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos

    def _take(self, n: int, field: str) -> memoryview:
        if n > self.remaining:
            raise ApkFormatError(f"{self.what}: {field} needs {n} bytes, {self.remaining} left")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u32(self, field: str) -> int:
        """A little-endian ``uint32``."""
        return int(_U32.unpack(self._take(4, field))[0])

    def u64(self, field: str) -> int:
        """A little-endian ``uint64``."""
        return int(_U64.unpack(self._take(8, field))[0])

    def raw(self, n: int, field: str) -> memoryview:
        """The next ``n`` bytes."""
        return self._take(n, field)

    def prefixed(self, field: str) -> Fields:
        """The next ``uint32``-length-prefixed slice, as its own reader."""
        n = self.u32(f"{field} length")
        return Fields(self._take(n, field), f"{self.what}/{field}")

    def prefixed_bytes(self, field: str) -> bytes:
        """The next ``uint32``-length-prefixed slice, as bytes."""
        n = self.u32(f"{field} length")
        return bytes(self._take(n, field))

    def sequence(self, field: str, *, limit: int) -> list[Fields]:
        """A length-prefixed sequence of length-prefixed items (at most ``limit`` of them)."""
        outer = self.prefixed(field)
        items: list[Fields] = []
        while outer.remaining:
            if len(items) == limit:
                raise ApkFormatError(f"{self.what}: more than {limit} {field}")
            items.append(outer.prefixed(f"{field}[{len(items)}]"))
        return items

    def rest(self) -> memoryview:
        """Everything not read yet."""
        return self._take(self.remaining, "rest")

    def end(self) -> None:
        """Check that the structure was read exactly to its end (trailing bytes are a format error)."""
        if self.remaining:
            raise ApkFormatError(f"{self.what}: {self.remaining} unexpected trailing bytes")
