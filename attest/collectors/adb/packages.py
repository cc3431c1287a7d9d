r"""Installed packages as ``pm`` and ``dumpsys`` report them: strict parsers and the component names.

Output formats follow Android's own code (aosp-mirror/platform_frameworks_base,
``PackageManagerShellCommand.runListPackages`` and ``runPath``,
``PackageManagerService.dumpPackageLPr``, ``AppOpsService`` shell ``get``):

* ``pm list packages -f -U -i --show-versioncode``: one line per package,
  ``package:PATH=NAME versionCode:N  installer=PKG uid:N`` (``installer=null``
  for none). PATH may itself contain ``=`` (``/data/app/~~…==/``), a package
  name may not, so the name is what follows the **last** ``=``;
* ``pm path NAME``: ``package:PATH`` per APK, the base APK first, then splits;
* ``dumpsys package NAME``: the ``Package [NAME]`` block under ``Packages:``
  (``versionCode=``, ``versionName=``, ``flags=[ … SYSTEM … ]``,
  ``installerPackageName=``, ``install permissions:`` and, under ``User 0:``,
  ``runtime permissions:`` with ``NAME: granted=true|false``); the block of
  the factory version of an updated system app (``Hidden system packages:``)
  is not read. A package of a shared user id (``sharedUser=``) has its
  permissions printed in that user's ``SharedUser [NAME]`` block under
  ``Shared users:``, and they are read there. The package's own text
  (``versionName``) is printed raw, so the structure is strict: the
  ``Packages:`` section holds the one block and nothing else at its depth,
  every field and heading appears at most once, ``versionCode``, ``flags`` and
  ``User 0:`` must appear;
* ``cmd appops get NAME``: ``OP: mode`` lines (``Uid mode: OP: mode`` for the
  app's uid; a package mode wins), anything after ``;`` ignored.

Names are checked before use: a package name must be what Android allows
(letters, digits, ``_``, dot-separated segments each starting with a letter;
``android`` itself has no dot). The device reported any other name; no
command is ever run for it, and it becomes an error component named by
:func:`escaped` (no ``/``, no raw control bytes), so a baseline cannot be
made and a verification cannot pass while it is installed.

Components (``<name>`` a valid package name):

* ``package/<name>`` (kind ``package``, device-reported): version code and
  name, installer, system or not, the partition of its base APK; the digest is
  SHA-256 of their canonical JSON;
* ``apk/<name>/base.apk`` and ``apk/<name>/<split file>`` (kind ``apk``):
  the file's SHA-256 (:mod:`attest.collectors.adb.apks`);
* ``cert/<name>`` (kind ``signing-cert``): the signing certificate's SHA-256
  (:mod:`attest.collectors.adb.certs`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from attest.errors import CollectionError
from attest.model import Component, Method
from attest.names import encode_name
from attest.report import printable

__all__ = [
    "Details",
    "Listed",
    "PackageFormatError",
    "apk_files",
    "apk_name",
    "cert_name",
    "escaped",
    "package_component",
    "package_name",
    "parse_appops",
    "parse_dumpsys",
    "parse_list",
    "parse_paths",
    "valid_package_name",
]

_PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_PERMISSION = re.compile(r"[A-Za-z0-9_.]{1,255}")
_OP = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_MODE = re.compile(r"[a-z_]{1,32}")
_APK_FILE = re.compile(r"[A-Za-z0-9_.+-]{1,200}\.apk")
_MAX_NAME = 255
_MAX_PATH = 1024
_LIST_LINE = re.compile(
    rb"package:(?P<path>/.*)=(?P<name>[^=]*) versionCode:(?P<vc>-?[0-9]{1,19})"
    rb"  installer=(?P<installer>[^ ]*) uid:(?P<uid>[0-9]{1,10})"
)
#: Integers beyond this do not survive RFC 8785 canonical JSON; such a version code is kept as text.
_JSON_INT = (1 << 53) - 1


class PackageFormatError(CollectionError):
    """A package's ``pm``/``dumpsys``/``cmd appops`` output is not what Android prints."""


def valid_package_name(name: str) -> bool:
    """Whether ``name`` is a package name Android allows (so it is safe as a word and in component names)."""
    return len(name) <= _MAX_NAME and _PACKAGE.fullmatch(name) is not None


def escaped(raw: bytes) -> str:
    r"""A device-reported name as one component segment: :func:`encode_name` with ``/`` written ``\x2f`` (injective)."""
    return encode_name(raw).replace("/", "\\x2f")


def package_name(name: str) -> str:
    """The component of the package itself."""
    return f"package/{name}"


