"""``attest verify --dock-key``: every result is signed and appended to the dock's log."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import Fleet, Run

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


def _verify(
    attest: Callable[..., Run], device: Path, *extra: str | Path, trust: Path = BASELINES / "trust.toml"
) -> Run:
    return attest(
        "verify",
        "--device",
        device,
        "--baseline",
        BASELINES / "companion.baseline.json",
        "--trust",
        trust,
        "--json",
        *extra,
    )


def test_results_are_logged_and_verifiable(attest: Callable[..., Run], tmp_path: Path) -> None:
    tree = tmp_path / "companion"
    assert attest("sim", "tree", "--out", tree).code == 0
    assert attest("key", "generate", "--out", tmp_path / "dock.key").code == 0
    log_dir = tmp_path / "log"
    args = ("--dock-key", tmp_path / "dock.key", "--log", log_dir, "--origin", "dock-1.fleet.example")

    first = _verify(attest, tree, *args)
    assert first.code == 0 and first.json()["log_index"] == 0
    (tree / "opt/flightapp/exfil.py").write_text("planted")
    second = _verify(attest, tree, *args)
    assert second.code == 1 and second.json()["log_index"] == 1
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not a baseline")
    untrusted = attest(
        "verify", "--device", tree, "--baseline", garbage, "--trust", BASELINES / "trust.toml", "--json", *args
    )
    assert untrusted.code == 4 and untrusted.json()["log_index"] == 2  # every run is recorded
    # A baseline path that names no file is a usage error (exit 2): no run, so nothing is logged.
    missing = attest(
        "verify", "--device", tree, "--baseline", tmp_path / "missing.json", "--trust", BASELINES / "trust.toml",
        "--json", *args,
    )  # fmt: skip
    assert missing.code == 2 and missing.out == "" and "missing.json: cannot read baseline" in missing.err

    vkey = attest("log", "key", "--dock-key", tmp_path / "dock.key", "--log", log_dir)
    assert vkey.code == 0 and vkey.out.startswith("dock-1.fleet.example+")
    ok = attest("log", "verify", "--log", log_dir, "--vkey", vkey.out.strip())
    assert ok.code == 0, ok.out + ok.err

    rows = json.loads(attest("log", "show", "--log", log_dir, "--json").out)
    assert [(r["index"], r["verdict"]) for r in rows] == [(0, "pass"), (1, "drift"), (2, "untrusted")]
    assert rows[1]["findings"][0]["component"] == "opt/flightapp/exfil.py"


def test_no_dock_key_means_no_log(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> None:
    tree = tmp_path / "companion"
    attest("sim", "tree", "--out", tree)
    r = _verify(attest, tree)
    assert r.code == 0 and r.json()["log_index"] is None
    assert not (tmp_path / "state" / "log").exists()


def test_bad_dock_key_or_foreign_log_is_exit_2_before_measuring(attest: Callable[..., Run], tmp_path: Path) -> None:
    tree = tmp_path / "companion"
    attest("sim", "tree", "--out", tree)
    (tmp_path / "bad.key").write_text("nope")
    (tmp_path / "bad.key").chmod(0o600)
    r = _verify(attest, tree, "--dock-key", tmp_path / "bad.key")
    assert r.code == 2 and r.out == "" and "bad.key" in r.err

    for name in ("a", "b"):
        assert attest("key", "generate", "--out", tmp_path / f"{name}.key").code == 0
    assert _verify(attest, tree, "--dock-key", tmp_path / "a.key", "--log", tmp_path / "log").code == 0
    foreign = _verify(attest, tree, "--dock-key", tmp_path / "b.key", "--log", tmp_path / "log")
    assert foreign.code == 2 and foreign.out == ""
    assert "another key" in foreign.err
    # Refused before the device is touched: a missing device would otherwise be exit 3.
    early = _verify(attest, tmp_path / "no-such-device", "--dock-key", tmp_path / "b.key", "--log", tmp_path / "log")
    assert early.code == 2 and "another key" in early.err


def test_a_dock_key_the_trust_policy_lists_is_refused(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> None:
    """One key must never sign both baselines and results (issue 9, item 16)."""
    tree = tmp_path / "companion"
    attest("sim", "tree", "--out", tree)
    r = _verify(attest, tree, "--dock-key", fleet.keys[0], "--log", tmp_path / "log", trust=fleet.trust)
    assert r.code == 2 and r.out == ""
    assert "must never sign results" in r.err
    assert not (tmp_path / "log" / "entries").exists() or (tmp_path / "log" / "entries").stat().st_size == 0
