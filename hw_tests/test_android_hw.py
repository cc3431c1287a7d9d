"""Android controller specifics on a real device: ``pytest hw_tests --device adb+tcp://HOST:5555`` (or ``adb://SERIAL``).

Connects with the dock's own ADB key (``adbkey`` in ``$ATTEST_STATE_DIR``,
else the state directory ``attest`` itself uses, created there on first use,
so the key the controller authorises here is the dock's), then measures the
controller once with the ADB collector (``--method pull``) and checks: the
device facts (build, security patch, verified boot, bootloader lock); every
package measured, each with its APKs hashed by the dock and its signing
certificate parsed on the dock; the certificates of a few pulled APKs against
Debian's ``apksigner verify --print-certs`` (when installed); and that a
baseline made of the controller with a fleet's rules verifies against it.
Skipped without ``--device`` and for targets that are not ``adb://`` or
``adb+tcp://``. A controller that has not authorised the dock fails every test
with the fingerprint to allow and how. See hw_tests/README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attest.collectors.adb import AdbCollector
from attest.errors import AttestError
from attest.model import Evidence, Method
from attest.targets import target_kind
from attest.transports.adb import AdbConnection, AdbLimits, AdbTarget, DockAdbKey, SyncSession

#: A person has this long to tap "Allow" on the controller when it asks about the dock's key.
_AUTH_WAIT = 60.0
_TIMEOUT = 15.0
#: How many APKs to pull and give to apksigner (user apps first, then system apps).
_CROSS_CHECK_USER, _CROSS_CHECK_SYSTEM = 3, 2
_APKSIGNER = shutil.which("apksigner")
_SCHEMES = {"none", "v1", "v2", "v3", "v3.1"}
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _key_dir() -> Path:
    """Where ``attest`` keeps the dock's ADB key: ``$ATTEST_STATE_DIR``, else its default state directory."""
    if os.environ.get("ATTEST_STATE_DIR"):
        return Path(os.environ["ATTEST_STATE_DIR"])
    if os.geteuid() == 0 or os.environ.get("INVOCATION_ID"):
        return Path("/var/lib/attest")
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state") / "attest"


def _limits() -> AdbLimits:
    return AdbLimits(timeout=_TIMEOUT, auth_wait=_AUTH_WAIT)


def _open(target: str, key: DockAdbKey) -> AdbConnection:
    try:
        return AdbConnection.open(AdbTarget.parse(target), key, _limits())
    except AttestError as e:
        pytest.fail(
            f"cannot attest {target}: {e} (the dock's key: {key.path}; docs/android.md, 'Authorising the dock')"
        )


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> str:
    device = request.config.getoption("--device")
    if not device:
        pytest.skip("no --device given: hardware acceptance tests need a real target")
    if target_kind(str(device)) != "adb":
        pytest.skip("not an Android target (adb+tcp://HOST:PORT or adb://SERIAL)")
    return str(device)


@pytest.fixture(scope="module")
def dock_key(target: str) -> DockAdbKey:
    del target  # only so that the key is not created when the tests are skipped
    return DockAdbKey.load_or_create(_key_dir())


@pytest.fixture(scope="module")
def evidence(target: str, dock_key: DockAdbKey) -> Evidence:
    """One full measurement, as ``attest baseline create`` makes it."""
    _open(target, dock_key).close()  # a clear failure when the dock is not authorised
    collector = AdbCollector(target, key=dock_key, timeout=_TIMEOUT, adb_limits=_limits())
    return collector.collect(collector.settings_extras(), nonce="00" * 32)


def _packages(evidence: Evidence) -> list[str]:
    return sorted(n.removeprefix("package/") for n in evidence.components if n.startswith("package/"))


def test_the_dock_connects_and_is_authorised(target: str, dock_key: DockAdbKey) -> None:
    with _open(target, dock_key) as conn:
        assert conn.banner.state == "device"
        result = conn.shell(["getprop", "ro.build.fingerprint"])
        assert result.stdout.strip(), "getprop printed no build fingerprint"
        if "shell_v2" in conn.banner.features:
            assert result.status == 0
        # The dock's key is what the controller authorised, not an adb server's.
        assert dock_key.path.parent == _key_dir()


def test_device_facts_are_measured(evidence: Evidence) -> None:
    facts, values = evidence.device.facts, evidence.values
    assert facts.get("manufacturer"), facts
    assert facts.get("model"), facts
    if "serial" in facts:
        assert evidence.device.id == f"adb:{facts['serial']}"
    build = evidence.components["android/build"]
    assert build.error is None, build.error
    assert build.method is Method.DEVICE_REPORTED
    assert build.attributes.get("fingerprint"), build.attributes
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(values["android/security_patch"])), values
    assert values["android/verified_boot"] in {"green", "yellow", "orange", "red"}, values
    assert values["android/bootloader_locked"] in {0, 1}, values
    assert values["android/debuggable"] in {0, 1}, values
    assert int(values["android/sdk"]) >= 21, values


