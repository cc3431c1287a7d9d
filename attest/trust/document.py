"""The signed trust policy: a versioned document signed by its own keys (like TUF's root role).

The document is a DSSE envelope with payload type :data:`PAYLOAD_TYPE`; the
payload is RFC 8785 canonical JSON, so one policy has one byte form and one
digest::

    {"_type": "https://drone-attest.dev/trust-policy/v1",
     "version": 3,                          # 1, 2, 3, ...: a dock never goes back
     "threshold": 2,                        # distinct signers a baseline needs
     "policy_threshold": 2,                 # distinct keys of this version a successor needs
     "expires": "2027-01-01T00:00:00Z",     # or null
     "keys": [{"id": "fleet-1", "public_key": "<base64 of the raw 32-byte key>"}],
     "sigstore": [{"id": "alice", "identity": "alice@force.example",
                   "issuer": "https://accounts.google.com",
                   "trusted_root": "trusted_root.json",    # relative to the document
                   "trusted_root_sha256": "<hex>"}],       # the root is pinned by its digest
     "revoked": [{"key": "<hex key id>", "id": "fleet-2", "reason": "laptop stolen"},
                 {"identity": "bob@force.example", "reason": "left the company"}]}

Keys are embedded, so the document is self-contained except for Sigstore
trusted roots, which are pinned by SHA-256 (a root is kilobytes and changes
with Sigstore's own key rotation, which then needs a new policy version). A
root file that does not match its pin is refused.

Rules (checked by :func:`check_self_signed` and :func:`check_successor`):

* a document counts only when ``policy_threshold`` distinct keys **of its
  own** signed it (a revoked or removed key is not one of its keys);
* version N+1 replaces version N only when ``policy_threshold`` distinct
  keys of N **and** ``policy_threshold`` distinct keys of N+1 signed it, so
  neither the old signers alone nor the new ones alone can change the policy;
* version N+1 still revokes every key and identity that N revokes (it may
  reword the reason): a revocation is forever, so no threshold of signers can
  quietly trust a stolen key again. A signer N+1 merely *removes* is not
  revoked, and a later version may list it again.

A document lists each key, and each Sigstore identity, once (one key under
two ids would make ``attest trust show`` promise a spare key that does not
exist), and carries at most :data:`~attest.trust.policy.MAX_SIGNATURES`
signatures; a version is at most :data:`MAX_VERSION` (canonical JSON's
integers).

Malformed documents are :class:`~attest.errors.ConfigError` (exit 2); a
well-formed document that must not be trusted is :class:`UntrustedPolicyError`
(exit 4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from attest.errors import BaselineError, ConfigError, UntrustedBaselineError
from attest.fsutil import read_bounded
from attest.jsonutil import JSONFormatError, loads_canonical
from attest.signing import Envelope, check_public_key, raw_public_bytes
from attest.timeutil import format_time, parse_time
from attest.trust.policy import (
    MAX_SIGNATURES,
    MAX_SIGNERS,
    MAX_TRUSTED_ROOT_BYTES,
    Revocation,
    TrustedKey,
    TrustPolicy,
)

if TYPE_CHECKING:
    from attest.trust.sigstore import SigstoreSigner

__all__ = [
    "MAX_VERSION",
    "PAYLOAD_TYPE",
    "POLICY_TYPE",
    "PolicyDocument",
    "RootPin",
    "UntrustedPolicyError",
    "check_self_signed",
    "check_successor",
    "looks_like_document",
    "make_document",
    "read_document",
]

PAYLOAD_TYPE = "application/vnd.drone-attest.trust-policy+json"
POLICY_TYPE = "https://drone-attest.dev/trust-policy/v1"
#: The highest version: RFC 8785 JSON has no larger exact integer.
MAX_VERSION = 2**53 - 1

_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"_type", "version", "threshold", "policy_threshold", "expires", "keys", "sigstore", "revoked"}


class UntrustedPolicyError(UntrustedBaselineError):
    """A well-formed trust policy document that must not be trusted: signatures, version, expiry (exit 4)."""


@dataclass(frozen=True)
class RootPin:
    """A Sigstore signer's trusted root as the document pins it: a path relative to the document and its digest."""

    signer: str
    path: str
    sha256: str


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed trust policy document. Holding one proves nothing: see :func:`check_self_signed`.

    Attributes:
        envelope: the DSSE envelope (payload and signatures).
        policy: the policy it states; its Sigstore signers' ``trusted_root``
            is the path as written (relative), not yet checked: see :meth:`resolve`.
        roots: each Sigstore signer's pinned trusted root.
    """

    envelope: Envelope
    policy: TrustPolicy
    roots: tuple[RootPin, ...]

    @property
    def version(self) -> int:
        """The policy version."""
        assert self.policy.version is not None  # noqa: S101 - set by read_document
        return self.policy.version

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the payload."""
        return hashlib.sha256(self.envelope.payload).hexdigest()

    def signed_by(self, key: Ed25519PrivateKey) -> PolicyDocument:
        """A copy with ``key``'s signature added (replacing an earlier one by the same key)."""
        return replace(self, envelope=self.envelope.signed_by(key))

    def to_bytes(self) -> bytes:
        """The envelope as pretty JSON (the file form)."""
        return self.envelope.to_bytes(indent=2)

    def key_signers(self, keys: Iterable[TrustedKey]) -> list[TrustedKey]:
        """The distinct keys among ``keys`` that made a valid signature of this document."""
        listed = list(keys)
        good = {raw_public_bytes(k) for k in self.envelope.verified_keys(k.key for k in listed)}
        out: list[TrustedKey] = []
        for k in listed:
            raw = raw_public_bytes(k.key)
            if raw in good:
                good.discard(raw)
                out.append(k)
        return out

    def root_bytes(
        self, lookup: Callable[[RootPin], Path], *, read: Callable[[Path], bytes] | None = None
    ) -> dict[str, bytes]:
        """Each pinned Sigstore root's bytes, by SHA-256, read from the path ``lookup`` gives and checked.

        Args:
            lookup: where each pinned root is.
            read: how to read one (default: a bounded read of the file).

        Raises:
            ConfigError: a root cannot be read.
            UntrustedPolicyError: a root's bytes do not match the digest the document pins.
        """
        out: dict[str, bytes] = {}
        for pin in self.roots:
            path = lookup(pin)
            if read is not None:
                data = read(path)
            else:
                data = read_bounded(path, MAX_TRUSTED_ROOT_BYTES, what="Sigstore trusted root")
            if hashlib.sha256(data).hexdigest() != pin.sha256:
                raise UntrustedPolicyError(
                    f"{self.policy.source}: Sigstore trusted root {path} of signer {pin.signer!r} is not the one "
                    f"trust policy version {self.version} pins (sha256 {pin.sha256}); a new root needs a new "
                    "policy version"
                )
            out[pin.sha256] = data
        return out

    def resolve(self, lookup: Callable[[RootPin], Path], *, read: Callable[[Path], bytes] | None = None) -> TrustPolicy:
        """The policy with each Sigstore trusted root at the path ``lookup`` gives, checked against its pin.

        Raises:
            ConfigError: a root cannot be read.
            UntrustedPolicyError: a root's bytes do not match the digest the document pins.
        """
        if not self.roots:
            return self.policy
        self.root_bytes(lookup, read=read)
        pins = {p.signer: p for p in self.roots}
        signers = tuple(replace(s, trusted_root=lookup(pins[s.id])) for s in self.policy.sigstore)
        return replace(self.policy, sigstore=signers)


