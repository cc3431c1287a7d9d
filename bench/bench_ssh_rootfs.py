"""SSH pull on a real Debian root filesystem vs plain OpenSSH, over loopback against a real sshd.

The tree is ``debootstrap --variant=minbase bookworm`` (about 4,800 files
under ``usr/`` and ``etc/``, 112 MB, most of them small), built once under
``--dir``. Without debootstrap or a Debian mirror, a stand-in with the same
shape is generated instead: every regular file under this machine's ``/usr``
and ``/etc`` (up to ``--files``) reproduced at the same relative path and
size with pseudo-random bytes. Then, with a warm page cache, in ``--repeat``
interleaved rounds (median of each):

* anchor: ``ssh host 'cd ROOT && xargs cat <FILES' | sha256sum`` (OpenSSH client,
  the file list stored on the device, the dock hashes one stream);
* attest pull: :class:`SshCollector` in this process, every file read over
  SFTP and cross-checked by the device's ``openssl`` (else ``sha256sum``);
* ``attest verify --method pull`` (the real CLI: interpreter start, signed
  baseline, compare, report), its bytecode cached as an installed package's
  is (``--compile-each-run``: compiled at every start instead).

Each line also gives the CPU seconds each side spent: the dock (this process
and its children: the anchor's ``ssh`` and ``sha256sum``, the CLI) and the
device (sshd and everything it forked for the run). On loopback both share
this machine's cores; ``--pin`` puts the device on CPU 0 and the dock on CPU 1
(``sched_setaffinity``, as ``taskset`` does), for the anchor and attest alike, as a companion and a dock
would be.

Target (issue 9): pull <= 0.8x the anchor on this tree. ``--trials N`` also
measures the cross-check: N runs, each with one randomly chosen file whose
approved copy the device's SFTP server serves (a bind mount only it sees; root
and ``unshare`` needed), counting the runs in which that file is ``device_lied``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from _common import cli_env  # noqa: E402
from sshd_fixture import SFTP_SERVER, Sshd  # noqa: E402

from attest.collectors.ssh import SshCollector  # noqa: E402
from attest.logs import set_level  # noqa: E402

SETTINGS = {"selection": {"include": ["usr/**", "etc/**"], "exclude": []}}


def check(r: subprocess.CompletedProcess[bytes], what: str) -> str:
    if r.returncode != 0:
        sys.exit(f"{what} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-800:]}")
    return r.stdout.decode(errors="replace")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build_tree(base: Path, files: int) -> tuple[Path, str]:
    """The Debian minbase tree (debootstrap), else a stand-in of the same shape; returns it and how it was made."""
    tree = base / "debian-minbase"
    if (tree / "usr/bin").is_dir():
        return tree, "debootstrap --variant=minbase bookworm (cached)"
    if shutil.which("debootstrap") and os.geteuid() == 0:
        tmp = base / f"debian-minbase.partial-{secrets.token_hex(3)}"
        r = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(tmp), "http://deb.debian.org/debian"],
            capture_output=True,
            check=False,
        )
        if r.returncode == 0:
            tmp.rename(tree)
            return tree, "debootstrap --variant=minbase bookworm"
        print(f"debootstrap failed ({r.returncode}); generating a stand-in tree", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    tree = base / f"standin-{files}"
    rng = random.Random(4800)
    made = 0
    for top in ("usr", "etc"):
        for dirpath, _, names in os.walk(f"/{top}"):
            for name in sorted(names):
                src = Path(dirpath) / name
                if made >= files or not src.is_file() or src.is_symlink():
                    continue
                dst = tree / src.relative_to("/")
                size = src.stat().st_size
                if not (dst.exists() and dst.stat().st_size == size):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(rng.randbytes(size))
                made += 1
    return tree, f"stand-in: {made} files with the sizes of this machine's /usr and /etc, random bytes"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/attest-bench-rootfs"), help="work directory")
    ap.add_argument("--files", type=int, default=4800, help="files in a generated stand-in tree")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--trials", type=int, default=0, help="runs of the cross-check measurement (needs root)")
    ap.add_argument("--pin", action="store_true", help="device (sshd) on CPU 0, dock on CPU 1; needs 2 cores")
    ap.add_argument(
        "--compile-each-run",
        action="store_true",
        help="no bytecode cache for attest (every module compiled at each start, as PYTHONDONTWRITEBYTECODE=1 does)",
    )
    args = ap.parse_args()
    set_level("warning")  # one ssh_cross_check line per run is not what this prints

    args.dir.mkdir(parents=True, exist_ok=True)
    tree, how = build_tree(args.dir, args.files)
    rels = sorted(
        str(p.relative_to(tree))
        for top in ("usr", "etc")
        for p in (tree / top).rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    total = sum((tree / r).stat().st_size for r in rels)
    print(f"tree: {tree} ({how}): {len(rels)} files, {total / 1e6:.0f} MB; {os.cpu_count()} cores", flush=True)
    for r in rels:  # warm the page cache
        (tree / r).read_bytes()

    work = args.dir / f"run-{secrets.token_hex(4)}"  # keys, baseline, state: removed at the end
    try:
        code = run(args, tree, rels, work)
        if args.trials:
            trials(args.trials, tree, rels, work / "trials")
        return code
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, tree: Path, rels: list[str], work: Path) -> int:
    files = work / "files.txt"
    work.mkdir(parents=True)
    files.write_text("".join(r + "\n" for r in rels))
    with Sshd.running(work / "sshd") as sshd:
        if args.pin:
            # Every process sshd forks from now on inherits CPU 0; this process and its children get CPU 1.
            os.sched_setaffinity(sshd.pid, {0})
            os.sched_setaffinity(0, {1})
        ssh = [
            "ssh", "-q", "-p", str(sshd.port), "-i", str(sshd.client_key),
            "-o", f"UserKnownHostsFile={sshd.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", f"{sshd.user}@127.0.0.1",
        ]  # fmt: skip
        remote = f"cd {shlex.quote(str(tree))} && xargs -d '\\n' cat < {shlex.quote(str(files))}"
        anchor_cmd = shlex.join(ssh) + " " + shlex.quote(remote) + " | sha256sum"

        def anchor() -> None:
            # A pipeline built here from generated paths (the anchor needs a pipe).
            check(subprocess.run(anchor_cmd, shell=True, capture_output=True, check=False), "anchor")  # noqa: S602

        target = sshd.target(tree)

        def collect() -> None:
            c = SshCollector(target, identity=sshd.client_key, known_hosts=sshd.known_hosts, timeout=30)
            ev = c.collect(SETTINGS, nonce=secrets.token_hex(32))
            bad = [c for c in ev.components.values() if c.error or (c.kind == "file" and not c.digest)]
            assert not bad, bad[:3]
            assert not ev.findings, ev.findings
            assert ev.notes["cross_check"]["files"] == len(rels), ev.notes["cross_check"]

        env = cli_env(work / "pycache", compile_each_run=args.compile_each_run, ATTEST_STATE_DIR=str(work / "state"))

        def attest(*a: str | os.PathLike[str]) -> str:
            cmd = [sys.executable, "-m", "attest", *map(str, a)]
            return check(subprocess.run(cmd, capture_output=True, env=env, check=False), "attest")

        key = work / "fleet.key"
        attest("key", "generate", "--out", key)
        (work / "trust.toml").write_text('threshold = 1\n[[keys]]\nid = "bench"\npublic_key = "fleet.pub"\n')
        baseline = work / "baseline.json"
        transport = ["--identity", str(sshd.client_key), "--known-hosts", str(sshd.known_hosts), "--timeout", "30"]
        attest(
            "baseline", "create", "--device", target, "--name", "rootfs", "--version", "1", "--out", baseline,
            "--include", "usr/**", "--include", "etc/**", *transport,
        )  # fmt: skip
        attest("baseline", "sign", baseline, "--key", key)

        def cli() -> None:
            out = attest(
                "verify", "--device", target, "--baseline", baseline, "--trust", work / "trust.toml",
                "--json", "--method", "pull", *transport,
            )  # fmt: skip
            assert '"verdict": "pass"' in out, out[:500]

        cli()  # untimed: fills the bytecode cache and records the baseline's version in the rollback state
        items: list[tuple[str, Callable[[], None]]] = [
            ("anchor: ssh host 'cd ROOT && xargs cat <FILES' | sha256sum", anchor),
            ("attest pull (collector, cross-check incl.)", collect),
            ("attest verify --method pull (CLI)", cli),
        ]
        # Rounds interleave the contenders, so that load from other processes hits them alike.
        times: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _ in items}
        print(f"load average before: {load()}{'; device on CPU 0, dock on CPU 1' if args.pin else ''}", flush=True)
        bytecode = "compiled at each start" if args.compile_each_run else "cached, as installed"
        print(f"bytecode: {bytecode}", flush=True)
        for rnd in range(args.repeat):
            for label, fn in items:
                dock0, device0 = dock_cpu(), device_cpu(sshd)
                t0 = time.perf_counter()
                fn()
                t = time.perf_counter() - t0
                dock, device = dock_cpu() - dock0, device_cpu(sshd) - device0
                times[label].append((t, dock, device))
                print(
                    f"round {rnd + 1}: {t:6.2f} s  (CPU: dock {dock:.2f} s, device {device:.2f} s)  {label}", flush=True
                )
        print(f"load average after: {load()}\n")
    med = {label: statistics.median(t for t, _, _ in ts) for label, ts in times.items()}
    for label, _ in items:
        dock = statistics.median(d for _, d, _ in times[label])
        device = statistics.median(d for _, _, d in times[label])
        print(
            f"{med[label]:6.2f} s  (CPU: dock {dock:.2f} s, device {device:.2f} s)  {label} (median of {args.repeat})"
        )
    a = med[items[0][0]]
    print()
    for label, _ in items[1:]:
        ratio = med[label] / a
        print(f"{label:44s} {ratio:5.2f}x the anchor  (target <= 0.8x: {'ok' if ratio <= 0.8 else 'MISSED'})")
    return 0


def dock_cpu() -> float:
    """CPU seconds of this process and its finished children (the anchor's ssh and sha256sum, the CLI)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def device_cpu(sshd: Sshd) -> float:
    """CPU seconds of every finished session of ``sshd`` (waits, up to 2 s, for the last one to end)."""
    deadline = time.monotonic() + 2
    while sshd.sessions() and time.monotonic() < deadline:
        time.sleep(0.005)
    # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat; the name before them may hold spaces.
    fields = Path(f"/proc/{sshd.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def trials(n: int, tree: Path, rels: list[str], work: Path) -> None:
    """Substitute one random file per run on the SFTP path only; count the runs that catch it."""
    set_level("error")  # each caught lie is a device_lied warning; the tally is what this prints
    if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"], check=False).returncode != 0:
        print("\ncross-check trials skipped: they need root and unshare -m")
        return
    work.mkdir(parents=True)
    rng = random.SystemRandom()
    nonempty = [r for r in rels if (tree / r).stat().st_size]
    caught = 0
    for i in range(n):
        victim = rng.choice(nonempty)
        real = tree / victim
        stash = work / f"approved-{i}"
        data = real.read_bytes()
        # The SFTP server sees other bytes of the same length; the file on disk is unchanged.
        stash.write_bytes(bytes(b ^ 1 for b in data[:1]) + data[1:])
        wrapper = work / f"sftp-{i}"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"exec /usr/bin/unshare -m /bin/sh -c "
            f"{shlex.quote(f'mount --bind {shlex.quote(str(stash))} {shlex.quote(str(real))} && exec {SFTP_SERVER}')}\n"
        )
        wrapper.chmod(0o755)
        with Sshd.running(work / f"sshd-{i}", sftp_server=str(wrapper)) as sshd:
            c = SshCollector(sshd.target(tree), identity=sshd.client_key, known_hosts=sshd.known_hosts, timeout=30)
            ev = c.collect(SETTINGS, nonce=secrets.token_hex(32))
        hit = [f.component for f in ev.findings if f.kind.value == "device_lied"] == [victim]
        caught += hit
        print(f"trial {i + 1}: {'caught' if hit else 'MISSED'} {victim}", flush=True)
    print(f"\ncross-check: one substituted file among {len(rels)} caught in {caught} of {n} runs")


if __name__ == "__main__":
    sys.exit(main())
