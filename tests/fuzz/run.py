"""Run the fuzz targets under atheris: ``python -m tests.fuzz.run [--runs N] [--only NAME ...]``.

Each target runs in its own subprocess (``--child NAME``): attest is imported
under ``atheris.instrument_imports`` so libFuzzer's mutations are guided by
coverage of attest's own code, the corpus starts from the target's seeds and
its kept regressions, and libFuzzer runs ``-runs=N`` inputs with a per-input
``-timeout`` and ``-max_len``. An input that raises anything but the target's
documented exceptions is a finding: it is recorded (type, innermost attest
frame, the input) and fuzzing goes on; a hang (``-timeout``) or running out of
memory ends that target's run and is a finding too.

The parent prints one line per target (executions, rate, coverage, new
inputs, findings) and a total, and exits 1 if any target had a finding.
With ``--minimize``, each finding's input is shrunk and written to
``WORKDIR/NAME/findings/``, ready to keep in ``tests/fuzz/regressions/NAME/``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import pkgutil
import re
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["main"]

#: Seconds one input may run before libFuzzer calls it a hang.
PER_INPUT_TIMEOUT = 10
#: Memory one target's process may use (MiB) before libFuzzer calls it a finding.
RSS_LIMIT_MB = 2048
_ROOT = Path(__file__).resolve().parents[2]
#: Modules instrumented for coverage: attest, and the pure-Python parsers it hands input to.
_INSTRUMENTED = ["attest", "tomllib", "rfc8785"]
_FINDINGS = "findings.json"


# -- the child: one target under atheris ------------------------------------------------------------


def _import_everything() -> None:
    import attest

    for info in pkgutil.walk_packages(attest.__path__, "attest."):
        try:
            importlib.import_module(info.name)
        except Exception as e:  # noqa: BLE001 (a module another target needs fails in that target, not here)
            print(f"not instrumented: {info.name}: {type(e).__name__}: {e}", file=sys.stderr)
    import tomllib  # noqa: F401

    import rfc8785  # noqa: F401


def _child(args: argparse.Namespace) -> None:
    import atheris

    with atheris.instrument_imports(include=_INSTRUMENTED):
        _import_everything()
    from .core import check, finding_key
    from .registry import TARGETS, regressions

    target = TARGETS[args.child]
    work = Path(args.workdir) / target.name
    corpus, seeds_dir, artifacts = work / "corpus", work / "seeds", work / "artifacts"
    for d in (corpus, seeds_dir, artifacts):
        d.mkdir(parents=True, exist_ok=True)
    seeds = target.seeds() + [data for _, data in regressions(target.name)]
    for data in seeds:
        (seeds_dir / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)
    findings: dict[str, dict[str, Any]] = {}
    findings_file = work / _FINDINGS

    def save() -> None:
        findings_file.write_text(json.dumps(findings, indent=1))

    save()

    def one_input(data: bytes) -> None:
        try:
            check(target, data)
        except Exception as e:
            key = finding_key(e)
            seen = findings.get(key)
            if seen is not None:
                seen["count"] += 1
                if seen["count"] % 100 == 0:
                    save()
                return
            name = artifacts / f"finding-{hashlib.sha256(data).hexdigest()[:16]}"
            name.write_bytes(data)
            findings[key] = {
                "count": 1,
                "error": f"{type(e).__name__}: {str(e)[:300]}",
                "input": str(name),
                "traceback": "".join(traceback.format_exception(e))[-4000:],
            }
            save()
            if args.stop_on_finding:
                raise

    max_len = max(target.max_len, *(len(s) for s in seeds))
    argv = [
        sys.argv[0],
        f"-runs={args.runs}",
        f"-timeout={args.timeout}",
        f"-max_len={max_len}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        f"-seed={args.seed}",
        str(corpus),
        str(seeds_dir),
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


# -- the parent: one subprocess per target, a summary line each --------------------------------


@dataclass
class Summary:
    """What one target's run did."""

    name: str
    execs: int = 0
    seconds: float = 0.0
    rate: int = 0
    cov_start: int = 0
    cov_end: int = 0
    new_units: int = 0
    findings: int = 0
    hangs: int = 0
    crashed: str | None = None

    def line(self) -> str:
        """One line for the terminal and docs/fuzzing.md."""
        extra = f", {self.hangs} hang(s)" if self.hangs else ""
        extra += f", CRASHED: {self.crashed}" if self.crashed else ""
        return (
            f"{self.name:17} {self.execs:>8} execs in {self.seconds:7.1f} s ({self.rate:>5} exec/s), "
            f"cov {self.cov_end} (+{self.cov_end - self.cov_start} over seeds), {self.new_units} new inputs, "
            f"{self.findings} finding(s){extra}"
        )


