"""Durable file writes: whole, fsynced, and atomic where a reader may be looking."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from attest.errors import AttestError, ConfigError

__all__ = ["atomic_write", "atomic_write_at", "fsync_dir", "read_bounded", "write_new"]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, mode: int, *, owner: tuple[int, int] | None = None) -> None:
    """Create ``path`` with exactly ``mode``; never replace an existing file.

    ``owner`` (uid, gid), if given, owns the file before any byte is written.

    Raises:
        ConfigError: it exists or cannot be created.
    """
    # O_EXCL closes the race between a caller's exists() check and the write;
    # the mode is set at creation, so a secret is never readable by others.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    except FileExistsError as e:
        raise ConfigError(f"{path}: already exists; refusing to overwrite") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot create: {e.strerror}") from e
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)  # the umask may have narrowed it
        _write_all(fd, data)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e.strerror}") from e
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` so that readers see the old or the new content, never a torn one.

    ``owner`` (uid, gid), if given, owns the file from before it appears under ``path``
    (root writing into another user's directory: the file is created afresh,
    ``O_EXCL``, so that a file planted under the temporary name is never chowned).

    Raises:
        ConfigError: it cannot be written.
    """
    parent = path.parent if str(path.parent) else Path(".")
    try:
        dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e.strerror}") from e
    try:
        atomic_write_at(dir_fd, path.name, data, mode=mode, owner=owner, label=path)
    finally:
        os.close(dir_fd)


def atomic_write_at(
    dir_fd: int, name: str, data: bytes, *, mode: int = 0o644, owner: tuple[int, int] | None = None, label: Path
) -> None:
    """:func:`atomic_write` of the file ``name`` in the open directory ``dir_fd`` (``label`` names it in messages).

    Everything happens relative to ``dir_fd``: a link put in place of the
    directory's path meanwhile is never followed; the temporary file is never
    opened through a link (``O_NOFOLLOW``), and the rename replaces a link at
    ``name`` rather than following it.

    Raises:
        ConfigError: it cannot be written.
    """
    tmp = f".{name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        if owner is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            flags |= os.O_EXCL
        fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
        try:
            if owner is not None:
                os.fchown(fd, *owner)
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise ConfigError(f"{label}: cannot write: {e.strerror}") from e


def read_bounded(path: Path, limit: int, *, what: str, error: type[AttestError] = ConfigError) -> bytes:
    """Read a whole small file, refusing one larger than ``limit`` bytes.

    Args:
        path: the file.
        limit: the most bytes it may hold.
        what: what the file is, for messages ("trust policy", "key").
        error: the error type to raise (its exit code is the caller's choice).

    Raises:
        error: the file cannot be read or is too large.
    """
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e.strerror}") from e
    if len(data) > limit:
        raise error(f"{path}: too large to be a {what} (over {limit} bytes)")
    return data
