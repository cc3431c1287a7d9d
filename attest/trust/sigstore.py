"""Sigstore signers: a baseline approved by an organisation identity, checked offline.

A ``[[sigstore]]`` signer of the trust policy is an OIDC identity (the
certificate's SAN, email or URI) at an exact OIDC issuer, under a pinned
Sigstore trusted root. Its signature travels as a Sigstore bundle v0.3 holding
a DSSE envelope whose payload is byte-identical to the baseline's payload.

:func:`check_bundle` verifies one bundle with sigstore-python's
:class:`~sigstore.verify.Verifier` built from the pinned trusted root file
alone (no TUF refresh, no network), and then checks what that verifier leaves
to its caller:

* the exact identity *and* issuer (every issuer extension the certificate
  carries, ``1.3.6.1.4.1.57264.1.1`` and ``…1.8``, must name the issuer);
* the DSSE payload type, and that the payload is the very baseline verified;
* that the certificate was valid at every time the bundle claims (the log's
  integrated time, RFC 3161 timestamps), with a readable reason;
* that the issuing CA, the CT log of the certificate's SCT and the
  transparency log of the entry were within their ``validFor`` windows at
  those times (sigstore ignores ``validFor.end`` when verifying, so a retired
  key would otherwise still count), and that the checkpoint is signed by the
  key of the log the entry names (sigstore tries every log key when a log's
  id is not its key's hash, as for Rekor v2 logs).

A bundle that fails any check does not count; :class:`BundleCheck` says why
in words a fleet manager can act on. :func:`check_bundle` never raises for a
bad bundle (only :class:`~attest.errors.ConfigError` for an unusable trusted
root file, and :class:`~attest.errors.UntrustedBaselineError` for one that
does not match its pin). Counting is by signer: one identity signing twice
counts once (:func:`distinct_signers`).

The sigstore library (about 0.2 s of imports: pydantic, requests, its models)
is imported only inside the functions that need it, so a dock whose policy
lists no Sigstore signer never pays for it: importing this module imports
neither sigstore nor pydantic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest.errors import AttestError, BaselineError, ConfigError, TransportError, UntrustedBaselineError
from attest.fsutil import read_bounded
from attest.jsonutil import JSONFormatError, loads
from attest.logs import get_logger
from attest.trust.sigstore_root import MAX_TRUSTED_ROOT_BYTES, Root, Window, b64, first_line, load_root, when

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "MAX_BUNDLE_OVERHEAD",
    "MAX_TRUSTED_ROOT_BYTES",
    "BundleCheck",
    "SigstoreSigner",
    "bundle_limit",
    "check_bundle",
    "check_trusted_root",
    "distinct_signers",
    "envelope_from_bundle",
    "read_bundle_file",
    "sign_with_sigstore",
]

log = get_logger()

#: The bundle formats accepted: v0.3 only (the two spellings of its media type).
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
)
_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
#: The only DSSE payload type sigstore signs, and the baselines' own.
_IN_TOTO = "application/vnd.in-toto+json"
#: Bytes a bundle may hold beside its base64 payload (certificate, log entry, proof, timestamps).
MAX_BUNDLE_OVERHEAD = 1024 * 1024

_OIDC_ISSUER = "1.3.6.1.4.1.57264.1.1"  # raw UTF-8 (deprecated by Fulcio, still issued)
_OIDC_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"  # DER UTF8String
_OTHERNAME_SAN = "1.3.6.1.4.1.57264.1.7"  # Sigstore's "other name" identities
_SHOWN = 200  # characters of a bundle's own text shown in a reason


@dataclass(frozen=True)
class SigstoreSigner:
    """One ``[[sigstore]]`` entry of a trust policy.

    Attributes:
        id: the policy's name for this signer (unique among all signers).
        identity: the certificate's subject alternative name (email or URI), exact.
        issuer: the OIDC issuer URL, exact.
        trusted_root: the pinned Sigstore trusted root (JSON), already resolved
            relative to the policy file.
        trusted_root_sha256: if set, the hex SHA-256 the root file's bytes
            must have (a signed policy document pins its roots): checked on
            the very bytes verification uses.
    """

    id: str
    identity: str
    issuer: str
    trusted_root: Path
    trusted_root_sha256: str | None = None


@dataclass(frozen=True)
class BundleCheck:
    """What one Sigstore bundle proves: the signer it counts for, or why it does not count."""

    signer: str | None
    reason: str | None


def bundle_limit(payload_size: int) -> int:
    """The most bytes a bundle carrying a ``payload_size``-byte payload may have."""
    return 4 * ((payload_size + 2) // 3) + MAX_BUNDLE_OVERHEAD


def read_bundle_file(path: Path, *, payload_size: int) -> bytes:
    """Read a ``--bundle`` file, bounded by :func:`bundle_limit` for the baseline's payload.

    Raises:
        BaselineError: unreadable, or larger than a bundle of this baseline can be.
    """
    return read_bounded(path, bundle_limit(payload_size), what="Sigstore bundle", error=BaselineError)


def distinct_signers(checks: Iterable[BundleCheck]) -> tuple[str, ...]:
    """The signers that counted, each once, in first-seen order (two bundles by one identity count once)."""
    return tuple(dict.fromkeys(c.signer for c in checks if c.signer is not None))


def envelope_from_bundle(data: bytes, *, source: str = "baseline") -> tuple[str, bytes] | None:
    """The (unverified) DSSE payload type and payload of a Sigstore bundle, for a baseline file that is one.

    Call it only after the file failed to parse as a DSSE envelope, so
    ordinary baselines are parsed once. Nothing returned here is trusted:
    the payload counts only through :func:`check_bundle`.

    Returns:
        ``(payload_type, payload)``, or ``None`` when ``data`` is not a
        Sigstore bundle at all (not JSON, or no bundle media type).

    Raises:
        BaselineError: a Sigstore bundle, but not v0.3 or not holding one DSSE envelope.
    """
    try:
        obj = loads(data)
    except JSONFormatError:
        return None
    media = obj.get("mediaType") if isinstance(obj, dict) else None
    if not isinstance(media, str) or not media.startswith(_BUNDLE_PREFIX):
        return None
    try:
        return _envelope_of(obj)
    except _Refused as e:
        raise BaselineError(f"{source}: {e}") from e


def check_bundle(bundle: bytes, *, payload: bytes, payload_type: str, signers: Sequence[SigstoreSigner]) -> BundleCheck:
    """Verify ``bundle`` offline against ``signers``; never raises for a bad bundle.

    Args:
        bundle: the bundle's bytes (``.sigstore.json``).
        payload: the baseline's payload, byte for byte.
        payload_type: the baseline's DSSE payload type.
        signers: the policy's Sigstore signers; the first whose identity and
            issuer match the certificate is the one the bundle counts for.

    Returns:
        ``BundleCheck(signer_id, None)`` when the bundle counts, else
        ``BundleCheck(None, reason)``.

    Raises:
        ConfigError: a matching signer's trusted root cannot be read or used.
        UntrustedBaselineError: a matching signer's trusted root does not
            match its ``trusted_root_sha256`` pin.
    """
    try:
        return _check(bundle, payload=payload, payload_type=payload_type, signers=signers)
    except _Refused as e:
        return BundleCheck(None, str(e))
    except AttestError:
        raise
    except Exception as e:  # noqa: BLE001 - a shape no check above foresaw: never a pass, never a crash
        log.warning("sigstore bundle check failed unexpectedly", error=f"{type(e).__name__}: {e}")
        return BundleCheck(None, f"bundle could not be checked: {_shown(type(e).__name__)}: {_shown(first_line(e))}")


def check_trusted_root(path: Path) -> None:
    """Check that ``path`` is a usable Sigstore trusted root (for loading a policy).

    Raises:
        ConfigError: unreadable, too large, or not a trusted root with a
            certificate authority, a CT log and a transparency log.
    """
    load_root(path)


def sign_with_sigstore(
    payload: bytes, *, payload_type: str, staging: bool = False, identity_token: str | None = None
) -> bytes:
    """Sign ``payload`` as a DSSE envelope with Sigstore (Fulcio, Rekor); needs the network.

    The identity comes from ``identity_token`` if given, else an ambient
    CI credential (e.g. GitHub Actions), else an interactive browser login.

    Returns:
        The bundle v0.3 JSON, whose envelope payload is ``payload`` byte for byte.

    Raises:
        ConfigError: ``payload_type`` is not the in-toto type sigstore signs.
        TransportError: the login, Fulcio, Rekor or the TUF refresh failed.
    """
    if payload_type != _IN_TOTO:
        raise ConfigError(f"sigstore signs only {_IN_TOTO!r} payloads, not {payload_type!r}")
    try:
        from sigstore import dsse, oidc
        from sigstore.models import ClientTrustConfig
        from sigstore.sign import SigningContext

        config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        token = identity_token or oidc.detect_credential()
        if token is None:
            token = str(oidc.Issuer(config.signing_config.get_oidc_url()).identity_token())
        with SigningContext.from_trust_config(config).signer(oidc.IdentityToken(token)) as signer:
            out = signer.sign_dsse(dsse.Statement(payload)).to_json().encode("utf-8")
    except Exception as e:  # requests, OIDC, TUF and sigstore errors all mean "could not sign"
        raise TransportError(f"Sigstore signing failed: {type(e).__name__}: {e}") from e
    if envelope_from_bundle(out) != (payload_type, payload):  # the signed payload must be the baseline's bytes
        raise AttestError("Sigstore returned a bundle over other bytes than the baseline's payload")
    return out


# --- verification -----------------------------------------------------------------------------------------------


class _Refused(Exception):  # noqa: N818 - internal: the reason a bundle does not count
    """The bundle does not count; the message is the reason shown."""


def _check(bundle: bytes, *, payload: bytes, payload_type: str, signers: Sequence[SigstoreSigner]) -> BundleCheck:
    if not signers:
        raise _Refused("the trust policy lists no Sigstore signer")
    limit = bundle_limit(len(payload))
    if len(bundle) > limit:
        raise _Refused(f"bundle is {len(bundle)} bytes, more than a bundle of this baseline can be ({limit})")
    try:
        obj = loads(bundle)  # strict first: sigstore's parser would take the last of two duplicate keys
    except JSONFormatError as e:
        raise _Refused(f"not a Sigstore bundle: {e}") from e
    if not isinstance(obj, dict):
        raise _Refused("not a Sigstore bundle (expected a JSON object)")
    _envelope_of(obj)
    _entry_of(obj)
    parsed = _parse_bundle(bundle)
    cert = parsed.signing_certificate
    sans, issuer = _identity_of(cert)
    candidates = [s for s in signers if s.identity in sans and s.issuer == issuer]
    if not candidates:
        who = _shown(sans[0]) if len(sans) == 1 else f"{len(sans)} identities {[_shown(s) for s in sans]}"
        raise _Refused(f"bundle signed by {who} (issuer {_shown(issuer or 'none')}), not a listed signer")
    times = _claimed_times(obj, parsed)
    _check_certificate_times(cert, times)
    refusal: _Refused | None = None
    roots: dict[Path, Root] = {}
    for signer in candidates:  # normally one: a policy lists an identity once
        if signer.trusted_root not in roots:
            roots[signer.trusted_root] = load_root(signer.trusted_root)
        root = roots[signer.trusted_root]
        if signer.trusted_root_sha256 is not None and root.sha256 != signer.trusted_root_sha256:
            raise UntrustedBaselineError(
                f"{signer.trusted_root}: Sigstore trusted root of {signer.id} does not match its pin "
                f"(sha256 {root.sha256}, pinned {signer.trusted_root_sha256})"
            )
        try:
            _verify(
                parsed,
                signer=signer,
                root=root,
                obj=obj,
                cert=cert,
                times=times,
                payload=payload,
                payload_type=payload_type,
            )
        except _Refused as e:
            refusal = refusal or e
            continue
        return BundleCheck(signer.id, None)
    raise refusal or _Refused("no listed signer matches")  # unreachable: candidates is not empty


def _verify(
    parsed: Bundle,
    *,
    signer: SigstoreSigner,
    root: Root,
    obj: dict[str, Any],
    cert: Certificate,
    times: list[datetime],
    payload: bytes,
    payload_type: str,
) -> None:
    from sigstore.verify import Verifier

    # Said first, and plainly: sigstore would report a foreign certificate as a chain or time error.
    ca_windows = [w for chain, w in root.cas if any(_issued_by(cert, der) for der in chain)]
    if not ca_windows:
        raise _Refused("certificate not issued by the pinned root")
    try:
        verifier = Verifier(trusted_root=root.trusted_root)
        got_type, got_payload = verifier.verify_dsse(parsed, _ExactIdentity(signer.identity, signer.issuer))
    except Exception as e:  # hostile input may raise anything deep in the library; never a pass
        log.debug("sigstore bundle refused", signer=signer.id, error=f"{type(e).__name__}: {e}")
        raise _Refused(_reason_for(e)) from e
    # What verify_dsse leaves to its caller: the type and the bytes it returns are not checked.
    if got_type != payload_type:
        raise _Refused(f"payload type is {_shown(got_type)!r}, expected {payload_type!r}")
    if got_payload != payload:
        raise _Refused(
            f"payload differs from the baseline (bundle payload sha256 {hashlib.sha256(got_payload).hexdigest()}, "
            f"baseline {hashlib.sha256(payload).hexdigest()})"
        )
    _check_windows(root, obj, cert, times, ca_windows)


class _ExactIdentity:
    """The signer policy: this exact SAN, and every issuer extension naming this exact issuer.

    sigstore's ``policy.Identity`` reads only the deprecated ``…1.1``
    extension; certificates may carry ``…1.8`` instead (or both).
    """

    def __init__(self, identity: str, issuer: str) -> None:
        self._identity = identity
        self._issuer = issuer

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError

        try:
            sans, issuer = _identity_of(cert)
        except _Refused as e:
            raise VerificationError(str(e)) from e
        if self._identity not in sans or issuer != self._issuer:
            raise VerificationError("certificate identity or issuer does not match the signer")


def _envelope_of(obj: dict[str, Any]) -> tuple[str, bytes]:
    """The DSSE payload type and payload of a parsed bundle, after its shape checks."""
    media = obj.get("mediaType")
    if media not in BUNDLE_MEDIA_TYPES:
        raise _Refused(f"bundle media type {_shown(str(media))!r} is not a Sigstore bundle v0.3")
    if "messageSignature" in obj or "dsseEnvelope" not in obj:
        raise _Refused("bundle signs a message digest, not a DSSE envelope over a baseline")
    env = obj["dsseEnvelope"]
    if not isinstance(env, dict):
        raise _Refused("bundle's dsseEnvelope is not a JSON object")
    ptype, body, sigs = env.get("payloadType"), env.get("payload"), env.get("signatures")
    if not isinstance(ptype, str) or not isinstance(body, str) or not isinstance(sigs, list):
        raise _Refused("bundle's DSSE envelope needs payload, payloadType and signatures")
    if len(sigs) != 1:
        raise _Refused(f"bundle's DSSE envelope has {len(sigs)} signatures, expected exactly one")
    return ptype, _b64(body, "the DSSE payload")


def _entry_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The bundle's one log entry, with the fields read here under their protobuf JSON (camelCase) names.

    sigstore's parser also accepts snake_case names; the values checked here
    must be the values sigstore verified, so only one spelling is accepted.
    """
    material = obj.get("verificationMaterial")
    entries = material.get("tlogEntries") if isinstance(material, dict) else None
    entry = entries[0] if isinstance(entries, list) and len(entries) == 1 else None
    if not isinstance(entry, dict):
        raise _Refused("bundle needs verificationMaterial.tlogEntries with exactly one log entry")
    log_id, proof = entry.get("logId"), entry.get("inclusionProof")
    checkpoint = proof.get("checkpoint") if isinstance(proof, dict) else None
    if (
        not isinstance(log_id, dict)
        or not isinstance(log_id.get("keyId"), str)
        or not isinstance(checkpoint, dict)
        or not isinstance(checkpoint.get("envelope"), str)
    ):
        raise _Refused("bundle's log entry needs logId.keyId and inclusionProof.checkpoint.envelope")
    return entry


