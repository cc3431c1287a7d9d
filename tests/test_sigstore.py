"""Sigstore signers, verified offline: bundles minted under a test trusted root, and real staging bundles.

Every bundle here is checked by :func:`attest.trust.sigstore.check_bundle`, the
one path ``attest verify --bundle`` takes. A bundle that counts names its
signer; one that does not says why, in words a fleet manager can act on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore_kit import ALICE, BOB, IN_TOTO, ISSUER, SIGNED_AT, TestRoot, edit

from attest.baseline import parse_envelope
from attest.errors import BaselineError, ConfigError, UntrustedBaselineError
from attest.trust.sigstore import (
    BundleCheck,
    SigstoreSigner,
    bundle_limit,
    check_bundle,
    check_trusted_root,
    distinct_signers,
    envelope_from_bundle,
    read_bundle_file,
    sign_with_sigstore,
)

REPO = Path(__file__).resolve().parents[1]
#: A real signed baseline of this project: its payload is what Sigstore signers sign.
BASELINE = parse_envelope((REPO / "baselines" / "companion.baseline.json").read_bytes()).payload
OTHER_BASELINE = parse_envelope((REPO / "baselines" / "fc.baseline.json").read_bytes()).payload

VECTORS = SHARED / "vectors" / "sigstore"
needs_vectors = pytest.mark.skipif(
    not VECTORS.is_dir(), reason="../shared/vectors/sigstore is absent (the staging bundles live only there)"
)
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
GH_ACTIONS = "https://token.actions.githubusercontent.com"


def _production_root() -> Path:
    """The production trusted root shipped inside the sigstore wheel (a production-pinned policy)."""
    import sigstore

    return Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"


@pytest.fixture(scope="module")
def force() -> TestRoot:
    """The fleet's own test Sigstore instance."""
    return TestRoot(name="force")


@pytest.fixture
def root_file(force: TestRoot, tmp_path: Path) -> Path:
    return force.trusted_root(tmp_path / "trusted_root.json")


@pytest.fixture
def alice(root_file: Path) -> SigstoreSigner:
    return SigstoreSigner(id="alice", identity=ALICE, issuer=ISSUER, trusted_root=root_file)


def check(bundle: bytes, *signers: SigstoreSigner, payload: bytes = BASELINE) -> BundleCheck:
    return check_bundle(bundle, payload=payload, payload_type=IN_TOTO, signers=signers)


def refused(result: BundleCheck) -> str:
    assert result.signer is None, result
    assert result.reason
    return result.reason


# --- bundles that count ------------------------------------------------------------------------------------------


def test_a_valid_bundle_counts_for_its_signer(force: TestRoot, alice: SigstoreSigner) -> None:
    """A bundle by the listed identity and issuer, under the pinned root, over the baseline counts."""
    assert check(force.bundle(BASELINE), alice) == BundleCheck("alice", None)


def test_the_library_itself_accepts_the_minted_bundle(force: TestRoot, root_file: Path) -> None:
    """The test instance is a real Sigstore instance to sigstore-python, not only to our code."""
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root_file)))
    ptype, payload = verifier.verify_dsse(
        Bundle.from_json(force.bundle(BASELINE)), policy.Identity(identity=ALICE, issuer=ISSUER)
    )
    assert (ptype, payload) == (IN_TOTO, BASELINE)


def test_a_uri_identity_counts(force: TestRoot, root_file: Path) -> None:
    """A workflow identity (a URI SAN) is matched exactly like an email."""
    ci = SigstoreSigner(
        id="release-ci", identity="https://ci.force.example/release@main", issuer=ISSUER, trusted_root=root_file
    )
    bundle = force.bundle(BASELINE, identity="https://ci.force.example/release@main")
    assert check(bundle, ci).signer == "release-ci"


@pytest.mark.parametrize(("v1", "v2"), [(True, False), (False, True)])
def test_either_issuer_extension_names_the_issuer(force: TestRoot, alice: SigstoreSigner, v1: bool, v2: bool) -> None:
    """Certificates with only the old (…1.1) or only the new (…1.8) issuer extension both count."""
    assert check(force.bundle(BASELINE, issuer_v1=v1, issuer_v2=v2), alice).signer == "alice"


