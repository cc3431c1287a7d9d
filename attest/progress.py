"""Progress of long measurements: a bar for a person at a terminal, log events for a service.

Collectors report bytes through the :class:`Progress` protocol.
:meth:`TerminalProgress.for_stream` picks the display: on a terminal, a bar on
stderr, drawn only once the work has taken more than a moment (a percentage
when the size is known, and the true rate in B/s, KiB/s or MiB/s, so a
115,200-baud flash read does not show ``0.0 MiB/s``); off a terminal (a
systemd service, a script), a structured ``progress`` event every few seconds
at info level (:mod:`attest.logs`), so a journal shows a long run is alive.
Short runs show nothing either way.

Both read time from an injectable ``clock`` (default :func:`time.monotonic`),
so their timing rules are tested without sleeping.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from attest.logs import get_logger

__all__ = ["LogProgress", "NullProgress", "Progress", "TerminalProgress", "format_rate"]


class Progress(Protocol):
    """Receives progress from a collector; every method may be called from worker threads."""

    def start(self, total: int | None, label: str) -> None:
        """Work of ``total`` bytes (``None`` if unknown) begins."""

    def advance(self, n: int) -> None:
        """``n`` more bytes are done."""

    def finish(self) -> None:
        """The work is over (whether it succeeded or not)."""


class NullProgress:
    """Shows nothing."""

    def start(self, total: int | None, label: str) -> None:
        """Ignore."""

    def advance(self, n: int) -> None:
        """Ignore."""

    def finish(self) -> None:
        """Ignore."""


def _amount(n: float) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n:.0f} B"


def format_rate(bytes_per_second: float) -> str:
    """A rate a person can read at any link speed: ``11.2 KiB/s``, ``1.9 MiB/s``, ``870 B/s``."""
    return f"{_amount(bytes_per_second)}/s"


class LogProgress:
    """A ``progress`` log event every ``every`` seconds (after the first ``every``) while work goes on."""

    def __init__(self, *, every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = get_logger()
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._total: int | None = None
        self._done = 0
        self._label = ""
        self._t0 = 0.0
        self._last = 0.0

    def start(self, total: int | None, label: str) -> None:
        """Begin counting ``label``."""
        with self._lock:
            self._total, self._done, self._label = total, 0, label
            self._t0 = self._last = self._clock()

    def advance(self, n: int) -> None:
        """Count ``n`` bytes; log when due."""
        with self._lock:
            self._done += n
            now = self._clock()
            if now - self._last < self._every:
                return
            self._last = now
            elapsed = max(now - self._t0, 1e-9)
            # A total is what the caller expects (e.g. the baseline's flash size); never claim past 100 %.
            percent = round(min(100.0, 100 * self._done / self._total), 1) if self._total else None
            self._log.info(
                "progress",
                what=self._label,
                bytes=self._done,
                total=self._total,
                percent=percent,
                bytes_per_second=round(self._done / elapsed),
                seconds=round(elapsed, 1),
            )

    def finish(self) -> None:
        """Nothing to clear."""


class TerminalProgress:
    """A one-line bar on a terminal, drawn after ``delay`` seconds, at most 10 times a second."""

    def __init__(
        self, stream: TextIO = sys.stderr, *, delay: float = 0.7, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._delay = delay
        self._clock = clock
        self._lock = threading.Lock()
        self._total: int | None = None
        self._done = 0
        self._label = ""
        self._t0 = 0.0
        self._last = 0.0
        self._drawn = False

    @staticmethod
    def for_stream(stream: TextIO = sys.stderr) -> Progress:
        """A terminal bar when ``stream`` is a terminal, else :class:`LogProgress` events."""
        return TerminalProgress(stream) if stream.isatty() else LogProgress()

    def start(self, total: int | None, label: str) -> None:
        """Begin a bar for ``label``."""
        with self._lock:
            self._total, self._done, self._label = total, 0, label
            self._t0 = self._clock()
            self._last = float("-inf")  # the first draw is due as soon as the delay has passed

    def advance(self, n: int) -> None:
        """Count ``n`` bytes; redraw when due."""
        with self._lock:
            self._done += n
            now = self._clock()
            if now - self._t0 < self._delay or now - self._last < 0.1:
                return
            self._last = now
            self._draw(now)

    def finish(self) -> None:
        """Clear the bar if it was drawn."""
        with self._lock:
            if self._drawn:
                self._stream.write("\r\x1b[2K")
                self._stream.flush()
                self._drawn = False

    def _draw(self, now: float) -> None:
        rate = format_rate(self._done / max(now - self._t0, 1e-9))
        if self._total:
            frac = min(1.0, self._done / self._total)
            bar = "#" * int(frac * 30)
            text = f"{self._label} [{bar:<30}] {frac:4.0%} {_amount(self._done):>10} of {_amount(self._total)} {rate}"
        else:
            text = f"{self._label} {_amount(self._done):>10} {rate}"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._drawn = True
