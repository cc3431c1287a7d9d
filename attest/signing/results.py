"""Signed attestation results: an in-toto Statement v1 with our result predicate, in DSSE.

Every ``attest verify`` run with a dock key turns its :class:`~attest.model.Result`
into a Statement (:func:`result_statement`), signs it with the dock's Ed25519
key (:func:`sign_result`) and appends the envelope's compact JSON bytes to the
dock's log. Fleet managers read them back with :func:`read_result`.

The Statement (docs/log.md has every field)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "device:<id>", "digest": {"sha256": <measurement digest>}}],
     "predicateType": "https://drone-attest.dev/result/v1",
     "predicate": {"verdict", "time", "nonce", "dock", "device", "baseline",
                   "findings", "message", "collection"}}

The subject's digest is the SHA-256 of the RFC 8785 canonical JSON of the
measured components (``{name: component}`` as in baselines; ``{}`` when
nothing was measured), so a result names exactly the state it judged.
The payload is RFC 8785 canonical JSON, so equal results have equal bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import AttestError, LogError
from attest.model import Result
from attest.signing.dsse import Envelope
from attest.timeutil import format_time, parse_time

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "LoggedResult",
    "read_result",
    "result_statement",
    "sign_result",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://drone-attest.dev/result/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"

_SAFE_INT = 2**53 - 1


def _jsonable(value: Any) -> Any:  # noqa: PLR0911 (one return per JSON type)
    """``value`` as JSON data that RFC 8785 accepts.

    Findings carry whatever a collector saw; anything RFC 8785 cannot encode
    exactly (huge integers, NaN, bytes, names that are not valid Unicode)
    becomes a string rather than failing the signature.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 file name
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {_jsonable(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    return _jsonable(str(value))


def _collection(result: Result) -> dict[str, Any] | None:
    ev = result.evidence
    if ev is None:
        return None
    methods = {name: c.method.value for name, c in ev.components.items()}
    counts = Counter(methods.values())
    # The most common method is stated once; only components measured otherwise are listed,
    # which keeps a 500,000-file result small while still saying how each component was read.
    default = min(counts, key=lambda m: (-counts[m], m)) if counts else None
    return {
        "collectedAt": format_time(ev.collected_at),
        "components": len(ev.components),
        "methodCounts": dict(sorted(counts.items())),
        "method": default,
        "otherMethods": {n: m for n, m in sorted(methods.items()) if m != default},
    }


def measurement_digest(result: Result) -> str:
    """Hex SHA-256 of the RFC 8785 JSON of the measured components (``{}`` if none)."""
    ev = result.evidence
    measured = {name: c.to_json() for name, c in sorted(ev.components.items())} if ev else {}
    return hashlib.sha256(rfc8785.dumps(_jsonable(measured))).hexdigest()


def result_statement(result: Result, *, dock_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The in-toto Statement v1 of one result, as JSON data.

    Args:
        result: the verdict to record; ``result.evidence`` may be ``None``
            (the baseline was not trusted, or collection failed).
        dock_id: who attested: the dock's identity (e.g. its hostname).
        now: the result's time (default: the clock, UTC).

    Returns:
        The Statement. ``predicate.nonce`` is the collection's nonce, or a
        fresh random one when nothing was collected: every result is unique.
    """
    t = now if now is not None else datetime.now(UTC)
    ev = result.evidence
    device = result.device
    predicate = {
        "verdict": result.verdict.value,
        "time": format_time(t),
        "nonce": ev.nonce if ev is not None else secrets.token_hex(32),
        "dock": {"id": dock_id},
        "device": device.to_json() if device is not None else None,
        "baseline": result.baseline.to_json(),
        "findings": [f.to_json() for f in result.findings],
        "message": result.message,
        "collection": _collection(result),
    }
    statement: dict[str, Any] = _jsonable(
        {
            "_type": STATEMENT_TYPE,
            "subject": [
                {
                    "name": f"device:{device.id if device is not None else 'unknown'}",
                    "digest": {"sha256": measurement_digest(result)},
                }
            ],
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate,
        }
    )
    return statement


def sign_result(result: Result, key: Ed25519PrivateKey, *, dock_id: str, now: datetime | None = None) -> bytes:
    """The signed result: a DSSE envelope over the canonical Statement, as compact JSON bytes.

    These bytes are a log entry: pass them to :meth:`attest.log.Log.append`.

    Args:
        result: the verdict to record (``evidence`` may be ``None``).
        key: the dock's Ed25519 key (the same key signs the log's checkpoints).
        dock_id: the dock's identity.
        now: the result's time (default: the clock).
    """
    payload = rfc8785.dumps(result_statement(result, dock_id=dock_id, now=now))
    return Envelope(payload, PAYLOAD_TYPE).signed_by(key).to_bytes()


@dataclass(frozen=True)
class LoggedResult:
    """A result read back from a log entry (its signature is checked by ``attest log verify``, not here).

    Attributes:
        index: the entry's index in the log.
        time: when the dock judged the device.
        verdict: ``pass``, ``drift``, ``error`` or ``untrusted``.
        device_id: the device's id (``unknown`` when there was none).
        device: the device identity object, or ``None``.
        baseline: ``{"name", "version", "digest"}`` (values may be ``None``).
        findings: the findings, as in ``--json``.
        dock_id: the dock that judged.
        nonce: the run's nonce.
        message: why an error or untrusted verdict was given.
        collection: collection facts (``None`` when nothing was collected).
    """

    index: int
    time: datetime
    verdict: str
    device_id: str
    device: dict[str, Any] | None
    baseline: dict[str, Any]
    findings: list[dict[str, Any]]
    dock_id: str
    nonce: str
    message: str | None
    collection: dict[str, Any] | None

    def baseline_label(self) -> str:
        """``name vN``, or ``-`` when no baseline was read."""
        name, version = self.baseline.get("name"), self.baseline.get("version")
        if not name:
            return "-"
        return f"{name} v{version}" if version is not None else str(name)

    def to_json(self) -> dict[str, Any]:
        """The object of ``attest log show --json``."""
        return {
            "index": self.index,
            "time": format_time(self.time),
            "device": self.device_id,
            "baseline": self.baseline,
            "verdict": self.verdict,
            "finding_count": len(self.findings),
            "findings": self.findings,
            "dock": self.dock_id,
            "message": self.message,
        }


def read_result(entry: bytes, *, index: int) -> LoggedResult:
    """Decode a log entry into a :class:`LoggedResult` (no signature check).

    Raises:
        LogError: not a DSSE envelope of a result Statement (names ``index``).
    """
    where = f"entry {index}"
    try:
        obj = json.loads(entry)
        env = Envelope.from_bytes(entry, source=where) if isinstance(obj, dict) else None
        if env is None:
            raise ValueError("not a DSSE envelope")
        st = json.loads(env.payload)
        if not isinstance(st, dict) or st.get("predicateType") != PREDICATE_TYPE:
            raise ValueError(f"not a result statement (predicateType is not {PREDICATE_TYPE})")
        p = st["predicate"]
        device = p["device"]
        findings = p["findings"]
        baseline = p["baseline"]
        if not isinstance(findings, list) or not isinstance(baseline, dict):
            raise TypeError("findings or baseline has the wrong type")
        if device is not None and not isinstance(device, dict):
            raise TypeError("device has the wrong type")
        return LoggedResult(
            index=index,
            time=parse_time(str(p["time"])),
            verdict=str(p["verdict"]),
            device_id=str(device["id"]) if device else "unknown",
            device=device,
            baseline=baseline,
            findings=findings,
            dock_id=str(p["dock"]["id"]),
            nonce=str(p["nonce"]),
            message=p.get("message"),
            collection=p.get("collection"),
        )
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise LogError(f"{where}: not a drone-attest result: {e}", index=index) from e
    except AttestError as e:  # the envelope parser's BaselineError: same meaning here
        raise LogError(f"{where}: not a DSSE envelope: {e}", index=index) from e
