"""Run ``attest sim android`` as a real subprocess on a loopback port, and connect to it with the dock's client.

``sim_android`` starts ``python -m attest sim android ARGS``, reads the target from the first line
of its stdout, and kills every simulator it started at teardown.
``dock_key`` is a fresh dock ADB key in a temporary state directory.
"""

from __future__ import annotations

import functools
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attest.transports.adb import AdbConnection, AdbLimits, AdbTarget, DockAdbKey


@functools.cache
def sim_command() -> tuple[str, ...]:
    """The command that runs the simulator: ``attest sim android``."""
    return (sys.executable, "-m", "attest", "sim", "android")


@dataclass
class AndroidSim:
    """One running simulated controller."""

    target: str
    proc: subprocess.Popen[str]

    @property
    def host_port(self) -> str:
        return self.target.removeprefix("adb+tcp://")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def start_sim(*args: str, timeout: float = 30.0) -> AndroidSim:
    """Start a simulator and wait for the target on its first stdout line."""
    proc = subprocess.Popen([*sim_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith("adb+tcp://"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"sim android did not print a target (got {line!r}); stderr: {err}")
    return AndroidSim(line, proc)


@pytest.fixture
def sim_android() -> Iterator[Callable[..., AndroidSim]]:
    """A factory: ``sim_android(*args)`` starts a simulator; all are killed at teardown."""
    sims: list[AndroidSim] = []

    def start(*args: str) -> AndroidSim:
        sim = start_sim(*args)
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        sim.stop()


@pytest.fixture
def dock_key(tmp_path: Path) -> DockAdbKey:
    """The dock's ADB key, created in a fresh state directory."""
    return DockAdbKey.load_or_create(tmp_path / "state")


def connect(sim: AndroidSim, key: DockAdbKey, **limits: float) -> AdbConnection:
    """Open the dock's connection to ``sim`` with short waits (tests)."""
    lim = AdbLimits(**{"timeout": 5.0, "auth_wait": 2.0, **limits})
    return AdbConnection.open(AdbTarget.parse(sim.target), key, lim)
