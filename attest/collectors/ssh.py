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
    is given, :data:`HASH_CHANNELS`; never one per file), started while the
    dock is still listing, with the paths as NUL-separated data on stdin. Only after it has answered for
    every file does the dock pick an audit sample, derived from this run's
    fresh nonce (which the device never sees), and read and hash those files
    itself over SFTP. A disagreement is a critical ``device_lied`` finding.
    Audited files are ``dock-read``; the rest are ``device-reported``, and the
    evidence notes say so.

Hand-written rather than delegated to the drone's tools: the listing and the
hashing, so that the device's ``find``/``sha256sum`` are never trusted. The
walk also skips directories that no include pattern can reach (``usr/bin/**``
does not list ``/proc``), which the local walk need not do.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from attest.collectors import Collector
from attest.collectors.directory import file_kind, stat_attributes
from attest.errors import CollectionError, ConfigError, TransportError
from attest.model import Component, DeviceIdentity, Evidence, Finding, FindingKind, Method, Severity
from attest.names import encode_name
from attest.progress import Progress
from attest.selection import Selection
from attest.targets import TargetOptions
from attest.transports.ssh import (
    CAT_COMMAND,
    HostKeyPins,
    RemoteCommand,
    SftpAttrs,
    SftpSession,
    SshConnection,
    SshTarget,
    load_known_hosts,
    printable,
    translated,
)

__all__ = ["METHODS", "SshCollector", "audit_sample", "from_target"]

log = structlog.get_logger()

#: ``--method`` values.
METHODS = ("pull", "remote")

#: The device selector facts an SSH baseline records.
HOST_KEY_FACTS = ("host_key_sha256", "host_key_type")

#: Remote mode: the device hashes every path it reads on stdin (NUL-separated)
#: in as few processes as xargs needs; ``-z`` ends each output record with a
#: NUL and turns off name escaping, so any name parses; ``--`` keeps a name
#: starting with '-' a name. The paths never enter the command line.
HASH_COMMAND = "exec xargs -0 -r sha256sum -z --"

#: Device numbers of selected device nodes, one line per path read on stdin
#: ("MAJOR MINOR" in hex, or "-"), so that a failure cannot shift the lines.
#: The paths reach ``sh`` as arguments (data), never as script text.
DEVNUM_COMMAND = 'exec xargs -0 -r sh -c \'for f in "$@"; do stat -c "%t %T" -- "$f" 2>/dev/null || echo -; done\' sh'

#: Remote mode: hashing commands run side by side, each on its own channel
#: (a companion computer has several cores; sha256sum uses one).
HASH_CHANNELS = 2

#: Remote mode: the slowest hashing (bytes/s) a device may do before it counts as stalled.
MIN_DEVICE_RATE = 4e6
#: Remote mode: extra seconds of silence allowed when partitions (of unknown size) are hashed.
DEVICE_PARTITION_WAIT = 3600.0

#: Audit sample (both methods): at least this many files ...
AUDIT_MIN = 8
#: ... or this fraction of them, whichever is larger.
AUDIT_FRACTION = 0.02


def from_target(target: str, options: TargetOptions) -> SshCollector:
    """The collector for an ``ssh://`` target (called by :func:`attest.targets.open_collector`).

    Raises:
        ConfigError: a malformed target, or an unknown ``--method``.
    """
    if options.method not in METHODS:
        raise ConfigError(f"--method {options.method!r}: expected one of {', '.join(METHODS)}")
    return SshCollector(
        target,
        identity=options.identity,
        known_hosts=options.known_hosts,
        method=options.method,
        timeout=options.timeout,
        audit_sample=options.audit_sample,
    )


def audit_sample(names: Sequence[str], nonce: str, size: int | None = None) -> list[str]:
    """The files the dock re-reads over SFTP to check what the device said, chosen by ``nonce``.

    Each name is ranked by SHA-256(nonce, NUL, name) and the lowest ranks are
    taken: unpredictable without the nonce, and reproducible from the logged
    nonce by an auditor.

    Args:
        names: the files the device reported digests for (remote) or streamed (pull).
        nonce: the run's fresh nonce.
        size: how many (default: max(8, 2 %), never more than there are).
    """
    want = size if size is not None else max(AUDIT_MIN, math.ceil(len(names) * AUDIT_FRACTION))
    ranked = sorted(names, key=lambda n: hashlib.sha256(nonce.encode() + b"\0" + n.encode()).digest())
    return sorted(ranked[: min(want, len(names))])


def _literal_heads(selection: Selection) -> list[tuple[str, ...]]:
    """The leading glob-free segments of each include pattern: every match starts with them."""
    heads = []
    for pattern in selection.include:
        head: list[str] = []
        for seg in pattern.split("/"):
            if any(c in seg for c in "*?["):
                break
            head.append(seg)
        heads.append(tuple(head))
    return heads


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
            reaches = any(not head for head in _literal_heads(selection))
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
            sftp = conn.sftp()
            root = sftp.stat(t.root)
            if isinstance(root, str):
                if root.startswith("No such file"):
                    raise TransportError(f"{self._text}: device path does not exist")
                raise TransportError(f"{self._text}: cannot open device path: {root}")
            if root.mode is None or not stat.S_ISDIR(root.mode):
                raise TransportError(f"{self._text}: not a directory")

            # The device starts streaming (pull) or hashing (remote) while the dock is still listing.
            work: _DeviceHashing | _DeviceStream = (
                _DeviceHashing(conn) if self._method == "remote" else _DeviceStream(conn)
            )
            try:
                components, contents, links, devices = self._list(sftp, selection, found=work.add)
            except BaseException:
                work.close()
                raise
            finally:
                work.end_input()
            for name, target_or_error in self._readlinks(sftp, links).items():
                old = components[name]
                if isinstance(target_or_error, str):
                    components[name] = Component(name, old.kind, attributes=old.attributes, error=target_or_error)
                else:
                    attrs = {**old.attributes, "target": encode_name(target_or_error)}
                    components[name] = Component(name, old.kind, attributes=attrs)
            if devices:
                self._device_numbers(conn, components, devices)

            notes: dict[str, Any] = {"transport": "ssh", "method": self._method, "cipher": conn.cipher}
            findings: tuple[Finding, ...] = ()
            if isinstance(work, _DeviceStream):
                digests = self._dock_hashes(conn, sftp, contents, notes=notes, progress=progress, stream=work.cmd)
                for name, path, _ in contents:
                    _set_digest(components, name, digests[path], Method.DOCK_READ)
                if "stream_fallback" not in notes:
                    streamed = {n: digests[p] for n, p, size in contents if size is not None}
                    findings = self._audit(
                        sftp,
                        components,
                        contents,
                        {n: d for n, d in streamed.items() if not d.startswith("cannot")},
                        nonce=nonce,
                        notes=notes,
                        progress=progress,
                        checked="the bytes the device's cat streamed",
                    )
            else:
                findings = self._remote(work, sftp, components, contents, nonce=nonce, notes=notes, progress=progress)
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

    # -- listing -----------------------------------------------------------------------------------------

    def _path(self, rel: bytes) -> bytes:
        root = self._target.root
        return (root.rstrip(b"/") + b"/" + rel) if root != b"/" else b"/" + rel

    def _list(
        self, sftp: SftpSession, selection: Selection, *, found: Callable[[bytes, int | None], None]
    ) -> tuple[
        dict[str, Component], list[tuple[str, bytes, int | None]], list[tuple[str, bytes]], list[tuple[str, bytes]]
    ]:
        """Walk the tree like the directory collector.

        Args:
            sftp: the session to list with.
            selection: what to measure.
            found: called with the path and size (``None``: a block device) of
                each thing to hash, as soon as it is listed.

        Returns:
            components by name; content to hash ``(name, path, size or None)``;
            symlinks ``(name, path)``; device nodes ``(name, path)``.
        """
        heads = _literal_heads(selection)

        def descend(rel: bytes) -> bool:
            name = encode_name(rel)
            if selection.prunes(name):
                return False
            segs = tuple(name.split("/"))
            return any(h[: len(segs)] == segs or segs[: len(h)] == h for h in heads)

        components: dict[str, Component] = {}
        contents: list[tuple[str, bytes, int | None]] = []
        links: list[tuple[str, bytes]] = []
        devices: list[tuple[str, bytes]] = []
        for rel, entry in sftp.walk(self._target.root, descend=descend):
            name = encode_name(rel) if rel else "."
            if isinstance(entry, str):
                components[name] = Component(name=name, kind="unknown", error=entry)
                continue
            if not selection.selects(name):
                continue
            component = _component(name, entry)
            components[name] = component
            if component.error is not None:
                continue
            if component.kind == "file":
                contents.append((name, self._path(rel), entry.size))
                found(self._path(rel), entry.size)
            elif component.kind == "block-device":
                contents.append((name, self._path(rel), None))
                found(self._path(rel), None)
            elif component.kind == "symlink":
                links.append((name, self._path(rel)))
            if component.kind in ("block-device", "char-device"):
                devices.append((name, self._path(rel)))
        return components, contents, links, devices

    @staticmethod
    def _readlinks(sftp: SftpSession, links: list[tuple[str, bytes]]) -> dict[str, bytes | str]:
        if not links:
            return {}
        targets = sftp.readlinks([p for _, p in links])
        return {name: targets[path] for name, path in links}

    def _device_numbers(
        self, conn: SshConnection, components: dict[str, Component], devices: list[tuple[str, bytes]]
    ) -> None:
        """Add major/minor to device nodes (SFTP does not carry them), from the device's ``stat``."""
        paths = [p for _, p in devices]
        cmd = conn.run(DEVNUM_COMMAND)
        try:
            cmd.feed(p + b"\0" for p in paths)
            out = cmd.read_all(64 * len(paths) + 1024, what="device numbers from the device's stat")
            status = cmd.exit_status(what="the device's stat")
        finally:
            cmd.close()
        lines = out.split(b"\n")
        if status != 0 or lines[-1] != b"" or len(lines) - 1 != len(paths):
            raise CollectionError(
                f"{self._target.label}: could not read device numbers with the device's stat "
                f"(exit status {status}, {len(lines) - 1} answers for {len(paths)} device nodes): {cmd.stderr_text()}"
            )
        for (name, _), line in zip(devices, lines, strict=False):
            old = components[name]
            fields = line.split()
            try:
                major, minor = (int(x, 16) for x in fields) if len(fields) == 2 else (None, None)
            except ValueError:
                major = minor = None
            if major is None or minor is None:
                components[name] = Component(
                    name, old.kind, attributes=old.attributes, error="cannot read device numbers"
                )
            else:
                components[name] = Component(
                    name, old.kind, attributes={**old.attributes, "major": major, "minor": minor}
                )

    # -- reading by the dock -------------------------------------------------------------------------------

    def _dock_hashes(
        self,
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
            log.info("ssh_stream_fallback", device=self._target.label, reason=streamed)
            notes["stream_fallback"] = streamed
            progress.start(total, "hashing")
            result.update(sftp.hash_files(files, on_bytes=progress.advance))
        else:
            result.update(streamed)
        if devices:
            result.update(sftp.hash_files(devices, on_bytes=progress.advance))
        return result

    # -- remote mode -------------------------------------------------------------------------------------

    def _remote(
        self,
        hashing: _DeviceHashing,
        sftp: SftpSession,
        components: dict[str, Component],
        contents: list[tuple[str, bytes, int | None]],
        *,
        nonce: str,
        notes: dict[str, Any],
        progress: Progress,
    ) -> tuple[Finding, ...]:
        """Let the device hash everything, then audit a nonce-chosen sample; returns DEVICE_LIED findings."""
        reported: dict[bytes, str] = {}
        try:
            for cmd, paths, sizes in hashing.groups():
                reported.update(self._device_hashes(cmd, paths, sizes))
        finally:
            hashing.close()
        claimed = {}
        for name, path, _ in contents:
            _set_digest(components, name, reported[path], Method.DEVICE_REPORTED)
            if not reported[path].startswith("cannot"):
                claimed[name] = reported[path]
        # The device has committed to every digest before it can see which files are checked.
        findings = self._audit(
            sftp,
            components,
            contents,
            claimed,
            nonce=nonce,
            notes=notes,
            progress=progress,
            checked="the digests the device's sha256sum reported",
        )
        notes["audit"]["device_reported"] = len(claimed) - len(notes["audit"]["sample"])
        return findings

    def _audit(
        self,
        sftp: SftpSession,
        components: dict[str, Component],
        contents: list[tuple[str, bytes, int | None]],
        claimed: Mapping[str, str],
        *,
        nonce: str,
        notes: dict[str, Any],
        progress: Progress,
        checked: str,
    ) -> tuple[Finding, ...]:
        """Re-read a nonce-chosen sample of ``claimed`` over SFTP and report every disagreement.

        SFTP is another way into the device than the command that produced
        ``claimed`` (sha256sum, or the cat stream), so one replaced tool is not
        enough to pass the audit. Audited components get the SFTP digest, dock-read.
        """
        by_name = {name: (path, size) for name, path, size in contents}
        sample = audit_sample(sorted(claimed), nonce, self._audit_size)
        progress.start(sum(by_name[n][1] or 0 for n in sample), "auditing")
        audited = sftp.hash_files([by_name[n] for n in sample], on_bytes=progress.advance)
        findings = []
        lied = []
        for name in sample:
            actual = audited[by_name[name][0]]
            _set_digest(components, name, actual, Method.DOCK_READ)
            if not actual.startswith("cannot") and actual != claimed[name]:
                lied.append(name)
                findings.append(
                    Finding(
                        name,
                        FindingKind.DEVICE_LIED,
                        Severity.CRITICAL,
                        expected=f"sha256:{actual}",
                        actual=f"sha256:{claimed[name]}",
                        detail=f"{checked} disagree with the bytes the dock read over SFTP; "
                        "nothing else the device said in this run can be trusted",
                    )
                )
        notes["audit"] = {
            "checked": checked,
            "population": len(claimed),
            "sample_size": len(sample),
            "sample": sample,
            "disagreements": lied,
        }
        log.info(
            "ssh_audit_sample",
            device=self._target.label,
            checked=checked,
            nonce=nonce,
            population=len(claimed),
            sample_size=len(sample),
            sample=sample,
            disagreements=len(lied),
        )
        if lied:
            log.warning("device_lied", device=self._target.label, components=lied)
        return tuple(findings)

    def _device_hashes(self, cmd: RemoteCommand, paths: list[bytes], sizes: list[int | None]) -> dict[bytes, str]:
        """Every path's digest as one :data:`HASH_COMMAND` reports it, or an error message (``cannot ...``).

        ``cmd`` is the running :data:`HASH_COMMAND`, fed ``paths``. The
        device prints nothing while it hashes one file, so a wait may last the
        timeout plus that file's size at :data:`MIN_DEVICE_RATE` (or
        :data:`DEVICE_PARTITION_WAIT` when a block device is among them).

        Raises:
            CollectionError: the output is not what ``sha256sum -z`` prints, names
                a path not asked for, or the command failed as a whole.
        """
        largest = max((size or 0 for size in sizes), default=0)
        quiet = self._timeout + largest // MIN_DEVICE_RATE
        if any(size is None for size in sizes):
            quiet += DEVICE_PARTITION_WAIT
        try:
            cmd.set_timeout(quiet)
            limit = sum(len(p) + 67 for p in paths) + 1024
            out = cmd.read_all(limit, what="digests from the device's sha256sum")
            status = cmd.exit_status(what="the device's sha256sum")
        finally:
            cmd.close()
        label = self._target.label
        # xargs: 0 all ran fine, 123 some file failed (reported per file below).
        if status not in (0, 123):
            raise CollectionError(
                f"{label}: the device's sha256sum failed (exit status {status}): {cmd.stderr_text()}; "
                "it needs GNU coreutils (sha256sum -z), or use --method pull"
            )
        records = out.split(b"\0")
        if records[-1] != b"":
            raise CollectionError(f"{label}: the device's sha256sum output is cut off (no final NUL)")
        wanted = set(paths)
        result: dict[bytes, str] = {}
        hexdigits = set(b"0123456789abcdef")
        for rec in records[:-1]:
            digest, sep, path = rec[:64], rec[64:66], rec[66:]
            if len(digest) != 64 or not set(digest) <= hexdigits or sep not in (b"  ", b" *"):
                raise CollectionError(f"{label}: the device's sha256sum printed {printable(rec[:100])!r}")
            if path not in wanted or path in result:
                raise CollectionError(
                    f"{label}: the device's sha256sum reported {printable(path)!r}, which was not asked for once"
                )
            result[path] = digest.decode()
        why = cmd.stderr_text() or "no output for it"
        for p in paths:
            result.setdefault(p, f"cannot read: the device could not hash it ({why})")
        return result


class _DeviceStream:
    """Pull mode's :data:`~attest.transports.ssh.CAT_COMMAND`, fed regular files while the walk finds them."""

    def __init__(self, conn: SshConnection) -> None:
        self.cmd = conn.run(CAT_COMMAND)
        self._feed = _Feed()
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


class _DeviceHashing:
    """Remote mode's :data:`HASH_CHANNELS` batched hashing commands, fed while the walk finds files.

    Each file goes to the command with the fewest bytes so far, so that the
    device's cores finish together; each command's output is its own stream,
    so records never interleave.
    """

    def __init__(self, conn: SshConnection) -> None:
        self._cmds = [conn.run(HASH_COMMAND) for _ in range(HASH_CHANNELS)]
        self._feeds = [_Feed() for _ in self._cmds]
        for cmd, feed in zip(self._cmds, self._feeds, strict=True):
            cmd.feed(feed)
        self._load = [0] * len(self._cmds)
        self._jobs: list[tuple[list[bytes], list[int | None]]] = [([], []) for _ in self._cmds]

    def add(self, path: bytes, size: int | None) -> None:
        """Have the device hash ``path`` (``size`` None: a partition, weighed as 1 GiB)."""
        i = min(range(len(self._load)), key=self._load.__getitem__)
        self._feeds[i].put(path)
        self._load[i] += size if size is not None else 1 << 30
        self._jobs[i][0].append(path)
        self._jobs[i][1].append(size)

    def end_input(self) -> None:
        """No more paths."""
        for feed in self._feeds:
            feed.close()

    def groups(self) -> Iterator[tuple[RemoteCommand, list[bytes], list[int | None]]]:
        """Each command with the paths and sizes it was given."""
        for cmd, (paths, sizes) in zip(self._cmds, self._jobs, strict=True):
            yield cmd, paths, sizes

    def close(self) -> None:
        """Close every command's channel."""
        for cmd in self._cmds:
            cmd.close()


class _Feed:
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


def _component(name: str, attrs: SftpAttrs) -> Component:
    """The component for an SFTP directory entry (lstat attributes), as the directory collector builds it."""
    if attrs.mode is None or attrs.uid is None or attrs.gid is None:
        return Component(name=name, kind="unknown", error="cannot stat: the device sent no mode or owner")
    if stat.S_ISREG(attrs.mode) and attrs.size is None:
        return Component(name=name, kind="file", error="cannot stat: the device sent no size")
    st = os.stat_result((attrs.mode, 0, 0, 1, attrs.uid, attrs.gid, attrs.size or 0, 0, 0, 0), {"st_rdev": 0})
    values = stat_attributes(st)
    # Device numbers are filled in from the device afterwards (see SshCollector._device_numbers).
    values.pop("major", None)
    values.pop("minor", None)
    return Component(name=name, kind=file_kind(attrs.mode), attributes=values)


def _set_digest(components: dict[str, Component], name: str, outcome: str, method: Method) -> None:
    old = components[name]
    if outcome.startswith("cannot"):
        components[name] = Component(name, old.kind, attributes=old.attributes, method=method, error=outcome)
    else:
        components[name] = Component(name, old.kind, digest=outcome, attributes=old.attributes, method=method)
