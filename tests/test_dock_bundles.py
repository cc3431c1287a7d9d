"""Sigstore bundles in the dock's configuration: ``bundles`` / ``full_bundles`` count wherever a baseline is checked.

The trust policy is 2 of 2: one fleet key and one Sigstore identity (alice, under a private test
root, tests/sigstore_kit.py). A baseline the fleet key signed therefore reaches its threshold only with
alice's bundle, which the dock event (``attest dock``), the gate's re-check (``attest gate check``) and
``attest config check`` must all be given; a missing bundle, or one over other content, never passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet
from dock_fixture import Dock, Drone
from fc_fixture import SMALL_FLASH, Sim
from sigstore_kit import ALICE, ISSUER, TestRoot

from attest.dock import load_config
from attest.errors import ConfigError
from attest.signing import Envelope

pytest_plugins = ["fc_fixture"]

#: The quick profile of a dock event at 115,200 baud (as tests/test_dock_event.py).
QUICK = ("--exclude", "fc/flash", "--exclude", "fc/firmware", "--exclude", "param/STAT_*")


@pytest.fixture(scope="module")
def force() -> TestRoot:
    return TestRoot(name="force")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, force: TestRoot) -> Fleet:
    """One fleet key and alice's Sigstore identity, both required (threshold 2)."""
    fleet = make_fleet(tmp_path_factory.mktemp("fleet"))
    force.trusted_root(fleet.dir / "trusted_root.json")
    policy = fleet.dir / "trust-2of2.toml"
    policy.write_text(
        fleet.trust.read_text().replace("threshold = 1", "threshold = 2")
        + f'\n[[sigstore]]\nid = "alice"\nidentity = "{ALICE}"\nissuer = "{ISSUER}"\n'
        'trusted_root = "trusted_root.json"\n'
    )
    return Fleet(fleet.dir, fleet.keys, policy)


def _bundle(dock: Dock, force: TestRoot, baseline: str, out: str, *, other_content: bool = False) -> str:
    """Alice's bundle over ``baseline``'s payload (or over a payload with another version), in ``baselines/``."""
    payload = Envelope.from_bytes((dock.dir / "baselines" / baseline).read_bytes()).payload
    if other_content:
        statement = json.loads(payload)
        statement["predicate"]["version"] += 1
        payload = json.dumps(statement).encode()
    (dock.dir / "baselines" / out).write_bytes(force.bundle(payload))
    return out


def test_a_baseline_that_needs_a_sigstore_bundle_clears_only_with_it(
    tmp_path: Path, fleet: Fleet, force: TestRoot, sim_fc: Callable[..., Sim]
) -> None:
    sim = sim_fc(*SMALL_FLASH)
    dock = Dock(tmp_path / "dock", fleet)
    file = dock.baseline(sim.path, "fc-copter", *QUICK)
    fc: dict[str, object] = {"device": sim.path, "baseline": file}
    dock.drones.append(Drone("UAV-07", {"fc": fc}))

    # The fleet key alone is 1 of the 2 signers required: refused, logged, blocked.
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 4, r.out + r.err
    out = r.json()
    assert out["verdict"] == "untrusted" and out["gate"]["state"] == "blocked"
    assert "1 valid signature(s)" in out["parts"][0]["result"]["message"]

    # With alice's bundle listed, the same baseline passes, and the gate's own re-check counts it too.
    fc["bundles"] = [_bundle(dock, force, file, "fc-copter.alice.sigstore.json")]
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["verdict"] == "pass"
    assert out["gate"]["state"] == "clear", out["gate"]
    assert dock.attest("gate", "check", "UAV-07").code == 0

    # The gate reads the bundles again on every check: without the file, the drone is blocked.
    bundle = dock.dir / "baselines" / "fc-copter.alice.sigstore.json"
    saved = bundle.read_bytes()
    bundle.unlink()
    r = dock.attest("gate", "check", "UAV-07", "--json")
    assert r.code == 1, r.out + r.err
    assert r.json()["code"] == "baseline_superseded"
    assert "Sigstore bundle" in r.json()["reason"]
    bundle.write_bytes(saved)
    assert dock.attest("gate", "check", "UAV-07").code == 0

    # Alice's bundle over other content (the next version's payload) does not count: refused, blocked again.
    fc["bundles"] = [_bundle(dock, force, file, "other.sigstore.json", other_content=True)]
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-07", "--json")
    assert r.code == 4, r.out + r.err
    out = r.json()
    assert out["verdict"] == "untrusted" and out["gate"]["state"] == "blocked"
    assert "payload" in out["parts"][0]["result"]["message"]
    assert dock.attest("gate", "check", "UAV-07").code == 1


