"""Hooks: programs the dock runs after the gate blocks or clears a drone (a relay, a light, a message).

Each hook whose ``on`` names the action runs as ``run + [action]`` (an argv:
never a shell), with the event's JSON (``attest dock --json``'s object) on
stdin, ``ATTEST_GATE`` and ``ATTEST_DRONE`` in its environment, in its own
process group. After ``timeout`` seconds the whole group is killed. Its exit
status and the first :data:`MAX_HOOK_OUTPUT` bytes of its stdout and stderr go to
the structured log.

Hooks run only after the result is durable and the gate decided; nothing a
hook does (fail, hang, crash, print) changes the decision: this module
returns reports, never a verdict.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from attest.dock.config import HookConfig
from attest.logs import get_logger

__all__ = ["MAX_HOOK_OUTPUT", "HookReport", "run_hooks"]

log = get_logger()

#: Bytes of a hook's stdout and of its stderr kept for the log; the rest is read and dropped.
MAX_HOOK_OUTPUT = 4096
#: After the kill, how long the pipes may stay open (a descendant that left the group) before we stop reading.
_DRAIN_AFTER_KILL = 1.0


@dataclass(frozen=True)
class HookReport:
    """How one hook ran.

    Attributes:
        argv: what was run.
        status: ``ok``, ``failed`` (non-zero exit or killed by a signal), ``timeout`` or ``not started``.
        returncode: its exit status (negative: the signal), or ``None``.
        seconds: how long it ran.
        stdout: the first bytes of its stdout, decoded.
        stderr: the first bytes of its stderr, decoded.
        error: why it could not be started.
    """

    argv: tuple[str, ...]
    status: str
    returncode: int | None
    seconds: float
    stdout: str = ""
    stderr: str = ""
    error: str | None = None


class _Capture(threading.Thread):
    """Reads a pipe to its end, keeping the first MAX_HOOK_OUTPUT bytes (a chatty hook never blocks on a full pipe)."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.kept = bytearray()

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(self.fd, 65536):
                if len(self.kept) < MAX_HOOK_OUTPUT:
                    self.kept += chunk[: MAX_HOOK_OUTPUT - len(self.kept)]


def _feed(fd: int, data: bytes) -> None:
    """Write ``data`` to a hook's stdin, giving up quietly if it closes stdin or exits."""
    with contextlib.suppress(OSError):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    with contextlib.suppress(OSError):
        os.close(fd)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _run_one(hook: HookConfig, action: str, payload: bytes, env: Mapping[str, str]) -> HookReport:
    argv = (*hook.run, action)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            start_new_session=True,  # its own process group: the timeout kills everything it started
            close_fds=True,
        )
    except OSError as e:
        return HookReport(argv, "not started", None, 0.0, error=f"{e.strerror or e}")
    if proc.stdin is None or proc.stdout is None or proc.stderr is None:  # pragma: no cover - PIPE was asked for
        raise RuntimeError("hook pipes missing")
    out, err = _Capture(proc.stdout.fileno()), _Capture(proc.stderr.fileno())
    out.start()
    err.start()
    stdin_fd = os.dup(proc.stdin.fileno())
    proc.stdin.close()
    feeder = threading.Thread(target=_feed, args=(stdin_fd, payload), daemon=True)
    feeder.start()
    status = "ok"
    try:
        proc.wait(timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        status = "timeout"
    # Kill the group in every case: a hook that exited may have left children behind.
    _kill_group(proc.pid)
    if status == "timeout":
        proc.wait()
    for t in (out, err):
        # A descendant that escaped the group (setsid) may hold the pipe open: stop waiting, not the dock.
        t.join(_DRAIN_AFTER_KILL)
    seconds = time.monotonic() - started
    for f, t in ((proc.stdout, out), (proc.stderr, err)):
        if not t.is_alive():  # a reader still blocked keeps its fd: closing it under the thread could reuse it
            with contextlib.suppress(OSError):
                f.close()
    if status == "ok" and proc.returncode != 0:
        status = "failed"
    return HookReport(
        argv,
        status,
        proc.returncode,
        seconds,
        stdout=bytes(out.kept).decode("utf-8", "replace"),
        stderr=bytes(err.kept).decode("utf-8", "replace"),
    )


def run_hooks(hooks: Sequence[HookConfig], action: str, payload: bytes, *, drone: str | None) -> list[HookReport]:
    """Run every hook configured for ``action``, one after the other; log how each went.

    Args:
        hooks: the configured hooks.
        action: ``block`` or ``clear``.
        payload: the event's JSON, for the hooks' stdin.
        drone: the drone's name (``None`` for an unknown device), for ``ATTEST_DRONE``.

    Returns:
        One report per hook run, in order. Nothing here raises for what a hook does.
    """
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "ATTEST_GATE": action,
        "ATTEST_DRONE": drone or "",
    }
    reports = []
    for hook in hooks:
        if action not in hook.on:
            continue
        report = _run_one(hook, action, payload, env)
        reports.append(report)
        event = log.info if report.status == "ok" else log.warning
        event(
            "hook",
            action=action,
            drone=drone,
            argv=list(report.argv),
            status=report.status,
            returncode=report.returncode,
            seconds=round(report.seconds, 3),
            stdout=report.stdout,
            stderr=report.stderr,
            error=report.error,
        )
    return reports
