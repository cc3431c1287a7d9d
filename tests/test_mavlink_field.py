"""What real flight controllers do that the bench did not (issue 10, items 1-3).

1. A ground station that opened a file over FTP and went away holds ArduPilot's one file slot; the
   dock recovers by itself (falls quiet past the 3 s inactivity timeout, then asks without a reset)
   and never blames a reboot without evidence.
2. Parameters a healthy controller changes by itself (STAT_RUNTIME, STAT_BOOTCNT, ground pressure,
   COMPASS_DEC, stream rates) are left out of a default baseline, shown by ``baseline show``, and kept
   with ``--include``.
3. Each changed, added or removed parameter is its own finding with its old and new value.

The end-to-end cases run the real CLI against ``attest sim fc`` on a real pty
(``--stale-session``, ``--volatile``); the sim's session rules and volatile
parameters are also checked on their own with an injected clock.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import struct
import time
import tty

import pytest

from attest.mavlink import (
    VOLATILE_PARAMS,
    FtpBusyError,
    FtpClient,
    FtpOp,
    Link,
    Nak,
    Opcode,
    creation_selection,
    value_text,
)
from attest.model import Component, FindingKind, Method
from attest.selection import Selection
from attest.sim import default_params
from attest.sim.fc_ftp import SESSION_TIMEOUT, STALE_SESSION, FtpServer, VirtualFile
from attest.sim.fc_volatile import VolatileParams
from attest.transports import SerialTransport
from attest.verifier import compare_components

pytest_plugins = ["fc_fixture"]

SMALL_FLASH = ("--flash-size", "256")
TIMEOUT = ("--timeout", "4")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _findings(run) -> dict[str, dict]:
    """Findings by component (the last one wins: a rule finding follows a component finding)."""
    return {f["component"]: f for f in run.json()["findings"]}


def _kinds(run) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in run.json()["findings"]:
        out.setdefault(f["component"], set()).add(f["kind"])
    return out


# -- 1. a stale FTP session: the simulator's ArduPilot rules, with a clock the test moves ---------------


def _server(clock: _Clock) -> FtpServer:
    files = {"@PARAM/param.pck": VirtualFile(lambda: b"\x1b\x67" + bytes(300)), "/x.lua": VirtualFile(lambda: b"x")}
    return FtpServer(files, stale_session=True, clock=clock)


def _ask(server: FtpServer, seq: int, opcode: int, data: bytes = b"", session: int = 0) -> FtpOp:
    (reply,) = list(server.handle(FtpOp(seq, session, opcode, data=data)))
    return reply


def test_sim_stale_slot_refuses_a_client_that_keeps_asking_and_resets_do_not_free_it() -> None:
    """ArduPilot 4.x: a reset from another session is ACKed without closing; every reply restarts the 3 s timer."""
    clock = _Clock()
    server = _server(clock)
    seq = 0
    for _ in range(10):  # a dock that resets and opens every 2 s, run after run: refused forever
        clock.now += 2.0
        assert _ask(server, seq, Opcode.RESET_SESSIONS).opcode == Opcode.ACK
        reply = _ask(server, seq + 1, Opcode.OPEN_FILE_RO, b"@PARAM/param.pck")
        assert reply.nak_code() == Nak.INVALID_SESSION
        assert _ask(server, seq + 2, Opcode.LIST_DIRECTORY, b"/").nak_code() == Nak.INVALID_SESSION
        seq += 3
    clock.now += SESSION_TIMEOUT + 1  # quiet long enough, but a reset first: its ACK restarts the timer
    assert _ask(server, seq, Opcode.RESET_SESSIONS).opcode == Opcode.ACK
    assert _ask(server, seq + 1, Opcode.OPEN_FILE_RO, b"@PARAM/param.pck").nak_code() == Nak.INVALID_SESSION
    # The owner itself could still close it; the dock is not the owner.
    assert _ask(server, seq + 2, Opcode.TERMINATE_SESSION).opcode == Opcode.ACK
    assert _ask(server, seq + 3, Opcode.OPEN_FILE_RO, b"@PARAM/param.pck").nak_code() == Nak.INVALID_SESSION


def test_sim_stale_slot_is_taken_over_after_the_timeout_without_traffic() -> None:
    """No reply for 3 s: the next request from another session (not a reset) closes the stale file and is served."""
    clock = _Clock()
    server = _server(clock)
    assert _ask(server, 0, Opcode.OPEN_FILE_RO, b"@PARAM/param.pck").nak_code() == Nak.INVALID_SESSION
    clock.now += SESSION_TIMEOUT - 0.1
    assert _ask(server, 1, Opcode.OPEN_FILE_RO, b"@PARAM/param.pck").nak_code() == Nak.INVALID_SESSION
    clock.now += SESSION_TIMEOUT
    opened = _ask(server, 2, Opcode.OPEN_FILE_RO, b"@PARAM/param.pck")
    assert opened.opcode == Opcode.ACK and opened.session == 0
    # Now the dock owns the slot: the gone client's session is the one refused.
    clock.now += 0.5
    assert _ask(server, 3, Opcode.READ_FILE, session=STALE_SESSION).nak_code() == Nak.INVALID_SESSION


def test_sim_read_without_an_open_file_is_file_not_found_as_after_a_reboot() -> None:
    """ArduPilot answers a read with no file open (fd == -1) FileNotFound; the dock takes that as a lost file."""
    server = FtpServer({"/x.lua": VirtualFile(lambda: b"x")}, clock=_Clock())
    assert _ask(server, 0, Opcode.READ_FILE).nak_code() == Nak.FILE_NOT_FOUND


# -- 1. a stale FTP session: the dock's client against the simulator on a pty ---------------------------


def test_client_takes_a_stale_slot_over_by_falling_quiet(sim_fc) -> None:
    """FtpClient: reset (ACKed, nothing closed), open refused, quiet past the timeout, open again: the whole file."""
    sim = sim_fc(*SMALL_FLASH, "--stale-session")
    transport = SerialTransport.open(sim.path, baud=115200, timeout=4)
    try:
        link = Link(transport, timeout=4)
        link.find_autopilot()
        ftp = FtpClient(link)
        assert ftp.reset() is True  # acknowledged, yet the slot is still the other station's
        data = ftp.read("@PARAM/param.pck", exact_size=False)
        assert data[:2] == b"\x1b\x67"
        assert ftp.takeover is not None and "taken over after" in ftp.takeover
        assert ftp.read("/APM/scripts/patrol_geofence.lua").startswith(b"-- patrol_geofence.lua")
    finally:
        transport.close()


def test_client_gives_up_once_and_does_not_blame_a_reboot(sim_fc) -> None:
    """A slot that stays busy (every open refused INVALID_SESSION): one quiet period, then FtpBusyError; no reboot."""
    sim = sim_fc(*SMALL_FLASH, "--ftp-nak", "open:4")
    transport = SerialTransport.open(sim.path, baud=115200, timeout=4)
    try:
        link = Link(transport, timeout=4)
        link.find_autopilot()
        ftp = FtpClient(link)
        with pytest.raises(FtpBusyError, match="another client holds the controller's FTP session") as first:
            ftp.read("@PARAM/param.pck", exact_size=False)
        assert "still after" in str(first.value)
        with pytest.raises(FtpBusyError) as second:
            ftp.read("/APM/scripts/patrol_geofence.lua")
        assert "still after" not in str(second.value)  # no second quiet period: the recovery is bounded
        assert "reboot" not in str(first.value) + str(second.value)
    finally:
        transport.close()


def test_verify_recovers_from_a_stale_ftp_session(sim_fc, fc_bench) -> None:
    """The issue's lock-out: a baseline verifies against a controller whose FTP slot another station left open."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--stale-session").path, baseline, *TIMEOUT)
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert "taken over after" in out["notes"]["ftp_session"]
    assert "param_pck_fallback" not in out["notes"]  # param.pck itself was read, over FTP


