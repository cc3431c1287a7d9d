"""The dock when things go wrong: killed at any moment, two docks at once, drones unplugged or silent, deadlines.

Every test asserts outcomes, never durations: what the gate says and what the
log holds after the fact. The kill test picks its moments from a seeded,
stratified spread over one measured event, so every phase (start-up,
measuring, signing, the append, the gate update, hooks) is hit; ``make test``
runs 15 moments, ``make test-slow`` 50.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet
from dock_fixture import Dock, Drone, directory_drone, write_hook
from fc_fixture import SMALL_FLASH, Sim
from sshd_fixture import StallingPeer, keygen, require_openssh

from attest._cli import main
from attest.dock import ENTRY_KINDS, load_config, read_event
from attest.gate import Decision, GateContext, check_drone
from attest.log import Log, VerifierKey, audit_log

pytest_plugins = ["fc_fixture"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


def in_process(dock: Dock, *args: str) -> int:
    with redirect_stdout(io.StringIO()):
        return main(["dock", "--config", str(dock.config), *args])


def decision(dock: Dock, drone: str = "UAV-07") -> Decision:
    with GateContext.open(load_config(dock.config)) as ctx:
        return check_drone(ctx, drone)


def log_size(dock: Dock) -> int:
    if not (dock.log / "origin").exists():
        return 0
    with Log.read(dock.log) as log:
        return log.size


def audit(dock: Dock) -> list[str]:
    """``attest log verify``'s check, after the repair the next event's append would make."""
    with Log.open(dock.log, kinds=ENTRY_KINDS):
        pass
    report = audit_log(dock.log, VerifierKey.parse(dock.vkey()), workers=1, kinds=ENTRY_KINDS)
    return [p.message for p in report.problems]


def _kill_moments(count: int, span: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [span * (i + rng.random()) / count for i in range(count)]


def _kill_run(tmp_path: Path, fleet: Fleet, count: int) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    dock.hooks.append({"on": ["block", "clear"], "run": [str(write_hook(tmp_path / "relay", "exit 0\n"))]})
    dock.write()
    tree = tmp_path / "UAV-07-companion" / "etc" / "hostname"
    good = tree.read_bytes()
    started = time.monotonic()
    full = dock.popen("dock", "--drone", "UAV-07")
    assert full.wait(timeout=120) == 0, full.communicate()
    span = (time.monotonic() - started) * 1.2  # a fifth of the moments fall after a complete event
    outcomes: dict[str, int] = {}
    for moment in _kill_moments(count, span, seed=11):
        # Start blocked: a drift is logged first, so "clear" can only come from the event we kill.
        tree.write_bytes(b"tampered\n")
        assert in_process(dock, "--drone", "UAV-07") == 1
        tree.write_bytes(good)
        before = log_size(dock)
        assert decision(dock).code == "drift"
        proc = dock.popen("dock", "--drone", "UAV-07")
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        d = decision(dock)
        outcomes[d.code] = outcomes.get(d.code, 0) + 1
        if d.clear:
            # Clear only on a durable, verified pass of this very event: a new entry, a pass, proven.
            assert d.event is not None and d.checkpoint is not None
            assert d.event.index >= before, (moment, d)
            with Log.read(dock.log) as log:
                logged = read_event(log.entry(d.event.index), index=d.event.index)
            assert (logged.verdict, logged.drone) == ("pass", "UAV-07")
        else:
            assert d.code in ("pending", "drift"), (moment, d.code, d.reason)
        problems = audit(dock)
        assert problems == [], (moment, problems)
    assert sum(outcomes.values()) == count, outcomes


def test_kill_9_at_15_moments_never_clears_without_a_verified_pass(tmp_path: Path, fleet: Fleet) -> None:
    _kill_run(tmp_path, fleet, 15)


@pytest.mark.slow
def test_kill_9_at_50_moments_never_clears_without_a_verified_pass(tmp_path: Path, fleet: Fleet) -> None:
    _kill_run(tmp_path, fleet, 50)


def test_two_drones_docking_at_once(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    directory_drone(dock, "UAV-08")
    dock.write()
    procs = [dock.popen("dock", "--drone", name) for name in ("UAV-07", "UAV-08", "UAV-07")]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    with Log.read(dock.log) as log:
        drones = sorted(str(read_event(e, index=i).drone) for i, e in log.entries())
    assert drones == ["UAV-07", "UAV-07", "UAV-08"]
    assert audit(dock) == []
    assert decision(dock, "UAV-07").clear
    assert decision(dock, "UAV-08").clear


def _wait_until_open(proc: subprocess.Popen[str], path: str, limit: float = 120) -> None:
    """Wait until ``proc`` has ``path`` open; ``limit`` only keeps a broken dock from hanging the test."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        fds = Path(f"/proc/{proc.pid}/fd")
        try:
            links = [os.readlink(fd) for fd in fds.iterdir()]
        except OSError:  # an fd closed while listed
            links = []
        if path in links:
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"the dock never opened {path}: {proc.communicate()}")


