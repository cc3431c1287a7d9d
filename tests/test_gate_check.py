"""The gate decides from the signed log alone: clear only on a fresh, verified pass against today's baselines.

Every way to be blocked is exercised with real files: a real log written by
real dock events (directory companions, so no device time), real signed
baselines re-signed or superseded, bytes flipped in the log, the gate's state
forged, rolled back or lost, a clock that is wrong.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet
from dock_fixture import Dock, directory_drone

import attest.gate.check
from attest._cli import main
from attest.dock import ENTRY_KINDS, DockEvent, drone_lock, load_config, sign_event
from attest.gate import GateContext, check_drone
from attest.log import Log
from attest.model import Verdict
from attest.signing import load_private_key


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


def cli(dock: Dock, *args: str) -> tuple[int, str]:
    """``attest ARGS`` in this process (the real parser and commands; no interpreter start-up per call)."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*args[:2], "--config", str(dock.config), *args[2:]] if args[0] == "gate" else
                    [args[0], "--config", str(dock.config), *args[1:]])  # fmt: skip
    return code, out.getvalue()


def decide(dock: Dock, drone: str = "UAV-07", *, now: datetime | None = None) -> attest.gate.Decision:
    with GateContext.open(load_config(dock.config), now=now) as ctx:
        return check_drone(ctx, drone)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Dock:
    """Two drones with directory companions and signed baselines, made once; each test gets a copy."""
    d = Dock(tmp_path_factory.mktemp("template") / "dock", fleet)
    directory_drone(d, "UAV-07")
    directory_drone(d, "UAV-08")
    d.write()
    return d


@pytest.fixture
def dock(tmp_path: Path, template: Dock) -> Dock:
    return template.copy(tmp_path / "dock")


def tamper(dock: Dock, drone: str = "UAV-07") -> None:
    (dock.dir / f"{drone}-companion" / "etc" / "hostname").write_text("tampered\n")


def test_no_result_then_pass_then_drift(dock: Dock) -> None:
    assert decide(dock).code == "no_result"
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    d = decide(dock)
    assert (d.state, d.code, d.event.index if d.event else None) == ("clear", "clear", 0)
    assert cli(dock, "gate", "check", "UAV-07")[0] == 0
    tamper(dock)
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 1
    code, out = cli(dock, "gate", "check", "UAV-07")
    assert code == 1
    assert out.startswith("BLOCKED: UAV-07: the latest dock event")
    assert decide(dock).code == "drift"
    assert decide(dock, "UAV-08").code == "no_result"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: root writing the gate state in the dock user's directory")
def test_root_rebuilding_the_gate_state_leaves_it_to_the_dock(dock: Dock) -> None:
    """``sudo attest gate rebuild`` on a dock: the gate's directory, state and lock are the dock user's, who
    updates them after every event (root's 0600 files would have failed every later event)."""
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    nobody = 65534
    for path in (dock.state, *dock.state.rglob("*")):  # the state directory as the dock's user keeps it
        os.chown(path, nobody, nobody, follow_symlinks=False)
    shutil.rmtree(dock.state / "gate")
    assert cli(dock, "gate", "rebuild")[0] == 0
    made = [dock.state / "gate", *(dock.state / "gate").iterdir()]
    assert len(made) >= 3, made  # the directory, its state and its lock
    assert {(p.name, p.lstat().st_uid, p.lstat().st_gid) for p in made} == {(p.name, nobody, nobody) for p in made}


def test_a_gate_directory_replaced_by_a_link_is_refused_not_followed(dock: Dock, tmp_path: Path) -> None:
    """Whoever owns the state directory may put a link where the gate's directory was: `gate rebuild`
    (run by root, perhaps) refuses it with exit 2 and writes nothing where it points."""
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.rmtree(dock.state / "gate")
    (dock.state / "gate").symlink_to(victim)
    code, _ = cli(dock, "gate", "rebuild")
    assert code == 2
    assert list(victim.iterdir()) == []


def test_an_unknown_drone_is_blocked(dock: Dock) -> None:
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    code, out = cli(dock, "gate", "check", "UAV-99", "--json")
    assert code == 1
    assert json.loads(out)["code"] == "unknown_drone"


