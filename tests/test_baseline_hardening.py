"""Issue 9, baselines and trust: what reviewers sign is what verify reads, and hostile input ends well.

* degenerate Ed25519 keys never count toward a threshold;
* every JSON read from outside is strict (no duplicate keys, huge integers, NaN, deep nesting,
  non-UTF-8) and a signed payload is RFC 8785 canonical;
* ``baseline show`` prints every field that changes what is measured or compared, escaped;
* baseline names are a safe ASCII set; identity facts compare as exact text; ranges are finite;
* a hostile baseline is ``untrusted`` (exit 4) and logged; a corrupt rollback state is exit 2.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from conftest import Fleet, Run, make_fleet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.baseline import PAYLOAD_TYPE, Baseline, name_problem
from attest.errors import BaselineError, ConfigError, UntrustedBaselineError
from attest.rules import Rule
from attest.signing import Envelope, Signature, key_id, load_private_key, load_public_key, raw_public_bytes
from attest.trust import RollbackState, TrustedKey, TrustPolicy, trust_baseline

IDENTITY_POINT = bytes([1]) + bytes(31)
_P = 2**255 - 19


def _pem(raw: bytes) -> bytes:
    der = bytes.fromhex("302a300506032b6570032100") + raw  # SubjectPublicKeyInfo, id-Ed25519
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END PUBLIC KEY-----\n"


def _base_point() -> bytes:
    """The Ed25519 base point B: y = 4/5, x even (RFC 8032)."""
    return (4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little")


def _forge_identity_signature() -> bytes:
    """A signature of ANY message under the identity key, made with no secret: R = B, S = 1."""
    return _base_point() + (1).to_bytes(32, "little")


# -- the device, the fleet and a real statement, made once with the real CLI ------------------------


def _tree(root: Path) -> Path:
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/px4").write_bytes(bytes(range(256)) * 64)
    (root / "etc").mkdir()
    (root / "etc/app.conf").write_text("upload=false\n")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/boot.log").write_text("noise")
    return root


def _create(attest: Callable[..., Run], device: Path, out: Path, *extra: str, name: str = "companion") -> Run:
    return attest(
        "baseline", "create", "--device", device, "--name", name, "--version", "1", "--out", out, "--force", *extra
    )


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    return _tree(tmp_path / "golden")


@pytest.fixture
def statement(attest: Callable[..., Run], golden: Path, tmp_path: Path) -> dict[str, Any]:
    r = _create(attest, golden, tmp_path / "unsigned.json", "--exclude", "var/log/**")
    assert r.code == 0, r.err
    obj: dict[str, Any] = json.loads((tmp_path / "unsigned.json").read_text())
    return obj


def _signed(payload: bytes, fleet: Fleet) -> bytes:
    env = Envelope(payload, PAYLOAD_TYPE)
    for k in fleet.keys:
        env = env.signed_by(load_private_key(k))
    return env.to_bytes(indent=2)


def _canonical(statement: dict[str, Any]) -> bytes:
    return bytes(rfc8785.dumps(statement))


# -- item 4: degenerate Ed25519 keys ------------------------------------------------------------------


def test_forged_signature_under_the_identity_key_does_not_lower_the_threshold(tmp_path: Path) -> None:
    """Threshold 2, one real signer and a forgery under a listed identity-point key: NOT trusted."""
    real = Ed25519PrivateKey.generate()
    identity = Ed25519PublicKey.from_public_bytes(IDENTITY_POINT)
    policy = TrustPolicy(threshold=2, keys=(TrustedKey("real", real.public_key()), TrustedKey("zero", identity)))
    stmt = _minimal_statement()
    env = Envelope(_canonical(stmt), PAYLOAD_TYPE).signed_by(real)
    forged = Envelope(
        env.payload, env.payload_type, (*env.signatures, Signature(key_id(identity), _forge_identity_signature()))
    )
    with pytest.raises(UntrustedBaselineError, match="1 valid signature"):
        trust_baseline(forged.to_bytes(), policy=policy, state=RollbackState(tmp_path / "s"))
    # ... and a policy file cannot list such a key in the first place.
    real_pub = tmp_path / "real.pub"
    real_pub.write_bytes(_pem(raw_public_bytes(real.public_key())))
    (tmp_path / "zero.pub").write_bytes(_pem(IDENTITY_POINT))
    (tmp_path / "trust.toml").write_text(
        "threshold = 2\n[[keys]]\nid = 'real'\npublic_key = 'real.pub'\n"
        "[[keys]]\nid = 'zero'\npublic_key = 'zero.pub'\n"
    )
    with pytest.raises(ConfigError, match=r"key 'zero'.*not a valid Ed25519 public key"):
        TrustPolicy.from_file(tmp_path / "trust.toml")


def _minimal_statement(name: str = "companion") -> dict[str, Any]:
    digest = "ab" * 32
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "f", "digest": {"sha256": digest}}],
        "predicateType": "https://drone-attest.dev/baseline/v1",
        "predicate": {
            "name": name,
            "version": 1,
            "created": "2026-01-01T00:00:00Z",
            "expires": None,
            "device": {"kind": "directory", "match": {}},
            "collection": {"selection": {"include": ["**"], "exclude": []}},
            "compare": {"owner": True},
            "components": {"f": {"kind": "file", "method": "dock-read", "digest": {"sha256": digest}}},
            "rules": {},
        },
    }


def test_a_policy_with_the_identity_key_is_exit_2_at_verify(
    attest: Callable[..., Run], fleet: Fleet, golden: Path
) -> None:
    (fleet.dir / "zero.pub").write_bytes(_pem(IDENTITY_POINT))
    with fleet.trust.open("a") as f:
        f.write("[[keys]]\nid = 'zero'\npublic_key = 'zero.pub'\n")
    r = attest("verify", "--device", golden, "--baseline", fleet.dir / "none.json", "--trust", fleet.trust)
    assert r.code == 2, r.err
    assert "not a valid Ed25519 public key" in r.err and len(r.err.splitlines()) == 1


def test_policy_lists_compares_raw_keys(tmp_path: Path) -> None:
    """The dock-key check (item 16): a key the policy lists, under any id, is recognised."""
    fleet = make_fleet(tmp_path / "f", n=2)
    policy = TrustPolicy.from_file(fleet.trust)
    assert policy.lists(load_public_key(fleet.dir / "fleet2.pub"))
    assert policy.lists(load_private_key(fleet.keys[0]).public_key())
    assert not policy.lists(Ed25519PrivateKey.generate().public_key())


def test_deeply_nested_trust_policy_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "trust.toml"
    p.write_text("threshold = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        TrustPolicy.from_file(p)


# -- item 5: strict, canonical payloads -------------------------------------------------------------


def test_a_signed_payload_must_be_canonical() -> None:
    stmt = _minimal_statement()
    assert Baseline.from_payload(_canonical(stmt)).name == "companion"
    for variant in (json.dumps(stmt).encode(), json.dumps(stmt, indent=2).encode(), _canonical(stmt) + b"\n"):
        with pytest.raises(BaselineError, match="canonical"):
            Baseline.from_payload(variant)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b.replace(b'"version":1', b'"version":1,"version":9'), "duplicate key"),
        (lambda b: b.replace(b'"version":1', b'"version":' + b"9" * 5000), "exact range"),
        (lambda b: b.replace(b'"version":1', b'"version":1,"x":' + b"[" * 200 + b"]" * 200), "nested deeper"),
        (lambda b: b.replace(b'"rules":{}', b'"rules":{"X":{"min":NaN}}'), "NaN"),
        (lambda b: b.replace(b'"rules":{}', b'"rules":{"X":{"min":1e999}}'), "not finite"),
        (lambda b: b.replace(b"companion", b"compan\xffion"), "not UTF-8"),
    ],
)
def test_hostile_payloads_are_baseline_errors(edit: Callable[[bytes], bytes], message: str) -> None:
    data = edit(_canonical(_minimal_statement()))
    with pytest.raises(BaselineError, match=message):
        Baseline.from_payload(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_payload_parser_raises_only_baseline_errors(data: bytes) -> None:
    try:
        Baseline.from_payload(data)
    except BaselineError:
        pass


def test_envelope_with_duplicate_payload_is_refused() -> None:
    """json.loads keeps the last 'payload'; another reader may keep the first. Refuse both readings."""
    text = '{"payload": "e30=", "payloadType": "t", "signatures": [], "payload": "e31="}'
    with pytest.raises(BaselineError, match="duplicate key 'payload'"):
        Envelope.from_bytes(text.encode())


# -- item 14: baseline names ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["companion", "demo-fc", "a", "A1.b_c-d", "9", "x" * 64])
def test_allowed_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "companion\u200b",  # zero-width space: prints like "companion"
        "c\u043empanion",  # Cyrillic o
        "comp anion",
        "-x",
        ".hidden",
        "_x",
        "x" * 65,
        "a/b",
        "a\x1b[2Jb",
        "caf\u00e9",
    ],
)
def test_refused_names(name: str) -> None:
    assert name_problem(name) is not None
    with pytest.raises(BaselineError, match="not allowed"):
        Baseline.from_payload(_canonical(_minimal_statement(name)))


def test_lookalike_name_cannot_escape_the_rollback_floor(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], golden: Path, tmp_path: Path
) -> None:
    """'companion' is at version 5; a signed 'companion\\u200b' v1 must not pass as a new baseline."""
    v5 = json.loads(json.dumps(statement))
    v5["predicate"]["version"] = 5
    (tmp_path / "v5.json").write_bytes(_signed(_canonical(v5), fleet))
    args = ("--device", golden, "--trust", fleet.trust, "--json")
    assert attest("verify", "--baseline", tmp_path / "v5.json", *args).code == 0
    lookalike = json.loads(json.dumps(statement))
    lookalike["predicate"]["name"] = "companion\u200b"
    (tmp_path / "v1.json").write_bytes(_signed(_canonical(lookalike), fleet))
    r = attest("verify", "--baseline", tmp_path / "v1.json", *args)
    assert r.code == 4, r.out
    assert "not allowed" in r.json()["message"]


@pytest.mark.parametrize("name", ["companion\u200b", "comp anion", "-x", "x" * 65, ""])
def test_create_refuses_bad_names_with_exit_2(
    attest: Callable[..., Run], golden: Path, tmp_path: Path, name: str
) -> None:
    r = _create(attest, golden, tmp_path / "out.json", name=name)
    assert r.code == 2, r.err
    assert "Traceback" not in r.err
    assert not (tmp_path / "out.json").exists()


# -- item 15: rules -----------------------------------------------------------------------------------


def test_identity_facts_compare_as_exact_text() -> None:
    rule = Rule.parse("identity/git_hash=12345678")
    assert rule.holds("12345678") and rule.holds(12345678)
    assert not rule.holds(12345690)  # within 1e-6 relative: a number rule would have held
    assert not rule.holds(12345678.0) and not rule.holds("012345678")
    allowed = Rule.parse("identity/board_id=140|141")
    assert allowed.holds(140) and allowed.holds("141") and not allowed.holds(140.0000001)
    assert Rule.from_json(rule.name, rule.to_json()) == rule
    assert rule.to_json() == {"equals": "12345678"}


@pytest.mark.parametrize("spec", ["identity/board_id=1..200", "identity/board_id=..200"])
def test_identity_facts_have_no_ranges(spec: str) -> None:
    with pytest.raises(ConfigError, match="exact text"):
        Rule.parse(spec)


@pytest.mark.parametrize(
    "data", [{"min": 1, "max": 200}, {"max": 200}, {"equals": 140.0}, {"allowed": ["a", 1.5]}, {"equals": True}]
)
def test_stored_identity_rules_must_be_exact_text(data: object) -> None:
    with pytest.raises(BaselineError):
        Rule.from_json("identity/board_id", data)


def test_open_ranges_reject_infinities() -> None:
    assert not Rule.parse("X=10.5..").holds(float("inf"))
    assert not Rule.parse("X=..5").holds(float("-inf"))
    assert not Rule.parse("X=1..2").holds(float("nan"))
    assert Rule.parse("X=10.5..").holds(1e300)


@pytest.mark.parametrize(
    "spec", ["X=nan..5", "X=..nan", "X=NaN..", "X=inf..", "X=..inf", "X=-inf..0", "X=..1e999", "X=5..1"]
)
def test_non_finite_or_empty_ranges_are_refused_at_create(spec: str) -> None:
    with pytest.raises(ConfigError):
        Rule.parse(spec)


def test_empty_stored_range_is_refused() -> None:
    with pytest.raises(BaselineError, match="empty"):
        Rule.from_json("X", {"min": 5, "max": 1})


def test_create_with_a_nan_bound_is_exit_2(attest: Callable[..., Run], golden: Path, tmp_path: Path) -> None:
    r = _create(attest, golden, tmp_path / "out.json", "--rule", "param/X=nan..5")
    assert r.code == 2, r.err
    assert "finite" in r.err and not (tmp_path / "out.json").exists()


# -- item 6: hostile baselines end in exit 4, logged ------------------------------------------------

_ENV_HEAD = b'{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": [], '


def _hostile(kind: str, statement: dict[str, Any], fleet: Fleet) -> bytes:  # noqa: PLR0911 (one per kind)
    """One hostile baseline file; those marked (signed) carry the fleet's valid signatures."""
    canonical = _canonical(statement)
    if kind == "huge-int":
        return _ENV_HEAD + b'"n": ' + b"1" * 5000 + b"}"
    if kind == "deep-nesting":
        return _ENV_HEAD + b'"n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    if kind == "nan":
        return _ENV_HEAD + b'"n": NaN}'
    if kind == "non-utf8":
        return b'{"payload": "e30=", "payloadType": "\xff", "signatures": []}'
    if kind == "duplicate-payload":  # (signed) the signed payload last, an evil one first
        env = json.loads(_signed(canonical, fleet))
        evil = base64.b64encode(canonical.replace(b'"owner":true', b'"owner":false')).decode()
        return (
            f'{{"payload": "{evil}", "payloadType": "{PAYLOAD_TYPE}", '
            f'"signatures": {json.dumps(env["signatures"])}, "payload": "{env["payload"]}"}}'
        ).encode()
    if kind == "non-canonical-payload":  # (signed)
        return _signed(json.dumps(statement, indent=2).encode(), fleet)
    if kind == "duplicate-key-in-payload":  # (signed)
        return _signed(
            canonical.replace(b'"compare":{"owner":true}', b'"compare":{"owner":false},"compare":{"owner":true}'), fleet
        )
    if kind == "huge-version":  # (signed)
        return _signed(canonical.replace(b'"version":1', b'"version":' + b"9" * 30), fleet)
    if kind == "lookalike-name":  # (signed)
        return _signed(canonical.replace(b'"name":"companion"', '"name":"companion\u200b"'.encode()), fleet)
    if kind == "identity-range-rule":  # (signed)
        return _signed(canonical.replace(b'"rules":{}', b'"rules":{"identity/git_hash":{"max":2,"min":1}}'), fleet)
    raise AssertionError(kind)