def test_the_signer_is_chosen_by_identity_among_several(
    force: TestRoot, root_file: Path, alice: SigstoreSigner
) -> None:
    bob = SigstoreSigner(id="bob", identity=BOB, issuer=ISSUER, trusted_root=root_file)
    assert check(force.bundle(BASELINE, identity=BOB), alice, bob).signer == "bob"


def test_one_identity_signing_twice_counts_once(force: TestRoot, root_file: Path, alice: SigstoreSigner) -> None:
    """Two bundles by alice (two certificates, two keys) are one signer; alice and bob are two."""
    bob = SigstoreSigner(id="bob", identity=BOB, issuer=ISSUER, trusted_root=root_file)
    first, second = force.bundle(BASELINE), force.bundle(BASELINE, not_before=SIGNED_AT + timedelta(hours=1))
    assert first != second
    twice = [check(first, alice, bob), check(second, alice, bob)]
    assert [c.signer for c in twice] == ["alice", "alice"]
    assert distinct_signers(twice) == ("alice",)
    assert distinct_signers([*twice, check(force.bundle(BASELINE, identity=BOB), alice, bob)]) == ("alice", "bob")


# --- bundles that do not count, and why --------------------------------------------------------------------------


def test_another_identity_is_not_a_listed_signer(force: TestRoot, alice: SigstoreSigner) -> None:
    reason = refused(check(force.bundle(BASELINE, identity=BOB), alice))
    assert reason == f"bundle signed by {BOB} (issuer {ISSUER}), not a listed signer"


def test_the_right_identity_at_another_issuer_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """Anyone who controls another issuer can claim alice's address there."""
    reason = refused(check(force.bundle(BASELINE, issuer="https://github.com/login/oauth"), alice))
    assert reason == f"bundle signed by {ALICE} (issuer https://github.com/login/oauth), not a listed signer"


def test_a_certificate_without_an_issuer_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    reason = refused(check(force.bundle(BASELINE, issuer_v1=False, issuer_v2=False), alice))
    assert reason == f"bundle signed by {ALICE} (issuer none), not a listed signer"


def test_a_certificate_naming_two_issuers_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """sigstore's own Identity policy reads only …1.1; a contradicting …1.8 must not slip through."""
    bundle = force.bundle(BASELINE, issuer_v2_value="https://evil.example")
    assert "two different issuers" in refused(check(bundle, alice))


def test_a_bundle_over_other_content_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """A valid signature by alice over another baseline is no approval of this one."""
    reason = refused(check(force.bundle(OTHER_BASELINE), alice))
    assert reason.startswith("payload differs from the baseline")


def test_another_payload_type_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """verify_dsse returns the payload type unchecked: the caller must compare it."""
    reason = refused(check(force.bundle(BASELINE, payload_type="application/vnd.other+json"), alice))
    assert reason == "payload type is 'application/vnd.other+json', expected 'application/vnd.in-toto+json'"


def test_a_certificate_from_another_root_does_not_count(alice: SigstoreSigner) -> None:
    """Mallory runs her own Fulcio and issues a certificate for alice's address: not the pinned root."""
    mallory = TestRoot(name="mallory")
    assert refused(check(mallory.bundle(BASELINE), alice)) == "certificate not issued by the pinned root"


def test_a_certificate_expired_before_its_log_entry_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """A leaked short-lived key used after its certificate expired: the log's time shows it."""
    bundle = force.bundle(BASELINE, lifetime=timedelta(minutes=10), integrated_at=SIGNED_AT + timedelta(minutes=30))
    reason = refused(check(bundle, alice))
    assert reason == (
        "certificate was not valid when the bundle was logged or timestamped (2026-06-01T12:30:00Z): "
        "valid 2026-06-01T12:00:00Z to 2026-06-01T12:10:00Z"
    )


