"""Measure one entry of a local tree through one open descriptor.

Everything a component records (type, mode, owner, size, extended
attributes, symlink target, content digest) comes from the same open file
description, so a name that is rename-swapped between the tree walk and the
measurement cannot lend one version's attributes to another version's bytes.
The descriptor's ``fstat`` must agree with the walk's ``lstat`` (inode, type,
mode, owner, size), and a regular file must not change while it is hashed
(its size, mtime and ctime before and after, and the bytes read, agree);
otherwise the component gets the error :data:`CHANGED`, never a pass.

Regular files are opened for reading (``O_NOFOLLOW | O_NONBLOCK``); every
other entry with ``O_PATH``, which opens nothing (a device's driver is never
called, a FIFO never blocks); its extended attributes are read through
``/proc/self/fd``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from attest.hashing import OPEN_FLAGS, ProgressCallback, sha256_fd
from attest.model import Component
from attest.names import encode_name
from attest.xattrs import describe_xattrs, is_security_xattr

__all__ = ["CHANGED", "Measured", "file_kind", "measure_file", "measure_other", "stat_attributes"]

#: The start of a component's error when it changed while it was measured.
CHANGED = "changed while it was measured"

_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
}

_OPEN_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP)


def file_kind(mode: int) -> str:
    """The component kind of a file with ``st_mode`` = ``mode``."""
    return _KINDS.get(stat.S_IFMT(mode), "unknown")


def stat_attributes(st: os.stat_result) -> dict[str, str | int | bool | None]:
    """The compared attributes of a ``stat`` result (symlink target and xattrs are added by the caller)."""
    attrs: dict[str, str | int | bool | None] = {
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    if stat.S_ISREG(st.st_mode):
        attrs["size"] = st.st_size
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        attrs["major"], attrs["minor"] = os.major(st.st_rdev), os.minor(st.st_rdev)
    return attrs


@dataclass(frozen=True)
class Measured:
    """One measured entry.

    Attributes:
        component: the component (with ``error`` set when it could not be measured).
        xattrs_unsupported: the filesystem cannot list extended attributes
            (``ENOTSUP``), so none were measured for this entry.
    """

    component: Component
    xattrs_unsupported: bool = False


def measure_file(
    name: str,
    path: bytes,
    walked: os.stat_result,
    *,
    expected: Mapping[str, Component] | None,
    buffer: bytearray,
    on_bytes: ProgressCallback | None = None,
) -> Measured:
    """Measure a regular file that the walk saw as ``walked``.

    Args:
        name: the component name.
        path: the file's path.
        walked: the walk's ``lstat`` of ``path``.
        expected: the trusted baseline's components, or ``None`` when making a
            baseline. With a baseline, a file it does not name, or whose kind
            or size differs from its entry, is not hashed (it is a finding
            whatever its bytes are); every other file is read to at most one
            byte past its size, so no read is unbounded.
        buffer: the worker's read buffer.
        on_bytes: progress callback.

    Returns:
        The measurement; never raises for anything the file system does.
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as e:
        gone = {errno.ELOOP: f"{CHANGED}: now a symlink", errno.ENOENT: f"{CHANGED}: gone"}
        return Measured(_failed(name, walked, gone.get(e.errno or 0, f"cannot read: {e.strerror}")))
    try:
        return _measure_open_file(name, fd, walked, expected=expected, buffer=buffer, on_bytes=on_bytes)
    except _UnmeasurableError as e:
        return Measured(_failed(name, walked, str(e)))
    except OSError as e:
        return Measured(_failed(name, walked, f"cannot read: {e.strerror}"))
    finally:
        os.close(fd)


def _measure_open_file(
    name: str,
    fd: int,
    walked: os.stat_result,
    *,
    expected: Mapping[str, Component] | None,
    buffer: bytearray,
    on_bytes: ProgressCallback | None,
) -> Measured:
    st = os.fstat(fd)
    _check_same(walked, st)
    attrs = stat_attributes(st)
    xattrs, unsupported = _security_xattrs(fd)
    if xattrs is not None:
        attrs["xattrs"] = xattrs
    skip = _why_not_hash(name, st.st_size, expected)
    if skip is not None:
        return Measured(Component(name=name, kind="file", attributes=attrs, not_hashed=skip), unsupported)
    digest, read = sha256_fd(fd, limit=st.st_size + 1, buffer=buffer, on_bytes=on_bytes)
    after = os.fstat(fd)
    if read == st.st_size == after.st_size and _content_clock(after) != _content_clock(st):
        raise _UnmeasurableError(f"{CHANGED}: modified while it was read")
    if read != st.st_size or after.st_size != st.st_size:
        raise _UnmeasurableError(f"{CHANGED}: {st.st_size} bytes at open, {read} read, {after.st_size} at the end")
    return Measured(Component(name=name, kind="file", digest=digest, attributes=attrs), unsupported)


