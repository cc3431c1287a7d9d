"""The signed, versioned trust policy: documents, rotation, revocation, the dock's stored policy, Sigstore counting.

Real Ed25519 keys and real signatures throughout; Sigstore bundle verification
is the other module's (attest.trust.sigstore, tested there), so here
``check_bundle`` is replaced by a stand-in that reports which signer a bundle
is from, to test how bundles are *counted*.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, run_attest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attest.baseline import PAYLOAD_TYPE, Baseline
from attest.collectors.directory import DirectoryCollector
from attest.errors import ConfigError, UntrustedBaselineError
from attest.signing import Envelope, generate_key_files, key_id, load_private_key, load_public_key
from attest.trust import (
    BundleCheck,
    RollbackState,
    SigstoreSigner,
    TrustPolicy,
    TrustStore,
    UntrustedPolicyError,
    load_trust,
    make_document,
    read_document,
    trust_baseline,
    update_trust,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = ("a", "b", "c", "d")


# -- fixtures ---------------------------------------------------------------------------------------


@dataclass
class World:
    """Fleet keys a..d, a device tree, a state directory, and helpers to make drafts, documents and baselines."""

    dir: Path
    state: Path
    tree: Path

    def key(self, name: str) -> Path:
        return self.dir / "keys" / f"{name}.key"

    def pub(self, name: str) -> Path:
        return self.dir / "keys" / f"{name}.pub"

    def kid(self, name: str) -> str:
        return key_id(load_public_key(self.pub(name)))

    def draft(
        self,
        keys: Sequence[str],
        *,
        threshold: int = 1,
        policy_threshold: int | None = None,
        extra: str = "",
        name: str = "draft.toml",
    ) -> Path:
        lines = [f"threshold = {threshold}"]
        if policy_threshold is not None:
            lines.append(f"policy_threshold = {policy_threshold}")
        lines.append(extra)
        for k in keys:
            lines += ["[[keys]]", f'id = "{k}"', f'public_key = "keys/{k}.pub"']
        p = self.dir / name
        p.write_text("\n".join(lines) + "\n")
        return p

    def document(self, draft: Path, *, version: int, signers: Sequence[str], out: str | None = None) -> Path:
        target = self.dir / (out or f"policy-v{version}.json")
        doc = make_document(TrustPolicy.from_file(draft), version=version, out_dir=target.parent)
        for s in signers:
            doc = doc.signed_by(load_private_key(self.key(s)))
        target.write_bytes(doc.to_bytes())
        return target

    def baseline(
        self, *signers: str, version: int = 1, expires: datetime | None = None, name: str = "companion"
    ) -> bytes:
        ev = DirectoryCollector(str(self.tree)).collect({"selection": {"include": ["**"]}}, nonce="00")
        b = Baseline.from_evidence(
            ev,
            name=name,
            version=version,
            collection={"selection": {"include": ["**"], "exclude": []}},
            expires=expires,
            now=NOW - timedelta(days=2),
        )
        env = Envelope(b.to_payload(), PAYLOAD_TYPE)
        for s in signers:
            env = env.signed_by(load_private_key(self.key(s)))
        return env.to_bytes()

    def baseline_file(self, data: bytes, name: str = "baseline.json") -> Path:
        p = self.dir / name
        p.write_bytes(data)
        return p

    def attest(self, *args: str | os.PathLike[str]) -> Run:
        return run_attest(args, env={"ATTEST_STATE_DIR": str(self.state)})


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "keys").mkdir()
    for n in NAMES:
        generate_key_files(tmp_path / "keys" / f"{n}.key")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/app.conf").write_text("upload=false\n")
    return World(tmp_path, tmp_path / "state", tree)


def _load(world: World, path: Path, **kw: Any) -> TrustPolicy:
    return load_trust(path, world.state, now=kw.pop("now", NOW), warn=kw.pop("warn", lambda _m: None), **kw)


# -- the document -----------------------------------------------------------------------------------


def test_document_is_self_contained_canonical_and_keeps_every_field(world: World) -> None:
    """Keys are embedded (not paths), the payload is RFC 8785, and every draft field survives."""
    draft = world.draft(
        ["a", "b", "c"],
        threshold=2,
        policy_threshold=3,
        extra=f'expires = 2027-01-01T00:00:00Z\n[[revoked]]\nkey = "{world.kid("d")}"\nid = "d"\nreason = "lost"',
    )
    path = world.document(draft, version=4, signers=["a", "b", "c"])
    d = world.kid("d")
    for n in NAMES:
        world.pub(n).unlink()  # a signed document needs no key files
    doc = read_document(path.read_bytes(), source=str(path))
    p = doc.policy
    assert (doc.version, p.threshold, p.signing_threshold) == (4, 2, 3)
    assert [k.id for k in p.keys] == ["a", "b", "c"]
    assert p.expires == datetime(2027, 1, 1, tzinfo=UTC)
    assert [(r.key, r.reason, r.id) for r in p.revoked] == [(d, "lost", "d")]
    env = json.loads(path.read_bytes())
    assert env["payloadType"] == "application/vnd.drone-attest.trust-policy+json"
    payload = base64.b64decode(env["payload"])
    assert b"keys/" not in payload  # no file paths
    import rfc8785

    assert rfc8785.dumps(json.loads(payload)) == payload
    assert doc.policy.digest == doc.digest


def test_document_payload_must_be_canonical(world: World) -> None:
    path = world.document(world.draft(["a"]), version=1, signers=["a"])
    env = json.loads(path.read_bytes())
    obj = json.loads(base64.b64decode(env["payload"]))
    env["payload"] = base64.b64encode(json.dumps(obj, indent=1).encode()).decode()
    with pytest.raises(ConfigError, match="canonical"):
        read_document(json.dumps(env).encode(), source="x")


def test_signed_policy_needs_keys_that_can_sign_its_successor(world: World) -> None:
    (world.dir / "root.json").write_text("{}")
    extra = (
        '[[sigstore]]\nid = "alice"\nidentity = "alice@force.example"\n'
        'issuer = "https://accounts.google.com"\ntrusted_root = "root.json"'
    )
    draft = world.draft(["a"], threshold=2, extra=extra)
    TrustPolicy.from_file(draft)  # fine as a plain policy: a key and an identity make 2 signers
    with pytest.raises(ConfigError, match="policy_threshold"):
        make_document(TrustPolicy.from_file(draft), version=1, out_dir=world.dir)
    ok = world.draft(["a"], threshold=2, policy_threshold=1, extra=extra)
    assert make_document(TrustPolicy.from_file(ok), version=1, out_dir=world.dir).policy.signing_threshold == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[revoked]]\nkey = "{a}"\nreason = "stolen"', "both trusted and revoked"),
        ('[[revoked]]\nkey = "{a}"', "reason"),
        ('[[revoked]]\nkey = "ABC"\nreason = "x"', "64 lowercase hex"),
        ('[[revoked]]\nkey = "{a}"\nidentity = "x@y"\nreason = "x"', "exactly one"),
        ("policy_threshold = 3", "policy_threshold"),
        ('[[sigstore]]\nid = "a"\nidentity = "i"\nissuer = "https://x"\ntrusted_root = "root.json"', "listed twice"),
        ('[[sigstore]]\nid = "s"\nidentity = "i"\nissuer = "https://x"\ntrusted_root = "nope.json"', "cannot read"),
        ('[[sigstore]]\nid = "s"\nidentity = "i"\nissuer = "https://x"', "exactly"),
        ('expires = "tomorrow"', "expires"),
        ("expires = 2027-01-01T00:00:00", "time zone"),
    ],
)
def test_bad_drafts(world: World, extra: str, message: str) -> None:
    (world.dir / "root.json").write_text("{}")
    draft = world.draft(["a", "b"], extra=extra.replace("{a}", world.kid("a")))
    with pytest.raises(ConfigError, match=message):
        TrustPolicy.from_file(draft)


def test_revoked_identity_cannot_also_be_a_signer(world: World) -> None:
    (world.dir / "root.json").write_text("{}")
    extra = (
        '[[sigstore]]\nid = "bob"\nidentity = "bob@force.example"\nissuer = "https://x"\ntrusted_root = "root.json"\n'
        '[[revoked]]\nidentity = "bob@force.example"\nreason = "left"'
    )
    with pytest.raises(ConfigError, match="both trusted and revoked"):
        TrustPolicy.from_file(world.draft(["a"], extra=extra))


# -- rotation: self-signed, successor, rollback -----------------------------------------------------


def test_a_document_counts_only_with_its_own_threshold(world: World) -> None:
    draft = world.draft(["a", "b", "c"], threshold=2)
    path = world.document(draft, version=1, signers=["a", "d"])  # d is no key of this policy
    with pytest.raises(UntrustedPolicyError, match=r"signed by 1 of its own keys \(a\), 2 required.*b, c"):
        _load(world, path)
    assert not (world.state / TrustStore.FILE).exists()


def test_first_signed_policy_is_stored_and_wins_from_then_on(world: World) -> None:
    v1 = world.document(world.draft(["a", "b"], threshold=2), version=1, signers=["a", "b"])
    policy = _load(world, v1)
    assert policy.version == 1 and [k.id for k in policy.keys] == ["a", "b"]
    stored = world.state / TrustStore.FILE
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(world.state.stat().st_mode) == 0o700
    assert TrustStore(world.state).read() is not None
    # A plain TOML policy no longer decides on this dock: the stored signed one does.
    warnings: list[str] = []
    plain = world.draft(["c"], name="bench.toml")
    used = _load(world, plain, warn=warnings.append)
    assert used.version == 1 and [k.id for k in used.keys] == ["a", "b"]
    assert warnings and "accepted signed trust policy version 1" in warnings[0]


def test_plain_toml_warns_that_it_cannot_rotate(world: World) -> None:
    warnings: list[str] = []
    p = _load(world, world.draft(["a"]), warn=warnings.append)
    assert p.version is None and not p.rotates
    assert len(warnings) == 1 and "cannot rotate" in warnings[0]


def test_update_needs_the_current_threshold(world: World) -> None:
    update_trust(world.document(world.draft(["a", "b"], threshold=2), version=1, signers=["a", "b"]), world.state)
    v2 = world.document(world.draft(["a", "c"], threshold=2, name="v2.toml"), version=2, signers=["a", "c"])
    with pytest.raises(UntrustedPolicyError, match=r"1 key\(s\) of the current version 1 \(a\), 2 required.*: b"):
        update_trust(v2, world.state)
    doc = TrustStore(world.state).read()
    assert doc is not None and doc.version == 1  # nothing changed


def test_update_needs_the_new_threshold(world: World) -> None:
    update_trust(world.document(world.draft(["a", "b"], threshold=2), version=1, signers=["a", "b"]), world.state)
    v2 = world.document(world.draft(["c", "d"], threshold=2, name="v2.toml"), version=2, signers=["a", "b", "c"])
    with pytest.raises(UntrustedPolicyError, match=r"version 2 is signed by 1 of its own keys.*not yet signed by: d"):
        update_trust(v2, world.state)
    ok = world.document(world.draft(["c", "d"], threshold=2, name="v2.toml"), version=2, signers=["a", "b", "c", "d"])
    previous, doc = update_trust(ok, world.state)
    assert (previous, doc.version) == (1, 2)
    assert [k.id for k in _load(world, ok).keys] == ["c", "d"]


def test_policy_rollback_is_refused_by_update_and_by_trust(world: World) -> None:
    v1 = world.document(world.draft(["a"]), version=1, signers=["a"])
    update_trust(v1, world.state)
    v2 = world.document(world.draft(["a", "b"], name="v2.toml"), version=2, signers=["a", "b"])
    update_trust(v2, world.state)
    with pytest.raises(UntrustedPolicyError, match="version 1 is older than version 2 accepted"):
        update_trust(v1, world.state)
    with pytest.raises(UntrustedPolicyError, match="version 1 is older than version 2 accepted"):
        _load(world, v1)
    # Another document claiming version 2 (signed by the same keys) is no replacement either.
    other = world.document(world.draft(["b"], name="o.toml"), version=2, signers=["a", "b"], out="other.json")
    with pytest.raises(UntrustedPolicyError, match="version 2 differs from version 2 accepted"):
        _load(world, other)
    # A version may not be skipped: each is approved by the one before.
    v4 = world.document(world.draft(["a"], name="v4.toml"), version=4, signers=["a", "b"])
    with pytest.raises(UntrustedPolicyError, match="accept version 3 first"):
        update_trust(v4, world.state)


def test_next_version_through_trust_is_checked_and_stored(world: World) -> None:
    update_trust(world.document(world.draft(["a"]), version=1, signers=["a"]), world.state)
    v2 = world.document(world.draft(["b"], name="v2.toml"), version=2, signers=["a", "b"])
    assert _load(world, v2, accept=False).version == 2
    stored = TrustStore(world.state).read()
    assert stored is not None and stored.version == 1  # read-only loads (gate, config check) change nothing
    assert _load(world, v2).version == 2
    stored = TrustStore(world.state).read()
    assert stored is not None and stored.version == 2


def test_a_signer_removed_in_the_next_version_no_longer_counts(world: World) -> None:
    v1 = world.document(world.draft(["a", "b"], threshold=2), version=1, signers=["a", "b"])
    baseline = world.baseline("a", "b")
    trust_baseline(baseline, policy=_load(world, v1), state=RollbackState(world.state), now=NOW)
    v2 = world.document(world.draft(["a", "c"], threshold=2, name="v2.toml"), version=2, signers=["a", "b", "c"])
    policy = _load(world, v2)
    with pytest.raises(UntrustedBaselineError, match=r"1 valid signature.*1 signature\(s\) by keys this policy"):
        trust_baseline(baseline, policy=policy, state=RollbackState(world.state), now=NOW)
    # ... nor for the policy: b cannot help approve version 3.
    v3 = world.document(world.draft(["a", "b"], threshold=2, name="v3.toml"), version=3, signers=["a", "b"])
    with pytest.raises(UntrustedPolicyError, match=r"1 key\(s\) of the current version 2 \(a\)"):
        update_trust(v3, world.state)


def test_revoked_key_is_refused_with_its_reason_even_on_an_old_baseline(world: World) -> None:
    v1 = world.document(world.draft(["a", "b"]), version=1, signers=["a"])
    old = world.baseline("b", version=3)
    state = RollbackState(world.state)
    trust_baseline(old, policy=_load(world, v1), state=state, now=NOW)  # accepted once
    revoke = f'[[revoked]]\nkey = "{world.kid("b")}"\nid = "b"\nreason = "laptop stolen 2026-05-30"'
    v2 = world.document(world.draft(["a"], extra=revoke, name="v2.toml"), version=2, signers=["a"])
    with pytest.raises(UntrustedBaselineError, match=r"key b \(.*\) is revoked: laptop stolen 2026-05-30"):
        trust_baseline(old, policy=_load(world, v2), state=state, now=NOW)
    # A dock key that ever signed baselines may not sign results either.
    assert _load(world, v2).lists(load_public_key(world.pub("b")))


def test_expired_policy_trusts_nothing(world: World) -> None:
    draft = world.draft(["a"], extra="expires = 2026-05-01T00:00:00Z")
    with pytest.raises(UntrustedPolicyError, match="expired at 2026-05-01T00:00:00Z"):
        _load(world, world.document(draft, version=1, signers=["a"]))
    plain = world.draft(["a"], extra="expires = 2026-05-01T00:00:00Z", name="plain.toml")
    with pytest.raises(UntrustedPolicyError, match="expired"):
        _load(world, plain)
    policy = _load(world, plain, now=NOW - timedelta(days=60))
    with pytest.raises(UntrustedBaselineError, match=r"trust policy .* expired"):
        trust_baseline(world.baseline("a"), policy=policy, state=RollbackState(world.state), now=NOW)


def test_an_expired_stored_policy_can_still_approve_its_successor(world: World) -> None:
    """A dock is never stuck: version N past its expiry still approves N+1 (which must itself be alive)."""
    old = world.document(world.draft(["a"], extra="expires = 2026-05-01T00:00:00Z"), version=1, signers=["a"])
    _load(world, old, now=NOW - timedelta(days=60))
    with pytest.raises(UntrustedPolicyError, match="expired"):
        _load(world, old)
    dead = world.document(
        world.draft(["a"], extra="expires = 2026-05-15T00:00:00Z", name="v2.toml"), version=2, signers=["a"]
    )
    with pytest.raises(UntrustedPolicyError, match="expired"):
        update_trust(dead, world.state, now=NOW)
    v2 = world.document(world.draft(["a", "b"], name="v2.toml"), version=2, signers=["a", "b"], out="v2b.json")
    assert update_trust(v2, world.state, now=NOW)[0] == 1
    assert _load(world, v2).version == 2


def test_corrupt_stored_policy_fails_closed(world: World) -> None:
    _load(world, world.document(world.draft(["a"]), version=1, signers=["a"]))
    stored = world.state / TrustStore.FILE
    env = json.loads(stored.read_bytes())
    env["signatures"] = []
    stored.write_text(json.dumps(env))
    with pytest.raises(ConfigError, match="stored trust policy is corrupt"):
        _load(world, world.draft(["a"], name="plain.toml"))


# -- Sigstore signers -------------------------------------------------------------------------------

SIGSTORE = (
    '[[sigstore]]\nid = "{id}"\nidentity = "{identity}"\nissuer = "https://accounts.google.com"\n'
    'trusted_root = "trusted_root.json"\n'
)


def _sigstore_world(world: World, *signers: tuple[str, str], threshold: int = 2, extra: str = "") -> TrustPolicy:
    (world.dir / "trusted_root.json").write_text('{"mediaType": "test root"}')
    text = "".join(SIGSTORE.format(id=i, identity=ident) for i, ident in signers) + extra
    return TrustPolicy.from_file(world.draft(["a", "b"], threshold=threshold, policy_threshold=1, extra=text))


class FakeCheck:
    """Stands in for attest.trust.sigstore.check_bundle: a bundle is ``b"signer:<id>"`` or ``b"bad"``."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []

    def __call__(
        self, bundle: bytes, *, payload: bytes, payload_type: str, signers: Sequence[SigstoreSigner]
    ) -> BundleCheck:
        self.calls.append((bundle, payload_type))
        assert payload_type == PAYLOAD_TYPE and payload.startswith(b'{"_type"')
        name = bundle.decode().removeprefix("signer:")
        if bundle.startswith(b"signer:") and any(s.id == name for s in signers):
            return BundleCheck(signer=name, reason=None)
        return BundleCheck(signer=None, reason="certificate identity is not a signer of this policy")