def apk_name(name: str, file: str) -> str:
    """The component of one APK file of a package (``base.apk``, ``split_config.arm64_v8a.apk``)."""
    return f"apk/{name}/{file}"


def cert_name(name: str) -> str:
    """The component of a package's signing certificate."""
    return f"cert/{name}"


def _version(text: bytes) -> int | str:
    value = int(text)
    return value if abs(value) <= _JSON_INT else text.decode()


@dataclass(frozen=True)
class Listed:
    """One line of ``pm list packages``.

    Attributes:
        raw: the name as printed.
        name: the name, when Android allows it (else ``None``: never passed to a command).
        path: the base APK's path.
        version_code: the (long) version code.
        installer: the installing package, ``None`` for ``null``.
    """

    raw: bytes
    name: str | None
    path: bytes
    version_code: int | str
    installer: str | None


def parse_list(out: bytes, *, max_packages: int) -> tuple[list[Listed], list[bytes]]:
    """Parse ``pm list packages -f -U -i --show-versioncode``: the packages, and the lines that are not packages.

    Raises:
        PackageFormatError: more than ``max_packages`` lines.
    """
    lines = out.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) > max_packages:
        raise PackageFormatError(f"the device lists {len(lines)} packages, more than the {max_packages} allowed")
    found: list[Listed] = []
    bad: list[bytes] = []
    for line in lines:
        m = _LIST_LINE.fullmatch(line.removesuffix(b"\r"))
        if m is None:
            bad.append(line)
            continue
        raw = m["name"]
        text = raw.decode("utf-8", "replace")
        installer = m["installer"].decode("utf-8", "replace")
        found.append(
            Listed(
                raw=raw,
                name=text if valid_package_name(text) and text.encode() == raw else None,
                path=m["path"],
                version_code=_version(m["vc"]),
                installer=None if installer == "null" else installer,
            )
        )
    return found, bad


def parse_paths(out: bytes, *, max_apks: int) -> list[bytes]:
    """Parse ``pm path NAME``: every APK path, the base first.

    Raises:
        PackageFormatError: no path, more than ``max_apks``, or a path that is not an absolute ``.apk`` path.
    """
    if not out.strip():
        raise PackageFormatError("'pm path' printed no APK")
    paths = []
    for line in out.removesuffix(b"\n").split(b"\n"):
        path = line.removesuffix(b"\r").removeprefix(b"package:")
        if not line.startswith(b"package:") or not path.startswith(b"/") or not path.endswith(b".apk"):
            raise PackageFormatError(f"'pm path' printed {printable(line[:120].decode('utf-8', 'replace'))!r}")
        if len(path) > _MAX_PATH or b"\0" in path:
            raise PackageFormatError(f"'pm path' printed a path of {len(path)} bytes")
        try:
            path.decode()  # device commands are text: a path that is not UTF-8 cannot be named to one
        except UnicodeDecodeError:
            raise PackageFormatError(f"'pm path' printed a path that is not UTF-8: {escaped(path)[:120]}") from None
        paths.append(path)
    if len(paths) > max_apks:
        raise PackageFormatError(f"'pm path' printed {len(paths)} APK files (at most {max_apks})")
    if len(set(paths)) != len(paths):
        raise PackageFormatError("'pm path' printed one APK twice")
    return paths


def apk_files(paths: list[bytes]) -> list[str]:
    """The component file names of a package's APKs: ``base.apk`` for the first, each split by its file name.

    Raises:
        PackageFormatError: a split's file name that is not a plain ``.apk`` name, or two alike.
    """
    names = ["base.apk"]
    for path in paths[1:]:
        file = path.rsplit(b"/", 1)[-1].decode("utf-8", "replace")
        if not _APK_FILE.fullmatch(file) or file in names:
            raise PackageFormatError(f"a split APK named {printable(file)!r}")
        names.append(file)
    return names


@dataclass
class Details:
    """What ``dumpsys package NAME`` says about one package.

    Attributes:
        version_code: ``versionCode=``.
        version_name: ``versionName=``.
        installer: ``installerPackageName=`` (``None`` for ``null``).
        system: ``SYSTEM`` among its ``flags``.
        permissions: permission -> granted: install permissions (always granted)
            and user 0's runtime permissions.
    """

    version_code: int | str | None = None
    version_name: str | None = None
    installer: str | None = None
    system: bool = False
    permissions: dict[str, bool] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _section(lines: list[str], title: str) -> list[str] | None:
    """The lines of the section ``title`` (a line of its own at column 0) up to the next one; ``None`` if absent.

    Raises:
        PackageFormatError: the title appears more than once.
    """
    starts = [i for i, line in enumerate(lines) if line == title]
    if not starts:
        return None
    if len(starts) > 1:
        raise PackageFormatError(f"'dumpsys package' printed {len(starts)} '{title}' sections")
    out = []
    for line in lines[starts[0] + 1 :]:
        if line and _indent(line) == 0:
            break
        out.append(line)
    return out


