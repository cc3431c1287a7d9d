"""Clearance tickets: a short-lived, signed "this drone may fly" for a ground-control station.

A ticket is a DSSE envelope (payload type ``application/vnd.in-toto+json``)
signed by the dock key, over an RFC 8785 canonical in-toto Statement::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "drone:UAV-07", "digest": {"sha256": <SHA-256 of the event's log entry>}}],
     "predicateType": "https://drone-attest.dev/clearance/v1",
     "predicate": {"drone": "UAV-07",
                   "event": {"log_index": 12, "time": ..., "digest": {"sha256": ...}},
                   "baselines": [{"part": "fc", "name": ..., "version": 3, "digest": {"sha256": ...}}, ...],
                   "log": {"origin": ..., "size": 13, "root": <base64, as in the checkpoint>},
                   "dock": {"id": <host name>, "key_id": <hex SHA-256 of the raw public key>},
                   "notBefore": ..., "notAfter": ...}}

``notAfter`` is the earliest of: now + ``ticket_valid_for``, the pass's
``time + fresh_for``, and any baseline's expiry. A GCS needs no part of this
package to check one (docs/dock.md, "Clearance tickets"): the dock's verifier
key (``attest log key``) holds the origin and the raw Ed25519 key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785

from attest.errors import AttestError
from attest.fsutil import read_bounded
from attest.gate.check import Decision
from attest.jsonutil import JSONFormatError, loads_canonical
from attest.signing import Envelope, key_id, pae, raw_public_bytes, signature_checker
from attest.timeutil import format_time, parse_time

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from attest.log import VerifierKey

__all__ = [
    "CLEARANCE_PREDICATE_TYPE",
    "MAX_TICKET_BYTES",
    "NOT_BEFORE_LEEWAY",
    "Ticket",
    "TicketError",
    "make_ticket",
    "read_ticket_file",
    "verify_ticket",
]

CLEARANCE_PREDICATE_TYPE = "https://drone-attest.dev/clearance/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: A ground station's clock may run this far behind the dock's: notBefore is honoured this much early.
NOT_BEFORE_LEEWAY = timedelta(seconds=30)
#: A ticket is about a kilobyte; anything this large is not one.
MAX_TICKET_BYTES = 64 * 1024


class TicketError(AttestError):
    """A ticket that must not be honoured: malformed, not the dock's, expired, or for another drone (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Ticket:
    """A verified ticket.

    Attributes:
        drone: the drone it clears.
        not_before: valid from.
        not_after: valid until (exclusive).
        log_index: the index of the pass it rests on.
        origin: the dock's log origin.
        predicate: the whole predicate.
    """

    drone: str
    not_before: datetime
    not_after: datetime
    log_index: int
    origin: str
    predicate: dict[str, Any]


def make_ticket(
    decision: Decision, key: Ed25519PrivateKey, *, dock_id: str, valid_for: float, now: datetime | None = None
) -> bytes:
    """A signed ticket for a clear ``decision``.

    Args:
        decision: a clear decision (with its event and checkpoint).
        key: the dock key.
        dock_id: the dock's identity (its host name).
        valid_for: seconds the ticket is valid at most (``ticket_valid_for``).
        now: the time it is issued (default: now).

    Raises:
        ValueError: the decision is not clear.
    """
    ev, cp = decision.event, decision.checkpoint
    if not decision.clear or ev is None or cp is None or decision.fresh_until is None:
        raise ValueError("a ticket is made only for a clear decision")
    now = now or datetime.now(UTC)
    not_after = min(now + timedelta(seconds=valid_for), decision.fresh_until)
    baselines = []
    for p in ev.parts:
        b = p.baseline
        expires = b.get("expires")
        if expires is not None:
            not_after = min(not_after, parse_time(str(expires)))
        baselines.append(
            {"part": p.part, "name": b.get("name"), "version": b.get("version"), "digest": {"sha256": b.get("digest")}}
        )
    predicate: dict[str, Any] = {
        "drone": decision.drone,
        "event": {"log_index": ev.index, "time": format_time(ev.time), "digest": {"sha256": ev.entry_sha256}},
        "baselines": baselines,
        "log": {"origin": cp.origin, "size": cp.size, "root": base64.b64encode(cp.root).decode("ascii")},
        "dock": {"id": dock_id, "key_id": key_id(key.public_key())},
        "notBefore": format_time(now),
        "notAfter": format_time(not_after),
    }
    statement: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"drone:{decision.drone}", "digest": {"sha256": ev.entry_sha256}}],
        "predicateType": CLEARANCE_PREDICATE_TYPE,
        "predicate": predicate,
    }
    return Envelope(rfc8785.dumps(statement), PAYLOAD_TYPE).signed_by(key).to_bytes(indent=2)


