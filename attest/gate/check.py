"""The gate's decision for one drone: clear only on a fresh, verified pass against today's baselines.

A drone is **clear** only when all of these hold, checked in this order (the
first that fails is the reason it is blocked):

1. it is configured (``unknown_drone``);
2. the log and the gate's state agree: the log is not shorter than the state
   saw and its first entries hash to the root the state recorded
   (``log_damaged``: rolled back or replaced); the state is at most
   :data:`~attest.gate.state.MAX_TAIL` entries behind (``gate_behind``);
3. the log has a dock event for it (``no_result``), and no later dock event
   for it is running or was cut short before logging (``pending``);
4. that entry is in the log under the current checkpoint (an inclusion proof)
   and signed by the dock key, and reads as a dock event for this drone
   (``log_damaged``);
5. its verdict is ``pass`` (else ``drift``, ``error`` or ``untrusted``);
6. it is not stamped in the future (``future``) and not older than
   ``fresh_for`` (``stale``);
7. it attested every part the drone has now (``incomplete``), each against
   the very baseline the configuration names now, still signed by enough
   signers of today's trust policy (keys, and the Sigstore bundles the
   configuration lists with it), not superseded on this dock by a higher version
   of the same name, and not expired (``baseline_superseded``, ``baseline_expired``).

Nothing here writes anything; the gate's state only says where to look.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from attest.dock import DockConfig, LoggedEvent, PartConfig, format_duration, read_event, read_pending
from attest.errors import AttestError, ConfigError, LogError
from attest.gate.state import MAX_TAIL, DroneMark, dock_public_key, read_state, scan
from attest.log import Checkpoint, Log, VerifierKey
from attest.signing import Envelope, pae, signature_checker
from attest.timeutil import format_time, parse_time
from attest.trust import RollbackState, TrustPolicy, load_trust, verify_baseline_file

__all__ = ["CLEAR", "Decision", "GateContext", "check_drone"]

CLEAR = "clear"
BLOCKED = "blocked"


@dataclass(frozen=True)
class Decision:
    """The gate's answer for one drone.

    Attributes:
        drone: the drone's name.
        state: ``clear`` or ``blocked``.
        code: why, as a word (``clear``, ``no_result``, ``stale``, ``drift``, ... see the module docstring).
        reason: why, in a sentence.
        since: since when the drone has been in this state, when known.
        event: the logged event the decision rests on, if any.
        checkpoint: the verified checkpoint the event's inclusion was proven under.
        fresh_until: when a clear pass stops clearing.
    """

    drone: str
    state: str
    code: str
    reason: str
    since: datetime | None = None
    event: LoggedEvent | None = None
    checkpoint: Checkpoint | None = None
    fresh_until: datetime | None = None

    @property
    def clear(self) -> bool:
        """Whether the drone may be deployed."""
        return self.state == CLEAR

    def to_json(self) -> dict[str, Any]:
        """The object of ``attest gate check --json`` and of each ``gate list --json`` row."""
        ev = self.event
        return {
            "drone": self.drone,
            "state": self.state,
            "code": self.code,
            "reason": self.reason,
            "since": format_time(self.since) if self.since else None,
            "fresh_until": format_time(self.fresh_until) if self.fresh_until else None,
            "log_index": ev.index if ev else None,
            "event": None
            if ev is None
            else {
                "time": format_time(ev.time),
                "verdict": ev.verdict,
                "digest": {"sha256": ev.entry_sha256},
                "baselines": [{"part": p.part, **dict(p.baseline)} for p in ev.parts],
            },
            "checkpoint": None
            if self.checkpoint is None
            else {"origin": self.checkpoint.origin, "size": self.checkpoint.size, "root": self.checkpoint.root.hex()},
        }


@dataclass
class GateContext:
    """What every decision of one command shares: keys, trust policy, the log, the state, the clock.

    Make it with :meth:`open`; it holds the log open until :meth:`close`.
    """

    cfg: DockConfig
    now: datetime
    vkey: VerifierKey
    policy: TrustPolicy
    log: Log | None = None
    marks: dict[str, DroneMark] = field(default_factory=dict)
    problem: tuple[str, str] | None = None
    _baselines: dict[tuple[str, tuple[str, ...]], str | tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def open(cls, cfg: DockConfig, *, now: datetime | None = None) -> GateContext:
        """Load the dock's public key and trust policy; open and check the log and the gate's state.

        A damaged log or state does not raise: every decision then blocks with the reason.

        Raises:
            ConfigError: the dock key or the trust policy cannot be loaded.
        """
        public = dock_public_key(cfg.key)
        ctx = cls(
            cfg,
            now or datetime.now(UTC),
            VerifierKey.for_key(cfg.origin, public),
            load_trust(cfg.trust, cfg.state_dir, accept=False, now=now),  # the dock's accepted policy; read-only
        )
        if not (cfg.log_dir / "origin").exists():
            return ctx  # no log yet: no results
        try:
            ctx.log = Log.read(cfg.log_dir)
            ctx._load_state()
        except (LogError, ConfigError) as e:
            ctx.problem = ("log_damaged", f"the log cannot be read or does not verify: {e}")
        return ctx

    def _load_state(self) -> None:
        log = self.log
        if log is None:  # pragma: no cover - called after opening
            return
        # The checkpoint's signature is checked with the proof of the entry a decision rests on.
        if log.size == 0:
            return
        state, why = read_state(self.cfg.gate_dir, self.vkey.public_key, self.cfg.origin)
        covered = 0
        if state is not None:
            if state.size > log.size:
                self.problem = (
                    "log_damaged",
                    (
                        f"the log has {log.size} entries but the gate state saw {state.size}: the log was rolled back "
                        "or replaced"
                    ),
                )
                return
            if state.root != log.root(state.size):
                self.problem = ("log_damaged", f"the log's first {state.size} entries are not the ones the gate saw")
                return
            covered = state.size
            self.marks = dict(state.drones)
        behind = log.size - covered
        if behind > MAX_TAIL:
            why = why or f"the gate state covers {covered} of the log's {log.size} entries"
            self.problem = (
                "gate_behind",
                f"{why}; the next dock event or `attest gate rebuild` brings it up to date",
            )
            return
        # Entries appended after the state was written are read here: an old state never hides a newer event.
        scan(log, covered, log.size, self.marks)

    def close(self) -> None:
        """Close the log."""
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def baseline_digest(self, path: str, bundles: tuple[Path, ...] = ()) -> str | tuple[str, str]:
        """The hex digest of the baseline at ``path`` if today's policy trusts it, else ``(code, why)``.

        Args:
            path: the baseline file.
            bundles: the Sigstore bundles the configuration lists with it; an
                unreadable one blocks (it is never skipped).
        """
        key = (path, tuple(str(b) for b in bundles))
        if key not in self._baselines:
            try:
                env = verify_baseline_file(Path(path), self.policy, bundles=bundles)
                self._baselines[key] = hashlib.sha256(env.payload).hexdigest()
            except AttestError as e:
                self._baselines[key] = ("baseline_superseded", f"the configured baseline is not trusted now: {e}")
        return self._baselines[key]


def _signed(entry: bytes, ctx: GateContext) -> bool:
    """Whether ``entry`` is a DSSE envelope with a valid signature by the dock key."""
    try:
        env = Envelope.from_bytes(entry, source="entry")
    except AttestError:
        return False
    check = signature_checker(ctx.vkey.public_key)
    message = pae(env.payload_type, env.payload)
    return any(check(s.sig, message) for s in env.signatures)


def _blocked(drone: str, code: str, reason: str, **kw: Any) -> Decision:
    return Decision(drone, BLOCKED, code, reason, **kw)


def check_drone(ctx: GateContext, drone: str) -> Decision:  # noqa: PLR0911 (one return per reason)
    """The gate's decision for ``drone`` (see the module docstring for the order of checks)."""
    cfg = ctx.cfg
    conf = cfg.drone(drone)
    if conf is None:
        return _blocked(drone, "unknown_drone", f"no drone {drone!r} in {cfg.source}")
    if ctx.problem is not None:
        return _blocked(drone, *ctx.problem)
    mark = ctx.marks.get(drone)
    pending = read_pending(cfg.gate_dir, drone)
    if pending is not None and (mark is None or mark.index < pending.log_size):
        return _blocked(drone, "pending", pending.reason(), since=pending.started)
    if mark is None or ctx.log is None:
        return _blocked(drone, "no_result", "no dock event for this drone in the log")
    try:
        proof = ctx.log.prove(mark.index)
        checkpoint, entry = proof.verify(ctx.vkey, source=f"entry {mark.index}")
        if not _signed(entry, ctx):
            raise LogError(f"entry {mark.index} is not signed by the dock key", index=mark.index)
        event = read_event(entry, index=mark.index)
        if event.drone != drone or event.origin != cfg.origin:
            raise LogError(f"entry {mark.index} is an event of {event.drone!r} at {event.origin!r}, not of {drone!r}")
    except (LogError, IndexError, ValueError) as e:
        return _blocked(drone, "log_damaged", f"its latest event (index {mark.index}) does not verify: {e}")
    kw: dict[str, Any] = {"since": mark.since, "event": event, "checkpoint": checkpoint}
    if event.verdict != "pass":
        return _blocked(drone, event.verdict, _failure(event), **kw)
    if event.time > ctx.now:
        return _blocked(
            drone,
            "future",
            f"the pass is stamped {format_time(event.time)}, in the future: the dock's clock is wrong",
            **kw,
        )
    fresh_until = event.time + timedelta(seconds=cfg.fresh_for)
    if ctx.now >= fresh_until:
        kw["since"] = fresh_until
        return _blocked(
            drone,
            "stale",
            f"the last pass ({format_time(event.time)}) is older than fresh_for {format_duration(cfg.fresh_for)}",
            **kw,
        )
    kw["fresh_until"] = fresh_until
    problem = _baselines(ctx, conf.parts, event)
    if problem is not None:
        return _blocked(drone, *problem, **kw)
    return Decision(drone, CLEAR, CLEAR, f"pass at {format_time(event.time)} (log index {event.index})", **kw)


