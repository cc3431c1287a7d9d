r"""Extended attributes on an SSH target (file capabilities, POSIX ACLs, LSM labels), read by the device's getfattr.

SFTP version 3 cannot read extended attributes, so the only way to them is a
command on the device: ``getfattr --absolute-names -d -m - -e hex -h --`` by
absolute path (:class:`~attest.collectors.ssh.tools.DeviceTools`), fed every
listed path as NUL-separated stdin while the walk finds them
(:class:`XattrReader`). Values are hex, so any value parses; the names of
files come back with ``\`` and newlines as ``\ooo``, which
:func:`parse_getfattr` undoes, accepting only paths that were asked for, each
once. The decoded text is the same ``xattrs`` attribute the directory
collector records (:func:`attest.xattrs.describe_xattrs`).

What this is worth: it is the device's word (device-reported; no second way
in to check it), and the evidence notes say so. A device without
``getfattr`` (the ``attr`` package) is not measured at all, and the notes say
that instead: ``xattrs: not measured on this target``. A path the command
could not read is an error on its component, never "no attributes".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from attest.collectors.ssh.feed import PathFeed
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError
from attest.model import Component
from attest.transports.ssh import RemoteCommand, SshConnection, printable
from attest.xattrs import describe_xattrs

__all__ = ["GETFATTR_TEMPLATE", "XattrReader", "parse_getfattr"]

#: Every attribute (``-m -``) of every path on stdin, the link itself for a
#: symlink (``-h``), values in hex, one block per path that has any.
GETFATTR_TEMPLATE = "{xargs} -0 -r -s 16384 {getfattr} --absolute-names -d -m - -e hex -h --"

_ESCAPE = re.compile(rb"\\([0-7]{3})")
_HEX = re.compile(rb"0x[0-9a-fA-F]*")


def _unquote(text: bytes) -> bytes:
    r"""Undo getfattr's quoting: ``\ooo`` is one byte (a backslash itself is always written ``\134``)."""
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), text)


def parse_getfattr(out: bytes, asked: Iterable[bytes], *, label: str) -> dict[bytes, dict[str, bytes]]:
    """The attributes ``getfattr -d -m - -e hex`` printed: path -> name -> raw value (only paths that have any).

    Raises:
        CollectionError: a line is not what getfattr prints, or a path was not asked for or appears twice.
    """
    wanted = set(asked)
    result: dict[bytes, dict[str, bytes]] = {}
    current: dict[str, bytes] | None = None
    for line in out.split(b"\n"):
        if line.startswith(b"# file: "):
            path = _unquote(line[len(b"# file: ") :])
            if path not in wanted or path in result:
                raise CollectionError(
                    f"{label}: the device's getfattr reported {printable(path)!r}, which was not asked for once"
                )
            current = result[path] = {}
        elif not line:
            current = None
        else:
            name, sep, value = line.rpartition(b"=")
            if current is None or not sep or not _HEX.fullmatch(value) or len(value) % 2:
                raise CollectionError(f"{label}: the device's getfattr printed {printable(line[:100])!r}")
            current[_unquote(name).decode("utf-8", "surrogateescape")] = bytes.fromhex(value[2:].decode())
    return result


class XattrReader:
    """The device's ``getfattr``, fed every listed path while the walk finds them."""

    def __init__(self, conn: SshConnection, tools: DeviceTools) -> None:
        """Start it (the caller checked ``tools.has("xargs", "getfattr")``).

        Raises:
            TransportError: a channel could not be opened.
        """
        self._label = conn.target.label
        self._cmd: RemoteCommand = conn.run(tools.command(GETFATTR_TEMPLATE))
        self._feed = PathFeed()
        self._cmd.feed(self._feed)
        self._paths: list[bytes] = []

    def add(self, path: bytes) -> None:
        """Read ``path``'s extended attributes."""
        self._feed.put(path)
        self._paths.append(path)

    def end_input(self) -> None:
        """No more paths."""
        self._feed.close()

    def close(self) -> None:
        """Close the command."""
        self._cmd.close()

    def finish(self, components: dict[str, Component], names: Mapping[bytes, str]) -> None:
        """Add the ``xattrs`` attribute to every component that has security-relevant ones.

        Args:
            components: the components; updated in place.
            names: path -> component name, for every path added.

        Raises:
            CollectionError: the output is not what getfattr prints.
            TransportError: the device stopped answering, or the connection dropped.
        """
        limit = 64 * 1024 * 1024  # far beyond any real tree's attributes; a device sending more is misbehaving
        out, status = self._cmd.result(
            limit, what="extended attributes from the device's getfattr", program="the device's getfattr"
        )
        # xargs: 0 all ran fine, 123 getfattr failed for some path (which, only its stderr says).
        if status not in (0, 123):
            raise CollectionError(
                f"{self._label}: the device's getfattr failed (exit status {status}): {self._cmd.stderr_text()}"
            )
        found = parse_getfattr(out, self._paths, label=self._label)
        why = self._cmd.stderr_text()
        failed = f"cannot read extended attributes: the device's getfattr failed for some files ({why})"
        for path in self._paths:
            name = names[path]
            old = components[name]
            if old.error is not None:
                continue
            values = found.get(path)
            if values is None and status != 0:
                components[name] = Component(name, old.kind, old.digest, old.attributes, old.method, failed)
                continue
            text = describe_xattrs(values or {})
            if text is not None:
                components[name] = Component(
                    name, old.kind, old.digest, {**old.attributes, "xattrs": text}, old.method, old.error
                )
