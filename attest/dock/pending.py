"""One dock event per drone at a time, and a marker that keeps the gate shut while one runs.

Before it measures anything, a dock event for a drone takes the drone's lock
(``GATE_DIR/pending/NAME.lock``, an ``flock``; a second event for the same
drone waits, within its own deadline) and writes a marker
(``GATE_DIR/pending/NAME.json``: when it started, its pid, and the log's size
then). The marker is removed only once the event's result is durably in the
log. So a dock that is killed, loses power, or cannot write its log leaves the
marker behind, and the gate treats the drone as blocked until a later entry
for it exists (see :func:`read_pending`).

The marker is not signed, and needs no signature: it can only block.
Removing it returns the gate to what the log says.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from attest.errors import ConfigError
from attest.fsutil import atomic_write
from attest.jsonutil import JSONFormatError, loads
from attest.timeutil import format_time, parse_time

__all__ = ["EventBusyError", "Pending", "PendingEvent", "drone_lock", "read_pending"]

#: A marker is a few hundred bytes.
_MAX_MARKER = 4096
#: How often a waiting event retries the lock.
_POLL = 0.05


class EventBusyError(Exception):
    """Another event for the same drone held its lock until this event's deadline."""


@dataclass(frozen=True)
class Pending:
    """A marker left by a dock event that has not (yet) logged its result.

    Attributes:
        drone: the drone.
        started: when the event began.
        pid: the dock process.
        log_size: the log's size when the event began: an entry for the drone
            at this index or later means the event (or a later one) finished.
        status: ``running``, or ``unlogged`` when the result could not be logged.
        message: why it could not be logged.
        running: the event's process still holds the drone's lock.
    """

    drone: str
    started: datetime | None
    pid: int | None
    log_size: int
    status: str
    message: str | None
    running: bool

    def reason(self) -> str:
        """Why the gate is shut, in words."""
        when = format_time(self.started) if self.started else "an unknown time"
        if self.status == "unlogged":
            return f"the dock event started at {when} could not log its result: {self.message}"
        if self.running:
            return f"a dock event is attesting it now (started {when}, pid {self.pid})"
        return f"the dock event started at {when} did not finish (interrupted, killed, or crashed)"


def _paths(gate_dir: Path, drone: str) -> tuple[Path, Path]:
    d = gate_dir / "pending"
    return d / f"{drone}.lock", d / f"{drone}.json"


def _held(lock: Path) -> bool:
    """Whether some process holds the exclusive lock on ``lock`` now."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_pending(gate_dir: Path, drone: str) -> Pending | None:
    """The drone's marker, or ``None`` when there is none.

    A marker that cannot be read or parsed still blocks: its ``log_size`` is
    then beyond any log, so no entry outdates it until a dock event for the
    drone replaces it.
    """
    lock, marker = _paths(gate_dir, drone)
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:
        return Pending(drone, None, None, 2**63, "unlogged", f"marker unreadable: {e.strerror}", _held(lock))
    try:
        raw = os.read(fd, _MAX_MARKER + 1)
    finally:
        os.close(fd)
    try:
        data = loads(raw)
        if not isinstance(data, dict) or type(data.get("log_size")) is not int:
            raise JSONFormatError("not a marker object")
        started = parse_time(data["started"]) if isinstance(data.get("started"), str) else None
        pid = data.get("pid") if type(data.get("pid")) is int else None
        status = "unlogged" if data.get("status") == "unlogged" else "running"
        message = data.get("message") if isinstance(data.get("message"), str) else None
        return Pending(drone, started, pid, data["log_size"], status, message, _held(lock))
    except (JSONFormatError, ValueError) as e:
        return Pending(drone, None, None, 2**63, "unlogged", f"marker unreadable: {e}", _held(lock))


class PendingEvent:
    """The held lock and marker of one running event (made by :func:`drone_lock`)."""

    def __init__(self, marker: Path, content: dict[str, object]) -> None:
        self._marker = marker
        self._content = content

    def logged(self) -> None:
        """The result is durable in the log: remove the marker."""
        with contextlib.suppress(FileNotFoundError):
            self._marker.unlink()

    def unlogged(self, message: str) -> None:
        """The result could not be logged: the marker stays, saying so (the gate stays shut)."""
        self._content.update(status="unlogged", message=message)
        with contextlib.suppress(ConfigError):
            atomic_write(self._marker, json.dumps(self._content).encode(), mode=0o600)


@contextlib.contextmanager
def drone_lock(
    gate_dir: Path, drone: str, *, log_size: Callable[[], int], started: datetime, wait: float
) -> Iterator[PendingEvent]:
    """Hold the drone's event lock and marker for the body of a ``with``.

    Args:
        gate_dir: the gate's state directory.
        drone: the drone's name.
        log_size: reads the log's size; called once the lock is held (before this event appends).
        started: when the event began.
        wait: seconds to wait for another event of the same drone to finish.

    Raises:
        EventBusyError: the other event did not finish within ``wait``.
        ConfigError: the lock or marker cannot be written.
    """
    lock, marker = _paths(gate_dir, drone)
    try:
        lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise ConfigError(f"{lock}: cannot open the drone's event lock: {e.strerror}") from e
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EventBusyError(
                        f"another dock event for {drone} held its lock for {wait:.0f} s, until this event's deadline"
                    ) from None
                time.sleep(_POLL)
        content: dict[str, object] = {
            "drone": drone,
            "started": format_time(started),
            "pid": os.getpid(),
            "log_size": log_size(),
            "status": "running",
        }
        atomic_write(marker, json.dumps(content).encode(), mode=0o600)
        yield PendingEvent(marker, content)
    finally:
        os.close(fd)  # closing releases the lock
