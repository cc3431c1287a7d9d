r"""The files of a log directory: names, byte formats, bounded and careful IO, creation.

Layout (docs/log.md has the details)::

    format        "drone-attest log v1\\n"
    origin        the log's origin line, fixed at creation
    checkpoint    the latest signed checkpoint (C2SP tlog-checkpoint), replaced atomically
    entries       every entry: u32 big-endian length, then the entry's bytes
    entries.idx   u64 big-endian end offset in ``entries`` of every entry
    hashes.L      stored interior hashes, level L (see :mod:`attest.log.tiles`)
    lock          flock(2) target that serialises appenders
    uncommitted/  tails cut off by crash repair, kept for inspection, never part of the log
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from attest.errors import ConfigError, LogError
from attest.fsutil import fsync_dir, write_new
from attest.log.note import check_key_name
from attest.log.tiles import level_file

__all__ = [
    "CHECKPOINT",
    "END_RECORD",
    "ENTRIES",
    "FORMAT",
    "FORMAT_LINE",
    "INDEX",
    "LEN_PREFIX",
    "LOCK",
    "ORIGIN",
    "UNCOMMITTED",
    "create_layout",
    "open_regular",
    "pread_exact",
    "pwrite_all",
    "read_origin",
    "read_small",
]

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
MAX_SMALL_FILE = 4096
LEN_PREFIX = 4  # bytes of an entry's length prefix
END_RECORD = 8  # bytes of an index record


def pread_exact(fd: int, n: int, offset: int) -> bytes:
    """Up to ``n`` bytes at ``offset``; fewer only at the end of the file."""
    chunks = []
    while n > 0:
        b = os.pread(fd, n, offset)
        if not b:
            break
        chunks.append(b)
        n -= len(b)
        offset += len(b)
    return b"".join(chunks)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """All of ``data`` at ``offset`` (pwrite may write less than asked)."""
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


def read_small(path: Path, limit: int = MAX_SMALL_FILE) -> bytes | None:
    """A small file's bytes, ``None`` if missing; ConfigError if unreadable, LogError if too large."""
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        data = pread_exact(fd, limit + 1, 0)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise LogError(f"{path}: larger than {limit} bytes")
    return data


def read_origin(directory: Path) -> str:
    """The log's origin, after checking its format line.

    Raises:
        ConfigError: an unknown format, or a missing or invalid origin.
    """
    fmt = read_small(directory / FORMAT)
    if fmt != FORMAT_LINE:
        raise ConfigError(
            f"{directory}: unknown log format (expected {FORMAT} to say {FORMAT_LINE.decode().strip()!r})"
        )
    data = read_small(directory / ORIGIN) or b""
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


def create_layout(directory: Path, origin: str | None) -> None:
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
