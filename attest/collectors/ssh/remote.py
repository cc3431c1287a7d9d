"""Remote mode: the device hashes the files, the dock audits a sample.

The device hashes in batched ``sha256sum`` runs (:data:`HASH_CHANNELS` of
them, one per core it is given; never one per file), started while the dock
is still listing (:class:`DeviceHashing`), with the paths as NUL-separated
data on stdin. Only after it has answered for every file does
:meth:`DeviceHashing.finish` audit a nonce-chosen sample over SFTP
(:func:`~attest.collectors.ssh.audit.audit`).
Audited files are ``dock-read``; the rest are ``device-reported``, and the
evidence notes say so.

Hand-written here: the parser of ``sha256sum -z`` output, which accepts only
well-formed records for paths that were asked for, each once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from attest.collectors.ssh.audit import audit
from attest.collectors.ssh.feed import PathFeed
from attest.collectors.ssh.listing import set_digest
from attest.errors import CollectionError
from attest.model import Component, Finding, Method
from attest.progress import Progress
from attest.transports.ssh import RemoteCommand, SftpSession, SshConnection, printable

__all__ = ["DEVICE_PARTITION_WAIT", "HASH_CHANNELS", "HASH_COMMAND", "MIN_DEVICE_RATE", "DeviceHashing"]

#: Remote mode: the device hashes every path it reads on stdin (NUL-separated)
#: in as few processes as xargs needs; ``-z`` ends each output record with a
#: NUL and turns off name escaping, so any name parses; ``--`` keeps a name
#: starting with '-' a name. The paths never enter the command line.
HASH_COMMAND = "exec xargs -0 -r sha256sum -z --"

#: Remote mode: hashing commands run side by side, each on its own channel
#: (a companion computer has several cores; sha256sum uses one).
HASH_CHANNELS = 2

#: Remote mode: the slowest hashing (bytes/s) a device may do before it counts as stalled.
MIN_DEVICE_RATE = 4e6
#: Remote mode: extra seconds of silence allowed when partitions (of unknown size) are hashed.
DEVICE_PARTITION_WAIT = 3600.0


class DeviceHashing:
    """Remote mode's :data:`HASH_CHANNELS` batched hashing commands, fed while the walk finds files.

    Each file goes to the command with the fewest bytes so far, so that the
    device's cores finish together; each command's output is its own stream,
    so records never interleave.
    """

    def __init__(self, conn: SshConnection) -> None:
        self._label = conn.target.label
        self._timeout = conn.timeout
        self._cmds = [conn.run(HASH_COMMAND) for _ in range(HASH_CHANNELS)]
        self._feeds = [PathFeed() for _ in self._cmds]
        for cmd, feed in zip(self._cmds, self._feeds, strict=True):
            cmd.feed(feed)
        self._load = [0] * len(self._cmds)
        self._jobs: list[tuple[list[bytes], list[int | None]]] = [([], []) for _ in self._cmds]

    def add(self, path: bytes, size: int | None) -> None:
        """Have the device hash ``path`` (``size`` None: a partition, weighed as 1 GiB)."""
        i = min(range(len(self._load)), key=self._load.__getitem__)
        self._feeds[i].put(path)
        self._load[i] += size if size is not None else 1 << 30
        self._jobs[i][0].append(path)
        self._jobs[i][1].append(size)

    def end_input(self) -> None:
        """No more paths."""
        for feed in self._feeds:
            feed.close()

    def groups(self) -> Iterator[tuple[RemoteCommand, list[bytes], list[int | None]]]:
        """Each command with the paths and sizes it was given."""
        for cmd, (paths, sizes) in zip(self._cmds, self._jobs, strict=True):
            yield cmd, paths, sizes

    def close(self) -> None:
        """Close every command's channel."""
        for cmd in self._cmds:
            cmd.close()

    def finish(
        self,
        sftp: SftpSession,
        components: dict[str, Component],
        contents: list[tuple[str, bytes, int | None]],
        *,
        nonce: str,
        audit_size: int | None,
        notes: dict[str, Any],
        progress: Progress,
    ) -> tuple[Finding, ...]:
        """Let the device hash everything, then audit a nonce-chosen sample; returns DEVICE_LIED findings.

        Args:
            sftp: the session for the audit.
            components: the listed components; every one in ``contents`` gets its digest or error.
            contents: ``(name, path, size or None)`` to hash; every path was added.
            nonce: the run's fresh nonce.
            audit_size: files to audit (``None``: the default sample).
            notes: the evidence notes (``audit``).
            progress: receives the bytes re-read by the audit.

        Raises:
            CollectionError: a hashing command failed as a whole or printed what ``sha256sum -z`` does not.
        """
        reported: dict[bytes, str] = {}
        try:
            for cmd, paths, sizes in self.groups():
                reported.update(_device_hashes(cmd, paths, sizes, timeout=self._timeout, label=self._label))
        finally:
            self.close()
        claimed = {}
        for name, path, _ in contents:
            set_digest(components, name, reported[path], Method.DEVICE_REPORTED)
            if not reported[path].startswith("cannot"):
                claimed[name] = reported[path]
        # The device has committed to every digest before it can see which files are checked.
        findings = audit(
            sftp,
            components,
            contents,
            claimed,
            checked="the digests the device's sha256sum reported",
            nonce=nonce,
            sample_size=audit_size,
            label=self._label,
            notes=notes,
            progress=progress,
        )
        notes["audit"]["device_reported"] = len(claimed) - len(notes["audit"]["sample"])
        return findings


