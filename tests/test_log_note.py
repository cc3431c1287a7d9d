"""C2SP signed notes, verifier keys, checkpoints and tlog-proof files."""

from __future__ import annotations

import base64

import pytest
from conftest import SHARED
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.errors import ConfigError, LogError
from attest.log.checkpoint import Checkpoint, open_checkpoint
from attest.log.merkle import EMPTY_ROOT, leaf_hash
from attest.log.note import Note, VerifierKey, check_key_name, note_key_id, sign_note
from attest.log.proof import TlogProof

NOTE = SHARED / "vectors" / "signed-note"


def _vector() -> tuple[VerifierKey, bytes, bytes]:
    if not NOTE.is_dir():
        pytest.skip(f"signed-note vectors not found at {NOTE} (a fresh clone without ../shared)")
    vkey = VerifierKey.parse((NOTE / "example.vkey").read_text())
    return vkey, (NOTE / "example.note").read_bytes(), (NOTE / "example.text").read_bytes()


def test_spec_example_verifies() -> None:
    """The C2SP example note verifies with its vkey, and its text is exactly the signed bytes."""
    vkey, note, text = _vector()
    assert vkey.name == "example.com/foo"
    assert vkey.key_id.hex() == "530d903a"
    parsed = Note.parse(note)
    assert parsed.text == text
    assert parsed.verify([vkey]) == [vkey]
    assert str(vkey) == (NOTE / "example.vkey").read_text().strip()


def test_spec_example_negative_cases() -> None:
    """Changed text, unknown key id or renamed key fail; an extra unknown signature is ignored."""
    vkey, note, _ = _vector()
    with pytest.raises(LogError, match="invalid"):
        Note.parse(note.replace(b"example message", b"example massage")).verify([vkey])
    sig_line = note.split(b"\n\n")[1]
    raw = base64.b64decode(sig_line.split(b" ")[2])
    other_id = base64.b64encode(b"\x00\x00\x00\x00" + raw[4:])
    with pytest.raises(LogError, match="not signed by a known key"):
        Note.parse(note.replace(sig_line.split(b" ")[2].strip(), other_id)).verify([vkey])
    with pytest.raises(LogError, match="not signed by a known key"):
        Note.parse(note.replace("— example.com/foo".encode(), "— example.com/bar".encode())).verify([vkey])
    stranger = sign_note(b"x\n", "witness.example/w1", Ed25519PrivateKey.generate()).split(b"\n\n")[1]
    assert Note.parse(note + stranger).verify([vkey]) == [vkey]


def test_sign_and_verify_round_trip() -> None:
    """Our notes use the C2SP key id and verify with the vkey we print."""
    key = Ed25519PrivateKey.generate()
    note = sign_note(b"hello\nworld\n", "dock.example/log", key)
    vkey = VerifierKey.parse(str(VerifierKey.for_key("dock.example/log", key.public_key())))
    assert Note.parse(note).verify([vkey]) == [vkey]
    raw = vkey.public_key.public_bytes_raw()
    assert vkey.key_id == note_key_id("dock.example/log", 1, raw)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no-plus-signs",
        "name+123+AAAA",
        "name+zzzzzzzz+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(),
        "name+00000000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(),  # wrong key id
        "name+00000000+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode(),  # not Ed25519
        "na me+00000000+AAAA",
    ],
)
def test_bad_vkeys_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        VerifierKey.parse(text)


