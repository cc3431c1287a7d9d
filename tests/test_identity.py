"""Issue 10 item 7: one stable device id on every result, so the log counts one drone once.

Each test logs real results through the real CLI (``attest verify --dock-key``)
for one device reached under different names or failing in different ways,
then reads the log back as ``attest log show`` and ``attest log export`` do
(:func:`attest.log.read_results`, :func:`attest.log.summarise`): one drone,
whose status is its latest result, never an older pass.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Fleet, Run, make_fleet, run_attest
from fc_fixture import SMALL_FLASH, start_sim
from sshd_fixture import SSH_KEYGEN, Sshd, free_port

from attest.attestation import device_identity
from attest.log import DroneSummary, Log, read_results, summarise
from attest.signing import LoggedResult

UID = "00ab12cd"


class Dock:
    """A dock key, a log and a state directory; every ``verify`` is signed and logged."""

    def __init__(self, root: Path, fleet: Fleet) -> None:
        self.root = root
        self.fleet = fleet
        self.state = root / "state"
        self.log = root / "log"
        self.key = root / "dock.key"
        assert run_attest(["key", "generate", "--out", self.key]).code == 0

    def attest(self, *args: str | os.PathLike[str], cwd: Path | None = None) -> Run:
        return run_attest(args, env={"ATTEST_STATE_DIR": str(self.state)}, cwd=cwd)

    def baseline(self, device: str, name: str, *extra: str, version: int = 1) -> Path:
        out = self.root / f"{name}-v{version}.json"
        r = self.attest(
            "baseline", "create", "--device", device, "--name", name, "--version", str(version), "--out", out,
            "--force", "--timeout", "5", *extra,
        )  # fmt: skip
        assert r.code == 0, r.err
        assert self.attest("baseline", "sign", out, "--key", self.fleet.keys[0]).code == 0
        return out

    def verify(self, device: str, baseline: Path, *extra: str, cwd: Path | None = None) -> dict[str, object]:
        r = self.attest(
            "verify", "--device", device, "--baseline", baseline, "--trust", self.fleet.trust, "--json",
            "--dock-key", self.key, "--log", self.log, *extra, cwd=cwd,
        )  # fmt: skip
        assert r.code != 2 and r.out, r.err
        obj: dict[str, object] = r.json()
        assert obj["log_index"] is not None, r.err
        return obj

    def drones(self) -> list[DroneSummary]:
        with Log.read(self.log) as log:
            rows = [r for r in read_results(log) if isinstance(r, LoggedResult)]
        return summarise(rows)

    def shown(self, device_id: str) -> list[tuple[int, str]]:
        """``attest log show --device ID --json``: (index, verdict) of that device's rows."""
        r = self.attest("log", "show", "--log", self.log, "--device", device_id, "--json")
        assert r.code == 0, r.err
        return [(row["index"], row["verdict"]) for row in json.loads(r.out)]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture
def dock(tmp_path: Path, fleet: Fleet) -> Dock:
    return Dock(tmp_path, fleet)


def _verdicts(drone: DroneSummary) -> list[str]:
    return [r.verdict for r in drone.results]


# -- a directory --------------------------------------------------------------------------------------


def test_a_relative_an_absolute_and_a_symlinked_path_of_one_directory_are_one_drone(dock: Dock, tmp_path: Path) -> None:
    golden = tmp_path / "golden"
    assert dock.attest("sim", "tree", "--out", golden).code == 0
    os.symlink(golden, tmp_path / "current")
    baseline = dock.baseline(str(golden), "companion", "--exclude", "var/log/**")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not a baseline")

    assert dock.verify("golden", baseline, cwd=tmp_path)["verdict"] == "pass"
    assert dock.verify("current", baseline, cwd=tmp_path)["verdict"] == "pass"
    (golden / "etc/hostname").write_text("tampered\n")
    assert dock.verify(f"{golden}/", baseline)["verdict"] == "drift"
    # No signed baseline and nothing read: still the same directory (old code: "golden").
    assert dock.verify("./golden", garbage, cwd=tmp_path)["verdict"] == "untrusted"

    real = os.path.realpath(golden)
    (drone,) = dock.drones()
    assert drone.device_id == real
    assert _verdicts(drone) == ["pass", "pass", "drift", "untrusted"]
    assert drone.latest.verdict == "untrusted"
    assert dock.shown(real) == [(0, "pass"), (1, "pass"), (2, "drift"), (3, "untrusted")]
    # The target as given stays in the result; only the id is canonical.
    with Log.read(dock.log) as log:
        targets = [r.device["target"] for r in read_results(log) if isinstance(r, LoggedResult) and r.device]
    assert targets == ["golden", "current", f"{golden}/", "./golden"]


def test_device_identity_without_a_run_is_what_a_run_records(tmp_path: Path) -> None:
    """What the dock names a part it could not attest: the collector's id, not the text given."""
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path / "d", tmp_path / "link")
    ident = device_identity(str(tmp_path / "link"))
    assert (ident.kind, ident.id) == ("directory", os.path.realpath(tmp_path / "d"))
    assert device_identity("ssh://Pi@Drone-7.LOCAL:2222/data").id == "ssh://drone-7.local:2222"
    assert device_identity("ssh://pi@[FE80::1]/").id == "ssh://[fe80::1]:22"


