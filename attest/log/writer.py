"""Appending to a log's files and repairing them after a crash, through :class:`~attest.log.files.LogFiles`.

The checkpoint is the commit point. An append writes and fsyncs the entry,
its index record and its hashes *past* the committed size, then atomically
replaces the checkpoint; only then does it return. A crash before the replace
leaves a tail past the checkpoint's size, which the next writer cuts off
(saving the bytes under ``uncommitted/``): every entry that was reported
committed is below the checkpoint's size and is never written again.
:class:`~attest.log.store.Log` takes the log's lock exclusively and calls
these with it held; only :func:`check_key` may run without it (it only reads
the checkpoint, which is replaced atomically).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import ConfigError, LogError, LogWriteError
from attest.fsutil import atomic_write, fsync_dir, write_new
from attest.log.checkpoint import Checkpoint
from attest.log.files import LogFiles
from attest.log.layout import (
    CHECKPOINT,
    END_RECORD,
    ENTRIES,
    INDEX,
    LEN_PREFIX,
    UNCOMMITTED,
    pread_exact,
    pwrite_all,
    read_small,
)
from attest.log.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash
from attest.log.note import MAX_NOTE_BYTES, Note, VerifierKey
from attest.log.tiles import TILE_WIDTH, expected_counts, level_file, reduce_pairs, subtree_hash

__all__ = ["check_key", "commit", "repair", "verified_head", "write", "write_hashes"]


def verified_head(files: LogFiles, key: Ed25519PrivateKey) -> Checkpoint:
    """The checkpoint, checked with our own key and against the stored hashes; made if missing.

    Raises:
        ConfigError: the checkpoint is signed by another key.
        LogError: it does not verify, or the stored hashes do not lead to its root.
        LogWriteError: the first checkpoint of an empty log could not be written.
    """
    files.load_head()
    head, note = files.head, files.note
    if head is None or note is None:
        head = Checkpoint(files.origin, 0, EMPTY_ROOT)
        commit(files, head, key)  # an empty log's first checkpoint: from now on a missing one is damage
        return head
    _check_signed_by(files, note, key)
    root = subtree_hash(0, head.size, files.hash_reader(head.size)) if head.size else EMPTY_ROOT
    if root != head.root:
        raise LogError(
            f"{files.directory}: the stored hashes do not lead to the checkpoint's root; run attest log verify"
        )
    return head


def write(files: LogFiles, head: Checkpoint, batch: Sequence[bytes], key: Ed25519PrivateKey) -> range:
    """Write ``batch`` past ``head`` durably, then commit the new checkpoint; returns the new indexes.

    Raises:
        LogWriteError: a write or fsync failed (nothing committed, or see :func:`commit`).
    """
    n = head.size
    if not batch:
        return range(n, n)
    start = files.ends(n - 1, 1)[-1] if n else 0
    records, ends, leaves = bytearray(), bytearray(), []
    off = start
    for e in batch:
        records += len(e).to_bytes(LEN_PREFIX, "big") + e
        off += LEN_PREFIX + len(e)
        ends += off.to_bytes(END_RECORD, "big")
        leaves.append(leaf_hash(e))
    new_size = n + len(batch)
    try:
        for name, data, at in ((ENTRIES, bytes(records), start), (INDEX, bytes(ends), n * END_RECORD)):
            pwrite_all(files.fd(name), data, at)
            os.fsync(files.fd(name))
        write_hashes(files, n, leaves)
        root = subtree_hash(0, new_size, files.hash_reader(new_size))
    except OSError as e:
        raise LogWriteError(f"{files.directory}: cannot append: {e.strerror}; nothing was committed") from e
    commit(files, Checkpoint(files.origin, new_size, root), key)
    return range(n, new_size)


def write_hashes(files: LogFiles, n: int, leaves: list[bytes]) -> None:
    """Store the new leaf hashes and every tile hash they complete, durably."""
    new_size = n + len(leaves)
    old, new = expected_counts(n), expected_counts(new_size)
    created = not (files.directory / level_file(len(new) - 1)).exists()
    pwrite_all(files.fd(level_file(0)), b"".join(leaves), n * HASH_SIZE)
    os.fsync(files.fd(level_file(0)))
    read = files.hash_reader(new_size)
    for level in range(1, len(new)):
        have = old[level] if level < len(old) else 0
        if new[level] == have:
            break  # nothing completed here, so nothing above either
        below = read(level - 1, have * TILE_WIDTH, (new[level] - have) * TILE_WIDTH)
        tile = TILE_WIDTH * HASH_SIZE
        hashes = b"".join(reduce_pairs(below[i : i + tile]) for i in range(0, len(below), tile))
        fd = files.fd(level_file(level))
        pwrite_all(fd, hashes, have * HASH_SIZE)
        os.fsync(fd)
    if created:
        fsync_dir(files.directory)


def commit(files: LogFiles, head: Checkpoint, key: Ed25519PrivateKey) -> None:
    """Sign ``head`` and atomically make it the log's checkpoint: the commit point.

    Raises:
        LogWriteError: it could not be written; the message says whether
            the new checkpoint is visible (only the directory fsync failed).
    """
    note = head.sign(key)
    try:
        atomic_write(files.directory / CHECKPOINT, note)
    except ConfigError as e:
        if read_small(files.directory / CHECKPOINT, MAX_NOTE_BYTES) == note:
            # The rename happened, only its fsync failed: readers see the entries, a power cut may not.
            files.set_head(note, head)
            raise LogWriteError(
                f"{e}; the log now shows {head.size} entries, but that may not survive a power loss"
            ) from e
        raise LogWriteError(f"{e}; nothing was committed") from e
    files.set_head(note, head)


# -- crash repair ------------------------------------------------------------------------------


def repair(files: LogFiles) -> None:
    """Cut everything past the checkpoint's size (a crashed append); the caller holds the lock.

    Raises:
        LogError: bytes the checkpoint commits to are missing, or entries
            exist without any checkpoint: not a crash, and cutting would lose data.
        LogWriteError: the tail could not be saved or cut (disk full, read-only).
    """
    try:
        _cut_tail(files)
    except (OSError, ConfigError) as e:
        raise LogWriteError(f"{files.directory}: cannot repair the log after a crash: {e}") from e


def _cut_tail(files: LogFiles) -> None:
    files.load_head()
    d = files.directory
    for stale in d.glob(f".{CHECKPOINT}.*.tmp"):
        stale.unlink(missing_ok=True)
    n = files.size
    sizes = {name: os.fstat(files.fd(name)).st_size for name in (ENTRIES, INDEX)}
    if files.head is None and (sizes[ENTRIES] or sizes[INDEX]):
        raise LogError(f"{d}: entries are stored but the checkpoint is missing; refusing to append", index=0)
    if sizes[INDEX] < n * END_RECORD:
        have = sizes[INDEX] // END_RECORD
        raise LogError(f"{d / INDEX}: holds {have} entries, the checkpoint commits {n}", index=have)
    end = files.ends(n - 1, 1)[-1] if n else 0
    if sizes[ENTRIES] < end:
        raise LogError(f"{d / ENTRIES}: shorter than the {n} committed entries", index=None)
    counts = expected_counts(n)
    levels = {int(p.name.split(".")[1]): p for p in d.glob("hashes.*") if p.name.split(".")[1].isdigit()}
    for level, count in enumerate(counts):
        have = os.fstat(files.fd(level_file(level))).st_size
        if have < count * HASH_SIZE:
            raise LogError(f"{d / level_file(level)}: holds {have // HASH_SIZE} hashes, expected {count}")
    if sizes[ENTRIES] > end:
        _save_tail(files, end, sizes[ENTRIES])
    cuts = [(ENTRIES, end), (INDEX, n * END_RECORD)] + [(level_file(lv), c * HASH_SIZE) for lv, c in enumerate(counts)]
    for name, length in cuts:
        fd = files.fd(name)
        if os.fstat(fd).st_size > length:
            os.ftruncate(fd, length)
            os.fsync(fd)
    removed = False
    for level, path in levels.items():
        if level >= len(counts):
            files.close_file(path.name)
            path.unlink()
            removed = True
    if removed:
        fsync_dir(d)


def _save_tail(files: LogFiles, start: int, stop: int) -> None:
    """Keep an uncommitted tail's bytes under ``uncommitted/`` before cutting it off."""
    folder = files.directory / UNCOMMITTED
    folder.mkdir(exist_ok=True)
    data = pread_exact(files.fd(ENTRIES), stop - start, start)
    write_new(folder / f"entries-from-{files.size}-{time.time_ns()}", data, 0o644)
    fsync_dir(folder)
    fsync_dir(files.directory)


def check_key(files: LogFiles, key: Ed25519PrivateKey) -> None:
    """Refuse ``key`` unless it signed the log's current checkpoint (a log keeps one key).

    A log with no checkpoint yet accepts any key.

    Raises:
        ConfigError: the checkpoint is signed by another key.
        LogError: the checkpoint does not verify.
    """
    files.load_head()
    if files.note is not None:
        _check_signed_by(files, files.note, key)


def _check_signed_by(files: LogFiles, checkpoint_note: bytes, key: Ed25519PrivateKey) -> None:
    vkey = VerifierKey.for_key(files.origin, key.public_key())
    note = Note.parse(checkpoint_note, source=str(files.directory / CHECKPOINT))
    if not any(s.name == vkey.name and s.key_id == vkey.key_id for s in note.signatures):
        raise ConfigError(
            f"{files.directory}: the log was started with another key (its checkpoint is not signed by "
            f"{vkey.name}+{vkey.key_id.hex()}); a log keeps one key: use that key or a new log directory"
        )
    note.verify([vkey], source=str(files.directory / CHECKPOINT))