HOSTILE = [
    "huge-int",
    "deep-nesting",
    "nan",
    "non-utf8",
    "duplicate-payload",
    "non-canonical-payload",
    "duplicate-key-in-payload",
    "huge-version",
    "lookalike-name",
    "identity-range-rule",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_baseline_is_untrusted_and_logged(
    *, attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], golden: Path, tmp_path: Path, kind: str
) -> None:
    bad = tmp_path / "hostile.json"
    bad.write_bytes(_hostile(kind, statement, fleet))
    assert attest("key", "generate", "--out", tmp_path / "dock.key").code == 0
    log = tmp_path / "log"
    r = attest(
        "verify", "--device", golden, "--baseline", bad, "--trust", fleet.trust, "--json",
        "--dock-key", tmp_path / "dock.key", "--log", log,
    )  # fmt: skip
    assert r.code == 4, (r.code, r.out, r.err)
    assert "Traceback" not in r.err
    obj = r.json()
    assert obj["verdict"] == "untrusted" and obj["log_index"] == 0
    rows = json.loads(attest("log", "show", "--log", log, "--json").out)
    assert [(row["index"], row["verdict"]) for row in rows] == [(0, "untrusted")]

    before = bad.read_bytes()
    for args in (("baseline", "show", bad), ("baseline", "sign", bad, "--key", fleet.keys[0])):
        shown = attest(*args)
        assert shown.code == 4, (args, shown.out, shown.err)
        assert shown.out == "" and len(shown.err.splitlines()) == 1 and "Traceback" not in shown.err
    assert bad.read_bytes() == before