@pytest.fixture
def fake_check(monkeypatch: pytest.MonkeyPatch) -> FakeCheck:
    fake = FakeCheck()
    monkeypatch.setattr("attest.trust.sigstore.check_bundle", fake)
    return fake


def test_sigstore_entries_parse_into_signers(world: World) -> None:
    policy = _sigstore_world(world, ("alice", "alice@force.example"))
    assert policy.sigstore == (
        SigstoreSigner(
            id="alice",
            identity="alice@force.example",
            issuer="https://accounts.google.com",
            trusted_root=world.dir / "trusted_root.json",
        ),
    )


def test_a_key_and_an_identity_are_two_signers(world: World, fake_check: FakeCheck) -> None:
    policy = _sigstore_world(world, ("alice", "alice@force.example"))
    t = trust_baseline(
        world.baseline("a"), policy=policy, state=RollbackState(world.state), now=NOW, bundles=[b"signer:alice"]
    )
    assert t.signers == ("a", "alice")
    assert len(fake_check.calls) == 1


def test_one_identity_counts_once(world: World, fake_check: FakeCheck) -> None:
    policy = _sigstore_world(world, ("alice", "alice@force.example"), ("carol", "carol@force.example"))
    with pytest.raises(UntrustedBaselineError, match=r"1 valid signature.*alice@force\.example signed more than once"):
        trust_baseline(
            world.baseline(),
            policy=policy,
            state=RollbackState(world.state),
            now=NOW,
            bundles=[b"signer:alice", b"signer:alice"],
        )
    t = trust_baseline(
        world.baseline(),
        policy=policy,
        state=RollbackState(world.state),
        now=NOW,
        bundles=[b"signer:alice", b"signer:carol"],
    )
    assert t.signers == ("alice", "carol")