def _only_block(section: list[str], head: str, what: str) -> list[str]:
    """The lines after ``head``, the one line of ``section`` indented 2 or less; anything else there is refused.

    Text a package controls (its ``versionName``) is printed raw inside its block: a line break in it
    must not be able to end the block early or start another one.

    Raises:
        PackageFormatError: no such head, or another line at its depth.
    """
    heads = [i for i, line in enumerate(section) if line.strip() and _indent(line) <= 2]
    if len(heads) != 1 or not section[heads[0]].startswith(head):
        shown = ", ".join(repr(printable(section[i].strip()[:60])) for i in heads[:3]) or "nothing"
        raise PackageFormatError(f"'dumpsys package' printed {shown} where only {what} belongs")
    return section[heads[0] + 1 :]


def _permission_lines(
    block: list[str], start: int, *, granted_only: bool, max_permissions: int, into: dict[str, bool]
) -> int:
    """Read ``NAME: granted=BOOL[, flags=[...]]`` lines deeper than the heading at ``start`` into ``into``.

    Returns the index of the first line after them.

    Raises:
        PackageFormatError: a malformed line, a permission twice, or more than ``max_permissions``.
    """
    depth = _indent(block[start])
    i = start + 1
    while i < len(block):
        line = block[i]
        if not line.strip() or _indent(line) <= depth:
            break
        perm, sep, rest = line.strip().partition(": ")
        state = rest.split(",", 1)[0]
        if not sep or not _PERMISSION.fullmatch(perm) or state not in ("granted=true", "granted=false"):
            raise PackageFormatError(f"'dumpsys package' printed the permission line {printable(line.strip()[:120])!r}")
        if perm in into or len(into) >= max_permissions:
            raise PackageFormatError(f"'dumpsys package' printed {perm} twice, or more than {max_permissions}")
        into[perm] = granted_only or state == "granted=true"
        i += 1
    return i


#: ``sharedUser=SharedUserSetting{HASH NAME/APPID}``: a package of a shared user id.
_SHARED_USER = re.compile(r"SharedUserSetting\{[0-9a-f]{1,16} (?P<name>[A-Za-z0-9_.]{1,255})/[0-9]{1,10}\}")
#: A user's section in a block: ``User 0:`` (then, in a package's block, its state on the same line).
_USER = re.compile(r"User [0-9]{1,6}:")
#: The fields of a package block, each on a line of its own at depth 4, at most once.
_FIELDS = ("versionCode", "versionName", "installerPackageName", "flags", "sharedUser")


def _read_block(
    block: list[str], what: str, *, max_permissions: int, require_user_0: bool
) -> tuple[dict[str, str], dict[str, bool]]:
    """One block's fields (:data:`_FIELDS`) and permissions: install ones, and user 0's runtime ones.

    Linear in the block; every heading at most once (a repeated one could overwrite what came before).
    A package's block always has a ``User 0:`` section (``require_user_0``); a shared user's has one
    only when user 0 holds something.

    Raises:
        PackageFormatError: a field or heading twice, a heading where none belongs, or a
            malformed permission line.
    """
    fields: dict[str, str] = {}
    perms: dict[str, bool] = {}
    headings: set[str] = set()

    def once(heading: str) -> None:
        if heading in headings:
            raise PackageFormatError(f"'dumpsys package' printed '{heading}' twice for {what}")
        headings.add(heading)

    user: str | None = None  # the ``User N:`` section the lines belong to
    i = 0
    while i < len(block):
        line = block[i]
        text = line.strip()
        depth = _indent(line)
        if depth == 4:
            user = None
            key, eq, value = text.partition("=")
            if eq and key in _FIELDS:
                if key in fields:
                    raise PackageFormatError(f"'dumpsys package' printed {key} twice for {what}")
                fields[key] = value
            elif text == "install permissions:" or _USER.match(text):
                heading = text if text == "install permissions:" else text.split(":", 1)[0]
                once(heading)
                if heading == "install permissions:":
                    i = _permission_lines(block, i, granted_only=True, max_permissions=max_permissions, into=perms)
                    continue
                user = heading
        elif depth == 6 and text == "runtime permissions:" and user is not None:
            once(f"{user} runtime permissions")
            if user == "User 0":
                i = _permission_lines(block, i, granted_only=False, max_permissions=max_permissions, into=perms)
                continue
        elif text in ("install permissions:", "runtime permissions:") or _USER.match(text):
            # A heading anywhere else: a layout this parser does not know, whose permissions it would miss.
            raise PackageFormatError(f"'dumpsys package' printed {printable(text[:40])!r} where it was not expected")
        i += 1
    if require_user_0 and "User 0" not in headings:
        raise PackageFormatError(f"'dumpsys package' printed no 'User 0:' section for {what}")
    return fields, perms


