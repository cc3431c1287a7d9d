"""The README's quick start runs as written (issue 10: it once referred to a directory that did not exist)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start on the bench", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README: no sh block under 'Quick start on the bench'"
    # The set-up lines are `make demo` and activating the venv: the test runs in the venv already.
    lines = [ln for ln in block.group(1).splitlines() if not ln.startswith(("make ", ". .venv"))]
    return "\n".join(lines) + "\n"


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    script = _quick_start()
    before, sep, after = script.partition("echo tampered")
    assert sep, "README: the quick start no longer shows a tampered file"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ATTEST_STATE_DIR": str(tmp_path / "state"),
    }
    setup = subprocess.run(
        ["bash", "-e", "-c", before], check=False, cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "PASS" in setup.stdout
    drift = subprocess.run(
        ["bash", "-c", sep + after], check=False, cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert drift.returncode == 1, drift.stdout + drift.stderr
    result = json.loads(drift.stdout)
    assert result["verdict"] == "drift"
    assert [f["component"] for f in result["findings"]] == ["etc/hostname"]