def test_a_bundle_that_does_not_verify_says_why(world: World, fake_check: FakeCheck) -> None:
    policy = _sigstore_world(world, ("alice", "alice@force.example"))
    with pytest.raises(UntrustedBaselineError, match="bundle 1 does not count: certificate identity is not a signer"):
        trust_baseline(world.baseline("a"), policy=policy, state=RollbackState(world.state), now=NOW, bundles=[b"bad"])


def test_bundles_are_not_checked_without_sigstore_signers(world: World, fake_check: FakeCheck) -> None:
    policy = TrustPolicy.from_file(world.draft(["a"]))
    t = trust_baseline(
        world.baseline("a"), policy=policy, state=RollbackState(world.state), now=NOW, bundles=[b"signer:alice"]
    )
    assert t.signers == ("a",) and fake_check.calls == []


def bundle_naming(*identities: str) -> bytes:
    """Bundle-shaped JSON whose certificate names every one of ``identities`` (only its SANs are read: no signature)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(minutes=1))
        .not_valid_after(NOW + timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(i) for i in identities]), critical=True)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    return json.dumps({"verificationMaterial": {"certificate": {"rawBytes": raw}}}).encode()


def test_revoked_identity_is_refused_with_its_reason(world: World, fake_check: FakeCheck) -> None:
    revoke = '[[revoked]]\nidentity = "bob@force.example"\nreason = "left the company on 2026-05-31"'
    policy = _sigstore_world(world, ("alice", "alice@force.example"), threshold=1, extra=revoke)
    with pytest.raises(UntrustedBaselineError, match=r"identity bob@force\.example is revoked: left the company"):
        trust_baseline(
            world.baseline(),
            policy=policy,
            state=RollbackState(world.state),
            now=NOW,
            bundles=[bundle_naming("bob@force.example")],
        )
    assert fake_check.calls == []  # a revoked identity's bundle is never counted, whatever it proves


def test_signed_policy_pins_the_trusted_root_and_the_dock_keeps_a_copy(world: World) -> None:
    (world.dir / "trusted_root.json").write_text('{"mediaType": "test root"}')
    draft = TrustPolicy.from_file(world.draft(["a"], policy_threshold=1, extra=SIGSTORE.format(id="al", identity="x")))
    doc = make_document(draft, version=1, out_dir=world.dir).signed_by(load_private_key(world.key("a")))
    path = world.dir / "policy.json"
    path.write_bytes(doc.to_bytes())
    policy = _load(world, path)
    copy = policy.sigstore[0].trusted_root
    assert copy.parent == world.state / TrustStore.ROOTS and copy.read_bytes() == b'{"mediaType": "test root"}'
    # On another dock, a root that is not the pinned one is refused.
    (world.dir / "trusted_root.json").write_text('{"mediaType": "another root"}')
    with pytest.raises(UntrustedPolicyError, match="is not the one trust policy version 1 pins"):
        load_trust(path, world.dir / "other-state", now=NOW)


def test_the_sigstore_library_is_not_imported_for_a_key_only_policy(world: World) -> None:
    """A dock whose policy lists no Sigstore signer never loads the sigstore library, even given bundles."""
    draft = world.draft(["a"])
    data = world.baseline_file(world.baseline("a"))
    code = f"""
