"""Revocations carry forward through policy versions, and the trust commands say truly what a key's signature is worth.

Issue 12 leftovers. Real Ed25519 keys, real signed documents and baselines, real
files, and the real CLI (as in tests/test_trust_policy.py). Each test's
docstring says what the code before the fix did.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_trust_policy import NAMES, World

from attest.signing import generate_key_files

#: Two more managers than tests/test_trust_policy.py's a..d: a version whose own keys are all new.
KEYS = (*NAMES, "e", "f")
STOLEN = "laptop stolen 2026-05-30"


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "keys").mkdir()
    for n in KEYS:
        generate_key_files(tmp_path / "keys" / f"{n}.key")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/app.conf").write_text("upload=false\n")
    return World(tmp_path, tmp_path / "state", tree)


def _revoke(world: World, name: str, reason: str = STOLEN, *, with_id: bool = True) -> str:
    entry = f'\n[[revoked]]\nkey = "{world.kid(name)}"\nreason = "{reason}"'
    return entry + (f'\nid = "{name}"' if with_id else "")


def _doc(
    world: World,
    version: int,
    keys: Sequence[str],
    signers: Sequence[str],
    *,
    extra: str = "",
    out: str | None = None,
) -> Path:
    """Version ``version`` of a policy: ``keys``, threshold 1, policy_threshold 2, signed by ``signers``."""
    name = out or f"v{version}"
    draft = world.draft(keys, threshold=1, policy_threshold=2, extra=extra, name=f"{name}.toml")
    return world.document(draft, version=version, signers=signers, out=f"{name}.json")


def _verify(world: World, baseline: Path, trust: Path) -> list[str | os.PathLike[str]]:
    return ["verify", "--device", world.tree, "--baseline", baseline, "--trust", trust, "--json"]


def _accepted(world: World) -> int:
    version: int = world.attest("trust", "show", "--json").json()["accepted_version"]
    return version


# -- 1. revocations carry forward ------------------------------------------------------------------------------


def test_a_version_that_drops_a_revocation_is_refused(world: World) -> None:
    """Version 3 that forgets version 2's revocation of a stolen key was accepted, and the key counted again.

    Before: `trust update v3` exit 0, and once v3 listed the key again, a baseline signed by the thief
    alone passed (exit 0). Now: exit 4 naming the dropped revocation and the entry to keep.
    """
    v1 = _doc(world, 1, ["a", "b", "c"], ["a", "b", "c"])
    assert world.attest("trust", "update", v1).code == 0
    by_thief = world.baseline_file(world.baseline("c"), "thief.json")
    assert world.attest(*_verify(world, by_thief, v1)).code == 0  # c is trusted in version 1

    v2 = _doc(world, 2, ["a", "b"], ["a", "b"], extra=_revoke(world, "c"))
    assert world.attest("trust", "update", v2).code == 0
    r = world.attest(*_verify(world, by_thief, v2))
    assert r.code == 4 and f"is revoked: {STOLEN}" in r.json()["message"]

    # A threshold of version 2 (a and b) signs a version 3 without the revocation.
    dropped = _doc(world, 3, ["a", "b"], ["a", "b"])
    r = world.attest("trust", "update", dropped)
    assert r.code == 4, (r.out, r.err)
    assert "trust policy version 3 drops the revocation of key c (" in r.err
    assert f"that version 2 lists (reason: {STOLEN})" in r.err
    assert f'keep it in the draft of version 3 ([[revoked]] key = "{world.kid("c")}", id = "c"' in r.err
    assert "Traceback" not in r.err
    assert _accepted(world) == 2

    # ... or one that lists the stolen key again as a signer: through --trust, the thief's baseline.
    relisted = _doc(world, 3, ["a", "b", "c"], ["a", "b", "c"], out="v3-relisted")
    r = world.attest(*_verify(world, by_thief, relisted))
    assert r.code == 4, (r.out, r.err)
    message = r.json()["message"] if r.out.strip() else r.err  # a policy refused before any verdict: stderr
    assert "drops the revocation of key c" in message and "lists it again as signer 'c'" in message
    assert _accepted(world) == 2

    # Keeping the revocation (reworded, without its id) is fine, and the key stays refused.
    kept = _doc(world, 3, ["a", "b", "d"], ["a", "b", "d"], extra=_revoke(world, "c", "stolen", with_id=False))
    assert world.attest("trust", "update", kept).code == 0
    assert _accepted(world) == 3
    r = world.attest(*_verify(world, by_thief, kept))
    assert r.code == 4 and "is revoked: stolen" in r.json()["message"]


def test_a_dropped_identity_revocation_is_refused_too(world: World) -> None:
    """A revoked Sigstore identity carries forward like a key (before: version 2 without it was accepted)."""
    eve = '\n[[revoked]]\nidentity = "eve@force.example"\nreason = "left the company 2026-04-30"'
    assert world.attest("trust", "update", _doc(world, 1, ["a", "b"], ["a", "b"], extra=eve)).code == 0
    r = world.attest("trust", "update", _doc(world, 2, ["a", "b"], ["a", "b"]))
    assert r.code == 4, (r.out, r.err)
    assert "drops the revocation of identity eve@force.example that version 1 lists (reason: left the company" in r.err
    assert '([[revoked]] identity = "eve@force.example", reason = "left the company 2026-04-30")' in r.err
    assert _accepted(world) == 1


def test_a_removed_signer_is_not_revoked_and_may_come_back(world: World) -> None:
    """Removing a key is not revoking it: the carry-forward rule must not turn one into the other.

    (A guard for the fix: this passed before it too.) Version 2 removes c; version 3 lists c again.
    """
    assert world.attest("trust", "update", _doc(world, 1, ["a", "b", "c"], ["a", "b", "c"])).code == 0
    assert world.attest("trust", "update", _doc(world, 2, ["a", "b"], ["a", "b"])).code == 0
    v3 = _doc(world, 3, ["a", "b", "c"], ["a", "b", "c"])
    r = world.attest("trust", "update", v3)
    assert r.code == 0, r.err
    assert world.attest(*_verify(world, world.baseline_file(world.baseline("c")), v3)).code == 0


# -- 2. what the commands say about a key that is revoked, removed, or not in the policy -----------------------


def test_trust_sign_with_a_key_the_new_version_revokes_says_it_approves_for_the_version_before(
    world: World,
) -> None:
    """`trust sign` said a key revoked in version 2 "never counts", yet it approves version 2 for version 1.

    The dock accepts version 2 with exactly that signature (a and c of version 1, a and d of version 2).
    """
    assert world.attest("trust", "update", _doc(world, 1, ["a", "b", "c"], ["a", "b", "c"])).code == 0
    v2 = _doc(world, 2, ["a", "d"], ["a", "d"], extra=_revoke(world, "c"))
    r = world.attest("trust", "sign", v2, "--key", world.key("c"))
    assert r.code == 0, r.err
    assert f"warning: key {world.kid('c')} is revoked in version 2 ({STOLEN})" in r.out
    assert "only toward the approval by version 1, if that version lists it as a key" in r.out
    assert "never counts" not in r.out
    assert world.attest("trust", "update", v2).code == 0


def test_trust_sign_with_a_key_outside_version_1_says_it_never_counts(world: World) -> None:
    """For version 1 `trust sign` promised approval "by the version before", which version 1 does not have."""
    v1 = _doc(world, 1, ["a", "b"], ["a"])
    r = world.attest("trust", "sign", v1, "--key", world.key("d"))
    assert r.code == 0, r.err
    assert f"note: key {world.kid('d')} is not a key of version 1: its signature never counts" in r.out
    assert "version before," not in r.out
    assert "own keys: 1 of 2 required (NOT met); not yet signed by: b" in r.out


def test_trust_init_names_the_keys_whose_signature_does_not_count(world: World) -> None:
    """`trust init --key` with a revoked key, or one the draft does not list, said nothing about it."""
    draft = world.draft(["a", "b"], threshold=1, policy_threshold=2, extra=_revoke(world, "d"))
    out = world.dir / "p1.json"
    r = world.attest("trust", "init", draft, "--out", out, "--key", world.key("a"), "--key", world.key("d"))
    assert r.code == 0, r.err
    assert f"warning: key {world.kid('d')} is revoked in version 1 ({STOLEN}): its signature never counts" in r.out
    assert "own keys: 1 of 2 required (NOT met)" in r.out
    out2 = world.dir / "p2.json"
    r = world.attest("trust", "init", draft, "--version", "2", "--out", out2, "--key", world.key("c"))
    assert r.code == 0, r.err
    assert f"note: key {world.kid('c')} is not a key of version 2" in r.out
    assert "only toward the approval by version 1" in r.out


def test_update_refusal_names_as_revoked_only_the_keys_that_did_not_count(world: World) -> None:
    """A key of version 1 that version 2 revokes counted toward version 1's approval, but the refusal
    for too few version-1 signers also said it "is revoked", as if its signature had not counted."""
    v1 = _doc(world, 1, ["a", "b", "c"], ["a", "b", "c"], extra=_revoke(world, "d", "lost"))
    assert world.attest("trust", "update", v1).code == 0
    # Version 2: new keys e and f; c revoked now, d still; signed by c (counts for version 1), d (counts nowhere).
    extra = _revoke(world, "c") + _revoke(world, "d", "lost")
    v2 = _doc(world, 2, ["e", "f"], ["c", "d", "e", "f"], extra=extra)
    r = world.attest("trust", "update", v2)
    assert r.code == 4, (r.out, r.err)
    assert "signed by 1 key(s) of the current version 1 (c), 2 required; not signed by: a, b" in r.err
    assert "key d (" in r.err and "is revoked: lost" in r.err  # d did not count: say why
    assert "key c (" not in r.err  # c did count
    assert _accepted(world) == 1


def test_trust_show_does_not_claim_who_made_a_signature_it_cannot_check(world: World) -> None:
    """A signature whose keyid names a revoked key was shown "by a REVOKED key": a revocation holds a key id,
    not a key, so nothing checked who made it (a junk signature with that keyid read the same)."""
    v2 = _doc(world, 2, ["a", "b"], ["a", "b", "c"], extra=_revoke(world, "c"))
    env = json.loads(v2.read_bytes())
    c_sig = next(s for s in env["signatures"] if s["keyid"] == world.kid("c"))
    c_sig["sig"] = base64.b64encode(b"\x02" * 64).decode()  # junk now, same keyid
    v2.write_text(json.dumps(env))
    r = world.attest("trust", "show", v2)
    assert r.code == 0, r.err
    line = next(x for x in r.out.splitlines() if x.strip().startswith(world.kid("c")))
    assert "by a REVOKED key" not in line
    assert "keyid of a REVOKED key (not checked; counts at most as approval by version 1)" in line
    shown = world.attest("trust", "show", v2, "--json").json()
    assert [s["status"] for s in shown["signatures"]] == ["valid", "valid", "revoked"]
