"""A dock event as one signed log entry: an in-toto Statement with a dock-event predicate, in DSSE.

One entry per dock event, whatever happened: the drone's parts each with its
result, or an unknown device with none. The Statement (docs/dock.md has every
field)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "drone:UAV-07", "digest": {"sha256": <of the canonical parts array>}}],
     "predicateType": "https://drone-attest.dev/dock-event/v1",
     "predicate": {"drone", "verdict", "message", "started", "time", "dock", "trigger", "usb",
                   "parts": [{"part", "target", "baseline": {"name", "version", "digest", "expires"},
                              "result": <attest verify --json object of that part, without log_index>}]}}

The payload is RFC 8785 canonical JSON, signed by the dock key (the log's
key) with DSSE payload type ``application/vnd.in-toto+json``, so ``attest log
verify`` checks it like every other entry. The event's verdict is the worst
of its parts' (``untrusted`` > ``error`` > ``drift`` > ``pass``, the order of
their exit codes); an event with no parts (an unknown device) is
``untrusted``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import AttestError, LogError
from attest.jsonutil import JSONFormatError, jsonable, loads, loads_canonical
from attest.model import Result, Verdict
from attest.report import result_json
from attest.signing import Envelope, LoggedResult
from attest.timeutil import format_time, parse_time

__all__ = [
    "ENTRY_KINDS",
    "EVENT_PREDICATE_TYPE",
    "PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "DockEvent",
    "LoggedEvent",
    "LoggedPart",
    "PartOutcome",
    "event_json",
    "event_row",
    "event_statement",
    "peek_drone",
    "read_event",
    "sign_event",
    "worst",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
EVENT_PREDICATE_TYPE = "https://drone-attest.dev/dock-event/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The worst verdict (by exit code: untrusted, error, drift, pass); ``untrusted`` for none."""
    return max(verdicts, key=lambda v: v.exit_code, default=Verdict.UNTRUSTED)


@dataclass(frozen=True)
class PartOutcome:
    """One part's result in a dock event.

    Attributes:
        kind: ``fc``, ``companion``, ``controller`` or ``aircraft`` (:data:`~attest.dock.parts.PART_KINDS`).
        target: where it was attested (``None``: not found).
        result: its result.
        expires: when its baseline expires (read from the trusted baseline), or ``None``.
    """

    kind: str
    target: str | None
    result: Result
    expires: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``parts[]`` object of the predicate and of ``attest dock --json``."""
        r = result_json(self.result)
        r.pop("log_index", None)  # the event is logged, not the part: the index is the event's
        return {
            "part": self.kind,
            "target": self.target,
            "baseline": {
                **self.result.baseline.to_json(),
                "expires": format_time(self.expires) if self.expires is not None else None,
            },
            "result": r,
        }


@dataclass(frozen=True)
class DockEvent:
    """Everything one dock event found, before it is signed.

    Attributes:
        drone: the drone's name, or ``None`` for an unknown device.
        verdict: the worst of the parts' verdicts (``untrusted`` with none).
        message: why an event without a usable result ended (unknown device, deadline), or ``None``.
        started: when the event began.
        time: when it was judged.
        trigger: what started it (``{"device": ...}``, ``{"net": ...}`` or ``{"drone": ...}``).
        usb: USB facts of the triggering port, or ``None``.
        parts: each part's outcome, in configuration order.
        dock_id: the dock's identity (its host name).
        origin: the log's origin.
    """

    drone: str | None
    verdict: Verdict
    message: str | None
    started: datetime
    time: datetime
    trigger: Mapping[str, str]
    usb: Mapping[str, Any] | None
    parts: tuple[PartOutcome, ...]
    dock_id: str
    origin: str

    def predicate(self) -> dict[str, Any]:
        """The predicate as JSON data (every value RFC 8785 can encode)."""
        data: dict[str, Any] = jsonable(
            {
                "drone": self.drone,
                "verdict": self.verdict.value,
                "message": self.message,
                "started": format_time(self.started),
                "time": format_time(self.time),
                "dock": {"id": self.dock_id, "origin": self.origin},
                "trigger": dict(self.trigger),
                "usb": dict(self.usb) if self.usb is not None else None,
                "parts": [p.to_json() for p in self.parts],
            }
        )
        return data


def event_statement(event: DockEvent) -> dict[str, Any]:
    """The in-toto Statement v1 of ``event`` (see the module docstring)."""
    predicate = event.predicate()
    digest = hashlib.sha256(rfc8785.dumps(predicate["parts"])).hexdigest()
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": f"drone:{event.drone}" if event.drone else "device:unknown", "digest": {"sha256": digest}}
        ],
        "predicateType": EVENT_PREDICATE_TYPE,
        "predicate": predicate,
    }


def sign_event(event: DockEvent, key: Ed25519PrivateKey) -> bytes:
    """The log entry: a DSSE envelope over the canonical Statement, signed by the dock key, compact JSON."""
    payload = rfc8785.dumps(event_statement(event))
    return Envelope(payload, PAYLOAD_TYPE).signed_by(key).to_bytes()


def event_json(event: DockEvent, *, log_index: int | None, gate: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The object ``attest dock --json`` prints and hooks read: the predicate, the log index and the gate."""
    out = event.predicate()
    out["log_index"] = log_index
    if gate is not None:
        out["gate"] = dict(gate)
    return out


