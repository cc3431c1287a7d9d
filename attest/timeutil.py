"""RFC 3339 timestamps in UTC, the one time format of baselines, results and logs.

On the command line a plain date (``2027-01-31``) is accepted too, as that
day's midnight UTC (:func:`parse_date_or_time`): ``baseline create --expires``
and ``log show --since`` read it the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_time", "parse_date_or_time", "parse_time"]


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


def parse_date_or_time(text: str) -> datetime:
    """A date ``YYYY-MM-DD`` (its midnight UTC) or an RFC 3339 timestamp (:func:`parse_time`).

    Raises:
        ValueError: neither.
    """
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{text!r} is not a date (e.g. 2027-01-31)") from None
    return parse_time(text)
