"""Progress display for long measurements, shown only to a person at a terminal.

Collectors report bytes through the :class:`Progress` protocol. The terminal
bar draws on stderr, only when stderr is a terminal, and only once the work
has taken more than a moment, so scripts and short runs see nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO

__all__ = ["NullProgress", "Progress", "TerminalProgress"]


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


class TerminalProgress:
    """A one-line bar on a terminal, drawn after ``delay`` seconds, at most 10 times a second."""

    def __init__(self, stream: TextIO = sys.stderr, *, delay: float = 0.7) -> None:
        self._stream = stream
        self._delay = delay
        self._lock = threading.Lock()
        self._total: int | None = None
        self._done = 0
        self._label = ""
        self._t0 = 0.0
        self._last = 0.0
        self._drawn = False

    @staticmethod
    def for_stream(stream: TextIO = sys.stderr) -> Progress:
        """A terminal bar when ``stream`` is a terminal, else :class:`NullProgress`."""
        return TerminalProgress(stream) if stream.isatty() else NullProgress()

    def start(self, total: int | None, label: str) -> None:
        """Begin a bar for ``label``."""
        with self._lock:
            self._total, self._done, self._label = total, 0, label
            self._t0 = time.monotonic()
            self._last = float("-inf")  # the first draw is due as soon as the delay has passed

    def advance(self, n: int) -> None:
        """Count ``n`` bytes; redraw when due."""
        with self._lock:
            self._done += n
            now = time.monotonic()
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
        mib = self._done / (1 << 20)
        rate = mib / max(now - self._t0, 1e-9)
        if self._total:
            frac = min(1.0, self._done / self._total)
            bar = "#" * int(frac * 30)
            text = f"{self._label} [{bar:<30}] {frac:4.0%} {mib:8.1f} MiB {rate:6.1f} MiB/s"
        else:
            text = f"{self._label} {mib:8.1f} MiB {rate:6.1f} MiB/s"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._drawn = True
