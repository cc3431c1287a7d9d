"""Ed25519 key files: generate, load, and name keys.

Private keys are PKCS#8 PEM written with mode 0600; public keys are
SubjectPublicKeyInfo PEM. A key's id is the lowercase hex SHA-256 of its raw
32-byte public key, the ``keyid`` of DSSE signatures.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from attest.errors import ConfigError
from attest.fsutil import read_bounded, write_new

__all__ = [
    "generate_key_files",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_path_for",
    "raw_public_bytes",
]

#: Key files are small; anything larger is not a key.
MAX_KEY_FILE = 64 * 1024


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
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: not an unencrypted PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a SubjectPublicKeyInfo PEM Ed25519 public key.

    Raises:
        ConfigError: unreadable, not PEM, or not Ed25519.
    """
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: not a PEM public key") from e
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    return key