import sys
from pathlib import Path
from attest.trust import RollbackState, load_trust, trust_baseline
policy = load_trust(Path({str(draft)!r}), None, warn=lambda m: None)
trust_baseline(Path({str(data)!r}).read_bytes(), policy=policy, state=RollbackState(Path({str(world.state)!r})),
               bundles=[b"{{}}"])
assert not any(m == "sigstore" or m.startswith("sigstore.") for m in sys.modules), "sigstore imported"
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr


# -- the command line, and the attack matrix (each ends in exit 4 with a reason) ---------------------


def test_cli_lifecycle_init_sign_show_update_verify(world: World) -> None:
    draft = world.draft(["a", "b"], threshold=2)
    policy = world.dir / "policy.json"
    r = world.attest("trust", "init", draft, "--out", policy, "--key", world.key("a"))
    assert r.code == 0, r.err
    assert "version 1" in r.out and "1 of 2 required (NOT met); not yet signed by: b" in r.out
    r = world.attest("trust", "update", policy)
    assert r.code == 4 and "not yet signed by: b" in r.err
    r = world.attest("trust", "sign", policy, "--key", world.key("b"))
    assert r.code == 0 and "2 of 2 required (met)" in r.out, r.out
    shown = world.attest("trust", "show", policy, "--json")
    assert shown.code == 0, shown.err
    obj = shown.json()
    assert obj["format"] == "signed" and obj["version"] == 1 and obj["accepted_version"] is None
    assert obj["self_signed"] == {"required": 2, "valid": 2}
    assert [s["status"] for s in obj["signatures"]] == ["valid", "valid"]
    assert obj["keys"] == [{"id": "a", "keyid": world.kid("a")}, {"id": "b", "keyid": world.kid("b")}]
    r = world.attest("trust", "update", policy)
    assert r.code == 0 and "first" in r.out, r.err
    assert world.attest("trust", "update", policy).out.startswith("trust policy version 1 is already accepted")
    stored = world.attest("trust", "show", "--json").json()
    assert (
        stored["file"] is None and stored["accepted_version"] == 1 and stored["payload_sha256"] == obj["payload_sha256"]
    )
    text = world.attest("trust", "show")
    assert "signed document, version 1" in text.out and "this dock:   accepted version 1" in text.out
    baseline = world.baseline_file(world.baseline("a", "b"))
    v = world.attest("verify", "--device", world.tree, "--baseline", baseline, "--trust", policy, "--json")
    assert v.code == 0, v.err
    assert "warning" not in v.err  # a signed policy rotates: nothing to warn about
    shown_baseline = world.attest("baseline", "show", baseline, "--trust", policy, "--json")
    assert shown_baseline.json()["threshold"] == {"required": 2, "valid": 2}


