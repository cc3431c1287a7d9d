"""Deciding whether a baseline is trusted: signatures, threshold, expiry, rollback.

A baseline is trusted only when at least the policy's ``threshold`` distinct
listed keys signed it (:mod:`attest.trust.policy`), it has not expired, and its
version is not lower than the highest version of the same name already
accepted on this dock (:mod:`attest.trust.rollback`).
:class:`TrustedBaseline` objects are made only by :func:`trust_baseline`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attest.baseline import MAX_BASELINE_BYTES, Baseline, parse_envelope
from attest.errors import BaselineError, UntrustedBaselineError
from attest.fsutil import read_bounded
from attest.signing import Envelope, key_id
from attest.timeutil import format_time
from attest.trust.policy import TrustPolicy
from attest.trust.rollback import RollbackState

__all__ = ["TrustedBaseline", "read_baseline_file", "trust_baseline", "verify_envelope"]


@dataclass(frozen=True)
class TrustedBaseline:
    """A baseline that passed :func:`trust_baseline`. Do not construct directly."""

    baseline: Baseline
    digest: str
    signers: tuple[str, ...]
    _token: object

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise RuntimeError("TrustedBaseline is made only by attest.trust.trust_baseline")


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
