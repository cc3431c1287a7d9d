"""Measure a Linux companion computer over SSH: ``ssh://USER@HOST[:PORT][/PATH]``.

The tree below PATH (default ``/``) is measured exactly as
:class:`~attest.collectors.directory.DirectoryCollector` measures a local
tree: the same component names (:func:`~attest.names.encode_name` of the raw
bytes), kinds and attributes (:func:`~attest.collectors.directory.stat_attributes`),
symlinks recorded by target and never followed; block devices are also
hashed in full. Nothing is read before the host key matched its pin
(:class:`~attest.transports.ssh.HostKeyPins`): the baseline's
``host_key_sha256`` at verify time, ``--known-hosts`` at create time.

The dock lists the tree itself over SFTP (lstat attributes, raw names). Then,
by ``--method``, recorded per component (``Component.method``):

``pull`` (default)
    The device streams the regular files back to back on one channel
    (``xargs -0 cat``, paths as NUL-separated stdin); the dock splits the
    stream by the listed sizes and hashes it: ``dock-read``. A stream that is
    not exactly as long as listed, or a failed ``cat``, is discarded and the
    files are read again one by one over SFTP. Block devices are read over
    SFTP. A nonce-chosen sample of the streamed files is read again over SFTP
    and compared, so a replaced ``cat`` is caught like a replaced
    ``sha256sum``. The device's hashing tools are never run.

``remote``
    The device hashes the files in batched ``sha256sum`` runs (one per core it
    is given, :data:`~attest.collectors.ssh.remote.HASH_CHANNELS`; never one per file), started while the
    dock is still listing, with the paths as NUL-separated data on stdin. Only after it has answered for
    every file does the dock pick an audit sample, derived from this run's
    fresh nonce (which the device never sees), and read and hash those files
    itself over SFTP. A disagreement is a critical ``device_lied`` finding.
    Audited files are ``dock-read``; the rest are ``device-reported``, and the
    evidence notes say so.

This module turns options into a :class:`SshCollector` and runs one
measurement; each step is a module of its own beside it:
:mod:`~attest.collectors.ssh.listing` (the walk over SFTP and the components
it yields), :mod:`~attest.collectors.ssh.pull` and
:mod:`~attest.collectors.ssh.remote` (the two methods),
:mod:`~attest.collectors.ssh.audit` (the nonce-chosen SFTP cross-check of
both) and :mod:`~attest.collectors.ssh.feed` (paths handed to the device
while the walk finds them).

Hand-written rather than delegated to the drone's tools: the listing and the
hashing, so that the device's ``find``/``sha256sum`` are never trusted. The
walk also skips directories that no include pattern can reach (``usr/bin/**``
does not list ``/proc``), which the local walk need not do.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.collectors import Collector
from attest.collectors.ssh.listing import list_tree, literal_heads, read_device_numbers, read_links
from attest.collectors.ssh.pull import DeviceStream
from attest.collectors.ssh.remote import DeviceHashing
from attest.errors import ConfigError, TransportError
from attest.logs import get_logger
from attest.model import DeviceIdentity, Evidence
from attest.progress import Progress
from attest.selection import Selection
from attest.targets import TargetOptions
from attest.transports.ssh import (
    HostKeyPins,
    SftpLimits,
    SshConnection,
    SshTarget,
    load_known_hosts,
    translated,
)

__all__ = ["METHODS", "SshCollector", "from_target"]

log = get_logger()

#: ``--method`` values.
METHODS = ("pull", "remote")

#: The device selector facts an SSH baseline records.
HOST_KEY_FACTS = ("host_key_sha256", "host_key_type")


def from_target(target: str, options: TargetOptions) -> SshCollector:
    """The collector for an ``ssh://`` target (called by :func:`attest.collectors.open_collector`).

    Raises:
        ConfigError: a malformed target, or an unknown ``--method``.
    """
    return SshCollector(
        target,
        identity=options.identity,
        known_hosts=options.known_hosts,
        method=options.method,
        timeout=options.timeout,
        audit_sample=options.audit_sample,
    )


class SshCollector(Collector):
    """Measures the tree below a target's path on a companion computer over SSH."""

    kind = "ssh"

    def __init__(
        self,
        target: str,
        *,
        identity: Path | None = None,
        known_hosts: Path | None = None,
        method: str = "pull",
        timeout: float = 10.0,
        audit_sample: int | None = None,
        limits: SftpLimits | None = None,
    ) -> None:
        """Measure ``target``.

        Args:
            target: ``ssh://USER@HOST[:PORT][/PATH]``.
            identity: private key file (``None``: the ssh-agent's keys).
            known_hosts: a known_hosts file pinning the host key (required
                when no baseline pins it, i.e. when creating a baseline).
            method: ``pull`` or ``remote``.
            timeout: seconds any one wait on the device may last.
            audit_sample: files the dock re-reads over SFTP to check the device's
                sha256sum (remote) or cat stream (pull); default max(8, 2 %).
            limits: how much the device may make the dock list and read
                (entries, depth, the largest file or partition); default
                :class:`~attest.transports.ssh.SftpLimits`.

        Raises:
            ConfigError: a malformed target or method.
        """
        if method not in METHODS:
            raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
        self._text = target
        self._target = SshTarget.parse(target)
        self._identity = identity
        self._known_hosts = known_hosts
        self._method = method
        self._timeout = timeout
        self._audit_size = audit_sample
        self._limits = limits if limits is not None else SftpLimits()

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The host key the device presented; a host key names one companion computer.

        ``pin_instance`` changes nothing: an SSH baseline always pins the
        companion computer it was made on.
        """
        del pin_instance
        return {fact: evidence.device.facts[fact] for fact in HOST_KEY_FACTS}

    def _check_kernel_trees(self, selection: Selection) -> None:
        """Refuse to walk /proc or /sys: kernel state, not files (``/proc/kcore`` is as large as the address space).

        Raises:
            ConfigError: the target is ``/`` and an include starting with a wildcard would reach them.
        """
        if self._target.root.rstrip(b"/") != b"":
            return
        for tree in ("proc", "sys"):
            reaches = any(not head for head in literal_heads(selection))
            if reaches and not selection.prunes(tree):
                raise ConfigError(
                    f"{self._text}: the selection would walk /{tree} (kernel state, not files); "
                    f"name what to measure with --include (e.g. 'usr/**', 'etc/**', 'boot/**') "
                    f"or add --exclude '{tree}/**'"
                )

    def _pins(self, device_match: Mapping[str, str]) -> HostKeyPins:
        known = load_known_hosts(self._known_hosts, self._target) if self._known_hosts is not None else None
        return HostKeyPins(
            fingerprint=device_match.get("host_key_sha256"),
            key_type=device_match.get("host_key_type"),
            known_hosts=known,
        )

    def _collect(
        self, settings: Mapping[str, Any], *, nonce: str, device_match: Mapping[str, str], progress: Progress
    ) -> Evidence:
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
        self._check_kernel_trees(selection)
        pins = self._pins(device_match)
        t = self._target
        with (
            translated(t.label),
            SshConnection.open(t, pins=pins, identity=self._identity, timeout=self._timeout) as conn,
        ):
            log.debug("ssh_connected", device=t.label, host_key=conn.host_key_fingerprint, cipher=conn.cipher)
            sftp = conn.sftp(limits=self._limits)
            root = sftp.stat(t.root)
            if isinstance(root, str):
                if root.startswith("No such file"):
                    raise TransportError(f"{self._text}: device path does not exist")
                raise TransportError(f"{self._text}: cannot open device path: {root}")
            if root.mode is None or not stat.S_ISDIR(root.mode):
                raise TransportError(f"{self._text}: not a directory")

            # The device starts streaming (pull) or hashing (remote) while the dock is still listing.
            work: DeviceHashing | DeviceStream = DeviceHashing(conn) if self._method == "remote" else DeviceStream(conn)
            try:
                listing = list_tree(sftp, t.root, selection, found=work.add)
            except BaseException:
                work.close()
                raise
            finally:
                work.end_input()
            components = listing.components
            read_links(sftp, components, listing.links)
            if listing.devices:
                read_device_numbers(conn, components, listing.devices)

            notes: dict[str, Any] = {"transport": "ssh", "method": self._method, "cipher": conn.cipher}
            findings = work.finish(
                sftp,
                components,
                listing.contents,
                nonce=nonce,
                audit_size=self._audit_size,
                notes=notes,
                progress=progress,
            )
            sftp.close()

        device = DeviceIdentity(
            kind=self.kind,
            id=t.label,
            target=self._text,
            facts={"host_key_sha256": conn.host_key_fingerprint, "host_key_type": conn.host_key_type},
        )
        return Evidence(
            device=device,
            components=dict(sorted(components.items())),
            nonce=nonce,
            collected_at=datetime.now(UTC),
            findings=findings,
            notes=notes,
        )
