"""Remote mode: the device hashes the files, the dock audits a sample.

The device hashes in batched ``sha256sum`` runs, started while the dock is
still listing (:class:`~attest.collectors.ssh.devicehash.DeviceHashing`).
Only after it has answered for every file does :class:`RemoteHashing`
audit a nonce-chosen sample over SFTP
(:func:`~attest.collectors.ssh.audit.audit`), plus, always, the programs it
ran (a replaced ``sha256sum`` would otherwise report its own digest).
Audited files are ``dock-read``; the rest are ``device-reported``, and the
evidence notes say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attest.collectors.ssh.audit import audit
from attest.collectors.ssh.devicehash import DeviceHashing, HashToolFailedError
from attest.collectors.ssh.listing import set_digest
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError
from attest.model import Component, Finding, Method
from attest.progress import Progress
from attest.transports.ssh import SftpAttrs, SftpSession, SshConnection

__all__ = ["RemoteHashing"]


class RemoteHashing:
    """Remote mode: the device's ``sha256sum`` reports every digest, the dock audits a sample."""

    def __init__(self, conn: SshConnection, tools: DeviceTools) -> None:
        """Start the device's hashing.

        Raises:
            CollectionError: the device has no ``xargs`` or ``sha256sum`` in the dock's tool directories.
            TransportError: a channel could not be opened.
        """
        if not tools.has("xargs", "sha256sum"):
            raise CollectionError(
                f"{conn.target.label}: remote mode needs xargs and GNU sha256sum on the device, and "
                f"{', '.join(n for n in ('xargs', 'sha256sum') if not tools.has(n))} was not found "
                "in the dock's tool directories; use --method pull"
            )
        self._label = conn.target.label
        self._hashing = DeviceHashing(conn, tools)

    def add(self, path: bytes, size: int | None, listed: SftpAttrs | None) -> None:
        """Have the device hash ``path`` (``size`` None: a partition)."""
        del listed  # the audit re-reads with the listing's attributes
        self._hashing.add(path, size)

    def end_input(self) -> None:
        """No more paths."""
        self._hashing.end_input()

    def close(self) -> None:
        """Close the device's commands."""
        self._hashing.close()

    def finish(
        self,
        sftp: SftpSession,
        components: dict[str, Component],
        contents: list[tuple[str, bytes, int | None]],
        *,
        listed: Mapping[bytes, SftpAttrs],
        tool_names: frozenset[str],
        nonce: str,
        audit_size: int | None,
        notes: dict[str, Any],
        progress: Progress,
    ) -> tuple[Finding, ...]:
        """Let the device hash everything, then audit a nonce-chosen sample; returns DEVICE_LIED findings.

        Args:
            sftp: the session for the audit.
            components: the listed components; every one in ``contents`` gets its digest or error.
            contents: ``(name, path, size or None)`` to hash; every path was added.
            listed: path -> the attributes it was listed with (the audit checks them after reading).
            tool_names: components that are programs this run started on the device (always audited).
            nonce: the run's fresh nonce.
            audit_size: files to audit (``None``: the default sample).
            notes: the evidence notes (``audit``).
            progress: receives the bytes re-read by the audit.

        Raises:
            CollectionError: a hashing command failed as a whole or printed what ``sha256sum -z`` does not.
        """
        try:
            reported = self._hashing.digests()
        except HashToolFailedError as e:
            raise CollectionError(f"{e}; or use --method pull") from e
        claimed = {}
        for name, path, _ in contents:
            set_digest(components, name, reported[path], Method.DEVICE_REPORTED)
            if not reported[path].startswith("cannot"):
                claimed[name] = reported[path]
        # The device has committed to every digest before it can see which files are checked.
        findings = audit(
            sftp,
            components,
            contents,
            claimed,
            listed=listed,
            always=tool_names,
            checked="the digests the device's sha256sum reported",
            nonce=nonce,
            sample_size=audit_size,
            label=self._label,
            notes=notes,
            progress=progress,
        )
        notes["audit"]["device_reported"] = len(claimed) - len(notes["audit"]["audited"])
        return findings
