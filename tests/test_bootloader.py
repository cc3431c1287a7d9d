"""``--bootloader``: reboot into the serial bootloader, read and CRC the application, boot back."""

from __future__ import annotations

import base64
import json

pytest_plugins = ["fc_fixture"]

SMALL_FLASH = ("--flash-size", "256")
BL = ("--bootloader", "--timeout", "4")


def _components(path):
    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))["predicate"]["components"]


def test_bootloader_baseline_verifies_and_controller_comes_back(sim_fc, fc_bench):
    """Create and verify through the bootloader; afterwards the firmware answers MAVLink again."""
    sim = sim_fc(*SMALL_FLASH)
    baseline = fc_bench.create(sim.path, *BL)
    comps = _components(baseline)
    assert comps["fc/app-crc"]["method"] == "device-reported"
    assert comps["fc/firmware"]["attributes"]["source"] == "bootloader READ_MULTI"
    r = fc_bench.verify(sim.path, baseline, *BL)
    assert r.code == 0, r.out + r.err
    # Back in the firmware: the same baseline verifies from @SYS/flash.bin without a reboot.
    r = fc_bench.verify(sim.path, baseline, "--timeout", "4")
    assert r.code == 0, r.out + r.err


def test_armed_controller_refuses_and_says_so(sim_fc, fc_bench):
    """The reboot is refused while armed: exit 3, and the message says to disarm."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path, *BL)
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--armed").path, baseline, *BL)
    assert r.code == 3
    assert "armed" in r.json()["message"]


def test_bootloader_crc_lie_and_swapped_application_are_caught(sim_fc, fc_bench, tmp_path):
    """GET_CRC reporting the clean image while the flash holds other code: modified and device_lied."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path, *BL)
    evil = tmp_path / "evil.apj"
    assert fc_bench.attest("sim", "firmware", "--out", evil, "--variant", "evil", *SMALL_FLASH).code == 0
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--flash", str(evil), "--lie-crc").path, baseline, *BL)
    assert r.code == 1, r.out + r.err
    found = {(f["component"], f["kind"]) for f in r.json()["findings"]}
    assert ("fc/firmware", "modified") in found
    assert ("fc/app-crc", "device_lied") in found


def test_px4_bootloader_offers_only_the_crc(sim_fc, fc_bench):
    """PX4-Bootloader has no READ_MULTI: a baseline refuses to rest on the CRC alone unless that is accepted."""
    sim = sim_fc("--autopilot", "px4", *SMALL_FLASH)
    r = fc_bench.attest(
        "baseline", "create", "--device", sim.path, "--name", "fc", "--version", "1",
        "--out", fc_bench.dir / "refused.json", *BL,
    )  # fmt: skip
    assert r.code == 3, r.err
    assert "--accept-crc-only-firmware" in r.err
    baseline = fc_bench.create_crc_only(sim.path)
    comps = _components(baseline)
    assert comps["fc/app-crc"]["attributes"]["evidence"] == "CRC only"
    assert "fc/firmware" not in comps
    r = fc_bench.verify(sim.path, baseline, *BL)
    assert r.code == 0, r.out + r.err
    assert r.json()["notes"]["firmware_evidence"].startswith("CRC only")


def test_app_area_stuffed_with_fake_descriptors_is_refused(sim_fc, fc_bench):
    """READ_MULTI served more descriptor magics than any honest area holds: unreadable (exit 3), not searched."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path, *BL)
    sim = sim_fc(*SMALL_FLASH, "--fake-descriptors", "1000")
    r = fc_bench.verify(sim.path, baseline, "--bootloader", "--timeout", "2", timeout=30)
    assert r.code == 3, r.out + r.err
    assert "Traceback" not in r.err
    unreadable = {f["component"]: f["actual"] for f in r.json()["findings"] if f["kind"] == "unreadable"}
    assert unreadable.keys() == {"fc/firmware", "fc/app-crc"}
    assert all("bootloader app area: more than 64 app-descriptor magics" in why for why in unreadable.values())


def test_bootloader_that_never_stops_talking_cannot_hold_the_dock(sim_fc, fc_bench):
    """A bootloader refusing READ_MULTI and then streaming noise: draining it is bounded too (exit 3, no hang)."""
    # A baseline that asks for the application's bytes, so the dock sends READ_MULTI (a .px4 release's).
    px4 = fc_bench.dir / "px4.px4"
    assert fc_bench.attest("sim", "firmware", "--out", px4, "--autopilot", "px4", *SMALL_FLASH).code == 0
    baseline = fc_bench.dir / "px4.json"
    r = fc_bench.attest("baseline", "create", "--firmware", px4, "--name", "px4", "--version", "1", "--out", baseline)
    assert r.code == 0, r.err
    assert fc_bench.attest("baseline", "sign", baseline, "--key", fc_bench.fleet.keys[0]).code == 0
    sim = sim_fc("--autopilot", "px4", *SMALL_FLASH, "--bl-chatter")
    r = fc_bench.verify(sim.path, baseline, "--bootloader", "--timeout", "2", timeout=30)
    assert r.code == 3, r.out + r.err
    assert "Traceback" not in r.err
    assert "bootloader" in r.json()["message"]
