"""Merkle proofs for random trees against a naive RFC 6962 recomputation, and the stored-hash levels."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.errors import LogError
from attest.log.merkle import (
    EMPTY_ROOT,
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    largest_power_of_two_below,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from attest.log.tiles import expected_counts, memory_reader, reduce_pairs, subtree_hash, tile_path

FAST = settings(max_examples=150, deadline=None)


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, word for word."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], *, whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole=whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], whole=False), naive_mth(leaves[:k])]


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def levels_of(leaves: list[bytes]) -> list[bytes]:
    """The stored levels of a tree, as the log writes them."""
    out = [b"".join(leaves)]
    for _ in range(1, len(expected_counts(len(leaves)))):
        below = out[-1]
        out.append(b"".join(reduce_pairs(below[i : i + 8192]) for i in range(0, len(below) - 8191, 8192)))
    return out


@FAST
@given(st.integers(1, 300), st.data())
def test_inclusion_proofs_match_naive(size: int, data: st.DataObject) -> None:
    """Generated paths equal RFC 6962 PATH and verify; a wrong index, leaf or root never does."""
    leaves = hashes(size)
    root = naive_mth(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, lambda a, b: naive_mth(leaves[a:b]))
    assert proof == naive_path(index, leaves)
    verify_inclusion(index, size, leaves[index], proof, root)
    with pytest.raises(LogError):
        verify_inclusion(index, size, leaf_hash(b"other"), proof, root)
    if size > 1:
        with pytest.raises(LogError):
            verify_inclusion((index + 1) % size, size, leaves[index], proof, root)
    if proof:
        bad = list(proof)
        bad[data.draw(st.integers(0, len(bad) - 1))] = b"\x00" * 32
        with pytest.raises(LogError):
            verify_inclusion(index, size, leaves[index], bad, root)
        with pytest.raises(LogError):
            verify_inclusion(index, size, leaves[index], proof[:-1], root)


@FAST
@given(st.integers(1, 300), st.data())
def test_consistency_proofs_match_naive(size2: int, data: st.DataObject) -> None:
    """Generated proofs equal RFC 6962 PROOF and verify; a different old tree never does."""
    leaves = hashes(size2)
    size1 = data.draw(st.integers(1, size2))
    root1, root2 = naive_mth(leaves[:size1]), naive_mth(leaves)
    proof = consistency_proof(size1, size2, lambda a, b: naive_mth(leaves[a:b]))
    assert proof == naive_subproof(size1, leaves, whole=True)
    verify_consistency(size1, size2, root1, root2, proof)
    forged = naive_mth([leaf_hash(b"forged"), *leaves[1:size1]])
    with pytest.raises(LogError):
        verify_consistency(size1, size2, forged, root2, proof)
    if size1 < size2:
        with pytest.raises(LogError):
            verify_consistency(size2, size1, root2, root1, proof)  # went back
        with pytest.raises(LogError):
            verify_consistency(size1, size2, root1, root2, [*proof, b"\x01" * 32])


@FAST
@given(st.integers(0, 3000))
def test_root_builder_equals_naive(size: int) -> None:
    """The streaming root equals RFC 6962's recursive definition at every size."""
    leaves = hashes(size)
    b = RootBuilder()
    b.extend(leaves)
    assert b.root() == naive_mth(leaves)
    assert b.size == size


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70_000), st.data())
def test_subtree_from_stored_levels(size: int, data: st.DataObject) -> None:
    """MTH of any range, from the stored levels, equals the naive MTH of its leaves."""
    leaves = hashes(size)
    read = memory_reader(levels_of(leaves))
    lo = data.draw(st.integers(0, size - 1))
    hi = data.draw(st.integers(lo + 1, min(size, lo + 3000)))
    assert subtree_hash(lo, hi, read) == naive_mth(leaves[lo:hi])
    assert subtree_hash(0, size, read) == naive_mth(leaves)


def test_large_aligned_subtrees_come_from_high_levels() -> None:
    """A 65,536-leaf aligned subtree is read as one level-2 hash, not 65,536 leaves."""
    leaves = hashes(65_536 * 2 + 5)
    levels = levels_of(leaves)
    reads: list[tuple[int, int, int]] = []
    read = memory_reader(levels)

    def counting(level: int, first: int, count: int) -> bytes:
        reads.append((level, first, count))
        return read(level, first, count)

    assert subtree_hash(65_536, 131_072, counting) == naive_mth(leaves[65_536:131_072])
    assert reads == [(2, 1, 1)]


def test_expected_counts() -> None:
    assert expected_counts(0) == [0]
    assert expected_counts(255) == [255]
    assert expected_counts(256) == [256, 1]
    assert expected_counts(1_000_000) == [1_000_000, 3906, 15]


def test_tile_paths_follow_c2sp() -> None:
    """C2SP tlog-tiles path encoding, used in docs/log.md."""
    assert tile_path(0, 1_234_067) == "tile/0/x001/x234/067"
    assert tile_path(2, 5) == "tile/2/005"
    assert tile_path(0, 1234, 7) == "tile/0/x001/234.p/7"


def test_empty_and_bad_inputs() -> None:
    assert RootBuilder().root() == EMPTY_ROOT
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(3, 3, lambda _a, _b: b"")
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(0, 3, lambda _a, _b: b"")
    with pytest.raises(LogError, match="32"):
        verify_inclusion(0, 1, b"short", [], b"short")
    with pytest.raises(ValueError, match="power-of-two"):
        reduce_pairs(b"\x00" * 96)
