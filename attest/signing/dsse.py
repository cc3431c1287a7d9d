"""DSSE envelopes (Dead Simple Signing Envelope, v1) with Ed25519.

Written by hand (about 100 lines over ``cryptography``) because
securesystemslib's envelope would pull a second key model into the dock.
Signatures cover ``PAE(payloadType, payload)``; the envelope's ``keyid`` is
an unauthenticated hint used only to pick candidate keys.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from attest.errors import BaselineError
from attest.jsonutil import JSONFormatError, loads
from attest.signing.keys import key_id, raw_public_bytes, signature_checker

__all__ = ["Envelope", "Signature", "pae"]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding of ``payload_type`` and ``payload``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    """One signature of an envelope."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope. Holding one proves nothing: call :meth:`verified_keys`."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "envelope") -> Envelope:
        """Parse an envelope's JSON.

        The JSON must be strict (:func:`attest.jsonutil.loads`): no duplicate
        keys, no NaN, no integer beyond RFC 8785's range, bounded nesting,
        UTF-8; a reviewer and a verifier must never read different envelopes
        from the same bytes.

        Raises:
            BaselineError: not strict JSON, or not of the DSSE shape.
        """
        try:
            obj = loads(data)
        except JSONFormatError as e:
            raise BaselineError(f"{source}: not JSON this tool accepts: {e}") from e
        if not isinstance(obj, dict):
            raise BaselineError(f"{source}: not a DSSE envelope (expected a JSON object)")
        if "_type" in obj and "payload" not in obj:
            raise BaselineError(f"{source}: an unsigned Statement, not a DSSE envelope; sign it first")
        payload, ptype, sigs = obj.get("payload"), obj.get("payloadType"), obj.get("signatures")
        if not isinstance(payload, str) or not isinstance(ptype, str) or not isinstance(sigs, list):
            raise BaselineError(f"{source}: not a DSSE envelope (needs payload, payloadType, signatures)")
        if not ptype.isprintable():  # also refuses lone surrogates, which UTF-8 cannot encode
            raise BaselineError(f"{source}: payloadType is not printable UTF-8 text")
        parsed: list[Signature] = []
        for i, s in enumerate(sigs):
            if not isinstance(s, dict) or not isinstance(s.get("sig"), str):
                raise BaselineError(f"{source}: signature {i} has no 'sig' string")
            kid = s.get("keyid", "")
            if not isinstance(kid, str):
                raise BaselineError(f"{source}: signature {i} has a non-string keyid")
            try:
                kid.encode("utf-8")
            except UnicodeEncodeError as e:  # a lone surrogate from a JSON escape: no text can show it
                raise BaselineError(f"{source}: signature {i} has a keyid that is not UTF-8 text") from e
            parsed.append(Signature(keyid=kid, sig=_b64decode(s["sig"], f"{source}: signature {i}")))
        return cls(payload=_b64decode(payload, f"{source}: payload"), payload_type=ptype, signatures=tuple(parsed))

    def to_json(self) -> dict[str, Any]:
        """The envelope as JSON data (standard base64)."""
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in self.signatures],
        }

    def to_bytes(self, *, indent: int | None = None) -> bytes:
        """The envelope as JSON bytes (compact unless ``indent`` is given)."""
        if indent is None:
            return json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")
        return (json.dumps(self.to_json(), indent=indent) + "\n").encode("utf-8")

    def signed_by(self, key: Ed25519PrivateKey) -> Envelope:
        """A copy with ``key``'s signature added (replacing an earlier one by the same key)."""
        kid = key_id(key.public_key())
        sig = key.sign(pae(self.payload_type, self.payload))
        kept = tuple(s for s in self.signatures if s.keyid != kid)
        return Envelope(self.payload, self.payload_type, (*kept, Signature(kid, sig)))

    def verified_keys(self, keys: Iterable[Ed25519PublicKey]) -> list[Ed25519PublicKey]:
        """The distinct keys among ``keys`` that produced a valid signature.

        A key counts once however many signatures it made; the keyid hint is
        used only to skip obviously mismatched pairs, never to accept. Each
        check is :func:`attest.signing.keys.signature_checker`'s, so a
        degenerate key (e.g. a small-order point) never counts.
        """
        message = pae(self.payload_type, self.payload)
        good: list[Ed25519PublicKey] = []
        seen: set[bytes] = set()
        for key in keys:
            raw = raw_public_bytes(key)
            if raw in seen:
                continue
            kid = key_id(key)
            check = signature_checker(raw)
            for s in self.signatures:
                if s.keyid and s.keyid != kid:
                    continue
                if not check(s.sig, message):
                    continue
                good.append(key)
                seen.add(raw)
                break
        return good


def _b64decode(text: str, what: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not (DSSE requires both).

    Only the canonical encoding of the decoded bytes is accepted, so no two
    envelope texts carry the same signature: a flipped unused trailing bit is
    an error, not a silent no-op.
    """
    s = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        raw = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise BaselineError(f"{what}: bad base64") from e
    if base64.b64encode(raw).decode("ascii").rstrip("=") != s:
        raise BaselineError(f"{what}: non-canonical base64")
    return raw
