"""A dock's state directory, safe from its own user: what root writes there stays the dock's, and lands where meant.

The state directory (``/var/lib/attest``) belongs to the dock's service user;
a technician may run ``attest`` there as root (``sudo attest verify``,
``attest trust update``, ``attest gate rebuild``). Two things must then hold:

* every file or directory root creates belongs to the directory's owner
  (:func:`owner_for_root`), or the dock could no longer read or lock it and
  would block every drone;
* nothing the owner planted redirects root: a symbolic link or a hard link in
  place of a lock, a file or a subdirectory must never make root write,
  create or chown something elsewhere, and a FIFO must never make it hang.

Files directly in the state directory are opened with ``O_NOFOLLOW`` and
replaced by rename (which never follows a link); a lock is handed over only
when it is a regular file with one link (:func:`hand_over`). A subdirectory
(the gate's, the Sigstore roots') is opened once, without following a link,
as a :class:`PrivateDir`: every file in it is then opened, written and renamed
relative to that descriptor, so a directory swapped for a link afterwards
changes nothing. State files are read with :func:`read_state_file`: regular
files only, never blocking, bounded.

Hand-written: this is the project's own rule for its own directory; no
library states it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import Self

from attest.errors import ConfigError
from attest.fsutil import atomic_write_at

__all__ = ["PrivateDir", "hand_over", "open_lock", "owner_for_root", "read_state_file"]


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


def open_lock(path: Path, owner: tuple[int, int] | None, *, dir_fd: int | None = None) -> int:
    """Open (creating, 0600) the lock file ``path``, handed over to ``owner``; the caller closes it.

    Never through a symbolic link (``O_NOFOLLOW``). With ``dir_fd``, the file ``path.name`` of that
    directory is opened (``path`` names it in messages).

    Raises:
        ConfigError: it cannot be opened, is a symbolic link, or is not a regular file of its own.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path if dir_fd is None else path.name, flags, 0o600, dir_fd=dir_fd)
    except OSError as e:
        raise ConfigError(f"{path}: cannot open the lock: {e.strerror}") from e
    try:
        hand_over(fd, owner, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_state_file(path: Path, limit: int, *, what: str, dir_fd: int | None = None) -> bytes | None:
    """A regular file of the state directory, at most ``limit`` bytes; ``None`` only when it does not exist.

    Never through a symbolic link (``O_NOFOLLOW``), never blocking on a FIFO
    (``O_NONBLOCK``, then ``fstat`` must say "regular file"). With ``dir_fd``,
    the file ``path.name`` of that directory is read (``path`` names it in messages).

    Raises:
        ConfigError: anything else: it cannot be opened or read, it is not a
            regular file, or it is larger than ``limit``.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path if dir_fd is None else path.name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"{path}: the {what} is a symbolic link; refusing to continue") from e
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}; refusing to continue") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: the {what} is not a regular file; refusing to continue")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}; refusing to continue") from e
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(f"{path}: the {what} is larger than {limit} bytes; refusing to continue")
    return b"".join(chunks)


class PrivateDir:
    """A subdirectory of the state directory, opened once; its files are used through the descriptor.

    Use :meth:`open` as a context manager. Whatever is put at the
    directory's name after it was opened (a link to ``/etc``, say) is never
    followed: reads, locks, writes and renames all happen in the directory
    that was opened.
    """

    def __init__(self, fd: int, path: Path, owner: tuple[int, int] | None) -> None:
        self.fd = fd
        self.path = path
        self.owner = owner

    @classmethod
    def open(cls, path: Path) -> Self:
        """Open ``path`` (created with mode 0700 if missing), given to the state directory's owner when root.

        The owner is that of ``path``'s parent, the state directory itself.

        Raises:
            ConfigError: it cannot be made, opened or given, or something other than a
                directory is there (a symbolic link would put what is written wherever it points).
        """
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{path.parent}: cannot create the state directory: {e.strerror}") from e
        owner = owner_for_root(path.parent)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise ConfigError(f"{path}: cannot create: {e.strerror}") from e
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise ConfigError(f"{path}: not a directory (a symbolic link?); refusing to continue") from e
            raise ConfigError(f"{path}: cannot open: {e.strerror}") from e
        try:
            st = os.fstat(fd)
            if owner is not None and (st.st_uid, st.st_gid) != owner:
                os.fchown(fd, *owner)  # the directory opened, not whatever its name points at now
        except OSError as e:
            os.close(fd)
            raise ConfigError(f"{path}: cannot give it to the state directory's owner: {e.strerror}") from e
        return cls(fd, path, owner)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the directory (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def lock_file(self, name: str) -> int:
        """Open (creating, 0600) the lock file ``name``, handed over to the owner; the caller closes it.

        Raises:
            ConfigError: it cannot be opened, is a symbolic link, or is not a regular file of its own.
        """
        return open_lock(self.path / name, self.owner, dir_fd=self.fd)

    def read(self, name: str, limit: int, *, what: str) -> bytes | None:
        """:func:`read_state_file` of ``name`` in this directory."""
        return read_state_file(self.path / name, limit, what=what, dir_fd=self.fd)

    def write(self, name: str, data: bytes, *, mode: int = 0o600) -> None:
        """Replace ``name`` atomically, the new file the owner's from its creation.

        Raises:
            ConfigError: it cannot be written.
        """
        atomic_write_at(self.fd, name, data, mode=mode, owner=self.owner, label=self.path / name)