def parse_dumpsys(out: bytes, name: str, *, max_permissions: int) -> Details:
    """Parse ``dumpsys package NAME`` (see the module docstring).

    The ``Packages:`` section must hold NAME's block and nothing else; a package
    of a shared user id has its permissions read from that user's block under
    ``Shared users:`` (Android prints them there, not in the package's block).

    Raises:
        PackageFormatError: no block for ``name``, anything else where it belongs, a field
            or heading missing or twice, or a malformed permission line.
    """
    lines = out.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    section = _section(lines, "Packages:")
    if section is None:
        raise PackageFormatError("'dumpsys package' printed no 'Packages:' section")
    block = _only_block(section, f"  Package [{name}] (", f"the block of {name}")
    fields, perms = _read_block(block, f"package {name}", max_permissions=max_permissions, require_user_0=True)
    if "sharedUser" in fields:
        m = _SHARED_USER.fullmatch(fields["sharedUser"])
        if m is None:
            shown = printable(fields["sharedUser"][:80])
            raise PackageFormatError(f"'dumpsys package {name}' printed sharedUser={shown}")
        shared = _section(lines, "Shared users:")
        if shared is None:
            raise PackageFormatError(f"'dumpsys package {name}' printed no 'Shared users:' section for its shared user")
        su_block = _only_block(shared, f"  SharedUser [{m['name']}] (", f"the block of shared user {m['name']}")
        _, su_perms = _read_block(
            su_block, f"shared user {m['name']}", max_permissions=max_permissions, require_user_0=False
        )
        for perm, granted in su_perms.items():
            if perms.get(perm, granted) != granted:
                raise PackageFormatError(f"'dumpsys package {name}' printed {perm} both granted and not")
            perms[perm] = granted
    for required in ("versionCode", "flags"):
        if required not in fields:
            raise PackageFormatError(f"'dumpsys package {name}' printed no {required}")
    code = fields["versionCode"].split(" ", 1)[0]
    if not re.fullmatch(r"-?[0-9]{1,19}", code):
        raise PackageFormatError(f"'dumpsys package {name}' printed versionCode={printable(code[:40])}")
    installer = fields.get("installerPackageName")
    return Details(
        version_code=_version(code.encode()),
        version_name=fields["versionName"][:256] if "versionName" in fields else None,
        installer=None if installer in (None, "null") else installer[:256],
        system=" SYSTEM " in f" {fields['flags'].strip('[]')} ",
        permissions=perms,
    )


def parse_appops(out: bytes, *, max_ops: int) -> dict[str, str]:
    """Parse ``cmd appops get NAME``: op -> mode, the package's own mode winning over its uid's.

    Lines of another shape (access history, ``No operations.``) are not modes and are skipped.

    Raises:
        PackageFormatError: more than ``max_ops`` ops.
    """
    package: dict[str, str] = {}
    uid: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").split("\n"):
        if line.startswith(" "):
            continue
        text = line.strip()
        target = package
        if text.startswith("Uid mode: "):
            text, target = text.removeprefix("Uid mode: "), uid
        op, sep, rest = text.partition(": ")
        mode = rest.split(";", 1)[0].strip()
        if sep and _OP.fullmatch(op) and _MODE.fullmatch(mode):
            target.setdefault(op, mode)
    ops = {**uid, **package}
    if len(ops) > max_ops:
        raise PackageFormatError(f"'cmd appops get' printed {len(ops)} operations (at most {max_ops})")
    return ops


def package_component(name: str, details: Details, *, base: bytes, listed: Listed) -> Component:
    """``package/<name>``: version, installer, system flag and partition, device-reported.

    Raises:
        PackageFormatError: ``pm list`` and ``dumpsys`` disagree on the version code or the installer.
    """
    if details.version_code != listed.version_code or details.installer != listed.installer:
        raise PackageFormatError(
            f"'pm list packages' and 'dumpsys package {name}' disagree: version code "
            f"{listed.version_code} vs {details.version_code}, installer {listed.installer} vs {details.installer}"
        )
    attrs: dict[str, str | int | bool | None] = {
        "version_code": details.version_code,
        "version_name": details.version_name,
        "installer": details.installer,
        "system": details.system,
        "partition": base.split(b"/")[1].decode("utf-8", "replace"),
    }
    text = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return Component(package_name(name), "package", digest, attrs, Method.DEVICE_REPORTED)