# -- a flight controller ------------------------------------------------------------------------------


def test_a_controller_is_one_drone_whether_it_failed_or_passed(dock: Dock) -> None:
    """A controller that fails before it says who it is, while it is read, then passes, then fails again.

    Old code: each failure was logged under its port (``/dev/pts/N``), the
    pass under ``ardupilot-board140-<uid>``: two or three drones, and the
    controller whose latest result failed showed PASS.
    """
    sim = start_sim(*SMALL_FLASH, "--uid", UID)
    try:
        pinned = dock.baseline(sim.path, "fc", "--pin-device")
        model = dock.baseline(sim.path, "fc-model")  # board id only: no uid in the selector
    finally:
        sim.stop()

    def run(baseline: Path, *faults: str) -> dict[str, object]:
        s = start_sim(*SMALL_FLASH, "--uid", UID, *faults)
        try:
            return dock.verify(s.path, baseline, "--timeout", "2")
        finally:
            s.stop()

    silent = run(pinned, "--stall-after", "0")  # no HEARTBEAT: named by the pinned selector
    assert silent["verdict"] == "error" and "HEARTBEAT" in str(silent["message"])
    stalled = run(model, "--stall-after", "5")  # stops after AUTOPILOT_VERSION: named by what it said
    assert stalled["verdict"] == "error"
    passed = run(pinned)
    assert passed["verdict"] == "pass"
    last = run(pinned, "--stall-after", "5")
    assert last["verdict"] == "error"

    (drone,) = dock.drones()
    assert drone.device_id.startswith(f"ardupilot-board140-{UID}")
    assert drone.device_id == passed["device"]["id"]  # type: ignore[index]
    assert _verdicts(drone) == ["error", "error", "pass", "error"]
    assert drone.latest.verdict == "error"
    assert [v for _, v in dock.shown(drone.device_id)] == ["error", "error", "pass", "error"]


def test_a_controller_that_never_answered_without_a_pinned_airframe_is_named_by_its_port(dock: Dock) -> None:
    """Nothing names it: the port, as given (a /dev/serial/by-id name would name the board)."""
    sim = start_sim(*SMALL_FLASH)
    try:
        model = dock.baseline(sim.path, "fc-model")
    finally:
        sim.stop()
    s = start_sim(*SMALL_FLASH, "--stall-after", "0")
    try:
        result = dock.verify(s.path, model, "--timeout", "2")
    finally:
        s.stop()
    assert result["verdict"] == "error"
    assert result["device"]["id"] == s.path  # type: ignore[index]


# -- a companion computer over SSH --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with Sshd.running(tmp_path_factory.mktemp("sshd")) as s:
        yield s


def _fingerprint(sshd: Sshd) -> str:
    out = subprocess.run([SSH_KEYGEN, "-l", "-f", f"{sshd.host_key}.pub"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_a_companion_is_named_by_its_host_key_on_every_result(dock: Dock, sshd: Sshd, tmp_path: Path) -> None:
    """Pass, error after login, error before connecting, rollback: one drone, ``ssh:SHA256:...``.

    Old code: every result was named ``user@host:port``: a companion changed
    name with its address, and companions behind one address shared one.
    """
    tree = tmp_path / "root"
    assert dock.attest("sim", "tree", "--out", tree).code == 0
    login = ["--identity", str(sshd.client_key)]
    v1 = dock.baseline(sshd.target(tree), "voxl2", *sshd.transport_args(), "--exclude", "var/log/**")
    v2 = dock.baseline(sshd.target(tree), "voxl2", *sshd.transport_args(), "--exclude", "var/log/**", version=2)
    elsewhere = sshd.target(tree).replace(f":{sshd.port}/", f":{free_port()}/")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not a baseline")

    assert dock.verify(sshd.target(tree), v2, *login)["verdict"] == "pass"
    missing = dock.verify(sshd.target(tmp_path / "nowhere"), v2, *login)  # fails after the host key matched
    assert missing["verdict"] == "error" and "does not exist" in str(missing["message"])
    refused = dock.verify(elsewhere, v2, *login, "--timeout", "2")  # never connected: the baseline's pin
    assert refused["verdict"] == "error"
    rolled_back = dock.verify(sshd.target(tree), v1, *login)  # refused, but its signatures verify
    assert rolled_back["verdict"] == "untrusted" and "rollback" in str(rolled_back["message"]).lower()
    unsigned = dock.verify(sshd.target(tree), garbage, *login)  # nothing trusted names it: the address
    assert unsigned["verdict"] == "untrusted"

    expected = f"ssh:{_fingerprint(sshd)}"
    drones = {d.device_id: d for d in dock.drones()}
    assert set(drones) == {expected, f"ssh://127.0.0.1:{sshd.port}"}
    assert _verdicts(drones[expected]) == ["pass", "error", "error", "untrusted"]
    assert drones[expected].latest.verdict == "untrusted"
