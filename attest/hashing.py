"""Streaming, parallel SHA-256 of local files.

Files are read in large chunks into one reused buffer per worker and hashed
with :mod:`hashlib`, which releases the GIL while it hashes, so a thread pool
uses every core. A file that cannot be opened or read is reported as the
:class:`OSError` it raised, never skipped: the caller decides that it is an
``unreadable`` finding.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["CHUNK_SIZE", "default_workers", "hash_files", "sha256_file"]

#: Bytes read per system call; large enough that per-call overhead vanishes.
CHUNK_SIZE = 1 << 20

K = TypeVar("K")

#: Called with a number of bytes just hashed, from any worker thread.
ProgressCallback = Callable[[int], None]


def default_workers() -> int:
    """One worker per usable core (at least one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def sha256_file(
    path: str | bytes | os.PathLike[str],
    *,
    on_bytes: ProgressCallback | None = None,
    buffer: bytearray | None = None,
) -> str:
    """Hash one file without following a final symlink.

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
    buf = buffer if buffer is not None else bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    digest = hashlib.sha256()
    # O_NOFOLLOW: a file swapped for a link after listing is an error, not a
    # read of the link's target. O_NONBLOCK: a file swapped for a FIFO cannot
    # hang the dock.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            digest.update(view[:n])
            if on_bytes is not None:
                on_bytes(n)
    finally:
        os.close(fd)
    return digest.hexdigest()


def hash_files(
    jobs: Iterable[tuple[K, str | bytes]],
    *,
    workers: int | None = None,
    on_bytes: ProgressCallback | None = None,
) -> Iterator[tuple[K, str | OSError]]:
    """Hash many files in parallel.

    Args:
        jobs: ``(key, path)`` pairs; the key is handed back with the result.
        workers: number of threads (default: one per core).
        on_bytes: progress callback, see :func:`sha256_file`.

    Yields:
        ``(key, hex digest)`` or ``(key, OSError)`` for every job, in the
        order the jobs were given.
    """
    nworkers = workers or default_workers()
    local = _ThreadBuffers()

    def one(job: tuple[K, str | bytes]) -> tuple[K, str | OSError]:
        key, path = job
        try:
            return key, sha256_file(path, on_bytes=on_bytes, buffer=local.get())
        except OSError as e:
            return key, e

    job_list = list(jobs)
    if nworkers == 1 or len(job_list) <= 1:
        yield from map(one, job_list)
        return
    with ThreadPoolExecutor(max_workers=nworkers, thread_name_prefix="attest-hash") as pool:
        yield from pool.map(one, job_list)


class _ThreadBuffers:
    """One read buffer per worker thread, so chunks are never reallocated."""

    def __init__(self) -> None:
        import threading

        self._local = threading.local()

    def get(self) -> bytearray:
        buf: bytearray | None = getattr(self._local, "buf", None)
        if buf is None:
            buf = bytearray(CHUNK_SIZE)
            self._local.buf = buf
        return buf