# -- reading back ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedPart:
    """One part of a logged dock event.

    Attributes:
        part: ``fc``, ``companion``, ``controller`` or ``aircraft``.
        verdict: the part's verdict.
        baseline: ``{"name", "version", "digest", "expires"}`` (values may be ``None``).
        message: why an error or untrusted verdict was given.
        findings: the number of findings.
        device: the part's device identity object, or ``None``.
    """

    part: str
    verdict: str
    baseline: Mapping[str, Any]
    message: str | None
    findings: int
    device: Mapping[str, Any] | None


@dataclass(frozen=True)
class LoggedEvent:
    """A dock event read back from a log entry (its signature and inclusion are the caller's to check).

    Attributes:
        index: the entry's index.
        drone: the drone, or ``None`` (unknown device).
        verdict: the event's verdict.
        message: why, for an event without a usable result.
        started: when the event began.
        time: when it was judged.
        dock_id: the dock's identity.
        origin: the log's origin, as the event states it.
        parts: the parts' results.
        entry_sha256: hex SHA-256 of the entry's bytes (what a ticket names).
        predicate: the whole predicate, as JSON data.
    """

    index: int
    drone: str | None
    verdict: str
    message: str | None
    started: datetime
    time: datetime
    dock_id: str
    origin: str
    parts: tuple[LoggedPart, ...]
    entry_sha256: str
    predicate: Mapping[str, Any] = field(repr=False)

    def part(self, kind: str) -> LoggedPart | None:
        """The part of ``kind``, if the event has one."""
        return next((p for p in self.parts if p.part == kind), None)


def _statement(entry: bytes, where: str) -> dict[str, Any]:
    env = Envelope.from_bytes(entry, source=where)
    if env.payload_type != PAYLOAD_TYPE:
        raise ValueError(f"payloadType is {env.payload_type!r}, expected {PAYLOAD_TYPE!r}")
    st = loads_canonical(env.payload)
    if not isinstance(st, dict) or st.get("_type") != STATEMENT_TYPE:
        raise ValueError("not an in-toto Statement v1")
    return st


def peek_drone(entry: bytes) -> tuple[bool, str | None]:
    """``(is a dock event, its drone)`` without checking anything else (for finding a drone's latest event).

    Any entry that is not a well-formed dock event is ``(False, None)``.
    """
    try:
        # Strict JSON, but not the canonical-form check: this only points at candidates, each of which
        # is read with read_event (and its signature and inclusion checked) before it decides anything.
        obj = loads(entry)
        payload = obj["payload"] if isinstance(obj, dict) and obj.get("payloadType") == PAYLOAD_TYPE else None
        if not isinstance(payload, str):
            return False, None
        std = payload.replace("-", "+").replace("_", "/")  # DSSE allows URL-safe base64 too
        st = loads(base64.b64decode(std + "=" * (-len(std) % 4), validate=True))
    except (ValueError, binascii.Error, KeyError, RecursionError):
        return False, None
    if not isinstance(st, dict):
        return False, None
    if st.get("predicateType") != EVENT_PREDICATE_TYPE or not isinstance(st.get("predicate"), dict):
        return False, None
    drone = st["predicate"].get("drone")
    return True, drone if isinstance(drone, str) else None


def _str_or_none(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} is not a string")
    return value