def _device_hashes(
    cmd: RemoteCommand, paths: list[bytes], sizes: list[int | None], *, timeout: float, label: str
) -> dict[bytes, str]:
    """Every path's digest as one :data:`HASH_COMMAND` reports it, or an error message (``cannot ...``).

    ``cmd`` is the running :data:`HASH_COMMAND`, fed ``paths``. The
    device prints nothing while it hashes one file, so a wait may last the
    timeout plus that file's size at :data:`MIN_DEVICE_RATE` (or
    :data:`DEVICE_PARTITION_WAIT` when a block device is among them).

    Raises:
        CollectionError: the output is not what ``sha256sum -z`` prints, names
            a path not asked for, or the command failed as a whole.
    """
    largest = max((size or 0 for size in sizes), default=0)
    quiet = timeout + largest // MIN_DEVICE_RATE
    if any(size is None for size in sizes):
        quiet += DEVICE_PARTITION_WAIT
    cmd.set_timeout(quiet)
    limit = sum(len(p) + 67 for p in paths) + 1024
    out, status = cmd.result(limit, what="digests from the device's sha256sum", program="the device's sha256sum")
    # xargs: 0 all ran fine, 123 some file failed (reported per file below).
    if status not in (0, 123):
        raise CollectionError(
            f"{label}: the device's sha256sum failed (exit status {status}): {cmd.stderr_text()}; "
            "it needs GNU coreutils (sha256sum -z), or use --method pull"
        )
    records = out.split(b"\0")
    if records[-1] != b"":
        raise CollectionError(f"{label}: the device's sha256sum output is cut off (no final NUL)")
    wanted = set(paths)
    result: dict[bytes, str] = {}
    hexdigits = set(b"0123456789abcdef")
    for rec in records[:-1]:
        digest, sep, path = rec[:64], rec[64:66], rec[66:]
        if len(digest) != 64 or not set(digest) <= hexdigits or sep not in (b"  ", b" *"):
            raise CollectionError(f"{label}: the device's sha256sum printed {printable(rec[:100])!r}")
        if path not in wanted or path in result:
            raise CollectionError(
                f"{label}: the device's sha256sum reported {printable(path)!r}, which was not asked for once"
            )
        result[path] = digest.decode()
    why = cmd.stderr_text() or "no output for it"
    for p in paths:
        result.setdefault(p, f"cannot read: the device could not hash it ({why})")
    return result