def test_a_flight_controller_unplugged_mid_run_blocks(tmp_path: Path, fleet: Fleet, sim_fc: Callable[..., Sim]) -> None:
    dock = Dock(tmp_path, fleet)
    fast = sim_fc(*SMALL_FLASH)
    file = dock.baseline(fast.path, "fc-copter", "--exclude", "fc/flash", "--exclude", "fc/firmware")
    dock.drones.append(Drone("UAV-07", {"fc": {"device": fast.path, "baseline": file}}))
    dock.write()
    assert in_process(dock, "--drone", "UAV-07") == 0  # it passes while plugged in
    # The same controller on a slow line (the parameters take many seconds), pulled out mid-read.
    slow = sim_fc(*SMALL_FLASH, "--baud", "9600")
    dock.drones[0].parts["fc"] = {"device": slow.path, "baseline": file, "baud": 9600}
    dock.write()
    proc = dock.popen("dock", "--drone", "UAV-07", "--json")
    _wait_until_open(proc, slow.path)  # the dock is reading the controller (not a fixed sleep: that raced)
    slow.stop()  # the USB cable is pulled: the port goes away under the reader
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + err
    assert json.loads(out)["verdict"] == "error"
    d = decision(dock)
    assert d.code == "error", d.reason
    assert log_size(dock) == 2


def test_a_companion_that_stops_answering_blocks_within_the_deadline(tmp_path: Path, fleet: Fleet) -> None:
    require_openssh()
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    with StallingPeer() as peer:
        silent = f"ssh://attest@127.0.0.1:{peer.port}/srv/companion"
        (tmp_path / "known_hosts").write_text("")
        dock.drones[0].parts["companion"] = {
            "target": silent,
            "identity": str(keygen(tmp_path / "id_ed25519")),
            "known_hosts": str(tmp_path / "known_hosts"),
            "baseline": "UAV-07-companion-v1.json",
            "timeout": "60s",
        }
        dock.write()
        r = dock.attest("dock", "--drone", "UAV-07", "--max-seconds", "5", "--json", timeout=60)
    assert r.code == 3, r.out + r.err
    out = r.json()
    assert out["log_index"] == 0
    assert "did not finish within" in out["parts"][0]["result"]["message"]
    assert decision(dock).code == "error"


def test_a_flight_controller_that_never_answers_hits_max_seconds(tmp_path: Path, fleet: Fleet) -> None:
    """The whole event is bounded by max_seconds, logged as an error, and blocks."""
    dock = Dock(tmp_path, fleet, dock={"max_seconds": 5})
    directory_drone(dock, "UAV-07")
    with StallingPeer() as peer:
        # Any trusted baseline will do: the controller never answers, so nothing is ever compared.
        fc = {"device": f"socket://127.0.0.1:{peer.port}", "baseline": "UAV-07-companion-v1.json", "timeout": "60s"}
        dock.drones[0].parts["fc"] = fc
        dock.write()
        proc = dock.popen("dock", "--drone", "UAV-07", "--json")
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 3, out + err
    part = next(p for p in json.loads(out)["parts"] if p["part"] == "fc")
    assert part["result"]["verdict"] == "error"
    assert "did not finish within" in part["result"]["message"]
    assert decision(dock).code == "error"
    assert log_size(dock) == 1
