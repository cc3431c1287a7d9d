"""Ed25519 keys: generate, load and name them, and the one rule for which keys and signatures count.

Private keys are PKCS#8 PEM written with mode 0600; public keys are
SubjectPublicKeyInfo PEM. A key's id is the lowercase hex SHA-256 of its raw
32-byte public key, the ``keyid`` of DSSE signatures.

One rule decides every Ed25519 question in this tool (baselines, results, the
log): a public key must be a canonical encoding of a point of the prime-order
subgroup (:func:`check_public_key`), and a signature is checked by libsodium's
strict verification (:func:`signature_checker`). OpenSSL alone accepts a
small-order public key such as the identity point ``01 00..00``, under which
anyone can make a "valid" signature of any message; libsodium refuses it. The
two verifiers must never disagree, so both the key check and the signature
check go through here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open
from nacl.exceptions import BadSignatureError

from attest.errors import ConfigError
from attest.fsutil import read_bounded, write_new

__all__ = [
    "SignatureChecker",
    "check_public_key",
    "generate_key_files",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_path_for",
    "raw_public_bytes",
    "signature_checker",
]

#: Key files are small; anything larger is not a key.
MAX_KEY_FILE = 64 * 1024


#: ``check(signature, message) -> bool``
SignatureChecker = Callable[[bytes, bytes], bool]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def check_public_key(raw: bytes) -> None:
    """Refuse raw bytes that cannot be a signer's Ed25519 public key.

    A real key is ``a*B`` for a secret scalar ``a``: a point of the prime-order
    subgroup, canonically encoded. Anything else is refused, in particular the
    eight small-order points (the identity ``01 00..00`` among them) in every
    encoding, canonical or not: under such a key a signature of any message
    can be made without a secret, and OpenSSL would accept it.
    (libsodium's ``crypto_core_ed25519_is_valid_point``: canonical ``y``, not
    of small order, on the curve, in the main subgroup.)

    Raises:
        ConfigError: not 32 bytes, or not a valid public key (the message says why).
    """
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ConfigError(f"not an Ed25519 public key: {len(raw)} bytes, expected {PUBLIC_KEY_BYTES}")
    if not crypto_core_ed25519_is_valid_point(raw):
        raise ConfigError(
            "not a valid Ed25519 public key (a small-order, non-canonical or off-subgroup point, "
            "under which signatures can be forged)"
        )


def signature_checker(public: Ed25519PublicKey | bytes) -> SignatureChecker:
    """The signature check for one public key: the one verification rule of this tool.

    The key is checked once, here (:func:`check_public_key`); a key that fails
    gets a checker that accepts nothing, so a degenerate key slipped past a
    loader still never counts. Signatures are checked by libsodium's strict
    Ed25519 (RFC 8032 with canonical ``S``, and small-order ``R`` refused), the
    same rule the log's verifier uses.

    Args:
        public: the key, or its raw 32 bytes.

    Returns:
        ``check(signature, message) -> bool``; it never raises.
    """
    raw = public if isinstance(public, bytes) else raw_public_bytes(public)
    try:
        check_public_key(raw)
    except ConfigError:
        return _reject_all

    def check(signature: bytes, message: bytes) -> bool:
        if len(signature) != SIGNATURE_BYTES:
            return False
        try:
            crypto_sign_open(signature + message, raw)
        except BadSignatureError:
            return False
        return True

    return check


def _reject_all(signature: bytes, message: bytes) -> bool:
    del signature, message
    return False


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Lowercase hex SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()


def public_key_path_for(private_path: Path) -> Path:
    """``NAME.key`` -> ``NAME.pub``; any other name ``X`` -> ``X.pub``."""
    if private_path.suffix == ".key":
        return private_path.with_suffix(".pub")
    return private_path.with_name(private_path.name + ".pub")


def generate_key_files(private_path: Path) -> tuple[Path, Path]:
    """Write a new key pair; never overwrite.

    Returns:
        The private and public key paths.

    Raises:
        ConfigError: either file exists, or cannot be written.
    """
    public_path = public_key_path_for(private_path)
    for p in (private_path, public_path):
        if p.exists() or p.is_symlink():
            raise ConfigError(f"{p}: already exists; refusing to overwrite a key file")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_new(private_path, private_pem, 0o600)
    try:
        write_new(public_path, public_pem, 0o644)
    except ConfigError:
        private_path.unlink()
        raise
    return private_path, public_path


#: What cryptography raises for a PEM it cannot load: malformed (ValueError, TypeError), an
#: algorithm it does not know (UnsupportedAlgorithm), or one OpenSSL chokes on (InternalError).
_UNLOADABLE = (ValueError, TypeError, UnsupportedAlgorithm, InternalError)


def _read_key_file(path: Path) -> bytes:
    return read_bounded(path, MAX_KEY_FILE, what="key")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load an unencrypted PKCS#8 PEM Ed25519 private key.

    Raises:
        ConfigError: unreadable, readable by group or others (like ssh, we
            refuse a secret that may already have leaked), not PEM,
            encrypted, or not Ed25519.
    """
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise ConfigError(f"{path}: cannot read key: {e.strerror}") from e
    if mode & 0o077:
        raise ConfigError(f"{path}: private key is accessible by group or others (mode {mode & 0o777:04o}); chmod 600")
    data = _read_key_file(path)
    if b"-----BEGIN PUBLIC KEY-----" in data:
        raise ConfigError(f"{path}: this is a public key; give the private key (the .key file beside it)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except _UNLOADABLE as e:
        raise ConfigError(f"{path}: not an unencrypted PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a SubjectPublicKeyInfo PEM Ed25519 public key.

    Raises:
        ConfigError: unreadable, not PEM, not Ed25519, or not a valid key
            (:func:`check_public_key`: e.g. a small-order point).
    """
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except _UNLOADABLE as e:
        raise ConfigError(f"{path}: not a PEM public key") from e
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    try:
        check_public_key(raw_public_bytes(key))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    return key
