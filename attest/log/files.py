"""The open files of one log directory, their bounded reads, and the checkpoint they are read under.

:class:`LogFiles` is the one holder of a log's file descriptors. It opens each
data file once, reads entries, index records and stored hashes with a bound on
every read, and keeps the *snapshot*: the checkpoint note as last read from
disk or last committed by this process, parsed but **not verified**.
:class:`~attest.log.store.Log` reads through it and :mod:`attest.log.writer`
writes through it; neither opens a data file of the log itself.

It takes no lock: the caller holds the log's lock (see
:meth:`~attest.log.store.Log.shared_lock`) wherever an appender must not interleave.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from attest.errors import ConfigError, LogError
from attest.log.checkpoint import Checkpoint
from attest.log.entry import MAX_ENTRY_BYTES
from attest.log.layout import CHECKPOINT, END_RECORD, ENTRIES, INDEX, LEN_PREFIX, open_regular, pread_exact, read_small
from attest.log.merkle import HASH_SIZE
from attest.log.note import MAX_NOTE_BYTES, Note
from attest.log.tiles import ReadHashes, expected_counts, level_file

__all__ = ["LogFiles"]

#: Entries are read this many at a time (their index records in one read).
_BATCH = 4096
#: A batch of entries spanning at most this many bytes is read in one call.
_BLOCK = 32 << 20


class LogFiles:
    """The data files of one log directory, each opened on first use, and the snapshot.

    Attributes:
        directory: the log directory.
        origin: the log's origin (its ``origin`` file, already checked).
        writable: open files read-write, creating them when missing (an
            appender holding the lock); else read-only, regular files only,
            never through a symlink (a copy is untrusted input).
    """

    def __init__(self, directory: Path, origin: str, *, writable: bool) -> None:
        self.directory = directory
        self.origin = origin
        self.writable = writable
        self._fds: dict[str, int] = {}
        self._note: bytes | None = None
        self._head: Checkpoint | None = None

    # -- the snapshot ------------------------------------------------------------------------------

    @property
    def note(self) -> bytes | None:
        """The snapshot's signed checkpoint note, verbatim (``None`` before the first append)."""
        return self._note

    @property
    def head(self) -> Checkpoint | None:
        """The snapshot's checkpoint, parsed but **not verified** (``None`` before the first append)."""
        return self._head

    @property
    def size(self) -> int:
        """Entries in the snapshot (the checkpoint's tree size; 0 without a checkpoint)."""
        return self._head.size if self._head else 0

    def load_head(self) -> None:
        """Take a new snapshot: read and parse the ``checkpoint`` file (its signature is not checked).

        Raises:
            LogError: the checkpoint is malformed, too large, or for another origin.
            ConfigError: it cannot be read.
        """
        note = read_small(self.directory / CHECKPOINT, MAX_NOTE_BYTES)
        if note is None:
            self._note, self._head = None, None
            return
        src = str(self.directory / CHECKPOINT)
        head = Checkpoint.from_text(Note.parse(note, source=src).text, source=src)
        if head.origin != self.origin:
            raise LogError(f"{src}: origin is {head.origin!r}, but the log's origin is {self.origin!r}")
        self._note, self._head = note, head

    def set_head(self, note: bytes, head: Checkpoint) -> None:
        """Make a checkpoint this process has just written the snapshot.

        Args:
            note: the signed note now in the ``checkpoint`` file.
            head: the checkpoint ``note`` signs.
        """
        self._note, self._head = note, head

    # -- the files ---------------------------------------------------------------------------------

    def fd(self, name: str) -> int:
        """The descriptor of the log's file ``name`` (``entries``, ``hashes.1``, ...), opened on first use.

        Raises:
            LogError: the file is missing (when read-only), or not a regular file.
            ConfigError: it cannot be opened.
        """
        fd = self._fds.get(name)
        if fd is None:
            path = self.directory / name
            try:
                fd = open_regular(path, writable=self.writable)
            except FileNotFoundError as e:
                raise LogError(f"{path}: missing") from e
            except OSError as e:
                raise ConfigError(f"{path}: cannot open: {e.strerror}") from e
            self._fds[name] = fd
        return fd

    def close_file(self, name: str) -> None:
        """Close the descriptor of ``name`` if it is open (before the file is removed)."""
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Close every file; :meth:`fd` opens them again if asked."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # -- bounded reads -----------------------------------------------------------------------------

    def ends(self, first: int, count: int) -> list[int]:
        """End offsets in ``entries`` of entries ``first .. first + count - 1``, with the start of ``first`` in front.

        Raises:
            LogError: ``entries.idx`` is too short to hold them.
        """
        ends = self._known_ends(first, count)
        if len(ends) != count + 1:
            raise LogError(f"{self.directory / INDEX}: truncated (entry {first + len(ends) - 1} is missing)")
        return ends

    def _known_ends(self, first: int, count: int) -> list[int]:
        """As :meth:`ends`, but only as many as ``entries.idx`` holds (at least the start of ``first``)."""
        lo = first - 1 if first > 0 else 0
        raw = pread_exact(self.fd(INDEX), (first + count - lo) * END_RECORD, lo * END_RECORD)
        ends = [int.from_bytes(raw[i : i + END_RECORD], "big") for i in range(0, len(raw) - END_RECORD + 1, END_RECORD)]
        if first == 0:
            return [0, *ends]
        return ends or [-1]  # the start of ``first`` is itself missing: nothing after it can be located

    def read_entries(self, start: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """``(index, bytes)`` of entries ``start .. stop - 1``, in order; the caller keeps ``stop`` in the snapshot.

        Each entry is checked against its framing (index record, length
        prefix, at most ``MAX_ENTRY_BYTES``) before it is returned.

        Raises:
            LogError: an entry's stored framing is broken (names its index).
        """
        for index, rec in self.entry_records(start, stop):
            if isinstance(rec, str):
                raise LogError(f"{self.directory}: entry {index}: {rec}", index=index)
            yield index, rec

    def entry_records(self, start: int, stop: int) -> Iterator[tuple[int, bytes | str]]:
        """Entries ``start .. stop - 1`` in order: ``(index, bytes)``, or ``(index, why)`` when its framing is broken.

        Reading goes on past a broken entry (the index records around it still
        locate the next one). When ``entries.idx`` ends early, one last
        ``(index, why)`` names the whole missing range and the iteration stops,
        so a checkpoint claiming more entries than are stored costs one item,
        not one per claimed entry. Every read is bounded: index records in
        batches, entries at most ``MAX_ENTRY_BYTES`` each.
        """
        fd = self.fd(ENTRIES)
        i = max(0, start)
        while i < stop:
            count = min(_BATCH, stop - i)
            ends = self._known_ends(i, count)
            have = len(ends) - 1 if ends[0] >= 0 else 0
            lo, hi = ends[0], ends[have]
            block = pread_exact(fd, hi - lo, lo) if have and 0 <= lo <= hi <= lo + _BLOCK else None
            for k in range(have):
                a, b = ends[k], ends[k + 1]
                if not 0 <= a <= b - LEN_PREFIX <= a + MAX_ENTRY_BYTES:
                    yield i + k, f"{INDEX} gives impossible offsets ({a}..{b})"
                    continue
                inside = block is not None and lo <= a and b <= hi  # offsets out of order are read on their own
                rec = block[a - lo : b - lo] if block is not None and inside else pread_exact(fd, b - a, a)
                if len(rec) != b - a:
                    yield i + k, f"{ENTRIES} is truncated (it ends before byte {b})"
                elif int.from_bytes(rec[:LEN_PREFIX], "big") != b - a - LEN_PREFIX:
                    yield i + k, f"its length prefix disagrees with {INDEX}"
                else:
                    yield i + k, rec[LEN_PREFIX:]
            if have < count:
                missing = i + have
                yield (
                    missing,
                    f"{INDEX} ends early: entries {missing}..{stop - 1} are missing (the checkpoint names {stop})",
                )
                return
            i += count

    def hash_reader(self, size: int) -> ReadHashes:
        """A reader of the stored hashes of the tree of ``size`` leaves; it refuses hashes outside that tree.

        The reader raises ``ValueError`` for hashes the tree does not have, and
        ``LogError`` when a ``hashes.L`` file is shorter than the tree needs.
        """
        counts = expected_counts(size)

        def read(level: int, first: int, count: int) -> bytes:
            if level >= len(counts) or first < 0 or first + count > counts[level]:
                raise ValueError(f"hashes {first}..{first + count - 1} of level {level} are not in the tree")
            data = pread_exact(self.fd(level_file(level)), count * HASH_SIZE, first * HASH_SIZE)
            if len(data) != count * HASH_SIZE:
                raise LogError(f"{self.directory / level_file(level)}: truncated", index=first << (8 * level))
            return data

        return read
