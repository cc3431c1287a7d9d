"""The Android controller collector (``adb+tcp://``) against ``attest sim android``: measurement, drift, rules, faults.

Real parts: the simulator speaks the real ADB wire protocol over loopback
TCP (a subprocess, or in this process when a test must look at what its shell
was sent), APKs are real ZIP files, and the signed ones are signed by
Debian's ``apksigner`` with two different keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from adb_fixture import AndroidSim, connect, dock_key, sim_android  # noqa: F401 - fixtures
from apk_kit import apksigner_sign, apksigner_verify, needs_apksigner
from conftest import Fleet, Run
from fuzz.apk_build import make_key

from attest.baseline import Baseline
from attest.collectors import open_collector
from attest.collectors.adb import AdbCollector, AndroidLimits, audit_sample
from attest.collectors.adb.devicehash import parse_digests as parse_sha256sum
from attest.collectors.adb.packages import (
    PackageFormatError,
    escaped,
    parse_appops,
    parse_dumpsys,
    parse_list,
    valid_package_name,
)
from attest.errors import CollectionError, ConfigError, TransportError
from attest.model import Evidence, FindingKind, Method, Result, Severity, Verdict
from attest.rules import Rule
from attest.signing import Envelope, generate_key_files, load_private_key
from attest.sim.android_adbd import Adbd
from attest.sim.android_device import Apk, Package, build_controller, synth_apk
from attest.sim.android_shell import Shell
from attest.targets import TargetOptions
from attest.transports.adb import AdbLimits, DockAdbKey, SyncSession
from attest.trust import RollbackState, TrustPolicy, trust_baseline
from attest.verifier import verify

FLIGHT = "com.example.flight"
FLIGHT_BASE = f"apk/{FLIGHT}/base.apk"
USER_APPS = ("com.example.flight", "com.example.maps", "com.example.logbook")


# -- helpers ---------------------------------------------------------------------------------------------


def collector(target: str, key: DockAdbKey, **kw: Any) -> AdbCollector:
    return AdbCollector(target, key=key, adb_limits=AdbLimits(timeout=5.0, auth_wait=2.0), **kw)


def measure(
    target: str,
    key: DockAdbKey,
    *,
    expected: Baseline | None = None,
    nonce: str = "00" * 32,
    settings: Mapping[str, Any] | None = None,
    **kw: Any,
) -> Evidence:
    """One collection: creating a baseline (``expected`` None) or verifying against ``expected``."""
    got = settings if settings is not None else (expected.collection if expected else {"method": "pull"})
    return collector(target, key, **kw).collect(
        got,
        nonce=nonce,
        device_match=expected.device_match if expected else None,
        expected=expected.components if expected else None,
    )


def make_baseline(evidence: Evidence, *, rules: tuple[str, ...] = (), allow_remote: bool = False) -> Baseline:
    collection: dict[str, Any] = {"selection": {"include": ["**"], "exclude": []}, "method": "pull"}
    if allow_remote:
        collection["allow_methods"] = ["remote"]
    return Baseline.from_evidence(
        evidence,
        name="controller",
        version=1,
        collection=collection,
        device_match={"manufacturer": "ExampleDrone", "model": "RC Pro Smart Controller"},
        rules={r.name: r for r in map(Rule.parse, rules)},
    )


def judge(tmp_path: Path, baseline: Baseline, evidence: Evidence) -> Result:
    """Sign ``baseline`` with a fresh key, trust it, and verify ``evidence`` against it."""
    d = tmp_path / f"trust{len(list(tmp_path.glob('trust*')))}"
    d.mkdir()
    priv, pub = generate_key_files(d / "v.key")
    pol = d / "t.toml"
    pol.write_text(f'threshold = 1\n[[keys]]\nid = "v"\npublic_key = "{pub.name}"\n')
    env = Envelope(baseline.to_payload(), "application/vnd.in-toto+json").signed_by(load_private_key(priv))
    trusted = trust_baseline(env.to_bytes(), policy=TrustPolicy.from_file(pol), state=RollbackState(d / "st"))
    return verify(evidence, trusted)


def kinds(result: Result) -> set[tuple[str, FindingKind]]:
    return {(f.component, f.kind) for f in result.findings}


@pytest.fixture(scope="module")
def signed_apks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``--apk-dir``: each user app signed by the fleet's publisher; the flight app also re-signed by another key."""
    d = tmp_path_factory.mktemp("apks")
    publisher, other = make_key("flight-publisher"), make_key("someone-else")
    for name, code in (("com.example.flight", 4213), ("com.example.maps", 210), ("com.example.logbook", 37)):
        unsigned = d / f"{name}.unsigned.apk"
        unsigned.write_bytes(synth_apk(name, code))
        apksigner_sign(unsigned, d / f"{name}.apk", [publisher])
        if name == FLIGHT:
            apksigner_sign(unsigned, d / f"{name}.swapped.apk", [other])
    return d


class InProcessSim:
    """The simulated adbd in this process, so a test can read what its shell was sent (``shell.injections``)."""

    def __init__(self, adbd: Adbd) -> None:
        self.adbd = adbd
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"adb+tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed at teardown
            self.adbd.serve(self.listener)


