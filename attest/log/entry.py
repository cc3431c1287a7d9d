"""What a log entry must be: a DSSE envelope, as compact JSON, signed by the log's own key.

The log's key signs both its checkpoints (as notes) and every entry (as
DSSE), so a fleet manager needs only the vkey to check everything. This
module checks one entry fast, because ``attest log verify`` checks a million:
libsodium (PyNaCl, installed with paramiko) verifies Ed25519 about twice as
fast as OpenSSL here; ``cryptography`` is the fallback and the reference.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.dsse import pae

__all__ = ["MAX_ENTRY_BYTES", "PAYLOAD_TYPE", "EntryChecker", "dsse_key_id", "entry_problem", "make_verifier"]

#: The largest entry the log stores or reads (a result with ~300,000 findings).
MAX_ENTRY_BYTES = 64 * 1024 * 1024

#: The DSSE payload type of every entry: an in-toto Statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"

#: ``verify(signature, message) -> bool``
EntryChecker = Callable[[bytes, bytes], bool]


def _cryptography_verifier(public: bytes) -> EntryChecker:
    key = Ed25519PublicKey.from_public_bytes(public)

    def verify(sig: bytes, message: bytes) -> bool:
        try:
            key.verify(sig, message)
        except InvalidSignature:
            return False
        return True

    return verify


def _sodium_verifier(public: bytes) -> EntryChecker | None:
    try:
        from nacl.bindings import crypto_sign_open
        from nacl.exceptions import BadSignatureError
    except ImportError:
        return None

    def verify(sig: bytes, message: bytes) -> bool:
        if len(sig) != 64:
            return False
        try:
            crypto_sign_open(sig + message, public)
        except BadSignatureError:
            return False
        return True

    return verify


def make_verifier(public: bytes, *, fast: bool = True) -> EntryChecker:
    """An Ed25519 signature check for the raw 32-byte ``public`` key.

    Args:
        public: the raw public key.
        fast: use libsodium when it is installed (same answers, half the time).
    """
    if fast:
        v = _sodium_verifier(public)
        if v is not None:
            return v
    return _cryptography_verifier(public)


def _b64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return binascii.a2b_base64(text, strict_mode=True)  # standard base64, the fast path
    except (ValueError, binascii.Error):
        pass
    try:  # DSSE verifiers must accept URL-safe base64 too
        s = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def dsse_key_id(public: bytes) -> str:
    """The DSSE ``keyid`` hint our signers write: hex SHA-256 of the raw public key."""
    return hashlib.sha256(public).hexdigest()


def entry_problem(entry: bytes, verify: EntryChecker, keyid: str) -> str | None:  # noqa: PLR0911 (one reason each)
    """Why ``entry`` is not a DSSE envelope signed by the log's key, or ``None`` when it is.

    Args:
        entry: the entry's bytes.
        verify: a checker from :func:`make_verifier` for the log's key.
        keyid: that key's DSSE keyid (:func:`dsse_key_id`); signatures with a
            different non-empty hint are skipped, never trusted because of it.
    """
    if len(entry) > MAX_ENTRY_BYTES:
        return f"larger than {MAX_ENTRY_BYTES} bytes"
    try:
        obj = json.loads(entry)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "not JSON (expected a DSSE envelope)"
    if not isinstance(obj, dict):
        return "not a DSSE envelope (expected a JSON object)"
    payload, ptype, sigs = _b64(obj.get("payload")), obj.get("payloadType"), obj.get("signatures")
    if payload is None or not isinstance(ptype, str) or not isinstance(sigs, list):
        return "not a DSSE envelope (needs payload, payloadType, signatures)"
    if ptype != PAYLOAD_TYPE:
        return f"payloadType is {ptype[:80]!r}, expected {PAYLOAD_TYPE!r}"
    message = pae(ptype, payload)
    for s in sigs:
        if not isinstance(s, dict):
            continue
        hint = s.get("keyid", "")
        if hint and hint != keyid:
            continue
        sig = _b64(s.get("sig"))
        if sig is not None and verify(sig, message):
            return None
    return "no valid signature by the log's key"
