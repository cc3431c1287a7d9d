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
    "file_kind",
    "open_regular",
    "pread_exact",
    "pwrite_all",
    "read_origin",
    "read_regular",
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


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What ``mode`` (from ``stat``) says a file is, for messages: ``a FIFO``, ``a directory``, ..."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path, *, writable: bool = False) -> int:
    """Open one file of a log: a regular file, never through a symlink, never blocking.

    Every file of a log directory is opened here, the ``lock`` included: a
    copied log is untrusted input, and rsync copies FIFOs. ``O_NONBLOCK``
    makes opening a FIFO return at once (a blocking open would wait forever
    for a writer), ``O_NOFOLLOW`` refuses a symlink to some other file, and
    ``fstat`` must then say "regular file" before a byte is read.

    Args:
        path: the file.
        writable: open read-write and create the file when missing (an
            appender holding the lock); else read-only.

    Raises:
        FileNotFoundError: it does not exist (read-only).
        LogError: it is a symbolic link, a FIFO, a directory or any other non-regular file.
        OSError: it cannot be opened.
    """
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LogError(f"{path}: a symbolic link, not a regular file") from e
        if e.errno == errno.EISDIR:
            raise LogError(f"{path}: a directory, not a regular file") from e
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise LogError(f"{path}: {file_kind(mode)}, not a regular file (every file of a log is one)")
    return fd


def read_small(path: Path, limit: int = MAX_SMALL_FILE) -> bytes | None:
    """A small file of the log (``format``, ``origin``, ``checkpoint``), ``None`` if missing.

    Raises:
        ConfigError: it cannot be read.
        LogError: it is larger than ``limit``, or not a regular file (see :func:`open_regular`).
    """
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


def read_regular(path: Path, limit: int, *, what: str) -> bytes:
    """A whole file a user names (a proof, a kept checkpoint, a verifier key), at most ``limit`` bytes.

    Opened by the rule of :func:`open_regular`: a FIFO or a device in its
    place is refused at once instead of blocking the command.

    Raises:
        ConfigError: it is missing, unreadable, not a regular file, or larger than ``limit``.
    """
    try:
        fd = open_regular(path)
    except LogError as e:
        raise ConfigError(f"cannot read the {what}: {e}") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}") from e
    try:
        data = pread_exact(fd, limit + 1, 0)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}") from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ConfigError(f"{path}: too large to be a {what} (over {limit} bytes)")
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
