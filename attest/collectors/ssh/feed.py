"""Paths for a device command's stdin, handed over while the walk is still finding them.

The SSH collector starts the device's commands (its hashing program,
``getfattr``) before the listing ends, so that the device works while the
dock lists. :class:`PathFeed` is the queue between the two:
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
    #: than the overlap gains; half the command line the device's hashing waits for.
    BATCH = 8 * 1024

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._batch = bytearray()

    def put(self, path: bytes) -> None:
        """Queue one path (NUL-terminated on the wire); batches are handed over when full.

        Batching here, on the walk's side, wakes the sending thread once per
        batch rather than once per path (which cost ~30 us of the walk's time each).
        """
        self._batch += path
        self._batch += b"\0"
        if len(self._batch) >= self.BATCH:
            self._queue.put(bytes(self._batch))
            self._batch.clear()

    def close(self) -> None:
        """No more paths: hand over what is left."""
        if self._batch:
            self._queue.put(bytes(self._batch))
            self._batch.clear()
        self._queue.put(None)

    def __iter__(self) -> Iterator[bytes]:
        while (item := self._queue.get()) is not None:
            yield item
