"""Sigstore signers through the real CLI: ``attest verify --bundle`` beside an Ed25519 signature.

The bundles are minted under a private test Sigstore instance (tests/sigstore_kit.py):
a 2-of-2 policy of one fleet key and one Sigstore identity passes only with both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run, make_fleet
from sigstore_kit import ALICE, BOB, ISSUER, TestRoot

from attest.signing import Envelope


@pytest.fixture(scope="module")
def force() -> TestRoot:
    return TestRoot(name="force")


@pytest.fixture
def setup(attest: Callable[..., Run], tmp_path: Path, force: TestRoot) -> tuple[Fleet, Path, Path, Path]:
    """A golden tree, its baseline signed by one fleet key, and a 2-of-2 policy (that key + alice)."""
    fleet = make_fleet(tmp_path / "fleet")
    golden = tmp_path / "golden"
    assert attest("sim", "tree", "--out", golden).code == 0
    baseline = tmp_path / "b.json"
    r = attest("baseline", "create", "--device", golden, "--name", "companion", "--version", "1", "--out", baseline)
    assert r.code == 0, r.err
    assert attest("baseline", "sign", baseline, "--key", fleet.keys[0]).code == 0
    force.trusted_root(fleet.dir / "trusted_root.json")
    policy = fleet.dir / "trust2.toml"
    policy.write_text(
        fleet.trust.read_text().replace("threshold = 1", "threshold = 2")
        + f'\n[[sigstore]]\nid = "alice"\nidentity = "{ALICE}"\nissuer = "{ISSUER}"\n'
        'trusted_root = "trusted_root.json"\n'
    )
    return fleet, golden, baseline, policy


def _payload(baseline: Path) -> bytes:
    return Envelope.from_bytes(baseline.read_bytes()).payload


def test_bundle_counts_toward_the_threshold(
    attest: Callable[..., Run], setup: tuple[Fleet, Path, Path, Path], force: TestRoot, tmp_path: Path
) -> None:
    _, golden, baseline, policy = setup
    bundle = tmp_path / "alice.sigstore.json"
    bundle.write_bytes(force.bundle(_payload(baseline)))
    common = ("verify", "--device", golden, "--baseline", baseline, "--trust", policy, "--json")

    alone = attest(*common)
    assert alone.code == 4, alone.err
    assert "1 valid signature(s)" in alone.json()["message"] and "2 required" in alone.json()["message"]

    both = attest(*common, "--bundle", bundle)
    assert both.code == 0, (both.out, both.err)
    assert both.json()["verdict"] == "pass"

    # The same identity twice counts once: alice's two bundles, without the fleet key's signature,
    # are 1 signer of the 2 required (the baseline file is itself one of alice's bundles).
    twice = tmp_path / "alice2.sigstore.json"
    twice.write_bytes(force.bundle(_payload(baseline)))
    r = attest(
        "verify", "--device", golden, "--baseline", bundle, "--trust", policy, "--bundle", twice, "--json"
    )  # fmt: skip
    assert r.code == 4, (r.out, r.err)
    assert "1 valid signature(s)" in r.json()["message"]


@pytest.mark.parametrize("who", ["bob", "mallory-root", "other-content"])
def test_bundle_that_does_not_count_says_why(
    attest: Callable[..., Run], setup: tuple[Fleet, Path, Path, Path], force: TestRoot, tmp_path: Path, who: str
) -> None:
    _, golden, baseline, policy = setup
    payload = _payload(baseline)
    if who == "bob":
        data, why = force.bundle(payload, identity=BOB), "bob@force.example"
    elif who == "mallory-root":
        data, why = TestRoot(name="mallory").bundle(payload), "root"
    else:
        other = json.loads(payload)
        other["predicate"]["version"] = 2
        data, why = force.bundle(json.dumps(other).encode()), "payload"
    bundle = tmp_path / "b.sigstore.json"
    bundle.write_bytes(data)
    r = attest("verify", "--device", golden, "--baseline", baseline, "--trust", policy, "--bundle", bundle, "--json")
    assert r.code == 4, (r.out, r.err)
    assert why in r.json()["message"]


def test_missing_bundle_path_is_a_usage_error(
    attest: Callable[..., Run], setup: tuple[Fleet, Path, Path, Path], tmp_path: Path
) -> None:
    _, golden, baseline, policy = setup
    missing = tmp_path / "nope.sigstore.json"
    r = attest("verify", "--device", golden, "--baseline", baseline, "--trust", policy, "--bundle", missing)
    assert r.code == 2 and str(missing) in r.err and r.out == ""


def test_sigstore_signing_needs_a_separate_out_file(
    attest: Callable[..., Run], setup: tuple[Fleet, Path, Path, Path]
) -> None:
    fleet, _, baseline, _ = setup
    before = baseline.read_bytes()
    r = attest("baseline", "sign", baseline, "--sigstore")
    assert r.code == 2 and "--out" in r.err
    r = attest("baseline", "sign", baseline, "--sigstore", "--key", fleet.keys[0], "--out", "x.json")
    assert r.code == 2 and "not allowed with" in r.err
    assert baseline.read_bytes() == before


def test_the_baseline_file_may_itself_be_a_bundle(
    attest: Callable[..., Run], setup: tuple[Fleet, Path, Path, Path], force: TestRoot, tmp_path: Path
) -> None:
    """A baseline signed by one Sigstore identity only: FILE is the bundle, the policy counts alice."""
    fleet, golden, baseline, _ = setup
    only = tmp_path / "only-alice.sigstore.json"
    only.write_bytes(force.bundle(_payload(baseline)))
    policy = fleet.dir / "alice-only.toml"
    policy.write_text(
        fleet.trust.read_text() + f'\n[[sigstore]]\nid = "alice"\nidentity = "{ALICE}"\nissuer = "{ISSUER}"\n'
        'trusted_root = "trusted_root.json"\n'
    )
    ok = attest("verify", "--device", golden, "--baseline", only, "--trust", policy, "--json")
    assert ok.code == 0, (ok.out, ok.err)
    assert ok.json()["verdict"] == "pass"

    # The same bundle under a policy that does not list alice: not trusted, and it says why.
    refused = attest("verify", "--device", golden, "--baseline", only, "--trust", fleet.trust, "--json")
    assert refused.code == 4, (refused.out, refused.err)
    assert "0 valid signature(s)" in refused.json()["message"]

    # A bundle over another payload type is not a baseline.
    other = tmp_path / "other.sigstore.json"
    other.write_bytes(force.bundle(b'{"x":1}', payload_type="application/json"))
    r = attest("verify", "--device", golden, "--baseline", other, "--trust", policy, "--json")
    assert r.code == 4 and "payloadType" in r.json()["message"]
