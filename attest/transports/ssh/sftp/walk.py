"""The tree walk behind :meth:`~attest.transports.ssh.sftp.session.SftpSession.walk`, its limits, and symlink reads.

A walk lists several directories at once over one
:class:`~attest.transports.ssh.sftp.channel.SftpChannel` and never follows
symlinks; what a device can make it accept is bounded by its limits (entries,
depth, bytes of names; defaults here, set per session by
:class:`~attest.transports.ssh.sftp.session.SftpLimits`) and by Linux's own
limits on one name and one path, so a device that never ends a listing, or
whose tree contains itself, is stopped with an error, never a partial pass.
Symlink targets are read many at a time (:class:`LinkReads`, also while
the walk lists) and bounded the same way.

Hand-written because paramiko's ``SFTPClient`` lists one directory at a time,
waits for each reply before the next request and decodes names as UTF-8; here
names stay bytes and requests are pipelined across directories.
"""

from __future__ import annotations

import stat
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from attest.errors import CollectionError
from attest.transports.ssh.errors import printable
from attest.transports.ssh.sftp.wire import (
    FX_EOF,
    FXP_CLOSE,
    FXP_HANDLE,
    FXP_NAME,
    FXP_OPENDIR,
    FXP_READDIR,
    FXP_READLINK,
    Handler,
    SftpAttrs,
    SftpProtocolError,
    pack_string,
    read_attrs,
    read_string,
    read_u32,
)

if TYPE_CHECKING:
    from attest.transports.ssh.sftp.channel import SftpChannel

__all__ = ["MAX_PATH", "MAX_WALK_BYTES", "MAX_WALK_DEPTH", "MAX_WALK_ENTRIES", "LinkReads", "readlinks", "walk"]

#: Longest name accepted in a listing: Linux's NAME_MAX is 255 bytes, and a
#: long VFAT name in UTF-8 (iocharset=utf8) at most three times that.
_MAX_NAME = 1024
#: Longest path accepted from a listing or READLINK: Linux's PATH_MAX (the
#: device's SFTP server could not open a longer one).
MAX_PATH = 4096

#: Default most names one walk accepts ...
MAX_WALK_ENTRIES = 1_000_000
#: ... the deepest level below the root it lists ...
MAX_WALK_DEPTH = 64
#: ... and the most bytes of relative paths it accepts in all (what the dock keeps per entry).
MAX_WALK_BYTES = 256 * 1024 * 1024


