"""Stored interior hashes: C2SP tlog-tiles, concatenated into one file per level.

C2SP tlog-tiles stores, at tile level ``L``, the hash of every *complete*
subtree of ``256**L`` leaves: tile ``N`` of level ``L`` is 256 such hashes
(8,192 bytes) and the last, partial tile holds ``floor(size / 256**L) mod 256``
of them. Partial tiles are never hashed into the level above.

We keep exactly those hashes, but as one append-only file per level,
``hashes.L``: record ``k`` (32 bytes at offset ``32 * k``) is
``MTH(D[k * 256**L : (k + 1) * 256**L])``. Tile ``N`` of level ``L`` is bytes
``[8192 * N, 8192 * (N + 1))`` of ``hashes.L`` and the partial tile is its tail,
so the file sizes follow from the tree size alone (:func:`expected_counts`),
appends never rewrite a byte, and a proof at a million entries reads a few
hundred hashes from at most three files.

Any complete aligned subtree of ``2**h`` leaves is then ``2**(h mod 8)``
consecutive records of level ``h // 8``, hashed pairwise (:func:`subtree_hash`).
"""

from __future__ import annotations

from collections.abc import Callable

from attest.log.merkle import HASH_SIZE, largest_power_of_two_below, node_hash, root_of

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "ReadHashes",
    "expected_counts",
    "level_file",
    "memory_reader",
    "reduce_pairs",
    "subtree_hash",
    "tile_path",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

#: ``read(level, first, count)`` returns ``count`` stored hashes of ``level`` from record ``first``
#: (``32 * count`` bytes), or raises if they are not stored.
ReadHashes = Callable[[int, int, int], bytes]


def level_file(level: int) -> str:
    """The file name holding level ``level``'s hashes."""
    return f"hashes.{level}"


def expected_counts(size: int) -> list[int]:
    """How many hashes each level holds for a tree of ``size`` leaves: ``[size, size >> 8, ...]``.

    Level 0 is always listed (it holds every leaf hash); higher levels only
    while they hold at least one hash.
    """
    counts = [size]
    n = size >> TILE_HEIGHT
    while n:
        counts.append(n)
        n >>= TILE_HEIGHT
    return counts


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """The C2SP tlog-tiles path of a tile, e.g. ``tile/0/x001/234.p/7`` (for documentation and export)."""
    text = str(index)
    text = text.zfill(-(-len(text) // 3) * 3)
    groups = [text[i : i + 3] for i in range(0, len(text), 3)]
    name = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    path = f"tile/{level}/{name}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def reduce_pairs(hashes: bytes) -> bytes:
    """The root of a perfect subtree given its ``2**r`` bottom hashes, concatenated."""
    n = len(hashes) // HASH_SIZE
    if n == 0 or n & (n - 1) or len(hashes) % HASH_SIZE:
        raise ValueError(f"{len(hashes)} bytes is not a power-of-two number of hashes")
    row = [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def subtree_hash(lo: int, hi: int, read: ReadHashes) -> bytes:
    """``MTH(D[lo:hi])`` from stored hashes.

    A complete subtree aligned on its size comes straight from the level
    files; any other range is split as RFC 6962 splits it. Ranges that are
    not aligned at all (never needed by proofs) fall back to leaf hashes.

    Raises:
        ValueError: an empty or negative range.
    """
    if not 0 <= lo < hi:
        raise ValueError(f"empty range [{lo}, {hi})")
    n = hi - lo
    if n & (n - 1) == 0:
        h = n.bit_length() - 1
        if lo % n == 0:
            level, r = divmod(h, TILE_HEIGHT)
            count = 1 << r
            first = (lo >> (TILE_HEIGHT * level)) if level else lo
            return reduce_pairs(read(level, first, count))
        leaves = read(0, lo, n)
        return root_of([leaves[i : i + HASH_SIZE] for i in range(0, len(leaves), HASH_SIZE)])
    k = largest_power_of_two_below(n)
    return node_hash(subtree_hash(lo, lo + k, read), subtree_hash(lo + k, hi, read))


def memory_reader(levels: list[bytes]) -> ReadHashes:
    """A :data:`ReadHashes` over levels held in memory (one ``bytes`` per level)."""

    def read(level: int, first: int, count: int) -> bytes:
        data = levels[level] if level < len(levels) else b""
        out = data[first * HASH_SIZE : (first + count) * HASH_SIZE]
        if len(out) != count * HASH_SIZE:
            raise ValueError(f"level {level} holds no hashes {first}..{first + count - 1}")
        return out

    return read
