"""``attest sim android``: what it serves, its faults, and interoperability with Debian's ``adb`` client."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from adb_fixture import AndroidSim, connect, dock_key, sim_android  # noqa: F401 - fixtures

from attest.transports.adb import AdbConnection, SyncSession

#: ``pm list packages -f -U --show-versioncode -i`` (PackageManagerShellCommand.runListPackages).
PM_LINE = re.compile(r"package:(/\S+\.apk)=([\w.]+) versionCode:(\d+)  installer=(\S+) uid:(\d+)")


def _pull(conn: AdbConnection, package: str) -> tuple[str, bytes]:
    path = conn.shell(["pm", "path", package]).stdout.split()[0].removeprefix(b"package:")
    got = bytearray()
    with SyncSession.open(conn) as sync:
        sync.recv(path, got.extend, limit=1 << 30)
    return path.decode(), bytes(got)


def test_prints_its_target_alone_on_the_first_line(sim_android) -> None:  # noqa: F811
    sim = sim_android()
    assert re.fullmatch(r"adb\+tcp://127\.0\.0\.1:\d+", sim.target)


def test_unknown_package_in_a_fault_is_a_usage_error() -> None:
    argv = [sys.executable, "-m", "attest", "sim", "android", "--swap-cert", "com.nope"]
    r = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "--swap-cert com.nope: no such package" in r.stderr
    assert r.stdout == ""


def test_default_controller(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android()
    with connect(sim, dock_key) as conn:
        props = conn.shell(["getprop"]).stdout.decode()
        for key, value in [
            ("ro.product.model", "RC Pro Smart Controller"),
            ("ro.build.version.security_patch", "2024-03-05"),
            ("ro.boot.verifiedbootstate", "green"),
            ("ro.boot.flash.locked", "1"),
            ("ro.debuggable", "0"),
            ("ro.serialno", "RCPRO0000001"),
        ]:
            assert f"[{key}]: [{value}]\n" in props
        assert "[ro.build.fingerprint]: [ExampleDrone/rc_pro/rc_pro:11/" in props
        listing = conn.shell(["pm", "list", "packages", "-f", "-U", "--show-versioncode", "-i"]).stdout.decode()
        rows = [PM_LINE.fullmatch(line) for line in listing.splitlines()]
        assert all(rows), listing
        by_name = {m.group(2): m for m in rows if m}
        assert by_name["com.example.flight"].group(3) == "4213"
        assert by_name["com.example.flight"].group(1).startswith("/data/app/~~")
        assert "com.android.systemui" in by_name
        assert len(conn.shell(["pm", "list", "packages", "-3"]).stdout.splitlines()) == 3
        dump = conn.shell(["dumpsys", "package", "com.example.flight"]).stdout.decode()
        assert "android.permission.CAMERA: granted=true" in dump
        assert "android.permission.RECORD_AUDIO: granted=false" in dump
        assert "versionCode=4213 " in dump
        ops = conn.shell(["cmd", "appops", "get", "com.example.flight"]).stdout.decode()
        assert "FINE_LOCATION: allow\n" in ops
        _, apk = _pull(conn, "com.example.flight")
    with zipfile.ZipFile(BytesIO(apk)) as z:
        assert "AndroidManifest.xml" in z.namelist()
        assert b'package="com.example.flight"' in z.read("AndroidManifest.xml")


def test_same_bytes_every_run(sim_android, dock_key) -> None:  # noqa: F811
    digests = []
    for _ in range(2):
        with connect(sim_android(), dock_key) as conn:
            digests.append(hashlib.sha256(_pull(conn, "com.example.flight")[1]).hexdigest())
    assert digests[0] == digests[1]


def test_swap_cert_and_lie_sha256(sim_android, dock_key) -> None:  # noqa: F811
    """A re-signed flight app: same version, other bytes; the lying sha256sum still reports the approved digest."""
    with connect(sim_android(), dock_key) as conn:
        _, approved = _pull(conn, "com.example.flight")
    with connect(sim_android("--swap-cert", "com.example.flight", "--lie-sha256"), dock_key) as conn:
        path, served = _pull(conn, "com.example.flight")
        assert b"versionCode:4213" in conn.shell(["pm", "list", "packages", "--show-versioncode"]).stdout
        reported = conn.shell(["sha256sum", path]).stdout.decode().split()[0]
    assert served != approved
    assert reported == hashlib.sha256(approved).hexdigest() != hashlib.sha256(served).hexdigest()


def test_extra_package_prop_and_apk_dir(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    apks = tmp_path / "apks"
    apks.mkdir()
    (apks / "com.example.maps.apk").write_bytes(b"PK\x05\x06" + bytes(18))
    sim = sim_android(
        "--extra-package", "com.unknown.uploader", "--prop", "ro.boot.verifiedbootstate=orange", "--apk-dir", str(apks)
    )
    with connect(sim, dock_key) as conn:
        assert b"package:com.unknown.uploader\n" in conn.shell(["pm", "list", "packages", "-3"]).stdout
        assert conn.shell(["getprop", "ro.boot.verifiedbootstate"]).stdout == b"orange\n"
        assert _pull(conn, "com.example.maps")[1] == b"PK\x05\x06" + bytes(18)


# -- interoperability with Debian's adb ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def adb(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Debian's adb with a private server port and HOME (so its adbkey is the test's); the server is killed after."""
    if shutil.which("adb") is None:
        pytest.skip("Debian adb not installed (make system-deps)")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(_free_port())}
    base = ["adb"]
    yield base, env
    subprocess.run([*base, "kill-server"], env=env, capture_output=True, timeout=30, check=False)