def walk(
    channel: SftpChannel,
    root: bytes,
    *,
    descend: Callable[[bytes], bool],
    max_entries: int = MAX_WALK_ENTRIES,
    max_depth: int = MAX_WALK_DEPTH,
    max_bytes: int = MAX_WALK_BYTES,
    window: int = 64,
) -> Iterator[tuple[bytes, SftpAttrs | str]]:
    """List the tree below ``root`` without following symlinks, several directories at a time.

    Args:
        channel: a started SFTP channel.
        root: an absolute directory path.
        descend: called with a subdirectory's path relative to ``root``;
            it is listed only if this returns true.
        max_entries: the most names the walk accepts.
        max_depth: the deepest level below ``root`` it lists.
        max_bytes: the most bytes of relative paths it accepts in all.
        window: directories listed at once.

    The walk ends as soon as its own requests are answered; other requests
    sharing the channel (file reads started while it lists) are left to
    whoever made them.

    Yields:
        ``(relative path, lstat attributes)`` for every entry, and
        ``(relative path of a directory, error message)`` for a directory
        that could not be (completely) listed (``b""`` is ``root``).

    Raises:
        CollectionError: the tree exceeds the limits (more names, or bytes
            of names, than the walk accepts, or a directory to list deeper
            than ``max_depth``), or holds a path longer than Linux
            allows: a device that never ends a listing, or whose tree
            contains itself, is stopped there.
        SftpProtocolError: a listing holds a name no Linux server sends.
    """
    base = root.rstrip(b"/") + b"/" if root != b"/" else b"/"
    todo: deque[bytes] = deque([b""])
    active = 0
    closing = 0  # CLOSEs of listed directories not yet answered
    out: deque[tuple[bytes, SftpAttrs | str]] = deque()
    listed = 0  # names received (a batch counts at least one)
    listed_bytes = 0  # bytes of relative paths kept

    def over(what: str) -> CollectionError:
        return CollectionError(f"{channel.label}: listing {printable(root)!r} stopped {what}")

    endless = "a device that never ends a listing, or a tree larger than a companion computer's"

    def start(rel: bytes) -> None:
        nonlocal active
        active += 1
        path = base + rel if rel else root

        def opened(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            nonlocal active
            del data
            if kind == FXP_HANDLE:
                handle, _ = read_string(body, 0)
                channel.request(FXP_READDIR, pack_string(handle), listing(handle), "READDIR of", path)
                return
            active -= 1
            out.append((rel, f"cannot list directory: {channel.status(kind, body, 'OPENDIR')[1]}"))

        def listing(handle: bytes) -> Handler:
            def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                nonlocal active, closing, listed, listed_bytes
                del data
                if kind == FXP_NAME:
                    count, pos = read_u32(body, 0)
                    listed += max(count, 1)  # an empty batch must not be free either
                    if listed > max_entries:
                        raise over(f"after {max_entries} entries (the limit): {endless}")
                    for _ in range(count):
                        name, pos = read_string(body, pos)
                        _, pos = read_string(body, pos)  # the 'ls -l' line: not used, not trusted
                        attrs, pos = read_attrs(body, pos)
                        if name in (b".", b".."):
                            continue
                        if not name or b"/" in name or len(name) > _MAX_NAME:
                            raise SftpProtocolError(
                                f"{channel.label}: SFTP listing holds the name {printable(name, 100)!r} "
                                f"({len(name)} bytes)"
                            )
                        child = rel + b"/" + name if rel else name
                        if len(base) + len(child) > MAX_PATH:
                            raise over(
                                f"at {printable(child, 100)!r}: a path longer than {MAX_PATH} bytes (Linux's PATH_MAX)"
                            )
                        listed_bytes += len(child)
                        if listed_bytes > max_bytes:
                            raise over(f"after {max_bytes} bytes of names (the limit): {endless}")
                        out.append((child, attrs))
                        if attrs.mode is not None and stat.S_ISDIR(attrs.mode) and descend(child):
                            if child.count(b"/") + 1 >= max_depth:  # its entries would be deeper
                                raise over(
                                    f"at {printable(child, 100)!r}: {max_depth} levels deep (the limit); "
                                    "a directory that contains itself, or a tree deeper than a companion's"
                                )
                            todo.append(child)
                    channel.request(FXP_READDIR, pack_string(handle), got, "READDIR of", path)
                    return
                code, text = channel.status(kind, body, "READDIR")
                active -= 1
                closing += 1
                channel.request(FXP_CLOSE, pack_string(handle), closed, "CLOSE of", path)
                if code != FX_EOF:
                    out.append((rel, f"cannot list directory: {text}"))

            return got

        channel.request(FXP_OPENDIR, pack_string(path), opened, "OPENDIR of", path)

    def closed(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
        nonlocal closing
        del kind, body, data
        closing -= 1

    window = min(window, channel.max_handles)
    while todo or active or out:
        while todo and active < window:
            start(todo.popleft())
        while out:
            yield out.popleft()
        if active:
            channel.pump()
    # The last CLOSE replies; not every request on the channel: file reads that share it
    # finish later, so that whoever waits for the end of the listing is told at once.
    while closing:
        channel.pump()


class LinkReads:
    """Symlink targets read as the symlinks are found (also while a walk shares the channel), ``window`` at once.

    :meth:`add` asks for one target (at once if fewer than ``window`` are in
    flight, else when an answer makes room); answers land in :attr:`results`
    while anyone pumps the channel, and :meth:`run` pumps until every target
    added is answered. Raises from the pump as :func:`readlinks` says.

    Attributes:
        results: path -> target bytes, or an error message (``cannot read link: ...``).
    """

    def __init__(self, channel: SftpChannel, *, window: int = 64) -> None:
        self._channel = channel
        self._window = window
        self._queue: deque[bytes] = deque()
        self._in_flight = 0
        self.results: dict[bytes, bytes | str] = {}

    def add(self, path: bytes) -> None:
        """Read the target of the symlink at ``path``."""
        self._queue.append(path)
        self._ask()

    def run(self) -> None:
        """Pump the channel until every target added is answered."""
        while self._queue or self._in_flight:
            self._channel.pump()

    def _ask(self) -> None:
        while self._queue and self._in_flight < self._window:
            path = self._queue.popleft()
            self._in_flight += 1
            self._channel.request(FXP_READLINK, pack_string(path), self._handler(path), "READLINK of", path)

    def _handler(self, path: bytes) -> Handler:
        channel = self._channel

        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            self._in_flight -= 1
            if kind == FXP_NAME:
                count, pos = read_u32(body, 0)
                if count != 1:
                    raise SftpProtocolError(f"{channel.label}: READLINK answered with {count} names")
                target, _ = read_string(body, pos)
                if len(target) > MAX_PATH:
                    raise SftpProtocolError(
                        f"{channel.label}: READLINK of {printable(path)!r} answered with "
                        f"a target of {len(target)} bytes"
                    )
                self.results[path] = target
            else:
                self.results[path] = f"cannot read link: {channel.status(kind, body, 'READLINK')[1]}"
            self._ask()

        return got


def readlinks(channel: SftpChannel, paths: Sequence[bytes], *, window: int = 64) -> dict[bytes, bytes | str]:
    """The targets of many symlinks: path -> target bytes, or an error message.

    Args:
        channel: a started SFTP channel.
        paths: absolute paths of symlinks.
        window: READLINK requests in flight at once.

    Raises:
        TransportError: the connection dropped or the device stopped answering.
        SftpProtocolError: an answer is not one target of at most :data:`MAX_PATH` bytes.
    """
    reads = LinkReads(channel, window=window)
    for path in paths:
        reads.add(path)
    reads.run()
    return reads.results
