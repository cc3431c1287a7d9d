"""Whether what a checked configuration names is usable: keys, trust policy, baselines, bundles, hooks, state.

:func:`check_files` is the second half of ``attest config check`` (the first
is :func:`attest.dock.config.load_config`). It touches no device and changes
nothing: baselines are checked for signatures (with the Sigstore bundles the
configuration lists for them: each must be readable, and together they must
reach the threshold), expiry and rollback without being recorded as accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attest.baseline import Baseline
from attest.dock.config import DockConfig
from attest.errors import AttestError, ConfigError
from attest.log import Log
from attest.signing import key_id, load_private_key, raw_public_bytes
from attest.timeutil import format_time
from attest.trust import RollbackState, TrustPolicy, load_trust, read_baseline_file, read_bundle_file, verify_envelope

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Readiness", "check_files"]


@dataclass
class Readiness:
    """The outcome of :func:`check_files`.

    Attributes:
        problems: one line per problem (empty: ready).
        baselines: ``name vN`` of each part's baseline, by ``(drone, part)``, where readable.
        key_id: the dock key's id, when it loads.
        threshold: the trust policy's ``k of n``, when it loads.
        log_size: entries in the log (``None``: no log yet).
    """

    problems: list[str] = field(default_factory=list)
    baselines: dict[tuple[str, str], str] = field(default_factory=dict)
    key_id: str | None = None
    threshold: str | None = None
    log_size: int | None = None


def _rollback_floor(state_dir: Path, name: str) -> int | None:
    """The highest accepted version of ``name``, without creating the state directory."""
    if not (state_dir / RollbackState.FILE).exists():
        return None
    return RollbackState(state_dir).highest(name)


def check_files(cfg: DockConfig, *, now: datetime | None = None) -> Readiness:
    """Check every file and directory ``cfg`` names; collect every problem.

    Args:
        cfg: a configuration :func:`~attest.dock.config.load_config` accepted.
        now: the time expiry is judged at (default: now).
    """
    now = now or datetime.now(UTC)
    out = Readiness()
    src = cfg.source
    key = None
    try:
        key = load_private_key(cfg.key)
        out.key_id = key_id(key.public_key())
    except ConfigError as e:
        out.problems.append(f"{src}: dock.key: {e}")
    policy = None
    try:
        policy = load_trust(cfg.trust, cfg.state_dir, accept=False, now=now)  # changes nothing
        out.threshold = f"{policy.threshold} of {len(policy.keys) + len(policy.sigstore)}"
    except AttestError as e:  # also a policy that is not trusted (a rollback, too few signatures: exit 4)
        out.problems.append(f"{src}: dock.trust: {e}")
    if key is not None and policy is not None:
        raw = raw_public_bytes(key.public_key())
        if any(raw_public_bytes(k.key) == raw for k in policy.keys):
            out.problems.append(
                f"{src}: dock.key: the dock key is also a baseline signer in {cfg.trust}; use its own key"
            )
    _check_state(cfg, key, out)
    for drone in cfg.drones:
        for part in drone.parts:
            where = f"{src}: drones[{drone.name}].{part.kind}"
            for what, path in (("identity", part.options.identity), ("known_hosts", part.options.known_hosts)):
                if path is not None and not path.is_file():
                    out.problems.append(f"{where}.{what}: {path}: no such file")
            if policy is None:
                continue
            labels = []
            for field_name, (baseline, bundles) in zip(("baseline", "full_baseline"), part.baselines(), strict=False):
                field = f"{where}.{field_name}"
                label = _check_baseline(cfg, policy, baseline, bundles, where=field, now=now, problems=out.problems)
                n = len(bundles)
                labels.append((label or "?") + (f" + {n} Sigstore bundle{'s' if n != 1 else ''}" if n else ""))
            out.baselines[(drone.name, part.kind)] = " / full ".join(labels)
    for i, hook in enumerate(cfg.hooks):
        program = hook.run[0]
        if not os.path.isfile(program) or not os.access(program, os.X_OK):
            out.problems.append(f"{src}: hooks[{i}].run: {program}: not an executable file")
    if not (cfg.sysfs / "class").is_dir():
        out.problems.append(f"{src}: dock.sysfs: {cfg.sysfs}: not a sysfs (no class/ directory)")
    return out


def _check_baseline(
    cfg: DockConfig,
    policy: TrustPolicy,
    path: Path,
    bundles: tuple[Path, ...],
    *,
    where: str,
    now: datetime,
    problems: list[str],
) -> str | None:
    """``name vN`` of a trusted, unexpired baseline that is no rollback on this dock; else a problem, ``None``.

    Every bundle that cannot be read is a problem of its own (``...bundles``:
    an event would refuse the baseline), and the baseline is also judged
    without it, so that every other problem is listed too.
    """
    bundle_field = where.removesuffix("baseline") + "bundles"
    try:
        data = read_baseline_file(path)
    except AttestError as e:
        problems.append(f"{where}: {e}")
        return None
    signed = []
    for bundle in bundles:
        try:
            signed.append(read_bundle_file(bundle, payload_size=len(data)))
        except AttestError as e:
            problems.append(f"{bundle_field}: {e}")
    try:
        env, _ = verify_envelope(data, policy, source=str(path), bundles=signed)
        b = Baseline.from_payload(env.payload, source=str(path))
    except AttestError as e:
        problems.append(f"{where}: {e}")
        return None
    if b.expires is not None and now >= b.expires:
        problems.append(f"{where}: {path} expired at {format_time(b.expires)}")
    try:
        floor = _rollback_floor(cfg.state_dir, b.name)
    except ConfigError as e:
        problems.append(f"{cfg.source}: dock.state_dir: {e}")
        return None
    if floor is not None and b.version < floor:
        problems.append(f"{where}: {b.name} v{b.version} is older than v{floor}, accepted already (rollback)")
    return f"{b.name} v{b.version}"


def _check_state(cfg: DockConfig, key: Ed25519PrivateKey | None, out: Readiness) -> None:
    """The state directory must be usable, and an existing log must be this key's and origin's."""
    src = cfg.source
    d = cfg.state_dir
    if d.exists():
        if not d.is_dir() or not os.access(d, os.W_OK | os.X_OK):
            out.problems.append(f"{src}: dock.state_dir: {d}: not a writable directory")
            return
    elif not d.parent.is_dir():
        out.problems.append(f"{src}: dock.state_dir: {d}: neither it nor its parent directory exists")
        return
    if not (cfg.log_dir / "origin").exists():
        return
    try:
        with Log.read(cfg.log_dir) as log:
            out.log_size = log.size
            if log.origin != cfg.origin:
                out.problems.append(
                    f"{src}: dock.origin: {cfg.origin!r}, but the log {cfg.log_dir} was created with {log.origin!r}"
                )
            if key is not None:
                log.check_key(key)
    except AttestError as e:
        out.problems.append(f"{src}: dock.key: {cfg.log_dir}: {e}")
