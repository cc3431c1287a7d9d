r"""The device hashes files with its own programs: batched runs fed while the walk finds files.

Both methods run it. In remote mode the digests of GNU ``sha256sum -z`` are
the measurement (``device-reported``, audited by a sample); in pull mode they
are the cross-check of every file the dock read over SFTP, and there the
device's ``openssl dgst -sha256`` may compute them instead (the same SHA-256,
three times faster where the CPU has SHA instructions, which coreutils does
not use). :class:`DeviceHashing` runs :data:`HASH_CHANNELS` commands side by
side (one per core it is given; never one per file), each fed NUL-separated
paths on stdin while the dock is still listing, with the tools named by
absolute path (:class:`~attest.collectors.ssh.tools.DeviceTools`).

Hand-written here: the parsers of their output. ``sha256sum -z`` records are
accepted only when well-formed, for paths that were asked for, each once.
``openssl dgst -r`` has no unambiguous framing (a newline in a name is
written as ``\n`` by OpenSSL 3, and a backslash is not escaped), so its output
is accepted only when the run succeeded for every path (exit status 0) and
holds exactly one record per path, in the order asked, each naming its path
in a form OpenSSL writes (:func:`parse_openssl_dgst`); anything else is not
a digest of any file.
"""

from __future__ import annotations

from collections.abc import Iterator

from attest.collectors.ssh.feed import PathFeed
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError
from attest.transports.ssh import RemoteCommand, SshConnection, printable

__all__ = [
    "DEVICE_PARTITION_WAIT",
    "HASH_CHANNELS",
    "HASH_TEMPLATE",
    "MIN_DEVICE_RATE",
    "OPENSSL_TEMPLATE",
    "PROGRAMS",
    "SENTINEL",
    "DeviceHashing",
    "HashToolFailedError",
    "parse_openssl_dgst",
]

#: The device hashes every path it reads on stdin (NUL-separated), a few
#: hundred per process: ``-s 16384`` makes xargs start hashing after 16 KiB of
#: paths rather than a full 128 KiB command line, so the device works while the
#: dock lists (7 % of a run on the Debian tree). ``-z`` ends each output record
#: with a NUL and turns off name escaping, so any name parses; ``--`` keeps a
#: name starting with '-' a name. The paths never enter the command line; the
#: tools are absolute paths (:meth:`DeviceTools.command`).
HASH_TEMPLATE = "{xargs} -0 -r -s 16384 {sha256sum} -z --"

#: The same with OpenSSL (pull mode's cross-check, where the device has it):
#: ``-r`` prints ``HEX *PATH`` per file; every path is absolute, and ``--``
#: ends the options all the same. OpenSSL uses the CPU's SHA instructions,
#: coreutils does not: 0.10 s against 0.33 s of the device's CPU for the
#: 112 MB Debian tree here, and on a companion those cores also run its SFTP
#: server and flight software. It starts slower (4 ms against 1 ms per run
#: here), hence batches of 64 KiB of paths: 5 runs for the Debian tree, where
#: 16 KiB made 18 and cost the device 0.05-0.07 s more; hashing that fast, it
#: catches up with the listing all the same.
OPENSSL_TEMPLATE = "{xargs} -0 -r -s 65536 {openssl} dgst -sha256 -r --"

#: What :class:`DeviceHashing` can run: program -> command template.
PROGRAMS = {"sha256sum": HASH_TEMPLATE, "openssl": OPENSSL_TEMPLATE}

#: Every hashing command is asked for this first: a tool that hashes at all
#: answers with the empty file's digest, so no answer for it means the tool
#: failed as a whole (missing, or BusyBox without ``-z``) rather than per file.
SENTINEL = b"/dev/null"
_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#: Remote mode's hashing commands, side by side, each on its own channel (a
#: companion computer has several cores; sha256sum uses one). Pull mode's
#: cross-check uses one: it runs beside the dock's reads, which the link
#: bounds, and on loopback two took cores from the reads (0.95x against 0.87x
#: of the anchor on the Debian tree).
HASH_CHANNELS = 2

#: The slowest hashing (bytes/s) a device may do before it counts as stalled.
MIN_DEVICE_RATE = 4e6
#: Extra seconds of silence allowed when partitions (of unknown size) are hashed.
DEVICE_PARTITION_WAIT = 3600.0


