"""Baselines from release files (.apj, .px4) verify the live controller that runs the image.

``attest baseline create --firmware FILE`` (through
:class:`attest.collectors.FirmwareImageCollector`), then sign and verify
through the real CLI against ``attest sim fc``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.collectors import FirmwareImageCollector
from attest.errors import ConfigError
from attest.firmware import bootloader_crc, raw_crc32
from attest.selection import Selection

pytest_plugins = ["fc_fixture"]

SMALL_FLASH = ("--flash-size", "256")


def _image_baseline(fc_bench, image: Path) -> Path:
    """``attest baseline create --firmware IMAGE``, then sign it."""
    out = image.with_suffix(".baseline.json")
    r = fc_bench.attest("baseline", "create", "--firmware", image, "--name", "release", "--version", "1", "--out", out)
    assert r.code == 0, r.err
    r = fc_bench.attest("baseline", "sign", out, "--key", fc_bench.fleet.keys[0])
    assert r.code == 0, r.err
    return out


def _release(fc_bench, tmp_path: Path, name: str, *args: str) -> Path:
    path = tmp_path / name
    r = fc_bench.attest("sim", "firmware", "--out", path, *SMALL_FLASH, *args)
    assert r.code == 0, r.err
    return path


def test_apj_records_hash_size_board_git_and_bootloader_crc(fc_bench, tmp_path):
    """The image's SHA-256, size, board id, git identity and padded bootloader CRC are recorded."""
    apj = _release(fc_bench, tmp_path, "ArduCopter.apj")
    collector = FirmwareImageCollector(apj)
    img = collector.image.image
    ev = collector.collect({"selection": Selection().to_json(), **collector.settings_extras()}, nonce="00")
    fw, crc = ev.components["fc/firmware"], ev.components["fc/app-crc"]
    assert fw.attributes["size"] == len(img)
    assert fw.attributes["board_id"] == 140
    assert fw.attributes["git_hash"] == "4f3d6a1b"
    assert crc.attributes["bootloader_crc"] == f"{bootloader_crc(img, 128 * 1024):08x}"
    assert crc.attributes["crc32"] == f"{raw_crc32(img):08x}"
    assert collector.selector(ev) == {"board_id": "140"}
    with pytest.raises(ConfigError):
        collector.selector(ev, pin_instance=True)


def test_apj_baseline_verifies_the_controller_from_flash_and_bootloader(sim_fc, fc_bench, tmp_path):
    """Same image on the controller: pass from @SYS/flash.bin and through the bootloader."""
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "ArduCopter.apj"))
    sim = sim_fc(*SMALL_FLASH)
    r = fc_bench.verify(sim.path, baseline)
    assert r.code == 0, r.out + r.err
    r = fc_bench.verify(sim.path, baseline, "--bootloader", "--timeout", "4")
    assert r.code == 0, r.out + r.err


def test_apj_baseline_catches_another_image(sim_fc, fc_bench, tmp_path):
    """A controller running other code (claiming the same version) drifts on both components."""
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "ArduCopter.apj"))
    evil = _release(fc_bench, tmp_path, "evil.apj", "--variant", "evil")
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--flash", str(evil)).path, baseline)
    assert r.code == 1, r.out + r.err
    assert {f["component"] for f in r.json()["findings"]} == {"fc/firmware", "fc/app-crc"}


def test_px4_image_baseline_pins_the_bytes_so_a_px4_bootloader_cannot_pass_it(sim_fc, fc_bench, tmp_path):
    """A .px4 baseline hashes the image; PX4-Bootloader cannot read it back: exit 3 saying so, never a pass."""
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "px4_fmu-v6x.px4", "--autopilot", "px4"))
    sim = sim_fc("--autopilot", "px4", *SMALL_FLASH)
    r = fc_bench.verify(sim.path, baseline, "--bootloader", "--timeout", "4")
    assert r.code == 3, r.out + r.err
    assert "cannot read the application back" in r.json()["message"]


def test_px4_crc_only_baseline_verifies_through_the_bootloader_and_says_crc_only(sim_fc, fc_bench, tmp_path):
    """Accepted CRC-only: the bootloader's CRC decides, and the result says CRC only."""
    px4 = _release(fc_bench, tmp_path, "px4_fmu-v6x.px4", "--autopilot", "px4")
    baseline = fc_bench.create_crc_only(px4)
    sim = sim_fc("--autopilot", "px4", *SMALL_FLASH)
    r = fc_bench.verify(sim.path, baseline, "--bootloader", "--timeout", "4")
    assert r.code == 0, r.out + r.err
    assert r.json()["notes"]["firmware_evidence"].startswith("CRC only")
    evil = _release(fc_bench, tmp_path, "evil.px4", "--autopilot", "px4", "--variant", "evil")
    bad = sim_fc("--autopilot", "px4", *SMALL_FLASH, "--flash", str(evil))
    r = fc_bench.verify(bad.path, baseline, "--bootloader", "--timeout", "4")
    assert r.code == 1
    assert {f["component"] for f in r.json()["findings"]} == {"fc/app-crc"}


def test_image_for_another_board_is_untrusted(sim_fc, fc_bench, tmp_path):
    """An ArduPilot image's baseline does not apply to the PX4 board: exit 4."""
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "ArduCopter.apj"))
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH).path, baseline)
    assert r.code == 4


def test_bad_image_file_is_exit_2(fc_bench, tmp_path):
    """baseline create --firmware with a file that is not an image: a usage error naming it."""
    bad = tmp_path / "x.apj"
    bad.write_text("{}")
    r = fc_bench.attest(
        "baseline", "create", "--firmware", bad, "--name", "r", "--version", "1", "--out", tmp_path / "o"
    )
    assert r.code == 2
    assert "x.apj" in r.err


def test_bad_image_file_is_a_config_error(tmp_path):
    """Not a firmware file: ConfigError (exit 2) naming the file."""
    bad = tmp_path / "x.apj"
    bad.write_text('{"magic": "nope"}')
    with pytest.raises(ConfigError, match=r"x\.apj"):
        FirmwareImageCollector(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        FirmwareImageCollector(tmp_path / "missing.apj")
