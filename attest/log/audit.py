"""Check every stored byte of a log (or a copy of one) with only its verifier key.

What :func:`audit_log` checks, collecting every problem rather than stopping
at the first:

* the checkpoint: a C2SP note signed by the vkey, for the log's origin;
* every entry: framing (length prefix and ``entries.idx``), and a DSSE
  envelope signed by the same key, checked in parallel worker processes;
* every stored interior hash (``hashes.L``), recomputed from the entries;
* the tree: the root over all entries must be the checkpoint's root, and
  there must be exactly as many entries as the checkpoint commits to;
* optionally an older checkpoint a manager kept: signed by the same key, not
  larger than the current one, and its root must be the root of the same
  prefix (a consistency proof is made from the recomputed tree and checked).

A problem names the first entry it affects when that is knowable.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from attest.errors import ConfigError, LogError
from attest.log.checkpoint import Checkpoint, open_checkpoint
from attest.log.entry import CHUNK, check_chunks
from attest.log.layout import ENTRIES, INDEX, UNCOMMITTED, open_regular
from attest.log.merkle import EMPTY_ROOT, HASH_SIZE, consistency_proof, verify_consistency
from attest.log.note import VerifierKey
from attest.log.store import Log
from attest.log.tiles import TILE_HEIGHT, TILE_WIDTH, expected_counts, level_file, memory_reader, reduce_pairs
from attest.log.tiles import subtree_hash as _subtree_hash
from attest.signing import raw_public_bytes

__all__ = ["AuditReport", "Problem", "audit_log"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log.

    Attributes:
        index: the first entry affected, or ``None`` (the checkpoint itself,
            or a rewrite that cannot be located).
        message: what is wrong, with what was expected.
    """

    index: int | None
    message: str


@dataclass
class AuditReport:
    """The outcome of :func:`audit_log`; true when the log is intact."""

    directory: Path
    checkpoint: Checkpoint | None = None
    entries: int = 0
    root: bytes = EMPTY_ROOT
    old_checkpoint: Checkpoint | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        """The lowest entry index any problem names, or ``None``."""
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def add(self, index: int | None, message: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(index, message))


def audit_log(
    directory: Path, vkey: VerifierKey, *, old_checkpoint: bytes | None = None, workers: int | None = None
) -> AuditReport:
    """Check a log directory completely; never modifies it.

    Args:
        directory: the log directory (a dock's, or a manager's copy).
        vkey: the log's verifier key (from ``attest log key``).
        old_checkpoint: the bytes of an earlier checkpoint the manager kept.
        workers: processes that check signatures (default: one per usable CPU).

    Returns:
        The report; it is false when anything is wrong.

    Raises:
        ConfigError: not a log directory, or ``old_checkpoint`` is not a
            checkpoint signed by ``vkey`` (it is the manager's own input).
    """
    report = AuditReport(Path(directory))
    old = None
    if old_checkpoint is not None:
        try:
            old = open_checkpoint(old_checkpoint, vkey, source="older checkpoint")
        except LogError as e:
            raise ConfigError(str(e)) from e
        report.old_checkpoint = old
    try:
        log = Log.read(report.directory)
    except LogError as e:
        report.add(None, str(e))
        return report
    with log:
        # Only the snapshot is taken under the shared lock: bytes below these sizes never change
        # (appends write past them, repair cuts only past the checkpoint), so a live dock is held
        # off for milliseconds, not for the whole check.
        with log.shared_lock():
            log.refresh()
            sizes = _snapshot(log.directory)
        levels = _audit(log, vkey, report, workers, sizes)
        _check_old(report, old, levels)
    return report


def _snapshot(d: Path) -> dict[str, int]:
    """The size of every file the audit reads (missing files, symlinks and non-files are absent)."""
    sizes = {}
    for path in [d / ENTRIES, d / INDEX, *d.glob("hashes.*")]:
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            sizes[path.name] = st.st_size
    return sizes


def _read_all(fd: int, n: int) -> bytes:
    chunks, offset = [], 0
    while offset < n:
        b = os.pread(fd, min(n - offset, 1 << 24), offset)
        if not b:
            break
        chunks.append(b)
        offset += len(b)
    return b"".join(chunks)


