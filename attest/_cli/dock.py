"""``attest dock``: the unattended check when a drone docks: attest every part, log, update the gate, run hooks.

The order is the promise: the event's signed result is durable in the log
before the gate is updated, and the gate has decided before any hook runs.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from attest._cli._common import positive_float
from attest._cli.config import add_config_option
from attest.logs import get_logger

if TYPE_CHECKING:
    from attest.dock import DockConfig, DockEvent, Recorded

log = get_logger()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dock``."""
    p = sub.add_parser(
        "dock",
        help="attest a docked drone, log it, update the gate, run hooks",
        description="Recognise the drone behind a serial port (its USB serial number, from sysfs), a USB network "
        "link, or by name; attest every configured part against its baseline; sign one result for the whole "
        "event and append it to the log; update the gate; run the hooks. Exit 0 pass, 1 drift, "
        "2 usage or configuration error, 3 could not attest (incl. the deadline), 4 baseline not trusted or "
        "unknown device.",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--device",
        metavar="TTY",
        help="the serial port that appeared (udev: /dev/%%I): a flight controller or DJI aircraft",
    )
    g.add_argument("--net", metavar="IFACE", help="the USB network interface that appeared (cdc_ether, rndis)")
    g.add_argument("--drone", metavar="NAME", help="attest this configured drone")
    add_config_option(p)
    p.add_argument("--json", action="store_true", help="print the combined result as one JSON object")
    p.add_argument(
        "--full",
        action="store_true",
        help="attest parts that have a full_baseline against it (e.g. the whole flash: minutes at 115,200 baud)",
    )
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        metavar="N",
        help="bound the whole event (default: max_seconds of the configuration); when it expires the event "
        "ends as an error (exit 3), logged, and the drone is blocked",
    )
    p.set_defaults(func=_dock)


def _log_size(cfg: DockConfig) -> int:
    from attest.log import Log

    with Log.read(cfg.log_dir) as opened:
        return opened.size


def _dock(args: argparse.Namespace) -> int:
    from attest.dock import (
        EventBusyError,
        Trigger,
        config_path,
        drone_lock,
        failed_event,
        load_config,
        recognise,
        record_event,
        run_event,
    )
    from attest.errors import ConfigError
    from attest.recorder import Recorder
    from attest.trust import RollbackState, load_trust

    begin = time.monotonic()
    started = datetime.now(UTC)
    cfg = load_config(config_path(args.config))
    max_seconds = args.max_seconds or cfg.max_seconds
    budget = cfg.measuring_budget(max_seconds)
    # Configuration errors (exit 2) come before anything is measured: there is no result to log.
    recorder = Recorder.open(cfg.key, cfg.log_dir, origin=cfg.origin)
    if recorder.origin != cfg.origin:
        raise ConfigError(f"{cfg.log_dir} was created with origin {recorder.origin!r}, not {cfg.origin!r}")
    policy = load_trust(cfg.trust, cfg.state_dir)
    state = RollbackState(cfg.state_dir)
    trigger = Trigger(device=args.device, net=args.net, drone=args.drone)
    rec = recognise(cfg, trigger)

    def left() -> float:
        return budget - (time.monotonic() - begin)

    if rec.drone is None:
        event = failed_event(cfg, rec, started=started, message=rec.message or "unknown device")
        recorded = record_event(cfg.log_dir, cfg.origin, event, recorder.key)
    else:
        try:
            with drone_lock(
                cfg.gate_dir, rec.drone.name, log_size=lambda: _log_size(cfg), started=started, wait=max(0.0, left())
            ) as pending:
                event = run_event(
                    cfg, rec, policy=policy, state=state, budget=max(1.0, left()), started=started, full=args.full
                )
                recorded = record_event(cfg.log_dir, cfg.origin, event, recorder.key)
                if recorded.index is not None:
                    pending.logged()
                else:
                    pending.unlogged(recorded.error or "not logged")
        except EventBusyError as e:
            # Another event of this drone outlasted this one's deadline: that is this event's error, logged.
            event = failed_event(cfg, rec, started=started, message=str(e))
            recorded = record_event(cfg.log_dir, cfg.origin, event, recorder.key)
    return _after(cfg, args, recorded, recorder.key, begin)


def _after(cfg: DockConfig, args: argparse.Namespace, recorded: Recorded, key: Any, begin: float) -> int:
    """Update the gate, decide, run the hooks, report."""
    from attest.dock import event_json, run_hooks
    from attest.errors import AttestError
    from attest.gate import GateContext, check_drone, update_state

    event = recorded.event
    if recorded.index is not None:
        try:
            update_state(cfg.gate_dir, cfg.log_dir, cfg.origin, key)
        except AttestError as e:  # the next check reads the log's tail itself, or blocks
            log.warning("gate state not updated", error=str(e))
    gate: dict[str, Any]
    if event.drone is None:
        gate = {"drone": None, "state": "blocked", "code": "unknown_device", "reason": event.message}
    else:
        try:
            with GateContext.open(cfg) as ctx:
                gate = check_drone(ctx, event.drone).to_json()
        except AttestError as e:  # e.g. the trust policy became unreadable: still blocked, hooks still run
            gate = {"drone": event.drone, "state": "blocked", "code": "gate_error", "reason": str(e)}
    action = "clear" if gate["state"] == "clear" else "block"
    payload = event_json(event, log_index=recorded.index, gate=gate)
    reports = run_hooks(cfg.hooks, action, json.dumps(payload).encode() + b"\n", drone=event.drone)
    failed = [r for r in reports if r.status != "ok"]
    log.info(
        "dock event",
        drone=event.drone,
        verdict=event.verdict.value,
        trigger=dict(event.trigger),
        log_index=recorded.index,
        gate=gate["state"],
        reason=gate.get("reason"),
        seconds=round(time.monotonic() - begin, 3),
    )
    payload["hooks"] = [
        {"argv": list(r.argv), "status": r.status, "returncode": r.returncode, "error": r.error} for r in reports
    ]
    if args.json:
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        _render(event, recorded.index, gate, sys.stdout)
        for r in failed:
            sys.stdout.write(f"  hook {' '.join(r.argv)}: {r.status}" + (f" ({r.error})" if r.error else "") + "\n")
    # A hook that failed, hung or crashed never changes the gate, but the event did not do all it should:
    # the dock reports it as "could not complete" (3) unless the verdict's own code is worse.
    code = event.verdict.exit_code
    return max(code, 3) if failed and code in (0, 1) else code


def _render(event: DockEvent, index: int | None, gate: dict[str, Any], out: Any) -> None:
    from attest.report import printable, render_text

    who = event.drone or "unknown device"
    logged = f"logged at index {index}" if index is not None else "NOT LOGGED"
    out.write(f"{event.verdict.value.upper()}: {printable(who)} ({len(event.parts)} parts), {logged}; ")
    out.write(
        f"gate: {gate['state']}"
        + (f" ({printable(str(gate.get('reason')))})" if gate["state"] != "clear" else "")
        + "\n"
    )
    if event.message:
        out.write(f"  {printable(event.message)}\n")
    for part in event.parts:
        buf = io.StringIO()
        render_text(part.result, buf)
        for line in buf.getvalue().splitlines():
            out.write(f"  {part.kind}: {line}\n" if not line.startswith(" ") else f"  {line}\n")
