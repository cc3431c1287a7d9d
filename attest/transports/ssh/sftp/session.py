"""The SFTP client the SSH collector uses: list trees, read symlinks, stat paths, hash files, all within limits.

:class:`SftpSession` lists trees (:meth:`~SftpSession.walk`) and reads
symlinks (both in :mod:`attest.transports.ssh.sftp.walk`), stats paths and hashes
files (:meth:`~SftpSession.hash_files`, scheduled by
:mod:`attest.transports.ssh.sftp.read`), each over one
:class:`~attest.transports.ssh.sftp.channel.SftpChannel` that keeps many
requests in flight. It reads partitions and audit samples, and is the exact
fallback of the ``cat`` stream.

Nothing a server sends can make the dock wait or grow without bound: every
wait for a reply is bounded by the timeout, and so is the wait for a request
the server skips over while it answers later ones (see
:mod:`attest.transports.ssh.sftp.channel`); a listing stops at
:class:`SftpLimits` (entries, depth, bytes of names, each name and path as
long as Linux allows; see :mod:`attest.transports.ssh.sftp.walk`), and reads
are bounded as described in :mod:`attest.transports.ssh.sftp.read`.

Hand-written rather than paramiko's ``SFTPClient``, which decodes file names
as UTF-8 (a non-UTF-8 name raises) and waits for each reply before sending the
next request, so reading many small files costs one round trip each. This
client keeps many requests in flight, across directories and across files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import paramiko

from attest.transports.ssh.sftp.channel import SftpChannel
from attest.transports.ssh.sftp.paths import SMALL_FILE_BYTES, read_small, realpaths, stat_paths
from attest.transports.ssh.sftp.read import MAX_FILE_BYTES, FileReads
from attest.transports.ssh.sftp.walk import (
    MAX_WALK_BYTES,
    MAX_WALK_DEPTH,
    MAX_WALK_ENTRIES,
    LinkReads,
    readlinks,
    walk,
)
from attest.transports.ssh.sftp.wire import FXP_ATTRS, FXP_STAT, SftpAttrs, pack_string, read_attrs

__all__ = ["SftpLimits", "SftpSession"]


@dataclass(frozen=True)
class SftpLimits:
    """How much a device may make one SFTP session list and read; more is an error, never a pass.

    Attributes:
        max_file_bytes: the most bytes read from one file or partition; a
            file listed as larger is not read (``cannot read: ...``), and a
            partition still sending data there is an error too.
        max_entries: the most names one :meth:`SftpSession.walk` accepts.
        max_depth: the deepest level below the root a walk lists.
        max_walk_bytes: the most bytes of relative paths one walk accepts.
    """

    max_file_bytes: int = MAX_FILE_BYTES
    max_entries: int = MAX_WALK_ENTRIES
    max_depth: int = MAX_WALK_DEPTH
    max_walk_bytes: int = MAX_WALK_BYTES


class SftpSession:
    """An SFTP v3 client that pipelines requests.

    :meth:`walk`, :meth:`readlinks` and :meth:`hash_files` keep many requests
    in flight. Every wait on the device is bounded by ``timeout``; a dropped
    connection or a timeout raises :class:`~attest.errors.TransportError` and a
    reply that is not SFTP raises
    :class:`~attest.transports.ssh.sftp.wire.SftpProtocolError`, so no
    operation ends early with a partial answer.

    Args:
        chan: the channel the ``sftp`` subsystem runs on.
        label: ``user@host:port``, for messages.
        timeout: seconds any one wait on the device may last.
        limits: what one walk lists and one file read holds (default: :class:`SftpLimits`).
        clock: seconds, monotonic; times requests the server skips over.

    Attributes:
        limits: what one walk lists and one file read holds.
    """

    def __init__(
        self,
        chan: paramiko.Channel,
        *,
        label: str,
        timeout: float,
        limits: SftpLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = SftpChannel(chan, label=label, timeout=timeout, clock=clock)
        self.limits = limits if limits is not None else SftpLimits()

    @property
    def label(self) -> str:
        """``user@host:port``, for messages."""
        return self._channel.label

    def start(self) -> None:
        """Negotiate version 3 and read the server's limits.

        Raises:
            TransportError: no answer within the timeout.
            SftpProtocolError: the server does not speak SFTP v3.
        """
        self._channel.start()

    def close(self) -> None:
        """Close the channel (a connection that is already gone is not an error here)."""
        self._channel.close()

    def stat(self, path: bytes) -> SftpAttrs | str:
        """``stat`` (following symlinks) of ``path``: its attributes, or an error message.

        Raises:
            TransportError: the connection dropped or the device stopped answering.
            SftpProtocolError: the reply is malformed.
        """
        channel = self._channel
        result: list[SftpAttrs | str] = []

        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind == FXP_ATTRS:
                result.append(read_attrs(body, 0)[0])
            else:
                result.append(channel.status(kind, body, "STAT")[1])

        channel.request(FXP_STAT, pack_string(path), got, "STAT of", path)
        channel.drain()
        return result[0]

    def walk(
        self, root: bytes, *, descend: Callable[[bytes], bool], window: int = 64
    ) -> Iterator[tuple[bytes, SftpAttrs | str]]:
        """List the tree below ``root`` without following symlinks, within :attr:`limits`.

        See :func:`attest.transports.ssh.sftp.walk.walk` for what it yields and raises.
        """
        limits = self.limits
        return walk(
            self._channel,
            root,
            descend=descend,
            max_entries=limits.max_entries,
            max_depth=limits.max_depth,
            max_bytes=limits.max_walk_bytes,
            window=window,
        )

    def readlinks(self, paths: Sequence[bytes], *, window: int = 64) -> dict[bytes, bytes | str]:
        """The targets of many symlinks: path -> target bytes, or an error message.

        See :func:`attest.transports.ssh.sftp.walk.readlinks` for what it raises.
        """
        return readlinks(self._channel, paths, window=window)

    def link_reader(self, *, window: int = 64) -> LinkReads:
        """A symlink reader on this session: add links (also while a walk runs), then run it.

        Its ``results`` are those of :meth:`readlinks`.
        """
        return LinkReads(self._channel, window=window)

    def stat_paths(self, paths: Sequence[bytes], *, follow: bool = False) -> dict[bytes, SftpAttrs | str]:
        """``LSTAT`` (or, ``follow``, ``STAT``) of many paths at once: path -> attributes, or an error message.

        See :func:`attest.transports.ssh.sftp.paths.stat_paths` for what it raises.
        """
        return stat_paths(self._channel, paths, follow=follow)

    def realpaths(self, paths: Sequence[bytes]) -> dict[bytes, bytes | str]:
        """Where each path leads once the device resolves every symlink: path -> canonical path, or an error.

        See :func:`attest.transports.ssh.sftp.paths.realpaths` for what it raises.
        """
        return realpaths(self._channel, paths)

    def read_small(self, paths: Sequence[bytes], *, max_bytes: int = SMALL_FILE_BYTES) -> dict[bytes, bytes | str]:
        """The whole contents of small files (``/sys`` attributes): path -> bytes, or ``cannot read: ...``.

        See :func:`attest.transports.ssh.sftp.paths.read_small` for what it raises.
        """
        return read_small(self._channel, paths, max_bytes=max_bytes)

    def reader(
        self,
        *,
        on_bytes: Callable[[int], None] | None = None,
        max_inflight_bytes: int = 8 * 1024 * 1024,
        max_open: int | None = None,
    ) -> FileReads:
        """A read scheduler on this session: add files (also while a walk runs), then run it.

        Its ``results`` are those of :meth:`hash_files`. ``max_open`` leaves
        handles for a walk sharing the channel (default: all the server allows).
        """
        return FileReads(
            self._channel, on_bytes, max_inflight_bytes, max_size=self.limits.max_file_bytes, max_open=max_open
        )

    @property
    def max_handles(self) -> int:
        """The most files and directories this session holds open at once."""
        return self._channel.max_handles

    def hash_files(
        self,
        jobs: Sequence[tuple[bytes, int | None]],
        *,
        listed: Mapping[bytes, SftpAttrs] | None = None,
        on_bytes: Callable[[int], None] | None = None,
        max_inflight_bytes: int = 8 * 1024 * 1024,
    ) -> dict[bytes, str]:
        """SHA-256 of many files, read whole by the dock, with requests pipelined across files.

        Args:
            jobs: ``(absolute path, listed size, or None for a partition)``;
                a file is read to its listed size and one read past it
                confirms its end (more or fewer bytes: ``cannot read: it
                changed while being read``), a partition to its end, at most
                ``limits.max_file_bytes``.
            listed: the attributes each path was listed with; after its last
                read, an ``FSTAT`` that differs in size, mtime, mode or owner
                makes it ``cannot read: it changed between listing and
                reading (...)`` (without an entry here only the size is checked).
            on_bytes: called with each chunk's length.
            max_inflight_bytes: read bytes asked for and not yet received,
                plus bytes received out of order and not yet hashed.

        Returns:
            path -> ``sha256:HEX``-less lowercase hex digest, or an error
            message starting with ``cannot read:`` (every job has an entry).

        Raises:
            TransportError: the connection dropped or the device stopped answering.
            SftpProtocolError: a reply is malformed.
        """
        reads = self.reader(on_bytes=on_bytes, max_inflight_bytes=max_inflight_bytes)
        for path, size in jobs:
            reads.add(path, size, listed.get(path) if listed is not None else None)
        reads.run()
        return reads.results