def _audit(log: Log, vkey: VerifierKey, report: AuditReport, workers: int | None, sizes: dict[str, int]) -> list[bytes]:
    """Check everything but the older checkpoint; returns the recomputed hash levels."""
    d = log.directory
    if log.origin != vkey.name:
        report.add(None, f"the log's origin is {log.origin!r}, but the verifier key is for {vkey.name!r}")
    note = log.checkpoint_note
    idx_size = sizes.get(INDEX, 0)
    stored = idx_size // 8
    if note is None:
        report.add(0 if stored else None, "no checkpoint: nothing in this log is signed")
    else:
        try:
            report.checkpoint = open_checkpoint(note, vkey, source="checkpoint")
        except LogError as e:
            report.add(None, str(e))
    # The entries must match the checkpoint's size, but only a verified checkpoint says what that is:
    # with a bad one, the entries are checked as stored, and the checkpoint alone is blamed.
    n = report.checkpoint.size if report.checkpoint is not None else stored
    if idx_size % 8:
        report.add(stored, f"{INDEX}: ends with a partial record ({idx_size % 8} bytes)")
    if stored > n:
        report.add(
            n,
            f"{stored - n} entr{'y' if stored - n == 1 else 'ies'} past the checkpoint's size {n}, covered by no "
            "signature (inserted, or copied during an append: copy again)",
        )
    elif stored < n:
        report.add(stored, f"entries {stored}..{n - 1} are missing (the checkpoint commits to {n})")
    m = min(stored, n)
    if m and ENTRIES not in sizes:
        report.add(0, f"{ENTRIES}: missing, or not a regular file")
        m = 0
    leaves, level1 = _check_entries(log, vkey, m, report, workers=workers, entries_size=sizes.get(ENTRIES, 0))
    report.entries = m
    _check_tail(log, stored, sizes.get(ENTRIES, 0), report)
    levels = [leaves, level1]
    for level in range(2, len(expected_counts(m))):
        below, tile = levels[level - 1], TILE_WIDTH * HASH_SIZE
        levels.append(b"".join(reduce_pairs(below[i : i + tile]) for i in range(0, len(below) - tile + 1, tile)))
    _check_stored_hashes(log, levels, m, n, report, sizes=sizes)
    read = memory_reader(levels)
    report.root = _subtree_hash(0, m, read) if m else EMPTY_ROOT
    cp = report.checkpoint
    if cp is not None and m == n and report.root != cp.root:
        message = "the entries do not hash to the checkpoint's root"
        if report.first_bad_index is None:
            # Every stored byte agrees with every other: the log was rebuilt around an edit. Which entry
            # changed first cannot be known without an older checkpoint; a duplicate is a strong hint.
            message += ": the log was rebuilt; the first changed entry cannot be located without an older checkpoint"
            dup = _first_duplicate(leaves)
            if dup is not None:
                message += f" (entries {dup[0]} and {dup[1]} are identical)"
        report.add(None, message)
    tails = list((d / UNCOMMITTED).glob("*")) if (d / UNCOMMITTED).is_dir() else []
    if tails:
        report.notes.append(f"{UNCOMMITTED}/ holds {len(tails)} tail(s) cut off after crashes; they are not in the log")
    report.notes.append(f"checked {m} entries, {len(levels)} hash level(s)")
    return levels


def _check_entries(
    log: Log, vkey: VerifierKey, count: int, report: AuditReport, *, workers: int | None, entries_size: int
) -> tuple[bytes, bytes]:
    """Leaf hashes and level-1 tile hashes of entries ``0 .. count - 1``; entry problems go to ``report``."""
    public = raw_public_bytes(vkey.public_key)
    tasks = [
        (str(log.directory), public, first, min(CHUNK, count - first), entries_size) for first in range(0, count, CHUNK)
    ]
    leaves, level1 = bytearray(), bytearray()
    for first, chunk_leaves, chunk_level1, problems in check_chunks(tasks, workers=workers):
        for index, message in problems:
            report.add(index, message)
        if first != len(leaves) // HASH_SIZE:
            raise RuntimeError(f"chunk {first} out of order")
        leaves += chunk_leaves
        level1 += chunk_level1
    return bytes(leaves), bytes(level1)


def _check_tail(log: Log, stored: int, size: int, report: AuditReport) -> None:
    """The entries file must end exactly where the last index record says."""
    end = 0
    if stored:
        fd = open_regular(log.directory / INDEX)
        try:
            end = int.from_bytes(os.pread(fd, 8, (stored - 1) * 8), "big")
        finally:
            os.close(fd)
    if size > end:
        report.add(stored, f"{ENTRIES}: {size - end} bytes after the last indexed entry")


