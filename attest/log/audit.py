"""Check every stored byte of a log (or a copy of one) with only its verifier key.

What :func:`audit_log` checks, collecting every problem rather than stopping
at the first:

* the checkpoint: a C2SP note signed by the vkey, for the log's origin;
* every entry: framing (length prefix and ``entries.idx``), a DSSE envelope
  in the log's one byte form signed by the same key, and a result Statement
  (:func:`attest.log.entry.entry_problem`), checked in parallel worker processes;
* every stored interior hash (``hashes.L``), recomputed from the entries;
* the tree: the root over all entries must be the checkpoint's root, and
  there must be exactly as many entries as the checkpoint commits to;
* optionally an older checkpoint a manager kept: signed by the same key, not
  larger than the current one, and its root must be the root of the same
  prefix (a consistency proof is made from the recomputed tree and checked).

A problem names the first entry it affects when that is knowable.

Every read is bounded by what the format allows for the *signed* tree size:
a stored-hash file has exactly ``32 * count`` bytes for its level, and bytes
past that are reported, never read. Without a verified checkpoint there is
no trusted size: the entries are then checked as stored, but at most
:data:`UNSIGNED_SCAN_MAX` of them, however large a damaged index claims to be.
Memory is then at most 32 bytes per entry of the signed tree (32 MB per
million entries) plus the entries being checked.
"""

from __future__ import annotations

import bisect
import os
import stat
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from attest.errors import ConfigError, LogError
from attest.log.checkpoint import Checkpoint, open_checkpoint
from attest.log.entry import CHUNK, RESULTS_ONLY, EntryKinds, check_chunks, signed_by
from attest.log.layout import END_RECORD, ENTRIES, INDEX, LOCK, UNCOMMITTED, file_kind, open_regular, pread_exact
from attest.log.merkle import EMPTY_ROOT, HASH_SIZE, consistency_proof, verify_consistency
from attest.log.note import Note, VerifierKey
from attest.log.store import Log
from attest.log.tiles import TILE_HEIGHT, TILE_WIDTH, expected_counts, level_file, memory_reader, reduce_pairs
from attest.log.tiles import subtree_hash as _subtree_hash
from attest.signing import raw_public_bytes

__all__ = ["MAX_PROBLEMS", "UNSIGNED_SCAN_MAX", "AuditReport", "Problem", "audit_log"]

#: A report keeps this many problem messages (and counts the rest): a log of zeros is one problem per entry.
MAX_PROBLEMS = 1000
#: Without a verified checkpoint, at most this many stored entries are checked (32 MiB of leaf hashes):
#: the verdict is already "not intact", and a damaged index may claim any number.
UNSIGNED_SCAN_MAX = 1 << 20
#: A tree of 2**64 entries has 9 levels; a directory stuffed with more ``hashes.N`` names than this is
#: not looked at name by name (the first ones already fail the check).
_MAX_LEVEL_FILES = 64


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
    """The outcome of :func:`audit_log`; true when the log is intact.

    Attributes:
        directory: the log directory checked.
        checkpoint: the checkpoint, when it verified with the vkey.
        entries: how many entries were checked.
        root: the root recomputed over them.
        old_checkpoint: the older checkpoint given, verified.
        problems: what is wrong, at most :data:`MAX_PROBLEMS` of them (``problem_count`` counts all).
        notes: what was checked and how, for people.
        incomplete: the log has no checkpoint and no entries: created, never committed.
        wrong_key: neither the checkpoint nor entry 0 is signed by the vkey given.
        problem_count: every problem found, kept or not.
    """

    directory: Path
    checkpoint: Checkpoint | None = None
    entries: int = 0
    root: bytes = EMPTY_ROOT
    old_checkpoint: Checkpoint | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    incomplete: bool = False
    wrong_key: bool = False
    problem_count: int = 0
    _indexes: array[int] = field(default_factory=lambda: array("q"), repr=False)

    def __bool__(self) -> bool:
        return not self.problem_count

    @property
    def first_bad_index(self) -> int | None:
        """The lowest entry index any problem names, or ``None``."""
        return min(self._indexes) if self._indexes else None

    def add(self, index: int | None, message: str) -> None:
        """Record a problem (its message is kept while fewer than :data:`MAX_PROBLEMS` are)."""
        self.problem_count += 1
        if index is not None:
            self._indexes.append(index)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(index, message))

    def names_an_index_in(self, first: int, last: int) -> bool:
        """Whether a problem already names an entry in ``first .. last``."""
        indexes = sorted(self._indexes)
        k = bisect.bisect_left(indexes, first)
        return k < len(indexes) and indexes[k] <= last