@pytest.mark.parametrize(
    "data",
    [
        b"text\n",  # no signature block
        b"text\n\n",  # no signature lines
        b"text\n\n- dash name AAAAAAA=\n",  # ASCII hyphen, not em dash
        "text\n\n— name !!!\n".encode(),  # not base64
        "text\n\n— name AAAA\n".encode(),  # too short
        "text\n\n— name AAAAAAA=".encode(),  # no final newline
        "te\x01xt\n\n— name AAAAAAA=\n".encode(),  # control character
        b"\xff\n\n",  # not UTF-8
    ],
)
def test_malformed_notes_are_rejected(data: bytes) -> None:
    with pytest.raises(LogError):
        Note.parse(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_note_parser_fails_closed_on_any_bytes(data: bytes) -> None:
    """Arbitrary bytes either parse or raise LogError: never another exception."""
    try:
        Note.parse(data)
    except LogError:
        pass


def test_checkpoint_round_trip_and_origin_check() -> None:
    key = Ed25519PrivateKey.generate()
    cp = Checkpoint("dock.example/log", 42, leaf_hash(b"x"))
    note = cp.sign(key)
    assert note.startswith(b"dock.example/log\n42\n")
    vkey = VerifierKey.for_key("dock.example/log", key.public_key())
    assert open_checkpoint(note, vkey) == cp
    other = VerifierKey.for_key("other.example/log", key.public_key())
    with pytest.raises(LogError):
        open_checkpoint(note, other)


@pytest.mark.parametrize(
    "text",
    [
        b"origin\n42\n",  # no root
        b"origin\n042\n" + base64.b64encode(EMPTY_ROOT) + b"\n",  # leading zero
        b"origin\n-1\n" + base64.b64encode(EMPTY_ROOT) + b"\n",
        b"origin\n1\n" + base64.b64encode(b"short") + b"\n",
        b"or igin\n1\n" + base64.b64encode(EMPTY_ROOT) + b"\n",
        b"origin\n1\n" + base64.b64encode(EMPTY_ROOT) + b"\n\n",  # empty extension line
    ],
)
def test_bad_checkpoint_text(text: bytes) -> None:
    with pytest.raises(LogError):
        Checkpoint.from_text(text)


def test_tlog_proof_format_round_trip() -> None:
    """The file follows c2sp.org/tlog-proof@v1 line by line and parses back to the same proof."""
    key = Ed25519PrivateKey.generate()
    entry = b'{"payload":"e30=","payloadType":"x","signatures":[]}'
    sibling = leaf_hash(b"sibling")
    from attest.log.merkle import node_hash

    root = node_hash(leaf_hash(entry), sibling)
    note = Checkpoint("dock.example/log", 2, root).sign(key)
    proof = TlogProof(0, (sibling,), note, entry)
    data = proof.to_bytes()
    lines = data.split(b"\n")
    assert lines[0] == b"c2sp.org/tlog-proof@v1"
    assert lines[1] == b"extra " + base64.b64encode(entry)
    assert lines[2] == b"index 0"
    assert lines[3] == base64.b64encode(sibling)
    assert lines[4] == b""
    assert data.endswith(note)
    assert TlogProof.from_bytes(data) == proof
    vkey = VerifierKey.for_key("dock.example/log", key.public_key())
    assert proof.verify(vkey)[1] == entry
    with pytest.raises(LogError):
        TlogProof(1, (sibling,), note, entry).verify(vkey)
    with pytest.raises(LogError, match="no extra"):
        TlogProof(0, (sibling,), note, None).verify(vkey)


@pytest.mark.parametrize(
    "data",
    [
        b"c2sp.org/tlog-proof@v2\nindex 0\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex 01\n\ncp",
        b"c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\ncp",
        b"c2sp.org/tlog-proof@v1\nextra AA==\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex 0",
    ],
)
def test_bad_proof_files(data: bytes) -> None:
    with pytest.raises(LogError):
        TlogProof.from_bytes(data)


@settings(max_examples=150, deadline=None)
@given(
    st.text(min_size=1, max_size=40).filter(lambda t: check_key_name(t) is None),
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_checkpoint_text_round_trip(origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin, size, root)
    assert Checkpoint.from_text(cp.text()) == cp


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_checkpoint_and_proof_parsers_fail_closed(data: bytes) -> None:
    """Arbitrary bytes parse or raise LogError, never anything else."""
    for parse in (Checkpoint.from_text, TlogProof.from_bytes):
        try:
            parse(data)
        except LogError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_vkey_parser_fails_closed(text: str) -> None:
    try:
        VerifierKey.parse(text)
    except ConfigError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**40), st.lists(st.binary(min_size=32, max_size=32), max_size=64), st.binary(max_size=200))
