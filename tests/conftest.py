"""Shared fixtures: run the real ``attest`` CLI in a subprocess, make keys and trust policies."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

# Fixture modules are both imported by tests and loaded as plugins (``pytest_plugins``):
# registered here, their asserts are rewritten whichever comes first.
pytest.register_assert_rewrite("adb_fixture", "dji_fixture", "dock_fixture", "fc_fixture", "sshd_fixture")

#: Where ../shared would be in a developer checkout; conformance tests skip without it.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run long fault and soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long fault/soak run: opt in with --run-slow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass
class Run:
    """A finished ``attest`` process."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_attest(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Run:
    """Run ``python -m attest ARGS`` and capture everything."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "attest", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_hw_tests(paths: Sequence[str], device: str, *, env: dict[str, str] | None = None) -> str:
    """Run ``pytest PATHS --device DEVICE`` as hw_tests/README.md tells a person to; its report (asserted to pass)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "--device", device, "-p", "no:randomly", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", "-rA"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    return report


@pytest.fixture
def attest(tmp_path: Path) -> Callable[..., Run]:
    """Run the CLI with a private state directory (``ATTEST_STATE_DIR``) under tmp_path."""

    def _run(*args: str | os.PathLike[str], **kw: Any) -> Run:
        env = {"ATTEST_STATE_DIR": str(tmp_path / "state"), **kw.pop("env", {})}
        return run_attest(args, env=env, **kw)

    return _run


@dataclass
class Fleet:
    """Fleet-manager keys and a trust policy listing them."""

    dir: Path
    keys: list[Path]
    trust: Path


def make_fleet(root: Path, n: int = 1, threshold: int = 1) -> Fleet:
    """Generate ``n`` keys with the real CLI and write a trust policy."""
    root.mkdir(parents=True, exist_ok=True)
    keys = []
    lines = [f"threshold = {threshold}"]
    for i in range(1, n + 1):
        key = root / f"fleet{i}.key"
        r = run_attest(["key", "generate", "--out", key])
        assert r.code == 0, r.err
        keys.append(key)
        lines += ["[[keys]]", f'id = "fleet-{i}"', f'public_key = "fleet{i}.pub"']
    trust = root / "trust.toml"
    trust.write_text("\n".join(lines) + "\n")
    return Fleet(root, keys, trust)


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """One fleet key, threshold 1."""
    return make_fleet(tmp_path / "fleet")


_Sim = TypeVar("_Sim", bound="SimProcess")


@dataclass
class SimProcess:
    """One running ``attest sim KIND``: what it printed alone on its first stdout line, and its process."""

    first_line: str
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        """Kill it (if still running) and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def start_simulator(kind: str, *args: str, prefix: str, timeout: float) -> SimProcess:
    """Run ``attest sim KIND ARGS`` and wait for its first stdout line, which must start with ``prefix``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest", "sim", kind, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith(prefix):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"sim {kind} did not print its target (got {line!r}); stderr: {err}")
    return SimProcess(line, proc)


def simulators(start: Callable[..., _Sim]) -> Iterator[Callable[..., _Sim]]:
    """The body of a simulator fixture: a factory that starts them, and every one killed at teardown."""
    sims: list[_Sim] = []

    def started(*args: str) -> _Sim:
        sim = start(*args)
        sims.append(sim)
        return sim

    yield started
    for sim in sims:
        sim.stop()