def audit_log(
    directory: Path,
    vkey: VerifierKey,
    *,
    old_checkpoint: bytes | None = None,
    workers: int | None = None,
    kinds: EntryKinds = RESULTS_ONLY,
) -> AuditReport:
    """Check a log directory completely; never modifies it.

    Args:
        directory: the log directory (a dock's, or a manager's copy).
        vkey: the log's verifier key (from ``attest log key``).
        old_checkpoint: the bytes of an earlier checkpoint the manager kept.
        workers: processes that check signatures (default: one per usable CPU).
        kinds: entry kinds the log may hold besides results, by predicate type, each
            with its reader (``attest log verify`` passes the dock's events); any
            other entry is a problem naming its index.

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
        try:
            with log.shared_lock() as locked:
                log.refresh()
                snap = _snapshot(log.directory)
        except LogError as e:
            report.add(None, str(e))
            return report
        if not locked and log.lockable:
            report.notes.append(
                f"{LOCK} was busy or cannot be locked here: checked without it (an append running now "
                "would show as entries past the checkpoint; copy again)"
            )
        levels = _audit(log, vkey, report, workers, snap, kinds=kinds)
        _check_old(report, old, levels)
    return report


@dataclass
class _Snapshot:
    """The files the audit reads: sizes of regular files; what the others are."""

    sizes: dict[str, int] = field(default_factory=dict)
    odd: dict[str, str] = field(default_factory=dict)


def _snapshot(d: Path) -> _Snapshot:
    """The size of every file the audit reads; a FIFO, symlink or directory in a file's place is named."""
    snap = _Snapshot()
    levels = 0
    with os.scandir(d) as it:
        for e in it:
            if e.name not in (ENTRIES, INDEX) and not _is_level_file(e.name):
                continue
            if _is_level_file(e.name):
                levels += 1
                if levels > _MAX_LEVEL_FILES:
                    continue
            st = e.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                snap.sizes[e.name] = st.st_size
            else:
                snap.odd[e.name] = "a symbolic link" if stat.S_ISLNK(st.st_mode) else file_kind(st.st_mode)
    return snap


def _is_level_file(name: str) -> bool:
    prefix, dot, level = name.partition(".")
    return prefix == "hashes" and dot == "." and level.isdigit() and level.isascii()