def test_a_pass_older_than_fresh_for_is_stale(dock: Dock) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    assert decide(dock, now=datetime.now(UTC) + timedelta(minutes=14)).clear
    stale = decide(dock, now=datetime.now(UTC) + timedelta(minutes=16))
    assert stale.code == "stale"
    assert stale.since == stale.event.time + timedelta(minutes=15)  # type: ignore[union-attr]


def test_a_pass_stamped_in_the_future_blocks(dock: Dock) -> None:
    """A result whose time is ahead of the gate's clock: one of the clocks is wrong; never clear on it."""
    cli(dock, "dock", "--drone", "UAV-07")
    assert decide(dock, now=datetime.now(UTC) - timedelta(minutes=5)).code == "future"
    # The same from a real entry: the dock key signed a pass stamped tomorrow (the dock's clock jumped).
    with Log.read(dock.log) as log:
        from attest.dock import read_event

        logged = read_event(log.entry(0), index=0)
    cfg = load_config(dock.config)
    key = load_private_key(cfg.key)
    forged = DockEvent(
        drone="UAV-07",
        verdict=Verdict.PASS,
        message=None,
        started=datetime.now(UTC) + timedelta(days=1),
        time=datetime.now(UTC) + timedelta(days=1),
        trigger={"drone": "UAV-07"},
        usb=None,
        parts=(),
        dock_id="dock",
        origin=cfg.origin,
    )
    del logged
    with Log.open(dock.log, kinds=ENTRY_KINDS) as log:
        log.append(sign_event(forged, key), key=key)
    d = decide(dock)
    assert d.code == "future", d.reason


def test_a_baseline_resigned_as_a_new_version_supersedes_the_pass(dock: Dock) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    assert decide(dock).clear
    dock.baseline(str(dock.dir / "UAV-07-companion"), "UAV-07-companion", version=2, out="UAV-07-companion-v1.json")
    d = decide(dock)
    assert d.code == "baseline_superseded", d.reason
    assert "UAV-07-companion v1" in d.reason


def test_a_higher_version_accepted_on_this_dock_supersedes_the_pass(dock: Dock) -> None:
    """UAV-08 docks against v2 of the same baseline name: UAV-07's v1 pass no longer clears."""
    cli(dock, "dock", "--drone", "UAV-07")
    v2 = dock.baseline(str(dock.dir / "UAV-07-companion"), "UAV-07-companion", version=2)
    dock.drones[1].parts["companion"] = {"target": str(dock.dir / "UAV-07-companion"), "baseline": v2}
    dock.write()
    assert cli(dock, "dock", "--drone", "UAV-08")[0] == 0
    d = decide(dock)
    assert d.code == "baseline_superseded"
    assert "has since accepted v2" in d.reason


def test_a_baseline_the_trust_policy_no_longer_trusts_blocks(dock: Dock, tmp_path: Path) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    other = make_fleet(tmp_path / "other-fleet")
    shutil.copy(other.trust, dock.fleet.trust.with_name("trust.saved"))
    original = dock.fleet.trust.read_text()
    try:
        dock.fleet.trust.write_text(
            other.trust.read_text().replace('"fleet1.pub"', f'"{other.keys[0].with_suffix(".pub")}"')
        )
        d = decide(dock)
        assert d.code == "baseline_superseded"
        assert "not trusted now" in d.reason
    finally:
        dock.fleet.trust.write_text(original)


def test_an_expired_baseline_blocks(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet, gate={"fresh_for": "2d", "ticket_valid_for": "10m"})
    tree = dock.companion_tree()
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    file = dock.baseline(str(tree), "companion", "--expires", expires)
    dock.drones.append(
        __import__("dock_fixture").Drone("UAV-07", {"companion": {"target": str(tree), "baseline": file}})
    )
    dock.write()
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    assert decide(dock).clear
    d = decide(dock, now=datetime.now(UTC) + timedelta(hours=2))
    assert d.code == "baseline_expired", d.reason


def test_a_flipped_byte_in_the_log_blocks(dock: Dock) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    entries = dock.log / "entries"
    data = bytearray(entries.read_bytes())
    data[40] ^= 1
    entries.write_bytes(bytes(data))
    d = decide(dock)
    assert d.code == "log_damaged", d.reason