def test_cli_usage_errors_are_exit_2(world: World) -> None:
    draft = world.draft(["a"])
    assert world.attest("trust", "update", draft).code == 2  # a plain TOML policy cannot be installed
    assert world.attest("trust", "sign", draft, "--key", world.key("a")).code == 2
    assert world.attest("trust", "show").code == 2  # nothing stored yet
    out = world.dir / "p.json"
    assert world.attest("trust", "init", draft, "--out", out).code == 0
    again = world.attest("trust", "init", draft, "--out", out)
    assert again.code == 2 and "already exists" in again.err


@dataclass
class Attack:
    """Set up an attack with the CLI; ``run`` is the command expected to refuse it."""

    name: str
    setup: Callable[[World], list[str | os.PathLike[str]]]
    reason: str


def _verify(world: World, baseline: bytes, trust: Path) -> list[str | os.PathLike[str]]:
    return ["verify", "--device", world.tree, "--baseline", world.baseline_file(baseline), "--trust", trust, "--json"]


def _v1(world: World, keys: Sequence[str] = ("a", "b"), threshold: int = 2) -> Path:
    path = world.document(world.draft(list(keys), threshold=threshold), version=1, signers=list(keys))
    assert world.attest("trust", "update", path).code == 0
    return path


def _baseline_rollback(world: World) -> list[str | os.PathLike[str]]:
    policy = _v1(world)
    assert world.attest(*_verify(world, world.baseline("a", "b", version=2), policy)).code == 0
    return _verify(world, world.baseline("a", "b", version=1), policy)


