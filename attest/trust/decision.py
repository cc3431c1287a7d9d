"""Deciding whether a baseline is trusted: signatures, threshold, revocation, expiry, rollback.

A baseline is trusted only when at least the policy's ``threshold`` distinct
signers made valid signatures of it (:mod:`attest.trust.policy`): Ed25519 keys
(DSSE signatures in the envelope) and Sigstore identities (bundles over the
same payload, checked by :func:`attest.trust.sigstore.check_bundle`, only
when the policy lists Sigstore signers). Each key and each identity counts
once. A revoked key or identity never counts, however old the baseline; a
removed one is simply no longer a signer. Then the policy and the baseline
must not have expired, and the version must not be lower than the highest
version of the same name already accepted on this dock
(:mod:`attest.trust.rollback`). When too few count, the message says why each
signature did not (revoked and the reason, not in this policy, does not
match this baseline, the same signer twice), for the fleet manager who reads it.
An envelope with more than :data:`~attest.trust.policy.MAX_SIGNATURES`
signatures is refused before any is checked (each is tried against every
key), and a Sigstore bundle whose certificate names a revoked identity among
any of its names never counts.
:class:`TrustedBaseline` objects are made only by :func:`trust_baseline`.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attest.baseline import MAX_BASELINE_BYTES, PAYLOAD_TYPE, Baseline, parse_envelope
from attest.errors import BaselineError, ConfigError, UntrustedBaselineError
from attest.jsonutil import JSONFormatError, loads
from attest.logs import get_logger
from attest.signing import Envelope, key_id
from attest.timeutil import format_time
from attest.trust.policy import MAX_SIGNATURES, TrustPolicy
from attest.trust.rollback import RollbackState

__all__ = ["TrustedBaseline", "read_baseline_file", "trust_baseline", "verify_baseline_file", "verify_envelope"]

log = get_logger()


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
        ConfigError: the path cannot be opened or read (missing, a directory,
            no permission): a usage error, exit 2, not a verdict on a baseline.
        BaselineError: larger than any baseline may be (exit 4).
    """
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BASELINE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read baseline: {e.strerror}") from e
    if len(data) > MAX_BASELINE_BYTES:
        raise BaselineError(f"{path}: too large to be a baseline (over {MAX_BASELINE_BYTES} bytes)")
    return data


def verify_baseline_file(path: Path, policy: TrustPolicy, *, bundles: Sequence[Path] = ()) -> Envelope:
    """Read a baseline file and the Sigstore bundle files listed with it, and count their signers.

    Each bundle is read bounded by the baseline file's size (as a run reads
    them), so that a re-check counts the very signers the run counted.

    Raises:
        ConfigError: the baseline cannot be read.
        BaselineError: too large, a bundle unreadable or too large, or not an envelope.
        UntrustedBaselineError: too few signers count (:func:`verify_envelope`).
    """
    data = read_baseline_file(path)
    signed: list[bytes] = []
    if bundles:  # the Sigstore module loads only for a baseline listed with bundles
        from attest.trust.sigstore import read_bundle_file

        signed = [read_bundle_file(b, payload_size=len(data)) for b in bundles]
    env, _ = verify_envelope(data, policy, source=str(path), bundles=signed)
    return env


def verify_envelope(
    data: bytes, policy: TrustPolicy, *, source: str, bundles: Sequence[bytes] = ()
) -> tuple[Envelope, list[str]]:
    """Parse an envelope and count its signers against ``policy``.

    Args:
        data: the DSSE envelope bytes.
        policy: who may sign.
        source: the file name, for messages.
        bundles: Sigstore bundles over the envelope's payload (counted only
            when the policy lists Sigstore signers).

    Returns:
        The envelope and the policy ids of the distinct signers that signed it.

    Raises:
        BaselineError: not an envelope, a wrong payload type, or more than
            :data:`~attest.trust.policy.MAX_SIGNATURES` signatures.
        UntrustedBaselineError: fewer than ``threshold`` distinct signers counted.
    """
    try:
        env = parse_envelope(data, source=source)
    except BaselineError:
        # The file may itself be a Sigstore bundle (a baseline signed by one Sigstore identity):
        # its envelope's payload counts only through the bundle's own check, like a --bundle.
        from attest.trust.sigstore import envelope_from_bundle

        inner = envelope_from_bundle(data, source=source)
        if inner is None:
            raise
        payload_type, payload = inner
        if payload_type != PAYLOAD_TYPE:
            raise BaselineError(
                f"{source}: the bundle's payloadType is {payload_type!r}, expected {PAYLOAD_TYPE!r}"
            ) from None
        env = Envelope(payload=payload, payload_type=payload_type)
        bundles = (data, *bundles)
    if len(env.signatures) > MAX_SIGNATURES:
        raise BaselineError(
            f"{source}: {len(env.signatures)} signatures, more than a baseline may carry ({MAX_SIGNATURES})"
        )
    signers, notes = _count(env, policy, bundles)
    if len(signers) < policy.threshold:
        which = policy.source if policy.version is None else f"trust policy version {policy.version} ({policy.source})"
        raise UntrustedBaselineError(
            f"{source}: {len(signers)} valid signature(s) from trusted signers, "
            f"{policy.threshold} required by {which}" + "".join(f"; {n}" for n in notes)
        )
    for note in notes:
        if "revoked" in note:
            log.warning("baseline carries a revoked signer", baseline=source, note=note)
    return env, signers


