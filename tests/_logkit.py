"""Helpers for the log tests: real keys, real signed results, real log directories."""

from __future__ import annotations

import hashlib
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


def forge_log(directory: Path, key: Ed25519PrivateKey, entries: list[bytes], *, origin: str = ORIGIN) -> None:
    """Write a log of exactly ``entries`` with every stored hash and a checkpoint signed by ``key``.

    What a dock whose key was stolen (or whose code is wrong) could write: ``Log.append`` refuses
    entries that are not signed results, so the files are written here directly, in the format
    of docs/log.md, with the tree computed by the reference functions of ``attest.log.merkle``.
    """
    from attest.log.checkpoint import Checkpoint
    from attest.log.merkle import leaf_hash, root_of
    from attest.log.tiles import expected_counts, reduce_pairs

    directory.mkdir(parents=True)
    (directory / "format").write_bytes(b"drone-attest log v1\n")
    (directory / "origin").write_text(origin + "\n")
    (directory / "lock").write_bytes(b"")
    records, ends, end = bytearray(), bytearray(), 0
    for e in entries:
        records += len(e).to_bytes(4, "big") + e
        end += 4 + len(e)
        ends += end.to_bytes(8, "big")
    (directory / "entries").write_bytes(bytes(records))
    (directory / "entries.idx").write_bytes(bytes(ends))
    level = b"".join(leaf_hash(e) for e in entries)
    for n, count in enumerate(expected_counts(len(entries))):
        if n:  # each hash of level n is the root of 256 hashes of level n - 1
            level = b"".join(reduce_pairs(level[i : i + 8192]) for i in range(0, count * 8192, 8192))
        (directory / f"hashes.{n}").write_bytes(level[: count * 32])
    leaves = [leaf_hash(e) for e in entries]
    root = root_of(leaves) if leaves else hashlib.sha256(b"").digest()
    (directory / "checkpoint").write_bytes(Checkpoint(origin, len(entries), root).sign(key))
