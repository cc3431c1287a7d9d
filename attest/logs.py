"""Structured event logs: structlog, configured once, imported only when an event is emitted.

Every module logs through :func:`get_logger`. The command line sets the level
(:func:`set_level`); an event below it costs a comparison, and structlog (with
the optional libraries it loads, ~70 ms) is imported only when the first event
at or above the level is emitted. So ``attest --help`` and a quiet
``attest verify`` never load it.

Events are JSON lines on stderr when stderr is not a terminal (a service's
journal), readable ``key=value`` text otherwise; stdout is never used, so
``--json`` output stays one document.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["LEVELS", "Logger", "get_logger", "set_level"]

#: level name -> numeric level, as in :mod:`logging`
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_level = LEVELS["info"]
_configured_at: int | None = None


def set_level(name: str) -> None:
    """Emit events at ``name`` (``debug``, ``info``, ``warning``, ``error``) and above.

    Raises:
        KeyError: an unknown level name (the CLI offers only these).
    """
    global _level  # noqa: PLW0603 - one process-wide setting, like logging's root level
    _level = LEVELS[name]
    if "structlog" in sys.modules:  # already in use: apply the new level now
        _configure()


def _configure() -> Any:
    global _configured_at  # noqa: PLW0603
    import structlog

    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level),
        # Look sys.stderr up at each event rather than binding it now: the CLI may
        # run in-process (tests, embedding) with sys.stderr swapped and closed later.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _configured_at = _level
    return structlog


def _stderr_logger(*_args: object) -> Any:
    import structlog

    return structlog.PrintLogger(sys.stderr)


class Logger:
    """A logger that imports and configures structlog on its first emitted event."""

    def __init__(self, bound: dict[str, Any] | None = None) -> None:
        self._bound = dict(bound or {})

    def bind(self, **values: Any) -> Logger:
        """A logger that adds ``values`` to every event."""
        return Logger({**self._bound, **values})

    def _emit(self, level: str, event: str, values: dict[str, Any]) -> None:
        if LEVELS[level] < _level:
            return
        import structlog

        # Configure on first use, and again whenever structlog was reset or the level changed.
        if _configured_at != _level or not structlog.is_configured():
            _configure()
        getattr(structlog.get_logger().bind(**self._bound), level)(event, **values)

    def debug(self, event: str, **values: Any) -> None:
        """Log ``event`` at debug level."""
        self._emit("debug", event, values)

    def info(self, event: str, **values: Any) -> None:
        """Log ``event`` at info level."""
        self._emit("info", event, values)

    def warning(self, event: str, **values: Any) -> None:
        """Log ``event`` at warning level."""
        self._emit("warning", event, values)

    def error(self, event: str, **values: Any) -> None:
        """Log ``event`` at error level."""
        self._emit("error", event, values)


def get_logger(**bound: Any) -> Logger:
    """The logger for a module or a run; ``bound`` values go with every event."""
    return Logger(bound)
