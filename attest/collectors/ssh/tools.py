"""The device's programs the dock runs: found by absolute path, measured over SFTP before they run.

A command sent over SSH is run by the device's login shell. A bare name there
(``cat``, ``sha256sum``) is looked up in a PATH the device controls (sshd's
``SetEnv``, a login profile), so a program earlier in PATH could answer for
it. :class:`DeviceTools` therefore names every program by an absolute path
the dock chooses: the first of its ``tool_dirs`` (default ``/usr/bin``,
``/bin``) where an SFTP ``STAT`` shows a regular, executable file. Commands
are ``exec /usr/bin/env -i /usr/bin/xargs ...``: no PATH lookup, no shell
function or alias can stand in for a name with a slash, the environment the
login set up (``LD_PRELOAD``, locale) does not reach the tool, and the shell
is replaced rather than left to run anything after it.

Each program is then measured: its real path (``REALPATH``, so a BusyBox
applet resolves to ``/bin/busybox``) is hashed over SFTP, recorded in the
evidence notes (``tools``) and, when that path is a selected component,
compared with the baseline like any other file.

What this cannot stop, and docs/ssh.md says so: the login shell and its
startup files run before any command and could run something else instead
(of the SFTP server too, which sshd starts through the same shell unless it
is ``internal-sftp``). Against that the collector relies on the cross-check:
two different ways into the device must agree on every file.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Sequence

from attest.errors import ConfigError
from attest.transports.ssh import SftpSession

__all__ = ["DEFAULT_TOOL_DIRS", "DeviceTools"]

#: Where the dock looks for the device's programs, in order.
DEFAULT_TOOL_DIRS = (b"/usr/bin", b"/bin")

#: Characters a tool directory may hold: commands are built from these paths,
#: so nothing in them may mean anything to a shell.
_SAFE_PATH = re.compile(rb"/[A-Za-z0-9_./+-]*")


class DeviceTools:
    """The programs one run may start on the device, by absolute path, with their SFTP digests.

    Attributes:
        paths: tool name -> absolute path on the device (only the tools found).
        missing: tool names found in none of the directories.
        measured: real path -> SHA-256 of the program (or ``cannot read: ...``), read over SFTP.
        real: tool name -> the real path it runs (symlinks resolved by the device's SFTP server).
    """

    def __init__(self, paths: dict[str, bytes], missing: list[str], *, rank: dict[str, int] | None = None) -> None:
        """The tools found (``paths``) and not found (``missing``).

        Args:
            paths: tool name -> absolute path on the device.
            missing: tool names found in none of the directories.
            rank: tool name -> the index of the tool directory it was found in
                (default: all in the first); :meth:`first` prefers lower ones.
        """
        self.paths = paths
        self.missing = missing
        self._rank = rank if rank is not None else dict.fromkeys(paths, 0)
        self.measured: dict[bytes, str] = {}
        self.real: dict[str, bytes] = {}

    @classmethod
    def find(cls, sftp: SftpSession, names: Sequence[str], tool_dirs: Sequence[bytes]) -> DeviceTools:
        """Look each of ``names`` up in ``tool_dirs`` over SFTP (never through the device's PATH).

        Raises:
            ConfigError: a directory is not absolute or holds characters a shell would interpret.
            TransportError: the connection dropped or the device stopped answering.
        """
        for d in tool_dirs:
            if not _SAFE_PATH.fullmatch(d):
                raise ConfigError(f"tool directory {d!r}: expected an absolute path of letters, digits and _./+-")
        candidates = [d.rstrip(b"/") + b"/" + n.encode() for n in names for d in tool_dirs]
        found = sftp.stat_paths(candidates, follow=True)
        paths: dict[str, bytes] = {}
        rank: dict[str, int] = {}
        for name in names:
            for i, d in enumerate(tool_dirs):
                path = d.rstrip(b"/") + b"/" + name.encode()
                attrs = found[path]
                if (
                    not isinstance(attrs, str)
                    and attrs.mode is not None
                    and stat.S_ISREG(attrs.mode)
                    and attrs.mode & 0o111
                ):
                    paths[name] = path
                    rank[name] = i
                    break
        return cls(paths, [n for n in names if n not in paths], rank=rank)

    def measure(self, sftp: SftpSession) -> None:
        """Hash every tool found over SFTP, at its real path (see the module docstring).

        Raises:
            TransportError: the connection dropped or the device stopped answering.
        """
        if not self.paths:
            return
        real = sftp.realpaths(list(self.paths.values()))
        for name, path in self.paths.items():
            target = real[path]
            self.real[name] = target if isinstance(target, bytes) else path
        unique = sorted(set(self.real.values()))
        attrs = sftp.stat_paths(unique, follow=True)
        jobs = [(p, a.size) for p in unique if not isinstance(a := attrs[p], str) and a.size is not None]
        self.measured = {p: f"cannot read: {a}" for p in unique if isinstance(a := attrs[p], str)}
        self.measured.update(sftp.hash_files(jobs))

    def has(self, *names: str) -> bool:
        """Whether every one of ``names`` was found."""
        return all(n in self.paths for n in names)

    def first(self, *names: str) -> str | None:
        """Of ``names``, the one found in the earliest tool directory (within one, the earlier in ``names``).

        The tool directories are the dock's search order, as PATH is a
        shell's: a program in an earlier directory stands in front of the same
        job's programs in later ones. ``None`` if none was found.
        """
        found = [(self._rank.get(n, 0), i, n) for i, n in enumerate(names) if n in self.paths]
        return min(found)[2] if found else None

    def command(self, template: str) -> str:
        """``template`` with each ``{tool}`` replaced by its absolute path, run as ``exec [env -i] ...``.

        The paths come from the dock's own tool directories (checked for shell
        characters), never from the device. Without ``env`` the tool keeps the
        login's environment (the evidence notes say which tools were found).

        Raises:
            KeyError: a tool in ``template`` was not found (check :meth:`has` first).
        """
        line = template.format(**{n: p.decode() for n, p in self.paths.items()})
        env = self.paths.get("env")
        return f"exec {env.decode()} -i {line}" if env is not None else f"exec {line}"

    def notes(self) -> dict[str, object]:
        """What the evidence notes record: each tool's path, real path and digest; the tools not found."""
        out: dict[str, object] = {
            name: {
                "path": path.decode(),
                "real_path": self.real.get(name, path).decode("utf-8", "backslashreplace"),
                "sha256": self.measured.get(self.real.get(name, path), "not measured"),
            }
            for name, path in sorted(self.paths.items())
        }
        if self.missing:
            out["missing"] = sorted(self.missing)
        return out
