"""How long each part of a flight-controller attestation takes at common link speeds.

Runs the MAVLink collector (the code ``attest verify`` runs) against ``attest
sim fc`` with a 2 MiB flash, at 57,600, 115,200 and 921,600 baud (the
simulator sends at most baud/10 bytes a second, like a UART) and unthrottled
(a USB CDC link, where the dock's CPU is the limit), and times each part from
the collector's own progress calls: identity (HEARTBEAT + AUTOPILOT_VERSION),
parameters (``@PARAM/param.pck`` over FTP, ~1,000 parameters; and, for a
controller without FTP, by PARAM_VALUE), the FTP files (three 5 KiB Lua
scripts plus the simulator's ROMFS files) and the whole ``@SYS/flash.bin``.
The numbers are the table in docs/mavlink.md, "How long each part takes".

Usage: ``.venv/bin/python bench/bench_fc_link.py [--quick] [--links 57600,115200,921600,usb]``
(``--quick``: only 921,600 baud and USB; the 57,600-baud flash read alone takes minutes).
``--device TARGET [--baud N]`` times a real controller instead (a board on USB or a radio, SITL):
its parameters, files and flash as it serves them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fc_fixture import start_sim  # noqa: E402

from attest.collectors.mavlink import MavlinkCollector  # noqa: E402
from attest.targets import TargetOptions  # noqa: E402

ALL = {"include": ["**"], "exclude": []}


@dataclass
class PartTimer:
    """A Progress that notes when each part starts and how many bytes it moved."""

    t0: float = field(default_factory=time.monotonic)
    starts: list[tuple[str, float]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    end: float = 0.0

    def start(self, total: int | None, label: str) -> None:
        del total
        self.starts.append((label, time.monotonic()))
        self.sizes[label] = 0

    def advance(self, n: int) -> None:
        self.sizes[self.starts[-1][0]] += n

    def finish(self) -> None:
        self.end = time.monotonic()

    def seconds(self) -> dict[str, float]:
        """Each part's duration: from its start to the next part's start (the last: to the end)."""
        out = {"identity": (self.starts[0][1] if self.starts else self.end) - self.t0}
        bounds = [*(t for _, t in self.starts[1:]), self.end]
        for (label, t), until in zip(self.starts, bounds, strict=True):
            out[label] = until - t
        out["total"] = self.end - self.t0
        return out


def measure(path: str, baud: int, *, parts: list[str]) -> PartTimer:
    collector = MavlinkCollector(path, TargetOptions(baud=baud, timeout=10.0))
    settings = {**collector.settings_extras(), "selection": ALL, "measure": parts}
    timer = PartTimer()
    evidence = collector.collect(settings, nonce="00" * 32, progress=timer)
    bad = [(c.name, c.error) for c in evidence.components.values() if c.error]
    if bad:
        raise RuntimeError(f"the measurement failed: {bad}")
    return timer


def _scripts(tmp: Path) -> list[str]:
    args = []
    for i in range(3):
        s = tmp / f"patrol{i}.lua"
        s.write_text("".join(f"-- patrol step {i}.{j}: hold {j % 7} s at waypoint {j}\n" for j in range(120)))
        args += ["--file", f"/APM/scripts/patrol{i}.lua={s}"]
    return args


def bench_link(link: str, tmp: Path) -> dict[str, object]:
    baud = None if link == "usb" else int(link)
    throttle = [] if baud is None else ["--baud", str(baud)]
    row: dict[str, object] = {"link": "USB (no throttle)" if baud is None else f"{baud:,} baud"}
    sim = start_sim("--flash-size", "2048", *throttle, *_scripts(tmp))
    try:
        timer = measure(sim.path, baud or 115200, parts=["identity", "params", "files", "flash"])
    finally:
        sim.stop()
    secs = timer.seconds()
    row |= {k: secs.get(k) for k in ("identity", "parameters", "files", "flash", "total")}
    row |= {f"{k}_bytes": timer.sizes.get(k) for k in ("parameters", "files", "flash")}
    sim = start_sim("--flash-size", "256", "--no-ftp", *throttle)
    try:
        row["parameters_param_value"] = measure(sim.path, baud or 115200, parts=["identity", "params"]).seconds()[
            "parameters"
        ]
    finally:
        sim.stop()
    return row


def _fmt(x: object) -> str:
    if not isinstance(x, float):
        return "-"
    if x >= 90:
        return f"{x / 60:.1f} min"
    return f"{x:.2f} s" if x < 10 else f"{x:.0f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--links", default="57600,115200,921600,usb", help="comma-separated baud rates and 'usb'")
    ap.add_argument("--quick", action="store_true", help="only 921600 baud and USB")
    ap.add_argument("--rounds", type=int, default=1, help="ignored (line-bound times vary little); for bench/run.py")
    ap.add_argument("--device", metavar="TARGET", help="time this real controller instead of the simulator")
    ap.add_argument("--baud", type=int, default=115200, help="with --device: its line rate")
    args = ap.parse_args()
    if args.device:
        timer = measure(args.device, args.baud, parts=["identity", "params", "files", "flash"])
        secs = timer.seconds()
        for part in ("identity", "parameters", "files", "flash", "total"):
            size = timer.sizes.get(part)
            note = "" if size is None else " (not offered)" if part == "flash" and size == 0 else f" ({size} B)"
            print(f"{part}: {_fmt(secs.get(part))}{note}")
        return 0
    links = ["921600", "usb"] if args.quick else [s.strip() for s in args.links.split(",") if s.strip()]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for link in links:
            row = bench_link(link, Path(d))
            rows.append(row)
            print(
                f"{row['link']}: identity {_fmt(row['identity'])}, parameters {_fmt(row['parameters'])} "
                f"({row['parameters_bytes']} B param.pck; by PARAM_VALUE {_fmt(row['parameters_param_value'])}), "
                f"files {_fmt(row['files'])} ({row['files_bytes']} B), flash {_fmt(row['flash'])} "
                f"({row['flash_bytes']} B), total {_fmt(row['total'])}",
                flush=True,
            )
    print()
    print("| link | identity | parameters (param.pck) | parameters (PARAM_VALUE) | FTP files | 2 MiB flash | all |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r["identity"], r["parameters"], r["parameters_param_value"], r["files"], r["flash"], r["total"]]
        print(f"| {r['link']} | " + " | ".join(_fmt(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
