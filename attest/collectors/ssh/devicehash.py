"""The device hashes files with its own ``sha256sum``: batched runs fed while the walk finds files.

Both methods run it. In remote mode its digests are the measurement
(``device-reported``, audited by a sample); in pull mode they are the
cross-check of every file the dock read over SFTP. :class:`DeviceHashing`
runs :data:`HASH_CHANNELS` commands side by side (one per core it is given;
never one per file), each fed NUL-separated paths on stdin while the dock is
still listing, with the tools named by absolute path
(:class:`~attest.collectors.ssh.tools.DeviceTools`).

Hand-written here: the parser of ``sha256sum -z`` output, which accepts only
well-formed records for paths that were asked for, each once.
"""

from __future__ import annotations

from collections.abc import Iterator

from attest.collectors.ssh.feed import PathFeed
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError
from attest.transports.ssh import RemoteCommand, SshConnection, printable

__all__ = [
    "DEVICE_PARTITION_WAIT",
    "HASH_CHANNELS",
    "HASH_TEMPLATE",
    "MIN_DEVICE_RATE",
    "SENTINEL",
    "DeviceHashing",
    "HashToolFailedError",
]

#: The device hashes every path it reads on stdin (NUL-separated), a few
#: hundred per process: ``-s 16384`` makes xargs start hashing after 16 KiB of
#: paths rather than a full 128 KiB command line, so the device works while the
#: dock lists (7 % of a run on the Debian tree). ``-z`` ends each output record
#: with a NUL and turns off name escaping, so any name parses; ``--`` keeps a
#: name starting with '-' a name. The paths never enter the command line; the
#: tools are absolute paths (:meth:`DeviceTools.command`).
HASH_TEMPLATE = "{xargs} -0 -r -s 16384 {sha256sum} -z --"

#: Every hashing command is asked for this first: a tool that hashes at all
#: answers with the empty file's digest, so no answer for it means the tool
#: failed as a whole (missing, or BusyBox without ``-z``) rather than per file.
SENTINEL = b"/dev/null"
_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#: Remote mode's hashing commands, side by side, each on its own channel (a
#: companion computer has several cores; sha256sum uses one). Pull mode's
#: cross-check uses one: it runs beside the dock's reads, which the link
#: bounds, and on loopback two took cores from the reads (0.95x against 0.87x
#: of the anchor on the Debian tree).
HASH_CHANNELS = 2

#: The slowest hashing (bytes/s) a device may do before it counts as stalled.
MIN_DEVICE_RATE = 4e6
#: Extra seconds of silence allowed when partitions (of unknown size) are hashed.
DEVICE_PARTITION_WAIT = 3600.0


class HashToolFailedError(CollectionError):
    """The device's hashing command failed as a whole (missing, or not GNU ``sha256sum -z``)."""


class DeviceHashing:
    """Batched hashing commands on the device (:data:`HASH_CHANNELS` by default), fed while the walk finds files.

    Each file goes to the command with the fewest bytes so far, so that the
    device's cores finish together; each command's output is its own stream,
    so records never interleave.
    """

    def __init__(self, conn: SshConnection, tools: DeviceTools, *, channels: int = HASH_CHANNELS) -> None:
        """Start ``channels`` commands (the caller checked ``tools.has("xargs", "sha256sum")``).

        Raises:
            TransportError: a channel could not be opened.
        """
        self._label = conn.target.label
        self._timeout = conn.timeout
        command = tools.command(HASH_TEMPLATE)
        self._cmds = [conn.run(command) for _ in range(channels)]
        self._feeds = [PathFeed() for _ in self._cmds]
        for cmd, feed in zip(self._cmds, self._feeds, strict=True):
            feed.put(SENTINEL)
            cmd.feed(feed)
        self._load = [0] * len(self._cmds)
        self._jobs: list[tuple[list[bytes], list[int | None]]] = [([SENTINEL], [0]) for _ in self._cmds]

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

    def digests(self) -> dict[bytes, str]:
        """Every path's digest as the device reports it, or ``cannot read: ...``; the channels are closed after.

        Raises:
            HashToolFailedError: a command failed as a whole.
            CollectionError: a command printed what ``sha256sum -z`` does not.
            TransportError: the device stopped answering, or the connection dropped.
        """
        reported: dict[bytes, str] = {}
        try:
            for cmd, paths, sizes in self.groups():
                reported.update(_device_hashes(cmd, paths, sizes, timeout=self._timeout, label=self._label))
        finally:
            self.close()
        return reported


def _device_hashes(
    cmd: RemoteCommand, paths: list[bytes], sizes: list[int | None], *, timeout: float, label: str
) -> dict[bytes, str]:
    """Every path's digest as one :data:`HASH_TEMPLATE` reports it, or an error message (``cannot ...``).

    ``cmd`` is the running :data:`HASH_TEMPLATE`, fed ``paths``. The
    device prints nothing while it hashes one file, so a wait may last the
    timeout plus that file's size at :data:`MIN_DEVICE_RATE` (or
    :data:`DEVICE_PARTITION_WAIT` when a block device is among them).

    Raises:
        HashToolFailedError: the command failed as a whole (not even :data:`SENTINEL` hashed).
        CollectionError: the output is not what ``sha256sum -z`` prints, or names a path not asked for.
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
        raise HashToolFailedError(
            f"{label}: the device's sha256sum failed (exit status {status}): {cmd.stderr_text()}; "
            "it needs GNU coreutils (sha256sum -z)"
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
    sentinel = result.pop(SENTINEL, None)
    if sentinel is None:
        raise HashToolFailedError(
            f"{label}: the device's sha256sum hashed nothing (exit status {status}): {cmd.stderr_text()}; "
            "it needs GNU coreutils (sha256sum -z)"
        )
    if sentinel != _EMPTY:
        raise CollectionError(f"{label}: the device's sha256sum says {SENTINEL.decode()} is not empty")
    why = cmd.stderr_text() or "no output for it"
    for p in paths:
        if p != SENTINEL:
            result.setdefault(p, f"cannot read: the device could not hash it ({why})")
    return result