def looks_like_document(data: bytes) -> bool:
    """Whether policy bytes are a signed document (JSON) rather than TOML (which never starts with ``{``)."""
    return data.lstrip()[:1] == b"{"


def make_document(draft: TrustPolicy, *, version: int, out_dir: Path) -> PolicyDocument:
    """An unsigned document of ``draft`` (a TOML policy) as version ``version``.

    Each Sigstore trusted root is read now, pinned by its SHA-256, and
    referenced relative to ``out_dir`` (where the document will be written).

    Raises:
        ConfigError: a trusted root cannot be read, or the draft cannot be a
            signed policy (its keys could never sign a successor).
    """
    if not 1 <= version <= MAX_VERSION:
        raise ConfigError(f"a trust policy version is an integer from 1 to {MAX_VERSION} (got {version})")
    if draft.signing_threshold > len({k.key_id for k in draft.keys}):
        raise ConfigError(
            f"{draft.source}: a signed policy must be signable by its own keys: set policy_threshold to at most "
            f"the number of distinct keys ({len({k.key_id for k in draft.keys})}); Sigstore signers approve "
            "baselines, not policy versions"
        )
    sigstore = []
    for s in draft.sigstore:
        data = read_bounded(s.trusted_root, MAX_TRUSTED_ROOT_BYTES, what="Sigstore trusted root")
        sigstore.append(
            {
                "id": s.id,
                "identity": s.identity,
                "issuer": s.issuer,
                "trusted_root": Path(os.path.relpath(s.trusted_root.resolve(), out_dir.resolve())).as_posix(),
                "trusted_root_sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    revoked: list[dict[str, Any]] = []
    for r in draft.revoked:
        entry: dict[str, Any] = {"reason": r.reason}
        entry.update({"key": r.key} if r.key is not None else {"identity": r.identity})
        if r.id is not None:
            entry["id"] = r.id
        revoked.append(entry)
    obj: dict[str, Any] = {
        "_type": POLICY_TYPE,
        "version": version,
        "threshold": draft.threshold,
        "policy_threshold": draft.signing_threshold,
        "expires": format_time(draft.expires) if draft.expires is not None else None,
        "keys": [
            {"id": k.id, "public_key": base64.b64encode(raw_public_bytes(k.key)).decode("ascii")} for k in draft.keys
        ],
        "sigstore": sigstore,
        "revoked": revoked,
    }
    payload = rfc8785.dumps(obj)
    return read_document(Envelope(payload, PAYLOAD_TYPE).to_bytes(), source=draft.source)


def read_document(data: bytes, *, source: str) -> PolicyDocument:
    """Parse a trust policy document; signatures are NOT checked.

    Raises:
        ConfigError: not a DSSE envelope, wrong payload type, payload not
            RFC 8785 canonical JSON, or not a valid policy (every rule of
            :mod:`attest.trust.policy`).
    """
    try:
        env = Envelope.from_bytes(data, source=source)
    except BaselineError as e:  # the envelope parser speaks of baselines; here it is a policy
        raise ConfigError(f"not a trust policy document: {e}") from e
    if env.payload_type != PAYLOAD_TYPE:
        raise ConfigError(f"{source}: payloadType is {env.payload_type!r}, expected {PAYLOAD_TYPE!r}")
    if len(env.signatures) > MAX_SIGNATURES:
        # Checked before any signature is: each is tried against every key.
        raise ConfigError(
            f"{source}: {len(env.signatures)} signatures, more than a policy may carry ({MAX_SIGNATURES})"
        )
    try:
        obj = loads_canonical(env.payload)
    except JSONFormatError as e:
        raise ConfigError(f"{source}: trust policy payload: {e}") from e
    return _parse(obj, env, source)


def _parse(obj: Any, env: Envelope, source: str) -> PolicyDocument:
    if not isinstance(obj, dict) or set(obj) != _FIELDS:
        have = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ConfigError(f"{source}: a trust policy payload has exactly the fields {sorted(_FIELDS)} (got {have})")
    if obj["_type"] != POLICY_TYPE:
        raise ConfigError(f"{source}: _type is not {POLICY_TYPE}")
    for name in ("version", "threshold", "policy_threshold"):
        if type(obj[name]) is not int:
            raise ConfigError(f"{source}: {name!r} must be an integer")
    if obj["version"] < 1:
        raise ConfigError(f"{source}: version must be a positive integer")
    expires = obj["expires"]
    if expires is not None:
        try:
            expires = parse_time(expires) if isinstance(expires, str) else None
        except ValueError as e:
            raise ConfigError(f"{source}: expires: {e}") from e
        if expires is None:
            raise ConfigError(f"{source}: expires must be an RFC 3339 time or null")
    for name in ("keys", "sigstore"):
        if isinstance(obj[name], list) and len(obj[name]) > MAX_SIGNERS:
            raise ConfigError(f"{source}: more than {MAX_SIGNERS} {name} entries")
    keys = [_key(e, source) for e in _list(obj, "keys", source)]
    pins = [_pin(e, source) for e in _list(obj, "sigstore", source)]
    sigstore = [_signer(p, e) for p, e in zip(pins, obj["sigstore"], strict=True)]
    revoked = [_revoked(e, source) for e in _list(obj, "revoked", source)]
    _once(keys, sigstore, source)
    policy = TrustPolicy.build(
        threshold=obj["threshold"],
        keys=keys,
        sigstore=sigstore,
        revoked=revoked,
        policy_threshold=obj["policy_threshold"],
        expires=expires,
        version=obj["version"],
        digest=hashlib.sha256(env.payload).hexdigest(),
        source=source,
    )
    return PolicyDocument(envelope=env, policy=policy, roots=tuple(pins))


def _signer(pin: RootPin, entry: dict[str, Any]) -> SigstoreSigner:
    from attest.trust.sigstore import SigstoreSigner  # only a policy with Sigstore signers loads it

    return SigstoreSigner(
        id=pin.signer, identity=entry["identity"], issuer=entry["issuer"], trusted_root=Path(pin.path)
    )


def _once(keys: list[TrustedKey], sigstore: list[SigstoreSigner], source: str) -> None:
    """Refuse a key or a Sigstore identity listed twice: the count of signers must be what a reader sees."""
    seen: dict[str, str] = {}
    for k in keys:
        if k.key_id in seen:
            raise ConfigError(
                f"{source}: key {k.id!r} is key {seen[k.key_id]!r} listed twice; a signed policy lists each key once"
            )
        seen[k.key_id] = k.id
    identities: dict[str, str] = {}
    for s in sigstore:
        if s.identity in identities:
            raise ConfigError(
                f"{source}: Sigstore signer {s.id!r} is {identities[s.identity]!r} listed twice (identity "
                f"{s.identity}); a signed policy lists each identity once"
            )
        identities[s.identity] = s.id


def _list(obj: dict[str, Any], name: str, source: str) -> list[dict[str, Any]]:
    value = obj[name]
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise ConfigError(f"{source}: {name!r} must be a list of objects")
    return value


def _text(entry: dict[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ConfigError(f"{where}: {name!r} must be a non-empty printable string")
    return value


def _key(entry: dict[str, Any], source: str) -> TrustedKey:
    where = f"{source}: keys entry {entry.get('id')!r}"
    if set(entry) != {"id", "public_key"}:
        raise ConfigError(f"{where}: needs exactly 'id' and 'public_key'")
    name = _text(entry, "id", where)
    text = _text(entry, "public_key", where)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(f"{where}: public_key is not base64") from e
    if base64.b64encode(raw).decode("ascii") != text:  # one text per key: standard, padded
        raise ConfigError(f"{where}: public_key is not canonical base64")
    try:
        check_public_key(raw)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from e
    return TrustedKey(id=name, key=Ed25519PublicKey.from_public_bytes(raw))


def _pin(entry: dict[str, Any], source: str) -> RootPin:
    where = f"{source}: sigstore entry {entry.get('id')!r}"
    if set(entry) != {"id", "identity", "issuer", "trusted_root", "trusted_root_sha256"}:
        raise ConfigError(f"{where}: needs exactly id, identity, issuer, trusted_root, trusted_root_sha256")
    for name in ("identity", "issuer"):
        _text(entry, name, where)
    digest = _text(entry, "trusted_root_sha256", where)
    if not _HEX64.fullmatch(digest):
        raise ConfigError(f"{where}: trusted_root_sha256 must be 64 lowercase hex digits")
    return RootPin(signer=_text(entry, "id", where), path=_text(entry, "trusted_root", where), sha256=digest)


def _revoked(entry: dict[str, Any], source: str) -> Revocation:
    where = f"{source}: revoked entry"
    which = set(entry) & {"key", "identity"}
    if len(which) != 1 or "reason" not in entry or set(entry) - {"key", "identity", "reason", "id"}:
        raise ConfigError(f"{where}: needs 'reason' and exactly one of 'key', 'identity' (and may have 'id')")
    name = _text(entry, "id", where) if "id" in entry else None
    reason = _text(entry, "reason", where)
    if "identity" in entry:
        return Revocation(reason=reason, identity=_text(entry, "identity", where), id=name)
    kid = _text(entry, "key", where)
    if not _HEX64.fullmatch(kid):
        raise ConfigError(f"{where}: key must be a key id (64 lowercase hex digits)")
    return Revocation(reason=reason, key=kid, id=name)


def _without(keys: Iterable[TrustedKey], signed: Iterable[TrustedKey]) -> list[TrustedKey]:
    done = {k.key_id for k in signed}
    return [k for k in keys if k.key_id not in done]


def _names(keys: Iterable[TrustedKey]) -> str:
    return ", ".join(k.id for k in keys) or "none"


def check_self_signed(doc: PolicyDocument) -> list[str]:
    """Require ``policy_threshold`` distinct keys of the document itself to have signed it.

    Returns:
        The ids of the keys that signed it.

    Raises:
        UntrustedPolicyError: too few of its own keys signed it.
    """
    p = doc.policy
    good = doc.key_signers(p.keys)
    if len(good) < p.signing_threshold:
        missing = _without(p.keys, good)
        raise UntrustedPolicyError(
            f"{p.source}: trust policy version {doc.version} is signed by {len(good)} of its own keys "
            f"({_names(good)}), {p.signing_threshold} required; not yet signed by: {_names(missing)}"
            + _revoked_note(doc, p)
        )
    return [k.id for k in good]


def check_successor(current: PolicyDocument, new: PolicyDocument) -> None:
    """Require ``new`` to be the next version of ``current``, approved by both its signers and the current ones.

    Raises:
        UntrustedPolicyError: not version N+1 (a rollback, a replay, or a
            skipped version), a revocation of ``current`` dropped, or too few
            current or new keys signed it.
    """
    src = new.policy.source
    if new.version <= current.version:
        if new.version == current.version and new.digest == current.digest:
            return
        what = "is older than" if new.version < current.version else "differs from"
        raise UntrustedPolicyError(
            f"{src}: trust policy version {new.version} {what} version {current.version} accepted on this dock "
            "(a policy never goes back)"
        )
    if new.version != current.version + 1:
        raise UntrustedPolicyError(
            f"{src}: trust policy version {new.version} does not follow version {current.version} accepted on this "
            f"dock; accept version {current.version + 1} first (each version is approved by the one before)"
        )
    old = current.policy
    _check_revocations_kept(current, new)
    by_current = new.key_signers(old.keys)
    if len(by_current) < old.signing_threshold:
        missing = _without(old.keys, by_current)
        raise UntrustedPolicyError(
            f"{src}: trust policy version {new.version} is signed by {len(by_current)} key(s) of the current version "
            f"{current.version} ({_names(by_current)}), {old.signing_threshold} required; not signed by: "
            f"{_names(missing)}" + _revoked_note(new, old, counted=by_current)
        )
    check_self_signed(new)


def _check_revocations_kept(current: PolicyDocument, new: PolicyDocument) -> None:
    """Refuse ``new`` when it no longer revokes a key or identity that ``current`` revokes.

    Without this, a threshold of signers (a stolen key among them, if the
    threshold allows) could make the next version forget a revocation, and
    the stolen key would count again wherever a later version lists it.
    """
    nxt = new.policy
    dropped = [r for r in current.policy.revoked if not nxt.keeps(r)]
    if not dropped:
        return
    parts = []
    for r in dropped:
        relisted = nxt.key_name(r.key) if r.key is not None else _identity_name(nxt, r.identity or "")
        again = (
            f", and lists it again as signer {relisted!r} (a revoked key or identity is never trusted again: "
            "give its owner a new one)"
            if relisted is not None
            else ""
        )
        parts.append((r.describe(), f"(reason: {r.reason}){again}"))
    was = f"version {current.version} lists"
    what = (
        f"the revocation of {parts[0][0]} that {was} {parts[0][1]}"
        if len(parts) == 1
        else f"{len(parts)} revocations that {was}: {'; '.join(f'{who} {why}' for who, why in parts)}"
    )
    entries = "; ".join(_toml_entry(r) for r in dropped)
    raise UntrustedPolicyError(
        f"{new.policy.source}: trust policy version {new.version} drops {what}. A revocation carries forward to "
        f"every later version: keep {'it' if len(parts) == 1 else 'them'} in the draft of version {new.version} "
        f"({entries}), make the document again and collect its signatures"
    )


def _identity_name(policy: TrustPolicy, identity: str) -> str | None:
    return next((s.id for s in policy.sigstore if s.identity == identity), None)


def _toml_entry(r: Revocation) -> str:
    """A revocation as the ``[[revoked]]`` entry of a draft (JSON string escapes are TOML basic-string escapes)."""
    fields = [f"key = {json.dumps(r.key)}" if r.key is not None else f"identity = {json.dumps(r.identity)}"]
    if r.id is not None:
        fields.append(f"id = {json.dumps(r.id)}")
    fields.append(f"reason = {json.dumps(r.reason)}")
    return f"[[revoked]] {', '.join(fields)}"


def _revoked_note(doc: PolicyDocument, policy: TrustPolicy, *, counted: Iterable[TrustedKey] = ()) -> str:
    """Why signatures whose keyid hint names a revoked key did not count (the hint is for messages only).

    A key in ``counted`` did count (a key of version N that N+1 revokes still
    approves N+1 for N): it is not named as revoked.
    """
    done = {k.key_id for k in counted}
    notes = []
    for sig in doc.envelope.signatures:
        if sig.keyid in done:
            continue
        r = policy.revocation_of_key(sig.keyid) or doc.policy.revocation_of_key(sig.keyid)
        if r is not None:
            notes.append(f"{r.describe()} is revoked: {r.reason}")
    return "".join(f"; {n}" for n in dict.fromkeys(notes))
