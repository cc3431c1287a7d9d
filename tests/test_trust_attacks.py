"""Attacks on the signed, rotating trust policy (issue 12 part 2) that once got through, each a regression test.

The attacker of each test is named in its docstring: write access to the dock's
disk except the state directory, the state directory too (said where needed),
one stolen manager key, an old copy of a policy, or a hostile document handed
to a fleet manager. Each test asserts the behaviour a fleet should get (a
refusal with a reason, the right exit code, no traceback); each failed on the
code before the fix. Keys, signatures and the CLI are real; only where the
bundle's *counting* is under test is Sigstore's verification stood in for (as in
tests/test_trust_policy.py).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from conftest import run_attest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_trust_policy import NAMES, NOW, World, bundle_naming

from attest.errors import BaselineError, ConfigError, UntrustedBaselineError
from attest.signing import Envelope, generate_key_files, load_private_key, raw_public_bytes
from attest.trust import (
    POLICY_PAYLOAD_TYPE,
    BundleCheck,
    RollbackState,
    SigstoreSigner,
    TrustPolicy,
    TrustStore,
    load_trust,
    read_document,
    trust_baseline,
    update_trust,
    verify_envelope,
)


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "keys").mkdir()
    for n in NAMES:
        generate_key_files(tmp_path / "keys" / f"{n}.key")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/app.conf").write_text("upload=false\n")
    return World(tmp_path, tmp_path / "state", tree)


def _payload(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(base64.b64decode(json.loads(path.read_bytes())["payload"]))
    return obj


def _signed(world: World, obj: dict[str, Any], *signers: str, extra: int = 0) -> bytes:
    """``obj`` as a policy document signed by ``signers`` (and ``extra`` junk signatures with no keyid)."""
    env = Envelope(rfc8785.dumps(obj), POLICY_PAYLOAD_TYPE)
    for s in signers:
        env = env.signed_by(load_private_key(world.key(s)))
    data = env.to_json()
    data["signatures"] += [{"keyid": "", "sig": base64.b64encode(b"\x01" * 64).decode()}] * extra
    return json.dumps(data).encode()


def _no_traceback(code: int, err: str, expected: int) -> None:
    assert "Traceback" not in err, err
    assert code == expected, err


# -- hostile drafts and documents: exit 2 with a reason, never a traceback (exit 1 would read as "drift") ----------


def test_draft_expiry_beyond_the_calendar_is_exit_2(world: World) -> None:
    """A TOML ``expires`` whose UTC form falls outside the calendar (year 1 at +01:00) crashed every reader."""
    draft = world.draft(["a"], extra="expires = 0001-01-01T00:00:00+01:00")
    with pytest.raises(ConfigError, match="out of range"):
        TrustPolicy.from_file(draft)
    baseline = world.baseline_file(world.baseline("a"))
    r = world.attest("verify", "--device", world.tree, "--baseline", baseline, "--trust", draft)
    _no_traceback(r.code, r.err, 2)
    r = world.attest("trust", "init", draft, "--out", world.dir / "p.json", "--key", world.key("a"))
    _no_traceback(r.code, r.err, 2)


def test_policy_version_beyond_json_integers_is_exit_2(world: World) -> None:
    """``trust init --version 2**53`` cannot be canonical JSON: a usage error, not an IntegerDomainError traceback."""
    r = world.attest("trust", "init", world.draft(["a"]), "--out", world.dir / "p.json", "--version", str(2**53))
    _no_traceback(r.code, r.err, 2)
    assert "version" in r.err


def test_lookalike_and_control_character_signer_ids_are_refused(world: World) -> None:
    """An id that prints like another ("alice" with a Cyrillic a) lets a drafter slip a key past the other signers."""
    for bad in ("\u0430lice", "alice\u200b", "a\\u001b[2K"):  # the last as a TOML escape: ESC [ 2 K
        text = f'threshold = 1\n[[keys]]\nid = "{bad}"\npublic_key = "keys/a.pub"\n'
        (world.dir / "bad.toml").write_text(text)
        with pytest.raises(ConfigError, match="id"):
            TrustPolicy.from_file(world.dir / "bad.toml")
    # The same in a signed document, reviewed with `trust show`.
    v1 = world.document(world.draft(["a", "b"]), version=1, signers=[])
    obj = _payload(v1)
    obj["keys"][1]["id"] = "\u0430"  # prints as "a"
    path = world.dir / "lookalike.json"
    path.write_bytes(_signed(world, obj, "a"))
    r = world.attest("trust", "show", path)
    _no_traceback(r.code, r.err, 2)
    # A Sigstore identity is an X.509 SAN (IA5String, ASCII): a non-ASCII one only ever deceives the reader.
    (world.dir / "root.json").write_text("{}")
    extra = (
        '[[sigstore]]\nid = "s"\nidentity = "\u0430lice@force.example"\nissuer = "https://x"\n'
        'trusted_root = "root.json"'
    )
    with pytest.raises(ConfigError, match="identity"):
        TrustPolicy.from_file(world.draft(["a"], extra=extra, name="s.toml"))


def test_a_signed_policy_lists_each_key_once(world: World) -> None:
    """One key under two ids made `trust show` say "2 of 3 keys" for a policy that cannot lose any key."""
    text = (
        "threshold = 2\n"
        '[[keys]]\nid = "a"\npublic_key = "keys/a.pub"\n'
        '[[keys]]\nid = "a-again"\npublic_key = "keys/a.pub"\n'
        '[[keys]]\nid = "b"\npublic_key = "keys/b.pub"\n'
    )
    (world.dir / "dup.toml").write_text(text)
    r = world.attest("trust", "init", world.dir / "dup.toml", "--out", world.dir / "p.json")
    _no_traceback(r.code, r.err, 2)
    assert "a-again" in r.err and "listed twice" in r.err
    obj = _payload(world.document(world.draft(["a", "b"]), version=1, signers=[]))
    obj["keys"].append({"id": "a-again", "public_key": obj["keys"][0]["public_key"]})
    with pytest.raises(ConfigError, match="listed twice"):
        read_document(_signed(world, obj, "a"), source="dup")


def test_policy_with_thousands_of_signatures_or_keys_is_refused_before_any_check(world: World) -> None:
    """A 1 MB document of junk signatures x keys kept `trust show`, `trust update` and the dock busy for hours."""
    obj = _payload(world.document(world.draft(["a"]), version=1, signers=[]))
    with pytest.raises(ConfigError, match="signatures"):
        read_document(_signed(world, obj, "a", extra=5000), source="many-signatures")
    many = [
        {"id": f"k{i}", "public_key": base64.b64encode(raw_public_bytes(Ed25519PrivateKey.generate().public_key()))}
        for i in range(300)
    ]
    obj["keys"] = [{**k, "public_key": k["public_key"].decode()} for k in many]
    with pytest.raises(ConfigError, match="keys"):
        read_document(_signed(world, obj, "a"), source="many-keys")


def test_baseline_with_thousands_of_signatures_is_refused_before_counting(world: World) -> None:
    """Each keyless junk signature was tried against every key: a 256 MB baseline could stall the dock for hours."""
    env = json.loads(world.baseline("a"))
    env["signatures"] += [{"keyid": "", "sig": base64.b64encode(b"\x01" * 64).decode()}] * 5000
    policy = TrustPolicy.from_file(world.draft(["a", "b"]))
    with pytest.raises(BaselineError, match="signatures"):
        verify_envelope(json.dumps(env).encode(), policy, source="many")


# -- `trust show` tells the truth about signatures --------------------------------------------------------------


def test_trust_show_judges_each_signature_not_its_keyid_hint(world: World) -> None:
    """A junk signature carrying a's keyid was shown "valid (key a)", and b's real one without a keyid "unknown"."""
    path = world.document(world.draft(["a", "b"], threshold=2), version=1, signers=["a", "b"])
    env = json.loads(path.read_bytes())
    a_sig, b_sig = env["signatures"]
    junk = {"keyid": a_sig["keyid"], "sig": base64.b64encode(b"\x02" * 64).decode()}
    env["signatures"] = [a_sig, junk, {"keyid": "", "sig": b_sig["sig"]}]
    path.write_text(json.dumps(env))
    obj = world.attest("trust", "show", path, "--json").json()
    assert [(s["status"], s["key"]) for s in obj["signatures"]] == [("valid", "a"), ("invalid", "a"), ("valid", "b")]
    assert obj["self_signed"] == {"required": 2, "valid": 2}


# -- the stored policy: never followed elsewhere, never a hang, never a silent reset -----------------------------


def test_unreadable_state_directory_is_exit_2_not_a_traceback(world: World) -> None:
    """A state directory that cannot be looked into (EACCES for a non-root user; here ENAMETOOLONG) crashed verify."""
    baseline = world.baseline_file(world.baseline("a"))
    state = world.dir / ("x" * 300)
    r = world.attest(
        "verify", "--device", world.tree, "--baseline", baseline, "--trust", world.draft(["a"]), "--state-dir", state
    )
    _no_traceback(r.code, r.err, 2)
    r = world.attest("trust", "show", "--state-dir", state)
    _no_traceback(r.code, r.err, 2)


def test_symlinked_stored_policy_is_refused_not_followed(world: World) -> None:
    """(Needs the state directory.) A stored policy linked to an old copy elsewhere silently rolled the dock back."""
    v1 = world.document(world.draft(["a"]), version=1, signers=["a"])
    update_trust(v1, world.state)
    stored = world.state / TrustStore.FILE
    old_copy = world.dir / "old-stored.json"
    old_copy.write_bytes(stored.read_bytes())
    v2 = world.document(world.draft(["b"], name="v2.toml"), version=2, signers=["a", "b"])
    update_trust(v2, world.state)
    stored.unlink()
    stored.symlink_to(old_copy)
    with pytest.raises(ConfigError, match="symbolic link"):
        load_trust(world.draft(["c"], name="plain.toml"), world.state, now=NOW, warn=lambda _m: None)
    r = world.attest("trust", "update", v1)
    _no_traceback(r.code, r.err, 2)


def test_stored_policy_that_is_a_fifo_does_not_hang_the_dock(world: World) -> None:
    """(Needs the state directory.) Opening a FIFO blocks for ever: every verify and gate check hung."""
    world.state.mkdir()
    os.mkfifo(world.state / TrustStore.FILE)
    # A hang ends in subprocess.TimeoutExpired (a failure), not in a stuck test run.
    r = run_attest(["trust", "show"], env={"ATTEST_STATE_DIR": str(world.state)}, timeout=60)
    _no_traceback(r.code, r.err, 2)
    assert "not a regular file" in r.err


def test_symlinked_lock_is_refused(world: World) -> None:
    """(Needs the state directory.) The lock was opened through a symlink, creating or locking any file it names."""
    world.state.mkdir()
    target = world.dir / "elsewhere"
    (world.state / TrustStore.LOCK).symlink_to(target)
    r = world.attest("trust", "update", world.document(world.draft(["a"]), version=1, signers=["a"]))
    _no_traceback(r.code, r.err, 2)
    assert not target.exists()


def test_trust_show_checks_the_stored_trusted_roots(world: World) -> None:
    """(Needs the state directory.) `trust show` called a store fine whose pinned root copy was swapped."""
    (world.dir / "trusted_root.json").write_text('{"mediaType": "test root"}')
    extra = (
        '[[sigstore]]\nid = "al"\nidentity = "al@force.example"\nissuer = "https://accounts.google.com"\n'
        'trusted_root = "trusted_root.json"\n'
    )
    path = world.document(world.draft(["a"], policy_threshold=1, extra=extra), version=1, signers=["a"])
    update_trust(path, world.state)
    (copy,) = (world.state / TrustStore.ROOTS).iterdir()
    copy.write_text('{"mediaType": "another root"}')
    r = world.attest("trust", "show")
    _no_traceback(r.code, r.err, 2)
    assert "corrupt" in r.err


# -- revocation ---------------------------------------------------------------------------------------------------


def test_certificate_naming_a_revoked_identity_second_does_not_count(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate for alice *and* the revoked eve counted for alice: only its first name was checked."""

    def accepts_for_alice(
        bundle: bytes, *, payload: bytes, payload_type: str, signers: Any
    ) -> BundleCheck:  # what check_bundle returns for such a certificate: alice is among its names
        del bundle, payload, payload_type
        assert any(isinstance(s, SigstoreSigner) and s.id == "alice" for s in signers)
        return BundleCheck(signer="alice", reason=None)

    monkeypatch.setattr("attest.trust.sigstore.check_bundle", accepts_for_alice)
    (world.dir / "trusted_root.json").write_text("{}")
    extra = (
        '[[sigstore]]\nid = "alice"\nidentity = "alice@force.example"\nissuer = "https://accounts.google.com"\n'
        'trusted_root = "trusted_root.json"\n'
        '[[revoked]]\nidentity = "eve@force.example"\nreason = "left the company 2026-05-31"\n'
    )
    policy = TrustPolicy.from_file(world.draft(["a"], threshold=2, policy_threshold=1, extra=extra))
    bundle = bundle_naming("alice@force.example", "eve@force.example")
    with pytest.raises(UntrustedBaselineError, match=r"eve@force\.example is revoked: left the company"):
        trust_baseline(world.baseline("a"), policy=policy, state=RollbackState(world.state), now=NOW, bundles=[bundle])
