r"""The log directory: create, lock, repair a torn tail, append durably, read.

Layout (plain files; docs/log.md has the byte formats)::

    format        "drone-attest log v1\\n"
    origin        the log's origin line, fixed at creation
    checkpoint    the latest signed checkpoint (C2SP tlog-checkpoint), replaced atomically
    entries       every entry: u32 big-endian length, then the entry's bytes
    entries.idx   u64 big-endian end offset in ``entries`` of every entry
    hashes.L      stored interior hashes, level L (see :mod:`attest.log.tiles`)
    lock          flock(2) target that serialises appenders
    uncommitted/  tails cut off by crash repair, kept for inspection, never part of the log

The checkpoint is the commit point. An append writes and fsyncs the entry,
its index and its hashes *past* the committed size, then atomically replaces
the checkpoint; only then does it return. A crash before the replace leaves a
tail past the checkpoint's size, which the next writer cuts off (saving the
bytes under ``uncommitted/``): every entry that was reported committed is
below the checkpoint's size and is never touched again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import ConfigError
from attest.fsutil import atomic_write, fsync_dir, write_new
from attest.keys import raw_public_bytes
from attest.log import LogError, LogWriteError
from attest.log.checkpoint import Checkpoint
from attest.log.entry import MAX_ENTRY_BYTES, dsse_key_id, entry_problem, make_verifier
from attest.log.merkle import EMPTY_ROOT, HASH_SIZE, inclusion_proof, leaf_hash, verify_inclusion
from attest.log.merkle import consistency_proof as _consistency_proof
from attest.log.note import MAX_NOTE_BYTES, Note, VerifierKey, check_key_name
from attest.log.proof import TlogProof
from attest.log.tiles import TILE_WIDTH, ReadHashes, expected_counts, level_file, reduce_pairs, subtree_hash

__all__ = ["CHECKPOINT", "ENTRIES", "FORMAT_LINE", "INDEX", "ORIGIN", "Log", "open_regular"]

FORMAT_LINE = b"drone-attest log v1\n"
FORMAT, ORIGIN, CHECKPOINT, ENTRIES, INDEX, LOCK, UNCOMMITTED = (
    "format",
    "origin",
    "checkpoint",
    "entries",
    "entries.idx",
    "lock",
    "uncommitted",
)
_MAX_SMALL_FILE = 4096
_LEN = 4  # bytes of an entry's length prefix
_END = 8  # bytes of an index record


def _pread_exact(fd: int, n: int, offset: int) -> bytes:
    chunks = []
    while n > 0:
        b = os.pread(fd, n, offset)
        if not b:
            break
        chunks.append(b)
        n -= len(b)
        offset += len(b)
    return b"".join(chunks)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def open_regular(path: Path) -> int:
    """Open a file of a log for reading: a regular file, never through a symlink, never a FIFO.

    A copied log is untrusted input; a ``checkpoint`` that is a FIFO would
    otherwise hang a reader, and a symlink would read some other file.

    Raises:
        FileNotFoundError: it does not exist.
        LogError: it is not a regular file.
        OSError: it cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LogError(f"{path}: a symbolic link, not a file") from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LogError(f"{path}: not a regular file")
    return fd