def test_proof_file_round_trip(index: int, path: list[bytes], extra: bytes) -> None:
    note = "o\n1\nAAAA\n\n— o AAAAAAA=\n".encode()
    proof = TlogProof(index, tuple(path), note, extra)
    assert TlogProof.from_bytes(proof.to_bytes()) == proof


def _unused_bit_set(b64: str) -> str:
    """The same bytes in another base64 text: one unused trailing bit set (or, without padding, excess padding)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    pad = len(b64) - len(b64.rstrip("="))
    if not pad:  # no unused bits; base64.b64decode(validate=True) still ignores excess padding
        assert base64.b64decode(b64 + "==", validate=True) == base64.b64decode(b64)
        return b64 + "=="
    k = len(b64) - pad - 1
    other = b64[:k] + alphabet[alphabet.index(b64[k]) | 1] + b64[k + 1 :]
    assert base64.b64decode(other) == base64.b64decode(b64)
    return other


def test_non_canonical_base64_is_refused_in_vkeys_checkpoints_and_proofs() -> None:
    """One value, one text: set padding bits (which b64decode(validate=True) ignores) are refused everywhere."""
    key = Ed25519PrivateKey.generate()
    vkey = str(VerifierKey.for_key("dock.example", key.public_key()))
    name, kid, b64 = vkey.split("+", 2)  # the base64 key may itself hold "+"
    with pytest.raises(ConfigError, match="canonical"):
        VerifierKey.parse(f"{name}+{kid}+{_unused_bit_set(b64)}")
    with pytest.raises(ConfigError, match="8 lowercase hex"):
        VerifierKey.parse(f"{name}+{kid.upper()}+{b64}")

    root = b"\x07" * 32  # 32 bytes: one "=" of padding, two unused bits
    text = Checkpoint("dock.example", 3, root).text().decode()
    root_b64 = base64.b64encode(root).decode()
    note = sign_note(text.replace(root_b64, _unused_bit_set(root_b64)).encode(), "dock.example", key)
    with pytest.raises(LogError, match="root hash is not canonical base64"):
        open_checkpoint(note, VerifierKey.for_key("dock.example", key.public_key()))

    proof = TlogProof(1, (b"\x05" * 32,), sign_note(text.encode(), "dock.example", key), b"entry!").to_bytes()
    hash_b64 = base64.b64encode(b"\x05" * 32).decode()
    with pytest.raises(LogError, match="proof hash 1 is not canonical base64"):
        TlogProof.from_bytes(proof.replace(hash_b64.encode(), _unused_bit_set(hash_b64).encode()))
    extra_line = base64.b64encode(b"entry!!").decode()
    proof7 = TlogProof(1, (b"\x05" * 32,), sign_note(text.encode(), "dock.example", key), b"entry!!").to_bytes()
    with pytest.raises(LogError, match="extra line is not canonical base64"):
        TlogProof.from_bytes(proof7.replace(extra_line.encode(), _unused_bit_set(extra_line).encode()))


def test_note_signature_with_set_padding_bits_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    note = sign_note(b"hello\n", "dock.example", key)
    sig = note.decode().rsplit(" ", 1)[1].strip()
    with pytest.raises(LogError, match="not canonical base64"):
        Note.parse(note.replace(sig.encode(), _unused_bit_set(sig).encode()))


def test_a_name_that_is_not_utf8_is_refused_not_a_crash() -> None:
    """Non-UTF-8 bytes on argv arrive surrogate-escaped; a vkey or origin made of them is a ConfigError."""
    assert check_key_name("dock.\udce5xample/log") == "it is not valid UTF-8"
    key = Ed25519PrivateKey.generate()
    good = str(VerifierKey.for_key("dock.example/log", key.public_key()))
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        VerifierKey.parse(good.replace("dock.example", "dock.\udce5xample"))
