"""Measure a local directory: a mounted SD card, an unpacked firmware or root-filesystem image.

Regular files are hashed by the dock (SHA-256, in parallel); symlinks are
recorded by their target and never followed; other special files are
recorded by type; every entry records mode, uid and gid. Paths are handled
as bytes end to end, so names that are not UTF-8 are measured like any other.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from attest.collectors.base import Collector
from attest.errors import TransportError
from attest.hashing import hash_files
from attest.model import Component, DeviceIdentity, Evidence
from attest.names import encode_name
from attest.progress import Progress
from attest.selection import Selection

__all__ = ["DirectoryCollector", "file_kind", "stat_attributes"]


_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
}


def file_kind(mode: int) -> str:
    """The component kind of a file with ``st_mode`` = ``mode``."""
    return _KINDS.get(stat.S_IFMT(mode), "unknown")


def stat_attributes(st: os.stat_result) -> dict[str, str | int | bool | None]:
    """The compared attributes of an ``lstat`` result (the symlink target is added by the caller)."""
    attrs: dict[str, str | int | bool | None] = {
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    if stat.S_ISREG(st.st_mode):
        attrs["size"] = st.st_size
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        attrs["major"], attrs["minor"] = os.major(st.st_rdev), os.minor(st.st_rdev)
    return attrs


class DirectoryCollector(Collector):
    """Measures the tree below ``root``."""

    kind = "directory"

    def __init__(self, root: str, *, target: str | None = None, workers: int | None = None) -> None:
        """Measure ``root``.

        Args:
            root: the directory to measure.
            target: the target string as the user gave it (for reports).
            workers: hashing threads (default: one per core).
        """
        self._root = os.fsencode(root)
        self._target = target if target is not None else root
        self._workers = workers

    def _collect(
        self, settings: Mapping[str, Any], *, nonce: str, device_match: Mapping[str, str], progress: Progress
    ) -> Evidence:
        del device_match  # a directory has no identity to check
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
        try:
            st = os.stat(self._root)
        except FileNotFoundError as e:
            raise TransportError(f"{self._target}: device path does not exist") from e
        except OSError as e:
            raise TransportError(f"{self._target}: cannot open device path: {e.strerror}") from e
        if not stat.S_ISDIR(st.st_mode):
            raise TransportError(f"{self._target}: not a directory")

        components: dict[str, Component] = {}
        to_hash: list[tuple[str, bytes]] = []
        sizes: dict[str, int] = {}
        for name, path, entry_st in _walk(self._root, selection):
            if isinstance(entry_st, str):
                components[name] = Component(name=name, kind="unknown", error=entry_st)
                continue
            kind = file_kind(entry_st.st_mode)
            attrs = stat_attributes(entry_st)
            err = None
            if kind == "symlink":
                try:
                    attrs["target"] = encode_name(os.readlink(path))
                except OSError as e:
                    err = f"cannot read link: {e.strerror}"
            components[name] = Component(name=name, kind=kind, attributes=attrs, error=err)
            if kind == "file":
                to_hash.append((name, path))
                sizes[name] = entry_st.st_size

        progress.start(sum(sizes.values()), "hashing")
        # Largest first: a big file started last would leave one core hashing alone.
        to_hash.sort(key=lambda job: -sizes[job[0]])
        for name, outcome in hash_files(to_hash, workers=self._workers, on_bytes=progress.advance):
            old = components[name]
            if isinstance(outcome, OSError):
                components[name] = Component(
                    name=name, kind=old.kind, attributes=old.attributes, error=f"cannot read: {outcome.strerror}"
                )
            else:
                components[name] = Component(name=name, kind=old.kind, digest=outcome, attributes=old.attributes)

        device = DeviceIdentity(
            kind=self.kind,
            id=os.fsdecode(os.path.abspath(self._root)),
            target=self._target,
        )
        return Evidence(
            device=device,
            components=dict(sorted(components.items())),
            nonce=nonce,
            collected_at=datetime.now(UTC),
        )


def _walk(root: bytes, selection: Selection) -> Iterator[tuple[str, bytes, os.stat_result | str]]:
    """Yield ``(name, path, lstat result or error message)`` for every selected entry below ``root``.

    A directory that cannot be listed is yielded with an error (even if the
    directory itself is not selected): what is below it is unknown.
    """
    stack: list[bytes] = [b""]
    while stack:
        rel = stack.pop()
        path = os.path.join(root, rel) if rel else root
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            yield encode_name(rel) if rel else ".", path, f"cannot list directory: {e.strerror}"
            continue
        for entry in entries:
            child = os.path.join(rel, entry.name) if rel else entry.name
            name = encode_name(child)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                yield name, entry.path, f"cannot stat: {e.strerror}"
                continue
            if selection.selects(name):
                yield name, entry.path, st
            if stat.S_ISDIR(st.st_mode) and not selection.prunes(name):
                stack.append(child)