def test_a_broken_log_inclusion_proof_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    def flip(obj: dict[str, Any]) -> None:
        proof = obj["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        first = base64.b64decode(proof["hashes"][0])
        proof["hashes"][0] = base64.b64encode(bytes([first[0] ^ 1]) + first[1:]).decode()

    assert refused(check(edit(force.bundle(BASELINE), flip), alice)) == "log inclusion proof does not verify"


def test_a_checkpoint_signed_by_another_log_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    reason = refused(check(force.bundle(BASELINE, log_key=other), alice))
    assert reason == "log checkpoint is not signed by a pinned transparency log key"


def test_a_moved_integrated_time_breaks_the_inclusion_promise(force: TestRoot, alice: SigstoreSigner) -> None:
    """The entry's time is signed (SET): moving it, even within the certificate's life, is caught."""

    def move(obj: dict[str, Any]) -> None:
        entry = obj["verificationMaterial"]["tlogEntries"][0]
        entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)

    reason = refused(check(edit(force.bundle(BASELINE), move), alice))
    assert reason == "log inclusion promise (SET) does not verify against the pinned log keys"


@pytest.mark.parametrize("options", [{"sct": False}, {"ct_key": ec.generate_private_key(ec.SECP256R1())}])
def test_a_certificate_without_a_valid_sct_does_not_count(
    force: TestRoot, alice: SigstoreSigner, options: dict[str, Any]
) -> None:
    """A certificate never shown to the pinned CT log (no SCT, or one by another log) is unmonitored."""
    reason = refused(check(force.bundle(BASELINE, **options), alice))
    assert reason == "certificate's signed certificate timestamp (SCT) does not verify against the pinned CT logs"


def test_a_certificate_without_code_signing_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    reason = refused(check(force.bundle(BASELINE, code_signing=False), alice))
    assert reason == "certificate is not a code-signing certificate"


def test_an_envelope_signed_by_another_key_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """The certificate is alice's, but the DSSE signature was made by another key."""
    bundle = force.bundle(BASELINE, signing_key=ec.generate_private_key(ec.SECP256R1()))
    assert refused(check(bundle, alice)) == "DSSE signature does not verify with the certificate's key"


def test_a_log_entry_copied_from_another_bundle_does_not_count(force: TestRoot, alice: SigstoreSigner) -> None:
    """A valid, logged entry of alice's first bundle does not prove her second was logged."""
    logged = json.loads(force.bundle(BASELINE))
    entry = logged["verificationMaterial"]["tlogEntries"]

    def swap(obj: dict[str, Any]) -> None:
        obj["verificationMaterial"]["tlogEntries"] = entry

    reason = refused(check(edit(force.bundle(BASELINE), swap), alice))
    assert reason == "log entry does not match the bundle's envelope"


_RETIRED = "(valid 2025-01-01T00:00:00Z to 2026-01-01T00:00:00Z)"


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ("log_valid", f"transparency log key was not valid at 2026-06-01T12:01:00Z {_RETIRED}"),
        ("ct_valid", f"CT log key was not valid at 2026-06-01T12:00:01Z {_RETIRED}"),
        ("ca_valid", f"certificate authority was not valid at 2026-06-01T12:01:00Z {_RETIRED}"),
    ],
)
def test_a_key_retired_before_the_signing_does_not_count(
    force: TestRoot, tmp_path: Path, window: str, reason: str
) -> None:
    """sigstore ignores validFor.end when verifying; a key or CA the root retired must not count after."""
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    retired = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    path = force.trusted_root(tmp_path / "retired.json", **{window: retired})
    bundle = force.bundle(BASELINE)
    # The library alone accepts it ...
    Verifier(trusted_root=TrustedRoot.from_file(str(path))).verify_dsse(
        Bundle.from_json(bundle), policy.Identity(identity=ALICE, issuer=ISSUER)
    )
    # ... the dock does not.
    assert refused(check(bundle, SigstoreSigner("alice", ALICE, ISSUER, path))) == reason


#: A Rekor v2-style log id: not the SPKI hash of the log's key, so sigstore's key lookup by id misses.
V2_LOG_ID = hashlib.sha256(b"rekor.force.example\n\x02").digest()


def test_a_log_whose_id_is_not_its_key_hash_counts(force: TestRoot, tmp_path: Path) -> None:
    """Rekor v2 logs are named by a note key id, not the SPKI hash: the checkpoint check still finds the key."""
    path = force.trusted_root(tmp_path / "v2.json", log_id=V2_LOG_ID)
    bundle = force.bundle(BASELINE, log_id=V2_LOG_ID)
    assert check(bundle, SigstoreSigner("alice", ALICE, ISSUER, path)).signer == "alice"


