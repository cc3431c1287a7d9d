"""Pull mode (the default): the dock reads and hashes every file over SFTP; the device hashes them all too.

:class:`PullReads` hands each file to the SFTP read scheduler as soon as the
walk lists it (the walk and the reads share one SFTP channel), so the dock's
digests are ``dock-read``: the dock chose every read and the device's SFTP
server answered it from the disk. No device command produces those bytes.

At the same time the device hashes the same files with its own program
(:class:`~attest.collectors.ssh.devicehash.DeviceHashing`, by absolute path):
a second, independent way into the device. That program is ``openssl dgst
-sha256`` or GNU ``sha256sum -z``, whichever the earliest tool directory
holds (``openssl`` when one holds both: it hashes three times faster where
the CPU has SHA instructions). Every file is compared, not a sample: a file
whose two digests disagree is a critical ``device_lied`` finding (unless it
changed meanwhile, which is an error), so a lying SFTP server or a lying
hashing program is caught on the first file it lies about. When ``openssl``
fails for any path its output cannot be attributed, and ``sha256sum`` hashes
everything again; a device whose ``sha256sum`` cannot print ``-z`` records
(BusyBox) is cross-checked with its ``cat`` instead: the dock hashes that
stream too. A file that cannot be cross-checked is an error, never a pass.

Hand-written rather than delegated to the device: the hashing of the bytes
the verdict rests on, so that no device tool is trusted for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from attest.collectors.ssh.devicehash import DeviceHashing, HashToolFailedError
from attest.collectors.ssh.listing import lie_finding, set_digest
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError
from attest.logs import get_logger
from attest.model import Component, Finding, Method
from attest.progress import Progress
from attest.transports.ssh import FileReads, SftpAttrs, SftpSession, SshConnection, hash_cat_stream

__all__ = ["CAT_TEMPLATE", "CROSS_CHECKERS", "PullReads"]

log = get_logger()

#: The cross-check's fallback on a device whose sha256sum cannot print ``-z``:
#: the device concatenates the files named on stdin; the dock hashes the stream.
CAT_TEMPLATE = "{xargs} -0 -r {cat} --"

#: The start of the error on a file whose two ways into the device could not be compared.
NOT_CROSS_CHECKED = "cannot cross-check"

#: The device's programs that can hash for the cross-check, preferred first
#: within one tool directory (:meth:`DeviceTools.first`); ``cat`` is the last resort.
CROSS_CHECKERS = ("openssl", "sha256sum")


class PullReads:
    """Pull mode: every file read over SFTP as the walk lists it, and hashed by the device as a cross-check."""

    def __init__(
        self, conn: SshConnection, sftp: SftpSession, tools: DeviceTools, *, max_open: int, progress: Progress
    ) -> None:
        """Start the device's hashing and the dock's read scheduler.

        Args:
            conn: the connection (for the device's commands).
            sftp: the session the walk lists with; the reads share it.
            tools: the device's programs, by absolute path.
            max_open: files the reads hold open at once (the walk keeps the rest of the handles).
            progress: receives the bytes the dock reads.

        Raises:
            CollectionError: the device has no ``xargs``, or none of ``openssl``, ``sha256sum`` and ``cat``.
            TransportError: a channel could not be opened.
        """
        if not tools.has("xargs") or tools.first(*CROSS_CHECKERS, "cat") is None:
            raise CollectionError(
                f"{conn.target.label}: pull mode cross-checks every file with the device's own tools and "
                "needs xargs with openssl, sha256sum or cat in the dock's tool directories; found "
                f"{', '.join(sorted(tools.paths)) or 'none of them'}"
            )
        self._conn = conn
        self._tools = tools
        self._max_bytes = sftp.limits.max_file_bytes
        self._reads: FileReads = sftp.reader(on_bytes=progress.advance, max_open=max_open)
        program = tools.first(*CROSS_CHECKERS)
        self._hashing = DeviceHashing(conn, tools, channels=1, program=program) if program is not None else None

    def add(self, path: bytes, size: int | None, listed: SftpAttrs | None) -> None:
        """Read ``path`` over SFTP and have the device hash it (``size`` None: a partition)."""
        self._reads.add(path, size, listed)
        if self._hashing is not None:
            self._hashing.add(path, size)

    @property
    def lengths(self) -> dict[bytes, int]:
        """Bytes the dock read from each file or partition read without error (after :meth:`finish`)."""
        return self._reads.lengths

    def end_input(self) -> None:
        """No more paths."""
        if self._hashing is not None:
            self._hashing.end_input()

    def close(self) -> None:
        """Close the device's commands."""
        if self._hashing is not None:
            self._hashing.close()

    def finish(
        self,
        sftp: SftpSession,
        components: dict[str, Component],
        contents: list[tuple[str, bytes, int | None]],
        *,
        listed: Mapping[bytes, SftpAttrs],
        notes: dict[str, Any],
    ) -> tuple[Finding, ...]:
        """Finish the reads and the device's hashing, compare every file; returns DEVICE_LIED findings.

        Args:
            sftp: the session (to look again at files whose digests disagree).
            components: the listed components; every one in ``contents`` gets its digest or error.
            contents: ``(name, path, size or None)``; every path was added.
            listed: path -> the attributes it was listed with.
            notes: the evidence notes (``cross_check``).

        Raises:
            CollectionError: the device's hashing printed what its program does not.
            TransportError: the device stopped answering, or the connection dropped.
        """
        self._reads.run()
        dock = self._reads.results
        device, by = self._device_digests(contents)
        label = self._conn.target.label
        disagree = {
            path
            for _, path, _ in contents
            if not dock[path].startswith("cannot")
            and not device[path].startswith("cannot")
            and dock[path] != device[path]
        }
        # A file that changed between the two reads disagrees honestly: look at it again.
        again = sftp.stat_paths(sorted(disagree)) if disagree else {}
        findings = []
        lied = []
        unchecked = []
        for name, path, _ in contents:
            outcome = dock[path]
            if not outcome.startswith("cannot") and device[path].startswith("cannot"):
                outcome = f"{NOT_CROSS_CHECKED}: {device[path]}"
                unchecked.append(name)
            elif path in disagree:
                now = again[path]
                before = listed.get(path)
                changes = before.changes(now) if before is not None and not isinstance(now, str) else []
                if isinstance(now, str) or changes:
                    outcome = f"cannot read: it changed while being measured ({', '.join(changes) or now})"
                else:
                    lied.append(name)
                    findings.append(
                        lie_finding(
                            name,
                            read=dock[path],
                            reported=device[path],
                            detail=f"{by} disagrees with the bytes the dock read over SFTP; one of the "
                            "device's two ways into its disk is lying, so nothing it said in this run can be trusted",
                        )
                    )
            set_digest(components, name, outcome, Method.DOCK_READ)
        notes["cross_check"] = {
            "by": by,
            "files": len(contents),
            "disagreements": lied,
            "not_cross_checked": unchecked,
        }
        log.info("ssh_cross_check", device=label, by=by, files=len(contents), disagreements=len(lied))
        if lied:
            log.warning("device_lied", device=label, components=lied)
        return tuple(findings)

    def _device_digests(self, contents: list[tuple[str, bytes, int | None]]) -> tuple[dict[bytes, str], str]:
        """Every path's digest by the device's other way in, and what that way was.

        Raises:
            CollectionError: the device's hashing printed what its program does not.
            TransportError: the device stopped answering, or the connection dropped.
        """
        hashing = self._hashing
        while hashing is not None:
            try:
                return hashing.digests(), f"the device's {hashing.program}"
            except HashToolFailedError as e:
                # openssl's output is all or nothing: sha256sum says which files failed.
                again = hashing.program == "openssl" and self._tools.has("sha256sum")
                if not (again or self._tools.has("cat")):
                    raise
                log.info("ssh_cross_check_fallback", device=self._conn.target.label, reason=str(e))
                hashing = self._rehash(contents) if again else None
        return self._cat_digests(contents), "the device's cat stream"

    def _rehash(self, contents: list[tuple[str, bytes, int | None]]) -> DeviceHashing:
        """The device's ``sha256sum`` started anew, fed every path (after its ``openssl`` failed)."""
        hashing = DeviceHashing(self._conn, self._tools, channels=1, program="sha256sum")
        for _, path, size in contents:
            hashing.add(path, size)
        hashing.end_input()
        return hashing

    def _cat_digests(self, contents: list[tuple[str, bytes, int | None]]) -> dict[bytes, str]:
        """The dock's digests of what the device's ``cat`` prints for each file (partitions one by one)."""
        command = self._tools.command(CAT_TEMPLATE)
        files = [(path, size) for _, path, size in contents if size is not None]
        result: dict[bytes, str] = {}
        if files:
            cmd = self._conn.run(command)
            cmd.feed(path + b"\0" for path, _ in files)
            streamed = hash_cat_stream(cmd, files)
            if isinstance(streamed, str):
                result.update({path: f"{NOT_CROSS_CHECKED}: {streamed}" for path, _ in files})
            else:
                result.update(streamed)
        for _, path, size in contents:
            if size is None:
                result[path] = self._cat_one(command, path)
        return result

    def _cat_one(self, command: str, path: bytes) -> str:
        """The digest of everything the device's ``cat`` prints for one partition, or why there is none."""
        cmd = self._conn.run(command)
        cmd.feed([path + b"\0"])
        digest = hashlib.sha256()
        received = 0
        try:
            for chunk in cmd.chunks(what="partition contents from the device's cat"):
                received += len(chunk)
                if received > self._max_bytes:
                    return f"{NOT_CROSS_CHECKED}: the device's cat sent more than the {self._max_bytes}-byte limit"
                digest.update(chunk)
            status = cmd.exit_status(what="the device's cat")
        finally:
            cmd.close()
        if status != 0:
            return f"{NOT_CROSS_CHECKED}: the device's cat failed (exit status {status}): {cmd.stderr_text()}"
        return digest.hexdigest()
