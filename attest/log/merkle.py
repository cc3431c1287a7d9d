"""RFC 6962 Merkle tree hashing and RFC 9162 inclusion and consistency proofs.

Written by hand (no maintained Python library does RFC 9162 proofs) and pinned
to the transparency-dev/merkle vectors in ``shared/vectors/merkle``. The
verifiers follow transparency-dev's ``proof/verify.go``: a leaf hash must be
32 bytes, a proof must have exactly the right length, and a consistency proof
from size 0 is meaningless and rejected.

Proof *generation* takes a ``subtree(lo, hi)`` callable returning
``MTH(D[lo:hi])``, so the same code serves an in-memory list of leaves and the
stored hashes of a log directory (:mod:`attest.log.tiles`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from attest.errors import LogError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "RootBuilder",
    "consistency_proof",
    "inclusion_proof",
    "largest_power_of_two_below",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

#: ``MTH({})``, the root of the empty tree: SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: ``subtree(lo, hi)`` returns ``MTH(D[lo:hi])`` for ``0 <= lo < hi``.
Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``): RFC 6962's split point ``k``."""
    if n < 2:
        raise ValueError(f"no power of two below {n}")
    return 1 << ((n - 1).bit_length() - 1)


class RootBuilder:
    """Streams leaf hashes in and gives the RFC 6962 root of everything added so far.

    Keeps one hash per set bit of the count (at most 64), so a root over a
    billion leaves needs no more memory than over ten.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash) of perfect subtrees, left to right
        self.size = 0

    def add(self, leaf: bytes) -> None:
        """Append one leaf *hash*."""
        height, h = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            h = node_hash(left, h)
            height += 1
        self._stack.append((height, h))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append several leaf hashes."""
        for leaf in leaves:
            self.add(leaf)

    def root(self) -> bytes:
        """``MTH`` of the leaves added so far."""
        if not self._stack:
            return EMPTY_ROOT
        # The right edge of an RFC 6962 tree is folded right to left.
        h = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


def root_of(leaves: Sequence[bytes]) -> bytes:
    """``MTH`` over a list of leaf hashes."""
    b = RootBuilder()
    b.extend(leaves)
    return b.root()


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[size])``: the audit path, leaf sibling first.

    Raises:
        ValueError: ``index`` is not in ``[0, size)``.
    """
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    splits: list[tuple[int, int]] = []  # siblings from the root down; reversed at the end
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if m < k:
            splits.append((lo + k, hi))
            hi = lo + k
        else:
            splits.append((lo, lo + k))
            lo, m = lo + k, m - k
    path.extend(subtree(a, b) for a, b in reversed(splits))
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 ``PROOF(old_size, D[new_size])``.

    Raises:
        ValueError: not ``0 < old_size <= new_size``.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    nodes: list[tuple[int, int]] = []  # collected from the root down; reversed at the end
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = largest_power_of_two_below(hi - lo)
        if m <= k:
            nodes.append((lo + k, hi))
            hi = lo + k
        else:
            nodes.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        nodes.append((lo, hi))
    return [subtree(a, b) for a, b in reversed(nodes)]


def _check_hash(h: bytes, what: str) -> None:
    if len(h) != HASH_SIZE:
        raise LogError(f"{what} is {len(h)} bytes (expected {HASH_SIZE})")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf *hash*) is entry ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 section 2.1.3.2, with transparency-dev's pre-checks.

    Raises:
        LogError: the proof does not prove it.
    """
    if not 0 <= index < size:
        raise LogError(f"index {index} is not in a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise LogError(f"inclusion proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LogError(f"inclusion proof is too short ({len(proof)} hashes)")
    if r != root:
        raise LogError(f"inclusion proof for index {index} does not lead to the root of the tree of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size`` with ``old_root``.

    RFC 9162 section 2.1.4.2, with transparency-dev's pre-checks (``old_size``
    0 is refused; equal sizes need an empty proof and equal roots).

    Raises:
        LogError: the proof does not prove it.
    """
    if new_size < old_size:
        raise LogError(f"tree went back: size {new_size} is smaller than {old_size}")
    if old_size == 0:
        raise LogError("a consistency proof from the empty tree is meaningless")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    if old_size == new_size:
        if proof:
            raise LogError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise LogError(f"two different roots for the same tree size {old_size}")
        return
    if not proof:
        raise LogError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise LogError(f"consistency proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LogError(f"consistency proof is too short ({len(proof)} hashes)")
    if fr != old_root:
        raise LogError(f"consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise LogError(f"consistency proof does not lead to the new root (size {new_size})")
