"""Acceptance tests against a real device: ``pytest hw_tests --device TARGET``.

TARGET is anything ``attest verify --device`` takes: a directory, a serial
port (``/dev/ttyACM0``), ``socket://HOST:PORT`` (SITL) or ``ssh://USER@HOST``.
Without ``--device`` every test here is skipped, with that reason. How to run
them against a board or ArduPilot SITL: hw_tests/README.md.
"""

from __future__ import annotations

import pytest

from attest.targets import target_kind


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device", help="target to attest (directory, /dev/tty*, socket://, ssh://, adb://, adb+tcp://, dji://)"
    )
    parser.addoption("--identity", help="SSH private key for ssh:// targets")
    parser.addoption("--known-hosts", help="known_hosts file pinning the SSH host key")
    parser.addoption("--baud", default="115200", help="serial line rate")
    parser.addoption(
        "--include",
        action="append",
        help="what to measure (repeatable); for ssh:// targets at / the default is usr/**, etc/**, opt/**",
    )


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    target = request.config.getoption("--device")
    if not target:
        pytest.skip("no --device given: hardware acceptance tests need a real target")
    return str(target)


@pytest.fixture
def transport_args(request: pytest.FixtureRequest) -> list[str]:
    """The transport options given on the pytest command line, as attest arguments."""
    args = ["--baud", str(request.config.getoption("--baud"))]
    for opt in ("identity", "known_hosts"):
        value = request.config.getoption(f"--{opt.replace('_', '-')}")
        if value:
            args += [f"--{opt.replace('_', '-')}", str(value)]
    return args


@pytest.fixture
def selection_args(request: pytest.FixtureRequest) -> list[str]:
    """``--include`` options for ``baseline create`` (and, for a flight controller, its volatile parameters)."""
    includes = request.config.getoption("--include")
    target = str(request.config.getoption("--device") or "")
    if not includes and target.startswith("ssh://") and "/" not in target[len("ssh://") :]:
        # Never walk a live root with '**': /proc and /sys would never end.
        includes = ["usr/**", "etc/**", "opt/**"]
    args = [arg for pattern in includes or [] for arg in ("--include", pattern)]
    if target and target_kind(target) == "serial":
        # A running controller (a board or SITL) updates its statistics (STAT_RUNTIME, STAT_BOOTCNT...):
        # a baseline leaves them out, as docs/cli.md says, or a verify minutes later drifts.
        args += ["--exclude", "param/STAT_*"]
    return args
