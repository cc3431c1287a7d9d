"""MAVLink FTP and flight-controller attestation benchmarks against ``attest sim fc``.

1. Read a 1 MiB file with our FTP client and with pymavlink's own MAVFTP
   (``pymavlink.mavftp``, burst size 239 like ours), alternately, on the same
   simulated controller and pty; report MiB/s and the ratio (target >= 0.9x).
   Run unthrottled (CPU-bound: client efficiency; median of --rounds) and
   once at 921600 baud (line-bound).
2. A full ``attest verify`` (identity, ~1,000 parameters, a few scripts;
   flash excluded) over a simulated 115200-baud link (target < 10 s), with
   parameters over FTP (param.pck) and, for comparison, by PARAM_VALUE.

Usage: ``.venv/bin/python bench/bench_mavftp.py [--rounds N] [--quick]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MAVLINK20", "1")  # pymavlink's mavutil must speak MAVLink 2 to the simulator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fc_fixture import start_sim  # noqa: E402

from attest.mavlink import FtpClient, Link  # noqa: E402
from attest.transports import SerialTransport  # noqa: E402

FILE = "/APM/bench.bin"
SIZE = 1 << 20


def ours(path: str) -> tuple[float, bytes]:
    with SerialTransport.open(path, timeout=10) as t:
        link = Link(t, timeout=10)
        link.find_autopilot()
        ftp = FtpClient(link)
        ftp.reset()
        t0 = time.perf_counter()
        data = ftp.read(FILE)
        return time.perf_counter() - t0, data


def pymavlink_mavftp(path: str) -> tuple[float, bytes]:
    from pymavlink import mavftp, mavutil

    master = mavutil.mavlink_connection(path, baud=115200, source_system=255, source_component=190)
    try:
        master.wait_heartbeat(timeout=10)
        ftp = mavftp.MAVFTP(master, master.target_system, master.target_component)
        ftp.cmd_set(["burst_read_size", "239"])
        t0 = time.perf_counter()
        data = ftp.read(FILE, SIZE)
        elapsed = time.perf_counter() - t0
    finally:
        master.close()
    if data is None:
        raise RuntimeError("pymavlink MAVFTP read failed")
    return elapsed, bytes(data)


def bench_read(rounds: int, baud: int | None) -> tuple[float, float]:
    content = hashlib.shake_256(b"bench").digest(SIZE)
    with tempfile.NamedTemporaryFile() as f:
        f.write(content)
        f.flush()
        args = ["--flash-size", "256", "--file", f"{FILE}={f.name}"]
        if baud:
            args += ["--baud", str(baud)]
        sim = start_sim(*args)
        try:
            times: dict[str, list[float]] = {"ours": [], "pymavlink": []}
            for _ in range(rounds):
                for name, fn in (("ours", ours), ("pymavlink", pymavlink_mavftp)):
                    dt, data = fn(sim.path)
                    assert data == content, f"{name} read wrong bytes"
                    times[name].append(dt)
        finally:
            sim.stop()
    mib = SIZE / (1 << 20)
    return mib / statistics.median(times["ours"]), mib / statistics.median(times["pymavlink"])


def run_attest(*args: str | Path, env: dict[str, str]) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "attest", *map(str, args)], capture_output=True, text=True, env=env, check=False
    )
    return p.returncode, time.perf_counter() - t0, p.stdout + p.stderr


def bench_attestation(no_ftp: bool) -> float:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = {**os.environ, "ATTEST_STATE_DIR": str(tmp / "state")}
        scripts = []
        for i in range(3):
            s = tmp / f"s{i}.lua"
            s.write_text("".join(f"-- patrol step {i}.{j}: hold {j % 7} s at waypoint {j}\n" for j in range(80)))
            scripts += ["--file", f"/APM/scripts/patrol{i}.lua={s}"]
        key = tmp / "k.key"
        assert run_attest("key", "generate", "--out", key, env=env)[0] == 0
        (tmp / "trust.toml").write_text('threshold = 1\n[[keys]]\nid = "k"\npublic_key = "k.pub"\n')
        sim = start_sim("--flash-size", "256", "--baud", "115200", *scripts, *(["--no-ftp"] if no_ftp else []))
        try:
            b = tmp / "b.json"
            code, _, out = run_attest(
                "baseline", "create", "--device", sim.path, "--name", "b", "--version", "1", "--out", b,
                "--exclude", "fc/flash", "--exclude", "fc/firmware", env=env,
            )  # fmt: skip
            assert code == 0, out
            assert run_attest("baseline", "sign", b, "--key", key, env=env)[0] == 0
            code, dt, out = run_attest(
                "verify", "--device", sim.path, "--baseline", b, "--trust", tmp / "trust.toml", env=env
            )
            assert code == 0, out
            return dt
        finally:
            sim.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="skip the 921600-baud read")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    for baud in (None,) if args.quick else (None, 921600):
        o, p = bench_read(args.rounds if baud is None else 1, baud)  # line-bound reads vary little
        label = "unthrottled pty" if baud is None else f"{baud} baud"
        print(f"1 MiB FTP read, {label}: ours {o:.2f} MiB/s, pymavlink MAVFTP {p:.2f} MiB/s, ratio {o / p:.2f}x")
    for no_ftp in (False, True):
        dt = bench_attestation(no_ftp)
        what = (
            "no FTP: identity, 1001 params by PARAM_VALUE"
            if no_ftp
            else "identity, 1001 params by param.pck, 3 scripts + ROMFS"
        )
        print(f"full attest verify at 115200 baud ({what}): {dt:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
