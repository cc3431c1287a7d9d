"""``hw_tests`` pass against SITL as against a board (issue 10, item 5).

Runs ``pytest hw_tests --device socket://127.0.0.1:PORT`` exactly as
hw_tests/README.md tells a person to run it against ArduPilot SITL, with
``tests/sitl_standin.py`` in SITL's place: board id 0, no ``@SYS/flash.bin``,
TCP. Before the fix ``test_identity_fields_are_present`` failed on board id 0.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_hw_tests

from attest.collectors.mavlink import MavlinkCollector
from attest.targets import TargetOptions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sitl() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "sitl_standin.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"the SITL stand-in did not start (printed {port!r})"
        yield f"socket://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_stand_in_presents_itself_as_sitl(sitl: str) -> None:
    """What the hw_tests must accept: board id 0 and no flash, over TCP."""
    collector = MavlinkCollector(sitl, TargetOptions(timeout=10.0))
    evidence = collector.collect(collector.settings_extras(), nonce="00" * 32)
    assert evidence.device.facts["autopilot"] == "ardupilot"
    assert evidence.device.facts["board_id"] == "0"
    assert "fc/flash" not in evidence.components and "fc/firmware" not in evidence.components


def test_hw_tests_pass_against_sitl(sitl: str) -> None:
    report = run_hw_tests(["hw_tests"], sitl)
    for test in (
        "test_acceptance.py::test_baseline_from_device_then_verify_passes",
        "test_mavlink_hw.py::test_identity_fields_are_present",
        "test_mavlink_hw.py::test_parameter_read_completes",
        "test_mavlink_hw.py::test_ftp_reads_complete_and_crcs_agree",
    ):
        assert f"PASSED hw_tests/{test}" in report, report
    assert "no @SYS/flash.bin on this controller" in report  # the flash test is skipped, saying why