def test_verify_against_a_slot_that_stays_busy_is_an_error_that_names_the_other_client(sim_fc, fc_bench) -> None:
    """Parameters fall back to PARAM_VALUE; files and flash are unreadable (exit 3); nothing says reboot."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--ftp-nak", "open:4").path, baseline, *TIMEOUT)
    assert r.code == 3, r.out + r.err
    out = r.json()
    assert "another client holds the controller's FTP session" in out["message"]
    assert "another client" in out["notes"]["param_pck_fallback"]
    kinds = _kinds(r)
    assert not any(c.startswith("param/") or c == "fc/params" for c in kinds)  # read by PARAM_VALUE: all equal
    assert kinds["fc/flash"] == {"unreadable"}
    assert "reboot" not in r.out


def test_lost_file_mid_read_blames_a_reboot_only_with_evidence(sim_fc, fc_bench) -> None:
    """INVALID_SESSION mid-read on a controller that did not reboot: no reboot claimed; a real reboot: said so."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--ftp-nak", "read:4").path, baseline, *TIMEOUT)
    assert r.code == 3, r.out + r.err
    message = r.json()["message"]
    assert "dropped the open file mid-read (NAK INVALID_SESSION)" in message
    assert "not a reboot" in message and "rebooted" not in message and "reboot?" not in message
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--reboot-mid-read").path, baseline, *TIMEOUT)
    assert r.code == 3, r.out + r.err
    message = r.json()["message"]
    assert "since boot, less than" in message and "it rebooted" in message


