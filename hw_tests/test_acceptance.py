"""Acceptance against a real device: build a baseline from it, then verify that it passes.

Run ``pytest hw_tests --device TARGET [--identity KEY --known-hosts FILE] [--baud N]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def attest(*args: str | Path, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attest", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "ATTEST_STATE_DIR": str(state)},
    )


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    r = attest("key", "generate", "--out", tmp_path / "hw.key", state=tmp_path / "state")
    assert r.returncode == 0, r.stderr
    trust = tmp_path / "trust.toml"
    trust.write_text('threshold = 1\n[[keys]]\nid = "hw"\npublic_key = "hw.pub"\n')
    return tmp_path


def test_baseline_from_device_then_verify_passes(
    device: str, transport_args: list[str], selection_args: list[str], fleet: Path
) -> None:
    state = fleet / "state"
    baseline = fleet / "device.baseline.json"
    r = attest(
        "baseline",
        "create",
        "--device",
        device,
        "--name",
        "hw-acceptance",
        "--version",
        "1",
        "--out",
        baseline,
        *transport_args,
        *selection_args,
        state=state,
    )
    assert r.returncode == 0, r.stderr
    statement = json.loads(baseline.read_text())
    assert statement["predicate"]["components"], "the device yielded no components"
    assert attest("baseline", "sign", baseline, "--key", fleet / "hw.key", state=state).returncode == 0

    r = attest(
        "verify",
        "--device",
        device,
        "--baseline",
        baseline,
        "--trust",
        fleet / "trust.toml",
        "--json",
        *transport_args,
        state=state,
    )
    result = json.loads(r.stdout)
    assert r.returncode == 0, (result, r.stderr)
    assert result["verdict"] == "pass"
    assert result["components"] == len(statement["predicate"]["components"])
    kind = result["device"]["kind"]
    facts = result["device"]["facts"]
    if kind == "mavlink":
        # Identity was read, and parameter and FTP reads completed.
        assert facts.get("board_id"), facts
        assert "fc/params" in statement["predicate"]["components"]
    if kind == "ssh":
        assert statement["predicate"]["device"]["match"], "the SSH host key must be pinned"