def _check_stored_hashes(
    log: Log, levels: list[bytes], m: int, n: int, report: AuditReport, *, sizes: dict[str, int]
) -> None:
    """Every stored hash must be the one recomputed from the entries.

    Blame goes where the bad bytes are: an edited entry shows at level 0 only
    (the stored levels above still agree with the stored level below), and
    a flipped stored hash only at its own level (the level above it still
    agrees with the entries). So a hash above level 0 is reported only when it
    disagrees with both the entries and the stored level below it.
    """
    d = log.directory
    want = expected_counts(n)
    below = b""
    tile = TILE_WIDTH * HASH_SIZE
    for level, count in enumerate(want):
        path = d / level_file(level)
        try:
            fd = open_regular(path)
            try:
                data = _read_all(fd, sizes[path.name])
            finally:
                os.close(fd)
        except (KeyError, OSError, LogError):
            report.add(0 if count else None, f"{path.name}: missing")
            data = b""
        if len(data) != count * HASH_SIZE:
            report.add(
                min(len(data) // HASH_SIZE, count) << (TILE_HEIGHT * level),
                f"{path.name}: holds {len(data) / HASH_SIZE:g} hashes, expected {count}",
            )
        mine = levels[level] if level < len(levels) else b""
        limit = min(len(data), len(mine))
        if data[:limit] != mine[:limit]:  # rare: only then is the level below worth rehashing
            from_below = None
            if level:
                from_below = b"".join(reduce_pairs(below[i : i + tile]) for i in range(0, len(below) - tile + 1, tile))
            _compare_level(path.name, level, data, mine, from_below=from_below, report=report)
        below = data
    for name in sizes:
        suffix = name.split(".", 1)[1] if name.startswith("hashes.") else ""
        if suffix.isdigit() and int(suffix) >= len(want):
            report.add(m, f"{name}: a hash level the tree of {n} entries does not have")


def _compare_level(
    name: str, level: int, stored: bytes, mine: bytes, *, from_below: bytes | None, report: AuditReport
) -> None:
    limit = min(len(stored), len(mine)) // HASH_SIZE
    if stored[: limit * HASH_SIZE] == mine[: limit * HASH_SIZE]:
        return

    def rec(data: bytes, k: int) -> bytes:
        return data[k * HASH_SIZE : (k + 1) * HASH_SIZE]

    bad = [
        k
        for k in range(limit)
        if rec(stored, k) != rec(mine, k) and (from_below is None or rec(stored, k) != rec(from_below, k))
    ]
    if not bad:
        return
    k = bad[0]
    first, last = k << (TILE_HEIGHT * level), ((k + 1) << (TILE_HEIGHT * level)) - 1
    what = f"entry {first}" if level == 0 else f"entries {first}..{last}"
    more = f" ({len(bad)} wrong in all)" if len(bad) > 1 else ""
    # A bad entry already found inside this range explains the mismatch; blaming the range's
    # first entry as well would name an index that is fine.
    explained = any(p.index is not None and first <= p.index <= last for p in report.problems)
    report.add(None if explained else first, f"{name}: stored hash {k} does not match {what}{more}")


def _first_duplicate(leaves: bytes) -> tuple[int, int] | None:
    """The first pair of identical entries (every result carries a fresh nonce, so a pair is suspect)."""
    seen: dict[bytes, int] = {}
    for i in range(len(leaves) // HASH_SIZE):
        h = leaves[i * HASH_SIZE : (i + 1) * HASH_SIZE]
        if h in seen:
            return seen[h], i
        seen[h] = i
    return None


def _check_old(report: AuditReport, old: Checkpoint | None, levels: list[bytes]) -> None:
    """Prove that an older checkpoint is a prefix of the current tree."""
    cp = report.checkpoint
    if old is None or cp is None:
        return
    n = cp.size
    if old.size > n:
        report.add(n, f"checkpoint went back: the older checkpoint has {old.size} entries, the log now {n}")
        return
    if old.size == 0:
        if old.root != EMPTY_ROOT:
            report.add(None, "the older checkpoint of size 0 has a root other than the empty tree's")
        return
    if report.entries < old.size:
        return  # missing entries were reported already
    read = memory_reader(levels)
    proof = consistency_proof(old.size, n, lambda a, b: _subtree_hash(a, b, read))
    try:
        verify_consistency(old.size, n, old.root, cp.root, proof)
    except LogError as e:
        if _subtree_hash(0, old.size, read) != old.root:
            report.add(None, f"entries below {old.size} are not those the older checkpoint signed: {e}")
        else:
            report.add(
                None, f"the first {old.size} entries are those the older checkpoint signed; a later one changed: {e}"
            )
    else:
        report.notes.append(f"consistent with the older checkpoint (size {old.size}): RFC 9162 proof checked")