# -- 2. volatile parameters ---------------------------------------------------------------------------


def test_volatile_globs_match_only_their_own_autopilots_parameters() -> None:
    """Every simulated parameter a default baseline leaves out is named by an entry of its own autopilot."""
    selection = creation_selection(None, None)
    for autopilot in ("ardupilot", "px4"):
        own = [v for v in VOLATILE_PARAMS if v.autopilot == autopilot]
        for p in default_params(autopilot):
            excluded = not selection.selects(f"param/{p.name}")
            named = any(Selection(include=(v.exclude,)).selects(f"param/{p.name}") for v in own)
            assert excluded == named, (autopilot, p.name)
    for kept in ("SRTL_POINTS", "SRTL_ACCURACY", "MAV1_OPTIONS", "MAV_SYS_ID", "MAV_0_RATE", "STAT_RESET"):
        assert selection.selects(f"param/{kept}"), kept
    for gone in ("SR0_RAW_SENS", "SR9_EXTRA3", "MAV1_RAW_SENS", "MAV10_ADSB", "BARO3_GND_PRESS", "GND_ABS_PRESS2"):
        assert not selection.selects(f"param/{gone}"), gone
    assert all(v.source and v.why for v in VOLATILE_PARAMS)


def test_include_keeps_a_volatile_entry_without_narrowing_the_baseline() -> None:
    """--include param/STAT_RUNTIME: STAT_RUNTIME measured, everything else still; a real narrowing include narrows."""
    s = creation_selection(["param/STAT_RUNTIME"], None)
    assert s.include == ("**", "param/STAT_RUNTIME")
    assert s.selects("param/STAT_RUNTIME") and s.selects("fc/firmware") and not s.selects("param/STAT_BOOTCNT")
    s = creation_selection(["param/SR0_RAW_SENS"], None)  # names a member: the whole SRn_ entry is kept
    assert s.selects("param/SR0_RAW_SENS") and s.selects("param/SR3_EXTRA1") and not s.selects("param/MAV1_ADSB")
    s = creation_selection(["param/**"], None)
    assert not [g for g in s.exclude if g.startswith("param/")]
    s = creation_selection(["ftp/**", "param/STAT_*"], ["param/FOO"])
    assert s.include == ("ftp/**", "param/STAT_*") and not s.selects("fc/firmware")
    assert s.exclude[0] == "param/FOO" and not any(g.startswith("param/STAT") for g in s.exclude)


def test_sim_volatile_parameters_move_as_a_controller_moves_them() -> None:
    """Boot: new boot count and ground pressure; every period: STAT_RUNTIME; once after the fix: COMPASS_DEC."""
    clock = _Clock()
    before = {p.name: p.value for p in default_params("ardupilot")}
    params = default_params("ardupilot")
    vol = VolatileParams(params, "ardupilot", period=2.0, clock=clock)
    vol.boot()
    now = {p.name: p.value for p in params}
    changed = {n for n in before if before[n] != now[n]}
    assert {"STAT_BOOTCNT", "STAT_RUNTIME", "BARO1_GND_PRESS", "SR0_RAW_SENS"} <= changed
    assert not [n for n in changed if creation_selection(None, None).selects(f"param/{n}")]  # all volatile
    runtime, dec = now["STAT_RUNTIME"], now["COMPASS_DEC"]
    clock.now += 1.9
    vol.tick()
    assert {p.name: p.value for p in params}["STAT_RUNTIME"] == runtime
    clock.now += 4.2  # three saves are due (at 2, 4 and 6 s), and the GPS fix
    vol.tick()
    later = {p.name: p.value for p in params}
    assert later["STAT_RUNTIME"] == runtime + 6
    assert later["COMPASS_DEC"] != dec
    assert all(isinstance(p.value, float) == (p.type == "float32") for p in params)