def test_the_untampered_statement_passes(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], golden: Path, tmp_path: Path
) -> None:
    """The hostile cases fail for their defect, not for the set-up."""
    good = tmp_path / "good.json"
    good.write_bytes(_signed(_canonical(statement), fleet))
    r = attest("verify", "--device", golden, "--baseline", good, "--trust", fleet.trust, "--json")
    assert r.code == 0, r.out + r.err


# -- rollback state -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"companion": 5, "companion": 1}',  # json.loads keeps the last: the floor would drop to 1
        b'{"companion": ' + b"9" * 5000 + b"}",
        b'{"companion": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"companion": NaN}',
        b'{"companion": -3}',
        b'{"companion": 0}',
        b'{"companion": true}',
        b'{"comp\xffanion": 5}',
        b"[]",
    ],
)
def test_corrupt_rollback_state_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    state = RollbackState(tmp_path / "s")
    (tmp_path / "s" / RollbackState.FILE).write_bytes(content)
    with pytest.raises(ConfigError, match="corrupt"):
        state.check_and_accept("companion", 1)


def test_oversized_rollback_state_is_a_config_error(tmp_path: Path) -> None:
    state = RollbackState(tmp_path / "s")
    with (tmp_path / "s" / RollbackState.FILE).open("wb") as f:
        f.truncate(RollbackState.MAX_BYTES + 1)
    with pytest.raises(ConfigError, match="larger than"):
        state.check_and_accept("companion", 1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100) | st.text(max_size=100).map(str.encode))
