"""Measure a Linux companion computer over SSH: ``ssh://USER@HOST[:PORT][/PATH]``.

The tree below PATH (default ``/``) is measured exactly as
:class:`~attest.collectors.directory.DirectoryCollector` measures a local
tree: the same component names (:func:`~attest.names.encode_name` of the raw
bytes), kinds and attributes (:func:`~attest.collectors.directory.stat_attributes`),
symlinks recorded by target and never followed; block devices are also
hashed in full. Nothing is read before the host key matched its pin
(:class:`~attest.transports.ssh.HostKeyPins`): the baseline's
``host_key_sha256`` at verify time, ``--known-hosts`` at create time.

The dock lists the tree itself over SFTP (lstat attributes, raw names). The
programs it runs on the device are named by absolute path and measured over
SFTP first (:mod:`~attest.collectors.ssh.tools`). Then, by ``--method``,
recorded per component (``Component.method``) and in the baseline's
``collection`` settings:

``pull`` (default)
    The dock reads every file and partition over SFTP as the walk lists it
    and hashes it: ``dock-read``. The device's ``openssl`` or ``sha256sum``
    hashes every one too, and every pair is compared: a disagreement is a critical
    ``device_lied`` finding (:mod:`~attest.collectors.ssh.pull`).

``remote``
    The device hashes the files in batched ``sha256sum`` runs; only after it
    has answered for every file does the dock pick an audit sample from this
    run's fresh nonce (which the device never sees), plus the programs it ran,
    and read and hash those itself over SFTP. Audited files are
    ``dock-read``; the rest are ``device-reported``
    (:mod:`~attest.collectors.ssh.remote`).

The device's id is its host key: ``ssh:SHA256:...`` (the fingerprint
``ssh-keygen -l`` prints), on every result: a pass, a drift, and an error or
untrusted result whenever the host key is known from the baseline's pin or the
connection; only when neither is known (the baseline could not be trusted and
nothing was read) is it the target's address, ``ssh://HOST:PORT`` (host in
lower case, IPv6 in brackets). A companion keeps its id when its address
changes, and two companions behind one address (every drone's USB link at
10.55.0.2) keep theirs.

When verifying, a new directory that only leads to excluded subtrees is left
out of the evidence rather than reported as unexpected, as the directory
collector does (:meth:`attest.selection.Selection.lead_ins`).

A baseline records the method it was made with; verifying it with a weaker
one (remote after pull) is refused unless its ``allow_methods`` names it.
Device numbers come from the device's ``stat`` (device-reported) and are
checked against sysfs (:mod:`~attest.collectors.ssh.blockdev`).

This module turns options into a :class:`SshCollector` and runs one
measurement; each step is a module of its own beside it.

Hand-written rather than delegated to the drone's tools: the listing and the
hashing, so that the device's ``find``/``sha256sum`` are never trusted. The
walk also skips directories that no include pattern can reach (``usr/bin/**``
does not list ``/proc``), which the local walk need not do.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.collectors import Collector
from attest.collectors.ssh.blockdev import check_block_devices, label_device_numbers
from attest.collectors.ssh.listing import list_tree, literal_heads, read_device_numbers, read_links
from attest.collectors.ssh.pull import PullReads
from attest.collectors.ssh.remote import RemoteHashing
from attest.collectors.ssh.tools import DEFAULT_TOOL_DIRS, DeviceTools
from attest.collectors.ssh.xattrs import XattrReader
from attest.errors import BaselineError, ConfigError, TransportError
from attest.logs import get_logger
from attest.model import Component, DeviceIdentity, Evidence
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

__all__ = ["METHODS", "SshCollector", "address_id", "from_target", "host_key_id"]

log = get_logger()

#: ``--method`` values, strongest first: pull compares every file over two
#: ways into the device, remote trusts the device's digests beyond a sample.
METHODS = ("pull", "remote")

#: The device's programs a run may start (found in the dock's tool directories);
#: pull mode's cross-check may also run openssl.
TOOLS = ("env", "xargs", "sha256sum", "cat", "sh", "stat", "getfattr")
PULL_TOOLS = (*TOOLS, "openssl")

#: The device selector facts an SSH baseline records.
HOST_KEY_FACTS = ("host_key_sha256", "host_key_type")


def host_key_id(fingerprint: str) -> str:
    """The device id of the companion computer whose host key has ``fingerprint`` (``SHA256:...``)."""
    return f"ssh:{fingerprint}"


def address_id(target: SshTarget) -> str:
    """The device id when no host key is known: ``ssh://HOST:PORT``, host lower case, IPv6 in brackets."""
    host = target.host.lower()
    return f"ssh://[{host}]:{target.port}" if ":" in host else f"ssh://{host}:{target.port}"


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
        tool_dirs: Sequence[bytes] = DEFAULT_TOOL_DIRS,
    ) -> None:
        """Measure ``target``.

        Args:
            target: ``ssh://USER@HOST[:PORT][/PATH]``.
            identity: private key file (``None``: the ssh-agent's keys).
            known_hosts: a known_hosts file pinning the host key (required
                when no baseline pins it, i.e. when creating a baseline).
            method: ``pull`` or ``remote``.
            timeout: seconds any one wait on the device may last.
            audit_sample: remote mode: files the dock re-reads over SFTP to check the device's
                sha256sum; default max(8, 2 %) (pull mode checks every file).
            limits: how much the device may make the dock list and read
                (entries, depth, the largest file or partition); default
                :class:`~attest.transports.ssh.SftpLimits`.
            tool_dirs: absolute directories on the device where its programs
                (``xargs``, ``sha256sum``, ...) are looked up, in order; the
                device's PATH is never used.

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
        self._tool_dirs = tuple(tool_dirs)

    def settings_extras(self) -> dict[str, Any]:
        """A new baseline records the method it was made with; verifying it with a weaker one is refused."""
        return {"method": self._method}

    def _check_method(self, settings: Mapping[str, Any]) -> None:
        """Refuse a method weaker than the baseline's, unless the baseline's ``allow_methods`` names it.

        Raises:
            BaselineError: ``method`` or ``allow_methods`` in the baseline is malformed.
            ConfigError: the method asked for is weaker than the baseline's and not allowed by it.
        """
        recorded = settings.get("method")
        allowed = settings.get("allow_methods", [])
        if recorded is not None and recorded not in METHODS:
            raise BaselineError(f"baseline collection method {recorded!r}: expected one of {', '.join(METHODS)}")
        if not isinstance(allowed, list) or any(m not in METHODS for m in allowed):
            raise BaselineError(f"baseline allow_methods {allowed!r}: expected a list of {', '.join(METHODS)}")
        if recorded is None or METHODS.index(self._method) <= METHODS.index(recorded) or self._method in allowed:
            return
        raise ConfigError(
            f"--method {self._method}: the baseline was made with --method {recorded} and does not allow "
            f"{self._method} (its collection settings' allow_methods); verify with --method {recorded}"
        )

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The host key the device presented; a host key names one companion computer.

        ``pin_instance`` changes nothing: an SSH baseline always pins the
        companion computer it was made on.
        """
        del pin_instance
        return {fact: evidence.device.facts[fact] for fact in HOST_KEY_FACTS}

    def stable_id(
        self, target: str, device_match: Mapping[str, str], *, expected: Mapping[str, Component] | None = None
    ) -> str:
        """The pinned host key's id when the baseline pins one, else the address (see the module docstring)."""
        del target, expected
        pinned = device_match.get("host_key_sha256")
        return host_key_id(pinned) if pinned else address_id(self._target)

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
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        self._check_method(settings)
        selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
        self._check_kernel_trees(selection)
        pins = self._pins(device_match)
        t = self._target
        with (
            translated(t.label),
            SshConnection.open(t, pins=pins, identity=self._identity, timeout=self._timeout) as conn,
        ):
            log.debug("ssh_connected", device=t.label, host_key=conn.host_key_fingerprint, cipher=conn.cipher)
            # The host key matched its pin: from here on, any failure names this companion by it.
            self.learned = device = DeviceIdentity(
                kind=self.kind,
                id=host_key_id(conn.host_key_fingerprint),
                target=self._text,
                facts={"host_key_sha256": conn.host_key_fingerprint, "host_key_type": conn.host_key_type},
            )
            sftp = conn.sftp(limits=self._limits)
            root = sftp.stat(t.root)
            if isinstance(root, str):
                if root.startswith("No such file"):
                    raise TransportError(f"{self._text}: device path does not exist")
                raise TransportError(f"{self._text}: cannot open device path: {root}")
            if root.mode is None or not stat.S_ISDIR(root.mode):
                raise TransportError(f"{self._text}: not a directory")
            tools = DeviceTools.find(sftp, PULL_TOOLS if self._method == "pull" else TOOLS, self._tool_dirs)
            tools.measure(sftp)

            progress.start(None, "reading" if self._method == "pull" else "listing")
            xattrs = XattrReader(conn, tools) if tools.has("xargs", "getfattr") else None
            # The walk and the reads share the SFTP server's handles.
            share = max(1, sftp.max_handles // 2)
            work: PullReads | RemoteHashing = (
                PullReads(conn, sftp, tools, max_open=share, progress=progress)
                if self._method == "pull"
                else RemoteHashing(conn, tools)
            )
            # Symlink targets are read as the walk finds them, on its channel (no handles held).
            links = sftp.link_reader()
            try:
                listing = list_tree(
                    sftp,
                    t.root,
                    selection,
                    found=work.add,
                    every=xattrs.add if xattrs else None,
                    link=links.add,
                    window=share,
                )
            except BaseException:
                work.close()
                if xattrs is not None:
                    xattrs.close()
                raise
            finally:
                work.end_input()
                if xattrs is not None:
                    xattrs.end_input()
            components = listing.components
            links.run()
            read_links(components, listing.links, links.results)
            if listing.devices:
                read_device_numbers(conn, tools, components, listing.devices)

            notes: dict[str, Any] = {
                "transport": "ssh",
                "method": self._method,
                "cipher": conn.cipher,
                "tools": tools.notes(),
            }
            if isinstance(work, PullReads):
                findings = work.finish(sftp, components, listing.contents, listed=listing.listed, notes=notes)
                lengths: dict[bytes, int] | None = work.lengths
            else:
                started = {"env", "xargs", "sha256sum"}
                started |= {"getfattr"} if xattrs is not None else set()
                started |= {"sh", "stat"} if listing.devices else set()
                by_path = {path: name for name, path, _ in listing.contents}
                ran = {by_path[p] for n, p in tools.real.items() if n in started and p in by_path}
                findings = work.finish(
                    sftp,
                    components,
                    listing.contents,
                    listed=listing.listed,
                    tool_names=frozenset(ran),
                    nonce=nonce,
                    audit_size=self._audit_size,
                    notes=notes,
                    progress=progress,
                )
                lengths = None
            if xattrs is not None:
                xattrs.finish(components, listing.paths)
                notes["xattrs"] = "measured by the device's getfattr (device-reported: SFTP cannot read them)"
            else:
                notes["xattrs"] = (
                    "not measured on this target: no getfattr (the attr package) in the dock's tool directories "
                    f"({', '.join(d.decode() for d in self._tool_dirs)}); SFTP cannot read extended attributes"
                )
            label_device_numbers(components, listing.devices, notes)
            findings += check_block_devices(sftp, components, listing.devices, lengths=lengths, notes=notes)
            sftp.close()

        if expected is not None and selection.exclude:
            listed = [(n, c.kind == "directory") for n, c in components.items()] + listing.unselected
            for name in selection.lead_ins(listed, keep=lambda n: n in expected or _has_error(components, n)):
                del components[name]
        return Evidence(
            device=device,
            components=dict(sorted(components.items())),
            nonce=nonce,
            collected_at=datetime.now(UTC),
            findings=findings,
            notes=notes,
        )


def _has_error(components: Mapping[str, Component], name: str) -> bool:
    c = components.get(name)
    return c is not None and c.error is not None
