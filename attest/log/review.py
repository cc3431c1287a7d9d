"""Read a log's results back for people: filter them, tabulate them, summarise each drone.

Nothing here checks signatures: ``attest log verify`` does. The reading is
bounded by the log's own limits (each entry at most ``MAX_ENTRY_BYTES``, at
most :data:`MAX_DAMAGED` damaged entries) and fails closed without hiding
the rest: an entry that cannot be read as a result (broken framing, not a
result Statement by :func:`attest.signing.read_result`'s rules) becomes a
:class:`DamagedEntry` naming its index, and reading goes on. Text from the
log reaches a terminal only through :func:`attest.report.printable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from attest.errors import LogError
from attest.log.entry import RESULTS_ONLY, EntryKinds, kind_of
from attest.log.store import Log
from attest.report import printable
from attest.signing import LoggedResult, read_result
from attest.timeutil import format_time

__all__ = [
    "MAX_DAMAGED",
    "DamagedEntry",
    "DroneSummary",
    "OtherEntry",
    "ResultFilter",
    "read_results",
    "render_table",
    "summarise",
]

#: After this many damaged entries, reading stops with one last row saying so (``attest log verify`` has them all).
MAX_DAMAGED = 1000


@dataclass(frozen=True)
class DamagedEntry:
    """An entry that cannot be read as a result: shown as such, never skipped.

    Attributes:
        index: the entry's index (for a missing range, its first entry).
        message: what is wrong with it.
    """

    index: int
    message: str

    def to_json(self) -> dict[str, object]:
        """The object of ``attest log show --json`` for a damaged entry."""
        return {"index": self.index, "damaged": self.message}


@dataclass(frozen=True)
class OtherEntry:
    """A valid entry of another kind the log holds (e.g. a dock event): listed, not read as a result.

    Attributes:
        index: the entry's index.
        kind: its in-toto predicate type.
    """

    index: int
    kind: str

    @property
    def label(self) -> str:
        """The kind's short name for a table: the last two parts of the predicate type (``dock-event/v1``)."""
        return "/".join(self.kind.rstrip("/").split("/")[-2:])

    def to_json(self) -> dict[str, object]:
        """The object of ``attest log show --json`` for an entry of another kind."""
        return {"index": self.index, "kind": self.kind}


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


def read_results(
    log: Log, flt: ResultFilter | None = None, *, kinds: EntryKinds = RESULTS_ONLY
) -> Iterator[LoggedResult | DamagedEntry | OtherEntry]:
    """The log's results in index order (oldest first), filtered, with every damaged entry in its place.

    An entry of one of ``kinds`` that its reader accepts is a row like a result
    when the reader returns a :class:`LoggedResult` (a dock event: the drone, the
    event's verdict), else an :class:`OtherEntry` (listed only when nothing is
    filtered); one its reader refuses is damaged. A damaged entry is yielded whatever
    the filter (it might have matched). After :data:`MAX_DAMAGED` of them one
    last :class:`DamagedEntry` says that reading stopped: a copy that is mostly
    damage is for ``attest log verify``. Signatures are not checked here.
    """
    damaged = 0
    unfiltered = flt is None or flt == ResultFilter()
    for index, record in log.entry_records():
        why = record if isinstance(record, str) else "damaged"
        if isinstance(record, bytes):
            kind = kind_of(record, kinds)
            try:
                read = kinds[kind](record, index=index) if kind is not None else read_result(record, index=index)
            except LogError as e:
                why = str(e).removeprefix(f"entry {index}: ")
            else:
                if isinstance(read, LoggedResult):  # a result, or another kind read as a result row
                    if flt is None or flt.matches(read):
                        yield read
                elif kind is not None and unfiltered:
                    yield OtherEntry(index, kind)
                continue
        damaged += 1
        if damaged > MAX_DAMAGED:
            yield DamagedEntry(index, f"reading stopped after {MAX_DAMAGED} damaged entries; run attest log verify")
            return
        yield DamagedEntry(index, why)


def render_table(results: Iterable[LoggedResult | DamagedEntry | OtherEntry], stream: TextIO) -> int:
    """Print the ``attest log show`` table; returns the number of rows.

    Every text from the log is passed through :func:`attest.report.printable`,
    so a device id or baseline name holding terminal escapes prints them
    escaped (``ESC`` as four visible characters), never as an escape. A damaged entry is a ``DAMAGED`` row,
    an entry of another kind a row naming it (``(dock-event/v1)``).
    """
    rows = [("TIME", "DEVICE", "BASELINE", "VERDICT", "FINDINGS", "INDEX")]
    for r in results:
        if isinstance(r, DamagedEntry):
            rows.append(("-", "-", "-", "DAMAGED", "-", str(r.index)))
        elif isinstance(r, OtherEntry):
            rows.append(("-", "-", "-", printable(f"({r.label})"), "-", str(r.index)))
        else:
            rows.append(
                (
                    format_time(r.time),
                    printable(r.device_id),
                    printable(r.baseline_label()),
                    printable(r.verdict),
                    _finding_count(r.findings),
                    str(r.index),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        stream.write("  ".join(cells).rstrip() + "\n")
    return len(rows) - 1


def _finding_count(findings: list[dict[str, object]]) -> str:
    """``3``, or ``3 (2 advisory)`` when some do not block (severity ``advisory``)."""
    advisory = sum(f.get("severity") == "advisory" for f in findings)
    return f"{len(findings)} ({advisory} advisory)" if advisory else str(len(findings))


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
    """Group results by drone; drones sorted by id, each drone's results in log order.

    A drone is its device id, which every collector records the same way on
    every result, pass, drift, error or untrusted (a directory's real path, a
    companion's host key, a flight controller's board and uid: see
    :meth:`attest.collectors.Collector.stable_id`), so a drone whose latest
    entry failed shows that failure, never an older pass. Log order (the entry
    index) decides what is latest, not the time a dock wrote: a dock's clock
    may go back.
    """
    drones: dict[str, DroneSummary] = {}
    for r in results:
        s = drones.setdefault(r.device_id, DroneSummary(r.device_id))
        s.results.append(r)
        s.counts[r.verdict] = s.counts.get(r.verdict, 0) + 1
    for s in drones.values():
        s.results.sort(key=lambda r: r.index)
    return [drones[k] for k in sorted(drones)]
