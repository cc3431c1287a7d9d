"""``hw_tests`` for Android controllers pass against the simulator as against a real controller.

Runs ``pytest hw_tests --device adb+tcp://127.0.0.1:PORT`` as hw_tests/README.md
tells a person to run it, with ``attest sim android`` (serving the demo's
signed flight app, so the ``apksigner`` cross-check has real certificates) in
the controller's place. Without this, a change that breaks the hardware
tests would only be found at the next session with a real controller.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import run_hw_tests

if TYPE_CHECKING:
    from adb_fixture import AndroidSim

pytest_plugins = ["adb_fixture"]

ROOT = Path(__file__).resolve().parents[1]


def test_android_hw_tests_pass_against_the_simulator(sim_android: Callable[..., AndroidSim], tmp_path: Path) -> None:
    sim = sim_android("--apk-dir", str(ROOT / "baselines" / "android-apks"))
    state = {"ATTEST_STATE_DIR": str(tmp_path / "state")}
    report = run_hw_tests(["hw_tests/test_android_hw.py"], sim.target, env=state)
    for test in (
        "test_the_dock_connects_and_is_authorised",
        "test_device_facts_are_measured",
        "test_every_package_is_measured_with_dock_read_apks_and_certificates",
        "test_a_baseline_with_fleet_rules_verifies_against_the_same_controller",
    ):
        assert f"PASSED hw_tests/test_android_hw.py::{test}" in report, report
    if shutil.which("apksigner"):
        assert "PASSED hw_tests/test_android_hw.py::test_certificates_agree_with_apksigner" in report, report
