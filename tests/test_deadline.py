"""``--max-seconds``: the whole run ends as a logged error, whatever the device does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fc_fixture import SMALL_FLASH, FcBench, Sim

pytest_plugins = ["fc_fixture"]


def test_a_slow_but_live_controller_is_stopped_by_the_deadline(
    fc_bench: FcBench, sim_fc: Callable[..., Sim], tmp_path: Path
) -> None:
    """A controller that answers inside every per-wait bound, only slowly (a 2,400-baud line), still ends."""
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    slow = sim_fc(*SMALL_FLASH, "--baud", "2400")
    key = tmp_path / "dock.key"
    assert fc_bench.attest("key", "generate", "--out", key).code == 0
    # At 2,400 baud the 256 KiB flash alone takes ~20 minutes: only the deadline ends this run
    # within the subprocess's limit, and the message names it. No wall-clock assertion.
    r = fc_bench.verify(slow.path, baseline, "--max-seconds", "2", "--dock-key", key, "--log", tmp_path / "log")
    assert r.code == 3, r.out + r.err
    out = r.json()
    assert out["verdict"] == "error"
    assert "did not finish within --max-seconds 2" in out["message"]
    assert out["log_index"] == 0
    rows = json.loads(fc_bench.attest("log", "show", "--log", tmp_path / "log", "--json").out)
    assert [row["verdict"] for row in rows] == ["error"]


def test_a_run_inside_the_deadline_is_unchanged(fc_bench: FcBench, sim_fc: Callable[..., Sim]) -> None:
    device = sim_fc(*SMALL_FLASH).path
    baseline = fc_bench.create(device)
    r = fc_bench.verify(device, baseline, "--max-seconds", "120")
    assert r.code == 0, r.out + r.err
    assert r.json()["verdict"] == "pass"


def test_max_seconds_must_be_positive(fc_bench: FcBench, tmp_path: Path) -> None:
    for bad in ("0", "-1", "soon"):
        r = fc_bench.verify(str(tmp_path), tmp_path / "b.json", "--max-seconds", bad)
        assert r.code == 2 and "--max-seconds" in r.err
