"""Durable file writes: whole, fsynced, and atomic where a reader may be looking.

Also who owns what root writes into a dock's state directory: that directory
belongs to the dock's service user, and a technician running ``attest`` as root
there must not leave files that user cannot read or lock (the dock would then
block every drone). :func:`owner_for_root` names that user; the writers here
take it as ``owner``, and :func:`hand_over` gives it an open lock file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from attest.errors import AttestError, ConfigError

__all__ = ["atomic_write", "fsync_dir", "hand_over", "make_private_dir", "owner_for_root", "read_bounded", "write_new"]


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


def owner_for_root(directory: Path) -> tuple[int, int] | None:
    """Whom the files root creates in a state ``directory`` must belong to: its owner, if not root.

    ``None`` when this process is not root (its files are its own, as the
    directory must be) or the directory is root's.

    Raises:
        ConfigError: the directory cannot be looked at.
    """
    if os.geteuid() != 0:
        return None
    try:
        st = os.stat(directory)
    except OSError as e:
        raise ConfigError(f"{directory}: cannot use the state directory: {e.strerror}") from e
    return (st.st_uid, st.st_gid) if st.st_uid != 0 else None


def make_private_dir(path: Path, owner: tuple[int, int] | None) -> None:
    """Create directory ``path`` (mode 0700) if it is missing, given to ``owner`` (:func:`owner_for_root`).

    Raises:
        ConfigError: it cannot be made or given, or something else is there
            (a symbolic link would put what is written inside wherever it points).
    """
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and owner is not None and (st.st_uid, st.st_gid) != owner:
            os.chown(path, *owner, follow_symlinks=False)
    except OSError as e:
        raise ConfigError(f"{path}: cannot create: {e.strerror}") from e
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{path}: not a directory (a symbolic link?); refusing to continue")


def hand_over(fd: int, owner: tuple[int, int] | None, path: Path) -> None:
    """Give the open lock file ``fd`` (at ``path``) to ``owner`` (:func:`owner_for_root`; ``None``: nothing to do).

    Raises:
        ConfigError: it is not a regular file of its own (a hard link planted
            under its name must not make root hand over the linked file), or
            it cannot be given.
    """
    if owner is None:
        return
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) == owner:
            return
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise ConfigError(f"{path}: not a regular file of its own (a hard link?); refusing to continue")
        os.fchown(fd, *owner)
    except OSError as e:
        raise ConfigError(f"{path}: cannot give it to the state directory's owner: {e.strerror}") from e


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` so that readers see the old or the new content, never a torn one.

    ``owner`` (uid, gid), if given, owns the file from before it appears under ``path``
    (root writing into another user's directory: the file is created afresh,
    ``O_EXCL``, so that a file planted under the temporary name is never chowned).

    Raises:
        ConfigError: it cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        if owner is not None:
            tmp.unlink(missing_ok=True)
            flags |= os.O_EXCL
        fd = os.open(tmp, flags, mode)
        try:
            if owner is not None:
                os.fchown(fd, *owner)
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent if str(path.parent) else Path("."))
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write: {e.strerror}") from e


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
