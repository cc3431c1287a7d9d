"""The dock's ADB key: an RSA-2048 key pair in the state directory, and Android's public-key format.

Primary sources (aosp-mirror/platform_system_core): ``adb/client/auth.cpp``
and ``adb/crypto/rsa_2048_key.cpp`` at commit 5cf7868b7 (the host side: a
2048-bit key, exponent 65537, the private key as PEM, the public key as
base64 of the binary struct followed by ``" user@host"``), and
``libcrypto_utils/android_pubkey.cpp`` (the binary struct, 524 bytes of
little-endian 32-bit words: ``modulus_size_words`` (64), ``n0inv``
(``-1 / n[0] mod 2**32``), the modulus (256 bytes, little-endian), ``rr``
(``(2**2048)**2 mod n``, little-endian), the exponent).

Authentication (``adb/daemon/auth.cpp``): adbd sends a 20-byte random token;
the host answers with ``RSA_sign(NID_sha1, token, ...)``, which treats the
token *as a SHA-1 digest*: a PKCS#1 v1.5 signature over the DigestInfo of
SHA-1 wrapping the token itself, with no hashing. In ``cryptography`` that is
``Prehashed(SHA1())``. SHA-1 is not a weakness here: nothing is hashed, and
the token is adbd's own random challenge.

The dock's key lives in its state directory as ``adbkey`` (unencrypted
PKCS#8 PEM, mode 0600, refused when readable by group or others) and
``adbkey.pub`` (the Android format, for ``/data/misc/adb/adb_keys``); it is
created on first use with ``O_EXCL``, so two runs racing on a new dock end up
with one key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from attest.errors import ConfigError
from attest.fsutil import read_bounded, write_new
from attest.statedir import owner_for_root

__all__ = [
    "KEY_FILE",
    "PUBKEY_ENCODED_SIZE",
    "DockAdbKey",
    "android_fingerprint",
    "decode_android_pubkey",
    "encode_android_pubkey",
    "parse_pubkey_line",
    "sign_token",
    "verify_token",
]

#: The private key's file name in the state directory (its public key is ``adbkey.pub``).
KEY_FILE = "adbkey"
#: ``ANDROID_PUBKEY_MODULUS_SIZE``: Android accepts only 2048-bit keys.
_MODULUS_BYTES = 2048 // 8
_MODULUS_WORDS = _MODULUS_BYTES // 4
#: ``ANDROID_PUBKEY_ENCODED_SIZE``: the binary struct.
PUBKEY_ENCODED_SIZE = 4 + 4 + _MODULUS_BYTES + _MODULUS_BYTES + 4
_MAX_KEY_FILE = 16384


def encode_android_pubkey(key: rsa.RSAPublicKey) -> bytes:
    """The 524-byte binary form of a 2048-bit RSA public key (``android_pubkey_encode``).

    Raises:
        ValueError: not a 2048-bit key.
    """
    numbers = key.public_numbers()
    n, e = numbers.n, numbers.e
    if n.bit_length() != 2048:
        raise ValueError(f"an ADB key must be 2048-bit RSA, not {n.bit_length()}-bit")
    r32 = 1 << 32
    n0inv = r32 - pow(n % r32, -1, r32)
    rr = pow(1 << 2048, 2, n)
    return (
        struct.pack("<II", _MODULUS_WORDS, n0inv)
        + n.to_bytes(_MODULUS_BYTES, "little")
        + rr.to_bytes(_MODULUS_BYTES, "little")
        + struct.pack("<I", e)
    )


def decode_android_pubkey(blob: bytes) -> rsa.RSAPublicKey:
    """The RSA key in a binary Android public key (``android_pubkey_decode``; ``n0inv`` and ``rr`` are not trusted).

    Raises:
        ValueError: wrong size, wrong modulus length, or not a usable RSA key.
    """
    if len(blob) != PUBKEY_ENCODED_SIZE:
        raise ValueError(f"an Android public key is {PUBKEY_ENCODED_SIZE} bytes, not {len(blob)}")
    words, _ = struct.unpack_from("<II", blob)
    if words != _MODULUS_WORDS:
        raise ValueError(f"modulus of {words} words, expected {_MODULUS_WORDS}")
    n = int.from_bytes(blob[8 : 8 + _MODULUS_BYTES], "little")
    (e,) = struct.unpack_from("<I", blob, 8 + 2 * _MODULUS_BYTES)
    if n.bit_length() != 2048 or e < 3 or e % 2 == 0:
        raise ValueError("not a 2048-bit RSA public key with an odd exponent")
    return rsa.RSAPublicNumbers(e, n).public_key()


def parse_pubkey_line(line: bytes) -> rsa.RSAPublicKey:
    """The key in one ``adb_keys`` / ``adbkey.pub`` line: base64, then optionally ``" user@host"``.

    Raises:
        ValueError: not base64 of a valid Android public key.
    """
    field = line.strip(b"\0 \t\r\n").split(None, 1)
    if not field:
        raise ValueError("an empty public key")
    try:
        blob = base64.b64decode(field[0], validate=True)
    except binascii.Error as e:
        raise ValueError("the public key is not base64") from e
    return decode_android_pubkey(blob)


def android_fingerprint(key: rsa.RSAPublicKey) -> str:
    """The fingerprint Android shows when it asks "Allow USB debugging?": MD5 of the binary key, hex with colons."""
    digest = hashlib.md5(encode_android_pubkey(key), usedforsecurity=False).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def sign_token(key: rsa.RSAPrivateKey, token: bytes) -> bytes:
    """The AUTH signature: PKCS#1 v1.5 over ``token`` taken as a SHA-1 digest (``RSA_sign(NID_sha1, ...)``).

    Raises:
        ValueError: the token is not 20 bytes (a SHA-1 digest's length); adb refuses such tokens too.
    """
    if len(token) != 20:
        raise ValueError(f"an ADB AUTH token is 20 bytes, not {len(token)}")
    return key.sign(token, padding.PKCS1v15(), Prehashed(hashes.SHA1()))  # noqa: S303 - adb's protocol; nothing is hashed


def verify_token(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``key``'s AUTH signature of ``token`` (adbd's ``adbd_auth_verify``)."""
    if len(token) != 20:
        return False
    try:
        key.verify(signature, token, padding.PKCS1v15(), Prehashed(hashes.SHA1()))  # noqa: S303 - adb's protocol
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class DockAdbKey:
    """The dock's ADB identity.

    Attributes:
        private: the RSA-2048 private key.
        path: the private key file.
    """

    private: rsa.RSAPrivateKey
    path: Path

    @property
    def public_line(self) -> bytes:
        """The public key as adb writes it: base64 of the binary key, then ``" attest@dock"``."""
        return base64.b64encode(encode_android_pubkey(self.private.public_key())) + b" attest@dock"

    @property
    def fingerprint(self) -> str:
        """The MD5 fingerprint a device shows when it asks whether to allow this dock."""
        return android_fingerprint(self.private.public_key())

    def sign(self, token: bytes) -> bytes:
        """Sign an AUTH token (:func:`sign_token`)."""
        return sign_token(self.private, token)

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DockAdbKey:
        """Load ``STATE_DIR/adbkey``, creating it (0600) and ``adbkey.pub`` on first use.

        Raises:
            ConfigError: the directory or key cannot be created or read, the key is
                readable by group or others, or it is not an unencrypted 2048-bit RSA PEM key.
        """
        path = state_dir / KEY_FILE
        if not path.exists() and not path.is_symlink():
            try:
                os.makedirs(state_dir, mode=0o700, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"{state_dir}: cannot create the state directory: {e.strerror}") from e
            cls._create(path)
        return cls._load(path)

    @staticmethod
    def _create(path: Path) -> None:
        # Root (a technician's sudo) creates the key as the dock's user, who must read it.
        owner = owner_for_root(path.parent)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            write_new(path, pem, 0o600, owner=owner)
        except ConfigError:
            if path.exists():  # another run created it first: use that one
                return
            raise
        pub = base64.b64encode(encode_android_pubkey(key.public_key())) + b" attest@dock\n"
        pub_path = path.with_name(KEY_FILE + ".pub")
        try:
            pub_path.unlink(missing_ok=True)
            write_new(pub_path, pub, 0o644, owner=owner)
        except (ConfigError, OSError):
            pass  # a convenience copy only: the private key carries the public key

    @classmethod
    def _load(cls, path: Path) -> DockAdbKey:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the dock's ADB key: {e.strerror}") from e
        if st.st_mode & 0o077:
            raise ConfigError(
                f"{path}: the dock's ADB key is readable by group or others (mode {st.st_mode & 0o777:04o}); chmod 600"
            )
        data = read_bounded(path, _MAX_KEY_FILE, what="ADB key")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise ConfigError(f"{path}: not an unencrypted PEM private key") from e
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != 2048:
            raise ConfigError(f"{path}: an ADB key must be 2048-bit RSA")
        return cls(key, path)
