"""Android controller attestation (``adb+tcp://``) against ``attest sim android``: pull and remote, beside ``adb pull``.

The controller is realistic in size: 150 packages (120 small system apps, 30
user apps of ``--apk-mb`` MB each, the flight app with a split), about 1.5 GB
of APKs. The simulator is throttled to USB 2.0 (``--rate 35e6``, bytes/s) and,
for the client's own cost, run unthrottled too.

1. ``pull``: verify with the dock reading and hashing every APK over the ADB
   sync service (and parsing certificates from the same bytes).
2. ``remote``: the device's ``sha256sum`` hashes the APKs; the dock reads the
   nonce-chosen audit sample (default max(8, 2 %) of the APKs) itself. The
   simulated device hashes in its own process, at hashlib speed.
3. Anchor: Debian's ``adb pull`` of the same APK files (one ``adb pull`` per
   package, through an ``adb`` server), the fastest any ADB client reads them.

Each number is the median of ``--rounds`` runs; the collector runs in this
process (the CLI adds under 0.3 s). The baseline is made once, in pull mode.

Usage: ``.venv/bin/python bench/bench_android.py [--rounds N] [--quick] [--apk-mb MB]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from adb_fixture import AndroidSim, start_sim  # noqa: E402

from attest.baseline import Baseline  # noqa: E402
from attest.collectors.adb import AdbCollector  # noqa: E402
from attest.transports.adb import AdbLimits, DockAdbKey  # noqa: E402

PACKAGES = 150
USER_APPS = 30  # 3 of the simulator's own and 27 extra
USB2 = 35e6


def sim_args(apk_mb: int, rate: float | None) -> list[str]:
    args = ["--packages", str(PACKAGES), "--apk-size", str(apk_mb * 1_000_000)]
    for i in range(USER_APPS - 3):
        args += ["--extra-package", f"com.example.app{i:02d}"]
    if rate:
        args += ["--rate", f"{rate:g}"]
    return args


def collector(sim: AndroidSim, key: DockAdbKey, method: str) -> AdbCollector:
    return AdbCollector(sim.target, key=key, method=method, adb_limits=AdbLimits(timeout=30.0, auth_wait=5.0))


def timed_verify(sim: AndroidSim, key: DockAdbKey, baseline: Baseline, method: str) -> tuple[float, dict[str, object]]:
    coll = collector(sim, key, method)
    t0 = time.perf_counter()
    ev = coll.collect(
        {**baseline.collection, "allow_methods": ["remote"]},
        nonce=os.urandom(32).hex(),
        device_match=baseline.device_match,
        expected=baseline.components,
    )
    dt = time.perf_counter() - t0
    bad = [n for n, c in ev.components.items() if c.error or c.not_hashed or c.digest != baseline.components[n].digest]
    if bad or ev.findings:
        raise SystemExit(f"{method}: the controller did not pass: {bad[:3]} {ev.findings[:1]}")
    return dt, dict(ev.notes)


def adb_pull_all(sim: AndroidSim, paths: list[str], work: Path) -> float:
    """Debian's adb: connect through a private server, pull every APK, return the seconds the pulls took."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port)}

    def adb(*args: str) -> None:
        r = subprocess.run(["adb", *args], env=env, capture_output=True, timeout=600, check=False)
        if r.returncode != 0:
            raise SystemExit(f"adb {' '.join(args[:3])} failed: {r.stderr.decode()[:200]}")

    try:
        for _ in range(3):  # the first connect may end before the simulated user allowed adb's key
            adb("connect", sim.host_port)
            state = subprocess.run(
                ["adb", "-s", sim.host_port, "get-state"], env=env, capture_output=True, timeout=60, check=False
            )
            if state.stdout.strip() == b"device":
                break
        dest = work / "pulled"
        t0 = time.perf_counter()
        for i, path in enumerate(paths):
            (dest / str(i)).mkdir(parents=True, exist_ok=True)
            adb("-s", sim.host_port, "pull", path, str(dest / str(i)))
        dt = time.perf_counter() - t0
        shutil.rmtree(dest)
        return dt
    finally:
        subprocess.run(["adb", "kill-server"], env=env, capture_output=True, timeout=30, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 round, 5 MB user apps (about 150 MB of APKs)")
    ap.add_argument("--apk-mb", type=int, default=50, help="size of each user app's base APK (default 50: 1.5 GB)")
    args = ap.parse_args()
    rounds, apk_mb = (1, 5) if args.quick else (args.rounds, args.apk_mb)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        key = DockAdbKey.load_or_create(work / "state")
        for label, rate in (("USB 2.0 (35 MB/s)", USB2), ("unthrottled loopback", None)):
            t0 = time.perf_counter()
            sim = start_sim(*sim_args(apk_mb, rate), timeout=600)
            started = time.perf_counter() - t0
            try:
                ev = collector(sim, key, "pull").collect({"method": "pull"}, nonce="00" * 32)
                comps = ev.components
                apks = {n: c for n, c in comps.items() if c.kind == "apk"}
                total = sum(int(c.attributes["size"] or 0) for c in apks.values())
                packages = len([n for n in comps if n.startswith("package/")])
                baseline = Baseline.from_evidence(
                    ev, name="bench", version=1, collection={"method": "pull"}, device_match={}
                )
                print(
                    f"\n{label}: {packages} packages, {len(apks)} APKs, {total / 1e9:.2f} GB "
                    f"(simulator ready in {started:.0f} s)"
                )
                pulls = [timed_verify(sim, key, baseline, "pull") for _ in range(rounds)]
                remotes = [timed_verify(sim, key, baseline, "remote") for _ in range(rounds)]
                pull = statistics.median(t for t, _ in pulls)
                remote = statistics.median(t for t, _ in remotes)
                audited = statistics.median(int(str(n["apk_bytes_read"])) for _, n in remotes)
                print(f"  attest verify --method pull:   {pull:7.2f} s  ({total / pull / 1e6:6.1f} MB/s)")
                print(
                    f"  attest verify --method remote: {remote:7.2f} s  (audit sample read: {audited / 1e6:.0f} MB, "
                    f"median of {rounds})"
                )
                if shutil.which("adb"):
                    paths = _paths(sim, key)
                    anchor = statistics.median(adb_pull_all(sim, paths, work) for _ in range(rounds))
                    print(
                        f"  anchor: Debian adb pull of every APK: {anchor:7.2f} s  ({total / anchor / 1e6:6.1f} MB/s)"
                    )
                    print(f"  pull / adb pull: {pull / anchor:.2f}x the time")
                else:
                    print("  anchor: Debian adb not installed (apt-get install adb)")
                print(f"  remote / pull: {remote / pull:.2f}x the time")
            finally:
                sim.stop()
    return 0


def _paths(sim: AndroidSim, key: DockAdbKey) -> list[str]:
    """Every APK path on the simulated controller (as pm path reports them)."""
    from adb_fixture import connect

    with connect(sim, key, timeout=30.0) as conn:
        listing = conn.shell(["pm", "list", "packages"]).stdout.decode().split()
        paths: list[str] = []
        for line in listing:
            out = conn.shell(["pm", "path", line.removeprefix("package:")]).stdout.decode()
            paths += [p.removeprefix("package:") for p in out.split()]
    return paths


if __name__ == "__main__":
    sys.exit(main())