def _run(adb: tuple[list[str], dict[str, str]], *args: str) -> subprocess.CompletedProcess[bytes]:
    base, env = adb
    return subprocess.run([*base, *args], env=env, capture_output=True, timeout=60, check=False)


def _connect(adb: tuple[list[str], dict[str, str]], host_port: str) -> str:
    """``adb connect`` until adb lists the device as ready (at most 30 s); returns ``adb devices -l``.

    adb's server finishes the handshake after ``connect`` returns (meanwhile the device is
    listed ``offline`` or ``authorizing``), and on a loaded machine its first connect
    sometimes fails outright: a later command would race either.
    """
    deadline = time.monotonic() + 30
    while True:
        _run(adb, "connect", host_port)
        devices = _run(adb, "devices", "-l").stdout.decode()
        if re.search(rf"^{re.escape(host_port)}\s+device\b", devices, re.MULTILINE) or time.monotonic() > deadline:
            return devices
        time.sleep(0.2)


def test_debian_adb_connects_shells_and_pulls(sim_android, adb, dock_key, tmp_path: Path) -> None:  # noqa: F811
    sim: AndroidSim = sim_android()
    devices = _connect(adb, sim.host_port)
    listed = rf"^{re.escape(sim.host_port)}\s+device .*model:RC_Pro_Smart_Controller"
    assert re.search(listed, devices, re.MULTILINE), devices
    r = _run(adb, "-s", sim.host_port, "shell", "getprop", "ro.build.version.security_patch")
    assert (r.returncode, r.stdout) == (0, b"2024-03-05\n")
    assert _run(adb, "-s", sim.host_port, "shell", "false").returncode == 1  # the exit status crosses shell v2
    path = _run(adb, "-s", sim.host_port, "shell", "pm", "path", "com.example.flight").stdout.split()[0]
    path = path.removeprefix(b"package:").decode()
    r = _run(adb, "-s", sim.host_port, "pull", path, str(tmp_path / "base.apk"))
    assert r.returncode == 0, r
    pulled = (tmp_path / "base.apk").read_bytes()
    with connect(sim, dock_key) as conn:  # what the dock's own client reads is the same
        assert _pull(conn, "com.example.flight")[1] == pulled
        reported = conn.shell(["sha256sum", path]).stdout.decode().split()[0]
    assert reported == hashlib.sha256(pulled).hexdigest()


def test_debian_adb_is_refused_by_an_unauthorised_controller(sim_android, adb) -> None:  # noqa: F811
    sim = sim_android("--unauthorised")
    _run(adb, "connect", sim.host_port)
    r = _run(adb, "-s", sim.host_port, "shell", "true")
    assert r.returncode != 0
    assert b"unauthorized" in r.stderr + r.stdout


def test_keys_adb_generated_are_accepted_by_signature(sim_android, adb, tmp_path: Path) -> None:  # noqa: F811
    """Debian adb signs the simulator's token with its own key: a pre-authorised adbkey gets in without a prompt."""
    base, env = adb
    android_dir = Path(env["HOME"]) / ".android"
    android_dir.mkdir()
    subprocess.run([*base, "keygen", str(android_dir / "adbkey")], env=env, check=True, capture_output=True, timeout=60)
    keys = tmp_path / "adb_keys"
    keys.write_bytes((android_dir / "adbkey.pub").read_bytes())
    sim = sim_android("--unauthorised", "--adb-keys", str(keys))
    _connect(adb, sim.host_port)
    r = _run(adb, "-s", sim.host_port, "shell", "getprop", "ro.serialno")
    assert (r.returncode, r.stdout) == (0, b"RCPRO0000001\n"), r