def test_a_retired_log_key_signing_under_an_active_logs_name_does_not_count(force: TestRoot, tmp_path: Path) -> None:
    """sigstore tries every log key when the named log's id is not a key hash; the dock wants the named log's key."""
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    retired_key = ec.generate_private_key(ec.SECP256R1())
    retired = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    path = force.trusted_root(tmp_path / "two-logs.json", log_id=V2_LOG_ID, extra_logs=((retired_key, retired),))
    bundle = force.bundle(BASELINE, log_key=retired_key, log_id=V2_LOG_ID)
    Verifier(trusted_root=TrustedRoot.from_file(str(path))).verify_dsse(  # the library alone accepts it
        Bundle.from_json(bundle), policy.Identity(identity=ALICE, issuer=ISSUER)
    )
    reason = refused(check(bundle, SigstoreSigner("alice", ALICE, ISSUER, path)))
    assert reason == "log checkpoint is not signed by the key of the log the entry names"


def test_a_hostile_identity_is_shown_escaped(force: TestRoot, alice: SigstoreSigner) -> None:
    """A SAN with terminal escapes never reaches a fleet manager's terminal raw."""
    reason = refused(check(force.bundle(BASELINE, identity="mallory\x1b[2J@force.example"), alice))
    assert "\x1b" not in reason
    assert "mallory\\x1b[2J@force.example" in reason


# --- malformed and hostile bundles --------------------------------------------------------------------------------


def _set(path: list[Any], value: Any) -> Any:
    def change(obj: Any) -> None:
        for key in path[:-1]:
            obj = obj[key]
        if value is _DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value

    return change


_DELETE = object()
_VM = "verificationMaterial"
_ENTRY = [_VM, "tlogEntries", 0]

HOSTILE_EDITS = {
    "bundle v0.1": (
        _set(["mediaType"], "application/vnd.dev.sigstore.bundle+json;version=0.1"),
        "not a Sigstore bundle v0.3",
    ),
    "no media type": (_set(["mediaType"], _DELETE), "not a Sigstore bundle v0.3"),
    "no envelope": (_set(["dsseEnvelope"], _DELETE), "not a DSSE envelope"),
    "two signatures": (
        _set(["dsseEnvelope", "signatures"], [{"sig": "AAAA"}, {"sig": "AAAA"}]),
        "2 signatures, expected exactly one",
    ),
    "payload not base64": (_set(["dsseEnvelope", "payload"], "!!"), "bad base64"),
    "no log entry": (_set([_VM, "tlogEntries"], []), "exactly one log entry"),
    "two log entries": (
        lambda obj: obj[_VM]["tlogEntries"].append(obj[_VM]["tlogEntries"][0]),
        "exactly one log entry",
    ),
    "certificate garbage": (_set([_VM, "certificate", "rawBytes"], "AAAA"), "not a valid Sigstore bundle"),
    "no inclusion proof": (_set([*_ENTRY, "inclusionProof"], _DELETE), "needs logId.keyId and inclusionProof"),
    "no time source": (_set([*_ENTRY, "inclusionPromise"], _DELETE), "not a valid Sigstore bundle"),
    "checkpoint garbage": (
        _set([*_ENTRY, "inclusionProof", "checkpoint", "envelope"], "x\n\n— y AAAAAAAA\n"),
        "log checkpoint is malformed",
    ),
    "tree size zero": (_set([*_ENTRY, "inclusionProof", "treeSize"], "0"), "logIndex 5 must be less than treeSize 0"),
    "index past the tree": (
        _set([*_ENTRY, "inclusionProof", "logIndex"], "99"),
        "inclusionProof: Value error, logIndex 99 must be less than treeSize 7",
    ),
    "proof one hash short": (
        lambda obj: obj[_VM]["tlogEntries"][0]["inclusionProof"]["hashes"].pop(),
        "log inclusion proof does not verify",
    ),
    "integrated time huge": (_set([*_ENTRY, "integratedTime"], "99999999999999999"), "not"),
    "envelope is a list": (_set(["dsseEnvelope"], []), "not a JSON object"),
    # sigstore's parser takes snake_case names too; the dock reads the camelCase ones it also checks
    "snake_case material": (
        lambda obj: obj.update(verification_material=obj.pop(_VM)),
        "needs verificationMaterial.tlogEntries with exactly one log entry",
    ),
    "snake_case log id": (
        lambda obj: obj[_VM]["tlogEntries"][0].update(log_id=obj[_VM]["tlogEntries"][0].pop("logId")),
        "needs logId.keyId",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EDITS))
