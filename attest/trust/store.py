"""The dock's accepted trust policy, kept in the state directory, and the one loader of ``--trust``.

``STATE_DIR/trust-policy.json`` holds the highest signed policy version this
dock has accepted (the envelope, signatures included);
``STATE_DIR/trust-roots/<sha256>.json`` holds the Sigstore trusted roots it
pins, copied when it was accepted, so the dock never depends on files
outside its state directory again. Both are written atomically under a lock
(``STATE_DIR/.trust-lock``). A stored policy that does not parse, is not
signed by its own keys, or whose roots do not match is an error (exit 2),
never a reset: losing it would re-open every revoked key. So is a stored file
that cannot be looked at (a state directory this user may not enter), or that
is a symbolic link (the store is what lies inside the state directory, not an
old copy somewhere else), a FIFO (which would hang every reader) or anything
but a regular file: only "no such file" means "nothing accepted yet". When
root writes into a state directory owned by another user (``attest trust
update`` run by root on a dock whose service runs as ``attest``), every file
it makes belongs to that user, or the dock could no longer read its policy.

:func:`load_trust` is what every command that takes ``--trust`` (or the
dock's ``trust =``) calls:

* a **signed document** must be signed by its own ``policy_threshold``; on a
  dock with no stored policy it is accepted as the first (trust on first
  use, like the rollback state); with a stored version N it must be exactly
  N (same payload), or N+1 approved by N's keys and its own
  (:func:`~attest.trust.document.check_successor`), which is then stored;
  anything older is a rollback (exit 4);
* a **plain TOML** policy still works, with a warning that it cannot rotate;
  when the dock has already accepted a signed policy, that one is used instead.

An expired policy trusts nothing (exit 4).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from attest.errors import ConfigError
from attest.fsutil import atomic_write, read_bounded
from attest.logs import get_logger
from attest.statedir import PrivateDir, open_lock, owner_for_root, read_state_file
from attest.timeutil import format_time
from attest.trust.document import (
    PolicyDocument,
    RootPin,
    UntrustedPolicyError,
    check_self_signed,
    check_successor,
    looks_like_document,
    read_document,
)
from attest.trust.policy import MAX_POLICY_BYTES, MAX_TRUSTED_ROOT_BYTES, TrustPolicy

__all__ = ["TrustStore", "load_trust", "read_trust_file", "update_trust"]

log = get_logger()


class TrustStore:
    """The accepted signed trust policy of one state directory."""

    FILE = "trust-policy.json"
    ROOTS = "trust-roots"
    LOCK = ".trust-lock"

    def __init__(self, state_dir: Path) -> None:
        """Use ``state_dir`` (created with mode 0700 only when a policy is first stored)."""
        self.dir = state_dir
        self.path = state_dir / self.FILE

    def read(self) -> PolicyDocument | None:
        """The stored policy document, or ``None`` when none was accepted yet.

        Raises:
            ConfigError: unreadable or corrupt (fail closed; the message says why).
        """
        data = read_state_file(self.path, MAX_POLICY_BYTES, what="stored trust policy")
        if data is None:
            return None
        try:
            doc = read_document(data, source=str(self.path))
            check_self_signed(doc)
        except (ConfigError, UntrustedPolicyError) as e:
            raise ConfigError(f"{self.path}: the stored trust policy is corrupt ({e}); refusing to continue") from e
        return doc

    def policy(self, doc: PolicyDocument) -> TrustPolicy:
        """``doc``'s policy with its Sigstore roots read from this store's copies.

        Raises:
            ConfigError: a stored root is missing or does not match its pin.
        """
        try:
            return doc.resolve(self._root_path, read=self._read_root)
        except UntrustedPolicyError as e:
            raise ConfigError(f"{self.dir / self.ROOTS}: corrupt ({e}); refusing to continue") from e

    def _root_path(self, pin: RootPin) -> Path:
        return self.dir / self.ROOTS / f"{pin.sha256}.json"

    @staticmethod
    def _read_root(path: Path) -> bytes:
        data = read_state_file(path, MAX_TRUSTED_ROOT_BYTES, what="stored Sigstore trusted root")
        if data is None:
            raise ConfigError(f"{path}: the stored Sigstore trusted root is missing; refusing to continue")
        return data

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock (creating the state directory, mode 0700, if needed).

        Raises:
            ConfigError: the directory or its lock file cannot be made.
        """
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{self.dir}: cannot use the state directory: {e.strerror}") from e
        fd = open_lock(self.dir / self.LOCK, owner_for_root(self.dir))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def install(self, doc: PolicyDocument, roots: dict[str, bytes]) -> None:
        """Store ``doc`` as the accepted policy, its Sigstore roots first. Call it holding :meth:`locked`.

        Args:
            doc: a document the caller has checked (self-signed, and the successor of the stored one).
            roots: each pinned root's bytes by SHA-256 (already checked against the pins).

        Raises:
            ConfigError: it cannot be written.
        """
        owner = owner_for_root(self.dir)
        if roots:
            # Written through the directory opened, never through a link put at its name.
            with PrivateDir.open(self.dir / self.ROOTS) as rdir:
                for digest, data in roots.items():
                    rdir.write(f"{digest}.json", data)
        atomic_write(self.path, doc.to_bytes(), mode=0o600, owner=owner)