def test_a_missing_bundle_refuses_the_event_never_skipped(tmp_path: Path, fleet: Fleet, force: TestRoot) -> None:
    """A listed bundle that is not there is untrusted (exit 4), even when the others would reach the threshold."""
    dock = Dock(tmp_path / "dock", fleet)
    tree = dock.companion_tree()
    file = dock.baseline(str(tree), "companion")
    good = _bundle(dock, force, file, "alice.sigstore.json")
    dock.drones.append(Drone("UAV-08", {"companion": {"target": tree.name, "baseline": file, "bundles": [good]}}))
    dock.write()
    assert dock.attest("dock", "--drone", "UAV-08").code == 0

    dock.drones[0].parts["companion"]["bundles"] = [good, "gone.sigstore.json"]
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-08", "--json")
    assert r.code == 4, r.out + r.err
    out = r.json()
    assert out["gate"]["state"] == "blocked"
    assert "gone.sigstore.json" in out["parts"][0]["result"]["message"]


def test_a_full_event_counts_the_full_baselines_bundles(tmp_path: Path, fleet: Fleet, force: TestRoot) -> None:
    """``attest dock --full`` checks ``full_baseline`` with ``full_bundles``, not with the quick baseline's."""
    dock = Dock(tmp_path / "dock", fleet)
    tree = dock.companion_tree()
    quick = dock.baseline(str(tree), "companion", "--exclude", "etc/**")
    full = dock.baseline(str(tree), "companion-full")
    part: dict[str, object] = {
        "target": tree.name,
        "baseline": quick,
        "bundles": [_bundle(dock, force, quick, "quick.sigstore.json")],
        "full_baseline": full,
        "full_bundles": ["quick.sigstore.json"],  # a bundle of the other baseline
    }
    dock.drones.append(Drone("UAV-09", {"companion": part}))
    dock.write()
    assert dock.attest("dock", "--drone", "UAV-09").code == 0
    r = dock.attest("dock", "--drone", "UAV-09", "--full", "--json")
    assert r.code == 4, r.out + r.err

    part["full_bundles"] = [_bundle(dock, force, full, "full.sigstore.json")]
    dock.write()
    r = dock.attest("dock", "--drone", "UAV-09", "--full", "--json")
    assert r.code == 0, r.out + r.err
    assert r.json()["parts"][0]["baseline"]["name"] == "companion-full"
    assert r.json()["gate"]["state"] == "clear"


def test_config_check_reports_a_missing_bundle_file(tmp_path: Path, fleet: Fleet, force: TestRoot) -> None:
    dock = Dock(tmp_path / "dock", fleet)
    tree = dock.companion_tree()
    file = dock.baseline(str(tree), "companion")
    good = _bundle(dock, force, file, "alice.sigstore.json")
    dock.drones.append(Drone("UAV-10", {"companion": {"target": tree.name, "baseline": file, "bundles": [good]}}))
    dock.write()
    ok = dock.attest("config", "check")
    assert ok.code == 0, ok.err
    assert "companion v1 + 1 Sigstore bundle" in ok.out

    dock.drones[0].parts["companion"]["bundles"] = ["gone.sigstore.json"]
    dock.write()
    r = dock.attest("config", "check")
    assert r.code == 2, r.out + r.err
    missing = [line for line in r.err.splitlines() if "drones[UAV-10].companion.bundles" in line]
    assert missing and "gone.sigstore.json" in missing[0] and "cannot read Sigstore bundle" in missing[0], r.err
    # ... and without it the baseline falls short of the threshold: that is listed too.
    assert "drones[UAV-10].companion.baseline" in r.err and "1 valid signature(s)" in r.err


def test_bundles_are_checked_like_every_other_key(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text(
        '[dock]\norigin = "d"\nkey = "k"\ntrust = "t"\nbaselines = "bl"\n'
        '[[drones]]\nname = "A"\nfc = { device = "/dev/ttyACM0", baseline = "a.json", bundles = "a.sigstore.json" }\n'
        '[[drones]]\nname = "B"\nfc = { device = "/dev/ttyACM1", baseline = "b.json", full_bundles = ["f.json"] }\n'
        '[[drones]]\nname = "C"\nfc = { device = "/dev/ttyACM2", baseline = "c.json", bundles = ["c1.json", "c2.json"],'
        ' full_baseline = "cf.json", full_bundles = ["cf1.json"] }\n'
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = str(e.value)
    assert "drones[A].fc.bundles: expected a list of file names" in text
    assert "drones[B].fc.full_bundles: given without full_baseline" in text
    assert "drones[C]" not in text

    path.write_text(
        '[dock]\norigin = "d"\nkey = "k"\ntrust = "t"\nbaselines = "bl"\n'
        '[[drones]]\nname = "C"\nfc = { device = "/dev/ttyACM2", baseline = "c.json", bundles = ["c1.json", "c2.json"],'
        ' full_baseline = "cf.json", full_bundles = ["cf1.json"] }\n'
    )
    (part,) = load_config(path).drones[0].parts
    bl = tmp_path / "bl"
    assert part.bundles == (bl / "c1.json", bl / "c2.json")
    assert part.bundles_for(full=False) == part.bundles
    assert part.bundles_for(full=True) == (bl / "cf1.json",)