def _read_small(path: Path, limit: int = _MAX_SMALL_FILE) -> bytes | None:
    """A small file's bytes, ``None`` if missing; ConfigError if unreadable, LogError if too large."""
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        data = _pread_exact(fd, limit + 1, 0)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise LogError(f"{path}: larger than {limit} bytes")
    return data


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
                if _read_small(directory / ORIGIN) is None:
                    if not create:
                        raise ConfigError(f"{directory}: not an attestation log (no {ORIGIN} file)")
                    _create(directory, origin)
                log = cls(directory, _read_origin(directory), writable=True, lock_fd=lock_fd)
                log._repair()
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
        if _read_small(directory / ORIGIN) is None:
            raise ConfigError(f"{directory}: not an attestation log (no {ORIGIN} file)")
        lock_fd: int | None
        try:
            lock_fd = os.open(directory / LOCK, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            lock_fd = None  # a copy without the lock file: nobody appends to it
        log = cls(directory, _read_origin(directory), writable=False, lock_fd=lock_fd)
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
        """Hold off appenders (and their repairs) while reading, when the lock file exists."""
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # -- the snapshot ------------------------------------------------------------------------------

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
        note = _read_small(self.directory / CHECKPOINT, MAX_NOTE_BYTES)
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
        raw = _pread_exact(self._fd(INDEX), (first + count - lo) * _END, lo * _END)
        if len(raw) != (first + count - lo) * _END:
            raise LogError(f"{self.directory / INDEX}: truncated (entry {len(raw) // _END + lo} is missing)")
        ends = [int.from_bytes(raw[i : i + _END], "big") for i in range(0, len(raw), _END)]
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
            block = _pread_exact(fd, hi - lo, lo) if 0 <= lo <= hi <= lo + (32 << 20) else None
            for k in range(count):
                a, b = ends[k], ends[k + 1]
                if not 0 <= a <= b - _LEN <= a + MAX_ENTRY_BYTES:
                    raise LogError(f"{self.directory / INDEX}: entry {i + k} has an impossible offset", index=i + k)
                rec = block[a - lo : b - lo] if block is not None else _pread_exact(fd, b - a, a)
                if len(rec) != b - a:
                    raise LogError(f"{self.directory / ENTRIES}: truncated at entry {i + k}", index=i + k)
                if int.from_bytes(rec[:_LEN], "big") != b - a - _LEN:
                    raise LogError(f"{self.directory / ENTRIES}: entry {i + k} has a bad length prefix", index=i + k)
                yield i + k, rec[_LEN:]
            i += count

    def hash_reader(self, size: int | None = None) -> ReadHashes:
        """A reader of the stored hashes of the tree of ``size`` leaves (default: the snapshot's)."""
        counts = expected_counts(self.size if size is None else size)

        def read(level: int, first: int, count: int) -> bytes:
            if level >= len(counts) or first < 0 or first + count > counts[level]:
                raise ValueError(f"hashes {first}..{first + count - 1} of level {level} are not in the tree")
            data = _pread_exact(self._fd(level_file(level)), count * HASH_SIZE, first * HASH_SIZE)
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
                :func:`attest.results.sign_result`.
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
            self._repair()
            head = self._verified_head(key)
            return self._write(head, batch, key)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _verified_head(self, key: Ed25519PrivateKey) -> Checkpoint:
        """The checkpoint, checked with our own key and against the stored hashes; made if missing."""
        self._load_head()
        vkey = VerifierKey.for_key(self.origin, key.public_key())
        if self._head is None or self._note is None:
            head = Checkpoint(self.origin, 0, EMPTY_ROOT)
            self._commit(head, key)  # an empty log's first checkpoint: from now on a missing one is damage
            return head
        note = Note.parse(self._note, source=str(self.directory / CHECKPOINT))
        if not any(s.name == vkey.name and s.key_id == vkey.key_id for s in note.signatures):
            raise ConfigError(
                f"{self.directory}: the log was started with another key (its checkpoint is not signed by "
                f"{vkey.name}+{vkey.key_id.hex()}); a log keeps one key: use that key or a new log directory"
            )
        note.verify([vkey], source=str(self.directory / CHECKPOINT))
        if self.root() != self._head.root:
            raise LogError(
                f"{self.directory}: the stored hashes do not lead to the checkpoint's root; run attest log verify"
            )
        return self._head

    def _write(self, head: Checkpoint, batch: Sequence[bytes], key: Ed25519PrivateKey) -> range:
        n = head.size
        if not batch:
            return range(n, n)
        start = self._ends(n - 1, 1)[-1] if n else 0
        records, ends, leaves = bytearray(), bytearray(), []
        off = start
        for e in batch:
            records += len(e).to_bytes(_LEN, "big") + e
            off += _LEN + len(e)
            ends += off.to_bytes(_END, "big")
            leaves.append(leaf_hash(e))
        new_size = n + len(batch)
        try:
            for name, data, at in ((ENTRIES, bytes(records), start), (INDEX, bytes(ends), n * _END)):
                _pwrite_all(self._fd(name), data, at)
                os.fsync(self._fd(name))
            self._write_hashes(n, leaves)
            root = subtree_hash(0, new_size, self.hash_reader(new_size))
        except OSError as e:
            raise LogWriteError(f"{self.directory}: cannot append: {e.strerror}; nothing was committed") from e
        self._commit(Checkpoint(self.origin, new_size, root), key)
        return range(n, new_size)

    def _write_hashes(self, n: int, leaves: list[bytes]) -> None:
        """Store the new leaf hashes and every tile hash they complete, durably."""
        new_size = n + len(leaves)
        old, new = expected_counts(n), expected_counts(new_size)
        created = not (self.directory / level_file(len(new) - 1)).exists()
        _pwrite_all(self._fd(level_file(0)), b"".join(leaves), n * HASH_SIZE)
        os.fsync(self._fd(level_file(0)))
        read = self.hash_reader(new_size)
        for level in range(1, len(new)):
            have = old[level] if level < len(old) else 0
            if new[level] == have:
                break  # nothing completed here, so nothing above either
            below = read(level - 1, have * TILE_WIDTH, (new[level] - have) * TILE_WIDTH)
            tile = TILE_WIDTH * HASH_SIZE
            hashes = b"".join(reduce_pairs(below[i : i + tile]) for i in range(0, len(below), tile))
            fd = self._fd(level_file(level))
            _pwrite_all(fd, hashes, have * HASH_SIZE)
            os.fsync(fd)
        if created:
            fsync_dir(self.directory)

    def _commit(self, head: Checkpoint, key: Ed25519PrivateKey) -> None:
        note = head.sign(key)
        try:
            atomic_write(self.directory / CHECKPOINT, note)
        except ConfigError as e:
            if _read_small(self.directory / CHECKPOINT, MAX_NOTE_BYTES) == note:
                # The rename happened, only its fsync failed: readers see the entries, a power cut may not.
                self._note, self._head = note, head
                raise LogWriteError(
                    f"{e}; the log now shows {head.size} entries, but that may not survive a power loss"
                ) from e
            raise LogWriteError(f"{e}; nothing was committed") from e
        self._note, self._head = note, head

    # -- crash repair ------------------------------------------------------------------------------

    def _repair(self) -> None:
        """Cut everything past the checkpoint's size (a crashed append); the caller holds the lock.

        Raises:
            LogError: bytes the checkpoint commits to are missing, or entries
                exist without any checkpoint: not a crash, and cutting would lose data.
            LogWriteError: the tail could not be saved or cut (disk full, read-only).
        """
        try:
            self._cut_tail()
        except (OSError, ConfigError) as e:
            raise LogWriteError(f"{self.directory}: cannot repair the log after a crash: {e}") from e

    def _cut_tail(self) -> None:
        self._load_head()
        d = self.directory
        for stale in d.glob(f".{CHECKPOINT}.*.tmp"):
            stale.unlink(missing_ok=True)
        n = self.size
        sizes = {name: os.fstat(self._fd(name)).st_size for name in (ENTRIES, INDEX)}
        if self._head is None and (sizes[ENTRIES] or sizes[INDEX]):
            raise LogError(f"{d}: entries are stored but the checkpoint is missing; refusing to append", index=0)
        if sizes[INDEX] < n * _END:
            have = sizes[INDEX] // _END
            raise LogError(f"{d / INDEX}: holds {have} entries, the checkpoint commits {n}", index=have)
        end = self._ends(n - 1, 1)[-1] if n else 0
        if sizes[ENTRIES] < end:
            raise LogError(f"{d / ENTRIES}: shorter than the {n} committed entries", index=None)
        counts = expected_counts(n)
        levels = {int(p.name.split(".")[1]): p for p in d.glob("hashes.*") if p.name.split(".")[1].isdigit()}
        for level, count in enumerate(counts):
            have = os.fstat(self._fd(level_file(level))).st_size
            if have < count * HASH_SIZE:
                raise LogError(f"{d / level_file(level)}: holds {have // HASH_SIZE} hashes, expected {count}")
        if sizes[ENTRIES] > end:
            self._save_tail(end, sizes[ENTRIES])
        cuts = [(ENTRIES, end), (INDEX, n * _END)] + [(level_file(lv), c * HASH_SIZE) for lv, c in enumerate(counts)]
        for name, length in cuts:
            fd = self._fd(name)
            if os.fstat(fd).st_size > length:
                os.ftruncate(fd, length)
                os.fsync(fd)
        removed = False
        for level, path in levels.items():
            if level >= len(counts):
                if path.name in self._fds:
                    os.close(self._fds.pop(path.name))
                path.unlink()
                removed = True
        if removed:
            fsync_dir(d)

    def _save_tail(self, start: int, stop: int) -> None:
        """Keep an uncommitted tail's bytes under ``uncommitted/`` before cutting it off."""
        folder = self.directory / UNCOMMITTED
        folder.mkdir(exist_ok=True)
        data = _pread_exact(self._fd(ENTRIES), stop - start, start)
        write_new(folder / f"entries-from-{self.size}-{time.time_ns()}", data, 0o644)
        fsync_dir(folder)
        fsync_dir(self.directory)


def _read_origin(directory: Path) -> str:
    fmt = _read_small(directory / FORMAT)
    if fmt != FORMAT_LINE:
        raise ConfigError(
            f"{directory}: unknown log format (expected {FORMAT} to say {FORMAT_LINE.decode().strip()!r})"
        )
    data = _read_small(directory / ORIGIN) or b""
    try:
        origin = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{directory / ORIGIN}: not UTF-8") from e
    if not origin.endswith("\n"):
        raise ConfigError(f"{directory / ORIGIN}: expected one line")
    origin = origin[:-1]
    why = check_key_name(origin)
    if why is not None:
        raise ConfigError(f"{directory / ORIGIN}: bad origin {origin!r}: {why}")
    return origin


def _create(directory: Path, origin: str | None) -> None:
    """Make a new log's files; the caller holds the lock. ``origin`` is written last: it marks completion."""
    if origin is None:
        raise ConfigError(f"{directory}: a new log needs an origin (e.g. --origin dock1.fleet.example)")
    why = check_key_name(origin)
    if why is not None:
        raise ConfigError(f"{origin!r} cannot be a log origin: {why}")
    ours = {LOCK, FORMAT, ENTRIES, INDEX, level_file(0)}
    for p in directory.iterdir():
        # A crash during an earlier creation may have left our own empty files; anything else is not ours.
        if p.name not in ours or (p.name != FORMAT and p.stat().st_size):
            raise ConfigError(f"{directory}: not empty and not an attestation log (found {p.name}); refusing to use it")
    try:
        for name, data in ((FORMAT, FORMAT_LINE), (ENTRIES, b""), (INDEX, b""), (level_file(0), b"")):
            (directory / name).unlink(missing_ok=True)
            write_new(directory / name, data, 0o644)
        write_new(directory / ORIGIN, origin.encode("utf-8") + b"\n", 0o644)
        fsync_dir(directory)
    except OSError as e:
        raise ConfigError(f"{directory}: cannot create the log: {e.strerror}") from e
