"""The dock's Android controller and DJI aircraft parts: configured, recognised, attested, gated.

Real parts: ``attest sim android`` (the ADB wire protocol on a loopback port) and ``attest sim dji``
(DUML on a pty, found through a sysfs tree built from a recorded ``udevadm info``, as udev's
``--device /dev/ttyACM0`` trigger would find it). Configuration mistakes (a target of another kind
under a part) are problems ``attest config check`` lists, never a surprise at event time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import Fleet, make_fleet
from dock_fixture import CUBE_ORANGE_RECORDING, CUBE_SERIAL, Dock, Drone, fake_sysfs

from attest.dock import Trigger, load_config, recognise
from attest.errors import ConfigError

if TYPE_CHECKING:  # the fixtures' modules are plugins: imported by pytest, which rewrites their asserts
    from adb_fixture import AndroidSim
    from dji_fixture import DjiSim

pytest_plugins = ["adb_fixture", "dji_fixture"]

#: The aircraft's USB serial number in the recorded sysfs.
AIRCRAFT_SERIAL = "0TXDJ1A2B3C4D5"
FLIGHT_APP = "com.example.flight"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


def test_a_controller_and_an_aircraft_are_attested_and_cleared_and_a_swapped_app_blocks(
    tmp_path: Path, fleet: Fleet, sim_android: Callable[..., AndroidSim], sim_dji: Callable[..., DjiSim]
) -> None:
    controller, aircraft = sim_android(), sim_dji()
    fake_sysfs(tmp_path / "fake", CUBE_ORANGE_RECORDING.replace(CUBE_SERIAL, AIRCRAFT_SERIAL))
    devfs = tmp_path / "dev"
    devfs.mkdir()
    (devfs / "ttyACM0").symlink_to(aircraft.path)  # the node udev would have made: here the simulator's pty
    dock = Dock(tmp_path / "dock", fleet, dock={"sysfs": str(tmp_path / "fake" / "sys"), "devfs": str(devfs)})
    parts: dict[str, dict[str, object]] = {
        "controller": {"target": controller.target, "baseline": dock.baseline(controller.target, "controller")},
        "aircraft": {"usb_serial": AIRCRAFT_SERIAL, "baseline": dock.baseline(aircraft.target, "aircraft")},
    }
    dock.drones.append(Drone("UAV-11", parts))
    dock.write()
    assert dock.attest("config", "check").code == 0

    # udev's trigger is the aircraft's tty: sysfs names its USB serial number, the dock attests every part.
    r = dock.attest("dock", "--device", str(devfs / "ttyACM0"), "--json")
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["drone"] == "UAV-11" and out["verdict"] == "pass"
    assert [(p["part"], p["target"]) for p in out["parts"]] == [
        ("controller", controller.target),
        ("aircraft", f"dji://{aircraft.path}"),
    ]
    assert out["parts"][0]["result"]["device"]["kind"] == "adb"
    assert out["gate"]["state"] == "clear"
    assert dock.attest("gate", "check", "UAV-11").code == 0

    # The same controller's flight app re-signed by another certificate: drift, and the drone is blocked.
    swapped = sim_android("--swap-cert", FLIGHT_APP)
    parts["controller"]["target"] = swapped.target
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-11", "--json")
    assert r.code == 1, r.out + r.err
    out = r.json()
    assert [p["result"]["verdict"] for p in out["parts"]] == ["drift", "pass"]
    assert any(FLIGHT_APP in f["component"] for f in out["parts"][0]["result"]["findings"])
    assert out["gate"]["state"] == "blocked" and "controller drift" in out["gate"]["reason"]
    assert dock.attest("gate", "check", "UAV-11").code == 1


def test_each_part_kind_takes_only_its_own_targets(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text(
        """
[dock]
origin = "d"
key = "k"
trust = "t"

[[drones]]
name = "A"
controller = { target = "ssh://pilot@10.0.0.5", baseline = "c.json", identity = "id" }
aircraft = { device = "/dev/ttyACM0", baseline = "a.json", bootloader = true }

[[drones]]
name = "B"
fc = { device = "dji:///dev/ttyACM1", baseline = "f.json" }
companion = { target = "adb+tcp://10.0.0.6:5555", baseline = "c.json" }

[[drones]]
name = "C"
controller = { baseline = "c.json", method = "sideways" }
aircraft = { device = "dji:///dev/ttyACM2", usb_serial = "X", baseline = "a.json" }

[[drones]]
name = "D"
controller = { usb_serial = "has space", baseline = "c.json" }
aircraft = { device = "dji://ttyACM3", baseline = "a.json" }

[[drones]]
name = "E"
fc = { device = "/dev/ttyACM4", baseline = "f.json" }

[[drones]]
name = "F"
aircraft = { device = "dji:///dev/ttyACM4", baseline = "a.json" }
"""
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = str(e.value)
    expected = [
        "drones[A].controller.identity: unknown key",
        "drones[A].controller.target: 'ssh://pilot@10.0.0.5' is not adb+tcp://HOST[:PORT] or adb://SERIAL",
        "drones[A].aircraft.bootloader: unknown key",
        "drones[A].aircraft.device: '/dev/ttyACM0' is not dji:// followed by its tty",
        "drones[B].fc.device: 'dji:///dev/ttyACM1' is not a tty path or socket://",
        "drones[B].companion.target: 'adb+tcp://10.0.0.6:5555' is not ssh://",
        "drones[C].controller.target: missing",
        "drones[C].controller.method: expected 'pull' or 'remote'",
        "drones[C].aircraft: give exactly one of usb_serial",
        "drones[D].controller.usb_serial: cannot name an ADB device",
        "drones[D].aircraft.device: 'dji://ttyACM3': expected dji:// followed by a device path",
        "drones[F].aircraft.device: 'dji:///dev/ttyACM4' is also drones[E].fc's",
    ]
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def test_a_controller_named_by_its_usb_serial_is_reached_as_adb_serial(tmp_path: Path) -> None:
    """A controller with ``usb_serial`` and no target is ``adb://<serial>``; an aircraft's fixed port is its trigger."""
    path = tmp_path / "attest.toml"
    path.write_text(
        '[dock]\norigin = "d"\nkey = "k"\ntrust = "t"\nstate_dir = "state"\n'
        '[[drones]]\nname = "G"\n'
        'controller = { usb_serial = "R5CT10ABCDE", baseline = "c.json", method = "remote", audit_sample = 4 }\n'
        'aircraft = { device = "dji:///dev/pts/77", baseline = "a.json", baud = 921600 }\n'
    )
    cfg = load_config(path)
    controller, aircraft = cfg.drones[0].parts
    assert (controller.kind, controller.target, controller.usb_serial) == (
        "controller",
        "adb://R5CT10ABCDE",
        "R5CT10ABCDE",
    )
    # The dock's ADB key lives in its state directory (created on first use there, as for attest verify).
    assert controller.options.state_dir == tmp_path / "state"
    assert (controller.options.method, controller.options.audit_sample) == ("remote", 4)
    assert (aircraft.device, aircraft.options.baud) == ("dji:///dev/pts/77", 921600)

    rec = recognise(cfg, Trigger(device="/dev/pts/77"))
    assert rec.drone is not None and rec.drone.name == "G"
    assert rec.targets == {"controller": "adb://R5CT10ABCDE", "aircraft": "dji:///dev/pts/77"}
