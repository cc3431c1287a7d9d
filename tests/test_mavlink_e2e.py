"""End to end: ``attest baseline create`` / ``attest verify`` against ``attest sim fc`` on a real pty."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["fc_fixture"]

#: Small flash keeps each flash.bin read short (an app area of 128 KiB).
SMALL_FLASH = ("--flash-size", "256")


def _kinds(run) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in run.json()["findings"]:
        out.setdefault(f["component"], set()).add(f["kind"])
    return out


def test_sim_prints_only_the_pty_path_on_its_first_line(sim_fc):
    """The first stdout line is the slave path alone, usable as --device at once."""
    sim = sim_fc(*SMALL_FLASH)
    assert sim.path.startswith("/dev/pts/")
    assert Path(sim.path).exists()


def test_baseline_of_a_controller_verifies_it(sim_fc, fc_bench):
    """A baseline made from a controller passes against that controller, with both methods recorded."""
    sim = sim_fc(*SMALL_FLASH)
    baseline = fc_bench.create(sim.path, "--exclude", "param/STAT_*", "--rule", "param/FENCE_ENABLE=1")
    r = fc_bench.verify(sim.path, baseline)
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["verdict"] == "pass"
    assert out["methods"] == ["device-reported", "dock-read"]
    assert out["device"]["facts"]["board_id"] == "140"
    assert out["device"]["facts"]["git_hash"] == "4f3d6a1b"
    shown = fc_bench.attest("baseline", "show", baseline)
    assert "device:     mavlink (board_id=140)" in shown.out
    # A flight controller's components have no owner: show says so rather than implying uid/gid are compared.
    assert "owner:      true (uid/gid compared); no component records an owner" in shown.out


def test_baseline_records_components_and_exclusions(sim_fc, fc_bench):
    """Parameters, scripts, ROMFS files and flash are named components; exclusions are stored."""
    import base64
    import json

    sim = sim_fc(*SMALL_FLASH)
    baseline = fc_bench.create(sim.path, "--exclude", "param/STAT_*")
    statement = json.loads(base64.b64decode(json.loads(baseline.read_text())["payload"]))
    pred = statement["predicate"]
    comps = pred["components"]
    for name in ("fc/identity", "fc/params", "fc/flash", "fc/firmware", "ftp/APM/scripts/patrol_geofence.lua",
                 "ftp/@ROMFS/hwdef.dat"):  # fmt: skip
        assert name in comps, name
    assert comps["fc/params"]["method"] == "device-reported"
    assert comps["fc/firmware"]["method"] == "dock-read"
    assert comps["fc/params"]["attributes"]["source"] == "ftp:@PARAM/param.pck"
    # STAT_* (4), then the volatile defaults it does not cover: BARO1/2_GND_PRESS, BARO_GND_TEMP, COMPASS_DEC,
    # SR0..SR6 stream rates (70)
    assert comps["fc/params"]["attributes"]["total"] - comps["fc/params"]["attributes"]["count"] == 78
    excludes = pred["collection"]["selection"]["exclude"]
    assert excludes[0] == "param/STAT_*"  # the user's first, then the volatile defaults STAT_* does not cover
    assert "param/STAT_RUNTIME" not in excludes
    assert {"param/BARO*_GND_PRESS", "param/SR[0-9]_*", "param/COMPASS_DEC"} <= set(excludes)
    assert comps["param/RTL_ALT"] == {
        "kind": "parameter",
        "method": "device-reported",
        "attributes": {"type": "int16", "value": "1500"},
    }
    assert comps["param/MOT_SPIN_ARM"]["attributes"] == {"type": "float32", "value": "0.1"}
    assert "param/STAT_RUNTIME" not in comps and "param/SR0_RAW_SENS" not in comps
    assert not any(n.startswith("ftp/@SYS") for n in comps), "volatile @SYS files are not measured"


def test_changed_safety_parameter_is_drift_naming_both_values(sim_fc, fc_bench):
    """A disabled geofence breaks the rule (out_of_range, expected and actual) and changes the hash."""
    good = sim_fc(*SMALL_FLASH)
    baseline = fc_bench.create(good.path, "--rule", "param/FENCE_ENABLE=1", "--rule", "param/RTL_ALT=1000..3000")
    bad = sim_fc(*SMALL_FLASH, "--param", "FENCE_ENABLE=0", "--param", "RTL_ALT=200")
    r = fc_bench.verify(bad.path, baseline)
    assert r.code == 1, r.out + r.err
    findings = {f["component"]: f for f in r.json()["findings"]}
    assert findings["param/FENCE_ENABLE"]["kind"] == "out_of_range"
    assert findings["param/FENCE_ENABLE"]["expected"] == "1"
    assert findings["param/FENCE_ENABLE"]["actual"] == 0
    assert findings["param/RTL_ALT"]["actual"] == 200
    assert findings["fc/params"]["kind"] == "modified"


def test_excluded_volatile_parameters_do_not_drift(sim_fc, fc_bench):
    """Counters excluded by glob may change freely; the exclusion came from the baseline."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path, "--exclude", "param/STAT_*")
    later = sim_fc(*SMALL_FLASH, "--param", "STAT_BOOTCNT=999", "--param", "STAT_RUNTIME=12345678")
    r = fc_bench.verify(later.path, baseline)
    assert r.code == 0, r.out + r.err