def test_every_package_is_measured_with_dock_read_apks_and_certificates(evidence: Evidence) -> None:
    packages = _packages(evidence)
    assert packages, evidence.notes
    assert evidence.notes["packages"]["listed"] == evidence.notes["packages"]["measured"] == len(packages)
    broken = {n: c.error for n, c in evidence.components.items() if c.error}
    assert not broken, broken
    for name in packages:
        assert evidence.values[f"package/{name}"] == evidence.components[f"package/{name}"].attributes["version_code"]
        apks = [c for n, c in evidence.components.items() if n.startswith(f"apk/{name}/")]
        assert apks, f"{name}: no APK measured"
        assert all(c.method is Method.DOCK_READ for c in apks), name
        cert = evidence.components[f"cert/{name}"]
        assert cert.method is Method.DOCK_READ
        assert cert.attributes["scheme"] in _SCHEMES, (name, cert.attributes)
        if cert.attributes["scheme"] != "none":
            certs = str(cert.attributes["certs"]).split(",")
            assert all(_DIGEST.fullmatch(d) for d in certs), (name, cert.attributes)
    signed = [n for n in packages if evidence.components[f"cert/{n}"].attributes["scheme"] in {"v2", "v3", "v3.1"}]
    assert signed, "no package is signed with APK Signature Scheme v2 or later"


def _apksigner(apk: Path, sdk: int) -> tuple[bool, list[str], str]:
    """What ``apksigner verify --print-certs`` says about ``apk`` on the device's platform."""
    assert _APKSIGNER is not None
    sdk_args = ["--min-sdk-version", str(sdk), "--max-sdk-version", str(sdk)]
    done = subprocess.run(
        [_APKSIGNER, "verify", "--print-certs", *sdk_args, str(apk)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    signers = re.findall(r"^Signer #\d+ certificate SHA-256 digest: ([0-9a-f]{64})$", done.stdout, re.MULTILINE)
    return done.returncode == 0, sorted(signers), done.stdout + done.stderr


@pytest.mark.skipif(_APKSIGNER is None, reason="Debian apksigner not installed (apt-get install apksigner)")
def test_certificates_agree_with_apksigner(
    target: str, dock_key: DockAdbKey, evidence: Evidence, tmp_path: Path
) -> None:
    """The dock's certificate digests for a few APKs it pulls are apksigner's, and the bytes hash as measured."""
    system = {n for n in _packages(evidence) if evidence.components[f"package/{n}"].attributes.get("system")}
    user = [n for n in _packages(evidence) if n not in system]
    chosen = user[:_CROSS_CHECK_USER] + sorted(system)[:_CROSS_CHECK_SYSTEM]
    sdk = int(evidence.values["android/sdk"])
    with _open(target, dock_key) as conn:
        for name in chosen:
            paths = conn.shell(["pm", "path", name]).stdout.decode().split()
            base = next(p.removeprefix("package:") for p in paths if p.startswith("package:"))
            local = tmp_path / f"{name}.apk"
            with SyncSession.open(conn) as sync, local.open("wb") as out:
                sync.recv(base.encode(), out.write, limit=1 << 30)
            apk = evidence.components[f"apk/{name}/base.apk"]  # pm path lists the base first, whatever its name
            assert apk.digest == hashlib.sha256(local.read_bytes()).hexdigest(), f"{name}: {base} changed bytes"
            cert = evidence.components[f"cert/{name}"].attributes
            verifies, signers, report = _apksigner(local, sdk)
            if verifies:
                assert sorted(str(cert["certs"]).split(",")) == signers, (name, cert, report)
            else:
                assert cert["scheme"] == "none", (name, cert, report)


def _attest(*args: str | Path, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attest", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "ATTEST_STATE_DIR": str(state)},
    )


def test_a_baseline_with_fleet_rules_verifies_against_the_same_controller(
    target: str, dock_key: DockAdbKey, evidence: Evidence, tmp_path: Path
) -> None:
    """``baseline create`` with the rules docs/android.md lists, signed, then ``verify``: a pass, nothing unknown."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    # The authorised key, in a state directory of its own (rollback floors stay out of the dock's).
    (state / "adbkey").write_bytes(dock_key.path.read_bytes())
    (state / "adbkey").chmod(0o600)
    values = evidence.values
    denied = next(
        (k for k, v in sorted(values.items()) if re.fullmatch(r"package/[^/]+/permission/.+", k) and v == "denied"),
        None,
    )
    rules = [
        f"android/verified_boot={values['android/verified_boot']}",
        f"android/bootloader_locked={values['android/bootloader_locked']}",
        f"android/debuggable={values['android/debuggable']}",
        f"android/security_patch={values['android/security_patch']}..",
        "package/org.example.attest.hwtest.absent!=*",
        *([f"{denied}!=granted"] if denied else []),
    ]
    baseline = tmp_path / "controller.baseline.json"
    r = _attest(
        "baseline", "create", "--device", target, "--name", "hw-android", "--version", "1", "--out", baseline,
        *[arg for rule in rules for arg in ("--rule", rule)], "--timeout", str(_TIMEOUT), state=state,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    statement = json.loads(baseline.read_text())["predicate"]  # before it is signed into a DSSE envelope
    assert len(statement["rules"]) == len(rules)
    assert _attest("key", "generate", "--out", tmp_path / "hw.key", state=state).returncode == 0
    assert _attest("baseline", "sign", baseline, "--key", tmp_path / "hw.key", state=state).returncode == 0
    trust = tmp_path / "trust.toml"
    trust.write_text('threshold = 1\n[[keys]]\nid = "hw"\npublic_key = "hw.pub"\n')

    r = _attest(
        "verify", "--device", target, "--baseline", baseline, "--trust", trust, "--json", "--timeout", str(_TIMEOUT),
        state=state,
    )  # fmt: skip
    result = json.loads(r.stdout)
    assert r.returncode == 0, (result.get("findings"), result.get("message"), r.stderr)
    assert result["verdict"] == "pass"
    assert result["device"]["kind"] == "adb"
    assert result["components"] == len(statement["components"])
    assert {n for n in statement["components"] if n.startswith("package/")} == {
        f"package/{n}" for n in _packages(evidence)
    }
