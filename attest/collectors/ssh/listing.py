"""The components of an SSH measurement: the device's tree, listed over SFTP as the directory collector lists one.

:func:`list_tree` walks the tree below the target's path and builds each
component exactly as :class:`~attest.collectors.directory.DirectoryCollector`
would: the same names (:func:`~attest.names.encode_name` of the raw bytes),
kinds and attributes. SFTP carries neither symlink targets in a listing nor
device numbers, so :func:`read_links` (from targets read while the walk
lists) and :func:`read_device_numbers` add them; :func:`set_digest` records each hash outcome later.

Hand-written rather than the device's ``find``, which is never trusted. The
walk also skips directories that no include pattern can reach (``usr/bin/**``
does not list ``/proc``), which the local walk need not do.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from attest.collectors.directory import file_kind, stat_attributes
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError
from attest.model import Component, Finding, FindingKind, Method, Severity
from attest.names import encode_name
from attest.selection import Selection
from attest.transports.ssh import SftpAttrs, SftpSession, SshConnection

__all__ = [
    "DEVNUM_TEMPLATE",
    "Listing",
    "list_tree",
    "literal_heads",
    "read_device_numbers",
    "read_links",
    "set_digest",
]

#: Device numbers of selected device nodes, one line per path read on stdin
#: ("MAJOR MINOR" in hex, or "-"), so that a failure cannot shift the lines.
#: The paths reach ``sh`` as arguments (data), never as script text; the
#: programs are absolute paths (:meth:`~attest.collectors.ssh.tools.DeviceTools.command`).
DEVNUM_TEMPLATE = '{xargs} -0 -r {sh} -c \'for f in "$@"; do {stat} -c "%t %T" -- "$f" 2>/dev/null || echo -; done\' sh'


def literal_heads(selection: Selection) -> list[tuple[str, ...]]:
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


@dataclass
class Listing:
    """What :func:`list_tree` found.

    Attributes:
        components: every listed component, by name.
        contents: what to hash: ``(name, path, size)``, size ``None`` for a block device.
        links: symlinks, ``(name, path)``.
        devices: device nodes, ``(name, path)``.
        listed: path -> the attributes it was listed with, for everything in ``contents``.
        paths: path -> component name, for every component listed without error.
        unselected: every entry listed but not selected, as ``(name, is a directory)``
            (what :meth:`~attest.selection.Selection.lead_ins` needs besides the components).
    """

    components: dict[str, Component] = field(default_factory=dict)
    contents: list[tuple[str, bytes, int | None]] = field(default_factory=list)
    links: list[tuple[str, bytes]] = field(default_factory=list)
    devices: list[tuple[str, bytes]] = field(default_factory=list)
    listed: dict[bytes, SftpAttrs] = field(default_factory=dict)
    paths: dict[bytes, str] = field(default_factory=dict)
    unselected: list[tuple[str, bool]] = field(default_factory=list)


def list_tree(
    sftp: SftpSession,
    root: bytes,
    selection: Selection,
    *,
    found: Callable[[bytes, int | None, SftpAttrs], None],
    every: Callable[[bytes], None] | None = None,
    link: Callable[[bytes], None] | None = None,
    window: int = 64,
) -> Listing:
    """Walk the tree below ``root`` like the directory collector.

    A file listed as larger than ``sftp.limits.max_file_bytes`` is an error
    component and is not hashed (by neither method: the device would need
    longer than any wait allows).

    Args:
        sftp: the session to list with.
        root: the absolute directory whose tree is measured.
        selection: what to measure.
        found: called with the path, size (``None``: a block device) and
            listed attributes of each thing to hash, as soon as it is listed.
        every: called with the path of every component listed without error
            (what the device's getfattr reads).
        link: called with the path of every symlink, as soon as it is listed
            (its target is read meanwhile; see :func:`read_links`).
        window: directories listed at once.

    Raises:
        CollectionError: the tree exceeds ``sftp.limits`` (see :meth:`SftpSession.walk`).
    """
    heads = literal_heads(selection)
    max_size = sftp.limits.max_file_bytes

    def descend(rel: bytes) -> bool:
        name = encode_name(rel)
        if selection.prunes(name):
            return False
        segs = tuple(name.split("/"))
        return any(h[: len(segs)] == segs or segs[: len(h)] == h for h in heads)

    listing = Listing()
    components = listing.components
    for rel, entry in sftp.walk(root, descend=descend, window=window):
        name = encode_name(rel) if rel else "."
        if isinstance(entry, str):
            components[name] = Component(name=name, kind="unknown", error=entry)
            continue
        if not selection.selects(name):
            listing.unselected.append((name, entry.mode is not None and stat.S_ISDIR(entry.mode)))
            continue
        component = _component(name, entry)
        if component.kind == "file" and entry.size is not None and entry.size > max_size:
            component = Component(
                name,
                "file",
                attributes=component.attributes,
                error=f"cannot read: listed as {entry.size} bytes, more than the {max_size}-byte limit",
            )
        components[name] = component
        if component.error is not None:
            continue
        path = _path(root, rel)
        listing.paths[path] = name
        if every is not None:
            every(path)
        if component.kind == "file":
            listing.contents.append((name, path, entry.size))
            listing.listed[path] = entry
            found(path, entry.size, entry)
        elif component.kind == "block-device":
            listing.contents.append((name, path, None))
            listing.listed[path] = entry
            found(path, None, entry)
        elif component.kind == "symlink":
            listing.links.append((name, path))
            if link is not None:
                link(path)
        if component.kind in ("block-device", "char-device"):
            listing.devices.append((name, path))
    return listing


def _path(root: bytes, rel: bytes) -> bytes:
    return (root.rstrip(b"/") + b"/" + rel) if root != b"/" else b"/" + rel


def _component(name: str, attrs: SftpAttrs) -> Component:
    """The component for an SFTP directory entry (lstat attributes), as the directory collector builds it."""
    if attrs.mode is None or attrs.uid is None or attrs.gid is None:
        return Component(name=name, kind="unknown", error="cannot stat: the device sent no mode or owner")
    if stat.S_ISREG(attrs.mode) and attrs.size is None:
        return Component(name=name, kind="file", error="cannot stat: the device sent no size")
    st = os.stat_result((attrs.mode, 0, 0, 1, attrs.uid, attrs.gid, attrs.size or 0, 0, 0, 0), {"st_rdev": 0})
    values = stat_attributes(st)
    # Device numbers are filled in from the device afterwards (see read_device_numbers).
    values.pop("major", None)
    values.pop("minor", None)
    return Component(name=name, kind=file_kind(attrs.mode), attributes=values)


def read_links(
    components: dict[str, Component], links: list[tuple[str, bytes]], targets: Mapping[bytes, bytes | str]
) -> None:
    """Add each symlink's target (or why it could not be read), from ``targets`` (path -> target), to its component."""
    for name, path in links:
        target_or_error = targets[path]
        old = components[name]
        if isinstance(target_or_error, str):
            components[name] = Component(name, old.kind, attributes=old.attributes, error=target_or_error)
        else:
            attrs = {**old.attributes, "target": encode_name(target_or_error)}
            components[name] = Component(name, old.kind, attributes=attrs)


def read_device_numbers(
    conn: SshConnection, tools: DeviceTools, components: dict[str, Component], devices: list[tuple[str, bytes]]
) -> None:
    """Add major/minor to device nodes (SFTP does not carry them), from the device's ``stat``: device-reported.

    Raises:
        CollectionError: the device's ``stat`` is missing, failed or did not answer once per node.
    """
    paths = [p for _, p in devices]
    if not tools.has("xargs", "sh", "stat"):
        raise CollectionError(
            f"{conn.target.label}: device nodes are selected and their numbers need the device's "
            "xargs, sh and stat, not all found in the dock's tool directories"
        )
    cmd = conn.run(tools.command(DEVNUM_TEMPLATE))
    cmd.feed(p + b"\0" for p in paths)
    out, status = cmd.result(
        64 * len(paths) + 1024, what="device numbers from the device's stat", program="the device's stat"
    )
    lines = out.split(b"\n")
    if status != 0 or lines[-1] != b"" or len(lines) - 1 != len(paths):
        raise CollectionError(
            f"{conn.target.label}: could not read device numbers with the device's stat "
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
            components[name] = Component(name, old.kind, attributes=old.attributes, error="cannot read device numbers")
        else:
            components[name] = Component(name, old.kind, attributes={**old.attributes, "major": major, "minor": minor})


def lie_finding(name: str, *, read: str, reported: str, detail: str) -> Finding:
    """A critical ``device_lied``: the bytes the dock read over SFTP hash to ``read``; the device said ``reported``."""
    return Finding(
        name, FindingKind.DEVICE_LIED, Severity.CRITICAL, expected=f"sha256:{read}", actual=f"sha256:{reported}",
        detail=detail,
    )  # fmt: skip


def set_digest(components: dict[str, Component], name: str, outcome: str, method: Method) -> None:
    """Record a hash outcome on ``name``'s component: a digest, or an error (``cannot ...``)."""
    old = components[name]
    if outcome.startswith("cannot"):
        components[name] = Component(name, old.kind, attributes=old.attributes, method=method, error=outcome)
    else:
        components[name] = Component(name, old.kind, digest=outcome, attributes=old.attributes, method=method)
