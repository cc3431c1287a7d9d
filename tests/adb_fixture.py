"""Run ``attest sim android`` as a real subprocess on a loopback port, and connect to it with the dock's client.

``sim_android`` starts ``python -m attest sim android ARGS``, reads the target from the first line
of its stdout, and kills every simulator it started at teardown.
``dock_key`` is a fresh dock ADB key in a temporary state directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SimProcess, simulators, start_simulator

from attest.transports.adb import AdbConnection, AdbLimits, AdbTarget, DockAdbKey


class AndroidSim(SimProcess):
    """One running simulated controller; ``target`` is ``adb+tcp://HOST:PORT``."""

    @property
    def target(self) -> str:
        return self.first_line

    @property
    def host_port(self) -> str:
        return self.target.removeprefix("adb+tcp://")


def start_sim(*args: str, timeout: float = 30.0) -> AndroidSim:
    """Start a simulator and wait for the target on its first stdout line."""
    started = start_simulator("android", *args, prefix="adb+tcp://", timeout=timeout)
    return AndroidSim(started.first_line, started.proc)


@pytest.fixture
def sim_android() -> Iterator[Callable[..., AndroidSim]]:
    """A factory: ``sim_android(*args)`` starts a simulator; all are killed at teardown."""
    yield from simulators(start_sim)


@pytest.fixture
def dock_key(tmp_path: Path) -> DockAdbKey:
    """The dock's ADB key, created in a fresh state directory."""
    return DockAdbKey.load_or_create(tmp_path / "state")


def connect(sim: AndroidSim, key: DockAdbKey, **limits: float) -> AdbConnection:
    """Open the dock's connection to ``sim`` with short waits (tests)."""
    lim = AdbLimits(**{"timeout": 5.0, "auth_wait": 2.0, **limits})
    return AdbConnection.open(AdbTarget.parse(sim.target), key, lim)
