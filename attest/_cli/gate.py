"""``attest gate ...``: may a drone fly? ``check``, ``list``, ``ticket``, ``verify-ticket``, ``rebuild``.

``check`` exits 0 only when the drone is clear (docs/dock.md, "Gate states");
1 when it is blocked, with the reason; 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from attest._cli._common import require_readable
from attest._cli.config import add_config_option

if TYPE_CHECKING:
    from attest.gate import Decision


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gate``."""
    p = sub.add_parser(
        "gate",
        help="the deployment gate: check, list, tickets",
        description="The deployment gate, decided from the signed log alone: a drone is clear only on a fresh, "
        "verified pass against the baselines trusted now.",
    )
    gsub = p.add_subparsers(dest="gate_command", metavar="ACTION", required=True)

    c = gsub.add_parser(
        "check",
        help="exit 0 only if the drone is clear",
        description="Exit 0 only if the drone's latest dock event is a pass, younger than fresh_for, against "
        "baselines that are still the highest trusted versions, and its log entry verifies (signature, and "
        "inclusion under the current checkpoint). Otherwise exit 1 with the reason; unknown drone: exit 1.",
    )
    c.add_argument("drone", metavar="DRONE", help="the drone's name")
    add_config_option(c)
    c.add_argument("--json", action="store_true", help="print the decision as one JSON object")
    c.set_defaults(func=_check)

    ls = gsub.add_parser("list", help="every configured drone's state", description="Every configured drone: its "
                         "gate state, since when, and why.")  # fmt: skip
    add_config_option(ls)
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(func=_list)

    t = gsub.add_parser(
        "ticket",
        help="write a signed clearance ticket for a clear drone",
        description="When the drone is clear, write a short-lived clearance ticket signed by the dock key (DSSE, "
        "in-toto Statement, predicate https://drone-attest.dev/clearance/v1); exit 1 and write nothing when blocked.",
    )
    t.add_argument("drone", metavar="DRONE", help="the drone's name")
    t.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the ticket")
    add_config_option(t)
    t.set_defaults(func=_ticket)

    v = gsub.add_parser(
        "verify-ticket",
        help="check a clearance ticket before launch (ground-control station)",
        description="Check a ticket's signature with the dock's verifier key, its shape, the drone, and that it is "
        "valid now. Exit 0 valid; 1 invalid, expired, wrong drone or wrong dock; 2 usage (a FILE or --vkey "
        "that cannot be read among them).",
    )
    v.add_argument("file", type=Path, metavar="FILE", help="the ticket")
    v.add_argument("--vkey", required=True, metavar="VKEY", help="the dock's verifier key (attest log key), or a file")
    v.add_argument("--drone", metavar="NAME", help="the drone about to fly")
    v.add_argument("--json", action="store_true", help="print the ticket's predicate as JSON when valid")
    v.set_defaults(func=_verify_ticket)

    r = gsub.add_parser(
        "rebuild",
        help="rebuild the gate's state from the log",
        description="Read the whole log and write the gate's signed state (each drone's latest dock event) "
        "again; needed only after the state was lost or restored from a backup far behind the log.",
    )
    add_config_option(r)
    r.set_defaults(func=_rebuild)


def _decide(args: argparse.Namespace, drones: list[str] | None = None) -> list[Decision]:
    from attest.dock import config_path, load_config
    from attest.gate import GateContext, check_drone

    cfg = load_config(config_path(args.config))
    names = drones if drones is not None else [d.name for d in cfg.drones]
    with GateContext.open(cfg) as ctx:
        return [check_drone(ctx, name) for name in names]


def _line(d: Decision) -> str:
    from attest.report import printable

    return f"{d.state.upper()}: {printable(d.drone)}: {printable(d.reason)}"


def _check(args: argparse.Namespace) -> int:
    (decision,) = _decide(args, [args.drone])
    if args.json:
        sys.stdout.write(json.dumps(decision.to_json()) + "\n")
    else:
        print(_line(decision))
        if decision.fresh_until is not None and decision.clear:
            from attest.timeutil import format_time

            print(f"  fresh until {format_time(decision.fresh_until)}")
    return 0 if decision.clear else 1


def _list(args: argparse.Namespace) -> int:
    from attest.report import printable
    from attest.timeutil import format_time

    decisions = _decide(args)
    if args.json:
        sys.stdout.write(json.dumps([d.to_json() for d in decisions]) + "\n")
        return 0
    rows = [("DRONE", "STATE", "SINCE", "REASON")]
    rows += [
        (printable(d.drone), d.state, format_time(d.since) if d.since else "-", printable(d.reason)) for d in decisions
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    return 0


def _ticket(args: argparse.Namespace) -> int:
    from attest.dock import config_path, load_config
    from attest.fsutil import atomic_write
    from attest.gate import GateContext, check_drone, make_ticket
    from attest.signing import load_private_key
    from attest.timeutil import format_time

    cfg = load_config(config_path(args.config))
    key = load_private_key(cfg.key)
    with GateContext.open(cfg) as ctx:
        decision = check_drone(ctx, args.drone)
    if not decision.clear:
        print(_line(decision))
        print("  no ticket written")
        return 1
    data = make_ticket(decision, key, dock_id=socket.gethostname(), valid_for=cfg.ticket_valid_for)
    atomic_write(args.out, data)
    from attest.gate import verify_ticket
    from attest.log import VerifierKey

    ticket = verify_ticket(data, VerifierKey.for_key(cfg.origin, key.public_key()))
    print(
        f"wrote {args.out}: clears {ticket.drone} until {format_time(ticket.not_after)} (log index {ticket.log_index})"
    )
    return 0


def _verify_ticket(args: argparse.Namespace) -> int:
    from attest._cli.log import load_vkey
    from attest.gate import TicketError, read_ticket_file, verify_ticket
    from attest.report import printable
    from attest.timeutil import format_time

    require_readable(args.file, "ticket")  # no file to judge is a usage error (2), not an invalid ticket (1)
    vkey = load_vkey(args.vkey)
    try:
        ticket = verify_ticket(read_ticket_file(args.file), vkey, drone=args.drone)
    except TicketError as e:
        print(f"INVALID: {args.file}: {printable(str(e))}")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(ticket.predicate) + "\n")
    else:
        print(
            f"VALID: {args.file} clears {printable(ticket.drone)} until {format_time(ticket.not_after)} "
            f"(dock {printable(ticket.origin)}, log index {ticket.log_index})"
        )
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from attest.dock import config_path, load_config
    from attest.gate import update_state
    from attest.signing import load_private_key

    cfg = load_config(config_path(args.config))
    state = update_state(cfg.gate_dir, cfg.log_dir, cfg.origin, load_private_key(cfg.key), rebuild=True)
    print(f"gate state rebuilt: {state.size} log entries, {len(state.drones)} drone(s) with dock events")
    return 0
