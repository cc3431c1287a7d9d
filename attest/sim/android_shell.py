"""The simulated controller's shell: ``getprop``, ``pm``, ``dumpsys package``, ``cmd appops``, ``sha256sum``, ``cat``.

A command line arrives as one string, as on a real device where
``/system/bin/sh -c`` runs it. :func:`split_command` reads it the way sh
would for plain words and quotes; any *unquoted* shell syntax (``;``, ``|``,
``&``, ``$``, backquotes, redirections, parentheses, globs, newlines) is
answered as a syntax error with exit 2 and counted in :attr:`Shell.injections`,
so a test sees at once when a client let a device-supplied name reach the
shell unquoted.

Output formats follow Android's own code:

* ``getprop``: ``[key]: [value]`` lines, or the bare value for one key;
* ``pm list packages -f -U --show-versioncode -i``: ``package:PATH=NAME
  versionCode:N  installer=PKG uid:N`` (PackageManagerShellCommand
  ``runListPackages`` in aosp-mirror/platform_frameworks_base: note the two
  spaces before ``installer=``, printed in this order);
* ``pm path NAME``: ``package:PATH`` per APK (base first, then splits);
* ``dumpsys package NAME``: a ``Packages:`` block with ``versionCode=``,
  ``versionName=``, ``codePath=``, ``installerPackageName=``,
  ``install permissions:`` and ``runtime permissions:`` (``NAME: granted=BOOL,
  flags=[ ... ]``);
* ``cmd appops get NAME``: ``OP: mode`` lines;
* ``sha256sum FILE...``: ``HEX  PATH`` lines, as toybox prints them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from attest.sim.android_device import Apk, Controller, Package

__all__ = ["Output", "Shell", "split_command"]

_SYNTAX = set(";&|<>()$`\n*?[]{}~#")


class ShellSyntaxError(ValueError):
    """The command line holds unquoted shell syntax (or unbalanced quotes)."""


def split_command(line: str) -> list[str]:
    """The words of a plain command line, as sh would split it.

    Raises:
        ShellSyntaxError: unquoted shell syntax, or an unterminated quote.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated quoted string")
            word.append(line[i + 1 : end])
            in_word, i = True, end + 1
            continue
        if c == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                if line[j] in "$`":
                    raise ShellSyntaxError(f"expansion {line[j]!r} inside double quotes")
                if line[j] == "\\" and j + 1 < len(line):
                    j += 1
                word.append(line[j])
                j += 1
            if j >= len(line):
                raise ShellSyntaxError("unterminated quoted string")
            in_word, i = True, j + 1
            continue
        if c == "\\" and i + 1 < len(line):
            word.append(line[i + 1])
            in_word, i = True, i + 2
            continue
        if c in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        if c in _SYNTAX:
            raise ShellSyntaxError(f"unquoted {c!r}")
        word.append(c)
        in_word, i = True, i + 1
    if in_word:
        words.append("".join(word))
    return words


@dataclass
class Output:
    """One command's result: stdout as chunks (large files are produced lazily), stderr, status."""

    stdout: Iterator[bytes]
    stderr: bytes = b""
    status: int = 0


def _text(text: str, status: int = 0, stderr: str = "") -> Output:
    return Output(iter([text.encode("utf-8", "surrogateescape")]), stderr.encode(), status)


