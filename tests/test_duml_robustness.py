"""A noisy, broken or hostile DUML bus never yields a pass it should not, and never hangs.

Each case runs ``attest verify`` against ``attest sim dji`` with one kind of
misbehaviour. Under line faults (garbage, bad CRCs, dropped and truncated
frames, a flood of traffic for others) an honest aircraft still passes and a
tampered one (a camera that took an unapproved update) is still drift. A
silent module, a module answering for another, a module giving two versions,
a dead line: exit 3 with a message naming the module. A bus where every
address answers is drift (never a pass); one that drips those answers
fails the sweep's floor rate and ends in a logged exit 3. Every run is
bounded by the subprocess timeout: a hang fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import make_fleet, run_attest
from dji_fixture import start_dji

TIMEOUT = ("--timeout", "3")
TAMPER = ("--module-version", "camera-0=01.07.00.31")


@dataclass
class Setup:
    baseline: Path
    trust: Path
    env: dict[str, str]
    dock_key: Path

    def verify(self, sim_args: tuple[str, ...], *extra: str | Path, timeout: float = 120) -> tuple[int, dict, str]:
        sim = start_dji(*sim_args)
        try:
            r = run_attest(
                ["verify", "--device", f"dji://{sim.path}", "--baseline", self.baseline, "--trust", self.trust,
                 "--json", *TIMEOUT, *extra],
                env=self.env,
                timeout=timeout,
            )  # fmt: skip
        finally:
            sim.stop()
        assert "Traceback" not in r.err, r.err
        return r.code, r.json(), r.err


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """One signed baseline of an honest aircraft."""
    root = tmp_path_factory.mktemp("duml-robust")
    fleet = make_fleet(root / "fleet")
    env = {"ATTEST_STATE_DIR": str(root / "state")}
    sim = start_dji()
    try:
        baseline = root / "dji.json"
        r = run_attest(
            ["baseline", "create", "--device", f"dji://{sim.path}", "--name", "aircraft", "--version", "1",
             "--out", baseline, *TIMEOUT],
            env=env,
        )  # fmt: skip
        assert r.code == 0, r.err
        assert run_attest(["baseline", "sign", baseline, "--key", fleet.keys[0]]).code == 0
    finally:
        sim.stop()
    dock_key = root / "dock.key"
    assert run_attest(["key", "generate", "--out", dock_key]).code == 0
    return Setup(baseline, fleet.trust, env, dock_key)


LINE_FAULTS = {
    "garbage": ("--garbage", "0.3"),
    "bad-crcs": ("--corrupt", "0.1"),
    "dropped-frames": ("--drop", "0.1"),
    "truncated-frames": ("--truncate", "0.1"),
    "foreign-traffic": ("--chatter",),
    "all-at-once": ("--garbage", "0.2", "--corrupt", "0.05", "--drop", "0.05", "--truncate", "0.05", "--chatter"),
}


@pytest.mark.parametrize("fault", LINE_FAULTS.values(), ids=LINE_FAULTS.keys())
def test_line_fault_honest_aircraft_still_passes(setup, fault):
    """The dock resynchronises, ignores traffic for others (version replies to the app included), asks again."""
    code, out, err = setup.verify(fault)
    assert code == 0, (out, err)
    assert out["notes"]["duml"]["answered"] == 10


@pytest.mark.parametrize("fault", LINE_FAULTS.values(), ids=LINE_FAULTS.keys())
def test_line_fault_tampered_aircraft_never_passes(setup, fault):
    """Under the same faults the unapproved camera update is still seen (the app's replies carry other versions)."""
    code, out, _ = setup.verify((*fault, *TAMPER))
    assert code == 1, out
    found = {(f["component"], f["kind"]): f for f in out["findings"]}
    assert set(found) == {("module/camera-0", "modified"), ("module/camera-0", "attributes")}
    assert found["module/camera-0", "attributes"]["actual"] == {"version": "01.07.00.31"}


MODULE_FAULTS = {
    "silent-module": (("--silent", "gimbal-0"), "gimbal-0 did not answer its version inquiry within 3 s"),
    "answers-for-another": (
        ("--answer-for", "camera-0=gimbal-0"),
        "the answer to gimbal-0's version inquiry came from camera-0 (a module answering for another)",
    ),
    "answers-for-another-silent": (
        ("--answer-for", "camera-0=gimbal-0", "--silent", "gimbal-0"),
        "the answer to gimbal-0's version inquiry came from camera-0",
    ),
    "two-versions": (("--inconsistent", "esc-1"), "esc-1 answered its version inquiry twice, differently"),
    "dead-line": (("--stall-after", "4"), "did not answer its version inquiry within 3 s"),
}


@pytest.mark.parametrize(("fault", "message"), MODULE_FAULTS.values(), ids=MODULE_FAULTS.keys())
@pytest.mark.parametrize("tampered", [False, True], ids=["honest", "tampered"])
def test_module_fault_is_a_clear_error(setup, fault, message, tampered):
    code, out, _ = setup.verify((*fault, *(TAMPER if tampered else ())))
    assert code == 3, out
    assert out["verdict"] == "error"
    assert message in out["message"] or any(message in str(f["actual"]) for f in out["findings"]), out


def test_a_bus_where_every_address_answers_is_drift_not_a_pass(setup):
    code, out, _ = setup.verify(("--answer-everything",))
    assert code == 1, out
    kinds = {f["kind"] for f in out["findings"]}
    assert kinds == {"unexpected"}
    assert len(out["findings"]) == 29 * 8 - 10


def test_answers_dripped_one_by_one_end_in_a_logged_error(setup, tmp_path):
    """Only progress earns time, and progress must keep a floor rate: a dribbling bus cannot stretch the sweep."""
    log = tmp_path / "log"
    code, out, _ = setup.verify(
        ("--answer-everything", "--drip", "0.2"),
        "--dock-key", setup.dock_key, "--log", log, "--origin", "dock.test",
    )  # fmt: skip
    assert code == 3, out
    assert "DUML version inquiry too slow" in out["message"]
    assert out["log_index"] is not None