def _expired_baseline(world: World) -> list[str | os.PathLike[str]]:
    return _verify(world, world.baseline("a", "b", expires=datetime(2026, 1, 1, tzinfo=UTC)), _v1(world))


def _copied_signatures(world: World) -> list[str | os.PathLike[str]]:
    policy = _v1(world)
    donor = json.loads(world.baseline("a", "b", name="other"))
    target = json.loads(world.baseline())
    target["signatures"] = donor["signatures"]
    return _verify(world, json.dumps(target).encode(), policy)


def _one_key_twice(world: World) -> list[str | os.PathLike[str]]:
    policy = _v1(world)
    env = json.loads(world.baseline("a"))
    env["signatures"].append(dict(env["signatures"][0]))
    return _verify(world, json.dumps(env).encode(), policy)


def _revoked_key(world: World) -> list[str | os.PathLike[str]]:
    policy = _v1(world, threshold=1)
    old = world.baseline("b")
    assert world.attest(*_verify(world, old, policy)).code == 0
    revoke = f'[[revoked]]\nkey = "{world.kid("b")}"\nid = "b"\nreason = "key compromised 2026-05-30"'
    v2 = world.document(world.draft(["a"], extra=revoke, name="v2.toml"), version=2, signers=["a", "b"])
    assert world.attest("trust", "update", v2).code == 0
    return _verify(world, old, v2)


