"""``attest dock`` end to end: recognise the drone, attest every part, one signed entry, the gate, the log.

Real parts only: ``attest sim fc`` on a real pty, directory companions made by
``attest sim tree``, a real OpenSSH sshd, and a sysfs tree built from a
recorded ``udevadm info`` of a flight controller's port (the dock reads it
exactly as it reads /sys).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet, run_attest
from dock_fixture import (
    CUBE_SERIAL,
    Dock,
    Drone,
    directory_drone,
    fake_sysfs,
    net_recording,
    write_hook,
)
from fc_fixture import SMALL_FLASH, Sim
from sshd_fixture import Sshd

from attest.dock import EVENT_PREDICATE_TYPE, read_event
from attest.log import Log

pytest_plugins = ["fc_fixture"]

#: The quick profile a dock event measures at 115,200 baud: identity, parameters, scripts (no flash read).
QUICK = ("--exclude", "fc/flash", "--exclude", "fc/firmware", "--exclude", "param/STAT_*")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


def _fc_drone(dock: Dock, sim: Sim, name: str = "UAV-07", **fc: object) -> Drone:
    file = dock.baseline(sim.path, "fc-copter", *QUICK)
    tree = dock.companion_tree(f"{name}-companion")
    drone = Drone(
        name,
        {
            "fc": {"device": sim.path, "baseline": file, **fc},
            "companion": {"target": str(tree), "baseline": dock.baseline(str(tree), "companion")},
        },
    )
    dock.drones.append(drone)
    return drone


def _entries(dock: Dock) -> list[bytes]:
    with Log.read(dock.log) as log:
        return [e for _, e in log.entries()]


def test_a_docked_drone_is_attested_logged_and_cleared(
    tmp_path: Path, fleet: Fleet, sim_fc: Callable[..., Sim]
) -> None:
    dock = Dock(tmp_path, fleet)
    _fc_drone(dock, sim_fc(*SMALL_FLASH))
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert (out["drone"], out["verdict"], out["log_index"]) == ("UAV-07", "pass", 0)
    assert [p["part"] for p in out["parts"]] == ["fc", "companion"]
    fc = out["parts"][0]
    assert fc["result"]["verdict"] == "pass"
    assert fc["baseline"]["name"] == "fc-copter"
    assert fc["result"]["device"]["facts"]["board_id"] == "140"
    assert out["gate"]["state"] == "clear"
    assert out["trigger"] == {"drone": "UAV-07"}
    # One signed entry for the whole event, of the dock-event type.
    (entry,) = _entries(dock)
    event = read_event(entry, index=0)
    assert (event.drone, event.verdict, [p.part for p in event.parts]) == ("UAV-07", "pass", ["fc", "companion"])
    statement = json.loads(__import__("base64").b64decode(json.loads(entry)["payload"]))
    assert statement["predicateType"] == EVENT_PREDICATE_TYPE
    assert statement["subject"][0]["name"] == "drone:UAV-07"
    # The gate, the log and its readers agree.
    assert dock.attest("gate", "check", "UAV-07").code == 0
    verified = dock.log_verifies()
    assert verified.code == 0, verified.out + verified.err
    shown = run_attest(["log", "show", "--log", dock.log, "--json"])
    assert shown.code == 0, shown.err
    (row,) = shown.json()
    assert (row["device"], row["verdict"], row["index"]) == ("UAV-07", "pass", 0)


def test_the_drone_is_recognised_by_the_usb_serial_number_in_sysfs(
    tmp_path: Path, fleet: Fleet, sim_fc: Callable[..., Sim]
) -> None:
    """udev's /dev/ttyACM0: sysfs says whose port it is; the dock attests that drone's every part."""
    sim = sim_fc(*SMALL_FLASH)
    fake_sysfs(tmp_path / "fake")
    devfs = tmp_path / "dev"
    devfs.mkdir()
    (devfs / "ttyACM0").symlink_to(sim.path)  # the node udev would have made, here the simulator's pty
    dock = Dock(tmp_path / "dock", fleet, dock={"sysfs": str(tmp_path / "fake" / "sys"), "devfs": str(devfs)})
    drone = _fc_drone(dock, sim)
    del drone.parts["fc"]["device"]
    drone.parts["fc"]["usb_serial"] = CUBE_SERIAL
    dock.write()
    r = dock.attest("dock", "--device", str(devfs / "ttyACM0"), "--json")
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["drone"] == "UAV-07"
    assert out["usb"] == {
        "id": "2dae:1016",
        "serial": CUBE_SERIAL,
        "manufacturer": "Hex/ProfiCNC",
        "product": "CubeOrange",
    }
    assert out["parts"][0]["target"] == sim.path  # the node, resolved to the tty it names
    # By name, the dock finds the port itself (the tty whose USB device reports the serial number).
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 0, r.out + r.err
    assert r.json()["parts"][0]["target"] == sim.path


def test_an_unknown_device_is_blocked_and_logged_never_skipped(tmp_path: Path, fleet: Fleet) -> None:
    fake_sysfs(tmp_path / "fake")
    dock = Dock(tmp_path / "dock", fleet, dock={"sysfs": str(tmp_path / "fake" / "sys")})
    directory_drone(dock, "UAV-07")
    out_file = tmp_path / "hook.out"
    hook = write_hook(tmp_path / "relay", f'cat > {out_file}; echo "$@" >> {out_file}\n')
    dock.hooks.append({"on": ["block"], "run": [str(hook), "--set"], "timeout": "5s"})
    dock.write()
    r = dock.attest("dock", "--device", "/dev/ttyACM0", "--json")
    assert r.code == 4, r.out + r.err
    out = r.json()
    assert out["drone"] is None
    assert out["verdict"] == "untrusted"
    assert "unknown device /dev/ttyACM0 (USB 2dae:1016 serial 3A0029000F51383236383935)" in out["message"]
    assert out["log_index"] == 0
    assert out["gate"]["state"] == "blocked"
    event = read_event(_entries(dock)[0], index=0)
    assert (event.drone, event.verdict) == (None, "untrusted")
    lines = out_file.read_text().splitlines()
    assert json.loads(lines[0])["message"] == out["message"]
    assert lines[1] == "--set block"
    # A port sysfs knows nothing about (not USB) is just as unknown, and just as logged.
    r = dock.attest("dock", "--device", str(tmp_path / "no-such-tty"))
    assert r.code == 4
    assert len(_entries(dock)) == 2


def test_a_usb_network_link_recognises_the_companion(tmp_path: Path, fleet: Fleet) -> None:
    fake_sysfs(tmp_path / "fake", net_recording("UAV07-GADGET"))
    dock = Dock(tmp_path / "dock", fleet, dock={"sysfs": str(tmp_path / "fake" / "sys")})
    drone = directory_drone(dock, "UAV-07")
    drone.parts["companion"]["usb_serial"] = "UAV07-GADGET"
    dock.write()
    r = dock.attest("dock", "--net", "usb0", "--json")
    assert r.code == 0, r.out + r.err
    assert r.json()["drone"] == "UAV-07"
    assert r.json()["trigger"] == {"net": "usb0"}


def test_a_part_that_is_not_plugged_in_blocks_the_drone(tmp_path: Path, fleet: Fleet) -> None:
    (tmp_path / "fake" / "sys" / "class" / "tty").mkdir(parents=True)
    dock = Dock(tmp_path / "dock", fleet, dock={"sysfs": str(tmp_path / "fake" / "sys")})
    drone = directory_drone(dock, "UAV-07")
    drone.parts["fc"] = {"usb_serial": CUBE_SERIAL, "baseline": "fc.json"}
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 3, r.out + r.err
    out = r.json()
    fc = next(p for p in out["parts"] if p["part"] == "fc")
    assert fc["result"]["verdict"] == "error"
    assert f"no serial port with USB serial {CUBE_SERIAL} is connected" in fc["result"]["message"]
    assert out["log_index"] == 0
    assert dock.attest("gate", "check", "UAV-07").code == 1


def test_a_device_reporting_another_identity_than_configured_is_untrusted(
    tmp_path: Path, fleet: Fleet, sim_fc: Callable[..., Sim]
) -> None:
    """``match`` pins what the device itself reports: a USB serial number alone is only a claim."""
    dock = Dock(tmp_path, fleet)
    _fc_drone(dock, sim_fc(*SMALL_FLASH), match={"uid": "00000000000000000000beef"})
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 4, r.out + r.err
    fc = r.json()["parts"][0]["result"]
    assert fc["verdict"] == "untrusted"
    assert "expected '00000000000000000000beef'" in fc["message"]


def test_drift_in_any_part_blocks_with_its_findings(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    dock.write()
    assert dock.attest("dock", "--drone", "UAV-07").code == 0
    (tmp_path / "UAV-07-companion" / "etc" / "hostname").write_text("tampered\n")
    r = dock.attest("dock", "--drone", "UAV-07")
    assert r.code == 1, r.out + r.err
    assert "DRIFT: UAV-07 (1 parts), logged at index 1; gate: blocked" in r.out
    assert "modified" in r.out
    check = dock.attest("gate", "check", "UAV-07", "--json")
    assert check.code == 1
    assert check.json()["code"] == "drift"


def test_a_companion_over_ssh(tmp_path: Path, fleet: Fleet) -> None:
    with Sshd.running(tmp_path / "sshd") as sshd:
        dock = Dock(tmp_path / "dock", fleet)
        tree = dock.companion_tree()
        file = dock.baseline(sshd.target(tree), "companion", *sshd.transport_args())
        part = {
            "target": sshd.target(tree),
            "identity": str(sshd.client_key),
            "known_hosts": str(sshd.known_hosts),
            "baseline": file,
        }
        dock.drones.append(Drone("UAV-07", {"companion": part}))
        dock.write()
        r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 0, r.out + r.err
    assert r.json()["parts"][0]["result"]["device"]["kind"] == "ssh"


def test_the_flash_is_read_only_by_a_full_event(tmp_path: Path, fleet: Fleet, sim_fc: Callable[..., Sim]) -> None:
    """``full_baseline`` measures more (here the flash); ``--full`` uses it, and a pass against either clears."""
    sim = sim_fc(*SMALL_FLASH)
    dock = Dock(tmp_path, fleet)
    drone = _fc_drone(dock, sim)
    drone.parts["fc"]["full_baseline"] = dock.baseline(sim.path, "fc-copter-full", "--exclude", "param/STAT_*")
    del drone.parts["companion"]
    dock.write()
    quick = dock.attest("dock", "--drone", "UAV-07", "--json")
    full = dock.attest("dock", "--drone", "UAV-07", "--json", "--full")
    assert (quick.code, full.code) == (0, 0), quick.err + full.err
    assert quick.json()["parts"][0]["baseline"]["name"] == "fc-copter"
    assert full.json()["parts"][0]["baseline"]["name"] == "fc-copter-full"
    assert full.json()["parts"][0]["result"]["components"] > quick.json()["parts"][0]["result"]["components"]
    assert full.json()["gate"]["state"] == "clear"
