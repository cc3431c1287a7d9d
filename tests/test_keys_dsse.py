"""Key files and DSSE envelopes."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.errors import AttestError, BaselineError, ConfigError
from attest.signing import (
    Envelope,
    Signature,
    check_public_key,
    generate_key_files,
    key_id,
    load_private_key,
    load_public_key,
    pae,
    public_key_path_for,
    raw_public_bytes,
    signature_checker,
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


# -- degenerate public keys (small-order points) ----------------------------------------------------
#
# Independent Ed25519 arithmetic (RFC 8032, affine, slow and plain) to build the points that the
# code under test must refuse, so that the test does not take libsodium's word for them.

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_L = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int]
_IDENTITY: _Point = (0, 1)


def _add(a: _Point, b: _Point) -> _Point:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def _mul(n: int, pt: _Point) -> _Point:
    out = _IDENTITY
    while n:
        if n & 1:
            out = _add(out, pt)
        pt, n = _add(pt, pt), n >> 1
    return out


def _x_for(y: int) -> int | None:
    u = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(u, (_P + 3) // 8, _P)
    if x * x % _P != u:
        x = x * _SQRT_M1 % _P
    return x if x * x % _P == u else None


def _encode(pt: _Point) -> bytes:
    x, y = pt
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _torsion_points() -> list[_Point]:
    """The 8 points of order dividing 8: multiples of an order-8 point found as [L]P."""
    for y in range(2, 200):
        x = _x_for(y)
        if x is None:
            continue
        t = _mul(_L, (x, y))
        if _mul(4, t) != _IDENTITY:  # order exactly 8: it generates the whole torsion group
            return [_mul(k, t) for k in range(8)]
    raise AssertionError("no order-8 point found")


TORSION = _torsion_points()


def _small_order_encodings() -> set[bytes]:
    """Every 32-byte string a lenient decoder reads as a small-order point: canonical, with the
    sign bit flipped (x = 0 "negative zero"), and with y + p when that still fits in 255 bits."""
    out: set[bytes] = set()
    for _, y in TORSION:
        for y_enc in (y, y + _P):
            if y_enc < 2**255:
                out |= {(y_enc | sign << 255).to_bytes(32, "little") for sign in (0, 1)}
    return out


SMALL_ORDER = sorted(_small_order_encodings())


def _pem(raw: bytes) -> bytes:
    der = bytes.fromhex("302a300506032b6570032100") + raw  # SubjectPublicKeyInfo, id-Ed25519
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END PUBLIC KEY-----\n"


def test_the_independent_arithmetic_finds_all_eight_small_order_points_in_fourteen_encodings() -> None:
    assert len(set(TORSION)) == 8 and all(_mul(8, t) == _IDENTITY for t in TORSION)
    assert len(SMALL_ORDER) == 14
    assert bytes([1]) + bytes(31) in SMALL_ORDER  # the identity point


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=lambda r: r.hex()[:8] + ".." + r.hex()[-4:])
def test_small_order_keys_are_refused_in_every_encoding(tmp_path: Path, raw: bytes) -> None:
    with pytest.raises(ConfigError, match="not a valid Ed25519 public key"):
        check_public_key(raw)
    (tmp_path / "k.pub").write_bytes(_pem(raw))
    with pytest.raises(ConfigError):
        load_public_key(tmp_path / "k.pub")


def test_mixed_order_and_off_curve_keys_are_refused() -> None:
    real = raw_public_bytes(Ed25519PrivateKey.generate().public_key())
    y = int.from_bytes(real, "little") & ((1 << 255) - 1)
    x = _x_for(y)
    assert x is not None
    if (x & 1) != real[31] >> 7:
        x = _P - x
    assert _encode((x, y)) == real  # the arithmetic decodes the real key
    with_torsion = _encode(_add((x, y), TORSION[1]))
    with pytest.raises(ConfigError):
        check_public_key(with_torsion)
    off_curve = next(v for v in range(2, 100) if _x_for(v) is None).to_bytes(32, "little")
    with pytest.raises(ConfigError):
        check_public_key(off_curve)
    with pytest.raises(ConfigError, match="31 bytes"):
        check_public_key(real[:31])


def test_real_keys_are_accepted() -> None:
    for _ in range(20):
        check_public_key(raw_public_bytes(Ed25519PrivateKey.generate().public_key()))


def _forged_by_identity(message: bytes) -> bytes:
    """A "signature" under the identity key, made without any secret: R = B, S = 1 ([1]B = B + [k]O)."""
    base = (_x_for(4 * pow(5, _P - 2, _P) % _P), 4 * pow(5, _P - 2, _P) % _P)
    assert base[0] is not None
    x = base[0] if base[0] % 2 == 0 else _P - base[0]  # B has an even x
    return _encode((x, base[1])) + (1).to_bytes(32, "little")


def test_openssl_alone_accepts_a_forgery_under_the_identity_key_and_the_one_rule_does_not() -> None:
    identity = bytes([1]) + bytes(31)
    message = pae("application/vnd.in-toto+json", b'{"anything":"at all"}')
    forged = _forged_by_identity(message)
    Ed25519PublicKey.from_public_bytes(identity).verify(forged, message)  # OpenSSL: "valid" (no raise)
    assert signature_checker(identity)(forged, message) is False
    env = Envelope(b'{"anything":"at all"}', "application/vnd.in-toto+json", (Signature("", forged),))
    assert env.verified_keys([Ed25519PublicKey.from_public_bytes(identity)]) == []


def _scalar(key: Ed25519PrivateKey) -> int:
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def test_a_small_order_r_is_refused_as_libsodium_refuses_it() -> None:
    """The key's owner can make R the identity (S = k*a): OpenSSL accepts, libsodium and we do not."""
    key = Ed25519PrivateKey.generate()
    public = raw_public_bytes(key.public_key())
    message = b"DSSEv1 1 t 1 x"
    r = bytes([1]) + bytes(31)
    k = int.from_bytes(hashlib.sha512(r + public + message).digest(), "little") % _L
    sig = r + (k * _scalar(key) % _L).to_bytes(32, "little")
    key.public_key().verify(sig, message)  # OpenSSL: valid
    assert signature_checker(public)(sig, message) is False
    good = key.sign(message)
    assert signature_checker(public)(good, message) is True
    assert signature_checker(key.public_key())(good, message) is True
    assert signature_checker(public)(good[:63], message) is False
