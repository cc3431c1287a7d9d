"""The log directory: open or create it, lock it, read it, prove entries, append.

:class:`Log` is the one handle on a log. Its files and their formats are in
:mod:`attest.log.layout`; appending and crash repair in :mod:`attest.log.writer`;
checking every byte with only the vkey in :mod:`attest.log.audit`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import ConfigError
from attest.log import LogError, LogWriteError, writer
from attest.log.checkpoint import Checkpoint
from attest.log.entry import MAX_ENTRY_BYTES, dsse_key_id, entry_problem, make_verifier
from attest.log.layout import (
    CHECKPOINT,
    END_RECORD,
    ENTRIES,
    INDEX,
    LEN_PREFIX,
    LOCK,
    ORIGIN,
    create_layout,
    open_regular,
    pread_exact,
    read_origin,
    read_small,
)
from attest.log.merkle import EMPTY_ROOT, HASH_SIZE, inclusion_proof, leaf_hash, verify_inclusion
from attest.log.merkle import consistency_proof as _consistency_proof
from attest.log.note import MAX_NOTE_BYTES, Note
from attest.log.proof import TlogProof
from attest.log.tiles import ReadHashes, expected_counts, level_file, subtree_hash
from attest.signing.keys import raw_public_bytes

__all__ = ["Log"]


class Log:
    """One append-only attestation log directory.

    Open it with :meth:`open` (a dock that appends) or :meth:`read` (a copy
    to inspect; never modified). Reading methods work on a *snapshot*: the
    checkpoint as it was at open, at the last :meth:`refresh` or after this
    object's last append; they never read bytes past the snapshot's size.
    Nothing here checks signatures except an append (which refuses to extend
    a checkpoint it cannot verify): :mod:`attest.log.audit` checks everything.
    """

    def __init__(self, directory: Path, origin: str, *, writable: bool, lock_fd: int | None) -> None:
        self.directory = directory
        self.origin = origin
        self._writable = writable
        self._lock_fd = lock_fd
        self._shared_depth = 0
        self._fds: dict[str, int] = {}
        self._note: bytes | None = None
        self._head: Checkpoint | None = None

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, *, origin: str | None = None, create: bool = False) -> Log:
        """Open a log to append to, creating it if asked, and repair a torn tail.

        Args:
            directory: the log directory.
            origin: the origin of a *new* log (ignored when it exists: the
                stored origin is used for every checkpoint).
            create: create the directory and the log when missing.

        Raises:
            ConfigError: not a log (or a non-empty directory that is not one,
                when creating), unwritable, no or a bad origin for a new log.
            LogError: the stored bytes contradict the checkpoint (entries the
                checkpoint commits to are missing), so repair would lose data.
        """
        directory = Path(directory)
        if create:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"{directory}: cannot create the log directory: {e.strerror}") from e
        if not directory.is_dir():
            raise ConfigError(f"{directory}: no such log directory")
        try:
            lock_fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise ConfigError(f"{directory}: cannot open the log for appending: {e.strerror}") from e
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                if read_small(directory / ORIGIN) is None:
                    if not create:
                        raise ConfigError(f"{directory}: not an attestation log (no {ORIGIN} file)")
                    create_layout(directory, origin)
                log = cls(directory, read_origin(directory), writable=True, lock_fd=lock_fd)
                writer.repair(log)
                log._load_head()
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(lock_fd)
            raise
        return log

    @classmethod
    def read(cls, directory: Path) -> Log:
        """Open a log (or a copy of one) read-only; nothing on disk is changed.

        Raises:
            ConfigError: not a log directory, or unreadable.
            LogError: the checkpoint is malformed.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: no such log directory")
        if read_small(directory / ORIGIN) is None:
            raise ConfigError(f"{directory}: not an attestation log (no {ORIGIN} file)")
        lock_fd: int | None
        try:
            lock_fd = os.open(directory / LOCK, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            lock_fd = None  # a copy without the lock file: nobody appends to it
        log = cls(directory, read_origin(directory), writable=False, lock_fd=lock_fd)
        try:
            with log.shared_lock():
                log._load_head()
        except BaseException:
            log.close()
            raise
        return log

    def close(self) -> None:
        """Close every file; the object is unusable afterwards."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def shared_lock(self) -> Iterator[None]:
        """Hold off appenders (and their repairs) while reading, when the lock file exists.

        Re-entrant: flock is not counted, so an inner release would silently drop an
        outer hold (``refresh()`` inside an audit's snapshot did exactly that).
        """
        if self._lock_fd is None or self._shared_depth:
            self._shared_depth += 1
            try:
                yield
            finally:
                self._shared_depth -= 1
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        self._shared_depth = 1
        try:
            yield
        finally:
            self._shared_depth = 0
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # -- the snapshot ------------------------------------------------------------------------------

    def check_key(self, key: Ed25519PrivateKey) -> None:
        """Refuse a key that did not sign this log's checkpoint, before any work is done.

        Raises:
            ConfigError: the log was started with another key.
            LogError: the checkpoint does not verify.
        """
        writer.check_key(self, key)

    @property
    def size(self) -> int:
        """Entries in the snapshot (the checkpoint's tree size; 0 without a checkpoint)."""
        return self._head.size if self._head else 0

    @property
    def checkpoint_note(self) -> bytes | None:
        """The snapshot's signed checkpoint note, verbatim (``None`` before the first append)."""
        return self._note

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The snapshot's checkpoint, parsed but **not verified**."""
        return self._head

    def refresh(self) -> None:
        """Take a new snapshot: re-read the checkpoint.

        Raises:
            LogError: the checkpoint is malformed.
        """
        with self.shared_lock():
            self._load_head()

    def _load_head(self) -> None:
        note = read_small(self.directory / CHECKPOINT, MAX_NOTE_BYTES)
        if note is None:
            self._note, self._head = None, None
            return
        src = str(self.directory / CHECKPOINT)
        head = Checkpoint.from_text(Note.parse(note, source=src).text, source=src)
        if head.origin != self.origin:
            raise LogError(f"{src}: origin is {head.origin!r}, but the log's origin is {self.origin!r}")
        self._note, self._head = note, head

    # -- reading -----------------------------------------------------------------------------------

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            path = self.directory / name
            try:
                if self._writable:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
                else:
                    fd = open_regular(path)
            except FileNotFoundError as e:
                raise LogError(f"{self.directory / name}: missing") from e
            except OSError as e:
                raise ConfigError(f"{self.directory / name}: cannot open: {e.strerror}") from e
            self._fds[name] = fd
        return fd

    def _ends(self, first: int, count: int) -> list[int]:
        """End offsets of entries ``first .. first + count - 1`` (with the start of ``first`` in front)."""
        lo = first - 1 if first > 0 else 0
        raw = pread_exact(self._fd(INDEX), (first + count - lo) * END_RECORD, lo * END_RECORD)
        if len(raw) != (first + count - lo) * END_RECORD:
            raise LogError(f"{self.directory / INDEX}: truncated (entry {len(raw) // END_RECORD + lo} is missing)")
        ends = [int.from_bytes(raw[i : i + END_RECORD], "big") for i in range(0, len(raw), END_RECORD)]
        return ends if first > 0 else [0, *ends]

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index``.

        Raises:
            IndexError: ``index`` is not in the snapshot.
            LogError: the entry's stored framing is broken.
        """
        if not 0 <= index < self.size:
            raise IndexError(f"no entry {index}: the log has {self.size} entries")
        return next(self.entries(index, index + 1))[1]

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, bytes)`` of entries ``start .. stop - 1`` (default: to the snapshot's end), in order.

        Raises:
            LogError: an entry's stored framing is broken (names its index).
        """
        stop = self.size if stop is None else min(stop, self.size)
        fd = self._fd(ENTRIES)
        i = max(0, start)
        while i < stop:
            count = min(4096, stop - i)
            ends = self._ends(i, count)
            lo, hi = ends[0], ends[-1]
            block = pread_exact(fd, hi - lo, lo) if 0 <= lo <= hi <= lo + (32 << 20) else None
            for k in range(count):
                a, b = ends[k], ends[k + 1]
                if not 0 <= a <= b - LEN_PREFIX <= a + MAX_ENTRY_BYTES:
                    raise LogError(f"{self.directory / INDEX}: entry {i + k} has an impossible offset", index=i + k)
                rec = block[a - lo : b - lo] if block is not None else pread_exact(fd, b - a, a)
                if len(rec) != b - a:
                    raise LogError(f"{self.directory / ENTRIES}: truncated at entry {i + k}", index=i + k)
                if int.from_bytes(rec[:LEN_PREFIX], "big") != b - a - LEN_PREFIX:
                    raise LogError(f"{self.directory / ENTRIES}: entry {i + k} has a bad length prefix", index=i + k)
                yield i + k, rec[LEN_PREFIX:]
            i += count

    def hash_reader(self, size: int | None = None) -> ReadHashes:
        """A reader of the stored hashes of the tree of ``size`` leaves (default: the snapshot's)."""
        counts = expected_counts(self.size if size is None else size)

        def read(level: int, first: int, count: int) -> bytes:
            if level >= len(counts) or first < 0 or first + count > counts[level]:
                raise ValueError(f"hashes {first}..{first + count - 1} of level {level} are not in the tree")
            data = pread_exact(self._fd(level_file(level)), count * HASH_SIZE, first * HASH_SIZE)
            if len(data) != count * HASH_SIZE:
                raise LogError(f"{self.directory / level_file(level)}: truncated", index=first << (8 * level))
            return data

        return read

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` entries (default: the snapshot), from stored hashes."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"no tree of size {size} in a log of {self.size}")
        return subtree_hash(0, size, self.hash_reader()) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of entry ``index`` in the tree of ``size`` (default: the snapshot)."""
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"no tree of size {size} in a log of {self.size}")
        read = self.hash_reader()
        return inclusion_proof(index, size, lambda a, b: subtree_hash(a, b, read))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 consistency proof from ``old_size`` to ``new_size`` (default: the snapshot)."""
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise ValueError(f"no tree of size {new_size} in a log of {self.size}")
        read = self.hash_reader()
        return _consistency_proof(old_size, new_size, lambda a, b: subtree_hash(a, b, read))

    def prove(self, index: int) -> TlogProof:
        """A C2SP tlog-proof of entry ``index`` under the snapshot's checkpoint, entry bytes as ``extra``.

        The proof is checked against the checkpoint's root before it is
        returned (not the signature: that needs the vkey).

        Raises:
            IndexError: no such entry.
            LogError: the stored hashes or entry do not lead to the checkpoint's root.
        """
        if self._head is None or self._note is None or not 0 <= index < self.size:
            raise IndexError(f"no entry {index}: the log has {self.size} entries")
        entry = self.entry(index)
        path = self.inclusion_proof(index)
        try:
            verify_inclusion(index, self.size, leaf_hash(entry), path, self._head.root)
        except LogError as e:
            raise LogError(f"{self.directory}: stored data is inconsistent: {e}", index=index) from e
        return TlogProof(index, tuple(path), self._note, entry)

    # -- appending ---------------------------------------------------------------------------------

    def append(self, entry: bytes, *, key: Ed25519PrivateKey) -> int:
        """Append one entry and commit it under a new signed checkpoint; durable on return.

        Args:
            entry: a DSSE envelope (compact JSON) signed by ``key``, e.g. from
                :func:`attest.signing.results.sign_result`.
            key: the log's Ed25519 key: it signs the checkpoint.

        Returns:
            The entry's 0-based index.

        Raises:
            ValueError: ``entry`` is not a DSSE envelope signed by ``key``.
            ConfigError: the log was started with a different key.
            LogError: the log is damaged (checkpoint signature or stored hashes).
            LogWriteError: the append could not be made durable (nothing was committed).
        """
        return self.append_many([entry], key=key).start

    def append_many(self, entries: Iterable[bytes], *, key: Ed25519PrivateKey) -> range:
        """Append several entries under one new checkpoint (all or none); durable on return.

        Same contract as :meth:`append`; returns the range of new indexes.
        """
        if not self._writable:
            raise RuntimeError("this log was opened read-only (Log.read); use Log.open to append")
        batch = list(entries)
        public = raw_public_bytes(key.public_key())
        verify, keyid = make_verifier(public), dsse_key_id(public)
        for n, e in enumerate(batch):
            if not isinstance(e, bytes):
                raise TypeError(f"entry {n} is {type(e).__name__}, expected bytes")
            if len(e) > MAX_ENTRY_BYTES:
                raise LogWriteError(f"entry of {len(e)} bytes is larger than the log's limit of {MAX_ENTRY_BYTES}")
            problem = entry_problem(e, verify, keyid)
            if problem is not None:
                raise ValueError(f"not a log entry: {problem}")
        if self._lock_fd is None:
            raise RuntimeError("this log is closed")
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            writer.repair(self)
            head = writer.verified_head(self, key)
            return writer.write(self, head, batch, key)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
