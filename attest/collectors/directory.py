"""Measure a local directory: a mounted SD card, an unpacked firmware or root-filesystem image.

Regular files are hashed by the dock (SHA-256, in parallel); symlinks are
recorded by their target and never followed; other special files are
recorded by type; every entry records mode, uid, gid and its security-relevant
extended attributes (file capabilities, POSIX ACLs, LSM labels: see
:mod:`attest.xattrs`). Each entry is measured through one descriptor
(:mod:`attest.collectors.local_entry`), so an entry swapped while it is
measured is an error, never a mix of two versions. When verifying, a file
the baseline does not name or whose size differs is not hashed (it differs
whatever its bytes are), so an unexpected 8 TiB sparse file costs no time.
Paths are handled as bytes end to end, so names that are not UTF-8 are
measured like any other.

When verifying, a new directory that only leads to excluded subtrees (``var``
and ``var/log`` for ``--exclude 'var/log/**'``) is left out of the evidence
rather than reported as unexpected (:meth:`attest.selection.Selection.lead_ins`);
one the baseline names is measured and compared as usual.

The device's id is the real path of the directory (absolute, symlinks
resolved, as the kernel resolves them to reach the tree that is measured), on
every result, pass or not: ``./golden``, ``golden/`` and ``/srv/golden`` (or a
symlink to it) are one device; the target as given stays in ``device.target``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from attest.collectors.base import Collector
from attest.collectors.local_entry import Measured, file_kind, measure_file, measure_other, stat_attributes
from attest.errors import CollectionError, TransportError
from attest.hashing import map_parallel
from attest.model import Component, DeviceIdentity, Evidence
from attest.names import encode_name
from attest.progress import Progress
from attest.selection import Selection

__all__ = ["DirectoryCollector", "file_kind", "stat_attributes"]

_Entry = tuple[str, bytes, os.stat_result]


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

    def stable_id(
        self, target: str, device_match: Mapping[str, str], *, expected: Mapping[str, Component] | None = None
    ) -> str:
        """The directory's real path (see the module docstring); the same on every result."""
        del target, device_match, expected
        return os.fsdecode(os.path.realpath(self._root))

    def _collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        """Measure the tree; see :meth:`Collector.collect`.

        ``expected`` (the trusted baseline's components when verifying): a file
        they do not name, or whose kind or size differs, is recorded with
        ``not_hashed`` instead of a digest; ``None`` (making a baseline) hashes
        every selected file in full.
        """
        del device_match  # a directory has no identity to check
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
        # Only a verification leaves out new lead-in directories, so only it needs what the walk skipped.
        unselected: list[tuple[str, bool]] | None = [] if expected is not None and selection.exclude else None
        try:
            st = os.stat(self._root)
        except FileNotFoundError as e:
            raise TransportError(f"{self._target}: device path does not exist") from e
        except OSError as e:
            raise TransportError(f"{self._target}: cannot open device path: {e.strerror}") from e
        if not stat.S_ISDIR(st.st_mode):
            raise TransportError(f"{self._target}: not a directory")
        if not os.path.isdir("/proc/self/fd"):
            raise CollectionError("cannot measure a directory without /proc (extended attributes are read through it)")

        unlisted: dict[str, Component] = {}  # entries the walk could not stat, directories it could not list
        files: list[_Entry] = []
        others: list[_Entry] = []
        for name, path, entry_st in _walk(self._root, selection, unselected=unselected):
            if isinstance(entry_st, str):
                unlisted[name] = Component(name=name, kind="unknown", error=entry_st)
            elif stat.S_ISREG(entry_st.st_mode):
                files.append((name, path, entry_st))
            else:
                others.append((name, path, entry_st))

        # Largest first: a big file started last would leave one core hashing alone.
        files.sort(key=lambda entry: -entry[2].st_size)
        progress.start(_hashed_bytes(files, expected), "hashing")
        measured_others: list[Measured] = []

        def one_file(entry: _Entry, buffer: bytearray) -> Measured:
            name, path, walked = entry
            return measure_file(name, path, walked, expected=expected, buffer=buffer, on_bytes=progress.advance)

        def the_others() -> None:  # on this thread, while the workers hash
            measured_others.extend(measure_other(*entry) for entry in others)

        measured = map_parallel(one_file, files, workers=self._workers, meanwhile=the_others)
        unsupported = []
        components = dict(unlisted)
        for m in (*measured, *measured_others):
            name = m.component.name
            if name in unlisted:
                continue  # a directory that could not be listed: what is below it is unknown, keep the error
            components[name] = m.component
            if m.xattrs_unsupported:
                unsupported.append(name)
        if unselected is not None and expected is not None:
            listed = [(n, c.kind == "directory") for n, c in components.items()] + unselected
            for name in selection.lead_ins(listed, keep=lambda n: n in expected or _has_error(components, n)):
                del components[name]

        notes: dict[str, Any] = {}
        if unsupported:
            # Recorded, not a finding: the run says what it could not see. A baseline that
            # holds xattrs for such a file still differs from the absent value measured here.
            notes["xattrs"] = (
                f"not measured for {len(unsupported)} component(s): the filesystem does not list "
                f"extended attributes (ENOTSUP; first {min(unsupported)!r})"
            )
        device = DeviceIdentity(kind=self.kind, id=self.stable_id(self._target, {}), target=self._target)
        return Evidence(
            device=device,
            components=dict(sorted(components.items())),
            nonce=nonce,
            collected_at=datetime.now(UTC),
            notes=notes,
        )


def _hashed_bytes(files: list[_Entry], expected: Mapping[str, Component] | None) -> int:
    """How many bytes will probably be hashed (for the progress total only): a file the baseline names at its size."""
    if expected is None:
        return sum(entry[2].st_size for entry in files)
    total = 0
    for name, _, walked in files:  # a loop, not a call per file: thousands of files
        want = expected.get(name)
        if want is not None and want.attributes.get("size") == walked.st_size:
            total += walked.st_size
    return total


def _has_error(components: Mapping[str, Component], name: str) -> bool:
    c = components.get(name)
    return c is not None and c.error is not None


def _walk(
    root: bytes, selection: Selection, *, unselected: list[tuple[str, bool]] | None = None
) -> Iterator[tuple[str, bytes, os.stat_result | str]]:
    """Yield ``(name, path, lstat result or error message)`` for every selected entry below ``root``.

    A directory that cannot be listed is yielded with an error (even if the
    directory itself is not selected): what is below it is unknown. Every
    entry listed but not selected is appended to ``unselected`` as ``(name,
    is a directory)``, when given.
    """
    # Each directory's path and name prefixes are built once, not per entry: a name is
    # its directory's name, "/", and the entry's own encoded name (encode_name escapes
    # byte by byte, and "/" is never part of a multi-byte character, so this is the
    # encoding of the whole relative path).
    stack: list[tuple[bytes, str]] = [(b"", "")]
    while stack:
        rel, rel_name = stack.pop()
        path = os.path.join(root, rel) if rel else root
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            yield rel_name if rel else ".", path, f"cannot list directory: {e.strerror}"
            continue
        rel_prefix = rel + b"/" if rel else b""
        name_prefix = rel_name + "/" if rel else ""
        for entry in entries:
            raw = entry.name
            name = name_prefix + encode_name(raw)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                yield name, entry.path, f"cannot stat: {e.strerror}"
                continue
            if selection.selects(name):
                yield name, entry.path, st
            elif unselected is not None:
                unselected.append((name, stat.S_ISDIR(st.st_mode)))
            if stat.S_ISDIR(st.st_mode) and not selection.prunes(name):
                stack.append((rel_prefix + raw, name))