class HashToolFailedError(CollectionError):
    """The device's hashing command failed as a whole (missing, no GNU ``sha256sum -z``, openssl not for every path)."""


class DeviceHashing:
    """Batched hashing commands on the device (:data:`HASH_CHANNELS` by default), fed while the walk finds files.

    Each file goes to the command with the fewest bytes so far, so that the
    device's cores finish together; each command's output is its own stream,
    so records never interleave.

    Attributes:
        program: the device's program that hashes (a key of :data:`PROGRAMS`).
    """

    def __init__(
        self, conn: SshConnection, tools: DeviceTools, *, channels: int = HASH_CHANNELS, program: str = "sha256sum"
    ) -> None:
        """Start ``channels`` commands of ``program`` (the caller checked ``tools.has("xargs", program)``).

        Raises:
            TransportError: a channel could not be opened.
        """
        self._label = conn.target.label
        self._timeout = conn.timeout
        self.program = program
        command = tools.command(PROGRAMS[program])
        self._cmds = [conn.run(command) for _ in range(channels)]
        self._feeds = [PathFeed() for _ in self._cmds]
        for cmd, feed in zip(self._cmds, self._feeds, strict=True):
            feed.put(SENTINEL)
            cmd.feed(feed)
        self._load = [0] * len(self._cmds)
        self._jobs: list[tuple[list[bytes], list[int | None]]] = [([SENTINEL], [0]) for _ in self._cmds]

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

    def digests(self) -> dict[bytes, str]:
        """Every path's digest as the device reports it, or ``cannot read: ...``; the channels are closed after.

        Raises:
            HashToolFailedError: a command failed as a whole.
            CollectionError: a command printed what ``sha256sum -z`` does not.
            TransportError: the device stopped answering, or the connection dropped.
        """
        reported: dict[bytes, str] = {}
        try:
            for cmd, paths, sizes in self.groups():
                reported.update(
                    _device_hashes(cmd, paths, sizes, timeout=self._timeout, label=self._label, program=self.program)
                )
        finally:
            self.close()
        return reported


def _device_hashes(
    cmd: RemoteCommand, paths: list[bytes], sizes: list[int | None], *, timeout: float, label: str, program: str
) -> dict[bytes, str]:
    """Every path's digest as one command of :data:`PROGRAMS` reports it, or an error message (``cannot ...``).

    ``cmd`` is the running command of ``program``, fed ``paths``. The device
    prints nothing while it hashes one file, so a wait may last the timeout
    plus that file's size at :data:`MIN_DEVICE_RATE` (or
    :data:`DEVICE_PARTITION_WAIT` when a block device is among them).

    Raises:
        HashToolFailedError: the command failed as a whole (not even :data:`SENTINEL` hashed, or
            ``openssl`` not for every path).
        CollectionError: the output is not what the program prints, or names a path not asked for.
    """
    largest = max((size or 0 for size in sizes), default=0)
    quiet = timeout + largest // MIN_DEVICE_RATE
    if any(size is None for size in sizes):
        quiet += DEVICE_PARTITION_WAIT
    cmd.set_timeout(quiet)
    who = f"the device's {program}"
    # A record is the digest, two bytes, the path (OpenSSL may write it escaped, at most twice as long), an end.
    limit = sum(2 * len(p) + 68 for p in paths) + 1024
    out, status = cmd.result(limit, what=f"digests from {who}", program=who)
    if program == "openssl":
        # xargs: 0 all ran fine. Anything else leaves the records unattributable (see the module docstring).
        if status != 0:
            raise HashToolFailedError(f"{label}: {who} failed (exit status {status}): {cmd.stderr_text()}")
        result = parse_openssl_dgst(out, paths, label=label)
    else:
        # xargs: 0 all ran fine, 123 some file failed (reported per file below).
        if status not in (0, 123):
            raise HashToolFailedError(
                f"{label}: {who} failed (exit status {status}): {cmd.stderr_text()}; "
                "it needs GNU coreutils (sha256sum -z)"
            )
        result = _parse_sha256sum_z(out, paths, label=label)
    sentinel = result.pop(SENTINEL, None)
    if sentinel is None:
        raise HashToolFailedError(
            f"{label}: {who} hashed nothing (exit status {status}): {cmd.stderr_text()}; "
            "it needs GNU coreutils (sha256sum -z)"
        )
    if sentinel != _EMPTY:
        raise CollectionError(f"{label}: {who} says {SENTINEL.decode()} is not empty")
    why = cmd.stderr_text() or "no output for it"
    for p in paths:
        if p != SENTINEL:
            result.setdefault(p, f"cannot read: the device could not hash it ({why})")
    return result