def _failure(event: LoggedEvent) -> str:
    parts = [
        f"{p.part} {p.verdict}"
        + (f" ({p.findings} finding{'s' if p.findings != 1 else ''})" if p.findings else "")
        + (f": {p.message}" if p.message else "")
        for p in event.parts
        if p.verdict != "pass"
    ]
    head = f"the latest dock event ({format_time(event.time)}, log index {event.index}) is {event.verdict}"
    detail = "; ".join(parts) or event.message or ""
    return f"{head}: {detail}" if detail else head


def _baselines(  # noqa: PLR0911 (one return per reason)
    ctx: GateContext, parts: tuple[PartConfig, ...], event: LoggedEvent
) -> tuple[str, str] | None:
    """Why the event's baselines are not today's, or ``None``."""
    state = None
    for part in parts:
        logged = event.part(part.kind)
        if logged is None or logged.verdict != "pass":
            return "incomplete", f"the latest pass did not attest its {part.kind}, which the configuration names now"
        b = logged.baseline
        configured = [p for p, _ in part.baselines()]
        digests = [ctx.baseline_digest(str(p), bundles) for p, bundles in part.baselines()]
        if b.get("digest") not in digests:
            untrusted = next((d for d in digests if isinstance(d, tuple)), None)
            if untrusted is not None:
                return untrusted
            return (
                "baseline_superseded",
                (
                    f"{part.kind}: the pass was against {b.get('name')} v{b.get('version')}, but the configured "
                    f"baseline is another ({', '.join(str(p) for p in configured)})"
                ),
            )
        expires = b.get("expires")
        if expires is not None and ctx.now >= parse_time(str(expires)):
            return "baseline_expired", f"{part.kind}: baseline {b.get('name')} v{b.get('version')} expired at {expires}"
        state = state or RollbackState(ctx.cfg.state_dir)
        try:
            highest = state.highest(str(b.get("name")))
        except ConfigError as e:
            return "baseline_superseded", f"the rollback state cannot be read: {e}"
        if highest is not None and highest != b.get("version"):
            return (
                "baseline_superseded",
                (
                    f"{part.kind}: the pass was against {b.get('name')} v{b.get('version')}, but this dock has since "
                    f"accepted v{highest}"
                ),
            )
    return None
