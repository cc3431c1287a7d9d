"""Pull mode (the default): the device streams the files, the dock hashes them.

The device runs only :data:`~attest.transports.ssh.CAT_COMMAND`, fed the
regular files while the dock is still listing (:class:`DeviceStream`). Once
the listing is done, :meth:`DeviceStream.finish` splits the one stream by the
listed sizes and hashes it
(:meth:`~attest.transports.ssh.SshConnection.hash_concatenated`): ``dock-read``.
A stream that is not exactly as long as listed, or a failed ``cat``, is
discarded and the files are read again one by one over SFTP. Block devices are
read over SFTP. Unless the stream was discarded, a nonce-chosen sample of the
streamed files is audited (:func:`~attest.collectors.ssh.audit.audit`), so a
replaced ``cat`` is caught like a replaced ``sha256sum``.

Hand-written rather than delegated to the device: the hashing, so that the
device's hashing tools are never run, let alone trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attest.collectors.ssh.audit import audit
from attest.collectors.ssh.feed import PathFeed
from attest.collectors.ssh.listing import set_digest
from attest.logs import get_logger
from attest.model import Component, Finding, Method
from attest.progress import Progress
from attest.transports.ssh import CAT_COMMAND, RemoteCommand, SftpSession, SshConnection

__all__ = ["DeviceStream"]

log = get_logger()


class DeviceStream:
    """Pull mode's :data:`~attest.transports.ssh.CAT_COMMAND`, fed files while the walk finds them."""

    def __init__(self, conn: SshConnection) -> None:
        self._conn = conn
        self.cmd = conn.run(CAT_COMMAND)
        self._feed = PathFeed()
        self.cmd.feed(self._feed)

    def add(self, path: bytes, size: int | None) -> None:
        """Stream ``path`` if it is a regular file (``size`` known); partitions are read over SFTP."""
        if size is not None:
            self._feed.put(path)

    def end_input(self) -> None:
        """No more paths."""
        self._feed.close()

    def close(self) -> None:
        """Close the channel."""
        self.cmd.close()

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
        """Hash ``contents`` on the dock and audit the streamed files; returns DEVICE_LIED findings.

        Args:
            sftp: the session for the fallback, the partitions and the audit.
            components: the listed components; every one in ``contents`` gets its digest or error.
            contents: ``(name, path, size or None)`` to hash; its regular files were streamed, in order.
            nonce: the run's fresh nonce.
            audit_size: files to audit (``None``: the default sample).
            notes: the evidence notes (``stream_fallback``, ``audit``).
            progress: receives the bytes hashed.
        """
        conn = self._conn
        digests = _dock_hashes(conn, sftp, contents, notes=notes, progress=progress, stream=self.cmd)
        for name, path, _ in contents:
            set_digest(components, name, digests[path], Method.DOCK_READ)
        if "stream_fallback" in notes:
            return ()
        streamed = {n: digests[p] for n, p, size in contents if size is not None}
        return audit(
            sftp,
            components,
            contents,
            {n: d for n, d in streamed.items() if not d.startswith("cannot")},
            checked="the bytes the device's cat streamed",
            nonce=nonce,
            sample_size=audit_size,
            label=conn.target.label,
            notes=notes,
            progress=progress,
        )


def _dock_hashes(
    conn: SshConnection,
    sftp: SftpSession,
    contents: Sequence[tuple[str, bytes, int | None]],
    *,
    notes: dict[str, Any],
    progress: Progress,
    stream: RemoteCommand | None = None,
) -> dict[bytes, str]:
    """Read and hash ``contents`` on the dock: path -> digest, or an error message (``cannot ...``).

    Regular files come back to back on one stream, split by their listed
    sizes (fast); if that stream is not exactly what the listing promised,
    they are read again one by one over SFTP, which says which file failed.
    Block devices (no size to split by) are always read over SFTP.
    ``stream``: the :data:`~attest.transports.ssh.CAT_COMMAND` already fed
    the regular files of ``contents``, in order.
    """
    files = [(p, size) for _, p, size in contents if size is not None]
    devices = [(p, None) for _, p, size in contents if size is None]
    total = sum(size for _, size in files)
    progress.start(total, "hashing")
    result: dict[bytes, str] = {}
    streamed = conn.hash_concatenated(files, on_bytes=progress.advance, started=stream)
    if isinstance(streamed, str):
        log.info("ssh_stream_fallback", device=conn.target.label, reason=streamed)
        notes["stream_fallback"] = streamed
        progress.start(total, "hashing")
        result.update(sftp.hash_files(files, on_bytes=progress.advance))
    else:
        result.update(streamed)
    if devices:
        result.update(sftp.hash_files(devices, on_bytes=progress.advance))
    return result
