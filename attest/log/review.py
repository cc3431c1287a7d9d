"""Read a log's results back for people: filter them, tabulate them, summarise each drone.

Nothing here checks signatures: ``attest log verify`` does. The reading is
bounded by the log's own limits (each entry at most ``MAX_ENTRY_BYTES``) and
fails closed: an entry that is not a result names its index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from attest.log.store import Log
from attest.signing import LoggedResult, read_result
from attest.timeutil import format_time

__all__ = ["DroneSummary", "ResultFilter", "read_results", "render_table", "summarise"]


@dataclass(frozen=True)
class ResultFilter:
    """Which results to keep; ``None`` fields match everything."""

    device: str | None = None
    verdict: str | None = None
    since: datetime | None = None

    def matches(self, r: LoggedResult) -> bool:
        """Whether ``r`` passes every set condition (``since`` is inclusive)."""
        return (
            (self.device is None or r.device_id == self.device)
            and (self.verdict is None or r.verdict == self.verdict)
            and (self.since is None or r.time >= self.since)
        )


def read_results(log: Log, flt: ResultFilter | None = None) -> Iterator[LoggedResult]:
    """The log's results in index order (oldest first), filtered.

    Raises:
        LogError: an entry is unreadable or not a result (names its index).
    """
    for index, entry in log.entries():
        r = read_result(entry, index=index)
        if flt is None or flt.matches(r):
            yield r


def render_table(results: Iterable[LoggedResult], stream: TextIO) -> int:
    """Print the ``attest log show`` table; returns the number of rows."""
    rows = [("TIME", "DEVICE", "BASELINE", "VERDICT", "FINDINGS", "INDEX")]
    rows += [
        (format_time(r.time), r.device_id, r.baseline_label(), r.verdict, str(len(r.findings)), str(r.index))
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        stream.write("  ".join(cells).rstrip() + "\n")
    return len(rows) - 1


@dataclass
class DroneSummary:
    """One drone's history in a log.

    Attributes:
        device_id: the drone.
        results: its results, oldest first.
        counts: results per verdict.
    """

    device_id: str
    results: list[LoggedResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def latest(self) -> LoggedResult:
        """The most recent result (the drone's current status)."""
        return self.results[-1]

    @property
    def last_pass(self) -> LoggedResult | None:
        """The most recent passing result, if any."""
        return next((r for r in reversed(self.results) if r.verdict == "pass"), None)


def summarise(results: Iterable[LoggedResult]) -> list[DroneSummary]:
    """Group results by drone; drones sorted by id."""
    drones: dict[str, DroneSummary] = {}
    for r in results:
        s = drones.setdefault(r.device_id, DroneSummary(r.device_id))
        s.results.append(r)
        s.counts[r.verdict] = s.counts.get(r.verdict, 0) + 1
    return [drones[k] for k in sorted(drones)]
