"""One dock event: attest every part of the recognised drone within the deadline, sign, and log it.

:func:`run_event` attests the parts in parallel (a flight controller on its
serial port, a companion over SSH and a controller over ADB wait on different
devices), each with :func:`attest.attestation.run_attestation` bounded by the
event's measuring budget and with the Sigstore bundles its baseline is listed
with, and always returns a :class:`~attest.dock.event.DockEvent`: an unknown
device, a part that is not plugged in, a bad part configuration, a deadline,
or a defect of ours all end in a result that blocks. :func:`record_event`
signs it with the dock key and appends it to the log.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attest.attestation import Attestation, device_identity, run_attestation
from attest.baseline import Baseline
from attest.dock.config import DockConfig
from attest.dock.event import ENTRY_KINDS, DockEvent, PartOutcome, sign_event, worst
from attest.dock.parts import PartConfig
from attest.dock.recognition import Recognised
from attest.errors import AttestError, ConfigError, LogError, LogWriteError
from attest.log import Log
from attest.model import BaselineRef, DeviceIdentity, Result, Verdict
from attest.trust import RollbackState, TrustPolicy, verify_baseline_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Recorded", "failed_event", "record_event", "run_event"]

#: Seconds past its deadline a part's thread may take to hand back the deadline's result.
_JOIN_GRACE = 5.0


def _failed(part: PartConfig, target: str | None, verdict: Verdict, message: str) -> Result:
    # A part that was found is named as its collector names it on every result (attest.attestation).
    if target is not None:
        ident = device_identity(target, part.options)
    else:
        ident = DeviceIdentity(kind=part.kind, id=part.usb_serial or part.kind, target="")
    return Result(verdict, ident, BaselineRef(None, None, None), message=message)


def _check_match(part: PartConfig, result: Result) -> Result:
    """The identity facts the configuration pins (``match``) must be what the device reported."""
    if not part.match or result.verdict in (Verdict.ERROR, Verdict.UNTRUSTED):
        return result
    facts = result.device.facts if result.device is not None else {}
    wrong = [f"{k}={facts.get(k)!r} (expected {v!r})" for k, v in sorted(part.match.items()) if facts.get(k) != v]
    if not wrong:
        return result
    return replace(result, verdict=Verdict.UNTRUSTED, message=f"the device reports {', '.join(wrong)}: not this drone")


def _expiry(
    baseline: Path, bundles: tuple[Path, ...], result: Result, policy: TrustPolicy
) -> tuple[Result, datetime | None]:
    """The baseline's expiry, from the very bytes the part was judged against (else the part is an error)."""
    if result.baseline.digest is None:
        return result, None
    try:
        # The same bundles, read with the same bound, as the run counted: the same signers count again.
        env = verify_baseline_file(baseline, policy, bundles=bundles)
        if hashlib.sha256(env.payload).hexdigest() != result.baseline.digest:
            raise ConfigError(f"{baseline} changed during the event")
        return result, Baseline.from_payload(env.payload, source=str(baseline)).expires
    except AttestError as e:
        message = f"the baseline could not be read again after the run: {e}"
        return replace(result, verdict=Verdict.ERROR, message=message), None


@dataclass
class _PartRun:
    part: PartConfig
    target: str
    job: Attestation
    result: Result | None = None

    def __call__(self) -> None:
        try:
            self.result = run_attestation(self.job)
        except ConfigError as e:  # a bad part configuration: logged as an error, never skipped
            self.result = _failed(self.part, self.target, Verdict.ERROR, f"configuration: {e}")
        except Exception as e:  # noqa: BLE001 - fail closed: a defect is an error result, logged
            self.result = _failed(
                self.part, self.target, Verdict.ERROR, f"internal error ({type(e).__name__}: {e}); please report it"
            )


def _event(
    cfg: DockConfig,
    rec: Recognised,
    started: datetime,
    verdict: Verdict,
    *,
    message: str | None,
    parts: tuple[PartOutcome, ...],
) -> DockEvent:
    return DockEvent(
        drone=rec.drone.name if rec.drone is not None else None,
        verdict=verdict,
        message=message,
        started=started,
        time=datetime.now(UTC),
        trigger=rec.trigger.to_json(),
        usb=rec.usb_json(),
        parts=parts,
        dock_id=socket.gethostname(),
        origin=cfg.origin,
    )


