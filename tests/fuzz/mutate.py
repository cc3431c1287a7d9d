"""A small deterministic mutator: the smoke test's inputs, without coverage guidance or atheris.

The same seed and count always give the same inputs, so a smoke failure
reproduces exactly. Mutations are libFuzzer's simple ones: bit flips, byte
changes, interesting integers, inserted and erased runs, copied chunks,
splices of two seeds, and truncation.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator, Sequence

__all__ = ["mutations"]

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
_TOKENS = (
    b"\x00",
    b"\xff",
    b'"',
    b"\\u0000",
    b"{",
    b"[",
    b"}",
    b"]",
    b"\n",
    b"=",
    b"-",
    b"9" * 20,
    b"1e999",
    b"\xed\xa0\x80",
)


def _mutate_once(rng: random.Random, data: bytearray, other: bytes) -> None:
    choice = rng.randrange(9)
    pos = rng.randrange(len(data) + 1)
    if choice == 0 and data:  # flip a bit
        i = min(pos, len(data) - 1)
        data[i] ^= 1 << rng.randrange(8)
    elif choice == 1 and data:  # set a byte
        data[min(pos, len(data) - 1)] = rng.randrange(256)
    elif choice == 2:  # an interesting integer, little or big endian
        value = rng.choice(_INTERESTING)
        width = rng.choice((1, 2, 4))
        raw = (value & ((1 << 8 * width) - 1)).to_bytes(width, rng.choice(("little", "big")))
        data[pos : pos + width] = raw
    elif choice == 3:  # insert a run
        data[pos:pos] = bytes([rng.randrange(256)]) * rng.randrange(1, 17)
    elif choice == 4 and data:  # erase a run
        del data[pos : pos + rng.randrange(1, 33)]
    elif choice == 5 and data:  # copy a chunk elsewhere
        start = rng.randrange(len(data))
        chunk = bytes(data[start : start + rng.randrange(1, 65)])
        data[pos:pos] = chunk
    elif choice == 6 and other:  # splice with another seed
        cut = rng.randrange(len(other) + 1)
        data[pos:] = other[cut:]
    elif choice == 7:  # a token that parsers treat specially
        data[pos:pos] = rng.choice(_TOKENS)
    elif data:  # truncate
        del data[pos:]
    if len(data) > 4 and rng.random() < 0.05:  # occasionally a big-endian length field gone wild
        i = rng.randrange(len(data) - 3)
        data[i : i + 4] = struct.pack(">I", rng.choice(_INTERESTING))


def mutations(seeds: Sequence[bytes], count: int, *, seed: int, max_len: int) -> Iterator[bytes]:
    """``count`` mutated inputs derived from ``seeds`` (1-4 mutations each), deterministically from ``seed``."""
    rng = random.Random(seed)
    pool = [s for s in seeds if s] or [b""]
    for _ in range(count):
        data = bytearray(rng.choice(pool)[:max_len])
        other = rng.choice(pool)
        for _ in range(rng.randrange(1, 5)):
            _mutate_once(rng, data, other)
        yield bytes(data[:max_len])