def test_rollback_state_reader_raises_only_config_errors(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    d = tmp_path_factory.mktemp("state")
    state = RollbackState(d)
    (d / RollbackState.FILE).write_bytes(data)
    try:
        state.highest("companion")
    except ConfigError:
        pass


def test_corrupt_rollback_state_is_exit_2_through_the_cli(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], golden: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(_signed(_canonical(statement), fleet))
    state = tmp_path / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    (state / RollbackState.FILE).write_bytes(b'{"companion": ' + b"9" * 5000 + b"}")
    r = attest("verify", "--device", golden, "--baseline", good, "--trust", fleet.trust, "--json")
    assert r.code == 2, (r.out, r.err)
    errors = [line for line in r.err.splitlines() if not line.startswith("attest: warning:")]  # plain TOML policy
    assert r.out == "" and len(errors) == 1 and "corrupt" in r.err


# -- item 5: baseline show shows what is signed ------------------------------------------------------


def test_show_prints_every_field_that_changes_what_is_compared(
    attest: Callable[..., Run], fleet: Fleet, golden: Path, tmp_path: Path
) -> None:
    unsigned = tmp_path / "b.json"
    r = _create(
        attest, golden, unsigned, "--exclude", "var/log/**", "--exclude", "etc/\x1b[2J]hidden", "--ignore-owner",
        "--rule", "param/FENCE_ENABLE=1", "--rule", "param/RTL_ALT=1500..12000", "--rule", "param/\x1b]0;x\x07=1",
    )  # fmt: skip
    assert r.code == 0, r.err
    stmt = json.loads(unsigned.read_text())
    stmt["predicate"]["collection"]["files"] = ["@ROMFS", "/APM/\u202escripts"]
    unsigned.write_text(json.dumps(stmt, indent=2))

    before = attest("baseline", "show", unsigned)
    assert before.code == 0, before.err
    signed = tmp_path / "b.signed.json"
    s = attest("baseline", "sign", unsigned, "--key", fleet.keys[0], "--out", signed)
    assert s.code == 0, s.err
    after = attest("baseline", "show", signed, "--trust", fleet.trust)
    assert after.code == 0, after.err
    payload = base64.b64decode(json.loads(signed.read_text())["payload"])
    digest = hashlib.sha256(payload).hexdigest()
    for out in (before.out, after.out):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "include:  **" in out
        assert "exclude:  var/log/**, etc/\\x1b[2J]hidden" in out
        assert 'files:    ["@ROMFS","/APM/\\u202escripts"]' in out
        assert "owner:      false (uid/gid NOT compared)" in out
        assert "rules:      3" in out
        assert "param/FENCE_ENABLE = 1" in out and "param/RTL_ALT = 1500..12000" in out
        assert "param/\\x1b]0;x\\x07 = 1" in out
        assert f"sha256 {digest}" in out
    assert digest in s.out
    assert "threshold:  1 valid of 1 required" in after.out

    verified = attest("verify", "--device", golden, "--baseline", signed, "--trust", fleet.trust, "--json")
    assert verified.json()["baseline"]["digest"] == digest  # show's digest is the one results carry


def test_show_json_has_every_field(attest: Callable[..., Run], fleet: Fleet, golden: Path, tmp_path: Path) -> None:
    unsigned = tmp_path / "b.json"
    assert _create(attest, golden, unsigned, "--exclude", "var/log/**", "--rule", "param/X=1|2").code == 0
    assert attest("baseline", "sign", unsigned, "--key", fleet.keys[0]).code == 0
    r = attest("baseline", "show", unsigned, "--json", "--trust", fleet.trust)
    assert r.code == 0, r.err
    obj = r.json()
    assert obj["signed"] is True and obj["name"] == "companion" and obj["version"] == 1
    assert obj["collection"]["selection"] == {"include": ["**"], "exclude": ["var/log/**"]}
    assert obj["compare"] == {"owner": True}
    assert obj["rules"] == {"param/X": {"allowed": [1, 2]}}
    assert set(obj["components"]) == {"etc", "etc/app.conf", "usr", "usr/bin", "usr/bin/px4", "var", "var/log"}
    payload = base64.b64decode(json.loads(unsigned.read_text())["payload"])
    assert obj["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert obj["signatures"] == [
        {"keyid": json.loads(unsigned.read_text())["signatures"][0]["keyid"], "status": "valid", "key": "fleet-1"}
    ]
    assert obj["threshold"] == {"required": 1, "valid": 1}


def test_show_escapes_an_unsigned_keyid(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], tmp_path: Path
) -> None:
    env = json.loads(_signed(_canonical(statement), fleet))
    env["signatures"][0]["keyid"] = "\x1b[31mforged"
    f = tmp_path / "k.json"
    f.write_text(json.dumps(env))
    r = attest("baseline", "show", f)
    assert r.code == 0, r.err
    assert "\x1b" not in r.out and "\\x1b[31mforged  not checked" in r.out


