"""Shared fixtures: run the real ``attest`` CLI in a subprocess, make keys and trust policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Where ../shared would be in a developer checkout; conformance tests skip without it.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run long fault and soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long fault/soak run: opt in with --run-slow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass
class Run:
    """A finished ``attest`` process."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_attest(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Run:
    """Run ``python -m attest ARGS`` and capture everything."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "attest", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def attest(tmp_path: Path) -> Callable[..., Run]:
    """Run the CLI with a private state directory (``ATTEST_STATE_DIR``) under tmp_path."""

    def _run(*args: str | os.PathLike[str], **kw: Any) -> Run:
        env = {"ATTEST_STATE_DIR": str(tmp_path / "state"), **kw.pop("env", {})}
        return run_attest(args, env=env, **kw)

    return _run


@dataclass
class Fleet:
    """Fleet-manager keys and a trust policy listing them."""

    dir: Path
    keys: list[Path]
    trust: Path


def make_fleet(root: Path, n: int = 1, threshold: int = 1) -> Fleet:
    """Generate ``n`` keys with the real CLI and write a trust policy."""
    root.mkdir(parents=True, exist_ok=True)
    keys = []
    lines = [f"threshold = {threshold}"]
    for i in range(1, n + 1):
        key = root / f"fleet{i}.key"
        r = run_attest(["key", "generate", "--out", key])
        assert r.code == 0, r.err
        keys.append(key)
        lines += ["[[keys]]", f'id = "fleet-{i}"', f'public_key = "fleet{i}.pub"']
    trust = root / "trust.toml"
    trust.write_text("\n".join(lines) + "\n")
    return Fleet(root, keys, trust)


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """One fleet key, threshold 1."""
    return make_fleet(tmp_path / "fleet")
