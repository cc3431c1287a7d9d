"""RFC 6962/9162 Merkle hashing and proofs against transparency-dev/merkle's vectors and constants."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED

from attest.errors import LogError
from attest.log.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = SHARED / "vectors" / "merkle"

# transparency-dev/merkle testonly/constants.go: the 8-leaf reference tree.
LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip


def _files(kind: str) -> list[Path]:
    if not VECTORS.is_dir():
        return []
    return sorted((VECTORS / kind).rglob("*.json"))


def _params(kind: str) -> list[Any]:
    """One case per vector file, or one clearly skipped case when the vectors are not there."""
    files = _files(kind)
    if files:
        return files
    reason = f"conformance vectors not found at {VECTORS} (a fresh clone without ../shared)"
    return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="vectors-absent")]


def _id(p: Path | None) -> str:
    return str(p.relative_to(VECTORS)) if p is not None else "absent"


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _proof(v: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in v["proof"] or []]


def _need_vectors() -> None:
    if not VECTORS.is_dir():
        pytest.skip(f"conformance vectors not found at {VECTORS} (a fresh clone without ../shared)")


def test_primitives_match_rfc6962_test_values() -> None:
    """Leaf and node hashes equal transparency-dev's rfc6962_test.go values."""
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_reference_tree_roots() -> None:
    """The roots of the 8-leaf reference tree's prefixes."""
    hashes = [leaf_hash(x) for x in LEAVES]
    assert root_of(hashes[:1]).hex().startswith("6e340b9c")
    assert root_of(hashes[:2]).hex().startswith("fac54203")
    assert root_of(hashes[:4]).hex().startswith("d37ee418")
    assert root_of(hashes).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize("path", _params("inclusion"), ids=_id)
def test_inclusion_vector(path: Path) -> None:
    """Each inclusion vector verifies exactly when it should."""
    v = json.loads(path.read_text())
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(LogError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _params("consistency"), ids=_id)
def test_consistency_vector(path: Path) -> None:
    """Each consistency vector verifies exactly when it should."""
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), _proof(v))
    if v["wantErr"]:
        with pytest.raises(LogError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_all_vectors_are_present() -> None:
    """The README promises 98 + 98 files; a partial copy would silently test less."""
    _need_vectors()
    assert len(_files("inclusion")) == 98
    assert len(_files("consistency")) == 98


def test_our_proofs_equal_the_happy_path_vectors() -> None:
    """Proofs we generate over the reference tree are byte-identical to the vectors' proofs."""
    _need_vectors()
    hashes = [leaf_hash(x) for x in LEAVES]

    def subtree(lo: int, hi: int) -> bytes:
        return root_of(hashes[lo:hi])

    checked = 0
    for path in _files("inclusion") + _files("consistency"):
        v = json.loads(path.read_text())
        if v["wantErr"] or path.name != "happy-path.json":
            continue
        if "leafIdx" in v:
            assert inclusion_proof(v["leafIdx"], v["treeSize"], subtree) == _proof(v), path
        elif v["size1"] > 0:
            assert consistency_proof(v["size1"], v["size2"], subtree) == _proof(v), path
        checked += 1
    assert checked >= 8