@pytest.fixture
def in_process() -> Iterator[Callable[[Adbd], InProcessSim]]:
    sims: list[InProcessSim] = []

    def start(adbd: Adbd) -> InProcessSim:
        sims.append(InProcessSim(adbd))
        return sims[-1]

    yield start
    for sim in sims:
        sim.listener.close()


# -- what is measured ------------------------------------------------------------------------------------


def test_measures_build_packages_apks_certificates_and_values(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android()
    ev = measure(sim.target, dock_key)
    assert ev.device.kind == "adb"
    assert ev.device.id == "adb:RCPRO0000001"
    assert ev.device.facts == {
        "manufacturer": "ExampleDrone",
        "model": "RC Pro Smart Controller",
        "serial": "RCPRO0000001",
    }
    build = ev.components["android/build"]
    assert build.method is Method.DEVICE_REPORTED
    assert build.attributes["security_patch"] == "2024-03-05"
    assert build.attributes["verified_boot"] == "green"
    pkg = ev.components[f"package/{FLIGHT}"]
    assert pkg.kind == "package" and pkg.method is Method.DEVICE_REPORTED
    assert dict(pkg.attributes) == {
        "version_code": 4213,
        "version_name": "4.2.13",
        "installer": "com.android.packageinstaller",
        "system": False,
        "partition": "data",
    }
    assert ev.components["package/com.android.systemui"].attributes["system"] is True
    apks = sorted(n for n in ev.components if n.startswith(f"apk/{FLIGHT}/"))
    assert apks == [FLIGHT_BASE, f"apk/{FLIGHT}/split_config.arm64_v8a.apk"]
    assert all(ev.components[n].method is Method.DOCK_READ for n in apks)
    # Every installed package, system and user: 12 system apps and 3 user apps.
    assert len([n for n in ev.components if n.startswith("package/")]) == 15
    assert len([n for n in ev.components if n.startswith("cert/")]) == 15
    v = ev.values
    assert v["android/security_patch"] == "2024-03-05"
    assert v["android/verified_boot"] == "green"
    assert v["android/bootloader_locked"] == 1
    assert v["android/debuggable"] == 0
    assert v["android/sdk"] == 30
    assert v[f"package/{FLIGHT}"] == 4213
    assert v[f"package/{FLIGHT}/installer"] == "com.android.packageinstaller"
    assert v[f"package/{FLIGHT}/permission/android.permission.CAMERA"] == "granted"
    assert v[f"package/{FLIGHT}/permission/android.permission.RECORD_AUDIO"] == "denied"
    assert v[f"package/{FLIGHT}/permission/android.permission.INTERNET"] == "granted"  # network: install-time
    assert v[f"package/{FLIGHT}/appop/FINE_LOCATION"] == "allow"
    assert v[f"package/{FLIGHT}/appop/RECORD_AUDIO"] == "ignore"


def test_apk_digest_is_the_sha256_of_the_bytes_on_the_device(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android()
    ev = measure(sim.target, dock_key)
    with connect(sim, dock_key) as conn:
        paths = conn.shell(["pm", "path", FLIGHT]).stdout.split()
        got = bytearray()
        with SyncSession.open(conn) as sync:
            sync.recv(paths[0].removeprefix(b"package:"), got.extend, limit=1 << 30)
    assert ev.components[FLIGHT_BASE].digest == hashlib.sha256(got).hexdigest()
    assert ev.components[FLIGHT_BASE].attributes["size"] == len(got)


@needs_apksigner
def test_certificate_is_what_apksigner_prints(sim_android, dock_key, signed_apks: Path) -> None:  # noqa: F811
    """``cert/<name>`` is the signer certificate's SHA-256, as ``apksigner verify --print-certs`` says."""
    sim = sim_android("--apk-dir", str(signed_apks))
    ev = measure(sim.target, dock_key)
    want = apksigner_verify(signed_apks / f"{FLIGHT}.apk").signers
    cert = ev.components[f"cert/{FLIGHT}"]
    assert (cert.digest,) == want == (make_key("flight-publisher").sha256,)
    assert cert.method is Method.DOCK_READ
    assert cert.attributes["scheme"] in ("v2", "v3")
    assert ev.components["cert/android"].attributes["scheme"] == "none"  # the simulator's system apps are unsigned
    assert ev.components["cert/android"].digest is None


@needs_apksigner
def test_certificate_beyond_the_kept_ends_is_read_again(sim_android, dock_key, signed_apks: Path) -> None:  # noqa: F811
    """When the signature data lies between the bytes kept, the APK is read once more, in full."""
    sim = sim_android("--apk-dir", str(signed_apks))
    small = AndroidLimits(apk_head=64, apk_tail=64)
    ev = measure(sim.target, dock_key, limits=small)
    assert ev.components[f"cert/{FLIGHT}"].digest == make_key("flight-publisher").sha256
    normal = measure(sim.target, dock_key)
    assert ev.components == normal.components
    assert ev.notes["apk_bytes_read"] > normal.notes["apk_bytes_read"]  # the signed APKs were read twice


# -- baseline create and verify through the CLI ------------------------------------------------------------


def _create(attest: Callable[..., Run], target: str, out: Path, *extra: str) -> Run:
    return attest(
        "baseline", "create", "--device", target, "--name", "controller", "--version", "1", "--out", out, *extra
    )


def _sign(attest: Callable[..., Run], fleet: Fleet, path: Path, *, allow_remote: bool = False) -> None:
    if allow_remote:  # what signers add to accept remote checks of this baseline
        statement = json.loads(path.read_text())
        statement["predicate"]["collection"]["allow_methods"] = ["remote"]
        path.write_text(json.dumps(statement))
    assert attest("baseline", "sign", path, "--key", fleet.keys[0]).code == 0


def test_cli_create_then_verify_passes(sim_android, attest, fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811
    sim = sim_android()
    b = tmp_path / "controller.json"
    r = _create(attest, sim.target, b)
    assert r.code == 0, r.err
    predicate = json.loads(b.read_text())["predicate"]
    assert predicate["device"] == {
        "kind": "adb",
        "match": {"manufacturer": "ExampleDrone", "model": "RC Pro Smart Controller"},
    }
    assert predicate["collection"]["method"] == "pull"
    key = tmp_path / "state" / "adbkey"  # the dock's own ADB key, made on first use
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    _sign(attest, fleet, b)
    r = attest("verify", "--device", sim.target, "--baseline", b, "--trust", fleet.trust, "--json")
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["verdict"] == "pass"
    assert out["device"]["id"] == "adb:RCPRO0000001"
    assert out["methods"] == ["device-reported", "dock-read"]


def test_cli_rules_a_fleet_writes(sim_android, attest, fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811
    """Each fleet rule from docs/android.md, written with --rule, against a controller that breaks it."""
    sim = sim_android()
    b = tmp_path / "controller.json"
    rules = [
        "package/com.example.spy!=*",  # must not be installed
        f"package/{FLIGHT}/permission/android.permission.RECORD_AUDIO!=granted",  # must not hold the microphone
        "android/security_patch=2024-03-01..",  # minimum patch level
        "android/verified_boot=green",
        "android/bootloader_locked=1",
        f"package/{FLIGHT}=4213..",  # a minimum version
        f"package/{FLIGHT}/installer=com.android.vending|com.android.packageinstaller",
    ]
    r = _create(attest, sim.target, b, *(a for rule in rules for a in ("--rule", rule)))
    assert r.code == 0, r.err
    _sign(attest, fleet, b)
    assert attest("verify", "--device", sim.target, "--baseline", b, "--trust", fleet.trust).code == 0
    bad = sim_android(
        "--extra-package", "com.example.spy",
        "--prop", "ro.boot.verifiedbootstate=orange",
        "--prop", "ro.boot.flash.locked=0",
        "--prop", "ro.build.version.security_patch=2023-12-05",
    )  # fmt: skip
    r = attest("verify", "--device", bad.target, "--baseline", b, "--trust", fleet.trust, "--json")
    assert r.code == 1, r.out + r.err
    out_of_range = {
        f["component"]: (f["expected"], f["actual"]) for f in r.json()["findings"] if f["kind"] == "out_of_range"
    }
    assert out_of_range == {
        "package/com.example.spy": ("absent", 1),
        "android/verified_boot": ("green", "orange"),
        "android/bootloader_locked": ("1", 0),
        "android/security_patch": ("2024-03-01..", "2023-12-05"),
    }


def test_rule_on_a_held_permission_is_out_of_range(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    sim = sim_android()
    ev = measure(sim.target, dock_key)
    perm = f"package/{FLIGHT}/permission/android.permission"
    rules = (f"{perm}.CAMERA!=granted", f"{perm}.RECORD_AUDIO!=granted", f"{perm}.NEVER_ASKED!=granted")
    result = judge(tmp_path, make_baseline(ev, rules=rules), ev)
    assert [(f.component, f.kind, f.actual) for f in result.findings] == [
        (f"{perm}.CAMERA", FindingKind.OUT_OF_RANGE, "granted")
    ]


# -- drift ---------------------------------------------------------------------------------------------------


@needs_apksigner
def test_swapped_certificate_is_critical_drift_with_the_same_version(
    sim_android,  # noqa: F811
    dock_key,  # noqa: F811
    signed_apks: Path,
    tmp_path: Path,
) -> None:
    good = sim_android("--apk-dir", str(signed_apks))
    baseline = make_baseline(measure(good.target, dock_key))
    swapped = sim_android("--apk-dir", str(signed_apks), "--swap-cert", FLIGHT)
    ev = measure(swapped.target, dock_key, expected=baseline)
    result = judge(tmp_path, baseline, ev)
    assert result.verdict is Verdict.DRIFT
    assert kinds(result) == {(f"cert/{FLIGHT}", FindingKind.MODIFIED), (FLIGHT_BASE, FindingKind.MODIFIED)}
    cert = next(f for f in result.findings if f.component == f"cert/{FLIGHT}")
    assert cert.severity is Severity.CRITICAL
    assert cert.expected == f"sha256:{make_key('flight-publisher').sha256}"
    assert cert.actual == f"sha256:{make_key('someone-else').sha256}"
    assert ev.components[f"package/{FLIGHT}"] == baseline.components[f"package/{FLIGHT}"]  # the same version
    assert ev.notes["changes"] == {
        f"cert/{FLIGHT}": {"certs": [make_key("flight-publisher").sha256, make_key("someone-else").sha256]}
    }


def test_extra_package_is_unexpected_without_being_read(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    baseline = make_baseline(measure(sim_android().target, dock_key))
    extra = sim_android("--extra-package", "com.example.spy")
    ev = measure(extra.target, dock_key, expected=baseline)
    result = judge(tmp_path, baseline, ev)
    assert result.verdict is Verdict.DRIFT
    assert kinds(result) == {("package/com.example.spy", FindingKind.UNEXPECTED)}
    assert not [n for n in ev.components if "com.example.spy" in n and not n.startswith("package/")]
    assert ev.notes["packages"] == {"listed": 16, "measured": 15}
    assert ev.values["package/com.example.spy"] == 1  # still a value: NAME!=* rules see it


def test_changed_build_is_drift_and_the_notes_say_what_changed(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    baseline = make_baseline(measure(sim_android().target, dock_key))
    ev = measure(sim_android("--prop", "ro.boot.verifiedbootstate=orange").target, dock_key, expected=baseline)
    assert kinds(judge(tmp_path, baseline, ev)) == {("android/build", FindingKind.MODIFIED)}
    assert ev.notes["changes"] == {"android/build": {"verified_boot": ["green", "orange"]}}


def test_selection_can_pin_certificates_without_apk_bytes(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """``--exclude 'apk/**'``: the APKs are still read for their certificates, but not pinned themselves."""
    settings = {"selection": {"include": ["**"], "exclude": ["apk/**", "package/com.android.*"]}, "method": "pull"}
    sim = sim_android()
    ev = measure(sim.target, dock_key, settings=settings)
    assert not [n for n in ev.components if n.startswith(("apk/", "package/com.android."))]
    assert ev.components[f"cert/{FLIGHT}"].method is Method.DOCK_READ
    baseline = Baseline.from_evidence(
        ev, name="controller", version=1, collection=settings, device_match={"model": "RC Pro Smart Controller"}
    )
    again = measure(sim.target, dock_key, expected=baseline)
    assert judge(tmp_path, baseline, again).verdict is Verdict.PASS
    assert again.components[f"cert/{FLIGHT}"] == ev.components[f"cert/{FLIGHT}"]


# -- remote mode and the audit -------------------------------------------------------------------------------


def _apk_names(baseline: Baseline) -> list[str]:
    return sorted(n for n in baseline.components if n.startswith("apk/"))


def _nonce(baseline: Baseline, *, covers: bool) -> str:
    """A nonce whose default audit sample does (or does not) include the flight app's base APK."""
    names = _apk_names(baseline)
    for i in range(10_000):
        nonce = hashlib.sha256(str(i).encode()).hexdigest()
        if (FLIGHT_BASE in audit_sample(names, nonce)) == covers:
            return nonce
    raise AssertionError("no such nonce")


def test_remote_mode_passes_a_clean_controller(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    sim = sim_android()
    baseline = make_baseline(measure(sim.target, dock_key), allow_remote=True)
    ev = measure(sim.target, dock_key, expected=baseline, method="remote")
    assert judge(tmp_path, baseline, ev).verdict is Verdict.PASS
    audit = ev.notes["audit"]
    assert audit["population"] == 16 and audit["sample_size"] == 8
    audited = {n for n, c in ev.components.items() if c.kind == "apk" and c.method is Method.DOCK_READ}
    assert audited == set(audit["sample"])
    assert ev.components[f"cert/{FLIGHT}"].method in (Method.DOCK_READ, Method.DEVICE_REPORTED)
    assert ev.notes["apk_bytes_read"] < sum(int(ev.components[n].attributes["size"] or 0) for n in _apk_names(baseline))


def test_lying_sha256sum_is_caught_by_an_audit_sample_that_covers_it(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """``--lie-sha256`` reports the approved digest of a swapped APK; the dock's own read of it disagrees."""
    baseline = make_baseline(measure(sim_android().target, dock_key), allow_remote=True)
    liar = sim_android("--swap-cert", FLIGHT, "--lie-sha256")
    for ev in (
        measure(liar.target, dock_key, expected=baseline, method="remote", audit_sample=1000),
        measure(liar.target, dock_key, expected=baseline, method="remote", nonce=_nonce(baseline, covers=True)),
    ):
        result = judge(tmp_path, baseline, ev)
        assert result.verdict is Verdict.DRIFT
        assert (FLIGHT_BASE, FindingKind.DEVICE_LIED) in kinds(result)
        lie = next(f for f in result.findings if f.kind is FindingKind.DEVICE_LIED)
        assert lie.severity is Severity.CRITICAL
        assert lie.actual == f"sha256:{baseline.components[FLIGHT_BASE].digest}"  # what the device claimed
        assert ev.components[FLIGHT_BASE].method is Method.DOCK_READ
        assert ev.notes["audit"]["disagreements"] == [FLIGHT_BASE]


def test_a_sample_that_misses_the_lie_cannot_see_it_but_pull_mode_does(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """Remote mode is device-reported beyond its sample (docs/android.md gives the odds); pull mode reads every APK."""
    baseline = make_baseline(measure(sim_android().target, dock_key), allow_remote=True)
    liar = sim_android("--swap-cert", FLIGHT, "--lie-sha256")
    missed = measure(liar.target, dock_key, expected=baseline, method="remote", nonce=_nonce(baseline, covers=False))
    assert missed.components[FLIGHT_BASE].method is Method.DEVICE_REPORTED
    assert judge(tmp_path, baseline, missed).verdict is Verdict.PASS
    pulled = judge(tmp_path, baseline, measure(liar.target, dock_key, expected=baseline))
    assert kinds(pulled) == {(FLIGHT_BASE, FindingKind.MODIFIED)}  # the lie is irrelevant: nobody asked sha256sum


def test_remote_mode_reports_a_changed_apk_without_reading_it(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    baseline = make_baseline(measure(sim_android().target, dock_key), allow_remote=True)
    swapped = sim_android("--swap-cert", FLIGHT)
    ev = measure(swapped.target, dock_key, expected=baseline, method="remote", nonce=_nonce(baseline, covers=False))
    result = judge(tmp_path, baseline, ev)
    assert kinds(result) == {(FLIGHT_BASE, FindingKind.MODIFIED), (f"cert/{FLIGHT}", FindingKind.MODIFIED)}
    assert ev.components[f"cert/{FLIGHT}"].not_hashed is not None


def test_cli_method_downgrade_and_remote_creation_are_refused(
    sim_android,  # noqa: F811
    attest,
    fleet: Fleet,
    tmp_path: Path,
) -> None:
    sim = sim_android()
    b = tmp_path / "controller.json"
    r = _create(attest, sim.target, b, "--method", "remote")
    assert r.code == 2 and "create it with --method pull" in r.err
    assert _create(attest, sim.target, b).code == 0
    _sign(attest, fleet, b)
    r = attest("verify", "--device", sim.target, "--baseline", b, "--trust", fleet.trust, "--method", "remote")
    assert r.code == 2 and "does not allow remote" in r.err
    allowed = tmp_path / "allowed.json"
    assert _create(attest, sim.target, allowed).code == 0
    _sign(attest, fleet, allowed, allow_remote=True)
    r = attest("verify", "--device", sim.target, "--baseline", allowed, "--trust", fleet.trust, "--method", "remote")
    assert r.code == 0, r.out + r.err


# -- identity --------------------------------------------------------------------------------------------------


def test_pinned_serial_refuses_another_controller(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    sim = sim_android()
    ev = measure(sim.target, dock_key)
    coll = collector(sim.target, dock_key)
    baseline = replace(make_baseline(ev), device_match=coll.selector(ev, pin_instance=True))
    assert baseline.device_match["serial"] == "RCPRO0000001"
    other = sim_android("--serial", "RCPRO0000002")
    ev2 = measure(other.target, dock_key, expected=baseline)
    assert ev2.components == {}  # nothing read from the wrong controller
    result = judge(tmp_path, baseline, ev2)
    assert result.verdict is Verdict.UNTRUSTED
    assert "serial" in (result.message or "")
    assert coll.stable_id(sim.target, baseline.device_match) == "adb:RCPRO0000001"
    assert coll.stable_id(sim.target, {}) == sim.target


def test_a_failed_run_names_the_controller_as_a_pass_would(sim_android, attest, fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811
    sim = sim_android()
    b = tmp_path / "controller.json"
    assert _create(attest, sim.target, b).code == 0
    _sign(attest, fleet, b)
    # Stalls after the properties were read, while the packages are listed.
    stalled = sim_android("--stall-after", "90")
    r = attest(
        "verify", "--device", stalled.target, "--baseline", b, "--trust", fleet.trust, "--json", "--timeout", "2"
    )
    assert r.code == 3, r.out + r.err
    assert r.json()["device"]["id"] == "adb:RCPRO0000001"


# -- faults and a hostile controller ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ("--drop-after", "30"),
        ("--drop-after", "200"),
        ("--stall-after", "30"),
        ("--stall-after", "200", "--keepalive"),
        ("--garbage-after", "150"),
        ("--unauthorised",),
    ],
)
def test_faults_end_in_exit_3_never_a_pass(
    sim_android,  # noqa: F811
    attest,
    fleet: Fleet,
    tmp_path: Path,
    fault: tuple[str, ...],
) -> None:
    b = tmp_path / "controller.json"
    assert _create(attest, sim_android().target, b).code == 0
    _sign(attest, fleet, b)
    bad = sim_android(*fault)
    r = attest("verify", "--device", bad.target, "--baseline", b, "--trust", fleet.trust, "--json", "--timeout", "2")
    assert r.code == 3, r.out + r.err
    assert r.json()["verdict"] == "error"


def test_old_adbd_without_exit_statuses_still_measures_strictly(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    baseline = make_baseline(measure(sim_android().target, dock_key))
    ev = measure(sim_android("--no-shell-v2").target, dock_key, expected=baseline)
    assert ev.notes["shell_v2"] is False
    assert judge(tmp_path, baseline, ev).verdict is Verdict.PASS


def test_hostile_names_never_reach_a_shell_unquoted(in_process, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """Names Android does not allow get no command at all; a valid package's odd path is one quoted word."""
    device = build_controller(hostile_names=True)
    odd = "/data/app/~~x/com.example.odd-$(reboot);`id` 'q'\\/base.apk"
    data = synth_apk("com.example.odd", 7)
    device.packages.append(
        Package(
            "com.example.odd", 7, "7", 10200, system=False, installer="com.android.vending", apks=[Apk(odd, data, data)]
        )
    )
    sim = in_process(Adbd(device, Shell(device)))
    ev = measure(sim.target, dock_key)  # pull: APKs over sync, no shell
    assert ev.components["apk/com.example.odd/base.apk"].digest == hashlib.sha256(data).hexdigest()
    bad = sorted(n for n, c in ev.components.items() if c.error is not None)
    assert "android/packages" in bad  # the name with a newline broke its line
    for name in ("com.evil;reboot", "com.evil$(id)", "com.evil`id`", "com.evil'quote", "com.evil name", "-rf"):
        assert f"package/{name}" in bad
    assert "package/com.evil\x1b[2Jclear" in bad
    # Remote mode names the odd path to the device's sha256sum.
    good = [n for n, c in ev.components.items() if c.error is None]
    baseline = make_baseline(
        Evidence(ev.device, {n: ev.components[n] for n in good}, ev.nonce, ev.collected_at), allow_remote=True
    )
    remote = measure(sim.target, dock_key, expected=baseline, method="remote", nonce=_nonce(baseline, covers=False))
    odd_apk = remote.components["apk/com.example.odd/base.apk"]
    assert odd_apk.digest == hashlib.sha256(data).hexdigest()
    assert sim.adbd.shell.injections == []
    result = judge(tmp_path, baseline, remote)
    assert result.verdict is Verdict.ERROR  # the hostile packages are still there


def test_cli_hostile_names_are_exit_3(sim_android, attest, tmp_path: Path) -> None:  # noqa: F811
    r = _create(attest, sim_android("--hostile-names").target, tmp_path / "b.json")
    assert r.code == 3
    assert "could not be read" in r.err or "a baseline must be complete" in r.err
    assert not (tmp_path / "b.json").exists()


def test_huge_apk_is_not_read(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """A 10 GiB APK (its STAT says 2 GiB: sync sizes are 32-bit) costs nothing when verifying; creating refuses it."""
    baseline = make_baseline(measure(sim_android().target, dock_key))
    huge = sim_android("--huge-apk", FLIGHT)
    ev = measure(huge.target, dock_key, expected=baseline)
    assert (
        ev.components[FLIGHT_BASE].not_hashed
        == f"size {2**31} differs from the baseline's {baseline.components[FLIGHT_BASE].attributes['size']}"
    )
    assert ev.notes["apk_bytes_read"] < 1 << 20
    assert kinds(judge(tmp_path, baseline, ev)) == {
        (FLIGHT_BASE, FindingKind.MODIFIED),
        (f"cert/{FLIGHT}", FindingKind.MODIFIED),
    }
    created = measure(huge.target, dock_key)
    assert created.components[FLIGHT_BASE].error is not None
    with pytest.raises(CollectionError, match="could not be read"):
        make_baseline(created)


def test_ten_thousand_packages_are_bounded(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    baseline = make_baseline(measure(sim_android().target, dock_key))
    crowd = sim_android("--packages", "10000")
    ev = measure(crowd.target, dock_key, expected=baseline)
    assert ev.notes["packages"] == {"listed": 10000, "measured": 15}  # the 9,985 others: one list line each
    assert judge(tmp_path, baseline, ev).verdict is Verdict.DRIFT
    with pytest.raises(CollectionError, match="lists 10000 packages; a baseline measures at most 2000"):
        measure(crowd.target, dock_key)


def test_usb_target_without_the_device_is_exit_3(dock_key) -> None:  # noqa: F811
    with pytest.raises(TransportError, match="no Android device with USB serial number 'RCPRO0000001'"):
        measure("adb://RCPRO0000001", dock_key)


def test_open_collector_dispatches_adb_targets(tmp_path: Path) -> None:
    coll = open_collector("adb+tcp://127.0.0.1:5555", TargetOptions(state_dir=tmp_path, method="remote"))
    assert isinstance(coll, AdbCollector) and coll.kind == "adb"
    with pytest.raises(ConfigError):
        open_collector("adb+tcp://127.0.0.1:5555", TargetOptions(method="fast"))


def test_debian_adb_pulls_a_large_apk_from_the_simulator(sim_android, tmp_path: Path) -> None:  # noqa: F811
    """The simulator never sends a message above the smaller of both maxima (adb refuses one; the bench's anchor)."""
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("Debian adb not installed (make system-deps)")
    sim = sim_android("--apk-size", "3000000")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "ANDROID_ADB_SERVER_PORT": str(port)}

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([adb, *args], env=env, capture_output=True, timeout=60, check=False)

    try:
        for _ in range(3):
            run("connect", sim.host_port)
            if run("-s", sim.host_port, "get-state").stdout.strip() == b"device":
                break
        path = run("-s", sim.host_port, "shell", "pm", "path", FLIGHT).stdout.split()[0].removeprefix(b"package:")
        r = run("-s", sim.host_port, "pull", path.decode(), str(tmp_path / "base.apk"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "base.apk").stat().st_size > 2_000_000
    finally:
        run("kill-server")


# -- parsers ----------------------------------------------------------------------------------------------------


def test_pm_list_name_follows_the_last_equals_sign() -> None:
    out = (
        b"package:/data/app/~~AbC==/com.a-XyZ==/base.apk=com.a versionCode:12  installer=null uid:10100\n"
        b"package:/system/app/B/B.apk=com.b versionCode:9007199254740993  installer=com.android.vending uid:10101\n"
        b"not a package line\n"
    )
    found, bad = parse_list(out, max_packages=10)
    assert [(p.name, p.path, p.version_code, p.installer) for p in found] == [
        ("com.a", b"/data/app/~~AbC==/com.a-XyZ==/base.apk", 12, None),
        ("com.b", b"/system/app/B/B.apk", "9007199254740993", "com.android.vending"),  # beyond JSON's exact integers
    ]
    assert bad == [b"not a package line"]


def test_package_names_and_escaping() -> None:
    for ok in ("android", "com.example.flight", "a.b_c.D9"):
        assert valid_package_name(ok)
    for bad in ("", "-rf", "com..x", "com.9x", "com.x;y", "com/x", ".com", "x" * 256):
        assert not valid_package_name(bad)
    assert escaped(b"a/b\\c\xff") == "a\\x2fb\\\\c\\xff"


def test_dumpsys_reads_only_the_package_block_and_user_0() -> None:
    out = b"""Packages:
  Package [com.x] (abc):
    userId=10100
    versionCode=5 minSdk=26 targetSdk=30
    versionName=1.0 beta
    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]
    installerPackageName=com.android.vending
    install permissions:
      android.permission.INTERNET: granted=true
    User 0: ceDataInode=1 installed=true
      runtime permissions:
        android.permission.CAMERA: granted=false, flags=[ USER_SET ]
    User 10: ceDataInode=2 installed=true
      runtime permissions:
        android.permission.RECORD_AUDIO: granted=true, flags=[ USER_SET ]

Hidden system packages:
  Package [com.x] (def):
    versionCode=1 minSdk=26 targetSdk=30
"""
    d = parse_dumpsys(out, "com.x", max_permissions=10)
    assert (d.version_code, d.version_name, d.installer, d.system) == (5, "1.0 beta", "com.android.vending", False)
    assert d.permissions == {"android.permission.INTERNET": True, "android.permission.CAMERA": False}


_BLOCK = """Packages:
  Package [com.x] (abc):
    userId=10100
    versionCode=5 minSdk=26 targetSdk=30
    versionName={version_name}
    flags=[ HAS_CODE ]
    installerPackageName=com.android.vending
    install permissions:
      android.permission.INTERNET: granted=true
    User 0: ceDataInode=1 installed=true
      runtime permissions:
        android.permission.RECORD_AUDIO: granted=true, flags=[ USER_SET ]
"""


def test_dumpsys_reads_a_shared_users_permissions_where_android_prints_them() -> None:
    """A package of a shared user id has no permissions in its own block (AOSP Settings.dumpPackageLPr): they
    are under ``Shared users:``; reading only the package block saw none, so a granted microphone passed a rule."""
    out = b"""Packages:
  Package [com.x] (abc):
    userId=1000
    sharedUser=SharedUserSetting{5f2a9c4 android.uid.system/1000}
    versionCode=5 minSdk=26 targetSdk=30
    versionName=1.0
    flags=[ SYSTEM HAS_CODE ]
    User 0: ceDataInode=1 installed=true

Shared users:
  SharedUser [android.uid.system] (5f2a9c4):
    userId=1000
    Packages
      PackageSetting{1b2c3d4 com.x/1000}
    install permissions:
      android.permission.INTERNET: granted=true
    User 0:       gids=[1065, 3002]
      runtime permissions:
        android.permission.RECORD_AUDIO: granted=true, flags=[ USER_SET ]
"""
    d = parse_dumpsys(out, "com.x", max_permissions=10)
    assert d.system and d.permissions == {"android.permission.INTERNET": True, "android.permission.RECORD_AUDIO": True}
    # Its shared user's block missing: an error, never "no permissions".
    with pytest.raises(PackageFormatError, match="no 'Shared users:' section"):
        parse_dumpsys(out.split(b"Shared users:")[0], "com.x", max_permissions=10)
    # Laid out otherwise (a release printing headings deeper): an error, never permissions silently unread.
    head, shared = out.split(b"    userId=1000\n    Packages")
    deeper = head + b"    userId=1000\n    Packages" + shared.replace(b"\n    ", b"\n      ")
    with pytest.raises(PackageFormatError, match="where it was not expected"):
        parse_dumpsys(deeper, "com.x", max_permissions=10)


@pytest.mark.parametrize(
    ("version_name", "match"),
    [
        # A line break in the app's versionName ending its block before the permissions.
        ("4.2\n  .", "where only the block of com.x belongs"),
        # ... or repeating a field or a heading that comes later (a later one would overwrite it).
        ("4.2\n    flags=[ SYSTEM ]", "printed flags twice"),
        ("4.2\n    install permissions:\n      android.permission.X: granted=true", "'install permissions:' twice"),
        ("4.2\n    User 0: installed=true\n      runtime permissions:", "'User 0' twice"),
    ],
    ids=["ends-the-block", "second-flags", "second-install-permissions", "second-user-0"],
)
def test_dumpsys_text_the_app_controls_cannot_reshape_its_block(version_name: str, match: str) -> None:
    out = _BLOCK.format(version_name=version_name).encode()
    with pytest.raises(PackageFormatError, match=match):
        parse_dumpsys(out, "com.x", max_permissions=10)
    assert parse_dumpsys(_BLOCK.format(version_name="4.2").encode(), "com.x", max_permissions=10).permissions == {
        "android.permission.INTERNET": True,
        "android.permission.RECORD_AUDIO": True,
    }


def test_dumpsys_with_a_second_packages_section_is_refused() -> None:
    """Strings printed before the real section (resolver tables) must not be able to stand in for it."""
    fake = _BLOCK.format(version_name="4.2").replace("granted=true, flags", "granted=false, flags")
    out = ("Activity Resolver Table:\n" + fake + "\n" + _BLOCK.format(version_name="4.2")).encode()
    with pytest.raises(PackageFormatError, match="2 'Packages:' sections"):
        parse_dumpsys(out, "com.x", max_permissions=10)


def test_dumpsys_without_user_0_is_refused() -> None:
    out = _BLOCK.format(version_name="4.2").split("    User 0:")[0].encode()
    with pytest.raises(PackageFormatError, match="no 'User 0:' section"):
        parse_dumpsys(out, "com.x", max_permissions=10)


class TwiceListed(Shell):
    """``pm list packages`` names the flight app a second time, with another APK."""

    def _list_packages(self, args: list[str]) -> Any:
        out = super()._list_packages(args)
        extra = b"package:/data/local/tmp/evil/base.apk=com.example.flight versionCode:9999  installer=null uid:10999\n"
        return type(out)(iter([*out.stdout, extra]), out.stderr, out.status)


def test_a_package_listed_twice_is_an_error_not_a_measurement(in_process, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """Which line is the package? Neither: the error stands (it used to be overwritten by the first line's
    measurement, and the controller passed)."""
    device = build_controller()
    clean = measure(in_process(Adbd(device, Shell(device))).target, dock_key)
    baseline = make_baseline(clean)
    twice = in_process(Adbd(device, TwiceListed(device)))
    ev = measure(twice.target, dock_key, expected=baseline)
    assert "lists it twice" in (ev.components["package/com.example.flight"].error or "")
    assert "apk/com.example.flight/base.apk" not in ev.components
    assert judge(tmp_path, baseline, ev).verdict is Verdict.ERROR


def test_appops_package_mode_wins_and_history_is_skipped() -> None:
    out = (
        b"Uid mode: COARSE_LOCATION: foreground\nCOARSE_LOCATION: allow; time=+1h ago\n"
        b"CAMERA: deny\n  Access: [fg] 2021\n"
    )
    assert parse_appops(out, max_ops=10) == {"COARSE_LOCATION": "allow", "CAMERA": "deny"}


def test_sha256sum_output_is_matched_path_by_path() -> None:
    a, b = b"/data/app/a b/base.apk", b"/data/app/c\\d/base.apk"
    out = b"0" * 64 + b"  " + a + b"\n" + b"1" * 64 + b"  " + b + b"\n"
    assert parse_sha256sum(out, [a, b], b"", label="t") == {a: "0" * 64, b: "1" * 64}
    missing = parse_sha256sum(b"1" * 64 + b"  " + b + b"\n", [a, b], b"no such file", label="t")
    assert missing[a].startswith("cannot read") and missing[b] == "1" * 64
    with pytest.raises(CollectionError, match="not asked for"):
        parse_sha256sum(out + b"2" * 64 + b"  /etc/passwd\n", [a, b], b"", label="t")


def test_audit_sample_is_the_ssh_rule() -> None:
    names = [f"apk/p{i}/base.apk" for i in range(100)]
    sample = audit_sample(names, "ab" * 32)
    assert len(sample) == 8 and sample == sorted(sample)
    ranked = sorted(names, key=lambda n: hashlib.sha256(("ab" * 32).encode() + b"\0" + n.encode()).digest())
    assert set(sample) == set(ranked[:8])
    assert len(audit_sample(names * 10, "cd" * 32)) == 20  # 2 % of 1,000
