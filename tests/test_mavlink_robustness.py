"""A noisy, broken or hostile serial line never yields a pass for a tampered controller.

Each case runs ``attest verify`` against ``attest sim fc`` with one kind of
misbehaviour. For line faults an honest controller must still pass (the
dock recovers); a tampered one (changed parameter, changed script, swapped
flash and lying CRCs at once) must never pass. Stalls, reboots and FTP NAKs
must end in exit 3 with a message, never a traceback. A hostile controller
(repeating packets forever, dribbling data, listing names too long to
request, a flash stuffed with fake descriptors) must end in a logged exit 3
within a few timeouts: never a pass, a hang or a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import make_fleet, run_attest
from fc_fixture import start_sim

SMALL_FLASH = ("--flash-size", "256")
TIMEOUT = ("--timeout", "4")


@dataclass
class Setup:
    baseline: Path
    trust: Path
    env: dict[str, str]
    tamper: tuple[str, ...]
    dock_key: Path

    def verify(self, sim_args: tuple[str, ...], *extra: str | Path, timeout: float = 120) -> tuple[int, dict, str]:
        sim = start_sim(*SMALL_FLASH, *sim_args)
        try:
            r = run_attest(
                ["verify", "--device", sim.path, "--baseline", self.baseline, "--trust", self.trust, "--json",
                 *TIMEOUT, *extra],
                env=self.env,
                timeout=timeout,
            )  # fmt: skip
        finally:
            sim.stop()
        assert "Traceback" not in r.err, r.err
        return r.code, r.json(), r.err

    def logged(self, log_dir: Path) -> tuple[str | Path, ...]:
        """Options that sign the result with the dock key and append it to a log in ``log_dir``."""
        return ("--dock-key", self.dock_key, "--log", log_dir, "--origin", "dock.test")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """One signed baseline of an honest controller, and the arguments of a thoroughly tampered one."""
    root = tmp_path_factory.mktemp("robust")
    fleet = make_fleet(root / "fleet")
    env = {"ATTEST_STATE_DIR": str(root / "state")}
    evil_script = root / "evil.lua"
    evil_script.write_text("-- disable the geofence\n")
    evil_fw = root / "evil.apj"
    assert run_attest(["sim", "firmware", "--out", evil_fw, "--variant", "evil", *SMALL_FLASH]).code == 0
    sim = start_sim(*SMALL_FLASH)
    try:
        baseline = root / "fc.json"
        r = run_attest(
            ["baseline", "create", "--device", sim.path, "--name", "fc", "--version", "1", "--out", baseline,
             "--rule", "param/FENCE_ENABLE=1"],
            env=env,
        )  # fmt: skip
        assert r.code == 0, r.err
        assert run_attest(["baseline", "sign", baseline, "--key", fleet.keys[0]]).code == 0
    finally:
        sim.stop()
    tamper = (
        "--param", "FENCE_ENABLE=0", "--file", f"/APM/scripts/patrol_geofence.lua={evil_script}",
        "--flash", str(evil_fw), "--lie-crc",
    )  # fmt: skip
    dock_key = root / "dock.key"
    assert run_attest(["key", "generate", "--out", dock_key]).code == 0
    return Setup(baseline, fleet.trust, env, tamper, dock_key)


LINE_FAULTS = {
    "garbage": ("--garbage", "0.3"),
    "bad-checksums": ("--corrupt", "0.05"),
    "truncated-frames": ("--truncate", "0.05"),
    "dropped-frames": ("--drop", "0.05"),
    "mavlink1-frames": ("--mavlink1",),
    "other-systems": ("--other-system",),
}


@pytest.mark.parametrize("fault", LINE_FAULTS.values(), ids=LINE_FAULTS.keys())
def test_line_fault_honest_controller_still_passes(setup, fault):
    """The dock resynchronises, ignores MAVLink 1 and foreign systems, and re-requests what was lost."""
    code, out, err = setup.verify(fault)
    assert code == 0, (out, err)


@pytest.mark.parametrize("fault", LINE_FAULTS.values(), ids=LINE_FAULTS.keys())
def test_line_fault_tampered_controller_never_passes(setup, fault):
    """Under the same faults, every kind of tampering is still reported."""
    code, out, _ = setup.verify((*fault, *setup.tamper))
    assert code == 1, out
    found = {(f["component"], f["kind"]) for f in out["findings"]}
    assert ("param/FENCE_ENABLE", "out_of_range") in found
    assert ("ftp/APM/scripts/patrol_geofence.lua", "modified") in found
    assert ("ftp/APM/scripts/patrol_geofence.lua", "device_lied") in found
    assert ("fc/firmware", "modified") in found


def test_stall_is_exit_3_naming_what_was_awaited(setup):
    """A controller that goes silent mid-read: bounded wait, exit 3, the message says what was awaited."""
    code, out, _ = setup.verify(("--stall-after", "40"), "--timeout", "1.5")
    assert code == 3
    assert out["verdict"] == "error"
    assert "within 1.5 s" in out["message"]
    assert "param.pck" in out["message"]


def test_silent_port_is_exit_3_naming_the_heartbeat(setup):
    """Nothing ever answers: the first wait (for a heartbeat) is bounded too."""
    code, out, _ = setup.verify(("--stall-after", "0"), "--timeout", "1")
    assert code == 3
    assert "HEARTBEAT" in out["message"]


def test_reboot_mid_read_is_exit_3(setup):
    """A controller that resets during a read could come back as anything: the attestation stops."""
    code, out, _ = setup.verify(("--reboot-mid-read",))
    assert code == 3
    assert "reboot" in out["message"]


@pytest.mark.parametrize("code", range(1, 11))
def test_every_ftp_nak_code_on_a_tampered_controller_never_passes(setup, code):
    """Whatever NAK a controller answers reads with, the result is an error or drift, never a pass."""
    rc, out, _ = setup.verify(("--ftp-nak", str(code), *setup.tamper))
    assert rc in (1, 3), out
    assert out["verdict"] in ("drift", "error")


@pytest.mark.parametrize("spec", ["open:9", "open:10", "list:1", "list:10", "crc:10", "crc:4"])
def test_ftp_naks_on_other_operations_never_pass_a_tampered_controller(setup, spec):
    """Refused opens, listings (hiding files) or CRCs: drift or error, never a pass."""
    rc, out, _ = setup.verify(("--ftp-nak", spec, *setup.tamper))
    assert rc in (1, 3), out


def test_refusing_crcs_is_not_a_lie_and_bytes_still_count(setup):
    """A controller without CalcFileCRC32 (NAK Fail) still passes: the dock hashed the bytes itself."""
    rc, out, err = setup.verify(("--ftp-nak", "crc:1"))
    assert rc == 0, (out, err)


def test_hiding_the_scripts_directory_is_drift(setup):
    """A listing that says the scripts are gone: every approved script is missing."""
    rc, out, _ = setup.verify(("--ftp-nak", "list:10"))
    assert rc == 1
    assert {f["kind"] for f in out["findings"]} == {"missing"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault", [("--drop", "0.03"), ("--truncate", "0.03", "--garbage", "0.1")], ids=["drops", "truncation+noise"]
)
def test_lossy_115200_baud_line_still_passes_honest_and_catches_tampered(setup, fault):
    """Soak: a real line rate with losses, whole flash included (about 30 s each)."""
    code, out, err = setup.verify(("--baud", "115200", *fault), "--timeout", "5")
    assert code == 0, (out, err)
    code, out, _ = setup.verify(("--baud", "115200", *fault, *setup.tamper), "--timeout", "5")
    assert code == 1, out


# -- a hostile controller -------------------------------------------------------------
# Each case runs with --timeout 2 and a 30 s subprocess limit: before the fixes these
# hung the dock (or crashed it) and the subprocess limit failed the test.

HOSTILE = {
    "burst-packet-repeated-forever": (("--dup-burst",), "no FTP data for '@PARAM/param.pck'"),
    "parameter-repeated-forever": (("--no-ftp", "--dup-param"), "no PARAM_VALUE for 1000 of 1001 parameters"),
    "file-data-dribbled": (("--drip", "1"), "FTP read of '@PARAM/param.pck' too slow"),
    "parameters-dribbled": (("--no-ftp", "--drip", "1"), "parameter read too slow"),
}


@pytest.mark.parametrize(("sim_args", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_controller_cannot_hold_the_dock(setup, tmp_path, sim_args, message):
    """Repeats earn no time and a dribble falls below the floor rate: a logged exit 3 within a few timeouts."""
    started = time.monotonic()
    code, out, err = setup.verify(sim_args, "--timeout", "2", *setup.logged(tmp_path / "log"), timeout=30)
    elapsed = time.monotonic() - started
    assert code == 3, (out, err)
    assert out["verdict"] == "error"
    assert message in out["message"]
    assert out["log_index"] == 0, "the error is signed and logged like any result"
    assert elapsed < 12, f"took {elapsed:.1f} s"


def test_names_too_long_to_request_are_unreadable_not_a_crash(setup, tmp_path):
    """A listed file or directory whose path exceeds one FTP request: unreadable (exit 3, logged), no traceback."""
    code, out, err = setup.verify(("--long-name",), "--timeout", "2", *setup.logged(tmp_path / "log"), timeout=30)
    assert code == 3, (out, err)
    unreadable = {f["component"]: f["actual"] for f in out["findings"] if f["kind"] == "unreadable"}
    assert unreadable.keys() == {"ftp/APM/scripts/" + "a" * 228 + ".lua", "ftp/APM/scripts/" + "d" * 230}
    assert all("more than one FTP request carries (239)" in why for why in unreadable.values())
    assert out["log_index"] == 0


def test_flash_stuffed_with_fake_descriptors_is_refused(setup, tmp_path):
    """More app-descriptor magics than any honest flash holds: fc/firmware unreadable (exit 3), never searched."""
    code, out, err = setup.verify(
        ("--fake-descriptors", "1000"), "--timeout", "2", *setup.logged(tmp_path / "log"), timeout=30
    )
    assert code == 3, (out, err)
    unreadable = {f["component"]: f["actual"] for f in out["findings"] if f["kind"] == "unreadable"}
    assert unreadable.keys() == {"fc/firmware"}
    assert "more than 64 app-descriptor magics" in unreadable["fc/firmware"]
    assert out["log_index"] == 0


def test_wrong_controller_is_not_read_beyond_its_identity(setup):
    """A controller the baseline's selector does not match: untrusted (exit 4) with nothing but identity read."""
    code, out, err = setup.verify(("--autopilot", "px4", "--dup-param"), "--timeout", "2", timeout=30)
    assert code == 4, (out, err)
    assert "board_id is '53'" in out["message"]
    assert out["components"] == 1  # fc/identity: no parameters, files or flash of a device this baseline is not for