def test_default_baseline_passes_a_restarted_volatile_controller(sim_fc, fc_bench) -> None:
    """Created from one start, it passes a second start and the first one later (its STAT_RUNTIME moved on)."""
    first = sim_fc(*SMALL_FLASH, "--volatile", "--volatile-period", "0.5")
    baseline = fc_bench.create(first.path)
    second = sim_fc(*SMALL_FLASH, "--volatile", "--volatile-period", "0.5")
    r = fc_bench.verify(second.path, baseline)
    assert r.code == 0, r.out + r.err
    r = fc_bench.verify(first.path, baseline)
    assert r.code == 0, r.out + r.err
    shown = fc_bench.attest("baseline", "show", baseline)
    assert re.search(r"volatile: \d+ excluded", shown.out), shown.out
    assert "param/STAT_RUNTIME  ardupilot: total run time" in shown.out
    assert "libraries/AP_Stats/AP_Stats.cpp" in shown.out
    assert "  exclude:  (none)" in shown.out
    as_json = json.loads(fc_bench.attest("baseline", "show", baseline, "--json").out)
    assert as_json["volatile_excludes"]["param/BARO*_GND_PRESS"]["source"].startswith("ArduPilot libraries/AP_Baro")


def test_px4_default_baseline_passes_a_restarted_volatile_controller(sim_fc, fc_bench) -> None:
    """PX4's flight UUID, flight time, restart type and declination move; the baseline still passes."""
    baseline = fc_bench.create(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--volatile").path)
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--volatile").path, baseline)
    assert r.code == 0, r.out + r.err


def test_included_volatile_parameter_is_measured_and_drifts(sim_fc, fc_bench) -> None:
    """--include param/STAT_RUNTIME pins it: the running counter is then a named drift."""
    sim = sim_fc(*SMALL_FLASH, "--volatile", "--volatile-period", "0.5")
    baseline = fc_bench.create(sim.path, "--include", "param/STAT_RUNTIME")
    time.sleep(1.0)  # at least one more save of STAT_RUNTIME (every 0.5 s)
    r = fc_bench.verify(sim.path, baseline)
    assert r.code == 1, r.out + r.err
    assert _kinds(r) == {"fc/params": {"modified"}, "param/STAT_RUNTIME": {"modified"}}
    f = _findings(r)["param/STAT_RUNTIME"]
    assert f["actual"] > f["expected"]


# -- 3. each parameter its own finding ------------------------------------------------------------------


def test_changed_added_and_removed_parameters_are_named_with_old_and_new_values(sim_fc, fc_bench) -> None:
    """modified 1500 → 2345, a float32 printed as set (0.15), an added and a removed one; JSON carries the values."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH, "--volatile", "--param", "EXTRA_OLD=5").path)
    changed = sim_fc(
        *SMALL_FLASH, "--volatile", "--param", "RTL_ALT=2345", "--param", "MOT_SPIN_ARM=0.15", "--param", "EXTRA_NEW=3"
    )
    r = fc_bench.verify(changed.path, baseline)
    assert r.code == 1, r.out + r.err
    found = _findings(r)
    assert set(found) == {
        "fc/params", "param/RTL_ALT", "param/MOT_SPIN_ARM", "param/EXTRA_NEW", "param/EXTRA_OLD",
    }  # fmt: skip
    assert found["fc/params"]["kind"] == "modified"  # the set digest is kept, beside the names
    rtl = found["param/RTL_ALT"]
    assert (rtl["kind"], rtl["expected"], rtl["actual"], rtl["detail"]) == ("modified", 1500, 2345, "1500 → 2345")
    spin = found["param/MOT_SPIN_ARM"]
    assert (spin["expected"], spin["actual"], spin["detail"]) == (0.1, 0.15, "0.1 → 0.15")
    assert (found["param/EXTRA_NEW"]["kind"], found["param/EXTRA_NEW"]["actual"]) == ("unexpected", 3)
    assert (found["param/EXTRA_OLD"]["kind"], found["param/EXTRA_OLD"]["expected"]) == ("missing", 5)
    text = fc_bench.attest(
        "verify", "--device", changed.path, "--baseline", baseline, "--trust", fc_bench.fleet.trust
    ).out
    assert re.search(r"modified\s+critical\s+param/RTL_ALT\s+1500 → 2345\n", text), text
    assert re.search(r"param/MOT_SPIN_ARM\s+0\.1 → 0\.15\n", text), text


def test_baseline_without_parameter_values_still_verifies_and_fails_closed(sim_fc, fc_bench, tmp_path) -> None:
    """A baseline from before per-parameter values: passes, and a change is still the set digest's finding."""
    good = sim_fc(*SMALL_FLASH)
    path = fc_bench.create(good.path)
    statement = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))
    pred = statement["predicate"]
    pred["collection"]["measure"].remove("param-values")
    pred["components"] = {n: c for n, c in pred["components"].items() if c["kind"] != "parameter"}
    old = tmp_path / "old.json"
    old.write_text(json.dumps(statement))
    assert fc_bench.attest("baseline", "sign", old, "--key", fc_bench.fleet.keys[0]).code == 0
    r = fc_bench.verify(good.path, old)
    assert r.code == 0, r.out + r.err
    assert not any(n.startswith("param/") for n in pred["components"])
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--param", "RTL_ALT=2345").path, old)
    assert r.code == 1, r.out + r.err
    assert _kinds(r) == {"fc/params": {"modified"}}


