"""The log directory: open or create it, lock it, read it, prove entries, append.

:class:`Log` is the one handle on a log, and the facade over the modules
below it: the files' names and formats are in :mod:`attest.log.layout`; the
open files, their bounded reads and the checkpoint snapshot in
:mod:`attest.log.files`; appending and crash repair in :mod:`attest.log.writer`.
``Log`` owns the lock and calls those with it held. Checking every byte with
only the vkey is :mod:`attest.log.audit`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pwd
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import ConfigError, LogError, LogWriteError
from attest.log.checkpoint import Checkpoint
from attest.log.entry import MAX_ENTRY_BYTES, RESULTS_ONLY, EntryKinds, dsse_key_id, entry_problem, make_verifier
from attest.log.files import LogFiles
from attest.log.layout import LOCK, ORIGIN, create_layout, open_regular, read_origin, read_small
from attest.log.merkle import EMPTY_ROOT, inclusion_proof, leaf_hash, verify_inclusion
from attest.log.merkle import consistency_proof as merkle_consistency_proof
from attest.log.proof import TlogProof
from attest.log.tiles import ReadHashes, subtree_hash
from attest.log.writer import check_key, repair, verified_head, write
from attest.signing import raw_public_bytes
from attest.statedir import owner_for_root

__all__ = ["READ_LOCK_WAIT", "Log"]

#: How long a reader tries for the shared lock before it reads without it (an append holds it for milliseconds).
READ_LOCK_WAIT = 2.0


class Log:
    """One append-only attestation log directory.

    Open it with :meth:`open` (a dock that appends) or :meth:`read` (a copy
    to inspect; never modified). Reading methods work on a *snapshot*: the
    checkpoint as it was at open, at the last :meth:`refresh` or after this
    object's last append; they never read bytes past the snapshot's size.
    Nothing here checks signatures except an append (which refuses to extend
    a checkpoint it cannot verify): :mod:`attest.log.audit` checks everything.
    """

    def __init__(
        self, directory: Path, origin: str, *, writable: bool, lock_fd: int | None, lock_wait: float = READ_LOCK_WAIT
    ) -> None:
        self.directory = directory
        self.origin = origin
        self._files = LogFiles(directory, origin, writable=writable)
        self._lock_fd = lock_fd
        self._lock_wait = lock_wait
        self._kinds: EntryKinds = RESULTS_ONLY
        self._shared_depth = 0
        self._shared_held = False

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: Path, *, origin: str | None = None, create: bool = False, kinds: EntryKinds = RESULTS_ONLY
    ) -> Log:
        """Open a log to append to, creating it if asked, and repair a torn tail.

        Args:
            directory: the log directory.
            origin: the origin of a *new* log (ignored when it exists: the
                stored origin is used for every checkpoint).
            create: create the directory and the log when missing.
            kinds: entry kinds :meth:`append` accepts besides results, by
                in-toto predicate type, each with its reader (the dock passes
                its events'); ``attest log verify`` must be given the same.

        Raises:
            ConfigError: not a log (or a non-empty directory that is not one,
                when creating), unwritable, no or a bad origin for a new log.
            LogError: the stored bytes contradict the checkpoint (entries the
                checkpoint commits to are missing), so repair would lose data.
        """
        directory = Path(directory)
        _refuse_root_in_a_users_log(directory)
        if create:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"{directory}: cannot create the log directory: {e.strerror}") from e
        if not directory.is_dir():
            raise ConfigError(f"{directory}: no such log directory")
        try:
            lock_fd = open_regular(directory / LOCK, writable=True)
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
                log._kinds = kinds
                repair(log._files)
                log._files.load_head()
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(lock_fd)
            raise
        return log

    @classmethod
    def read(cls, directory: Path, *, lock_wait: float = READ_LOCK_WAIT) -> Log:
        """Open a log (or a copy of one) read-only; nothing on disk is changed.

        A reader never needs the writer's lock, and never waits long for it.
        Every byte it reads lies below the checkpoint's size, and those bytes
        never change (appends write past them; crash repair cuts only past
        them), so ``show``, ``proof`` and ``export`` are right without it. The
        lock only keeps :func:`~attest.log.audit.audit_log` from seeing a live
        append's unfinished tail: so a reader takes it shared when it can (the
        ``lock`` file is a regular file it may open), trying for ``lock_wait``
        seconds, and otherwise goes on without it. This holds whether or not
        the directory is writable: an auditor's account on the dock cannot
        write the log, yet the dock appends to it.

        Raises:
            ConfigError: not a log directory, or unreadable.
            LogError: the checkpoint is malformed, or a file of the log (the
                ``lock`` included) is a FIFO, a symlink or another non-regular file.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: no such log directory")
        if read_small(directory / ORIGIN) is None:
            raise ConfigError(f"{directory}: not an attestation log (no {ORIGIN} file)")
        lock_fd: int | None
        try:
            lock_fd = open_regular(directory / LOCK)
        except OSError:
            lock_fd = None  # missing (a copy nobody appends to) or not ours to read: read without it
        try:
            log = cls(directory, read_origin(directory), writable=False, lock_fd=lock_fd, lock_wait=lock_wait)
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        try:
            with log.shared_lock():
                log._files.load_head()
        except BaseException:
            log.close()
            raise
        return log

    def close(self) -> None:
        """Close every file; the object is unusable afterwards."""
        self._files.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def lockable(self) -> bool:
        """Whether this log has a ``lock`` file this process holds open (a copy may have none)."""
        return self._lock_fd is not None

    @contextlib.contextmanager
    def shared_lock(self) -> Iterator[bool]:
        """Hold off appenders (and their repairs) while reading, when the lock can be had.

        Yields whether the lock is held. A log opened with :meth:`open` waits
        for it (its own appenders are brief); one opened with :meth:`read` tries
        for ``lock_wait`` seconds and then goes on without it (see :meth:`read`),
        so a process that holds the lock forever cannot hang a reader.
        Re-entrant: flock is not counted, so an inner release would silently drop
        an outer hold (``refresh()`` inside an audit's snapshot did exactly that).
        """
        if self._shared_depth:
            self._shared_depth += 1
            try:
                yield self._shared_held
            finally:
                self._shared_depth -= 1
            return
        held = self._lock_fd is not None and self._take_shared(self._lock_fd)
        self._shared_depth, self._shared_held = 1, held
        try:
            yield held
        finally:
            self._shared_depth, self._shared_held = 0, False
            if held and self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _take_shared(self, fd: int) -> bool:
        """Take the lock shared: wait for it when appending, else try until ``lock_wait`` has passed."""
        if self._files.writable:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return True
        deadline = time.monotonic() + self._lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR) or time.monotonic() >= deadline:
                    return False  # held too long, or no locks here (ENOLCK on some network file systems)
                time.sleep(0.005)
            else:
                return True

    # -- the snapshot ------------------------------------------------------------------------------

    def check_key(self, key: Ed25519PrivateKey) -> None:
        """Refuse a key that did not sign this log's checkpoint, before any work is done.

        Raises:
            ConfigError: the log was started with another key.
            LogError: the checkpoint does not verify.
        """
        check_key(self._files, key)

    @property
    def size(self) -> int:
        """Entries in the snapshot (the checkpoint's tree size; 0 without a checkpoint)."""
        return self._files.size

    @property
    def checkpoint_note(self) -> bytes | None:
        """The snapshot's signed checkpoint note, verbatim (``None`` before the first append)."""
        return self._files.note

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The snapshot's checkpoint, parsed but **not verified**."""
        return self._files.head

    def refresh(self) -> None:
        """Take a new snapshot: re-read the checkpoint.

        Raises:
            LogError: the checkpoint is malformed.
        """
        with self.shared_lock():
            self._files.load_head()

    # -- reading -----------------------------------------------------------------------------------

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
        yield from self._files.read_entries(start, stop)

    def entry_records(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes | str]]:
        """Entries ``start .. stop - 1`` (default: to the snapshot's end): ``(index, bytes)``, or ``(index, why)``.

        The tolerant form of :meth:`entries` for people reading a damaged copy
        (``show``, ``export``): an entry whose framing is broken is named, and
        reading goes on (see :meth:`attest.log.files.LogFiles.entry_records`).
        """
        stop = self.size if stop is None else min(stop, self.size)
        yield from self._files.entry_records(start, stop)

    def hash_reader(self, size: int | None = None) -> ReadHashes:
        """A reader of the stored hashes of the tree of ``size`` leaves (default: the snapshot's)."""
        return self._files.hash_reader(self.size if size is None else size)

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
        return merkle_consistency_proof(old_size, new_size, lambda a, b: subtree_hash(a, b, read))

    def prove(self, index: int) -> TlogProof:
        """A C2SP tlog-proof of entry ``index`` under the snapshot's checkpoint, entry bytes as ``extra``.

        The proof is checked against the checkpoint's root before it is
        returned (not the signature: that needs the vkey).

        Raises:
            IndexError: no such entry.
            LogError: the stored hashes or entry do not lead to the checkpoint's root.
        """
        head, note = self._files.head, self._files.note
        if head is None or note is None or not 0 <= index < self.size:
            raise IndexError(f"no entry {index}: the log has {self.size} entries")
        entry = self.entry(index)
        path = self.inclusion_proof(index)
        try:
            verify_inclusion(index, self.size, leaf_hash(entry), path, head.root)
        except LogError as e:
            raise LogError(f"{self.directory}: stored data is inconsistent: {e}", index=index) from e
        return TlogProof(index, tuple(path), note, entry)

    # -- appending ---------------------------------------------------------------------------------

    def append(self, entry: bytes, *, key: Ed25519PrivateKey) -> int:
        """Append one entry and commit it under a new signed checkpoint; durable on return.

        Args:
            entry: a DSSE envelope (compact JSON) signed by ``key``, e.g. from
                :func:`attest.signing.sign_result`.
            key: the log's Ed25519 key: it signs the checkpoint.

        Returns:
            The entry's 0-based index.

        Raises:
            ValueError: ``entry`` is not a DSSE envelope signed by ``key`` of a
                result (or of a kind given to :meth:`open`), by the rules ``verify`` applies.
            ConfigError: the log was started with a different key.
            LogError: the log is damaged (checkpoint signature or stored hashes).
            LogWriteError: the append could not be made durable (nothing was committed).
        """
        return self.append_many([entry], key=key).start

    def append_many(self, entries: Iterable[bytes], *, key: Ed25519PrivateKey) -> range:
        """Append several entries under one new checkpoint (all or none); durable on return.

        Same contract as :meth:`append`; returns the range of new indexes.
        """
        if not self._files.writable:
            raise RuntimeError("this log was opened read-only (Log.read); use Log.open to append")
        batch = list(entries)
        public = raw_public_bytes(key.public_key())
        verify, keyid = make_verifier(public), dsse_key_id(public)
        for n, e in enumerate(batch):
            if not isinstance(e, bytes):
                raise TypeError(f"entry {n} is {type(e).__name__}, expected bytes")
            if len(e) > MAX_ENTRY_BYTES:
                raise LogWriteError(f"entry of {len(e)} bytes is larger than the log's limit of {MAX_ENTRY_BYTES}")
            problem = entry_problem(e, verify, keyid, index=n, kinds=self._kinds)
            if problem is not None:
                raise ValueError(f"not a log entry: {problem}")
        if self._lock_fd is None:
            raise RuntimeError("this log is closed")
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            repair(self._files)
            head = verified_head(self._files, key)
            return write(self._files, head, batch, key)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


def _refuse_root_in_a_users_log(directory: Path) -> None:
    """Refuse root appending to (or creating) a log in a directory another user owns.

    The dock's log lives in its state directory, which belongs to the dock's
    user: entry, hash and lock files that root wrote there would be root's,
    and the dock could no longer append its own results.

    Raises:
        ConfigError: root, and the log directory (or, before it exists, the
            nearest existing directory above it) belongs to another user.
    """
    existing = next((d for d in (directory, *directory.parents) if d.exists()), None)
    owner = owner_for_root(existing) if existing is not None else None
    if owner is not None:
        try:
            user = pwd.getpwuid(owner[0]).pw_name
        except KeyError:
            user = f"#{owner[0]}"
        # The same directory must be named again: as that user, the default state directory is another one.
        raise ConfigError(
            f"{directory}: this log belongs to user {user}; run the command as that user with the same "
            f"directory (sudo -u {user} attest ... with the same --state-dir, --log or --config), not as root, "
            "or the dock could no longer write its own log"
        )