def test_a_log_rolled_back_behind_the_gate_state_blocks(dock: Dock, tmp_path: Path) -> None:
    """The gate's state witnesses the log it saw: restoring an older log (hiding a drift) keeps the gate shut."""
    cli(dock, "dock", "--drone", "UAV-07")
    shutil.copytree(dock.log, tmp_path / "log-with-the-pass")
    tamper(dock)
    cli(dock, "dock", "--drone", "UAV-07")
    shutil.rmtree(dock.log)
    shutil.copytree(tmp_path / "log-with-the-pass", dock.log)
    d = decide(dock)
    assert d.code == "log_damaged", d.reason
    # Another event appends to the restored log; the dock does not let it paper over the rollback.
    cli(dock, "dock", "--drone", "UAV-08")
    assert decide(dock).code == "log_damaged"
    # Only an operator's rebuild accepts the log as it is.
    assert cli(dock, "gate", "rebuild")[0] == 0
    assert decide(dock).clear


def test_a_gate_state_older_than_the_log_never_hides_a_newer_event(dock: Dock, tmp_path: Path) -> None:
    """The state is restored from a backup taken before a drift was logged: the drift still blocks."""
    cli(dock, "dock", "--drone", "UAV-07")
    state = dock.state / "gate" / "state.json"
    shutil.copy(state, tmp_path / "state.backup")
    tamper(dock)
    cli(dock, "dock", "--drone", "UAV-07")
    shutil.copy(tmp_path / "state.backup", state)
    d = decide(dock)
    assert d.code == "drift", d.reason


def test_a_forged_gate_state_is_ignored(dock: Dock) -> None:
    """Pointing UAV-07 at an old pass by editing the state breaks its signature: the log decides."""
    cli(dock, "dock", "--drone", "UAV-07")
    tamper(dock)
    cli(dock, "dock", "--drone", "UAV-07")
    state = dock.state / "gate" / "state.json"
    env = json.loads(state.read_text())
    import base64

    payload = json.loads(base64.b64decode(env["payload"]))
    payload["drones"]["UAV-07"]["index"] = 0
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    state.write_text(json.dumps(env))
    assert decide(dock).code == "drift"


def test_a_state_far_behind_the_log_blocks_until_rebuilt(dock: Dock, monkeypatch: pytest.MonkeyPatch) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    (dock.state / "gate" / "state.json").unlink()
    monkeypatch.setattr(attest.gate.check, "MAX_TAIL", 0)
    d = decide(dock)
    assert d.code == "gate_behind", d.reason
    assert cli(dock, "gate", "rebuild")[0] == 0
    assert decide(dock).clear


def test_the_check_reads_one_entry_not_the_log(dock: Dock, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the state up to date the check reads the one entry it judges (no scan)."""
    for _ in range(5):
        cli(dock, "dock", "--drone", "UAV-08")
    cli(dock, "dock", "--drone", "UAV-07")
    for _ in range(5):
        cli(dock, "dock", "--drone", "UAV-08")
    read: list[int] = []
    original = Log.entries

    def counting(self: Log, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        for index, entry in original(self, start, stop):
            read.append(index)
            yield index, entry

    monkeypatch.setattr(Log, "entries", counting)
    assert decide(dock).clear
    assert read == [5]


def test_a_running_or_interrupted_event_blocks(dock: Dock) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    cfg = load_config(dock.config)
    with drone_lock(cfg.gate_dir, "UAV-07", log_size=lambda: 1, started=datetime.now(UTC), wait=1):
        d = decide(dock)
        assert d.code == "pending"
        assert "attesting it now" in d.reason
    d = decide(dock)  # the lock is released, the marker left: the event was cut short
    assert d.code == "pending"
    assert "did not finish" in d.reason
    cli(dock, "dock", "--drone", "UAV-07")  # a complete event for the drone outdates the marker
    assert decide(dock).clear


def test_gate_list_shows_every_drone(dock: Dock) -> None:
    cli(dock, "dock", "--drone", "UAV-07")
    tamper(dock, "UAV-08")
    cli(dock, "dock", "--drone", "UAV-08")
    code, out = cli(dock, "gate", "list", "--json")
    assert code == 0
    rows = {r["drone"]: r for r in json.loads(out)}
    assert (rows["UAV-07"]["state"], rows["UAV-08"]["state"], rows["UAV-08"]["code"]) == ("clear", "blocked", "drift")
    assert rows["UAV-08"]["since"] is not None
    code, out = cli(dock, "gate", "list")
    assert out.splitlines()[0].split() == ["DRONE", "STATE", "SINCE", "REASON"]
    assert os.linesep.join(out.splitlines()[1:]).count("UAV-0") >= 2
