"""The dock's side of a DUML conversation over one byte stream.

:class:`Link` writes frames from the dock's address (:data:`DOCK`, a PC) and
returns verified frames; it keeps nothing but counters. What a frame means,
and whether it answers anything, is for the caller
(:mod:`attest.duml.inquiry`).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

from attest.duml.frames import ACK_AFTER_EXEC, MAX_FRAME, Address, Deframer, Frame, encode
from attest.duml.modules import DOCK

__all__ = ["ByteStream", "Link"]


class ByteStream(Protocol):
    """What the link needs from a transport (:class:`attest.transports.SerialTransport` is one)."""

    target: str

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (``b""`` if nothing)."""
        ...

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""
        ...


class Link:
    """Frames to and from one DUML byte stream.

    Args:
        stream: the open transport.
        me: the dock's address.
    """

    def __init__(self, stream: ByteStream, *, me: Address = DOCK, max_frame: int = MAX_FRAME) -> None:
        self.stream = stream
        self.me = me
        self._deframer = Deframer(max_frame=max_frame)
        self._queue: deque[Frame] = deque()

    @property
    def target(self) -> str:
        """The transport's target, for messages."""
        return self.stream.target

    @property
    def rejected(self) -> int:
        """Candidate frames dropped by the deframer (noise, failed checks)."""
        return self._deframer.rejected

    def request(self, receiver: Address, *, seq: int, cmd_set: int, cmd_id: int, payload: bytes = b"") -> bytes:
        """The bytes of a request to ``receiver`` that asks for a reply after execution."""
        return encode(self.me, receiver, seq=seq, cmd_set=cmd_set, cmd_id=cmd_id, payload=payload, ack=ACK_AFTER_EXEC)

    def write(self, data: bytes) -> None:
        """Send bytes (one or more encoded frames)."""
        self.stream.write(data)

    def settle(self, *, limit: int) -> int:
        """Take in what the line has already sent and what the deframer holds, as if the stream ended.

        Reads only what returns at once, and at most about ``limit`` bytes (a bus that never stops
        talking would otherwise keep this going); the frames are queued for :meth:`recv`. Returns
        the bytes read.
        """
        taken = 0
        while taken < limit and (data := self.stream.read(0)):
            taken += len(data)
            self._queue.extend(self._deframer.feed(data))
        self._queue.extend(self._deframer.flush())
        return taken

    def recv(self, deadline: float) -> Frame | None:
        """The next verified frame, or ``None`` once ``deadline`` (monotonic) passes."""
        while True:
            if self._queue:
                return self._queue.popleft()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.stream.read(left)
            if data:
                self._queue.extend(self._deframer.feed(data))
