"""Reading a TOML configuration's tables into typed values, with every problem collected.

:class:`Problems` gathers problems with their location (``drones[UAV-07].fc.baud``),
so that one ``attest config check`` lists them all; each reader here adds a
problem and returns a default rather than raising. Durations are written
``300ms``, ``10s``, ``15m``, ``1h``, ``2d`` or a sum such as ``1h30m``.

Hand-written because tomllib only parses: which keys a table may have and of
what type is this project's to say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attest.errors import ConfigError

__all__ = [
    "MAX_FILE_LIST",
    "Problems",
    "duration_at",
    "format_duration",
    "parse_duration",
    "path_at",
    "paths_at",
    "positive_int_at",
    "string_at",
    "table_at",
    "unknown_keys",
]

#: A list of file names (Sigstore bundles: one per signer) is short; more is a mistake.
MAX_FILE_LIST = 32

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``10s``, ``15m``, ``1h30m`` or ``250ms``.

    Raises:
        ValueError: not of that form, or not positive.
    """
    pos, total = 0, 0.0
    text = text.strip()
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None:
            raise ValueError(f"{text!r} is not a duration (write e.g. 10s, 15m, 1h, 1h30m)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or total <= 0:
        raise ValueError(f"{text!r} is not a positive duration (write e.g. 10s, 15m, 1h)")
    return total


def format_duration(seconds: float) -> str:
    """``900`` -> ``15m``, ``5400`` -> ``1h30m``, ``2.5`` -> ``2.5s`` (the inverse of :func:`parse_duration`)."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    out, left = "", int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


class Problems:
    """Collects every problem with a location, so that one run of ``config check`` lists them all."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        """Record ``message`` about the key at ``where``."""
        self.items.append(f"{self.source}: {where}: {message}")

    def raise_if_any(self) -> None:
        """Raise one :class:`ConfigError` with a line per problem, if there is any.

        Raises:
            ConfigError: at least one problem was recorded.
        """
        if self.items:
            raise ConfigError("\n".join(self.items))


def unknown_keys(p: Problems, where: str, data: Mapping[str, Any], known: set[str]) -> None:
    """A problem for every key of ``data`` (the table at ``where``) not in ``known``."""
    for key in sorted(set(data) - known):
        p.add(f"{where}.{key}" if where else key, f"unknown key (known: {', '.join(sorted(known))})")


def table_at(p: Problems, where: str, value: Any) -> dict[str, Any]:
    """``value`` if it is a table, else a problem and ``{}``."""
    if not isinstance(value, dict):
        p.add(where, f"expected a table, got {type(value).__name__}")
        return {}
    return value


def string_at(p: Problems, where: str, value: Any, *, required: bool = False) -> str | None:
    """``value`` if it is a non-empty string without NUL; ``None`` if absent (a problem if ``required``)."""
    if value is None:
        if required:
            p.add(where, "missing (required)")
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        p.add(where, f"expected a non-empty string, got {value!r}")
        return None
    return value


def path_at(p: Problems, where: str, value: Any, base: Path, *, required: bool = False) -> Path | None:
    """A file name (:func:`string_at`) resolved against ``base`` (an absolute one stays as it is)."""
    text = string_at(p, where, value, required=required)
    return base / text if text is not None else None


def duration_at(p: Problems, where: str, value: Any, default: float) -> float:
    """Seconds in a duration string (:func:`parse_duration`); ``default`` if absent or wrong (a problem)."""
    if value is None:
        return default
    if not isinstance(value, str):
        p.add(where, f"expected a duration string such as '10s' or '15m', got {value!r}")
        return default
    try:
        return parse_duration(value)
    except ValueError as e:
        p.add(where, str(e))
        return default


def positive_int_at(p: Problems, where: str, value: Any, default: int | None) -> int | None:
    """``value`` if it is an integer of at least 1; ``default`` if absent or wrong (a problem)."""
    if value is None:
        return default
    if type(value) is not int or value < 1:
        p.add(where, f"expected a positive integer, got {value!r}")
        return default
    return value


def paths_at(p: Problems, where: str, value: Any, base: Path) -> tuple[Path, ...]:
    """A list of file names (``bundles = ["a.sigstore.json"]``), each resolved against ``base``."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\0" not in v for v in value):
        p.add(where, f"expected a list of file names, got {value!r}")
        return ()
    if len(value) > MAX_FILE_LIST:
        p.add(where, f"{len(value)} files, more than {MAX_FILE_LIST}")
        return ()
    return tuple(dict.fromkeys(base / v for v in value))
