"""The two checksums of a DUML v1 frame.

* The header check is an 8-bit CRC (reflected polynomial 0x8C, the Dallas/Maxim
  CRC-8) over the first three bytes (``0x55`` and the length/version word),
  started from the seed ``0x77``.
* The frame check is a 16-bit CRC (reflected polynomial 0x8408, the CCITT
  polynomial as Kermit uses it, no final XOR) over every byte before it,
  started from the seed ``0x3692`` (the seed of the Phantom 3/4, Mavic and
  later generations; older Naza/Phantom 2 links used other seeds).

The tables are computed here rather than copied; the test suite checks them
against frames built by o-gs/dji-firmware-tools' ``comm_mkdupc.py`` and frames
captured from aircraft (see docs/dji.md).
"""

from __future__ import annotations

__all__ = ["HEADER_SEED", "PACKET_SEED", "crc8", "crc16"]

HEADER_SEED = 0x77
PACKET_SEED = 0x3692


def _reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE8 = _reflected_table(0x8C)
_TABLE16 = _reflected_table(0x8408)


def crc8(data: bytes, seed: int = HEADER_SEED) -> int:
    """The DUML header CRC-8 of ``data``."""
    crc = seed
    for b in data:
        crc = _TABLE8[b ^ crc]
    return crc


def crc16(data: bytes, seed: int = PACKET_SEED) -> int:
    """The DUML frame CRC-16 of ``data``."""
    crc = seed
    table = _TABLE16
    for b in data:
        crc = (crc >> 8) ^ table[(b ^ crc) & 0xFF]
    return crc
