"""The signed attestation log: durable append rate, full verify at 1M entries, inclusion proofs at 1M.

Three numbers, with the issue's targets:

* durable appends per second through ``Log.append`` (fsync'd entry, index, hashes and an atomically
  replaced signed checkpoint per append), target >= 200/s; also with ``sign_result`` included;
* ``attest log verify`` (the real CLI, all cores) on a 1,000,000-entry log, target >= 20,000 entries/s;
* an inclusion proof at 1M entries (``Log.read`` + ``prove``: reads a few hashes, not the log),
  target <= 10 ms; also the whole ``attest log proof`` command, Python start-up included.

The 1M-entry log is built once with ``Log.append_many`` in batches of 10,000 (one checkpoint per
batch; every entry is still a real DSSE envelope whose signature append_many checks) and kept under
``--dir`` for the next run. Entries are made from one result Statement by changing its nonce, time and
device, serialised with ``json.dumps(sort_keys=True)``, which equals RFC 8785 for these ASCII-only,
integer-only documents (checked on a sample). Expect a few minutes the first time.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.log import Log, VerifierKey
from attest.model import BaselineRef, Component, DeviceIdentity, Evidence, Method, Result, Verdict
from attest.signing import Envelope, generate_key_files, load_private_key, result_statement, sign_result
from attest.signing.results import PAYLOAD_TYPE

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "bench-dock.fleet.example/attest"
T0 = datetime(2027, 1, 1, tzinfo=UTC)
BATCH = 10_000


def sample_result(i: int) -> Result:
    device = DeviceIdentity("directory", f"drone-{i % 40:02d}", f"/srv/drone-{i % 40:02d}", {"board": "fmuv6x"})
    comps = {
        "usr/bin/px4": Component("usr/bin/px4", "file", "ab" * 32, {"mode": "0755", "size": 4_194_304}),
        "etc/app.conf": Component("etc/app.conf", "file", "cd" * 32, {"mode": "0644", "size": 14}),
        "fc/params": Component("fc/params", "parameters", "ef" * 32, method=Method.DEVICE_REPORTED),
    }
    ev = Evidence(device, comps, f"{i:064x}", T0 + timedelta(seconds=i))
    return Result(Verdict.PASS, device, BaselineRef("companion", 7, "12" * 32), (), None, ev)


_TEMPLATE: dict[str, Any] = {}


def _entries(args: tuple[bytes, int, int]) -> list[bytes]:
    """Entries ``first .. first + count - 1``, signed (runs in a worker)."""
    seed, first, count = args
    key = Ed25519PrivateKey.from_private_bytes(seed)
    if not _TEMPLATE:
        _TEMPLATE.update(result_statement(sample_result(0), dock_id="bench-dock", now=T0))
    out = []
    for i in range(first, first + count):
        st = copy.deepcopy(_TEMPLATE)
        p = st["predicate"]
        p["nonce"] = f"{i:064x}"
        p["time"] = (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        p["device"]["id"] = f"drone-{i % 40:02d}"
        st["subject"][0]["name"] = f"device:drone-{i % 40:02d}"
        payload = json.dumps(st, sort_keys=True, separators=(",", ":")).encode()
        out.append(Envelope(payload, PAYLOAD_TYPE).signed_by(key).to_bytes())
    return out


def bench_append(n: int) -> None:
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        log = Log.open(Path(tmp) / "log", origin=ORIGIN, create=True)
        entries = [sign_result(sample_result(i), key, dock_id="bench-dock") for i in range(n)]
        t = time.perf_counter()
        for e in entries:
            log.append(e, key=key)
        append_only = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n, 2 * n):
            log.append(sign_result(sample_result(i), key, dock_id="bench-dock"), key=key)
        with_signing = n / (time.perf_counter() - t)
        log.close()
    print(f"durable append: {append_only:,.0f} entries/s (target >= 200); with sign_result: {with_signing:,.0f}/s")


def build(directory: Path, n: int) -> tuple[Path, str]:
    """The n-entry log under ``directory`` (reused when it is already there), its key and vkey."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "bench-dock.key"
    if not key_path.exists():
        generate_key_files(key_path)
    key = load_private_key(key_path)
    vkey = str(VerifierKey.for_key(ORIGIN, key.public_key()))
    logdir = directory / f"log-{n}"
    log = Log.open(logdir, origin=ORIGIN, create=True)
    if log.size >= n:
        print(f"reusing {logdir} ({log.size:,} entries)")
        log.close()
        return logdir, vkey
    sample = _entries((_seed(key), 0, 1))[0]
    payload = base64.b64decode(json.loads(sample)["payload"])
    if rfc8785.dumps(json.loads(payload)) != payload:
        raise SystemExit("the bench's json.dumps shortcut no longer equals RFC 8785")
    t = time.perf_counter()
    tasks = [(_seed(key), first, min(BATCH, n - first)) for first in range(log.size, n, BATCH)]
    with multiprocessing.get_context("fork").Pool() as pool:
        for batch in pool.imap(_entries, tasks):
            log.append_many(batch, key=key)
            if log.size % 100_000 == 0:
                print(f"  built {log.size:,} entries ({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"built {log.size:,} entries in {time.perf_counter() - t:.0f} s")
    log.close()
    return logdir, vkey


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def bench_verify(logdir: Path, vkey: str, n: int) -> None:
    cmd = [sys.executable, "-m", "attest", "log", "verify", "--log", str(logdir), "--vkey", vkey]
    subprocess.run(["cat", str(logdir / "entries")], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"attest log verify failed ({r.returncode}): {r.stdout}{r.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cores = len(os.sched_getaffinity(0))
    print(f"attest log verify, {n:,} entries: {dt:.1f} s = {n / dt:,.0f} entries/s (target >= 20,000)")
    print(
        f"  CPU {cpu:.1f} s = {cpu / n * 1e6:.0f} us/entry: {cores * n / cpu:,.0f} entries/s "
        f"if {cores} cores were free (this run got {cpu / dt:.2f} cores)"
    )


def bench_proof(logdir: Path, n: int) -> None:
    rng = random.Random(7)
    times = []
    for _ in range(200):
        i = rng.randrange(n)
        t = time.perf_counter()
        with Log.read(logdir) as log:
            proof = log.prove(i)
        times.append(time.perf_counter() - t)
        assert proof.index == i
    med, worst = statistics.median(times) * 1000, max(times) * 1000
    print(f"inclusion proof at {n:,} entries (open + prove + self-check): median {med:.2f} ms, max {worst:.2f} ms "
          "(target <= 10 ms)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.tlog-proof"
        cmd = [sys.executable, "-m", "attest", "log", "proof", str(n // 2), "--log", str(logdir), "--out", str(out)]
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        print(
            f"  whole `attest log proof` command, Python start-up included: {(time.perf_counter() - t) * 1000:.0f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000, help="size of the verify/proof log (default 1M)")
    ap.add_argument("--appends", type=int, default=1000, help="appends to time (default 1000)")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench" / "out", help="where the big log is kept")
    args, _ = ap.parse_known_args(argv)  # bench/run.py passes its own arguments to every bench
    bench_append(args.appends)
    logdir, vkey = build(args.dir, args.entries)
    bench_verify(logdir, vkey, args.entries)
    bench_proof(logdir, args.entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
