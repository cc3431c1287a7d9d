"""The deployment gate: may this drone fly? Decided from the signed log, handed out as signed tickets.

Outside this package, import the names below from here, never from the modules.
Modules, one job each (lower ones first):

* :mod:`attest.gate.state`  -- the signed cache of each drone's latest dock event (so a check never scans the log)
* :mod:`attest.gate.check`  -- the decision for one drone: clear only on a fresh, verified pass
* :mod:`attest.gate.ticket` -- clearance tickets for ground-control stations: make and verify

The gate sits above the dock (:mod:`attest.dock`): it reads the dock's
configuration and judges the events the dock logged.
"""

from __future__ import annotations

from attest.gate.check import CLEAR, Decision, GateContext, check_drone
from attest.gate.state import MAX_TAIL, GateState, dock_public_key, read_state, update_state
from attest.gate.ticket import (
    CLEARANCE_PREDICATE_TYPE,
    NOT_BEFORE_LEEWAY,
    Ticket,
    TicketError,
    make_ticket,
    read_ticket_file,
    verify_ticket,
)

__all__ = [
    "CLEAR",
    "CLEARANCE_PREDICATE_TYPE",
    "MAX_TAIL",
    "NOT_BEFORE_LEEWAY",
    "Decision",
    "GateContext",
    "GateState",
    "Ticket",
    "TicketError",
    "check_drone",
    "dock_public_key",
    "make_ticket",
    "read_state",
    "read_ticket_file",
    "update_state",
    "verify_ticket",
]
