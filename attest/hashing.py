"""Streaming, parallel SHA-256 of local files.

Files are read in large chunks into one reused buffer per worker and hashed
with :mod:`hashlib`, which releases the GIL while it hashes, so a few threads
use every core. Every read is bounded by a caller-given limit. A file that
cannot be opened or read is reported as the :class:`OSError` it raised, never
skipped: the caller decides that it is an ``unreadable`` finding.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar, cast

__all__ = ["CHUNK_SIZE", "default_workers", "hash_files", "map_parallel", "sha256_fd", "sha256_file"]

#: Bytes read per system call; large enough that per-call overhead vanishes.
CHUNK_SIZE = 1 << 20

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")

#: Called with a number of bytes just hashed, from any worker thread.
ProgressCallback = Callable[[int], None]

# O_NOFOLLOW: a file swapped for a link after listing is an error, not a read
# of the link's target. O_NONBLOCK: a file swapped for a FIFO cannot hang the dock.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK


def default_workers() -> int:
    """One worker per usable core (at least one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def sha256_fd(
    fd: int,
    *,
    limit: int | None = None,
    buffer: bytearray | None = None,
    on_bytes: ProgressCallback | None = None,
) -> tuple[str, int]:
    """Hash an open file from its current position to its end, or to ``limit`` bytes.

    Args:
        fd: a descriptor open for reading.
        limit: read at most this many bytes (``None``: to the end). A caller
            that expects ``n`` bytes passes ``n + 1`` and so learns, without
            reading on, that the file was longer.
        buffer: a reusable read buffer (allocated when not given).
        on_bytes: called with each chunk's length, for progress display.

    Returns:
        The lowercase hex SHA-256 of the bytes read, and how many were read.

    Raises:
        OSError: a read failed.
    """
    buf = buffer if buffer is not None else bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    digest = hashlib.sha256()
    left = -1 if limit is None else limit
    total = 0
    while left:
        chunk = view if left < 0 or left >= len(buf) else view[:left]
        n = os.readv(fd, [chunk])
        if n == 0:
            break
        digest.update(view[:n])
        total += n
        left = left - n if left > 0 else left
        if on_bytes is not None:
            on_bytes(n)
    return digest.hexdigest(), total


def sha256_file(
    path: str | bytes | os.PathLike[str],
    *,
    on_bytes: ProgressCallback | None = None,
    buffer: bytearray | None = None,
) -> str:
    """Hash one whole file without following a final symlink.

    Args:
        path: the file to hash.
        on_bytes: called with each chunk's length, for progress display.
        buffer: a reusable read buffer (allocated when not given).

    Returns:
        The lowercase hex SHA-256 of the file's bytes.

    Raises:
        OSError: the file could not be opened or read (``ELOOP`` when it is
            a symlink: a file replaced by a link after listing is not followed).
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        return sha256_fd(fd, buffer=buffer, on_bytes=on_bytes)[0]
    finally:
        os.close(fd)


def hash_files(
    jobs: Iterable[tuple[K, str | bytes]],
    *,
    workers: int | None = None,
    on_bytes: ProgressCallback | None = None,
) -> Iterator[tuple[K, str | OSError]]:
    """Hash many whole files in parallel.

    Args:
        jobs: ``(key, path)`` pairs; the key is handed back with the result.
        workers: number of threads (default: one per core).
        on_bytes: progress callback, see :func:`sha256_file`.

    Yields:
        ``(key, hex digest)`` or ``(key, OSError)`` for every job, in the
        order the jobs were given.
    """

    def one(job: tuple[K, str | bytes], buffer: bytearray) -> tuple[K, str | OSError]:
        key, path = job
        try:
            return key, sha256_file(path, on_bytes=on_bytes, buffer=buffer)
        except OSError as e:
            return key, e

    yield from map_parallel(one, list(jobs), workers=workers)


def map_parallel(
    fn: Callable[[T, bytearray], R],
    items: Sequence[T],
    *,
    workers: int | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[R]:
    """``[fn(item, buffer) for item in items]``, on a few threads, each with its own read buffer.

    Items are taken in order by whichever worker is free (so callers put the
    longest jobs first). Lighter than :class:`~concurrent.futures.ThreadPoolExecutor`:
    no future per item, which matters for thousands of small files.

    Args:
        fn: the work; it gets the item and the worker's reusable
            :data:`CHUNK_SIZE` buffer. It should not raise: an exception is
            re-raised here after the other workers stopped taking items.
        items: the jobs.
        workers: number of threads (default: one per core).
        meanwhile: run on the calling thread while the workers work.

    Returns:
        The results, in the order of ``items``.
    """
    nworkers = min(workers or default_workers(), len(items))
    if nworkers <= 1:
        if meanwhile is not None:
            meanwhile()
        buffer = bytearray(CHUNK_SIZE)
        return [fn(item, buffer) for item in items]

    results: list[R | None] = [None] * len(items)
    next_index = iter(range(len(items)))
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def work() -> None:
        buffer = bytearray(CHUNK_SIZE)
        while not stop.is_set():
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i], buffer)
            except BaseException as e:  # noqa: BLE001 - handed to the calling thread, which re-raises it
                failures.append(e)
                stop.set()
                return

    # Daemon threads: an interrupted or abandoned run (Ctrl-C, --max-seconds)
    # must not keep the process alive until every file is hashed.
    threads = [threading.Thread(target=work, name=f"attest-hash-{n}", daemon=True) for n in range(nworkers)]
    for t in threads:
        t.start()
    try:
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        stop.set()
        raise
    finally:
        for t in threads:
            t.join()
    if failures:
        raise failures[0]
    return cast("list[R]", results)  # every slot is filled: no worker failed
