"""Run ``attest sim fc`` as a real subprocess on a real pty, and attest it through the real CLI.

``sim_fc`` starts ``python -m attest sim fc ARGS``, reads the pty path from
the first line of its stdout, and kills every simulator it started at
teardown. ``FcBench`` wraps the create / sign / verify round trip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Fleet, Run, SimProcess, make_fleet, run_attest, simulators, start_simulator

#: Small flash keeps each test's flash.bin read short (the app area is then 128 KiB).
SMALL_FLASH = ("--flash-size", "256")


class Sim(SimProcess):
    """One running simulated controller; ``path`` is its pty."""

    @property
    def path(self) -> str:
        return self.first_line


def start_sim(*args: str, timeout: float = 15.0) -> Sim:
    """Start a simulator and wait for the pty path on its first stdout line."""
    started = start_simulator("fc", *args, prefix="/dev/", timeout=timeout)
    return Sim(started.first_line, started.proc)


@pytest.fixture
def sim_fc() -> Iterator[Callable[..., Sim]]:
    """A factory: ``sim_fc(*args)`` starts a simulator; all are killed at teardown."""
    yield from simulators(start_sim)


@dataclass
class FcBench:
    """A fleet key, trust policy and state directory for create/verify round trips."""

    dir: Path
    fleet: Fleet
    env: dict[str, str] = field(default_factory=dict)

    def attest(self, *args: str | os.PathLike[str], timeout: float = 120) -> Run:
        return run_attest(list(args), env=self.env, timeout=timeout)

    def create(self, device: str, *extra: str, name: str = "fc", out: str = "fc.baseline.json") -> Path:
        """Create and sign a baseline of ``device``; fails the test if either step fails."""
        path = self.dir / out
        r = self.attest(
            "baseline", "create", "--device", device, "--name", name, "--version", "1", "--out", path, "--force",
            "--timeout", "5", *extra,
        )  # fmt: skip
        assert r.code == 0, r.err
        r = self.attest("baseline", "sign", path, "--key", self.fleet.keys[0])
        assert r.code == 0, r.err
        return path

    def create_crc_only(self, source: str | Path, *, bootloader: bool = True, out: str = "crc-only.json") -> Path:
        """A signed baseline whose makers accepted a firmware pinned by its CRC alone.

        ``attest baseline create --accept-crc-only-firmware``; ``source`` is a
        release file (``Path``) or a device path (read with ``--bootloader``).
        """
        path = self.dir / out
        where = ["--firmware", str(source)] if isinstance(source, Path) else ["--device", source]
        extra = ["--bootloader"] if bootloader and not isinstance(source, Path) else []
        r = self.attest(
            "baseline", "create", *where, "--name", "crc-only", "--version", "1", "--out", path, "--force",
            "--timeout", "5", "--accept-crc-only-firmware", *extra,
        )  # fmt: skip
        assert r.code == 0, r.err
        assert "forged image with the same CRC-32 will pass" in r.err
        shown = self.attest("baseline", "show", path)
        assert "firmware:   CRC only (fc/app-crc crc32" in shown.out, shown.out
        r = self.attest("baseline", "sign", path, "--key", self.fleet.keys[0])
        assert r.code == 0, r.err
        return path

    def verify(self, device: str, baseline: Path, *extra: str, timeout: float = 120) -> Run:
        """``attest verify --json``; returns the finished run (``timeout``: the subprocess's limit)."""
        started = time.monotonic()
        r = self.attest(
            "verify", "--device", device, "--baseline", baseline, "--trust", self.fleet.trust, "--json", *extra,
            timeout=timeout,
        )  # fmt: skip
        r.err += f"\n(verify took {time.monotonic() - started:.2f} s)"
        return r


@pytest.fixture(scope="session")
def fc_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """One fleet key for the whole session (generating keys is not what these tests are about)."""
    return make_fleet(tmp_path_factory.mktemp("fc-fleet"))


@pytest.fixture
def fc_bench(tmp_path: Path, fc_fleet: Fleet) -> FcBench:
    """The session's fleet key and a private state directory."""
    return FcBench(tmp_path, fc_fleet, {"ATTEST_STATE_DIR": str(tmp_path / "state")})