def _param(name: str, ptype: str, text: str) -> Component:
    return Component(name, "parameter", None, {"type": ptype, "value": text}, Method.DEVICE_REPORTED)


def test_verifier_names_parameter_changes_and_type_changes() -> None:
    """Pure: value and type compared as text; old and new values as JSON numbers where they are numbers."""
    expected = {
        "param/A": _param("param/A", "int16", "1500"),
        "param/B": _param("param/B", "float32", "0.1"),
        "param/C": _param("param/C", "int32", "7"),
        "param/D": _param("param/D", "float32", "nan(0x7fc00000)"),
        "param/E": _param("param/E", "int8", "-3"),
    }
    actual = {
        "param/A": _param("param/A", "int16", "1500"),
        "param/B": _param("param/B", "float32", "0.10000001"),
        "param/C": _param("param/C", "float32", "7"),
        "param/D": _param("param/D", "float32", "nan(0x7fc00001)"),
        "param/F": _param("param/F", "float32", "-0"),
    }
    by_name = {f.component: f for f in compare_components(expected, actual)}
    assert set(by_name) == {"param/B", "param/C", "param/D", "param/E", "param/F"}
    assert all(f.kind is FindingKind.MODIFIED for n, f in by_name.items() if n in ("param/B", "param/C", "param/D"))
    assert (by_name["param/B"].expected, by_name["param/B"].actual) == (0.1, 0.10000001)
    assert by_name["param/B"].detail == "0.1 → 0.10000001"
    assert by_name["param/C"].detail == "int32 7 → float32 7"
    assert by_name["param/D"].actual == "nan(0x7fc00001)"  # not a number: kept as text, still a change
    assert (by_name["param/E"].kind, by_name["param/E"].expected) == (FindingKind.MISSING, -3)
    assert (by_name["param/F"].kind, by_name["param/F"].actual) == (FindingKind.UNEXPECTED, -0.0)


def test_value_text_reads_back_as_the_same_float32() -> None:
    """Every float32 has one short text, and the text reads back as exactly those bits."""
    rng = random.Random(10)
    for _ in range(20_000):
        bits = rng.getrandbits(32)
        (value,) = struct.unpack("<f", struct.pack("<I", bits))
        text = value_text(value)
        if text.startswith("nan"):  # a signalling NaN is quietened in a Python float: the bits as held
            assert text == f"nan(0x{struct.unpack('<I', struct.pack('<f', value))[0]:08x})"
            continue
        assert struct.pack("<f", float(text)) == struct.pack("<I", bits), (bits, text)
        assert len(text.replace("-", "").replace(".", "").split("e")[0].strip("0")) <= 9  # significant digits
    assert [value_text(x) for x in (1500, 1500.0, 0.25, struct.unpack("<f", struct.pack("<f", 0.1))[0])] == [
        "1500", "1500", "0.25", "0.1",
    ]  # fmt: skip


def test_uptime_is_none_when_nothing_answers() -> None:
    """A controller that does not answer SYSTEM_TIME gives no evidence either way (never an exception)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        transport = SerialTransport.open(os.ttyname(slave), baud=115200, timeout=0.5)
        try:
            assert Link(transport, timeout=0.5).uptime(timeout=0.3) is None
        finally:
            transport.close()
    finally:
        os.close(master)
        os.close(slave)