def file_chunks(apk: Apk, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """The bytes a read of ``apk`` yields: its data, then (huge-APK fault) generated filler to the claimed size."""
    sent = 0
    for i in range(0, len(apk.data), chunk):
        piece = apk.data[i : i + chunk]
        sent += len(piece)
        yield piece
    filler = hashlib.sha256(apk.path.encode()).digest() * (chunk // 32)
    while sent < apk.size:
        piece = filler[: min(chunk, apk.size - sent)]
        sent += len(piece)
        yield piece


@dataclass
class Shell:
    """Runs command lines against a :class:`Controller`.

    Attributes:
        device: what the commands see.
        lie_sha256: ``sha256sum`` reports the approved digest of every APK, not the served one.
        injections: command lines refused for unquoted shell syntax.
    """

    device: Controller
    lie_sha256: bool = False
    injections: list[str] = field(default_factory=list)

    def run(self, line: str) -> Output:
        """Run one command line."""
        try:
            argv = split_command(line)
        except ShellSyntaxError as e:
            self.injections.append(line)
            return _text("", 2, f"/system/bin/sh: syntax error: {e}\n")
        if not argv:
            return _text("")
        name, args = argv[0], argv[1:]
        handler: Callable[[list[str]], Output] | None = {
            "getprop": self._getprop,
            "pm": self._pm,
            "dumpsys": self._dumpsys,
            "cmd": self._cmd,
            "sha256sum": self._sha256sum,
            "cat": self._cat,
            "echo": lambda a: _text(" ".join(a) + "\n"),
            "true": lambda _a: _text(""),
            "false": lambda _a: _text("", 1),
            "id": lambda _a: _text("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log)\n"),
        }.get(name)
        if handler is None:
            return _text("", 127, f"/system/bin/sh: {name}: inaccessible or not found\n")
        return handler(args)

    # -- getprop -----------------------------------------------------------------------------

    def _getprop(self, args: list[str]) -> Output:
        props = self.device.props
        if not args:
            return _text("".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())))
        return _text(props.get(args[0], args[1] if len(args) > 1 else "") + "\n")

    # -- pm ----------------------------------------------------------------------------------

    def _pm(self, args: list[str]) -> Output:
        if args[:2] == ["list", "packages"]:
            return self._list_packages(args[2:])
        if args[:1] == ["path"] and len(args) == 2:
            pkg = self.device.package(args[1])
            if pkg is None:
                return _text("", 1)
            return _text("".join(f"package:{apk.path}\n" for apk in pkg.apks))
        return _text("", 1, f"Unknown command: {' '.join(args[:2])}\n")

    def _list_packages(self, args: list[str]) -> Output:
        flags: set[str] = set()
        filt: str | None = None
        it = iter(args)
        for a in it:
            if a == "--user":
                next(it, None)
            elif a.startswith("-"):
                if a not in {"-f", "-U", "-i", "-s", "-3", "-e", "-d", "--show-versioncode", "-a", "--apex-only"}:
                    return _text("", 255, f"Error: Unknown option: {a}\n")
                flags.add(a)
            else:
                filt = a

        def wanted(p: Package) -> bool:
            if filt is not None and filt not in p.name:
                return False
            if "-s" in flags and not p.system:
                return False
            if "-3" in flags and p.system:
                return False
            return "-d" not in flags

        def lines() -> Iterator[bytes]:
            for p in self.device.packages:
                if not wanted(p):
                    continue
                line = "package:"
                if "-f" in flags:
                    line += p.apks[0].path + "="
                line += p.name
                if "--show-versioncode" in flags:
                    line += f" versionCode:{p.version_code}"
                if "-i" in flags:
                    line += f"  installer={p.installer}"
                if "-U" in flags:
                    line += f" uid:{p.uid}"
                yield (line + "\n").encode("utf-8", "surrogateescape")

        return Output(lines())

    # -- dumpsys / cmd ------------------------------------------------------------------------

    def _dumpsys(self, args: list[str]) -> Output:
        if len(args) != 2 or args[0] != "package":
            return _text("", 0, "")
        pkg = self.device.package(args[1])
        if pkg is None:
            return _text("Dexopt state:\n  Unable to find package: " + args[1] + "\n")
        base = pkg.apks[0].path.rsplit("/", 1)[0]
        out = [
            "Packages:",
            f"  Package [{pkg.name}] ({hashlib.sha256(pkg.name.encode()).hexdigest()[:7]}):",
            f"    userId={pkg.uid}",
            f"    pkg=Package{{{hashlib.sha256(pkg.name.encode()).hexdigest()[7:14]} {pkg.name}}}",
            f"    codePath={base}",
            f"    resourcePath={base}",
            "    primaryCpuAbi=arm64-v8a",
            f"    versionCode={pkg.version_code} minSdk=26 targetSdk=30",
            f"    versionName={pkg.version_name}",
            f"    flags=[ {'SYSTEM ' if pkg.system else ''}HAS_CODE ALLOW_CLEAR_USER_DATA ]",
            f"    installerPackageName={pkg.installer}",
            (
                f"    signatures=PackageSignatures{{{hashlib.sha256(pkg.signer.encode()).hexdigest()[:7]} version:2, "
                f"signatures:[{hashlib.sha256(pkg.signer.encode()).hexdigest()[7:15]}], past signatures:[]}}"
            ),
            "    install permissions:",
            *(f"      {perm}: granted=true" for perm in pkg.install),
            "    User 0: ceDataInode=4097 installed=true hidden=false suspended=false stopped=false enabled=0",
            "      runtime permissions:",
            *(
                f"        {perm}: granted={str(granted).lower()}, flags=[ USER_SET|USER_SENSITIVE_WHEN_GRANTED ]"
                for perm, granted in pkg.runtime.items()
            ),
        ]
        return _text("\n".join(out) + "\n")

    def _cmd(self, args: list[str]) -> Output:
        if args[:1] == ["package"]:
            return self._pm(args[1:])
        if args[:2] == ["appops", "get"] and len(args) >= 3:
            pkg = self.device.package(args[2])
            if pkg is None:
                return _text("", 255, f"Error: No UID for {args[2]} in user 0\n")
            if not pkg.appops:
                return _text("No operations.\n")
            return _text("".join(f"{op}: {mode}\n" for op, mode in pkg.appops.items()))
        return _text("", 255, f"Can't find service: {args[0] if args else ''}\n")

    # -- files ---------------------------------------------------------------------------------

    def _sha256sum(self, args: list[str]) -> Output:
        files = self.device.files()
        out: list[str] = []
        err: list[str] = []
        for path in (a for a in args if not a.startswith("-") or a == "-"):
            apk = files.get(path)
            if apk is None:
                err.append(f"sha256sum: {path}: No such file or directory\n")
                continue
            if self.lie_sha256:
                digest = hashlib.sha256(apk.approved).hexdigest()
            elif apk.claimed_size is not None:
                digest = hashlib.sha256(apk.path.encode() + b"huge").hexdigest()
            else:
                digest = hashlib.sha256(apk.data).hexdigest()
            out.append(f"{digest}  {path}\n")
        return _text("".join(out), 1 if err else 0, "".join(err))

    def _cat(self, args: list[str]) -> Output:
        files = self.device.files()
        missing = [a for a in args if a not in files]
        if missing:
            return _text("", 1, "".join(f"cat: {m}: No such file or directory\n" for m in missing))
        return Output(chunk for a in args for chunk in file_chunks(files[a]))
