"""``/etc/attest/attest.toml`` and ``attest config check``: every key checked, every problem listed at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet
from dock_fixture import Dock, Drone, directory_drone, write_hook

from attest.dock import config_path, format_duration, load_config, parse_duration
from attest.errors import ConfigError


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("250ms", 0.25), ("2d", 172800), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "10", "15 m", "m", "-5s", "0s", "1x", "10s5", "1e3s"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_the_example_configuration_loads_as_documented() -> None:
    example = Path(__file__).resolve().parent.parent / "systemd" / "attest.toml.example"
    cfg = load_config(example)
    assert cfg.origin == "dock-3.example-police.uk/attest"
    assert cfg.log_dir == Path("/var/lib/attest/log")
    assert (cfg.fresh_for, cfg.ticket_valid_for, cfg.max_seconds) == (900, 600, 300)
    (drone,) = cfg.drones
    fc, companion = drone.parts
    assert (fc.kind, fc.usb_serial, fc.baseline, fc.options.baud) == (
        "fc",
        "3A0029000F51383236383935",
        Path("/etc/attest/baselines/fc-copter.json"),
        115200,
    )
    assert companion.target == "ssh://attest@10.55.0.2"
    assert companion.options.identity == Path("/etc/attest/ssh_id")
    assert cfg.hooks[0].run == ("/usr/local/bin/dock-relay", "--set")
    assert cfg.hooks[0].on == ("block", "clear")


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text(
        """
[dock]
origin = "dock 3"
key = "dock.key"
trust = "trust.toml"
max_seconds = "five minutes"
colour = "blue"

[gate]
fresh_for = "15 minutes"

[[hooks]]
on = ["open"]
run = "relay --set"

[[drones]]
name = "UAV 07"
fc = { baseline = "fc.json", baud = "fast" }

[[drones]]
name = "UAV-08"
fc = { usb_serial = "A", device = "/dev/ttyACM0", baseline = "fc.json", colour = 1 }
companion = { target = "http://x", baseline = "c.json" }

[[drones]]
name = "UAV-09"
fc = { usb_serial = "A", baseline = "fc.json" }

[extra]
"""
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    lines = str(e.value).splitlines()
    expected = [
        "extra: unknown key",
        "dock.colour: unknown key",
        "dock.origin: 'dock 3' cannot be a log origin",
        "dock.max_seconds: expected a number of seconds",
        "gate.fresh_for: '15 minutes' is not a duration",
        "hooks[0].on: expected a non-empty list",
        "hooks[0].run: expected a non-empty list of strings",
        "drones[0].name: 'UAV 07'",
        "drones[0].fc: give exactly one of usb_serial",
        "drones[0].fc.baud: expected a positive integer",
        "drones[UAV-08].fc.colour: unknown key",
        "drones[UAV-08].fc: give exactly one of usb_serial",
        "drones[UAV-08].companion.target: http://x: unsupported target scheme",
    ]
    for fragment in expected:
        assert any(fragment in line for line in lines), f"{fragment!r} not in:\n{e.value}"
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_a_usb_serial_names_one_drone(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text(
        '[dock]\norigin = "d"\nkey = "k"\ntrust = "t"\n'
        '[[drones]]\nname = "A"\nfc = { usb_serial = "X1", baseline = "a.json" }\n'
        '[[drones]]\nname = "B"\nfc = { usb_serial = "X1", baseline = "b.json" }\n'
        '[[drones]]\nname = "A"\ncompanion = { target = "/srv/a", baseline = "c.json" }\n'
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "drones[B].fc.usb_serial: 'X1' is also drones[A].fc's" in str(e.value)
    assert "drones[A]: the name is used twice" in str(e.value)


def test_paths_resolve_against_the_file_and_baselines_against_their_directory(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "attest.toml"
    path.parent.mkdir()
    path.write_text(
        '[dock]\norigin = "d"\nkey = "dock.key"\ntrust = "/abs/trust.toml"\nbaselines = "bl"\n'
        '[[drones]]\nname = "A"\ncompanion = { target = "sd", baseline = "c.json", identity = "id" }\n'
    )
    cfg = load_config(path)
    part = cfg.drones[0].parts[0]
    assert cfg.key == path.parent / "dock.key"
    assert cfg.trust == Path("/abs/trust.toml")
    assert part.baseline == path.parent / "bl" / "c.json"
    assert part.target == str(path.parent / "sd")
    assert part.options.identity == path.parent / "id"


def test_max_seconds_must_leave_time_to_measure_after_the_hooks(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text(
        '[dock]\norigin = "d"\nkey = "k"\ntrust = "t"\nmax_seconds = 20\n'
        '[[hooks]]\non = ["block"]\nrun = ["/bin/true"]\ntimeout = "30s"\n'
    )
    with pytest.raises(ConfigError, match=r"max_seconds 20 leaves .* after the hooks' timeouts \(30 s\)"):
        load_config(path)


def test_config_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ATTEST_CONFIG", raising=False)
    assert config_path(None) == Path("/etc/attest/attest.toml")
    monkeypatch.setenv("ATTEST_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(None) == tmp_path / "env.toml"
    assert config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"


# -- attest config check (the real CLI) ------------------------------------------------------------


def test_config_check_summarises_a_good_configuration(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    dock.hooks.append({"on": ["block"], "run": [str(write_hook(tmp_path / "relay", "exit 0\n"))], "timeout": "5s"})
    dock.write()
    r = dock.attest("config", "check", "--config", dock.config)
    assert r.code == 0, r.err
    assert r.out.startswith(f"OK: {dock.config}")
    assert "UAV-07: companion (" in r.out
    assert "UAV-07-companion v1" in r.out
    assert "TimeoutStartSec=60" in r.out


def test_config_check_lists_missing_files_and_untrusted_baselines(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    unsigned = tmp_path / "baselines" / "unsigned.json"
    unsigned.write_text((tmp_path / "baselines" / "UAV-07-companion-v1.json").read_text().replace('"sig"', '"gis"'))
    dock.drones.append(Drone("UAV-08", {"companion": {"target": str(tmp_path), "baseline": "unsigned.json"}}))
    dock.drones.append(Drone("UAV-09", {"companion": {"target": str(tmp_path), "baseline": "missing.json"}}))
    dock.hooks.append({"on": ["clear"], "run": ["/nonexistent/relay"]})
    dock.write()
    os.chmod(tmp_path / "dock.key", 0o644)
    r = dock.attest("config", "check", "--config", dock.config)
    assert r.code == 2, r.out
    for fragment in (
        "dock.key: ",
        "accessible by group or others",
        "drones[UAV-08].companion.baseline:",
        "drones[UAV-09].companion.baseline:",
        "missing.json",
        "hooks[0].run: /nonexistent/relay: not an executable file",
    ):
        assert fragment in r.err, f"{fragment!r} not in {r.err}"
    assert r.out == ""


def test_config_check_exits_2_on_a_schema_problem(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text('[dock]\norigin = "d"\nkey = "k"\ntrust = "t"\nunknown = 1\n[gate]\nfresh = "1m"\n')
    dock_env = {"ATTEST_CONFIG": str(path)}
    from conftest import run_attest

    r = run_attest(["config", "check"], env=dock_env)
    assert r.code == 2
    assert "dock.unknown: unknown key" in r.err
    assert "gate.fresh: unknown key" in r.err


def test_an_unknown_drone_name_is_a_usage_error(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-99")
    assert r.code == 2
    assert "no drone 'UAV-99'" in r.err
