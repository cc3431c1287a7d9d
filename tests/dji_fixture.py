"""Run ``attest sim dji`` as a real subprocess on a real pty, and attest it through the real CLI.

``start_dji(*args)`` starts ``python -m attest sim dji ARGS``, reads the pty path from the first line
of its stdout and returns the ``dji://`` target; ``DjiBench`` wraps the
create / sign / verify round trip with a fleet key and a private state
directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Fleet, Run, SimProcess, make_fleet, run_attest, simulators, start_simulator


class DjiSim(SimProcess):
    """One running simulated aircraft; ``path`` is its pty."""

    @property
    def path(self) -> str:
        return self.first_line

    @property
    def target(self) -> str:
        return f"dji://{self.path}"


def start_dji(*args: str, timeout: float = 15.0) -> DjiSim:
    """Start a simulator and wait for the pty path on its first stdout line."""
    started = start_simulator("dji", *args, prefix="/dev/", timeout=timeout)
    return DjiSim(started.first_line, started.proc)


@pytest.fixture
def sim_dji() -> Iterator[Callable[..., DjiSim]]:
    """A factory: ``sim_dji(*args)`` starts a simulator; all are killed at teardown."""
    yield from simulators(start_dji)


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