def _too_few_current(world: World) -> list[str | os.PathLike[str]]:
    _v1(world)
    return ["trust", "update", world.document(world.draft(["a", "c"], name="v2.toml"), version=2, signers=["a", "c"])]


def _too_few_new(world: World) -> list[str | os.PathLike[str]]:
    _v1(world)
    v2 = world.document(world.draft(["c", "d"], threshold=2, name="v2.toml"), version=2, signers=["a", "b", "c"])
    return ["trust", "update", v2]


def _policy_rollback_update(world: World) -> list[str | os.PathLike[str]]:
    v1 = _v1(world)
    v2 = world.document(world.draft(["a", "b"], threshold=2, name="v2.toml"), version=2, signers=["a", "b"])
    assert world.attest("trust", "update", v2).code == 0
    return ["trust", "update", v1]


def _policy_rollback_trust(world: World) -> list[str | os.PathLike[str]]:
    v1 = _v1(world)
    v2 = world.document(world.draft(["a", "b"], threshold=2, name="v2.toml"), version=2, signers=["a", "b"])
    assert world.attest("trust", "update", v2).code == 0
    return _verify(world, world.baseline("a", "b"), v1)


def _removed_signer(world: World) -> list[str | os.PathLike[str]]:
    policy = _v1(world)
    baseline = world.baseline("a", "b")
    assert world.attest(*_verify(world, baseline, policy)).code == 0
    v2 = world.document(world.draft(["a", "c"], threshold=2, name="v2.toml"), version=2, signers=["a", "b", "c"])
    assert world.attest("trust", "update", v2).code == 0
    return _verify(world, baseline, v2)