def read_ticket_file(path: Path) -> bytes:
    """A ticket file's bytes, bounded.

    Raises:
        TicketError: unreadable or too large.
    """
    return read_bounded(path, MAX_TICKET_BYTES, what="ticket", error=TicketError)


def verify_ticket(data: bytes, vkey: VerifierKey, *, drone: str | None = None, now: datetime | None = None) -> Ticket:
    """Check a ticket: the dock's signature, its shape, the drone, and that it is valid now.

    Args:
        data: the ticket file's bytes.
        vkey: the dock's verifier key (``attest log key``): its name is the log's origin.
        drone: the drone that is about to fly, if the caller knows it.
        now: the time to judge validity at (default: now).

    ``notBefore`` is honoured :data:`NOT_BEFORE_LEEWAY` early (a ground
    station's clock slightly behind the dock's); ``notAfter`` is exact.

    Raises:
        TicketError: anything that makes the ticket unusable, with the reason.
    """
    now = now or datetime.now(UTC)
    try:
        env = Envelope.from_bytes(data, source="ticket")
    except AttestError as e:
        raise TicketError(f"not a ticket: {e}") from e
    if env.payload_type != PAYLOAD_TYPE:
        raise TicketError(f"not a ticket: payloadType is {env.payload_type!r}")
    check = signature_checker(raw_public_bytes(vkey.public_key))
    message = pae(env.payload_type, env.payload)
    if not any(check(s.sig, message) for s in env.signatures):
        raise TicketError(f"not signed by the key of dock {vkey.name} (another dock's ticket, or altered)")
    try:
        st = loads_canonical(env.payload)
        if not isinstance(st, dict) or st.get("_type") != STATEMENT_TYPE:
            raise ValueError("not an in-toto Statement v1")
        if st.get("predicateType") != CLEARANCE_PREDICATE_TYPE:
            raise ValueError(f"predicateType is not {CLEARANCE_PREDICATE_TYPE}")
        p = st["predicate"]
        ticket = Ticket(
            drone=str(p["drone"]),
            not_before=parse_time(str(p["notBefore"])),
            not_after=parse_time(str(p["notAfter"])),
            log_index=int(p["event"]["log_index"]),
            origin=str(p["log"]["origin"]),
            predicate=p,
        )
    except (JSONFormatError, ValueError, KeyError, TypeError) as e:
        raise TicketError(f"malformed ticket: {e}") from e
    if ticket.origin != vkey.name:
        raise TicketError(f"a ticket of dock {ticket.origin!r}, not of {vkey.name!r}")
    if drone is not None and ticket.drone != drone:
        raise TicketError(f"the ticket clears {ticket.drone!r}, not {drone!r}")
    if now + NOT_BEFORE_LEEWAY < ticket.not_before:
        raise TicketError(
            f"not valid before {format_time(ticket.not_before)} (now {format_time(now)}: check the clocks)"
        )
    if now >= ticket.not_after:
        raise TicketError(f"expired at {format_time(ticket.not_after)} (now {format_time(now)})")
    return ticket