def _parse_bundle(bundle: bytes) -> Bundle:
    from sigstore.models import Bundle

    try:
        return Bundle.from_json(bundle)
    except Exception as e:  # InvalidBundle, pydantic, or a certificate parser error
        raise _Refused(f"not a valid Sigstore bundle: {_shown(first_line(e))}") from e


def _identity_of(cert: Certificate) -> tuple[list[str], str | None]:
    """The certificate's SAN identities and its OIDC issuer (``None`` if it names none)."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*san.get_values_for_type(x509.RFC822Name), *san.get_values_for_type(x509.UniformResourceIdentifier)]
        sans += [
            o.value.decode("utf-8")
            for o in san.get_values_for_type(x509.OtherName)
            if o.type_id.dotted_string == _OTHERNAME_SAN
        ]
        found: set[str] = set()
        for ext in cert.extensions:
            if not isinstance(ext.value, x509.UnrecognizedExtension):
                continue
            if ext.oid.dotted_string == _OIDC_ISSUER:
                found.add(ext.value.value.decode("utf-8"))
            elif ext.oid.dotted_string == _OIDC_ISSUER_V2:
                found.add(_der_utf8(ext.value.value))
    except (x509.ExtensionNotFound, ValueError, UnicodeDecodeError) as e:
        raise _Refused(f"certificate names no usable identity: {_shown(first_line(e))}") from e
    if not sans:
        raise _Refused("certificate names no email or URI identity")
    if len(found) > 1:
        raise _Refused(f"certificate names two different issuers {sorted(_shown(i) for i in found)}")
    return sans, next(iter(found), None)


def _der_utf8(der: bytes) -> str:
    """Decode a DER UTF8String (tag 0x0C), refusing anything else or trailing bytes."""
    if len(der) < 2 or der[0] != 0x0C:
        raise ValueError("issuer extension is not a DER UTF8String")
    n, i = der[1], 2
    if n & 0x80:  # long form: the next n & 0x7f bytes hold the length
        k = n & 0x7F
        if not 1 <= k <= 3 or len(der) < 2 + k:
            raise ValueError("issuer extension has a bad DER length")
        n, i = int.from_bytes(der[2 : 2 + k], "big"), 2 + k
    if len(der) != i + n:
        raise ValueError("issuer extension has a bad DER length")
    return der[i:].decode("utf-8")


def _claimed_times(obj: dict[str, Any], parsed: Bundle) -> list[datetime]:
    """Every signing time the bundle claims: the log's integrated time (with a promise) and RFC 3161 times.

    Not yet verified: used only to refuse (a certificate or key not valid at
    one of them), never to accept.
    """
    times: list[datetime] = []
    entry = _entry_of(obj)
    if entry.get("integratedTime") and entry.get("inclusionPromise"):
        try:
            times.append(datetime.fromtimestamp(int(entry["integratedTime"]), tz=UTC))
        except (ValueError, OverflowError, OSError, TypeError) as e:
            raise _Refused("log entry's integrated time is not a time") from e
    try:
        tsd = parsed.verification_material.timestamp_verification_data
        for tsr in tsd.rfc3161_timestamps if tsd else []:
            t = tsr.tst_info.gen_time
            times.append(t if t.tzinfo else t.replace(tzinfo=UTC))
    except Exception as e:  # a malformed timestamp response from a hostile bundle
        raise _Refused(f"bundle's signed timestamp is malformed: {_shown(first_line(e))}") from e
    if not times:
        raise _Refused("no signing time: the bundle has neither a log inclusion promise nor a signed timestamp")
    return times


def _check_certificate_times(cert: Certificate, times: list[datetime]) -> None:
    """Refuse a certificate that was not valid at a time the bundle claims (sigstore says only "expired")."""
    for t in times:
        if not cert.not_valid_before_utc <= t <= cert.not_valid_after_utc:
            raise _Refused(
                f"certificate was not valid when the bundle was logged or timestamped ({when(t)}): "
                f"valid {when(cert.not_valid_before_utc)} to {when(cert.not_valid_after_utc)}"
            )


def _check_windows(
    root: Root, obj: dict[str, Any], cert: Certificate, times: list[datetime], ca_windows: list[Window]
) -> None:
    """Refuse a CA, CT log or transparency log used outside its ``validFor`` window (retired keys)."""
    from cryptography import x509

    entry = _entry_of(obj)
    log_id = _b64(entry["logId"]["keyId"], "the log id")
    log_window = root.tlogs.get(log_id)
    if log_window is None:
        raise _Refused("log entry names a transparency log that is not in the pinned root")
    _check_checkpoint_key(root, log_id, entry["inclusionProof"]["checkpoint"]["envelope"])
    for t in times:
        if not log_window.holds(t):
            raise _Refused(f"transparency log key was not valid at {when(t)} (valid {log_window.text()})")
    scts = cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    for sct in scts:  # exactly one: sigstore checked
        ct_window = root.ctlogs.get(sct.log_id)
        if ct_window is None:
            raise _Refused("certificate's SCT is from a CT log that is not in the pinned root")
        t = sct.timestamp.replace(tzinfo=UTC)
        if not ct_window.holds(t):
            raise _Refused(f"CT log key was not valid at {when(t)} (valid {ct_window.text()})")
    for t in times:
        if not any(w.holds(t) for w in ca_windows):
            raise _Refused(f"certificate authority was not valid at {when(t)} (valid {ca_windows[0].text()})")


_NOTE_SIGNATURE = re.compile(r"^\u2014 (\S+) (\S+)$")


def _check_checkpoint_key(root: Root, log_id: bytes, checkpoint: str) -> None:
    """Refuse a checkpoint not signed by the key of the very log the entry names.

    sigstore looks the key up by the entry's log id and, when no key has that
    id (Rekor v2 logs: their id is not the key's SPKI hash), tries every log
    key of the root, so a retired log's key could sign under an active log's
    name and pass the window check above.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    details, der = root.tlog_keys[log_id]
    note, _, signatures = checkpoint.rpartition("\n\n")
    message = (note + "\n").encode("utf-8")
    hash_for = {"PKIX_ECDSA_P256_SHA_256": hashes.SHA256(), "PKIX_ECDSA_P384_SHA_384": hashes.SHA384()}
    try:
        key = serialization.load_der_public_key(der)
    except ValueError as e:
        raise _Refused("the pinned log key cannot be loaded") from e
    for line in signatures.split("\n"):
        m = _NOTE_SIGNATURE.match(line)
        try:
            raw = _b64(m.group(2), "a checkpoint signature") if m else b""
        except _Refused:  # someone else's (a witness's) malformed line: not the log's signature
            continue
        if raw[:4] != log_id[:4] or len(raw) < 5:
            continue
        try:
            if isinstance(key, ed25519.Ed25519PublicKey) and details == "PKIX_ED25519":
                key.verify(raw[4:], message)
            elif isinstance(key, ec.EllipticCurvePublicKey) and details in hash_for:
                key.verify(raw[4:], message, ec.ECDSA(hash_for[details]))
            else:
                continue
        except InvalidSignature:
            continue
        return
    raise _Refused("log checkpoint is not signed by the key of the log the entry names")


def _issued_by(cert: Certificate, issuer_der: bytes) -> bool:
    from cryptography import x509

    try:
        cert.verify_directly_issued_by(x509.load_der_x509_certificate(issuer_der))
    except Exception:  # noqa: BLE001 - any failure means "not this CA"
        return False
    return True


def _reason_for(e: Exception) -> str:
    """A fleet manager's reading of a sigstore verification error."""
    from sigstore.errors import CertValidationError

    text = str(e)
    if isinstance(e, CertValidationError) or "certificate chain" in text:
        return "certificate not issued by the pinned root"
    reasons = (
        ("SCT", "certificate's signed certificate timestamp (SCT) does not verify against the pinned CT logs"),
        ("inclusion proof", "log inclusion proof does not verify"),
        ("malformed LogCheckpoint", "log checkpoint is malformed"),
        ("malformed Note", "log checkpoint is malformed"),
        ("note must contain", "log checkpoint is malformed"),
        ("checkpoint", "log checkpoint is not signed by a pinned transparency log key"),
        ("inclusion promise", "log inclusion promise (SET) does not verify against the pinned log keys"),
        ("verified time", "no trusted signing time (no valid log promise or timestamp)"),
        ("Timestamp", "signed timestamp does not verify against the pinned timestamp authorities"),
        ("timestamp", "signed timestamp does not verify against the pinned timestamp authorities"),
        ("expired at time of signing", "certificate was not valid at the signing time"),
        ("DSSE", "DSSE signature does not verify with the certificate's key"),
        ("inconsistent", "log entry does not match the bundle's envelope"),
        ("match bundle", "log entry does not match the bundle's envelope"),
        ("usage", "certificate is not a code-signing certificate"),
        ("identity or issuer", "certificate identity or issuer does not match the signer"),
    )
    for needle, reason in reasons:
        if needle in text:
            return reason
    return f"bundle does not verify: {_shown(first_line(e))}"


# --- small helpers ----------------------------------------------------------------------------------------------


def _b64(text: str, what: str) -> bytes:
    """:func:`b64` for bundle fields: a bad one means the bundle does not count."""
    try:
        return b64(text, what)
    except ValueError as e:
        raise _Refused(str(e)) from e


def _shown(text: str) -> str:
    """Text from a bundle made safe to print: printable, and at most :data:`_SHOWN` characters."""
    if not text.isprintable():
        text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