def _beside(path: Path) -> Callable[[RootPin], Path]:
    """Resolve a document's root pins relative to the document file."""
    return lambda pin: path.parent / pin.path


def _say(warn: Callable[[str], None] | None, message: str) -> None:
    if warn is not None:
        warn(message)
    else:
        log.warning(message)


def read_trust_file(path: Path) -> PolicyDocument | TrustPolicy:
    """A policy file as it is, for review: a signed document (signatures NOT checked), or a plain TOML policy.

    Raises:
        ConfigError: unreadable or malformed.
    """
    data = read_bounded(path, MAX_POLICY_BYTES, what="trust policy")
    if looks_like_document(data):
        return read_document(data, source=str(path))
    return TrustPolicy.from_toml(data, path=path)


def load_trust(
    path: Path,
    state_dir: Path | None,
    *,
    accept: bool = True,
    now: datetime | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrustPolicy:
    """The trust policy to judge baselines by, from ``--trust PATH`` and this dock's stored policy.

    Args:
        path: a signed policy document or a plain TOML policy.
        state_dir: the dock's state directory (``None``: consult no stored policy).
        accept: store a first or next signed version (``False`` for read-only checks: the gate, ``config check``).
        now: the time expiry is judged at (default: now).
        warn: where warnings go (default: the structured log).

    Raises:
        ConfigError: unreadable or malformed policy, or a corrupt stored one (exit 2).
        UntrustedPolicyError: not signed by enough of its own keys, a rollback,
            not the successor of the stored version, or expired (exit 4).
    """
    now = now or datetime.now(UTC)
    data = read_bounded(path, MAX_POLICY_BYTES, what="trust policy")
    store = TrustStore(state_dir) if state_dir is not None else None
    if looks_like_document(data):
        doc = read_document(data, source=str(path))
        policy = _adopt(doc, store, beside=_beside(path), accept=accept, now=now)[1]
    else:
        plain = TrustPolicy.from_toml(data, path=path)
        stored = store.read() if store is not None else None
        if stored is not None:
            _say(
                warn,
                f"{path} is a plain TOML trust policy, but this dock has accepted signed trust policy version "
                f"{stored.version}: using that",
            )
            policy = store.policy(stored) if store is not None else plain
        else:
            _say(
                warn,
                f"{path} is a plain TOML trust policy: it cannot rotate or revoke keys on a dock "
                "(for a fleet, sign it with 'attest trust init'; see docs/trust.md)",
            )
            policy = plain
    _check_expiry(policy, now)
    return policy


def update_trust(path: Path, state_dir: Path, *, now: datetime | None = None) -> tuple[int | None, PolicyDocument]:
    """``attest trust update``: accept the signed policy at ``path`` as this dock's next (or first) version.

    Returns:
        The version it replaced (``None`` when it is the first), and the accepted document.

    Raises:
        ConfigError: not a signed policy document, or unreadable (exit 2).
        UntrustedPolicyError: as :func:`load_trust` (exit 4).
    """
    data = read_bounded(path, MAX_POLICY_BYTES, what="trust policy")
    if not looks_like_document(data):
        raise ConfigError(
            f"{path}: a plain TOML policy cannot be installed on a dock; make a signed one with 'attest trust init'"
        )
    doc = read_document(data, source=str(path))
    previous, _ = _adopt(doc, TrustStore(state_dir), beside=_beside(path), accept=True, now=now or datetime.now(UTC))
    return previous, doc


def _adopt(
    doc: PolicyDocument,
    store: TrustStore | None,
    *,
    beside: Callable[[RootPin], Path],
    accept: bool,
    now: datetime,
) -> tuple[int | None, TrustPolicy]:
    """Check ``doc`` against the stored policy; store it when new and ``accept``. Returns (stored version, policy)."""
    check_self_signed(doc)
    if store is None:
        return None, doc.resolve(beside)
    with store.locked() if accept else nullcontext():
        stored = store.read()
        if stored is not None:
            check_successor(stored, doc)  # rollback, replay of another version N, skipped version, too few signers
            if doc.version == stored.version:  # the very policy already stored
                return stored.version, store.policy(stored)
        if not accept:
            policy = doc.resolve(beside)
            _check_expiry(policy, now)
            return (stored.version if stored else None), policy
        roots = doc.root_bytes(beside)  # exactly the pinned bytes are copied
        _check_expiry(doc.policy, now)  # never store a policy that is already dead
        store.install(doc, roots)
        log.info(
            "trust policy accepted",
            version=doc.version,
            previous=stored.version if stored else None,
            digest=doc.digest,
            stored=str(store.path),
        )
        return (stored.version if stored else None), store.policy(doc)


def _check_expiry(policy: TrustPolicy, now: datetime) -> None:
    if policy.expires is not None and policy.expired(now):
        which = f"trust policy version {policy.version}" if policy.version is not None else "trust policy"
        raise UntrustedPolicyError(
            f"{policy.source}: {which} expired at {format_time(policy.expires)}; it trusts no baseline "
            "(install the next version with 'attest trust update')"
        )
