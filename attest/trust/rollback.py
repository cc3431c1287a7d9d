"""The rollback state: the highest version of each baseline name accepted on this dock.

A baseline older than one already accepted is refused, so an attacker cannot
replay an old, once-approved baseline that approved what has since been fixed.
The state fails closed: a corrupt file stops every verification rather than
re-opening every old version.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from attest.errors import ConfigError, UntrustedBaselineError
from attest.fsutil import atomic_write
from attest.jsonutil import JSONFormatError, loads
from attest.statedir import open_lock, owner_for_root, read_state_file

__all__ = ["RollbackState"]


class RollbackState:
    """Highest accepted version per baseline name, in ``STATE_DIR/accepted-versions.json``.

    Updates take an exclusive lock and replace the file atomically, so two
    docks processes never lose each other's updates.
    """

    FILE = "accepted-versions.json"
    #: The state file is small (one line per baseline name); a larger one is corrupt.
    MAX_BYTES = 16 * 1024 * 1024

    def __init__(self, state_dir: Path) -> None:
        """Use (and create with mode 0700 if missing) ``state_dir``.

        Raises:
            ConfigError: the directory cannot be created or used.
        """
        self.dir = state_dir
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{state_dir}: cannot create state directory: {e.strerror}") from e
        if not state_dir.is_dir():
            raise ConfigError(f"{state_dir}: state directory is not a directory")
        self._path = state_dir / self.FILE

    def _read(self) -> dict[str, int]:
        """The state, or ``{}`` when there is no file yet.

        Raises:
            ConfigError: unreadable, or corrupt: not strict JSON
                (:func:`attest.jsonutil.loads`: duplicate names, huge integers,
                deep nesting), or not an object of positive integer versions.
        """
        # Never through a link, never blocking on a FIFO: root may read this in the dock user's directory.
        raw = read_state_file(self._path, self.MAX_BYTES, what="rollback state")
        if raw is None:
            return {}
        try:
            data = loads(raw)
        except JSONFormatError as e:
            # Fail closed: losing this file would re-open every old version.
            raise ConfigError(f"{self._path}: rollback state is corrupt ({e}); refusing to continue") from e
        if not isinstance(data, dict) or not all(type(v) is int and v >= 1 for v in data.values()):
            raise ConfigError(f"{self._path}: rollback state is corrupt; refusing to continue")
        return data

    def highest(self, name: str) -> int | None:
        """The highest version of ``name`` accepted so far."""
        return self._read().get(name)

    def check_and_accept(self, name: str, version: int) -> None:
        """Refuse a version below the highest accepted; else record it as accepted.

        Raises:
            UntrustedBaselineError: ``version`` is a rollback.
            ConfigError: the state cannot be read or written.
        """
        lock_path = self.dir / ".lock"
        # Root (a technician's sudo) writes as the dock's user: root's 0600 files would block the dock.
        owner = owner_for_root(self.dir)
        lock_fd = open_lock(lock_path, owner)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            data = self._read()
            best = data.get(name)
            if best is not None and version < best:
                raise UntrustedBaselineError(
                    f"baseline {name!r} version {version} is older than accepted version {best} (rollback)"
                )
            # Root also rewrites a state file that is not the owner's (an older release left root's there).
            if best is None or version > best or (owner is not None and self._owned_by() != owner):
                data[name] = version  # not below best: a rollback was refused above
                atomic_write(
                    self._path, (json.dumps(data, sort_keys=True, indent=2) + "\n").encode(), mode=0o600, owner=owner
                )
        finally:
            os.close(lock_fd)

    def _owned_by(self) -> tuple[int, int] | None:
        """The state file's owner and group (``None`` when there is none)."""
        try:
            st = os.lstat(self._path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(f"{self._path}: cannot use the rollback state: {e.strerror}") from e
        return st.st_uid, st.st_gid
