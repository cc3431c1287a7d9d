"""Hooks run after the gate decides, bounded, with the event on stdin; nothing they do changes the decision."""

from __future__ import annotations

import io
import json
import os
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet
from dock_fixture import Dock, directory_drone, write_hook

from attest._cli import main
from attest.dock import MAX_HOOK_OUTPUT, HookConfig, load_config, run_hooks
from attest.gate import GateContext, check_drone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited: only its parent's wait is missing.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_hook_gets_the_action_the_event_and_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = write_hook(tmp_path / "relay", f'cat > {out}.json; echo "$# $1 $2 $ATTEST_GATE $ATTEST_DRONE" > {out}\n')
    reports = run_hooks(
        [HookConfig(on=("block", "clear"), run=(str(hook), "--set"), timeout=5)],
        "clear",
        b'{"drone": "UAV-07"}\n',
        drone="UAV-07",
    )
    assert [r.status for r in reports] == ["ok"]
    assert out.read_text() == "2 --set clear clear UAV-07\n"
    assert json.loads((tmp_path / "out.json").read_text()) == {"drone": "UAV-07"}


def test_only_hooks_for_the_action_run(tmp_path: Path) -> None:
    hook = write_hook(tmp_path / "h", "exit 0\n")
    reports = run_hooks([HookConfig(on=("clear",), run=(str(hook),), timeout=5)], "block", b"{}", drone=None)
    assert reports == []


def test_a_failing_or_crashing_hook_is_reported(tmp_path: Path) -> None:
    fails = write_hook(tmp_path / "fails", "echo relay unreachable >&2; exit 7\n")
    crashes = write_hook(tmp_path / "crashes", "kill -SEGV $$\n")
    missing = HookConfig(on=("block",), run=(str(tmp_path / "missing"),), timeout=5)
    reports = run_hooks(
        [
            HookConfig(on=("block",), run=(str(fails),), timeout=5),
            HookConfig(on=("block",), run=(str(crashes),), timeout=5),
            missing,
        ],
        "block",
        b"{}",
        drone="UAV-07",
    )
    assert [(r.status, r.returncode) for r in reports] == [
        ("failed", 7),
        ("failed", -signal.SIGSEGV),
        ("not started", None),
    ]
    assert reports[0].stderr == "relay unreachable\n"
    assert reports[2].error


def test_a_hanging_hook_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The hook starts a child that ignores SIGTERM and waits forever, then hangs itself.
    hook = write_hook(tmp_path / "hangs", f"trap '' TERM; sleep 600 & echo $! > {pids}; echo $$ >> {pids}; wait\n")
    # The hook must have started its child before the timeout hits for the test to mean anything; on a
    # loaded machine it may not have within 1 s, so the timeout grows until it has (behaviour, not speed).
    for timeout in (1, 4, 16):
        pids.unlink(missing_ok=True)
        hooks = [HookConfig(on=("block",), run=(str(hook),), timeout=timeout)]
        (report,) = run_hooks(hooks, "block", b"{}", drone="UAV-07")
        assert report.status == "timeout"
        written = [int(p) for p in pids.read_text().split()] if pids.exists() else []
        assert not [pid for pid in written if _alive(pid)]  # whatever it had started is gone
        if len(written) == 2:  # the child and the shell
            break
    else:
        pytest.fail("the hook did not start its child within 16 s")


def test_a_hook_that_never_reads_stdin_and_floods_stdout_does_not_block_the_dock(tmp_path: Path) -> None:
    hook = write_hook(tmp_path / "flood", "head -c 5000000 /dev/zero | tr '\\0' x\n")
    payload = b"x" * (4 << 20)  # larger than a pipe: written by a thread that gives up when the hook exits
    (report,) = run_hooks([HookConfig(on=("clear",), run=(str(hook),), timeout=10)], "clear", payload, drone="A")
    assert report.status == "ok"
    assert len(report.stdout) == MAX_HOOK_OUTPUT


# -- through the dock -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


def _dock(dock: Dock, *args: str) -> tuple[int, dict[str, object], str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["dock", "--config", str(dock.config), "--json", *args])
    return code, json.loads(out.getvalue()), err.getvalue()


def test_a_hanging_hook_never_turns_a_block_into_a_clear(tmp_path: Path, fleet: Fleet) -> None:
    """Drift, and the relay hook hangs: blocked, exit 3 (the event's actions did not complete), logged."""
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    hangs = write_hook(tmp_path / "relay", "sleep 600\n")
    dock.hooks.append({"on": ["block", "clear"], "run": [str(hangs)], "timeout": "1s"})
    dock.write()
    (tmp_path / "UAV-07-companion" / "etc" / "hostname").write_text("tampered\n")
    code, out, err = _dock(dock, "--drone", "UAV-07")
    assert code == 3
    assert out["verdict"] == "drift"
    assert out["log_index"] == 0
    assert out["gate"]["state"] == "blocked"  # type: ignore[index]
    assert out["hooks"] == [{"argv": [str(hangs), "block"], "status": "timeout", "returncode": -9, "error": None}]
    assert '"event": "hook"' in err and '"status": "timeout"' in err
    with GateContext.open(load_config(dock.config)) as ctx:
        assert check_drone(ctx, "UAV-07").code == "drift"


def test_a_failing_clear_hook_leaves_the_pass_logged_and_says_so(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet)
    directory_drone(dock, "UAV-07")
    dock.hooks.append({"on": ["clear"], "run": [str(write_hook(tmp_path / "relay", "exit 1\n"))], "timeout": "5s"})
    dock.write()
    code, out, _ = _dock(dock, "--drone", "UAV-07")
    assert (code, out["verdict"], out["gate"]["state"]) == (3, "pass", "clear")  # type: ignore[index]