def test_a_malformed_bundle_is_refused_with_a_reason(force: TestRoot, alice: SigstoreSigner, name: str) -> None:
    change, expected = HOSTILE_EDITS[name]
    assert expected in refused(check(edit(force.bundle(BASELINE), change), alice))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "not a Sigstore bundle"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "expected a JSON object"),
        (b'{"mediaType": 1, "mediaType": 2}', "duplicate key"),
        (b"[" * 100_000, "not a Sigstore bundle"),
    ],
)
def test_bytes_that_are_no_bundle_are_refused(alice: SigstoreSigner, data: bytes, expected: str) -> None:
    assert expected in refused(check(data, alice))


def test_duplicate_keys_are_refused_before_sigstore_reads_them(force: TestRoot, alice: SigstoreSigner) -> None:
    """Two readings of one bundle (ours and pydantic's, which keeps the last key) must not exist."""
    good = force.bundle(BASELINE)
    doubled = good.replace(b'"mediaType":', b'"mediaType": "x", "mediaType":', 1)
    assert "duplicate key 'mediaType'" in refused(check(doubled, alice))


def test_a_bundle_larger_than_the_baseline_needs_is_refused(force: TestRoot, alice: SigstoreSigner) -> None:
    good = force.bundle(BASELINE)
    padded = good[:-1] + b" " * (bundle_limit(len(BASELINE)) - len(good) + 1) + b"}"
    assert "more than a bundle of this baseline can be" in refused(check(padded, alice))


def test_no_sigstore_signer_means_no_bundle_counts(force: TestRoot) -> None:
    assert refused(check(force.bundle(BASELINE))) == "the trust policy lists no Sigstore signer"


@pytest.fixture(scope="module")
def minted(force: TestRoot, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, SigstoreSigner]:
    """One valid bundle and its signer, shared by the property test's examples."""
    root = force.trusted_root(tmp_path_factory.mktemp("minted") / "trusted_root.json")
    return force.bundle(BASELINE), SigstoreSigner(id="alice", identity=ALICE, issuer=ISSUER, trusted_root=root)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_mutated_bundles_never_raise_and_never_count_for_other_content(
    minted: tuple[bytes, SigstoreSigner], data: st.DataObject
) -> None:
    """Any byte change: a BundleCheck comes back; if it still counts, it is still alice's signature of BASELINE."""
    good, alice = minted
    at = data.draw(st.integers(0, len(good) - 1))
    mutated = good[:at] + bytes([data.draw(st.integers(0, 255))]) + good[at + 1 :]
    result = check(mutated, alice)
    assert isinstance(result, BundleCheck)
    assert (result.signer is None) == (result.reason is not None)
    if result.signer is not None:
        found = envelope_from_bundle(mutated)
        assert found == (IN_TOTO, BASELINE)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside parsed JSON."""
    children: list[tuple[Any, Any]] = (
        list(obj.items()) if isinstance(obj, dict) else list(enumerate(obj)) if isinstance(obj, list) else []
    )
    return [prefix] + [p for key, value in children for p in _paths(value, (*prefix, key))]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_structurally_mutated_bundles_never_raise(minted: tuple[bytes, SigstoreSigner], data: st.DataObject) -> None:
    """Any one value of the bundle replaced by any JSON value (or removed): a BundleCheck, never an exception."""
    good, alice = minted
    obj = json.loads(good)
    path = data.draw(st.sampled_from(_paths(obj)[1:]))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(_JSON)
    result = check(json.dumps(obj).encode(), alice)
    assert isinstance(result, BundleCheck)
    assert (result.signer is None) == (result.reason is not None)
    if result.signer is not None:
        assert envelope_from_bundle(json.dumps(obj).encode()) == (IN_TOTO, BASELINE)


def test_an_unforeseen_failure_is_a_refusal_not_a_crash(
    force: TestRoot, alice: SigstoreSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_bundle's last line of defence: an exception no check foresaw still never counts."""
    import attest.trust.sigstore as mod

    def broken(*_: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(mod, "_claimed_times", broken)
    assert refused(check(force.bundle(BASELINE), alice)) == "bundle could not be checked: KeyError: 'surprise'"


# --- the pinned trusted root -------------------------------------------------------------------------------------


def test_an_unreadable_trusted_root_is_a_configuration_error(force: TestRoot, tmp_path: Path) -> None:
    signer = SigstoreSigner("alice", ALICE, ISSUER, tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="cannot read Sigstore trusted root"):
        check(force.bundle(BASELINE), signer)
    with pytest.raises(ConfigError, match="cannot read"):
        check_trusted_root(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("ctlogs"), "'ctlogs' must list at least one log"),
        (lambda d: d.update(tlogs=[]), "'tlogs' must list at least one log"),
        (lambda d: d.update(certificateAuthorities=[]), "'certificateAuthorities' must list at least one CA"),
        (lambda d: d.update(mediaType="x"), "not a usable Sigstore trusted root: mediaType"),
        (lambda d: d["tlogs"][0]["publicKey"]["validFor"].update(start="yesterday"), "not a usable"),
    ],
)
def test_a_malformed_trusted_root_is_a_configuration_error(
    force: TestRoot, tmp_path: Path, change: Any, expected: str
) -> None:
    path = force.trusted_root(tmp_path / "root.json")
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=expected):
        check_trusted_root(path)