def failed_event(cfg: DockConfig, rec: Recognised, *, started: datetime, message: str) -> DockEvent:
    """An event that attested nothing: ``untrusted`` for an unknown device, else ``error`` (with ``message``)."""
    verdict = Verdict.UNTRUSTED if rec.drone is None else Verdict.ERROR
    return _event(cfg, rec, started, verdict, message=message, parts=())


def run_event(
    cfg: DockConfig,
    rec: Recognised,
    *,
    policy: TrustPolicy,
    state: RollbackState,
    budget: float,
    started: datetime | None = None,
    full: bool = False,
) -> DockEvent:
    """Attest every part of ``rec.drone``; the measuring ends within ``budget`` seconds.

    Args:
        cfg: the configuration.
        rec: the recognised drone (or unknown device) and each part's target.
        policy: the trust policy of baselines.
        state: the dock's rollback state.
        budget: seconds the measuring may take (see :meth:`DockConfig.measuring_budget`).
        full: attest parts that have a ``full_baseline`` against it.
        started: when the event began (default: now).

    Returns:
        The event; never raises for what a device, a file or the clock does.
    """
    started = started or datetime.now(UTC)
    if rec.drone is None:
        return failed_event(cfg, rec, started=started, message=rec.message or "unknown device")
    runs: list[_PartRun] = []
    results: dict[str, Result] = {}
    for part in rec.drone.parts:
        target = rec.targets.get(part.kind)
        if target is None:
            why = rec.missing.get(part.kind, "not found")
            results[part.kind] = _failed(part, None, Verdict.ERROR, f"{part.kind}: {why}")
            continue
        job = Attestation(
            target=target,
            baseline=part.baseline_for(full=full),
            bundles=part.bundles_for(full=full),
            policy=policy,
            state=state,
            nonce=secrets.token_hex(32),
            options=part.options,
            max_seconds=budget,
        )
        runs.append(_PartRun(part, target, job))
    threads = [threading.Thread(target=r, name=f"dock-{r.part.kind}", daemon=True) for r in runs]
    begin = time.monotonic()
    for t in threads:
        t.start()
    for r, t in zip(runs, threads, strict=True):
        t.join(max(0.0, budget + _JOIN_GRACE - (time.monotonic() - begin)))
        results[r.part.kind] = r.result or _failed(
            r.part, r.target, Verdict.ERROR, f"did not finish within the event's budget of {budget:g} s"
        )
    outcomes = []
    for part in rec.drone.parts:
        result, expires = _expiry(
            part.baseline_for(full=full), part.bundles_for(full=full), _check_match(part, results[part.kind]), policy
        )
        outcomes.append(PartOutcome(part.kind, rec.targets.get(part.kind), result, expires))
    verdict = worst([o.result.verdict for o in outcomes])
    return _event(cfg, rec, started, verdict, message=None, parts=tuple(outcomes))


@dataclass(frozen=True)
class Recorded:
    """The event as logged.

    Attributes:
        event: the event; an ``error`` when it could not be logged.
        index: its log index, or ``None`` when it could not be logged.
        error: why it could not be logged.
    """

    event: DockEvent
    index: int | None
    error: str | None = None


def record_event(log_dir: Path, origin: str, event: DockEvent, key: Ed25519PrivateKey) -> Recorded:
    """Sign ``event`` with the dock key and append it to the log, durably.

    An event that cannot be logged becomes an ``error`` event with no index
    (the gate stays shut: nothing new is in the log, and the event's marker stays).
    """
    try:
        entry = sign_event(event, key)
        with Log.open(log_dir, origin=origin, create=True, kinds=ENTRY_KINDS) as log:
            return Recorded(event, log.append(entry, key=key))
    except (LogError, LogWriteError, ConfigError, ValueError) as e:
        message = f"the event ({event.verdict.value}) could not be logged: {e}"
        return Recorded(replace(event, verdict=Verdict.ERROR, message=message), None, message)
