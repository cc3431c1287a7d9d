"""Helpers for the log tests: real keys, real signed results, real log directories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.log import Log, VerifierKey
from attest.model import (
    BaselineRef,
    Component,
    DeviceIdentity,
    Evidence,
    Finding,
    FindingKind,
    Method,
    Result,
    Severity,
    Verdict,
)
from attest.signing import generate_key_files, load_private_key, sign_result

ORIGIN = "dock1.fleet.example/attest"
T0 = datetime(2027, 1, 1, tzinfo=UTC)


def make_key(directory: Path, name: str = "dock") -> tuple[Path, Ed25519PrivateKey]:
    """A dock key pair on disk (PKCS#8 PEM, 0600), and the loaded private key."""
    directory.mkdir(parents=True, exist_ok=True)
    private, _ = generate_key_files(directory / f"{name}.key")
    return private, load_private_key(private)


def vkey_of(key: Ed25519PrivateKey, origin: str = ORIGIN) -> VerifierKey:
    return VerifierKey.for_key(origin, key.public_key())


def make_result(i: int, *, drones: int = 3, verdict: Verdict | None = None, evidence: bool = True) -> Result:
    """Result number ``i``: drone ``i % drones``, drift every fifth, a fresh nonce each."""
    device = DeviceIdentity("directory", f"drone-{i % drones}", f"/srv/drone-{i % drones}", {"board": "px4"})
    verdict = verdict or (Verdict.DRIFT if i % 5 == 3 else Verdict.PASS)
    findings: tuple[Finding, ...] = ()
    if verdict is Verdict.DRIFT:
        findings = (
            Finding(
                "usr/bin/px4", FindingKind.MODIFIED, Severity.CRITICAL, {"sha256": "aa" * 32}, {"sha256": "bb" * 32}
            ),
            Finding("opt/app/exfil.py", FindingKind.UNEXPECTED, Severity.HIGH, None, {"sha256": "cc" * 32}),
        )
    ev = None
    if evidence:
        comps = {
            "usr/bin/px4": Component("usr/bin/px4", "file", "bb" * 32, {"mode": "0755"}),
            "etc/app.conf": Component("etc/app.conf", "file", "dd" * 32, method=Method.DEVICE_REPORTED),
            "usr/bin": Component("usr/bin", "directory"),
        }
        ev = Evidence(device, comps, f"{i:064x}", T0 + timedelta(minutes=i))
    message = "baseline signature does not verify" if verdict is Verdict.UNTRUSTED else None
    return Result(verdict, device, BaselineRef("companion", 3, "ee" * 32), findings, message, ev)


def entry(i: int, key: Ed25519PrivateKey, **kw: object) -> bytes:
    """The signed entry of result ``i``."""
    return sign_result(make_result(i, **kw), key, dock_id="dock1", now=T0 + timedelta(minutes=i))  # type: ignore[arg-type]


def build_log(directory: Path, key: Ed25519PrivateKey, n: int, *, origin: str = ORIGIN, batch: int = 0) -> Log:
    """A log of ``n`` results, appended one by one (or ``batch`` at a time)."""
    log = Log.open(directory, origin=origin, create=True)
    if batch:
        for start in range(0, n, batch):
            log.append_many([entry(i, key) for i in range(start, min(n, start + batch))], key=key)
    else:
        for i in range(n):
            log.append(entry(i, key), key=key)
    return log
