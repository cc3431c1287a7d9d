"""Run ``attest sim dji`` as a real subprocess on a real pty, and attest it through the real CLI.

``start_dji(*args)`` starts ``python -m attest sim dji ARGS``, reads the pty path from the first line
of its stdout and returns the ``dji://`` target; ``DjiBench`` wraps the
create / sign / verify round trip with a fleet key and a private state
directory.
"""

from __future__ import annotations

import functools
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Fleet, Run, make_fleet, run_attest


@functools.cache
def sim_command() -> tuple[str, ...]:
    """The command that runs the simulator: ``attest sim dji``."""
    return (sys.executable, "-m", "attest", "sim", "dji")


@dataclass
class DjiSim:
    """One running simulated aircraft."""

    path: str
    proc: subprocess.Popen[str]

    @property
    def target(self) -> str:
        return f"dji://{self.path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def start_dji(*args: str, timeout: float = 15.0) -> DjiSim:
    """Start a simulator and wait for the pty path on its first stdout line."""
    proc = subprocess.Popen([*sim_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith("/dev/"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"sim dji did not print a pty path (got {line!r}); stderr: {err}")
    return DjiSim(line, proc)


@pytest.fixture
def sim_dji() -> Iterator[Callable[..., DjiSim]]:
    """A factory: ``sim_dji(*args)`` starts a simulator; all are killed at teardown."""
    sims: list[DjiSim] = []

    def start(*args: str) -> DjiSim:
        sim = start_dji(*args)
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        sim.stop()


@dataclass
class DjiBench:
    """A fleet key, trust policy and state directory for create/verify round trips."""

    dir: Path
    fleet: Fleet
    env: dict[str, str] = field(default_factory=dict)

    def attest(self, *args: str | os.PathLike[str], timeout: float = 120) -> Run:
        return run_attest(list(args), env=self.env, timeout=timeout)

    def create(self, target: str, *extra: str, name: str = "aircraft", out: str = "dji.json") -> Path:
        """Create and sign a baseline of ``target``; fails the test if either step fails."""
        path = self.dir / out
        r = self.attest(
            "baseline", "create", "--device", target, "--name", name, "--version", "1", "--out", path, "--force",
            "--timeout", "3", *extra,
        )  # fmt: skip
        assert r.code == 0, r.err
        r = self.attest("baseline", "sign", path, "--key", self.fleet.keys[0])
        assert r.code == 0, r.err
        return path

    def verify(self, target: str, baseline: Path, *extra: str, json: bool = True, timeout: float = 120) -> Run:
        """``attest verify`` (``--json`` unless told otherwise); ``timeout`` is the subprocess's hang guard."""
        return self.attest(
            "verify", "--device", target, "--baseline", baseline, "--trust", self.fleet.trust, "--timeout", "3",
            *(["--json"] if json else []), *extra, timeout=timeout,
        )  # fmt: skip


@pytest.fixture(scope="session")
def dji_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """One fleet key for the whole session."""
    return make_fleet(tmp_path_factory.mktemp("dji-fleet"))


@pytest.fixture
def dji_bench(tmp_path: Path, dji_fleet: Fleet) -> DjiBench:
    """The session's fleet key and a private state directory."""
    return DjiBench(tmp_path, dji_fleet, {"ATTEST_STATE_DIR": str(tmp_path / "state")})
