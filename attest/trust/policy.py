"""The trust policy: which keys may sign baselines, and how many must.

The policy is a TOML file::

    threshold = 1
    [[keys]]
    id = "fleet-1"
    public_key = "fleet1.pub"   # path relative to this file

Unknown settings are refused, key ids are unique, the threshold counts
distinct keys (one key listed under two ids counts once), and every key must
pass :func:`attest.signing.check_public_key` (a small-order key such as the
identity point would let anyone forge its signature, silently lowering the
threshold by one).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.errors import ConfigError
from attest.fsutil import read_bounded
from attest.signing import key_id, load_public_key, raw_public_bytes

__all__ = ["MAX_POLICY_BYTES", "TrustPolicy", "TrustedKey"]

MAX_POLICY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TrustedKey:
    """One key the policy trusts to sign baselines."""

    id: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        """The DSSE keyid (hex SHA-256 of the raw key)."""
        return key_id(self.key)


@dataclass(frozen=True)
class TrustPolicy:
    """Who may sign baselines, and how many must."""

    threshold: int
    keys: tuple[TrustedKey, ...]
    source: str = "trust policy"

    @classmethod
    def from_file(cls, path: Path) -> TrustPolicy:
        """Load and check a trust policy file.

        Raises:
            ConfigError: unreadable, not TOML, wrong shape, unreadable key,
                threshold below 1 or above the number of distinct keys.
        """
        raw = read_bounded(path, MAX_POLICY_BYTES, what="trust policy")
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: not a TOML trust policy: {e}") from e
        except RecursionError as e:  # tomllib recurses on nested arrays and inline tables
            raise ConfigError(f"{path}: not a TOML trust policy: nested too deeply") from e
        return cls._from_data(data, base=path.parent, source=str(path))

    @classmethod
    def _from_data(cls, data: dict[str, Any], *, base: Path, source: str) -> TrustPolicy:
        unknown = set(data) - {"threshold", "keys"}
        if unknown:
            raise ConfigError(f"{source}: unknown settings {sorted(unknown)}")
        threshold = data.get("threshold")
        if type(threshold) is not int:
            raise ConfigError(f"{source}: 'threshold' must be an integer")
        entries = data.get("keys")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{source}: needs at least one [[keys]] entry")
        keys: list[TrustedKey] = []
        ids: set[str] = set()
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"id", "public_key"}:
                raise ConfigError(f"{source}: [[keys]] entry {i} needs exactly 'id' and 'public_key'")
            kid, kpath = entry["id"], entry["public_key"]
            if not isinstance(kid, str) or not kid or not isinstance(kpath, str) or not kpath:
                raise ConfigError(f"{source}: [[keys]] entry {i}: 'id' and 'public_key' must be non-empty strings")
            if kid in ids:
                raise ConfigError(f"{source}: key id {kid!r} listed twice")
            ids.add(kid)
            try:
                keys.append(TrustedKey(id=kid, key=load_public_key(base / kpath)))
            except ConfigError as e:
                raise ConfigError(f"{source}: key {kid!r}: {e}") from e
        distinct = len({k.key_id for k in keys})
        if threshold < 1:
            raise ConfigError(f"{source}: threshold must be at least 1 (got {threshold})")
        if threshold > distinct:
            raise ConfigError(f"{source}: threshold {threshold} is above the number of distinct keys ({distinct})")
        return cls(threshold=threshold, keys=tuple(keys), source=source)

    def lists(self, public_key: Ed25519PublicKey) -> bool:
        """Whether ``public_key`` is one of the policy's keys (compared as raw key bytes).

        A key that signs baselines must never also sign results: ``attest
        verify --dock-key`` refuses a dock key this returns true for.
        """
        raw = raw_public_bytes(public_key)
        return any(raw_public_bytes(k.key) == raw for k in self.keys)

    def key_name(self, kid: str) -> str | None:
        """The policy id of the key with DSSE keyid ``kid``, if listed."""
        return next((k.id for k in self.keys if k.key_id == kid), None)
