"""DJI specifics on a real aircraft or remote controller: ``pytest hw_tests --device dji:///dev/ttyACM0``.

Measures the device in-process with the DJI collector, twice, and checks
that modules answered the version inquiry with the described reply layout,
that every answer is recorded as self-reported, that a flight controller or
remote controller named the model, and that a second sweep finds the same
modules with the same versions (so a baseline made now verifies). Skipped
without ``--device`` and for targets that are not ``dji://``. Run it with
the aircraft powered on and its USB port offering the DUML serial link
(``/dev/ttyACM*``); see docs/dji.md.
"""

from __future__ import annotations

import re

import pytest

from attest.collectors.dji import DjiCollector
from attest.model import Method
from attest.targets import TargetOptions, target_kind

_VERSION = re.compile(r"\d{2,3}\.\d{2,3}\.\d{2,3}\.\d{2,3}")


def _collect(device: str, baud: int):
    collector = DjiCollector(device, TargetOptions(baud=baud, timeout=10.0))
    return collector.collect({}, nonce="00" * 32)


@pytest.fixture
def sweeps(device: str, request: pytest.FixtureRequest):
    if target_kind(device) != "dji":
        pytest.skip("not a DJI target (dji:///dev/ttyACM0)")
    baud = int(request.config.getoption("--baud"))
    return _collect(device, baud), _collect(device, baud)


def test_modules_answer_with_versions(sweeps):
    first, _ = sweeps
    modules = {n: c for n, c in first.components.items() if n.startswith("module/")}
    assert modules, first.notes
    broken = {n: c.error for n, c in modules.items() if c.error}
    assert not broken, broken
    for name, c in modules.items():
        assert c.method is Method.SELF_REPORTED
        assert _VERSION.fullmatch(str(c.attributes["version"])), (name, c.attributes)
        assert first.values[f"identity/{name}"] == c.attributes["version"]


def test_the_flight_or_remote_controller_names_the_model(sweeps):
    first, _ = sweeps
    facts = first.device.facts
    assert facts.get("model_from") in ("flight-controller-0", "remote-controller-0"), (facts, sorted(first.components))
    assert facts.get("model")


def test_a_second_sweep_finds_the_same_versions(sweeps):
    """What a baseline records now is what verify finds a moment later (no module missed, no volatile byte)."""
    first, second = sweeps
    assert {n: c.digest for n, c in first.components.items()} == {n: c.digest for n, c in second.components.items()}
    assert first.device.facts == second.device.facts


def test_only_the_dock_s_own_replies_were_taken(sweeps):
    first, _ = sweeps
    duml = first.notes["duml"]
    assert duml["answered"] == len(first.components)
    assert duml["refused"] == 0