def test_modified_and_planted_scripts_are_drift(sim_fc, fc_bench, tmp_path):
    """The dock hashes every script it reads: a changed one is modified, a new one unexpected."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    evil = tmp_path / "evil.lua"
    evil.write_text("-- exfiltrate imagery\n")
    bad = sim_fc(
        *SMALL_FLASH, "--file", f"/APM/scripts/patrol_geofence.lua={evil}", "--file", f"/APM/scripts/x.lua={evil}"
    )
    r = fc_bench.verify(bad.path, baseline)
    assert r.code == 1, r.out + r.err
    kinds = _kinds(r)
    assert kinds["ftp/APM/scripts/patrol_geofence.lua"] == {"modified"}
    assert kinds["ftp/APM/scripts/x.lua"] == {"unexpected"}
    assert "fc/params" not in kinds


def test_lying_crc_is_a_critical_finding(sim_fc, fc_bench):
    """--lie-crc: the CRC the controller reports disagrees with the bytes it served."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--lie-crc").path, baseline)
    assert r.code == 1, r.out + r.err
    lied = [f for f in r.json()["findings"] if f["kind"] == "device_lied"]
    assert lied
    assert all(f["severity"] == "critical" for f in lied)
    assert all(f["detail"] == "device reported CRC does not match the bytes it served" for f in lied)
    assert {f["component"] for f in lied} >= {"ftp/APM/scripts/patrol_geofence.lua"}


def test_lying_crc_with_tampered_script_is_caught(sim_fc, fc_bench, tmp_path):
    """A liar serving a tampered script and reporting the clean copy's CRC is still modified and lying."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    evil = tmp_path / "evil.lua"
    evil.write_text("-- disable geofence\n")
    bad = sim_fc(*SMALL_FLASH, "--lie-crc", "--file", f"/APM/scripts/patrol_geofence.lua={evil}")
    r = fc_bench.verify(bad.path, baseline)
    assert r.code == 1
    kinds = _kinds(r)
    assert kinds["ftp/APM/scripts/patrol_geofence.lua"] == {"modified", "device_lied"}


def test_swapped_flash_claiming_approved_version_is_caught(sim_fc, fc_bench, tmp_path):
    """--flash with other code: identity still matches, the dock-read firmware does not."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    evil = tmp_path / "evil.apj"
    r = fc_bench.attest("sim", "firmware", "--out", evil, "--variant", "evil", *SMALL_FLASH)
    assert r.code == 0, r.err
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--flash", str(evil)).path, baseline)
    assert r.code == 1, r.out + r.err
    kinds = _kinds(r)
    assert kinds == {"fc/firmware": {"modified"}, "fc/flash": {"modified"}}
    assert r.json()["device"]["facts"]["git_hash"] == "4f3d6a1b"  # it still claims the approved build


def test_other_board_is_untrusted(sim_fc, fc_bench):
    """A baseline for board 140 says nothing about a PX4 board 53: exit 4, nothing else read."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH).path, baseline)
    assert r.code == 4, r.out + r.err
    assert "board_id is '53', baseline requires '140'" in r.json()["message"]


def test_pinned_airframe_rejects_another_airframe(sim_fc, fc_bench):
    """--pin-device records the uid: the same model with another uid is the wrong drone (exit 4)."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path, "--pin-device")
    same = fc_bench.verify(sim_fc(*SMALL_FLASH).path, baseline)
    assert same.code == 0, same.out + same.err
    other = fc_bench.verify(sim_fc(*SMALL_FLASH, "--uid", "00aa00bb00cc00dd00ee00ff").path, baseline)
    assert other.code == 4
    assert "uid" in other.json()["message"]


def test_px4_parameters_by_protocol(sim_fc, fc_bench):
    """PX4: no param.pck; PARAM_VALUE with bytewise integers; passes and drifts like ArduPilot."""
    baseline = fc_bench.create(sim_fc("--autopilot", "px4", *SMALL_FLASH).path, "--rule", "param/GF_ACTION=2..3")
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH).path, baseline)
    assert r.code == 1, r.out + r.err  # the default GF_ACTION breaks the rule...
    assert _kinds(r) == {"param/GF_ACTION": {"out_of_range"}}  # ...and nothing else differs
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--param", "GF_ACTION=2").path, baseline)
    assert _kinds(r) == {"fc/params": {"modified"}, "param/GF_ACTION": {"modified"}}
    named = next(f for f in r.json()["findings"] if f["component"] == "param/GF_ACTION")
    assert named["actual"] == 2 and named["detail"] == f"{named['expected']} → 2"


def test_parameter_hash_is_the_same_over_ftp_and_protocol(sim_fc, fc_bench):
    """param.pck and PARAM_VALUE decode to one canonical set: fc/params agrees across transports."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--no-ftp").path, baseline)
    assert r.code == 1
    kinds = _kinds(r)
    assert "fc/params" not in kinds  # same parameters, other transport
    assert kinds["fc/flash"] == {"missing"}  # without FTP nothing can be read by the dock


def test_unreachable_device_is_exit_3(fc_bench, tmp_path):
    """A port that does not exist cannot be attested."""
    r = fc_bench.attest(
        "baseline", "create", "--device", "/dev/ttyACM99", "--name", "x", "--version", "1", "--out", tmp_path / "b"
    )
    assert r.code == 3
    assert "/dev/ttyACM99" in r.err
