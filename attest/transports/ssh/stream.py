"""Byte streams on SSH channels: commands run on the device, and exact-length reads.

:class:`RemoteCommand` is one command on the device: stdin fed from a thread,
stdout read as it arrives, stderr kept in part for messages.
:func:`hash_cat_stream` hashes the files of one ``xargs -0 cat`` stream, split
by their listed sizes (pull mode's cross-check on a device whose ``sha256sum``
cannot print ``-z`` records). :class:`ChannelReader` gives the SFTP client
exact-length reads without copying.

Hand-written here, and why: the ``cat`` stream, because it has no framing of
its own and is accepted only when exactly as long as listed; and the reads,
because paramiko's own buffering costs O(buffered) per partial read (see
:data:`RECV_ALL`).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

import paramiko

from attest.errors import CollectionError, TransportError
from attest.transports.ssh.errors import LOST, printable, timed_out

__all__ = ["RECV_ALL", "ChannelReader", "RemoteCommand", "hash_cat_stream"]

#: Receive size that takes everything paramiko has buffered: its buffer drops
#: a partial read by moving the rest to the front, which costs O(buffered)
#: per call and made a 256 MB stream 4x slower.
RECV_ALL = 1 << 30


class RemoteCommand:
    """A command running on the device: stdin from the dock, stdout collected, stderr kept in part."""

    #: stderr bytes kept for messages; the rest is read and dropped.
    STDERR_KEEP = 16 * 1024

    def __init__(self, chan: paramiko.Channel, *, label: str, timeout: float) -> None:
        self._chan = chan
        self._label = label
        self._timeout = timeout
        self._stderr = bytearray()
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._closing = threading.Event()

    def feed(self, chunks: Iterable[bytes]) -> None:
        """Send ``chunks`` to stdin from a thread, then end stdin (so reading stdout cannot deadlock).

        ``chunks`` may block (paths still being found). A send that waits is
        retried rather than timed out: the device may rightly leave stdin
        unread while it works through earlier input, and a device that stalls
        outright is caught by the timeout on reading its output.
        """

        def write() -> None:
            try:
                for chunk in chunks:
                    data = chunk
                    while data:
                        if self._closing.is_set():
                            return
                        try:
                            sent = self._chan.send(data)
                        except TimeoutError:
                            continue
                        if sent <= 0:
                            raise EOFError("the channel closed")
                        data = data[sent:]
                self._chan.shutdown_write()
            except BaseException as e:  # noqa: BLE001 (reported by chunks() on the caller's thread)
                self._writer_error = e

        self._writer = threading.Thread(target=write, name="attest-ssh-stdin", daemon=True)
        self._writer.start()

    def set_timeout(self, seconds: float) -> None:
        """Let one wait for output last ``seconds`` (a device hashing a large file prints nothing meanwhile)."""
        self._timeout = seconds
        self._chan.settimeout(seconds)

    def chunks(self, *, what: str) -> Iterator[bytes]:
        """Stdout as it arrives, up to end of file.

        Args:
            what: what is awaited, for messages.

        Raises:
            TransportError: the device stopped answering, the connection
                dropped, or sending stdin failed.
        """
        while True:
            try:
                chunk = self._chan.recv(RECV_ALL)
            except TimeoutError as e:
                raise timed_out(self._label, self._timeout, what) from e
            except LOST as e:  # recv() also sends window adjustments
                raise TransportError(f"{self._label}: the connection closed while waiting for {what}") from e
            self._drain_stderr()
            if not chunk:
                break
            yield chunk
        if self._writer is not None:
            self._writer.join(self._timeout)
            if self._writer_error is not None:
                raise TransportError(
                    f"{self._label}: sending to the device's command failed: {self._writer_error}"
                ) from self._writer_error

    def read_all(self, limit: int, *, what: str) -> bytes:
        """All of stdout, up to end of file.

        Args:
            limit: most bytes accepted.
            what: what is awaited, for messages.

        Raises:
            TransportError: the device stopped answering, or the connection dropped.
            CollectionError: more than ``limit`` bytes.
        """
        out = bytearray()
        for chunk in self.chunks(what=what):
            out += chunk
            if len(out) > limit:
                raise CollectionError(f"{self._label}: {what}: more than {limit} bytes; the device is misbehaving")
        return bytes(out)

    def result(self, limit: int, *, what: str, program: str) -> tuple[bytes, int]:
        """All of stdout and the exit status; the channel is closed afterwards, also on error.

        Args:
            limit: most bytes of stdout accepted.
            what: what stdout is, for messages.
            program: what is waited on to exit, for messages.

        Raises:
            TransportError: the device stopped answering, or the connection dropped.
            CollectionError: more than ``limit`` bytes.
        """
        try:
            out = self.read_all(limit, what=what)
            return out, self.exit_status(what=program)
        finally:
            self.close()

    def _drain_stderr(self) -> None:
        while self._chan.recv_stderr_ready():
            data = self._chan.recv_stderr(1 << 16)
            if not data:
                break
            self._stderr += data[: max(0, self.STDERR_KEEP - len(self._stderr))]

    def exit_status(self, *, what: str) -> int:
        """The command's exit status, once it has exited.

        Raises:
            TransportError: no exit status within the timeout, or the channel closed without one.
        """
        if not self._chan.status_event.wait(self._timeout):
            raise timed_out(self._label, self._timeout, f"{what} to exit")
        self._drain_stderr()
        status = self._chan.exit_status
        if status < 0:
            raise TransportError(f"{self._label}: {what}: the connection closed before it reported an exit status")
        return status

    def stderr_text(self) -> str:
        """The start of stderr, safe to show."""
        return printable(bytes(self._stderr), 300)

    def close(self) -> None:
        """Stop feeding stdin and close the channel (a connection that is already gone is not an error here)."""
        self._closing.set()
        with contextlib.suppress(*LOST):
            self._chan.close()


def hash_cat_stream(
    cmd: RemoteCommand, jobs: Sequence[tuple[bytes, int]], *, on_bytes: Callable[[int], None] | None = None
) -> dict[bytes, str] | str:
    """SHA-256 of each of ``jobs``, from the output of an ``xargs -0 cat`` fed their paths in order.

    The stream carries no framing of its own, so it is accepted only if it is
    exactly as long as the listed sizes add up to and ``cat`` succeeded.
    ``cmd`` is closed in every case.

    Args:
        cmd: the running command.
        jobs: ``(absolute path, size from the listing)`` of regular files; not empty.
        on_bytes: called with each hashed chunk's length.

    Returns:
        path -> lowercase hex digest, or why the stream cannot be trusted to split.

    Raises:
        TransportError: the connection dropped or the device stopped answering.
    """
    expected = sum(size for _, size in jobs)
    try:
        results: dict[bytes, str] = {}
        order = iter(jobs)
        path, left = next(order)
        digest = hashlib.sha256()
        received = 0
        for chunk in cmd.chunks(what="file contents from the device's cat"):
            received += len(chunk)
            if received > expected:
                return f"the device sent more than the {expected} bytes listed: files grew while being read"
            view = memoryview(chunk)
            while view:
                while left == 0:  # this file is complete (or empty): on to the next
                    results[path] = digest.hexdigest()
                    path, left = next(order)
                    digest = hashlib.sha256()
                take = min(left, len(view))
                digest.update(view[:take])
                view, left = view[take:], left - take
            if on_bytes is not None:
                on_bytes(len(chunk))
        status = cmd.exit_status(what="the device's cat")
    finally:
        cmd.close()
    if status != 0:
        return f"the device's cat failed (exit status {status}): {cmd.stderr_text()}"
    if received != expected:
        return f"the device sent {received} of the {expected} bytes listed: files shrank or could not be read"
    results[path] = digest.hexdigest()
    for path, _ in order:  # trailing empty files
        results[path] = hashlib.sha256().hexdigest()
    return results


class ChannelReader:
    """Exact-length reads from a channel; long payloads (SFTP DATA) are handed out as views, not copied."""

    def __init__(
        self,
        chan: paramiko.Channel,
        on_timeout: Callable[[TimeoutError], TransportError],
        before_wait: Callable[[], None],
    ) -> None:
        self._chan = chan
        self._on_timeout = on_timeout
        self._before_wait = before_wait
        self._chunks: deque[bytes] = deque()
        self._off = 0
        self._avail = 0
        self.eof = False

    def _fill(self, n: int) -> None:
        while self._avail < n:
            if not self._chan.recv_ready():
                self._before_wait()
            try:
                data = self._chan.recv(RECV_ALL)
            except TimeoutError as e:
                raise self._on_timeout(e) from e
            except LOST:  # recv() also sends window adjustments; a dead link is the end of the stream
                data = b""
            if not data:
                self.eof = True
                return
            self._chunks.append(data)
            self._avail += len(data)

    def views(self, n: int) -> list[memoryview] | None:
        """The next ``n`` bytes as views (``None`` at end of stream)."""
        self._fill(n)
        if self._avail < n:
            return None
        out: list[memoryview] = []
        self._avail -= n
        while n:
            head = self._chunks[0]
            take = min(n, len(head) - self._off)
            out.append(memoryview(head)[self._off : self._off + take])
            self._off += take
            n -= take
            if self._off == len(head):
                self._chunks.popleft()
                self._off = 0
        return out

    def take(self, n: int) -> bytes | None:
        """The next ``n`` bytes (``None`` at end of stream)."""
        if self._chunks:  # fast path: inside the first chunk (most replies are short)
            head, off = self._chunks[0], self._off
            if off + n < len(head):
                self._off = off + n
                self._avail -= n
                return head[off : off + n]
        views = self.views(n)
        if views is None:
            return None
        return views[0].tobytes() if len(views) == 1 else b"".join(views)