_HEXDIGITS = frozenset(b"0123456789abcdef")


def _parse_sha256sum_z(out: bytes, paths: list[bytes], *, label: str) -> dict[bytes, str]:
    """The records of ``sha256sum -z``: path -> digest, for paths asked for, each once.

    Raises:
        CollectionError: a record is malformed, the output is cut off, or a path was not asked for once.
    """
    records = out.split(b"\0")
    if records[-1] != b"":
        raise CollectionError(f"{label}: the device's sha256sum output is cut off (no final NUL)")
    wanted = set(paths)
    result: dict[bytes, str] = {}
    for rec in records[:-1]:
        digest, sep, path = rec[:64], rec[64:66], rec[66:]
        if len(digest) != 64 or not set(digest) <= _HEXDIGITS or sep not in (b"  ", b" *"):
            raise CollectionError(f"{label}: the device's sha256sum printed {printable(rec[:100])!r}")
        if path not in wanted or path in result:
            raise CollectionError(
                f"{label}: the device's sha256sum reported {printable(path)!r}, which was not asked for once"
            )
        result[path] = digest.decode()
    return result


def parse_openssl_dgst(out: bytes, paths: list[bytes], *, label: str) -> dict[bytes, str]:
    r"""The records ``openssl dgst -sha256 -r`` printed for ``paths``, which it hashed all: path -> digest.

    The output must hold exactly one record per path, in the order of
    ``paths``: ``HEX *PATH`` and a newline, the path as given (OpenSSL 1.1
    writes it so, whatever it holds), or, on a line that starts with a
    backslash, with each newline written as ``\n`` (OpenSSL 3) and perhaps
    each backslash as ``\\`` (coreutils' style). Which path a record belongs
    to comes from its position, never from the name it prints: OpenSSL 3's
    form is ambiguous (``a\nb`` is written alike for a name holding a newline
    and for one holding a backslash and an ``n``), and the caller accepts this
    output only when the program succeeded for every path. The name must still
    be the expected path's, so that output of another order, or of other
    files, is never taken for these.

    Raises:
        CollectionError: anything else (a malformed or cut-off record, another
            path or order, more or fewer records).
    """
    result: dict[bytes, str] = {}
    pos = 0
    for path in paths:
        escaped = out.startswith(b"\\", pos)
        start = pos + escaped
        digest = out[start : start + 64]
        name_at = start + 66
        if len(digest) != 64 or not set(digest) <= _HEXDIGITS or out[start + 64 : name_at] != b" *":
            raise CollectionError(f"{label}: the device's openssl printed {printable(out[pos : pos + 100])!r}")
        if escaped:
            end = out.find(b"\n", name_at)
            name = out[name_at:end] if end >= 0 else b""
            # OpenSSL 3 escapes a name with a newline; coreutils' style also one with a backslash.
            ok = end >= 0 and (
                (b"\n" in path and name == path.replace(b"\n", b"\\n"))
                or ((b"\n" in path or b"\\" in path) and name == path.replace(b"\\", b"\\\\").replace(b"\n", b"\\n"))
            )
        else:
            end = name_at + len(path)
            ok = out[name_at:end] == path and out[end : end + 1] == b"\n"
        if not ok:
            raise CollectionError(
                f"{label}: the device's openssl did not report {printable(path)!r} where it was asked for: "
                f"{printable(out[pos : pos + 100])!r}"
            )
        result[path] = digest.decode()
        pos = end + 1
    if pos != len(out):
        raise CollectionError(
            f"{label}: the device's openssl printed more than one record per path: {printable(out[pos : pos + 100])!r}"
        )
    return result