ATTACKS = [
    Attack("baseline rollback", _baseline_rollback, "version 1 is older than accepted version 2 (rollback)"),
    Attack("expired baseline", _expired_baseline, "baseline expired at 2026-01-01T00:00:00Z"),
    Attack("signatures copied from another baseline", _copied_signatures, "does not match this baseline"),
    Attack("one key signing twice", _one_key_twice, "a signed 2 times and counts once"),
    Attack("revoked key on an old baseline", _revoked_key, "is revoked: key compromised 2026-05-30"),
    Attack("policy update, too few current signers", _too_few_current, "of the current version 1 (a), 2 required"),
    Attack("policy update, too few new signers", _too_few_new, "not yet signed by: d"),
    Attack("policy rollback via trust update", _policy_rollback_update, "version 1 is older than version 2"),
    Attack("policy rollback via --trust", _policy_rollback_trust, "version 1 is older than version 2"),
    Attack("signer removed in N+1", _removed_signer, "by keys this policy does not list (never listed, or removed)"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_matrix(world: World, attack: Attack) -> None:
    r = world.attest(*attack.setup(world))
    assert r.code == 4, (r.out, r.err)
    said = r.json()["message"] if r.out.strip() else r.err
    assert attack.reason in said, said
    assert "Traceback" not in r.err


def test_documents_are_read_strictly(world: World) -> None:
    path = world.document(world.draft(["a"]), version=1, signers=["a"])
    text = path.read_text()
    path.write_text(text.replace('"payloadType"', '"payloadType": "x", "payloadType"', 1))
    with pytest.raises(ConfigError, match="duplicate"):
        load_trust(path, world.state)
    env = json.loads(text)
    env["payloadType"] = PAYLOAD_TYPE  # a baseline's type: never a policy
    path.write_text(json.dumps(env))
    with pytest.raises(ConfigError, match="payloadType"):
        load_trust(path, world.state)