def _stat(text: str, name: str) -> int:
    m = re.search(rf"stat::{name}:\s*(\d+)", text)
    return int(m.group(1)) if m else 0


def _summarize(name: str, log: str, seconds: float, work: Path, returncode: int) -> Summary:
    s = Summary(name, seconds=seconds)
    s.execs = _stat(log, "number_of_executed_units")
    s.rate = _stat(log, "average_exec_per_sec") or (int(s.execs / seconds) if seconds else 0)
    s.new_units = _stat(log, "new_units_added")
    covs = [int(c) for c in re.findall(r"^#\d+\s+\S+\s+cov: (\d+)", log, re.MULTILINE)]
    inited = re.search(r"^#\d+\s+INITED cov: (\d+)", log, re.MULTILINE)
    s.cov_start = int(inited.group(1)) if inited else (covs[0] if covs else 0)
    s.cov_end = covs[-1] if covs else s.cov_start
    with contextlib.suppress(OSError, ValueError):
        s.findings = len(json.loads((work / _FINDINGS).read_text()))
    s.hangs = len(list((work / "artifacts").glob("timeout-*")))
    if returncode != 0 and not s.hangs:
        why = re.search(r"==\d+== ERROR: libFuzzer: (.*)", log) or re.search(r"^(\w+Error.*)$", log, re.MULTILINE)
        s.crashed = why.group(1) if why else f"exit status {returncode}"
    return s


def _run_target(name: str, args: argparse.Namespace, workdir: Path) -> Summary:
    work = workdir / name
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tests.fuzz.run", "--child", name, "--runs", str(args.runs)]
    cmd += ["--workdir", str(workdir), "--timeout", str(args.timeout), "--seed", str(args.seed)]
    if args.stop_on_finding:
        cmd.append("--stop-on-finding")
    started = time.monotonic()
    with (work / "libfuzzer.log").open("w") as log:
        proc = subprocess.run(cmd, cwd=_ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    return _summarize(name, (work / "libfuzzer.log").read_text(errors="replace"), seconds, work, proc.returncode)


def _minimize(name: str, work: Path) -> list[str]:
    from .minimize import minimize
    from .registry import TARGETS

    out = []
    with contextlib.suppress(OSError, ValueError):
        found = json.loads((work / _FINDINGS).read_text())
        for key, info in found.items():
            data = Path(info["input"]).read_bytes()
            try:
                small = minimize(TARGETS[name], data)
            except ValueError:
                small = data  # fails only in the fuzzing process (state, or a flaky finding): keep as found
            path = work / "findings" / (re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:80] + ".bin")
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(small)
            shown = small.hex() if len(small) <= 512 else f"{small[:256].hex()}... ({len(small)} bytes)"
            out.append(f"  {key} x{info['count']}: {info['error'][:160]}\n    minimized to {path}: {shown}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the targets; 0 when none had a finding, 1 otherwise, 2 on a bad command line."""
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=100_000, help="inputs per target (default 100000)")
    p.add_argument("--only", action="append", metavar="NAME", help="run only this target (repeatable)")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    p.add_argument("--workdir", help="keep corpora, logs and findings here (default: a temporary directory)")
    p.add_argument("--timeout", type=int, default=PER_INPUT_TIMEOUT, help="seconds per input before it is a hang")
    p.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    p.add_argument("--minimize", action="store_true", help="shrink each finding's input after the run")
    p.add_argument("--stop-on-finding", action="store_true", help="stop a target at its first finding")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    from .registry import TARGETS

    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:17} {t.parser}")
        return 0
    names = args.only or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        p.error(f"unknown target(s) {unknown}; --list shows them")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="attest-fuzz-run-"))
    print(f"fuzzing {len(names)} target(s), {args.runs} runs each; corpora, logs and findings in {workdir}", flush=True)
    summaries = []
    for name in names:
        s = _run_target(name, args, workdir)
        summaries.append(s)
        print(s.line(), flush=True)
        if args.minimize:
            for text in _minimize(name, workdir / name):
                print(text, flush=True)
    total = Summary(
        "TOTAL",
        execs=sum(s.execs for s in summaries),
        seconds=sum(s.seconds for s in summaries),
        findings=sum(s.findings for s in summaries),
        hangs=sum(s.hangs for s in summaries),
    )
    total.rate = int(total.execs / total.seconds) if total.seconds else 0
    crashed = [s.name for s in summaries if s.crashed]
    total.crashed = ", ".join(crashed) or None
    print(
        f"TOTAL: {total.execs} execs in {total.seconds:.0f} s over {len(summaries)} targets; "
        f"{total.findings} finding(s), {total.hangs} hang(s), {len(crashed)} crashed run(s)"
    )
    return 1 if total.findings or total.hangs or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