def test_a_good_trusted_root_passes_the_load_check(root_file: Path) -> None:
    check_trusted_root(root_file)


def test_a_pinned_trusted_root_must_match_its_pin(force: TestRoot, root_file: Path) -> None:
    """A signed policy pins each root by digest; the bytes verification uses are the bytes checked."""
    pin = hashlib.sha256(root_file.read_bytes()).hexdigest()
    pinned = SigstoreSigner("alice", ALICE, ISSUER, root_file, trusted_root_sha256=pin)
    assert check(force.bundle(BASELINE), pinned).signer == "alice"
    root_file.write_text(root_file.read_text() + "\n")  # same meaning, other bytes: not the pinned root
    with pytest.raises(UntrustedBaselineError, match=f"does not match its pin .*pinned {pin}"):
        check(force.bundle(BASELINE), pinned)


def test_verification_makes_no_network_connection(
    force: TestRoot, alice: SigstoreSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline at the dock: no socket connects and no name is resolved while verifying (no TUF refresh)."""
    attempts: list[str] = []

    def deny(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:2]}")
            raise OSError(f"network disabled in this test: {name}")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", deny("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", deny("connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", deny("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", deny("create_connection"))
    assert check(force.bundle(BASELINE), alice).signer == "alice"
    if VECTORS.is_dir():
        bundle = (VECTORS / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
        payload = base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"])
        beacon = SigstoreSigner("beacon", BEACON, GH_ACTIONS, VECTORS / "staging_trusted_root.json")
        assert check(bundle, beacon, payload=payload).signer == "beacon"
    assert attempts == []
    with pytest.raises(OSError, match="network disabled"):  # the guard itself is in force
        socket.socket().connect(("127.0.0.1", 9))
    assert attempts == ["connect(('127.0.0.1', 9),)"]


def test_importing_the_module_does_not_import_sigstore() -> None:
    """An Ed25519-only dock never pays sigstore's import time (about 0.2 s)."""
    code = (
        "import sys, attest.trust, attest.trust.sigstore; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'sigstore', 'pydantic', 'requests', 'tuf'}); "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


# --- a baseline file that is itself a bundle; reading bundle files ------------------------------------------------


def test_a_bundle_yields_its_envelope_for_baseline_files(force: TestRoot, alice: SigstoreSigner) -> None:
    """`attest verify --baseline B.sigstore.json`: the payload comes from the bundle and counts through it."""
    bundle = force.bundle(BASELINE)
    found = envelope_from_bundle(bundle)
    assert found == (IN_TOTO, BASELINE)
    ptype, payload = found
    assert check_bundle(bundle, payload=payload, payload_type=ptype, signers=[alice]).signer == "alice"


def test_a_dsse_envelope_or_other_json_is_not_a_bundle() -> None:
    assert envelope_from_bundle((REPO / "baselines" / "companion.baseline.json").read_bytes()) is None
    assert envelope_from_bundle(b"not json") is None
    assert envelope_from_bundle(b'{"mediaType": "application/json"}') is None


def test_an_unusable_bundle_as_baseline_is_a_baseline_error(force: TestRoot) -> None:
    v1 = edit(force.bundle(BASELINE), _set(["mediaType"], "application/vnd.dev.sigstore.bundle+json;version=0.2"))
    with pytest.raises(BaselineError, match=r"b\.json: bundle media type .* is not a Sigstore bundle v0\.3"):
        envelope_from_bundle(v1, source="b.json")


def test_bundle_files_are_read_with_a_bound(tmp_path: Path) -> None:
    path = tmp_path / "b.sigstore.json"
    path.write_bytes(b" " * (bundle_limit(10) + 1))
    with pytest.raises(BaselineError, match="too large"):
        read_bundle_file(path, payload_size=10)
    path.write_bytes(b"{}")
    assert read_bundle_file(path, payload_size=10) == b"{}"


def test_sigstore_signing_refuses_a_payload_type_it_cannot_sign() -> None:
    """sigstore signs only in-toto Statements; the refusal comes before any network use."""
    with pytest.raises(ConfigError, match="signs only"):
        sign_with_sigstore(BASELINE, payload_type="application/octet-stream")


# --- real staging bundles (../shared/vectors/sigstore) -----------------------------------------------------------


@pytest.fixture
def staging_dsse() -> tuple[bytes, bytes]:
    bundle = (VECTORS / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    return bundle, base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"])


@needs_vectors
def test_a_real_staging_bundle_counts(staging_dsse: tuple[bytes, bytes]) -> None:
    """Rekor v2 (hashedrekord 0.0.2, Ed25519 checkpoint with witnesses) and an RFC 3161 timestamp."""
    bundle, payload = staging_dsse
    beacon = SigstoreSigner("beacon", BEACON, GH_ACTIONS, VECTORS / "staging_trusted_root.json")
    assert check(bundle, beacon, payload=payload) == BundleCheck("beacon", None)


@needs_vectors
def test_a_staging_bundle_under_a_production_pinned_policy_does_not_count(staging_dsse: tuple[bytes, bytes]) -> None:
    bundle, payload = staging_dsse
    beacon = SigstoreSigner("beacon", BEACON, GH_ACTIONS, _production_root())
    assert refused(check(bundle, beacon, payload=payload)) == "certificate not issued by the pinned root"


@needs_vectors
def test_a_real_staging_bundle_over_other_content_does_not_count(staging_dsse: tuple[bytes, bytes]) -> None:
    bundle, _ = staging_dsse
    beacon = SigstoreSigner("beacon", BEACON, GH_ACTIONS, VECTORS / "staging_trusted_root.json")
    assert refused(check(bundle, beacon)).startswith("payload differs from the baseline")


@needs_vectors
def test_a_real_staging_bundle_by_an_unlisted_identity_does_not_count(staging_dsse: tuple[bytes, bytes]) -> None:
    bundle, payload = staging_dsse
    other = SigstoreSigner("beacon", BEACON, "https://accounts.google.com", VECTORS / "staging_trusted_root.json")
    assert refused(check(bundle, other, payload=payload)) == (
        f"bundle signed by {BEACON} (issuer {GH_ACTIONS}), not a listed signer"
    )


@needs_vectors
@pytest.mark.parametrize("name", ["bundle_v3.txt.sigstore", "staging-rekor-v2.txt.sigstore.json"])
def test_real_message_signature_bundles_are_not_baseline_signatures(name: str) -> None:
    """A bundle over an artifact digest (hashedrekord) does not approve a baseline's DSSE payload."""
    bundle = (VECTORS / name).read_bytes()
    signer = SigstoreSigner(
        "x", "william@yossarian.net", "https://github.com/login/oauth", VECTORS / "staging_trusted_root.json"
    )
    assert refused(check(bundle, signer)) == "bundle signs a message digest, not a DSSE envelope over a baseline"