def _read_prefix(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of a log file (fewer if it is shorter); never more, whatever its size."""
    fd = open_regular(path)
    try:
        return pread_exact(fd, n, 0)
    finally:
        os.close(fd)


def _audit(
    log: Log, vkey: VerifierKey, report: AuditReport, workers: int | None, snap: _Snapshot, *, kinds: EntryKinds
) -> list[bytes]:
    """Check everything but the older checkpoint; returns the recomputed hash levels."""
    d = log.directory
    if log.origin != vkey.name:
        report.add(None, f"the log's origin is {log.origin!r}, but the verifier key is for {vkey.name!r}")
    for name, kind in sorted(snap.odd.items()):
        report.add(0, f"{name}: {kind}, not a regular file")
    idx_size = snap.sizes.get(INDEX, 0)
    stored = idx_size // END_RECORD
    signed = _check_checkpoint(log, vkey, report, stored, snap)
    if signed is None and (report.incomplete or report.wrong_key):
        return [b""]
    # The entries must match the checkpoint's size, but only a verified checkpoint says what that is:
    # without one, the entries are checked as stored (boundedly), and the checkpoint alone is blamed.
    n = signed if signed is not None else min(stored, UNSIGNED_SCAN_MAX)
    if signed is None and stored > n:
        report.notes.append(f"no verified checkpoint: only the first {n} of {stored} stored entries were checked")
    if idx_size % END_RECORD:
        report.add(stored, f"{INDEX}: ends with a partial record ({idx_size % END_RECORD} bytes)")
    if signed is not None and stored > n:
        report.add(
            n,
            f"{stored - n} entr{'y' if stored - n == 1 else 'ies'} past the checkpoint's size {n}, covered by no "
            "signature (inserted, or copied during an append: copy again)",
        )
    elif signed is not None and stored < n:
        report.add(stored, f"entries {stored}..{n - 1} are missing (the checkpoint commits to {n})")
    m = min(stored, n)
    if m and ENTRIES not in snap.sizes:
        if ENTRIES not in snap.odd:
            report.add(0, f"{ENTRIES}: missing")
        m = 0
    leaves, level1 = _check_entries(
        log, vkey, m, report, workers=workers, entries_size=snap.sizes.get(ENTRIES, 0), kinds=kinds
    )
    report.entries = m
    if INDEX in snap.sizes:
        _check_tail(log, stored, snap.sizes.get(ENTRIES, 0), report)
    levels = [leaves, level1]
    for level in range(2, len(expected_counts(m))):
        below, tile = levels[level - 1], TILE_WIDTH * HASH_SIZE
        levels.append(b"".join(reduce_pairs(below[i : i + tile]) for i in range(0, len(below) - tile + 1, tile)))
    _check_stored_hashes(log, levels, m, n, report, snap=snap)
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
    tails = _count_entries(d / UNCOMMITTED)
    if tails:
        report.notes.append(f"{UNCOMMITTED}/ holds {tails} tail(s) cut off after crashes; they are not in the log")
    report.notes.append(f"checked {m} entries, {len(levels)} hash level(s)")
    return levels


def _check_checkpoint(log: Log, vkey: VerifierKey, report: AuditReport, stored: int, snap: _Snapshot) -> int | None:
    """The verified tree size, or ``None``; says what is true of a checkpoint that does not verify."""
    note = log.checkpoint_note
    if note is None:
        if not stored and not snap.sizes.get(ENTRIES, 0):
            report.incomplete = True
            report.add(
                None,
                "incomplete log: no checkpoint yet (the log was created, but nothing was ever committed; "
                "nothing in it is signed)",
            )
        else:
            report.add(0, "entries are stored but there is no checkpoint: nothing in this log is signed")
        return None
    try:
        report.checkpoint = open_checkpoint(note, vkey, source="checkpoint")
    except LogError as e:
        try:
            names_key = any(s.name == vkey.name and s.key_id == vkey.key_id for s in Note.parse(note).signatures)
        except LogError:
            names_key = False
        if names_key or _entry_zero_signed(log, vkey):
            report.add(None, str(e))  # the key is right: the checkpoint itself was damaged or replaced
        else:
            report.wrong_key = True
            also = ", and neither is entry 0" if stored else ""
            report.add(None, f"checkpoint not signed by this key (wrong --vkey?){also}: {e}")
        return None
    return report.checkpoint.size


def _entry_zero_signed(log: Log, vkey: VerifierKey) -> bool:
    """Whether the stored entry 0 carries a valid signature by ``vkey`` (framing damage: no)."""
    try:
        first = next(log.entry_records(0, 1), None)
    except (LogError, OSError, ConfigError):
        return False
    return first is not None and isinstance(first[1], bytes) and signed_by(first[1], raw_public_bytes(vkey.public_key))


def _count_entries(d: Path) -> int:
    """How many names a directory holds (0 if it is missing or not a directory)."""
    try:
        with os.scandir(d) as it:
            return sum(1 for _ in it)
    except OSError:
        return 0


def _check_entries(
    log: Log,
    vkey: VerifierKey,
    count: int,
    report: AuditReport,
    *,
    workers: int | None,
    entries_size: int,
    kinds: EntryKinds,
) -> tuple[bytes, bytes]:
    """Leaf hashes and level-1 tile hashes of entries ``0 .. count - 1``; entry problems go to ``report``."""
    public = raw_public_bytes(vkey.public_key)
    picklable = dict(kinds)  # sent to the worker processes with every chunk
    tasks = [
        (str(log.directory), public, first, min(CHUNK, count - first), entries_size, picklable)
        for first in range(0, count, CHUNK)
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
        end = int.from_bytes(_read_at(log.directory / INDEX, (stored - 1) * END_RECORD, END_RECORD), "big")
    if size > end:
        report.add(stored, f"{ENTRIES}: {size - end} bytes after the last indexed entry")


def _read_at(path: Path, offset: int, n: int) -> bytes:
    fd = open_regular(path)
    try:
        return pread_exact(fd, n, offset)
    finally:
        os.close(fd)


def _check_stored_hashes(
    log: Log, levels: list[bytes], m: int, n: int, report: AuditReport, *, snap: _Snapshot
) -> None:
    """Every stored hash must be the one recomputed from the entries.

    Each ``hashes.L`` is read only as far as the tree of ``n`` entries has
    hashes: a longer file (a sparse 3 GB one, say) is reported, its excess
    never read. Blame goes where the bad bytes are: an edited entry shows at
    level 0 only (the stored levels above still agree with the stored level
    below), and a flipped stored hash only at its own level (the level above
    it still agrees with the entries). So a hash above level 0 is reported
    only when it disagrees with both the entries and the stored level below it.
    """
    d = log.directory
    want = expected_counts(n)
    below = b""
    tile = TILE_WIDTH * HASH_SIZE
    for level, count in enumerate(want):
        name = level_file(level)
        need = count * HASH_SIZE
        size = snap.sizes.get(name)
        data = b""
        if size is None:
            if name not in snap.odd:
                report.add(0 if count else None, f"{name}: missing")
        else:
            try:
                data = _read_prefix(d / name, min(size, need))
            except (OSError, LogError) as e:
                report.add(0 if count else None, f"{name}: cannot be read: {e}")
            if size > need:
                report.add(
                    count << (TILE_HEIGHT * level),
                    f"{name}: {size - need} bytes past the {count} hashes a tree of {n} entries has (damage; not read)",
                )
        if size is not None and len(data) < need:
            report.add(
                (len(data) // HASH_SIZE) << (TILE_HEIGHT * level),
                f"{name}: holds {len(data) / HASH_SIZE:g} hashes, expected {count}",
            )
        mine = levels[level] if level < len(levels) else b""
        limit = min(len(data), len(mine))
        if data[:limit] != mine[:limit]:  # rare: only then is the level below worth rehashing
            from_below = None
            if level:
                from_below = b"".join(reduce_pairs(below[i : i + tile]) for i in range(0, len(below) - tile + 1, tile))
            _compare_level(name, level, data, mine, from_below=from_below, report=report)
        below = data
    for name in sorted(set(snap.sizes) | set(snap.odd)):
        if _is_level_file(name) and int(name.split(".", 1)[1]) >= len(want):
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
    explained = report.names_an_index_in(first, last)
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