def _count(env: Envelope, policy: TrustPolicy, bundles: Sequence[bytes]) -> tuple[list[str], list[str]]:
    """The distinct signers that count, and a note for each signature or bundle that did not."""
    good = {key_id(k) for k in env.verified_keys(k.key for k in policy.keys)}
    signers = [policy.key_name(kid) or kid for kid in dict.fromkeys(key_id(k.key) for k in policy.keys) if kid in good]
    notes: list[str] = []
    unknown = 0
    for kid, n in Counter(s.keyid for s in env.signatures).items():
        name = policy.key_name(kid)
        revoked = policy.revocation_of_key(kid)
        if revoked is not None:  # the keyid is an unauthenticated hint: it only picks the message
            notes.append(f"{revoked.describe()} is revoked: {revoked.reason}")
        elif name is not None and kid not in good:
            notes.append(f"the signature by {name} does not match this baseline (altered, or copied from another)")
        elif name is not None and n > 1:
            notes.append(f"{name} signed {n} times and counts once")
        elif name is None:
            unknown += n
    if unknown:
        notes.append(f"{unknown} signature(s) by keys this policy does not list (never listed, or removed)")
    if bundles:
        signers += _count_bundles(env, policy, bundles, notes)
    return signers, notes


def _count_bundles(env: Envelope, policy: TrustPolicy, bundles: Sequence[bytes], notes: list[str]) -> list[str]:
    """The Sigstore signers (one per identity) whose bundles verify; a note for each bundle that does not count."""
    by_id = {s.id: s for s in policy.sigstore}
    revokes_identities = any(r.identity is not None for r in policy.revoked)
    counted: dict[str, str] = {}  # identity -> signer id
    for i, bundle in enumerate(bundles, 1):
        names = _bundle_identities(bundle) if revokes_identities else []
        # Any name counts: a certificate for alice *and* a revoked identity proves the revoked one too.
        revoked = next((r for r in map(policy.revocation_of_identity, names) if r is not None), None)
        if revoked is not None:
            notes.append(f"Sigstore bundle {i}: {revoked.describe()} is revoked: {revoked.reason}")
            continue
        if not by_id:
            notes.append(f"Sigstore bundle {i}: this policy lists no Sigstore signer")
            continue
        # Imported here: the sigstore library loads only for a policy with Sigstore signers and a bundle.
        from attest.trust.sigstore import check_bundle

        check = check_bundle(bundle, payload=env.payload, payload_type=env.payload_type, signers=policy.sigstore)
        signer = by_id.get(check.signer) if check.signer is not None else None
        if signer is None:
            notes.append(f"Sigstore bundle {i} does not count: {check.reason or 'not by a signer of this policy'}")
        elif signer.identity in counted:
            notes.append(f"Sigstore identity {signer.identity} signed more than once and counts once")
        else:
            counted[signer.identity] = signer.id
    return list(counted.values())


def _bundle_identities(bundle: bytes) -> list[str]:
    """Every identity a bundle's certificate names, unverified: only to refuse a revoked one, never to count."""
    from cryptography import x509

    try:
        material = loads(bundle)["verificationMaterial"]
        cert = (
            material["certificate"]
            if "certificate" in material
            else material["x509CertificateChain"]["certificates"][0]
        )
        der = base64.b64decode(cert["rawBytes"], validate=True)
        san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.RFC822Name) + san.value.get_values_for_type(
            x509.UniformResourceIdentifier
        )
    except (JSONFormatError, LookupError, TypeError, ValueError, x509.ExtensionNotFound):
        return []
    return list(names)


def trust_baseline(
    data: bytes,
    *,
    policy: TrustPolicy,
    state: RollbackState,
    now: datetime | None = None,
    source: str = "baseline",
    bundles: Sequence[bytes] = (),
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
        bundles: Sigstore bundles over the baseline's payload (see :func:`verify_envelope`).

    Raises:
        BaselineError / UntrustedBaselineError: anything that makes it untrusted.
    """
    now = now or datetime.now(UTC)
    if policy.expires is not None and policy.expired(now):
        raise UntrustedBaselineError(
            f"{source}: the trust policy {policy.source} expired at {format_time(policy.expires)}"
        )
    env, signers = verify_envelope(data, policy, source=source, bundles=bundles)
    baseline = Baseline.from_payload(env.payload, source=source)
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