def measure_other(name: str, path: bytes, walked: os.stat_result) -> Measured:
    """Measure an entry that is not a regular file (directory, symlink, FIFO, socket, device).

    Nothing is opened for reading: ``O_PATH`` gives a descriptor for its
    ``fstat``, its symlink target (``readlinkat``) and, through
    ``/proc/self/fd``, its extended attributes.

    Returns:
        The measurement; never raises for anything the file system does.
    """
    try:
        fd = os.open(path, _OPEN_PATH)
    except OSError as e:
        why = f"{CHANGED}: gone" if e.errno == errno.ENOENT else f"cannot open: {e.strerror}"
        return Measured(_failed(name, walked, why))
    try:
        st = os.fstat(fd)
        _check_same(walked, st)
        kind = file_kind(st.st_mode)
        attrs = stat_attributes(st)
        if kind == "symlink":
            try:
                attrs["target"] = encode_name(os.readlink(b"", dir_fd=fd))
            except OSError as e:
                raise _UnmeasurableError(f"cannot read link: {e.strerror}") from e
        xattrs, unsupported = _security_xattrs(f"/proc/self/fd/{fd}")
        if xattrs is not None:
            attrs["xattrs"] = xattrs
        return Measured(Component(name=name, kind=kind, attributes=attrs), unsupported)
    except _UnmeasurableError as e:
        return Measured(_failed(name, walked, str(e)))
    except OSError as e:
        return Measured(_failed(name, walked, f"cannot stat: {e.strerror}"))
    finally:
        os.close(fd)


class _UnmeasurableError(Exception):
    """The entry cannot be vouched for; the message is the component's error."""


def _security_xattrs(target: int | str) -> tuple[str | None, bool]:
    """The ``xattrs`` attribute of ``target`` (a descriptor or a /proc/self/fd path), and whether unsupported.

    One ``listxattr`` per entry; ``getxattr`` only for the security-relevant names.
    """
    try:
        names = os.listxattr(target)
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            return None, True
        raise _UnmeasurableError(f"cannot list extended attributes: {e.strerror}") from e
    wanted = [n for n in names if is_security_xattr(n)]
    if not wanted:
        return None, False
    values: dict[str, bytes] = {}
    for n in wanted:
        try:
            values[n] = os.getxattr(target, n)
        except OSError as e:
            # ENODATA: removed since it was listed; whatever the cause, not a value we can vouch for.
            raise _UnmeasurableError(f"cannot read extended attribute {n}: {e.strerror}") from e
    return describe_xattrs(values), False


def _why_not_hash(name: str, size: int, expected: Mapping[str, Component] | None) -> str | None:
    if expected is None:
        return None  # making a baseline: everything selected is hashed
    want = expected.get(name)
    if want is None:
        return "not in baseline"
    if want.kind != "file":
        return f"baseline has a {want.kind}"
    want_size = want.attributes.get("size")
    if isinstance(want_size, int) and not isinstance(want_size, bool) and want_size != size:
        return f"size differs ({size} bytes, baseline {want_size})"
    return None


def _check_same(walked: os.stat_result, now: os.stat_result) -> None:
    """Raise :class:`_UnmeasurableError` naming what differs between the walk's ``lstat`` and the ``fstat``."""
    out = []
    if (walked.st_dev, walked.st_ino) != (now.st_dev, now.st_ino):
        out.append(f"inode {walked.st_ino} -> {now.st_ino}")
    if stat.S_IFMT(walked.st_mode) != stat.S_IFMT(now.st_mode):
        out.append(f"type {file_kind(walked.st_mode)} -> {file_kind(now.st_mode)}")
    if stat.S_IMODE(walked.st_mode) != stat.S_IMODE(now.st_mode):
        out.append(f"mode {stat.S_IMODE(walked.st_mode):04o} -> {stat.S_IMODE(now.st_mode):04o}")
    if (walked.st_uid, walked.st_gid) != (now.st_uid, now.st_gid):
        out.append(f"owner {walked.st_uid}:{walked.st_gid} -> {now.st_uid}:{now.st_gid}")
    if stat.S_ISREG(now.st_mode) and walked.st_size != now.st_size:
        out.append(f"size {walked.st_size} -> {now.st_size}")
    if (stat.S_ISCHR(now.st_mode) or stat.S_ISBLK(now.st_mode)) and walked.st_rdev != now.st_rdev:
        out.append("device number")
    if out:
        raise _UnmeasurableError(f"{CHANGED}: {', '.join(out)}")


def _content_clock(st: os.stat_result) -> tuple[int, int, int]:
    # ctime moves on any write, chmod, chown or xattr change: one clock for all we measured.
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _failed(name: str, walked: os.stat_result, why: str) -> Component:
    return Component(name=name, kind=file_kind(walked.st_mode), attributes=stat_attributes(walked), error=why)