def test_sign_refuses_a_non_canonical_payload_with_one_line(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], tmp_path: Path
) -> None:
    f = tmp_path / "nc.json"
    f.write_bytes(Envelope(json.dumps(statement).encode(), PAYLOAD_TYPE).to_bytes())
    r = attest("baseline", "sign", f, "--key", fleet.keys[0])
    assert r.code == 4 and "canonical" in r.err and len(r.err.splitlines()) == 1


def test_unsigned_statement_with_duplicate_keys_is_refused(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], tmp_path: Path
) -> None:
    """A reviewer's JSON viewer may show the first 'compare', json.loads the last: refuse."""
    text = json.dumps(statement).replace(
        '"compare": {"owner": true}', '"compare": {"owner": true}, "compare": {"owner": false}'
    )
    f = tmp_path / "dup.json"
    f.write_text(text)
    for args in (("baseline", "show", f), ("baseline", "sign", f, "--key", fleet.keys[0])):
        r = attest(*args)
        assert r.code == 4 and "duplicate key 'compare'" in r.err, r.err


def test_rule_with_float_value_still_round_trips_through_the_payload(tmp_path: Path) -> None:
    """Canonical payloads still carry non-integer numbers (RFC 8785 number form)."""
    stmt = _minimal_statement()
    stmt["predicate"]["rules"] = {"param/X": {"max": 2.5, "min": 0.1}}
    b = Baseline.from_payload(_canonical(stmt))
    assert b.rules["param/X"] == Rule("param/X", minimum=0.1, maximum=2.5)
    assert b.to_payload() == _canonical(stmt)


def test_lone_surrogates_are_refused_not_a_traceback(
    attest: Callable[..., Run], fleet: Fleet, statement: dict[str, Any], tmp_path: Path
) -> None:
    r"""A JSON escape such as \ud800 decodes to a string with no UTF-8 form: refuse it, one line."""
    stmt = json.loads(json.dumps(statement))
    stmt["predicate"]["collection"]["selection"]["exclude"] = ["\ud800"]
    unsigned = tmp_path / "surrogate.json"
    unsigned.write_text(json.dumps(stmt))  # json.dumps writes the escape \ud800
    env = json.loads(_signed(_canonical(statement), fleet))
    env["signatures"][0]["keyid"] = "\ud800"
    bad_keyid = tmp_path / "keyid.json"
    bad_keyid.write_text(json.dumps(env))
    for f in (unsigned, bad_keyid):
        for args in (("baseline", "show", f), ("baseline", "sign", f, "--key", fleet.keys[0])):
            r = attest(*args)
            assert r.code == 4, (args, r.err)
            assert r.out == "" and len(r.err.splitlines()) == 1 and "UTF-8" in r.err
