"""Paths for a device command's stdin, handed over while the walk is still finding them.

The SSH collector starts the device's command (``cat`` in pull mode,
``sha256sum`` in remote mode) before the listing ends, so that the device
works while the dock lists. :class:`PathFeed` is the queue between the two:
the walk puts paths in, :meth:`~attest.transports.ssh.RemoteCommand.feed`
sends them NUL-terminated and in batches.

Hand-written rather than a list handed over after the walk, so that the
device works while the dock lists; batched because one SSH packet per path
would cost more than the overlap gains.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

__all__ = ["PathFeed"]


class PathFeed:
    """Paths for a device command, handed over while the walk is still finding them."""

    #: Bytes of paths sent in one piece: one SSH packet per path would cost more
    #: than the overlap gains, and xargs waits for a full command line anyway.
    BATCH = 64 * 1024

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def put(self, path: bytes) -> None:
        """Queue one path (NUL-terminated on the wire)."""
        self._queue.put(path + b"\0")

    def close(self) -> None:
        """No more paths."""
        self._queue.put(None)

    def __iter__(self) -> Iterator[bytes]:
        batch = bytearray()
        while (item := self._queue.get()) is not None:
            batch += item
            if len(batch) >= self.BATCH:
                yield bytes(batch)
                batch.clear()
        if batch:
            yield bytes(batch)
