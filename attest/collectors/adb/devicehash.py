r"""Remote mode: the controller hashes its APKs with its own ``sha256sum``; the dock picks an audit sample after.

:func:`device_digests` runs ``sha256sum -- PATH...`` (toybox on Android) in
batches of at most :attr:`~AndroidLimits.hash_batch` paths and
:attr:`~AndroidLimits.hash_batch_bytes` bytes, every path quoted. A batch may
stay silent while the device hashes, so each waits the transport timeout plus
its bytes at :attr:`~AndroidLimits.min_device_rate`. The output is parsed
strictly: one ``HEX  PATH`` line per path asked for, in the order asked
(paths are known exactly, so a name holding spaces or ``\`` cannot shift a
record); a path without its line is ``cannot read`` (its error went to
stderr); any other output is a :class:`~attest.errors.CollectionError`.

:func:`~attest.collectors.sampling.audit_sample` chooses, from the run's fresh nonce (which the device
never sees) and only after the device has answered for every APK, the APKs
the dock reads itself: the same rule as SSH's remote mode
(:mod:`attest.collectors.sampling`), ranked by
SHA-256(nonce, NUL, name), so an auditor can recompute it from the logged nonce.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence

from attest.collectors.adb.commands import CommandFailedError
from attest.collectors.adb.limits import AndroidLimits
from attest.errors import CollectionError
from attest.report import printable
from attest.transports.adb import AdbConnection, command_line

__all__ = ["device_digests", "parse_digests"]

_HEX = frozenset(b"0123456789abcdef")


@contextlib.contextmanager
def _patience(conn: AdbConnection, seconds: float) -> Iterator[None]:
    """Let the device stay silent for ``seconds`` while it hashes (the connection's own limits otherwise)."""
    old = conn.limits
    conn.limits = dataclasses.replace(old, timeout=max(old.timeout, seconds))
    try:
        yield
    finally:
        conn.limits = old


def _batches(files: Sequence[tuple[bytes, int]], limits: AndroidLimits, room: int) -> Iterator[list[tuple[bytes, int]]]:
    batch: list[tuple[bytes, int]] = []
    size = length = 0
    for path, n in files:
        cost = len(path) * 4 + 3  # a quoted path may grow (every ' becomes '"'"')
        if batch and (len(batch) >= limits.hash_batch or size + n > limits.hash_batch_bytes or length + cost > room):
            yield batch
            batch, size, length = [], 0, 0
        batch.append((path, n))
        size += n
        length += cost
    if batch:
        yield batch


def device_digests(
    conn: AdbConnection, files: Sequence[tuple[bytes, int]], *, limits: AndroidLimits
) -> dict[bytes, str]:
    """Every path's SHA-256 as the device's ``sha256sum`` reports it, or ``cannot read: ...``.

    Args:
        conn: the connection.
        files: ``(path, size)`` of each APK to hash.
        limits: batch sizes and the device's slowest hashing rate.

    Raises:
        CollectionError: ``sha256sum`` failed as a whole (not found: use ``--method pull``) or printed
            what was not asked for.
        TransportError: the device stopped answering or the link failed.
    """
    out: dict[bytes, str] = {}
    room = min(conn.peer_max - 64, 32 << 10)
    for batch in _batches(files, limits, room):
        argv = ["sha256sum", "--", *(p.decode() for p, _ in batch)]
        if len(command_line(argv)) > room:
            raise CollectionError(f"{conn.label}: an APK path too long for one device command")
        wait = conn.limits.timeout + sum(n for _, n in batch) / limits.min_device_rate
        with _patience(conn, wait):
            result = conn.shell(argv, max_output=sum(len(p) + 80 for p, _ in batch) + 4096)
        if result.status not in (0, 1, None):  # 1: some file could not be read (its line is missing)
            why = printable(result.stderr.decode("utf-8", "replace").strip()[:200]) or "no message"
            raise CommandFailedError(
                f"{conn.label}: the device's sha256sum failed (exit status {result.status}): {why}; use --method pull"
            )
        out.update(parse_digests(result.stdout, [p for p, _ in batch], result.stderr, label=conn.label))
    return out


def parse_digests(stdout: bytes, paths: list[bytes], stderr: bytes, *, label: str) -> dict[bytes, str]:
    r"""``HEX  PATH\n`` for each path, in order; a path without its line is ``cannot read``."""
    got: dict[bytes, str] = {}
    pos = 0
    why = printable(stderr.decode("utf-8", "replace").strip()[:200]) or "no digest printed for it"
    for path in paths:
        digest = stdout[pos : pos + 64]
        end = pos + 66 + len(path)
        if (
            len(digest) == 64
            and set(digest) <= _HEX
            and stdout[pos + 64 : pos + 66] in (b"  ", b" *")
            and stdout[pos + 66 : end] == path
            and stdout[end : end + 1] == b"\n"
        ):
            got[path] = digest.decode()
            pos = end + 1
        else:
            got[path] = f"cannot read: the device's sha256sum did not hash it ({why})"
    if pos != len(stdout):
        shown = printable(stdout[pos : pos + 100].decode("utf-8", "replace"))
        raise CollectionError(f"{label}: the device's sha256sum printed {shown!r}, which was not asked for")
    return got
