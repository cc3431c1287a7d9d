"""Key files and DSSE envelopes."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.errors import AttestError, BaselineError, ConfigError
from attest.signing import (
    Envelope,
    generate_key_files,
    key_id,
    load_private_key,
    load_public_key,
    pae,
    public_key_path_for,
    raw_public_bytes,
)


def test_pae_matches_the_spec_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize(
    ("given_name", "public"), [("fleet1.key", "fleet1.pub"), ("dock", "dock.pub"), ("a.pem", "a.pem.pub")]
)
def test_public_key_name(given_name: str, public: str) -> None:
    assert public_key_path_for(Path(given_name)) == Path(public)


def test_generate_writes_private_0600_and_public(tmp_path: Path) -> None:
    priv, pub = generate_key_files(tmp_path / "fleet1.key")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert priv.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    sk, pk = load_private_key(priv), load_public_key(pub)
    assert raw_public_bytes(sk.public_key()) == raw_public_bytes(pk)
    assert key_id(pk) == hashlib.sha256(raw_public_bytes(pk)).hexdigest()


@pytest.mark.parametrize("existing", ["fleet1.key", "fleet1.pub"])
def test_generate_never_overwrites(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("precious")
    with pytest.raises(ConfigError, match="already exists"):
        generate_key_files(tmp_path / "fleet1.key")
    assert (tmp_path / existing).read_text() == "precious"
    assert len(list(tmp_path.iterdir())) == 1  # nothing half-written left behind


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    priv, _ = generate_key_files(tmp_path / "k.key")
    priv.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_private_key(priv)


@pytest.mark.parametrize(
    "content", [b"", b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
)
def test_bad_key_files(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.pub"
    p.write_bytes(content)
    with pytest.raises(ConfigError):
        load_public_key(p)


def _signed(payload: bytes = b'{"a":1}', *keys: Ed25519PrivateKey) -> Envelope:
    env = Envelope(payload, "application/vnd.in-toto+json")
    for k in keys:
        env = env.signed_by(k)
    return env


def test_sign_verify_and_distinct_keys() -> None:
    k1, k2, k3 = (Ed25519PrivateKey.generate() for _ in range(3))
    env = Envelope.from_bytes(_signed(b"x", k1, k2).to_bytes())
    pubs = [k1.public_key(), k2.public_key(), k3.public_key()]
    assert len(env.verified_keys(pubs)) == 2
    # The same key listed twice counts once.
    assert len(env.verified_keys([k1.public_key(), k1.public_key()])) == 1


def test_resigning_with_the_same_key_replaces_its_signature() -> None:
    k = Ed25519PrivateKey.generate()
    assert len(_signed(b"x", k, k).signatures) == 1


def test_keyid_hint_is_not_trusted() -> None:
    """A signature whose keyid names key A but was made by key B does not count for A."""
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    env = _signed(b"x", b)
    forged = Envelope(
        env.payload, env.payload_type, tuple(type(s)(key_id(a.public_key()), s.sig) for s in env.signatures)
    )
    assert forged.verified_keys([a.public_key()]) == []


def test_url_safe_base64_is_accepted() -> None:
    k = Ed25519PrivateKey.generate()
    data = _signed(b"\xfb\xff\xfe" * 10, k).to_json()
    data["payload"] = base64.urlsafe_b64encode(base64.b64decode(data["payload"])).decode().rstrip("=")
    env = Envelope.from_bytes(json.dumps(data).encode())
    assert env.payload == b"\xfb\xff\xfe" * 10
    assert env.verified_keys([k.public_key()])


def test_altered_payload_fails() -> None:
    k = Ed25519PrivateKey.generate()
    env = _signed(b"payload", k)
    assert Envelope(b"pAyload", env.payload_type, env.signatures).verified_keys([k.public_key()]) == []
    assert Envelope(env.payload, "text/plain", env.signatures).verified_keys([k.public_key()]) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "not JSON"),
        (b"[1]", "not a DSSE envelope"),
        (b'{"_type": "https://in-toto.io/Statement/v1"}', "unsigned Statement"),
        (b'{"payload": "e30=", "payloadType": "t"}', "not a DSSE envelope"),
        (b'{"payload": "e30=", "payloadType": "t", "signatures": [{"sig": 5}]}', "signature 0"),
        (b'{"payload": "***", "payloadType": "t", "signatures": []}', "bad base64"),
    ],
)
def test_malformed_envelopes(data: bytes, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        Envelope.from_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_envelope_parser_raises_only_attest_errors_on_bytes(data: bytes) -> None:
    try:
        Envelope.from_bytes(data)
    except AttestError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(["payload", "payloadType", "signatures", "sig", "keyid", "_type", "x"]), c, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_envelope_parser_raises_only_attest_errors_on_json(obj: object) -> None:
    try:
        Envelope.from_bytes(json.dumps(obj).encode())
    except AttestError:
        pass
