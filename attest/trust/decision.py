"""Deciding whether a baseline is trusted: signatures, threshold, expiry, rollback.

The trust policy is a TOML file::

    threshold = 1
    [[keys]]
    id = "fleet-1"
    public_key = "fleet1.pub"   # path relative to this file

A baseline is trusted only when at least ``threshold`` distinct listed keys
signed it, it has not expired, and its version is not lower than the highest
version of the same name already accepted on this dock (the rollback state).
:class:`TrustedBaseline` objects are made only by :func:`trust_baseline`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.baseline import MAX_BASELINE_BYTES, Baseline, parse_envelope
from attest.errors import BaselineError, ConfigError, UntrustedBaselineError
from attest.fsutil import atomic_write, read_bounded
from attest.signing.dsse import Envelope
from attest.signing.keys import key_id, load_public_key
from attest.timeutil import format_time

__all__ = [
    "DEFAULT_STATE_DIR",
    "RollbackState",
    "TrustPolicy",
    "TrustedBaseline",
    "TrustedKey",
    "read_baseline_file",
    "trust_baseline",
]

DEFAULT_STATE_DIR = Path("/var/lib/attest")
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

    def key_name(self, kid: str) -> str | None:
        """The policy id of the key with DSSE keyid ``kid``, if listed."""
        return next((k.id for k in self.keys if k.key_id == kid), None)


class RollbackState:
    """Highest accepted version per baseline name, in ``STATE_DIR/accepted-versions.json``.

    Updates take an exclusive lock and replace the file atomically, so two
    docks processes never lose each other's updates.
    """

    FILE = "accepted-versions.json"

    def __init__(self, state_dir: Path) -> None:
        """Use (and create with mode 0700 if missing) ``state_dir``.

        Raises:
            ConfigError: the directory cannot be created or used.
        """
        self.dir = state_dir
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{state_dir}: cannot create state directory: {e.strerror}") from e
        if not state_dir.is_dir():
            raise ConfigError(f"{state_dir}: state directory is not a directory")
        self._path = state_dir / self.FILE

    def _read(self) -> dict[str, int]:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise ConfigError(f"{self._path}: cannot read rollback state: {e.strerror}") from e
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            # Fail closed: losing this file would re-open every old version.
            raise ConfigError(f"{self._path}: rollback state is corrupt; refusing to continue") from e
        if not isinstance(data, dict) or not all(type(v) is int for v in data.values()):
            raise ConfigError(f"{self._path}: rollback state is corrupt; refusing to continue")
        return data

    def highest(self, name: str) -> int | None:
        """The highest version of ``name`` accepted so far."""
        return self._read().get(name)

    def check_and_accept(self, name: str, version: int) -> None:
        """Refuse a version below the highest accepted; else record it as accepted.

        Raises:
            UntrustedBaselineError: ``version`` is a rollback.
            ConfigError: the state cannot be read or written.
        """
        lock_path = self.dir / ".lock"
        try:
            lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise ConfigError(f"{lock_path}: cannot open: {e.strerror}") from e
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            data = self._read()
            best = data.get(name)
            if best is not None and version < best:
                raise UntrustedBaselineError(
                    f"baseline {name!r} version {version} is older than accepted version {best} (rollback)"
                )
            if best is None or version > best:
                data[name] = version
                atomic_write(self._path, (json.dumps(data, sort_keys=True, indent=2) + "\n").encode(), mode=0o600)
        finally:
            os.close(lock_fd)


@dataclass(frozen=True)
class TrustedBaseline:
    """A baseline that passed :func:`trust_baseline`. Do not construct directly."""

    baseline: Baseline
    digest: str
    signers: tuple[str, ...]
    _token: object

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise RuntimeError("TrustedBaseline is made only by attest.trust.decision.trust_baseline")


_TOKEN = object()


def read_baseline_file(path: Path) -> bytes:
    """Read a baseline file with a size bound.

    Raises:
        BaselineError: unreadable or too large (a baseline that cannot be
            read cannot be trusted, hence exit 4).
    """
    return read_bounded(path, MAX_BASELINE_BYTES, what="baseline", error=BaselineError)


def verify_envelope(data: bytes, policy: TrustPolicy, *, source: str) -> tuple[Envelope, list[str]]:
    """Parse an envelope and check its signatures against ``policy``.

    Returns:
        The envelope and the policy ids of the distinct keys that signed it.

    Raises:
        BaselineError: not an envelope, or a wrong payload type.
        UntrustedBaselineError: fewer than ``threshold`` valid signatures.
    """
    env = parse_envelope(data, source=source)
    good = env.verified_keys(k.key for k in policy.keys)
    signers = [policy.key_name(key_id(k)) or key_id(k) for k in good]
    if len(good) < policy.threshold:
        raise UntrustedBaselineError(
            f"{source}: {len(good)} valid signature(s) from trusted keys, "
            f"{policy.threshold} required by {policy.source}"
        )
    return env, signers


def trust_baseline(
    data: bytes,
    *,
    policy: TrustPolicy,
    state: RollbackState,
    now: datetime | None = None,
    source: str = "baseline",
) -> TrustedBaseline:
    """Check a signed baseline and record its version as accepted.

    Order matters: signatures are checked before the payload is parsed, so
    nothing unsigned ever reaches the Statement parser.

    Args:
        data: the DSSE envelope bytes.
        policy: who may sign.
        state: the dock's rollback state (updated on success).
        now: the current time (injected for tests).
        source: the file name, for messages.

    Raises:
        BaselineError / UntrustedBaselineError: anything that makes it untrusted.
    """
    env, signers = verify_envelope(data, policy, source=source)
    baseline = Baseline.from_payload(env.payload, source=source)
    now = now or datetime.now(UTC)
    if baseline.expires is not None and now >= baseline.expires:
        raise UntrustedBaselineError(f"{source}: baseline expired at {format_time(baseline.expires)}")
    try:
        state.check_and_accept(baseline.name, baseline.version)
    except UntrustedBaselineError as e:
        raise UntrustedBaselineError(f"{source}: {e}") from e
    return TrustedBaseline(
        baseline=baseline,
        digest=hashlib.sha256(env.payload).hexdigest(),
        signers=tuple(signers),
        _token=_TOKEN,
    )
