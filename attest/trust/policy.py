"""The trust policy: who may sign baselines, how many must, and who is revoked.

A policy is written as TOML (the *draft*, and for bench use the policy itself)::

    threshold = 2                  # distinct signers a baseline needs
    policy_threshold = 2           # optional: keys a new policy version needs (default: threshold)
    expires = 2027-01-01T00:00:00Z # optional
    [[keys]]
    id = "fleet-1"
    public_key = "fleet1.pub"      # path relative to this file
    [[sigstore]]
    id = "alice"
    identity = "alice@force.example"
    issuer = "https://accounts.google.com"
    trusted_root = "trusted_root.json"   # relative to this file
    [[revoked]]
    key = "<hex key id>"           # or public_key = "old.pub", or identity = "bob@force.example"
    reason = "laptop stolen 2026-03-01"

A fleet signs it into a versioned document (:mod:`attest.trust.document`) so
docks can rotate and revoke keys; a plain TOML policy cannot be rotated.

Every rule that makes a policy weaker than it reads is refused here, for both
forms: unknown settings (a typo must not silently weaken the policy), a signer
id used twice, a signer that is also revoked, a threshold outside 1..distinct
signers (one key, or one Sigstore identity, listed under two ids counts once),
a signer or revocation id that is not a plain ASCII name (:data:`SIGNER_ID`:
an id that prints like another, "alice" with a Cyrillic "a", would let one
drafter slip a key past the others), a Sigstore identity or issuer that is not
printable ASCII (a certificate's SAN is ASCII, so anything else only deceives
the reader), more than :data:`MAX_SIGNERS` keys or identities (every signature
is checked against every key: the work must stay bounded), and any key that fails
:func:`attest.signing.check_public_key` (a small-order key such as the
identity point would let anyone forge its signature).

Signers are Ed25519 keys and Sigstore identities; they are distinct signers
even when one person holds both (docs/trust.md says how to avoid that).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.errors import ConfigError
from attest.fsutil import read_bounded
from attest.signing import key_id, load_public_key, raw_public_bytes
from attest.timeutil import parse_time

if TYPE_CHECKING:
    from attest.trust.sigstore import SigstoreSigner

__all__ = [
    "MAX_POLICY_BYTES",
    "MAX_SIGNATURES",
    "MAX_SIGNERS",
    "MAX_TRUSTED_ROOT_BYTES",
    "SIGNER_ID",
    "Revocation",
    "TrustPolicy",
    "TrustedKey",
]

MAX_POLICY_BYTES = 1024 * 1024
#: A Sigstore trusted root is a few kilobytes of JSON; a larger file is not one.
MAX_TRUSTED_ROOT_BYTES = 1024 * 1024
#: Keys (and, separately, Sigstore identities) one policy may list: a fleet has a handful of managers.
MAX_SIGNERS = 100
#: Signatures one envelope (a baseline or a policy document) may carry. Each is checked against every
#: key, so without a bound a file of junk signatures costs hours of CPU; a real one carries a few.
MAX_SIGNATURES = 256
#: A signer's (or a revocation's) id: a plain ASCII name, so that no two ids print alike.
SIGNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")

_KEY_ID = re.compile(r"[0-9a-f]{64}")
_TOP = {"threshold", "policy_threshold", "expires", "keys", "sigstore", "revoked"}


@dataclass(frozen=True)
class TrustedKey:
    """One key the policy trusts to sign baselines (and, in a signed policy, new policy versions)."""

    id: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        """The DSSE keyid (hex SHA-256 of the raw key)."""
        return key_id(self.key)


@dataclass(frozen=True)
class Revocation:
    """A key or Sigstore identity that must never count again, and why.

    Exactly one of ``key`` (a DSSE key id: hex SHA-256 of the raw public key)
    and ``identity`` (a certificate identity, exact) is set.
    """

    reason: str
    key: str | None = None
    identity: str | None = None
    id: str | None = None

    def describe(self) -> str:
        """``key fleet-2 (ab12cd34...)`` or ``identity bob@force.example``, for messages."""
        name = f"{self.id} " if self.id else ""
        if self.key is not None:
            return f"key {name}({self.key[:16]}...)"
        return f"identity {name}{self.identity}" if not self.id else f"identity {self.id} ({self.identity})"


@dataclass(frozen=True)
class TrustPolicy:
    """Who may sign baselines, how many must, and who is revoked.

    Attributes:
        threshold: distinct signers (keys and Sigstore identities) a baseline needs.
        keys: the Ed25519 keys.
        source: where the policy came from, for messages.
        sigstore: the Sigstore signers.
        revoked: keys and identities that never count, with the reason.
        version: the signed policy's version; ``None`` for a plain TOML policy (cannot rotate).
        policy_threshold: distinct keys a new version of a signed policy needs
            (``None``: the same as ``threshold``); see :attr:`signing_threshold`.
        expires: after this, the policy trusts nothing.
        digest: hex SHA-256 of the signed policy's payload (``None`` for plain TOML).
    """

    threshold: int
    keys: tuple[TrustedKey, ...]
    source: str = "trust policy"
    sigstore: tuple[SigstoreSigner, ...] = ()
    revoked: tuple[Revocation, ...] = ()
    version: int | None = None
    policy_threshold: int | None = None
    expires: datetime | None = None
    digest: str | None = None

    @classmethod
    def from_file(cls, path: Path) -> TrustPolicy:
        """Load and check a TOML trust policy (or draft) file.

        Raises:
            ConfigError: unreadable, not TOML, wrong shape, unreadable key or
                trusted root, or any rule of the module docstring broken.
        """
        return cls.from_toml(read_bounded(path, MAX_POLICY_BYTES, what="trust policy"), path=path)

    @classmethod
    def from_toml(cls, raw: bytes, *, path: Path) -> TrustPolicy:
        """Parse TOML policy bytes read from ``path`` (relative paths resolve against its directory).

        Raises:
            ConfigError: as :meth:`from_file`.
        """
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: not a TOML trust policy: {e}") from e
        except RecursionError as e:  # tomllib recurses on nested arrays and inline tables
            raise ConfigError(f"{path}: not a TOML trust policy: nested too deeply") from e
        return cls._from_data(data, base=path.parent, source=str(path))

    @classmethod
    def _from_data(cls, data: dict[str, Any], *, base: Path, source: str) -> TrustPolicy:
        unknown = set(data) - _TOP
        if unknown:
            raise ConfigError(f"{source}: unknown settings {sorted(unknown)}")
        threshold = data.get("threshold")
        if type(threshold) is not int:
            raise ConfigError(f"{source}: 'threshold' must be an integer")
        pthreshold = data.get("policy_threshold")
        if pthreshold is not None and type(pthreshold) is not int:
            raise ConfigError(f"{source}: 'policy_threshold' must be an integer")
        keys = tuple(_toml_key(e, i, base, source) for i, e in enumerate(_entries(data, "keys", source)))
        sigstore = tuple(_toml_sigstore(e, i, base, source) for i, e in enumerate(_entries(data, "sigstore", source)))
        revoked = tuple(_toml_revoked(e, i, base, source) for i, e in enumerate(_entries(data, "revoked", source)))
        return cls.build(
            threshold=threshold,
            keys=keys,
            sigstore=sigstore,
            revoked=revoked,
            policy_threshold=pthreshold,
            expires=_toml_time(data.get("expires"), source),
            source=source,
        )

    @classmethod
    def build(
        cls,
        *,
        threshold: int,
        keys: Sequence[TrustedKey],
        sigstore: Sequence[SigstoreSigner] = (),
        revoked: Sequence[Revocation] = (),
        policy_threshold: int | None = None,
        expires: datetime | None = None,
        version: int | None = None,
        digest: str | None = None,
        source: str = "trust policy",
    ) -> TrustPolicy:
        """A policy, after checking every rule of the module docstring.

        Raises:
            ConfigError: a rule is broken (the message says which).
        """
        if not keys and not sigstore:
            raise ConfigError(f"{source}: needs at least one [[keys]] or [[sigstore]] entry")
        if len(keys) > MAX_SIGNERS or len(sigstore) > MAX_SIGNERS:
            raise ConfigError(f"{source}: more than {MAX_SIGNERS} keys or Sigstore signers")
        _check_names(keys, sigstore, revoked, source)
        ids: set[str] = set()
        for name in [k.id for k in keys] + [s.id for s in sigstore]:
            if name in ids:
                raise ConfigError(f"{source}: signer id {name!r} listed twice")
            ids.add(name)
        # One key (or one Sigstore identity) listed under two ids counts once.
        by_key = {k.key_id: k.id for k in reversed(keys)}
        by_identity = {s.identity: s.id for s in reversed(sigstore)}
        for r in revoked:
            if r.key is not None and r.key in by_key:
                raise ConfigError(f"{source}: key {by_key[r.key]!r} is both trusted and revoked ({r.reason})")
            if r.identity is not None and r.identity in by_identity:
                raise ConfigError(
                    f"{source}: Sigstore signer {by_identity[r.identity]!r} is both trusted and revoked ({r.reason})"
                )
        signers = len(by_key) + len(by_identity)
        if threshold < 1:
            raise ConfigError(f"{source}: threshold must be at least 1 (got {threshold})")
        if threshold > signers:
            raise ConfigError(f"{source}: threshold {threshold} is above the number of distinct signers ({signers})")
        if policy_threshold is not None and not 1 <= policy_threshold <= len(by_key):
            raise ConfigError(
                f"{source}: policy_threshold must be from 1 to the number of distinct keys ({len(by_key)}), "
                f"got {policy_threshold}"
            )
        return cls(
            threshold=threshold,
            keys=tuple(keys),
            source=source,
            sigstore=tuple(sigstore),
            revoked=tuple(revoked),
            version=version,
            policy_threshold=policy_threshold,
            expires=expires,
            digest=digest,
        )

    @property
    def signing_threshold(self) -> int:
        """Distinct keys of this policy that must sign its next version (``policy_threshold``, else ``threshold``)."""
        return self.policy_threshold if self.policy_threshold is not None else self.threshold

    @property
    def rotates(self) -> bool:
        """Whether this is a signed, versioned policy (a plain TOML one cannot rotate)."""
        return self.version is not None

    def lists(self, public_key: Ed25519PublicKey) -> bool:
        """Whether ``public_key`` is one of the policy's keys, or a revoked one (compared as raw key bytes).

        A key that signs baselines (or ever did) must never also sign results:
        ``attest verify --dock-key`` refuses a dock key this returns true for.
        """
        raw = raw_public_bytes(public_key)
        if any(raw_public_bytes(k.key) == raw for k in self.keys):
            return True
        return any(r.key == hashlib.sha256(raw).hexdigest() for r in self.revoked)

    def key_name(self, kid: str) -> str | None:
        """The policy id of the key with DSSE keyid ``kid``, if listed."""
        return next((k.id for k in self.keys if k.key_id == kid), None)

    def revocation_of_key(self, kid: str) -> Revocation | None:
        """The revocation of the key with DSSE keyid ``kid``, if it is revoked."""
        return next((r for r in self.revoked if r.key == kid), None)

    def revocation_of_identity(self, identity: str) -> Revocation | None:
        """The revocation of a Sigstore ``identity``, if it is revoked."""
        return next((r for r in self.revoked if r.identity == identity), None)

    def keeps(self, revocation: Revocation) -> bool:
        """Whether this policy still revokes the key or identity ``revocation`` revokes (whatever its reason)."""
        if revocation.key is not None:
            return self.revocation_of_key(revocation.key) is not None
        return revocation.identity is not None and self.revocation_of_identity(revocation.identity) is not None

    def expired(self, now: datetime) -> bool:
        """Whether the policy has expired at ``now``."""
        return self.expires is not None and now >= self.expires


def _check_names(
    keys: Sequence[TrustedKey], sigstore: Sequence[SigstoreSigner], revoked: Sequence[Revocation], source: str
) -> None:
    """Refuse ids that are not :data:`SIGNER_ID` names and identities or issuers that are not printable ASCII."""
    names = [k.id for k in keys] + [s.id for s in sigstore] + [r.id for r in revoked if r.id is not None]
    for name in names:
        if not SIGNER_ID.fullmatch(name):
            raise ConfigError(
                f"{source}: signer id {name!r} must be 1 to 64 ASCII letters, digits and . _ @ + - "
                "(starting with a letter or digit), so that no two ids print alike"
            )
    texts = [("identity", s.identity) for s in sigstore] + [("issuer", s.issuer) for s in sigstore]
    texts += [("identity", r.identity) for r in revoked if r.identity is not None]
    for what, text in texts:
        if not (text.isascii() and text.isprintable()) or " " in text:
            raise ConfigError(
                f"{source}: Sigstore {what} {text!r} must be printable ASCII without spaces "
                "(as in a certificate), so that it cannot print like another"
            )


def _entries(data: Mapping[str, Any], name: str, source: str) -> list[dict[str, Any]]:
    entries = data.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{source}: '{name}' must be a list of [[{name}]] tables")
    return entries


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ConfigError(f"{where}: {key!r} must be a non-empty printable string")
    return value


def _toml_key(entry: dict[str, Any], i: int, base: Path, source: str) -> TrustedKey:
    where = f"{source}: [[keys]] entry {i}"
    if set(entry) != {"id", "public_key"}:
        raise ConfigError(f"{where} needs exactly 'id' and 'public_key'")
    kid, kpath = entry["id"], entry["public_key"]
    if not isinstance(kid, str) or not kid or not isinstance(kpath, str) or not kpath:
        raise ConfigError(f"{where}: 'id' and 'public_key' must be non-empty strings")
    try:
        return TrustedKey(id=kid, key=load_public_key(base / kpath))
    except ConfigError as e:
        raise ConfigError(f"{source}: key {kid!r}: {e}") from e


def _toml_sigstore(entry: dict[str, Any], i: int, base: Path, source: str) -> SigstoreSigner:
    from attest.trust.sigstore import SigstoreSigner  # only a policy with Sigstore signers loads it

    where = f"{source}: [[sigstore]] entry {i}"
    if set(entry) != {"id", "identity", "issuer", "trusted_root"}:
        raise ConfigError(f"{where} needs exactly 'id', 'identity', 'issuer' and 'trusted_root'")
    root = base / _text(entry, "trusted_root", where)
    # Read now (bounded), so a missing root is a configuration error at load, not a silent non-count later.
    read_bounded(root, MAX_TRUSTED_ROOT_BYTES, what="Sigstore trusted root")
    return SigstoreSigner(
        id=_text(entry, "id", where),
        identity=_text(entry, "identity", where),
        issuer=_text(entry, "issuer", where),
        trusted_root=root,
    )


def _toml_revoked(entry: dict[str, Any], i: int, base: Path, source: str) -> Revocation:
    where = f"{source}: [[revoked]] entry {i}"
    which = set(entry) & {"key", "public_key", "identity"}
    if len(which) != 1 or "reason" not in entry or set(entry) - {"key", "public_key", "identity", "reason", "id"}:
        raise ConfigError(
            f"{where} needs 'reason' and exactly one of 'key', 'public_key', 'identity' (and may have 'id')"
        )
    reason = _text(entry, "reason", where)
    name = _text(entry, "id", where) if "id" in entry else None
    if "identity" in entry:
        return Revocation(reason=reason, identity=_text(entry, "identity", where), id=name)
    if "public_key" in entry:
        return Revocation(reason=reason, key=key_id(load_public_key(base / _text(entry, "public_key", where))), id=name)
    kid = _text(entry, "key", where)
    if not _KEY_ID.fullmatch(kid):
        raise ConfigError(f"{where}: 'key' must be a key id: 64 lowercase hex digits (attest key generate prints it)")
    return Revocation(reason=reason, key=kid, id=name)


def _toml_time(value: object, source: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError(f"{source}: 'expires' needs a time zone (e.g. 2027-01-01T00:00:00Z)")
        try:
            return value.astimezone(UTC)
        except OverflowError as e:  # 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
            raise ConfigError(f"{source}: 'expires' {value.isoformat()} is out of range") from e
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError as e:
            raise ConfigError(f"{source}: 'expires': {e}") from e
    raise ConfigError(f"{source}: 'expires' must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z")
