"""Flight-controller specifics on a real device: ``pytest hw_tests --device /dev/ttyACM0`` (or ``socket://HOST:5760``).

Measures the controller in-process with the MAVLink collector and checks
that identity fields are present, that the whole parameter set was read and
that FTP reads completed (files hashed by the dock, device CRCs agreeing).
Skipped for targets that are not serial ports or ``socket://`` URLs.

ArduPilot SITL (``socket://127.0.0.1:5760``) passes as a board does: it
reports board id 0 (its build has no APJ board id) and has no
``@SYS/flash.bin``; a board on a serial port must report its APJ board id.
See hw_tests/README.md.
"""

from __future__ import annotations

import pytest

from attest.collectors.mavlink import MavlinkCollector
from attest.model import FindingKind, Method
from attest.targets import TargetOptions, target_kind


@pytest.fixture
def evidence(device: str, request: pytest.FixtureRequest):
    if target_kind(device) != "serial":
        pytest.skip("not a flight-controller target (serial port or socket://)")
    opts = TargetOptions(baud=int(request.config.getoption("--baud")), timeout=15.0)
    collector = MavlinkCollector(device, opts)
    return collector.collect(collector.settings_extras(), nonce="00" * 32)


def _sitl_like(device: str, evidence) -> bool:
    """A simulator over TCP (ArduPilot SITL): ``socket://`` and no ``@SYS/flash.bin`` (that is ChibiOS-only)."""
    return device.startswith("socket://") and "fc/flash" not in evidence.components


def test_identity_fields_are_present(evidence, device):
    facts = evidence.device.facts
    for key in ("autopilot", "board_id", "flight_sw_version", "git_hash", "vendor_id", "product_id"):
        assert facts.get(key), (key, facts)
    assert int(facts["board_id"]) >= 0
    if facts["autopilot"] == "ardupilot" and not _sitl_like(device, evidence):
        # A board built from a hwdef always has an APJ board id; only SITL (and Linux boards) report 0.
        assert int(facts["board_id"]) > 0, f"an ArduPilot board on {device} reports board id 0: {facts}"


def test_parameter_read_completes(evidence):
    params = evidence.components["fc/params"]
    assert params.error is None
    assert params.attributes["count"] == params.attributes["total"] > 100
    assert sum(1 for k in evidence.values if k.startswith("param/")) == params.attributes["total"]


def test_ftp_reads_complete_and_crcs_agree(evidence):
    if int(evidence.device.facts["capabilities"], 16) & 32 == 0:
        pytest.skip("this controller offers no MAVLink FTP")
    files = [c for n, c in evidence.components.items() if n.startswith("ftp/")]
    assert all(c.error is None for c in files), [(c.name, c.error) for c in files if c.error]
    assert all(c.method is Method.DOCK_READ for c in files)
    assert not [f for f in evidence.findings if f.kind is FindingKind.DEVICE_LIED]


def test_application_is_measured_at_its_boot_address(evidence):
    """A real ArduPilot image names its boot address (AP_FWVersion pointers) and sits there in flash.bin.

    This checks on hardware the inference the dock relies on against stashed copies
    (attest.firmware.app_link_offset): if it fails here, fc/firmware is unreadable on this board.
    """
    firmware = evidence.components.get("fc/firmware")
    if firmware is None:
        pytest.skip("no @SYS/flash.bin on this controller (PX4, SITL)")
    assert firmware.error is None, firmware.error
    assert "flash_app" not in evidence.notes, evidence.notes["flash_app"]
    assert firmware.attributes["app_start"] % 1024 == 0