def _part(data: Any) -> LoggedPart:
    if not isinstance(data, dict):
        raise TypeError("a part is not an object")
    result, baseline = data["result"], data["baseline"]
    if not isinstance(result, dict) or not isinstance(baseline, dict):
        raise TypeError("a part's result or baseline is not an object")
    findings, device = result["findings"], result.get("device")
    if not isinstance(findings, list) or (device is not None and not isinstance(device, dict)):
        raise TypeError("a part's findings or device has the wrong type")
    part, verdict = data["part"], result["verdict"]
    if not isinstance(part, str) or verdict not in {v.value for v in Verdict}:
        raise ValueError("a part has no kind or an unknown verdict")
    return LoggedPart(part, verdict, baseline, _str_or_none(result.get("message"), "message"), len(findings), device)


def read_event(entry: bytes, *, index: int) -> LoggedEvent:
    """Decode a dock-event entry (its signature is not checked here).

    Raises:
        LogError: not a DSSE envelope of a canonical dock-event Statement of this shape (names ``index``).
    """
    where = f"entry {index}"
    try:
        st = _statement(entry, where)
        if st.get("predicateType") != EVENT_PREDICATE_TYPE:
            raise ValueError(f"predicateType is not {EVENT_PREDICATE_TYPE}")
        p = st["predicate"]
        dock, parts = p["dock"], p["parts"]
        if not isinstance(dock, dict) or not isinstance(parts, list):
            raise TypeError("dock or parts has the wrong type")
        if p["verdict"] not in {v.value for v in Verdict}:
            raise ValueError(f"unknown verdict {p['verdict']!r}")
        return LoggedEvent(
            index=index,
            drone=_str_or_none(p["drone"], "drone"),
            verdict=p["verdict"],
            message=_str_or_none(p.get("message"), "message"),
            started=parse_time(str(p["started"])),
            time=parse_time(str(p["time"])),
            dock_id=str(dock["id"]),
            origin=str(dock["origin"]),
            parts=tuple(_part(x) for x in parts),
            entry_sha256=hashlib.sha256(entry).hexdigest(),
            predicate=p,
        )
    except (ValueError, KeyError, TypeError, RecursionError, JSONFormatError) as e:
        raise LogError(f"{where}: not a dock event: {e}", index=index) from e
    except AttestError as e:  # the envelope parser's BaselineError
        raise LogError(f"{where}: not a DSSE envelope: {e}", index=index) from e


def event_row(entry: bytes, *, index: int) -> LoggedResult:
    """A dock-event entry as one row of ``attest log show``/``export``: the drone, the event's verdict, every finding.

    The entry is read by :func:`read_event` (the one reader of this format);
    findings are prefixed with their part (``fc:param/FENCE_ENABLE``) and the
    baseline column names each part's baseline.

    Raises:
        LogError: not a dock event, or a finding that is not an object with
            text ``component``, ``kind`` and ``severity`` (names ``index``).
    """
    event = read_event(entry, index=index)
    findings: list[dict[str, Any]] = []
    messages = [event.message] if event.message else []
    for part, data in zip(event.parts, event.predicate["parts"], strict=True):
        for f in data["result"]["findings"]:
            if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("component", "kind", "severity")):
                raise LogError(
                    f"entry {index}: not a dock event: a finding of part {part.part} is malformed", index=index
                )
            findings.append({**f, "component": f"{part.part}:{f['component']}"})
        if part.message:
            messages.append(f"{part.part}: {part.message}")
    labels = [
        f"{p.part}:{p.baseline.get('name')} v{p.baseline.get('version')}" if p.baseline.get("name") else f"{p.part}:-"
        for p in event.parts
    ]
    drone = event.drone or "unknown"
    return LoggedResult(
        index=index,
        time=event.time,
        verdict=event.verdict,
        device_id=drone,
        device={"kind": "drone", "id": drone, "target": "", "facts": {}},
        baseline={"name": " + ".join(labels) or None, "version": None, "digest": event.entry_sha256},
        findings=findings,
        dock_id=event.dock_id,
        nonce=event.entry_sha256,
        message="; ".join(messages) or None,
        collection=None,
    )


#: The entry kinds a dock's log holds besides results, for :class:`attest.log.Log` and its readers:
#: ``attest dock`` appends with them and ``attest log`` reads with them.
ENTRY_KINDS: Mapping[str, Callable[..., LoggedResult]] = MappingProxyType({EVENT_PREDICATE_TYPE: event_row})
