"""C2SP signed notes (``c2sp.org/signed-note``) with Ed25519, and verifier keys.

A note is UTF-8 text ending in a newline, an empty line, then one or more
signature lines ``— <key name> <base64(key ID || signature)>``. The key ID is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; a verifier key (vkey) is
``<name>+<hex key ID>+<base64(0x01 || public key)>``.

Verification follows the spec: signatures whose (name, key ID) pair is not a
known key are ignored; a known key's signature must verify, or the whole note
is rejected; and a note with no verified known signature is rejected.
Pinned to ``shared/vectors/signed-note``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from attest.errors import ConfigError, LogError
from attest.signing import check_public_key, raw_public_bytes

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_ED25519",
    "Note",
    "NoteSignature",
    "VerifierKey",
    "b64decode_canonical",
    "check_key_name",
    "note_key_id",
    "sign_note",
]

#: Signature type byte of Ed25519 note signatures.
SIG_ED25519 = 0x01

#: A note larger than this is refused before parsing.
MAX_NOTE_BYTES = 64 * 1024
#: The spec requires accepting at least 16 signatures; we accept this many.
MAX_SIGNATURES = 64

_DASH = "\u2014 "  # em dash and a space start every signature line


def b64decode_canonical(text: str | bytes) -> bytes:
    """Decode standard, padded base64 that is the one encoding of its bytes.

    ``base64.b64decode(validate=True)`` still accepts set unused bits in the
    last character (``AB==`` decodes like ``AA==``); every base64 field the
    log reads (vkeys, note signatures, checkpoint roots, proofs) must be the
    text :func:`base64.b64encode` writes, so one value has one text.

    Raises:
        ValueError: not base64 of the standard alphabet with padding, or not canonical.
    """
    raw = base64.b64decode(text, validate=True)
    canonical = base64.b64encode(raw)
    if canonical != (text.encode("ascii") if isinstance(text, str) else text):
        raise ValueError("not canonical base64 (set padding bits, or missing padding)")
    return raw


def note_key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || sig_type || public)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public).digest()[:4]


def check_key_name(name: str) -> str | None:  # noqa: PLR0911 (one reason each)
    """Why ``name`` cannot be a note key name (or a log origin), or ``None`` if it can.

    Names are non-empty, without Unicode spaces, ``+`` or control characters.
    """
    if not name:
        return "it is empty"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes from argv or a file that were not UTF-8
        return "it is not valid UTF-8"
    if len(encoded) > 255:
        return "it is longer than 255 bytes"
    for ch in name:
        if ch.isspace():
            return "it contains a space"
        if ch == "+":
            return "it contains '+'"
        if ord(ch) < 0x20 or ord(ch) == 0x7F or not ch.isprintable():
            return "it contains a control or unprintable character"
    return None


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 note verifier key: a name, its key ID and the public key.

    Attributes:
        name: the key name; for a log, its origin.
        key_id: the 4-byte key ID.
        public_key: the Ed25519 public key.
    """

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def for_key(cls, name: str, key: Ed25519PublicKey) -> VerifierKey:
        """The verifier key of ``key`` under ``name``.

        Raises:
            ConfigError: ``name`` is not a valid key name.
        """
        why = check_key_name(name)
        if why is not None:
            raise ConfigError(f"{name!r} cannot be a key name (origin): {why}")
        return cls(name, note_key_id(name, SIG_ED25519, raw_public_bytes(key)), key)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse ``name+hex8+base64(0x01 || key)`` (surrounding whitespace ignored).

        The key ID is 8 lowercase hex digits and the key canonical base64 (one
        text per key), and the key must pass :func:`attest.signing.check_public_key`
        (no small-order or otherwise degenerate point).

        Raises:
            ConfigError: not a vkey, not Ed25519, a degenerate key, or its key ID does not match.
        """
        text = text.strip()
        name, sep1, rest = text.partition("+")
        hex_id, sep2, b64 = rest.partition("+")
        if not sep1 or not sep2:
            raise ConfigError("not a verifier key (expected NAME+KEYID+BASE64, as printed by `attest log key`)")
        why = check_key_name(name)
        if why is not None:
            raise ConfigError(f"verifier key name {name!r} is invalid: {why}")
        if len(hex_id) != 8 or hex_id.strip("0123456789abcdef"):
            raise ConfigError(f"verifier key: key ID must be 8 lowercase hex digits (got {hex_id[:20]!r})")
        try:
            raw = b64decode_canonical(b64)
        except (ValueError, binascii.Error) as e:
            raise ConfigError(f"verifier key: the key is not canonical base64: {e}") from e
        if len(raw) != 33 or raw[0] != SIG_ED25519:
            raise ConfigError("verifier key: not an Ed25519 key (expected type 0x01 and 32 key bytes)")
        try:
            check_public_key(raw[1:])  # a small-order key would verify signatures forged without any secret
        except ConfigError as e:
            raise ConfigError(f"verifier key: {e}") from e
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
        key_id = bytes.fromhex(hex_id)
        if note_key_id(name, SIG_ED25519, raw[1:]) != key_id:
            raise ConfigError(f"verifier key: key ID {hex_id} does not match the name and key")
        return cls(name, key_id, public)

    def __str__(self) -> str:
        raw = bytes([SIG_ED25519]) + raw_public_bytes(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode('ascii')}"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note (not yet verified)."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed signed note. Holding one proves nothing: call :meth:`verify`.

    Attributes:
        text: the signed text, including its final newline.
        signatures: every signature line, in order.
    """

    text: bytes
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, data: bytes, *, source: str = "note") -> Note:
        """Split a signed note into its text and signature lines.

        Raises:
            LogError: too large, not UTF-8, control characters, no empty line
                before the signatures, or a malformed signature line.
        """
        if len(data) > MAX_NOTE_BYTES:
            raise LogError(f"{source}: larger than {MAX_NOTE_BYTES} bytes")
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise LogError(f"{source}: not UTF-8") from e
        if any(ord(c) < 0x20 and c != "\n" for c in decoded):
            raise LogError(f"{source}: contains a control character")
        if not data.endswith(b"\n"):
            raise LogError(f"{source}: does not end with a newline")
        split = data.rfind(b"\n\n")
        if split < 0:
            raise LogError(f"{source}: no empty line before the signatures")
        text, block = data[: split + 1], data[split + 2 :]
        lines = block.decode("utf-8").split("\n")[:-1]
        if not lines:
            raise LogError(f"{source}: no signature lines")
        if len(lines) > MAX_SIGNATURES:
            raise LogError(f"{source}: more than {MAX_SIGNATURES} signatures")
        sigs = []
        for n, line in enumerate(lines, 1):
            if not line.startswith(_DASH):
                raise LogError(f"{source}: signature line {n} does not start with an em dash and a space")
            name, sep, b64 = line[len(_DASH) :].partition(" ")
            if not sep or check_key_name(name) is not None:
                raise LogError(f"{source}: signature line {n} has no valid key name")
            try:
                raw = b64decode_canonical(b64)  # no malleable padding bits
            except (ValueError, binascii.Error) as e:
                raise LogError(f"{source}: signature line {n} is not canonical base64") from e
            if len(raw) < 5:
                raise LogError(f"{source}: signature line {n} is too short")
            sigs.append(NoteSignature(name, raw[:4], raw[4:]))
        return cls(text, tuple(sigs))

    def verify(self, keys: Sequence[VerifierKey], *, source: str = "note") -> list[VerifierKey]:
        """The known keys whose signatures verify; at least one.

        Raises:
            LogError: a known key's signature fails, or no known key signed.
        """
        good: list[VerifierKey] = []
        for sig in self.signatures:
            for key in keys:
                if key.name != sig.name or key.key_id != sig.key_id:
                    continue  # unknown (name, id) pairs are ignored, even half-matching ones
                try:
                    key.public_key.verify(sig.signature, self.text)
                except InvalidSignature as e:
                    raise LogError(f"{source}: the signature by {key.name}+{key.key_id.hex()} is invalid") from e
                if key not in good:
                    good.append(key)
        if not good:
            seen = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in self.signatures)
            want = ", ".join(f"{k.name}+{k.key_id.hex()}" for k in keys)
            raise LogError(f"{source}: not signed by a known key (signed by {seen}; expected {want})")
        return good


def sign_note(text: bytes, name: str, key: Ed25519PrivateKey) -> bytes:
    """The signed note: ``text``, an empty line and one Ed25519 signature line.

    Raises:
        ValueError: ``text`` does not end with a newline, or has an empty last line.
        ConfigError: ``name`` is not a valid key name.
    """
    if not text.endswith(b"\n") or text.endswith(b"\n\n") or text == b"\n":
        raise ValueError("note text must end with exactly one newline")
    vkey = VerifierKey.for_key(name, key.public_key())
    sig = base64.b64encode(vkey.key_id + key.sign(text)).decode("ascii")
    return text + b"\n" + f"{_DASH}{name} {sig}\n".encode()
