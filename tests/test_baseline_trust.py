"""Baselines as in-toto Statements, and the trust check: signatures, threshold, expiry, rollback."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.baseline import PAYLOAD_TYPE, PREDICATE_TYPE, Baseline
from attest.collectors.directory import DirectoryCollector
from attest.errors import AttestError, BaselineError, CollectionError, ConfigError, UntrustedBaselineError
from attest.rules import Rule
from attest.signing import Envelope, generate_key_files, load_private_key
from attest.trust import RollbackState, TrustedBaseline, TrustPolicy, trust_baseline

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def make_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin/app").write_bytes(b"\x7fELF" + bytes(range(256)) * 10)
    (root / "etc").mkdir()
    (root / "etc/conf").write_text("fence=1\n")
    os.symlink("app", root / "bin/link")
    return root


def make_baseline(root: Path, *, version: int = 1, expires: datetime | None = None, name: str = "b") -> Baseline:
    ev = DirectoryCollector(str(root)).collect({"selection": {"include": ["**"]}}, nonce="00")
    return Baseline.from_evidence(
        ev,
        name=name,
        version=version,
        collection={"selection": {"include": ["**"], "exclude": []}},
        expires=expires,
        rules={"param/X": Rule.parse("param/X=1..2")},
        now=NOW - timedelta(days=1),
    )


@pytest.fixture
def keys(tmp_path: Path) -> list[Path]:
    out = []
    for i in range(3):
        priv, _ = generate_key_files(tmp_path / "keys" / f"k{i}.key") if i else _mk(tmp_path / "keys")
        out.append(priv)
    return out


def _mk(d: Path) -> tuple[Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    return generate_key_files(d / "k0.key")


def policy(tmp_path: Path, keys: list[Path], threshold: int, n: int | None = None) -> TrustPolicy:
    lines = [f"threshold = {threshold}"]
    for i, k in enumerate(keys[: n or len(keys)]):
        lines += ["[[keys]]", f'id = "k{i}"', f'public_key = "keys/{k.with_suffix(".pub").name}"']
    p = tmp_path / "trust.toml"
    p.write_text("\n".join(lines) + "\n")
    return TrustPolicy.from_file(p)


def sign(b: Baseline, *keys: Path) -> bytes:
    env = Envelope(b.to_payload(), PAYLOAD_TYPE)
    for k in keys:
        env = env.signed_by(load_private_key(k))
    return env.to_bytes()


def test_statement_shape_and_round_trip(tmp_path: Path) -> None:
    b = make_baseline(make_tree(tmp_path / "t"))
    st_ = b.to_statement()
    assert st_["_type"] == "https://in-toto.io/Statement/v1"
    assert st_["predicateType"] == PREDICATE_TYPE
    assert {s["name"] for s in st_["subject"]} == {"bin/app", "etc/conf"}
    assert st_["predicate"]["components"]["bin/link"]["attributes"]["target"] == "app"
    again = Baseline.from_payload(b.to_payload())
    assert again == b
    assert again.to_payload() == b.to_payload()  # canonical: same bytes every time


def test_subject_and_components_must_agree(tmp_path: Path) -> None:
    st_ = make_baseline(make_tree(tmp_path / "t")).to_statement()
    st_["subject"][0]["digest"]["sha256"] = "0" * 64
    with pytest.raises(BaselineError, match="subject digests disagree"):
        Baseline.from_statement(st_)


def test_baseline_must_be_complete(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    ev = DirectoryCollector(str(root)).collect({}, nonce="00")
    comp = ev.components["bin/app"]
    broken = type(ev)(
        ev.device,
        {**ev.components, "bin/app": type(comp)("bin/app", "file", error="cannot read")},
        ev.nonce,
        ev.collected_at,
    )
    with pytest.raises(CollectionError, match="must be complete"):
        Baseline.from_evidence(broken, name="b", version=1, collection={})


def test_trusted_with_threshold(tmp_path: Path, keys: list[Path]) -> None:
    b = make_baseline(make_tree(tmp_path / "t"))
    state = RollbackState(tmp_path / "state")
    pol = policy(tmp_path, keys, threshold=2)
    t = trust_baseline(sign(b, keys[0], keys[2]), policy=pol, state=state, now=NOW)
    assert sorted(t.signers) == ["k0", "k2"]
    assert t.baseline == b
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_too_few_distinct_signers(tmp_path: Path, keys: list[Path]) -> None:
    b = make_baseline(make_tree(tmp_path / "t"))
    pol = policy(tmp_path, keys, threshold=2)
    data = json.loads(sign(b, keys[0]))
    data["signatures"].append(dict(data["signatures"][0]))  # the same signature twice
    with pytest.raises(UntrustedBaselineError, match="1 valid signature"):
        trust_baseline(json.dumps(data).encode(), policy=pol, state=RollbackState(tmp_path / "s"), now=NOW)


def test_signature_by_unlisted_key(tmp_path: Path, keys: list[Path]) -> None:
    b = make_baseline(make_tree(tmp_path / "t"))
    pol = policy(tmp_path, keys, threshold=1, n=2)
    with pytest.raises(UntrustedBaselineError):
        trust_baseline(sign(b, keys[2]), policy=pol, state=RollbackState(tmp_path / "s"), now=NOW)


def test_expired(tmp_path: Path, keys: list[Path]) -> None:
    b = make_baseline(make_tree(tmp_path / "t"), expires=NOW)
    pol = policy(tmp_path, keys, threshold=1)
    with pytest.raises(UntrustedBaselineError, match="expired"):
        trust_baseline(sign(b, keys[0]), policy=pol, state=RollbackState(tmp_path / "s"), now=NOW)
    ok = trust_baseline(
        sign(b, keys[0]), policy=pol, state=RollbackState(tmp_path / "s"), now=NOW - timedelta(seconds=1)
    )
    assert ok.baseline.expires == NOW


def test_wrong_payload_type(tmp_path: Path, keys: list[Path]) -> None:
    b = make_baseline(make_tree(tmp_path / "t"))
    env = Envelope(b.to_payload(), "application/json").signed_by(load_private_key(keys[0]))
    with pytest.raises(BaselineError, match="payloadType"):
        trust_baseline(env.to_bytes(), policy=policy(tmp_path, keys, 1), state=RollbackState(tmp_path / "s"), now=NOW)


def test_rollback_is_refused_and_accepted_version_is_recorded(tmp_path: Path, keys: list[Path]) -> None:
    root = make_tree(tmp_path / "t")
    pol = policy(tmp_path, keys, 1)
    state = RollbackState(tmp_path / "s")
    trust_baseline(sign(make_baseline(root, version=3), keys[0]), policy=pol, state=state, now=NOW)
    assert state.highest("b") == 3
    trust_baseline(sign(make_baseline(root, version=3), keys[0]), policy=pol, state=state, now=NOW)  # same is fine
    with pytest.raises(UntrustedBaselineError, match="rollback"):
        trust_baseline(sign(make_baseline(root, version=2), keys[0]), policy=pol, state=state, now=NOW)
    # Other names have their own counter.
    trust_baseline(sign(make_baseline(root, version=1, name="other"), keys[0]), policy=pol, state=state, now=NOW)
    assert state.highest("b") == 3
    # The state survives a new process (a new object reading the file).
    assert RollbackState(tmp_path / "s").highest("b") == 3


def test_corrupt_rollback_state_fails_closed(tmp_path: Path) -> None:
    state = RollbackState(tmp_path / "s")
    (tmp_path / "s" / RollbackState.FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="corrupt"):
        state.check_and_accept("b", 1)


def test_trusted_baseline_cannot_be_forged() -> None:
    with pytest.raises(RuntimeError):
        TrustedBaseline(baseline=None, digest="", signers=(), _token=object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("threshold = 0\n[[keys]]\nid='a'\npublic_key='keys/k0.pub'\n", "at least 1"),
        ("threshold = 2\n[[keys]]\nid='a'\npublic_key='keys/k0.pub'\n", "above the number"),
        (
            "threshold = 2\n[[keys]]\nid='a'\npublic_key='keys/k0.pub'\n[[keys]]\nid='b'\npublic_key='keys/k0.pub'\n",
            "above the number of distinct",
        ),
        ("threshold = 1\n[[keys]]\nid='a'\npublic_key='keys/missing.pub'\n", "cannot read key"),
        ("threshold = 1\n", "at least one"),
        ("threshold = '1'\n[[keys]]\nid='a'\npublic_key='keys/k0.pub'\n", "integer"),
        ("threshold = 1\nthresold = 2\n[[keys]]\nid='a'\npublic_key='keys/k0.pub'\n", "unknown"),
        ("threshold = ", "not a TOML"),
    ],
)
def test_bad_trust_policies(tmp_path: Path, keys: list[Path], text: str, message: str) -> None:
    p = tmp_path / "trust.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        TrustPolicy.from_file(p)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**60) | st.text(max_size=10),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "_type",
                    "subject",
                    "predicateType",
                    "predicate",
                    "name",
                    "version",
                    "created",
                    "expires",
                    "device",
                    "kind",
                    "match",
                    "collection",
                    "components",
                    "digest",
                    "sha256",
                    "attributes",
                    "rules",
                ]
            ),
            c,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_statement_parser_raises_only_attest_errors(obj: object) -> None:
    try:
        Baseline.from_statement(obj)
    except AttestError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_statement_parser_survives_mutations_of_a_real_statement(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    root = tmp_path_factory.getbasetemp() / "mut"
    if not root.exists():
        make_tree(root)
    st_ = make_baseline(root).to_statement()
    pred = st_["predicate"]
    key = data.draw(st.sampled_from(sorted(pred)))
    pred[key] = data.draw(_json)
    try:
        Baseline.from_statement(st_)
    except AttestError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_trust_policy_parser_raises_only_attest_errors(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    p = tmp_path_factory.mktemp("pol") / "trust.toml"
    p.write_text(text)
    try:
        TrustPolicy.from_file(p)
    except AttestError:
        pass


_policy_fields = st.sampled_from(
    ["_type", "version", "threshold", "policy_threshold", "expires", "keys", "sigstore", "revoked", "id", "public_key"]
)
_policy_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**53 - 1) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(_policy_fields, c, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_policy_document_parser_raises_only_attest_errors(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Any field of a real policy payload replaced by any JSON: a ConfigError, never a crash."""
    import base64 as b64

    import rfc8785

    from attest.trust import POLICY_PAYLOAD_TYPE, read_document

    d = tmp_path_factory.getbasetemp() / "policy-doc"
    if not d.exists():
        d.mkdir()
        generate_key_files(d / "k.key")
    pub = b64.b64encode(load_private_key(d / "k.key").public_key().public_bytes_raw()).decode()
    obj: dict[str, object] = {
        "_type": "https://drone-attest.dev/trust-policy/v1",
        "version": 1,
        "threshold": 1,
        "policy_threshold": 1,
        "expires": None,
        "keys": [{"id": "k", "public_key": pub}],
        "sigstore": [],
        "revoked": [],
    }
    obj[data.draw(st.sampled_from(sorted(obj)))] = data.draw(_policy_json)
    env = Envelope(rfc8785.dumps(obj), POLICY_PAYLOAD_TYPE)
    try:
        read_document(env.to_bytes(), source="fuzz")
    except AttestError:
        pass
