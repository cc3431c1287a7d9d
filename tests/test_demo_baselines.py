"""The committed demo baselines still describe the simulated drones, and tampering shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import Run

if TYPE_CHECKING:
    from adb_fixture import AndroidSim
    from fc_fixture import Sim

pytest_plugins = ["fc_fixture", "adb_fixture"]

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


def _verify(attest: Callable[..., Run], device: str | Path, baseline: str) -> Run:
    return attest(
        "verify", "--device", device, "--baseline", BASELINES / baseline, "--trust", BASELINES / "trust.toml", "--json"
    )


def test_demo_baseline_passes_on_a_fresh_sim_tree(attest: Callable[..., Run], tmp_path: Path) -> None:
    tree = tmp_path / "companion"
    assert attest("sim", "tree", "--out", tree).code == 0
    r = _verify(attest, tree, "companion.baseline.json")
    assert r.code == 0, r.out + r.err
    assert r.json()["baseline"]["name"] == "demo-companion"

    (tree / "data/logs/today.log").write_text("excluded by the baseline")
    assert _verify(attest, tree, "companion.baseline.json").code == 0

    with (tree / "boot/Image").open("r+b") as f:
        f.seek(1_000_000)
        b = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([b[0] ^ 0x80]))
    r = _verify(attest, tree, "companion.baseline.json")
    assert r.code == 1
    assert [(f["component"], f["kind"]) for f in r.json()["findings"]] == [("boot/Image", "modified")]


def test_sim_tree_refuses_a_non_empty_directory(attest: Callable[..., Run], tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    r = attest("sim", "tree", "--out", tmp_path)
    assert r.code == 2
    assert (tmp_path / "x").read_text() == "keep me"


def test_demo_fc_baseline_passes_on_the_default_sim_and_catches_the_evil_one(
    attest: Callable[..., Run], sim_fc: Callable[..., Sim], tmp_path: Path
) -> None:
    r = _verify(attest, sim_fc().path, "fc.baseline.json")
    assert r.code == 0, r.out + r.err
    assert r.json()["device"]["facts"]["board_id"] == "140"

    assert attest("sim", "firmware", "--variant", "evil", "--out", tmp_path / "evil.apj").code == 0
    evil = sim_fc("--param", "FENCE_ENABLE=0", "--flash", str(tmp_path / "evil.apj"), "--lie-crc")
    r = _verify(attest, evil.path, "fc.baseline.json")
    assert r.code == 1
    kinds = {(f["component"], f["kind"]) for f in r.json()["findings"]}
    assert {("param/FENCE_ENABLE", "out_of_range"), ("fc/flash", "modified"), ("fc/firmware", "modified")} <= kinds
    assert any(kind == "device_lied" for _, kind in kinds)


def test_demo_controller_baseline_passes_on_the_sim_and_catches_the_re_signed_flight_app(
    attest: Callable[..., Run], sim_android: Callable[..., AndroidSim]
) -> None:
    """What scripts/demo_android.sh shows: with the signed flight app (baselines/android-apks) a re-signing shows."""
    apks = str(BASELINES / "android-apks")
    r = _verify(attest, sim_android("--apk-dir", apks).target, "controller.baseline.json")
    assert r.code == 0, r.out + r.err
    assert r.json()["device"]["id"] == "adb:RCPRO0000001"

    swapped = sim_android(
        "--apk-dir", apks, "--swap-cert", "com.example.flight", "--extra-package", "com.example.cloudsync"
    )
    r = _verify(attest, swapped.target, "controller.baseline.json")
    assert r.code == 1, r.out + r.err
    kinds = {(f["component"], f["kind"]) for f in r.json()["findings"]}
    assert kinds == {
        ("cert/com.example.flight", "modified"),
        ("apk/com.example.flight/base.apk", "modified"),
        ("package/com.example.cloudsync", "unexpected"),
        ("package/com.example.cloudsync", "out_of_range"),
    }
    assert r.json()["notes"]["changes"]["cert/com.example.flight"]["certs"] == [
        "6f347ff5c19c7541269e3d96bd722313f2e514adb4ea3c95a08f73df600d9cb4",  # CN=Example Flight Ltd release key
        "dd9a8638076af0353bde04e948e7ad2d54993946e5a443f888d9d730c59da85c",  # CN=Unknown re-signer
    ]
