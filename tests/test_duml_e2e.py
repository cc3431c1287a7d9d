"""A simulated DJI aircraft through the real CLI: baseline create, show, sign and verify over a real pty.

``attest sim dji`` serves DUML v1 on a pty; the dock asks every module for
its version (``dji:///dev/pts/N``). These check the promises of the issue:
self-reported versions recorded as such and said so in the verdict, an
unapproved firmware update seen at once, the exit codes of docs/cli.md.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dji_fixture import DjiBench

pytest_plugins = ["dji_fixture"]

MODULES = {
    "module/flight-controller-0": "03.02.44.07",
    "module/gimbal-0": "01.04.00.20",
    "module/camera-0": "01.07.00.30",
    "module/esc-0": "01.00.00.12",
    "module/esc-1": "01.00.00.12",
    "module/esc-2": "01.00.00.12",
    "module/esc-3": "01.00.00.12",
    "module/battery-0": "01.01.00.05",
    "module/radio-air-0": "01.00.01.02",
    "module/vision-stereo-0": "01.02.00.07",
}


@pytest.fixture
def honest(sim_dji, dji_bench: DjiBench):
    """A signed baseline of an honest simulated aircraft."""
    sim = sim_dji()
    return dji_bench.create(sim.target)


def test_baseline_records_every_module_as_self_reported(sim_dji, dji_bench):
    sim = sim_dji()
    path = dji_bench.create(sim.target)
    predicate = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))["predicate"]
    components = predicate["components"]
    assert {n: c["attributes"]["version"] for n, c in components.items()} == MODULES
    assert {c["method"] for c in components.values()} == {"self-reported"}
    assert {c["kind"] for c in components.values()} == {"module"}
    assert predicate["device"]["kind"] == "dji"
    assert predicate["device"]["match"] == {"model": "SIMAIR FC"}
    shown = dji_bench.attest("baseline", "show", path)
    assert shown.code == 0, shown.err
    assert "self-reported 10" in shown.out
    assert "dji (model=SIMAIR FC)" in shown.out


def test_pass_says_the_versions_are_only_reported(sim_dji, dji_bench, honest):
    sim = sim_dji()
    r = dji_bench.verify(sim.target, honest, json=False)
    assert r.code == 0, (r.out, r.err)
    assert r.out.startswith("PASS:")
    assert "the modules report the approved versions (this proves nothing about the bytes)" in r.out
    r = dji_bench.verify(sim.target, honest)
    assert r.code == 0, r.err
    out = r.json()
    assert out["verdict"] == "pass"
    assert out["methods"] == ["self-reported"]
    assert out["components"] == len(MODULES)
    assert out["device"]["kind"] == "dji"
    assert out["device"]["facts"] == {"model": "SIMAIR FC", "model_from": "flight-controller-0"}
    assert "proves nothing about the code they run" in out["notes"]["versions"]


def test_an_unapproved_firmware_update_is_drift_naming_both_versions(sim_dji, dji_bench, honest):
    sim = sim_dji("--module-version", "camera-0=01.07.00.31")
    r = dji_bench.verify(sim.target, honest)
    assert r.code == 1, r.err
    found = {(f["component"], f["kind"]): f for f in r.json()["findings"]}
    assert set(found) == {("module/camera-0", "modified"), ("module/camera-0", "attributes")}
    attrs = found["module/camera-0", "attributes"]
    assert (attrs["expected"], attrs["actual"]) == ({"version": "01.07.00.30"}, {"version": "01.07.00.31"})
    text = dji_bench.verify(sim.target, honest, json=False)
    assert text.code == 1
    assert "DRIFT" in text.out
    assert "01.07.00.31" in text.out
    assert "approved versions" not in text.out  # the self-reported line belongs to a pass only


def test_a_new_module_is_unexpected(sim_dji, dji_bench, honest):
    sim = sim_dji("--add-module", "gimbal-1=01.04.00.20")
    r = dji_bench.verify(sim.target, honest)
    assert r.code == 1, r.err
    assert [(f["component"], f["kind"]) for f in r.json()["findings"]] == [("module/gimbal-1", "unexpected")]


def test_a_silent_module_of_the_baseline_is_an_error_not_a_pass(sim_dji, dji_bench, honest):
    sim = sim_dji("--silent", "esc-2")
    r = dji_bench.verify(sim.target, honest)
    assert r.code == 3, r.err
    out = r.json()
    assert out["verdict"] == "error"
    assert "esc-2 did not answer its version inquiry within 3 s" in out["message"]


def test_another_model_is_untrusted(sim_dji, dji_bench, honest):
    sim = sim_dji("--model", "OTHER FC")
    r = dji_bench.verify(sim.target, honest)
    assert r.code == 4, r.err
    assert "model" in r.json()["message"]


def test_a_rule_allows_a_set_of_versions_as_exact_text(sim_dji, dji_bench):
    sim = sim_dji()
    path = dji_bench.create(sim.target, "--rule", "identity/module/flight-controller-0=03.02.44.07|03.02.44.08")
    assert dji_bench.verify(sim.target, path).code == 0
    newer = sim_dji("--module-version", "flight-controller-0=03.02.44.09")
    r = dji_bench.verify(newer.target, path)
    assert r.code == 1
    found = {(f["component"], f["kind"]) for f in r.json()["findings"]}
    assert ("identity/module/flight-controller-0", "out_of_range") in found


def test_create_refuses_an_aircraft_whose_module_answers_for_another(sim_dji, dji_bench):
    sim = sim_dji("--answer-for", "camera-0=gimbal-0")
    r = dji_bench.attest(
        "baseline", "create", "--device", sim.target, "--name", "a", "--version", "1",
        "--out", dji_bench.dir / "x.json", "--timeout", "3",
    )  # fmt: skip
    assert r.code == 3, r.err
    assert "gimbal-0" in r.err
    assert not (dji_bench.dir / "x.json").exists()


def test_nothing_answering_is_exit_3_with_a_hint(sim_dji, dji_bench):
    sim = sim_dji("--stall-after", "0")
    r = dji_bench.attest(
        "baseline", "create", "--device", sim.target, "--name", "a", "--version", "1",
        "--out", dji_bench.dir / "x.json", "--timeout", "2",
    )  # fmt: skip
    assert r.code == 3, r.err
    assert "no DJI module answered a version inquiry" in r.err


@pytest.mark.parametrize("target", ["dji://dev/ttyACM0", "dji://", "dji://ttyACM0"])
def test_a_malformed_dji_target_is_a_usage_error(dji_bench, target):
    r = dji_bench.attest(
        "baseline", "create", "--device", target, "--name", "a", "--version", "1", "--out", dji_bench.dir / "x.json"
    )
    assert r.code == 2, (target, r.err)
    assert "expected dji:// followed by a device path" in r.err


def test_a_missing_port_is_exit_3(dji_bench, honest):
    r = dji_bench.verify("dji:///dev/ttyACM-no-such-port", honest)
    assert r.code == 3, r.err
    assert r.json()["verdict"] == "error"


def test_pin_device_is_refused_for_lack_of_a_serial_number(sim_dji, dji_bench):
    sim = sim_dji()
    r = dji_bench.attest(
        "baseline", "create", "--device", sim.target, "--name", "a", "--version", "1",
        "--out", dji_bench.dir / "x.json", "--timeout", "3", "--pin-device",
    )  # fmt: skip
    assert r.code == 2, r.err
    assert "no unique id" in r.err
