"""RFC 3339 timestamps in UTC, the one time format of baselines, results and logs."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_time", "parse_time"]


def format_time(t: datetime) -> str:
    """``2027-01-31T00:00:00Z`` (second precision, UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; a time without an offset is refused.

    Raises:
        ValueError: not a timestamp with a ``Z`` or numeric offset.
    """
    t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (use e.g. 2027-01-31T00:00:00Z)")
    try:
        return t.astimezone(UTC)
    except OverflowError as e:  # 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
        raise ValueError(f"{text!r} is out of range") from e
