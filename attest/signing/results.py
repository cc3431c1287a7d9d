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
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import AttestError, LogError
from attest.jsonutil import JSONFormatError, jsonable, loads
from attest.model import Result, Verdict
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
    return hashlib.sha256(rfc8785.dumps(jsonable(measured))).hexdigest()


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
    statement: dict[str, Any] = jsonable(
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


def read_result(entry: bytes | Envelope, *, index: int) -> LoggedResult:
    """Decode a log entry into a :class:`LoggedResult` (no signature check).

    The one set of rules every reader of the log applies (``attest log
    show``, ``export``, ``verify`` and ``verify-proof``), so that what
    ``verify`` passes, ``show`` can display:

    * a DSSE envelope (strict JSON: :meth:`attest.signing.Envelope.from_bytes`)
      with payload type :data:`PAYLOAD_TYPE`;
    * its payload strict JSON (:func:`attest.jsonutil.loads`: no duplicate
      keys, no integer beyond 2**53, no NaN, nesting at most 64 deep, UTF-8);
    * an in-toto Statement v1 with exactly one subject ``device:<id>`` and its
      ``sha256`` digest, and ``predicateType`` :data:`PREDICATE_TYPE`;
    * a predicate with exactly the documented fields (docs/log.md), each of
      its type: ``verdict`` one of ``pass``, ``drift``, ``error``,
      ``untrusted``; ``time`` RFC 3339; each finding an object with string
      ``component``, ``kind`` and ``severity``. ``message`` and ``collection``
      may be absent.

    RFC 8785 canonical form is not required of the payload: the signature
    covers its exact bytes and every reader parses them by these rules, so
    they have one meaning; re-serialising every entry would double the cost
    of ``attest log verify``.

    Args:
        entry: the entry's bytes, or its envelope when the caller has parsed
            it already (``attest log verify`` parses each entry once).
        index: the entry's index, for messages.

    Raises:
        LogError: a rule is broken (the message names ``index`` and the rule).
    """
    where = f"entry {index}"
    if isinstance(entry, Envelope):
        env = entry
    else:
        try:
            env = Envelope.from_bytes(entry, source=where)
        except AttestError as e:  # the envelope parser's BaselineError: same meaning here
            raise LogError(f"{where}: not a DSSE envelope: {e}", index=index) from e
        except (ValueError, RecursionError) as e:  # a parser that lets these through must still fail closed
            raise LogError(f"{where}: not a DSSE envelope: not strict JSON ({e})", index=index) from e
    try:
        if env.payload_type != PAYLOAD_TYPE:
            raise ValueError(f"payloadType is {env.payload_type[:80]!r}, expected {PAYLOAD_TYPE!r}")
        try:
            statement = loads(env.payload)
        except JSONFormatError as e:
            raise ValueError(f"the payload is not strict JSON: {e}") from e
        return _logged_result(statement, index)
    except (ValueError, TypeError) as e:
        raise LogError(f"{where}: not a drone-attest result: {e}", index=index) from e


_STATEMENT_KEYS = frozenset({"_type", "subject", "predicateType", "predicate"})
_PREDICATE_KEYS = frozenset(
    {"verdict", "time", "nonce", "dock", "device", "baseline", "findings", "message", "collection"}
)
_OPTIONAL_KEYS = frozenset({"message", "collection"})
_VERDICTS = frozenset(v.value for v in Verdict)
_NULL = type(None)


def _field(obj: Mapping[str, Any], key: str, kinds: tuple[type, ...], where: str) -> Any:
    """``obj[key]``, which must be one of ``kinds`` (a JSON ``true`` is never an integer here)."""
    if key not in obj:
        raise ValueError(f"{where} has no {key!r}")
    value = obj[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise TypeError(f"{where}.{key} is {type(value).__name__}, expected {' or '.join(k.__name__ for k in kinds)}")
    return value


def _logged_result(st: Any, index: int) -> LoggedResult:
    """The result a parsed Statement states; ValueError or TypeError naming the first broken rule."""
    if not isinstance(st, dict):
        raise TypeError("the payload is not a JSON object (expected an in-toto Statement)")
    if st.get("_type") != STATEMENT_TYPE:
        raise ValueError(f"_type is not {STATEMENT_TYPE!r}")
    kind = st.get("predicateType")
    if kind != PREDICATE_TYPE:
        shown = repr(kind[:80]) if isinstance(kind, str) else type(kind).__name__
        raise ValueError(f"predicateType is {shown}, expected {PREDICATE_TYPE!r}")
    if set(st) != _STATEMENT_KEYS:
        raise ValueError(f"the Statement has fields other than {sorted(_STATEMENT_KEYS)}")
    subjects = _field(st, "subject", (list,), "statement")
    if len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise ValueError("expected exactly one subject")
    name = _field(subjects[0], "name", (str,), "subject")
    sha = _field(_field(subjects[0], "digest", (dict,), "subject"), "sha256", (str,), "subject.digest")
    if not name.startswith("device:") or len(sha) != 64 or sha.strip("0123456789abcdef"):
        raise ValueError("the subject is not device:<id> with a hex sha256 digest")
    p = _field(st, "predicate", (dict,), "statement")
    missing, extra = (_PREDICATE_KEYS - _OPTIONAL_KEYS) - set(p), set(p) - _PREDICATE_KEYS
    if missing or extra:
        raise ValueError(f"the predicate lacks {sorted(missing)} or has unknown fields {sorted(extra)[:5]}")
    verdict = _field(p, "verdict", (str,), "predicate")
    if verdict not in _VERDICTS:
        raise ValueError(f"verdict {verdict[:40]!r} is not one of {sorted(_VERDICTS)}")
    device = _field(p, "device", (dict, _NULL), "predicate")
    if device is not None:
        for key in ("kind", "id", "target"):
            _field(device, key, (str,), "device")
        _field(device, "facts", (dict,), "device")
    baseline = _field(p, "baseline", (dict,), "predicate")
    if set(baseline) != {"name", "version", "digest"}:
        raise ValueError("baseline must have exactly name, version and digest")
    _field(baseline, "name", (str, _NULL), "baseline")
    _field(baseline, "version", (int, _NULL), "baseline")
    _field(baseline, "digest", (str, _NULL), "baseline")
    findings = _field(p, "findings", (list,), "predicate")
    for n, f in enumerate(findings):
        if not isinstance(f, dict):
            raise TypeError(f"finding {n} is not an object")
        for key in ("component", "kind", "severity"):
            _field(f, key, (str,), f"finding {n}")
    return LoggedResult(
        index=index,
        time=parse_time(_field(p, "time", (str,), "predicate")),
        verdict=verdict,
        device_id=device["id"] if device is not None else "unknown",
        device=device,
        baseline=baseline,
        findings=findings,
        dock_id=_field(_field(p, "dock", (dict,), "predicate"), "id", (str,), "dock"),
        nonce=_field(p, "nonce", (str,), "predicate"),
        message=_field(p, "message", (str, _NULL), "predicate") if "message" in p else None,
        collection=_field(p, "collection", (dict, _NULL), "predicate") if "collection" in p else None,
    )
