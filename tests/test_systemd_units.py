"""The systemd/ folder: units verify, are hardened (exposure <= 2.0), and udev starts them for flight controllers.

Real tools, no imitation: ``systemd-analyze verify`` and ``systemd-analyze
security --offline=true`` from Debian's systemd package, ``systemd-sysusers``
and ``systemd-tmpfiles`` applied to a scratch root, and ``udevadm test`` (Debian's
udev package) evaluating ``70-attest-dock.rules`` against a sysfs tree built
from a recorded ``udevadm info --attribute-walk`` of a flight controller's
port, inside a private mount namespace (so nothing of the host's /sys, /dev or
rules is touched). Tests skip, naming the package, where a tool is missing or
a namespace cannot be made.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dock_fixture import CUBE_ORANGE_RECORDING, fake_sysfs, net_recording

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
UNITS = ["attest-dock@.service", "attest-dock-drone@.service", "attest-dock-net@.service"]
#: What the units run; verify checks the executable exists, so tests point it at this checkout's.
INSTALLED_ATTEST = "/usr/local/bin/attest"
MAX_EXPOSURE = 2.0


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"needs {tool} (Debian package {package}; make test installs it as root)")
    return path


def _units_for_verify(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this checkout's attest (verify requires it to exist)."""
    attest = Path(sys.executable).with_name("attest")
    assert attest.exists(), "the venv has no attest script"
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text()
        assert INSTALLED_ATTEST in text
        (tmp_path / unit).write_text(text.replace(INSTALLED_ATTEST, str(attest)))
    return tmp_path


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    tool = _need("systemd-analyze", "systemd")
    return subprocess.run([tool, "verify", "--man=no", str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_verifies_without_a_warning(tmp_path: Path, unit: str) -> None:
    d = _units_for_verify(tmp_path)
    instance = d / unit.replace("@.", "@ttyACM0.")
    r = _verify(instance)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr


def test_verify_catches_a_misspelt_setting(tmp_path: Path) -> None:
    """The check above could fail: a unit with a misspelt hardening key is reported."""
    d = _units_for_verify(tmp_path)
    bad = d / "bad@.service"
    bad.write_text((d / UNITS[0]).read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    r = _verify(d / "bad@x.service")
    assert "Unknown key" in r.stderr


def _exposure(unit: Path) -> float:
    tool = _need("systemd-analyze", "systemd")
    r = subprocess.run([tool, "security", "--offline=true", str(unit)], capture_output=True, text=True, check=False)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m is not None, r.stdout + r.stderr
    return float(m.group(1))


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_is_hardened(unit: str) -> None:
    assert _exposure(SYSTEMD / unit) <= MAX_EXPOSURE


def test_exposure_rises_without_the_hardening(tmp_path: Path) -> None:
    """The check above could fail: the same unit without its sandbox scores far above 2.0."""
    text = (SYSTEMD / UNITS[0]).read_text()
    hardening = ("Protect", "Private", "Restrict", "System", "Capability", "NoNew", "Memory", "Lock", "IPAddress")
    hardening += ("Device", "User=", "Group=")
    bare = "\n".join(line for line in text.splitlines() if not line.startswith(hardening))
    (tmp_path / "bare@.service").write_text(bare + "\n")
    assert _exposure(tmp_path / "bare@.service") > 5.0


def test_timeout_start_sec_matches_max_seconds_of_the_example_configuration() -> None:
    example = tomllib.loads((SYSTEMD / "attest.toml.example").read_text())
    for unit in UNITS:
        m = re.search(r"^TimeoutStartSec=(\d+)$", (SYSTEMD / unit).read_text(), re.MULTILINE)
        assert m is not None, unit
        assert int(m.group(1)) == example["dock"]["max_seconds"], unit


def test_sysusers_and_tmpfiles_make_the_user_and_a_private_state_directory(tmp_path: Path) -> None:
    sysusers = _need("systemd-sysusers", "systemd")
    tmpfiles = _need("systemd-tmpfiles", "systemd")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    r = subprocess.run(
        [sysusers, f"--root={root}", str(SYSTEMD / "attest.sysusers.conf")], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    passwd = (root / "etc" / "passwd").read_text()
    entry = next(line for line in passwd.splitlines() if line.startswith("attest:"))
    uid, gid, home, shell = entry.split(":")[2], entry.split(":")[3], entry.split(":")[5], entry.split(":")[6]
    assert int(uid) < 1000, "a system user"
    assert home == "/var/lib/attest"
    assert shell == "/usr/sbin/nologin"
    groups = (root / "etc" / "group").read_text()
    assert re.search(r"^dialout:x:20:attest$", groups, re.MULTILINE), groups
    r = subprocess.run(
        [tmpfiles, f"--root={root}", "--create", str(SYSTEMD / "attest.tmpfiles.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    st = (root / "var" / "lib" / "attest").stat()
    assert st.st_mode & 0o777 == 0o700
    assert (st.st_uid, st.st_gid) == (int(uid), int(gid))


# -- udev ------------------------------------------------------------------------------------------

_UDEV_SCRIPT = """
set -e
mount --make-rprivate /
mount -t tmpfs none /run
mkdir -p /run/udev/rules.d
cp "$RULES" /run/udev/rules.d/
mount -t tmpfs none /etc/udev/rules.d
mount -t tmpfs none /usr/lib/udev/rules.d
mount -t tmpfs none /dev
mknod -m 666 /dev/null c 1 3
mount --rbind "$FAKE/sys" /sys
exec udevadm test --action=add "$DEVPATH"
"""


def _udev_test(tmp_path: Path, recording: str, rules: Path, *, device: str | None = None) -> tuple[dict[str, str], str]:
    """``udevadm test`` of the device in ``recording`` with only ``rules``; returns its properties and log."""
    _need("udevadm", "udev")
    unshare = _need("unshare", "util-linux")
    if os.geteuid() != 0:
        pytest.skip("udevadm test in a private mount namespace needs root")
    fake = tmp_path / "fake"
    syspath = fake_sysfs(fake, recording)
    devpath = "/sys/" + str(syspath.relative_to(fake / "sys")) if device is None else device
    env = {
        **os.environ,
        "RULES": str(rules),
        "FAKE": str(fake),
        "DEVPATH": devpath,
        # The tree is a copy on disk, not the kernel's sysfs; systemd's own tests switch this check off too.
        "SYSTEMD_DEVICE_VERIFY_SYSFS": "0",
    }
    r = subprocess.run(
        [unshare, "-m", "sh", "-c", _UDEV_SCRIPT], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    if "unshare failed" in r.stderr or "Operation not permitted" in r.stderr:
        pytest.skip(f"cannot make a mount namespace here: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stdout + r.stderr
    props = dict(line.split("=", 1) for line in r.stdout.splitlines() if re.fullmatch(r"[A-Z_0-9]+=.*", line))
    return props, r.stdout + r.stderr


RULES = SYSTEMD / "70-attest-dock.rules"


def test_the_rules_parse_cleanly(tmp_path: Path) -> None:
    _, log = _udev_test(tmp_path, CUBE_ORANGE_RECORDING, RULES)
    assert "Reading rules file: /run/udev/rules.d/70-attest-dock.rules" in log
    # Parse problems are logged while reading, as "FILE:LINE message"; rule traces start with the device name.
    problems = [line for line in log.splitlines() if line.startswith("/run/udev/rules.d/70-attest-dock.rules")]
    assert problems == [], problems


def test_a_broken_rule_is_reported(tmp_path: Path) -> None:
    """The check above could fail: udevadm names a malformed line of the file."""
    bad = tmp_path / "70-attest-dock.rules"
    bad.write_text(RULES.read_text().replace('GOTO="attest_dock_fc"', "GOTO=attest_dock_fc", 1))
    _, log = _udev_test(tmp_path, CUBE_ORANGE_RECORDING, bad)
    assert any(line.startswith("/run/udev/rules.d/70-attest-dock.rules:") for line in log.splitlines()), log


def test_a_flight_controller_port_starts_the_dock_unit(tmp_path: Path) -> None:
    props, log = _udev_test(tmp_path, CUBE_ORANGE_RECORDING, RULES)
    assert props.get("SYSTEMD_WANTS") == "attest-dock@ttyACM0.service", log
    assert ":systemd:" in props.get("TAGS", ""), log


@pytest.mark.parametrize(
    ("vendor", "product"), [("1209", "5740"), ("1209", "5741"), ("0483", "5740"), ("3162", "004b"), ("26ac", "0032")]
)
def test_every_documented_flight_controller_id_starts_it(tmp_path: Path, vendor: str, product: str) -> None:
    recording = CUBE_ORANGE_RECORDING.replace('idVendor}=="2dae"', f'idVendor}}=="{vendor}"').replace(
        'idProduct}=="1016"', f'idProduct}}=="{product}"'
    )
    props, log = _udev_test(tmp_path, recording, RULES)
    assert props.get("SYSTEMD_WANTS") == "attest-dock@ttyACM0.service", log


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ([('idVendor}=="2dae"', 'idVendor}=="10c4"')], "a USB-serial adapter (Silicon Labs CP210x) is no controller"),
        (
            [('idVendor}=="2dae"', 'idVendor}=="0483"'), ('idProduct}=="1016"', 'idProduct}=="1234"')],
            "an ST device other than the VCP id ArduPilot uses",
        ),
        ([('bInterfaceNumber}=="00"', 'bInterfaceNumber}=="02"')], "the second CDC-ACM port (SLCAN) starts nothing"),
    ],
)
def test_other_ports_start_nothing(tmp_path: Path, changes: list[tuple[str, str]], why: str) -> None:
    recording = CUBE_ORANGE_RECORDING
    for old, new in changes:
        assert old in recording
        recording = recording.replace(old, new)
    props, log = _udev_test(tmp_path, recording, RULES)
    assert "SYSTEMD_WANTS" not in props, f"{why}\n{log}"


@pytest.mark.parametrize("driver", ["cdc_ether", "rndis_host"])
def test_a_usb_network_link_starts_the_companion_check(tmp_path: Path, driver: str) -> None:
    props, log = _udev_test(tmp_path, net_recording("DRONE7", driver=driver), RULES)
    assert props.get("SYSTEMD_WANTS") == "attest-dock-net@usb0.service", log


def test_an_ordinary_network_interface_starts_nothing(tmp_path: Path) -> None:
    props, log = _udev_test(tmp_path, net_recording("X", driver="r8152"), RULES)
    assert "SYSTEMD_WANTS" not in props, log
