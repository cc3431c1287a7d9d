"""Security-relevant extended attributes, decoded to one readable, comparable string.

Pure: raw values in, text out; no IO. A collector reads a file's extended
attributes (names and raw values) however its transport allows and hands them
to :func:`describe_xattrs`; the result is the component's ``xattrs`` attribute.

What is measured (:func:`is_security_xattr`), and how each value is shown:

==============================  =====================================================
``security.capability``         file capabilities, as ``cap_net_raw,cap_setuid+ep``
                                (clauses of capabilities sharing the same flags,
                                flags in the order ``e``, ``i``, ``p``; a v3 value adds
                                `` rootid=N``; capabilities without a name are ``cap_N``)
``system.posix_acl_access``     POSIX ACLs in ``getfacl``'s short text form,
``system.posix_acl_default``    ``user::rwx,user:1000:r-x,group::r-x,mask::r-x,other::r-x``
                                (numeric ids: the device's user names are not the dock's)
``security.*`` (any other)      SELinux, Smack, IMA, EVM, AppArmor and any future LSM
                                label: the text when it is printable ASCII without
                                ``;`` (one trailing NUL dropped), else ``hex:<hex>``
==============================  =====================================================

Every other namespace is ignored: ``user.*`` grants nothing, and ``trusted.*``
is not readable without ``CAP_SYS_ADMIN`` (so it would measure differently by
who runs the dock). A value that does not parse is ``unparsed:<hex>`` of all
its bytes, never an exception and never dropped: a malformed capability is
still a difference from the baseline.
"""

from __future__ import annotations

import string
import struct
from collections.abc import Mapping

__all__ = [
    "ACL_XATTRS",
    "CAPABILITY_XATTR",
    "SECURITY_PREFIX",
    "SECURITY_XATTRS",
    "decode_acl",
    "decode_capability",
    "describe_xattrs",
    "is_security_xattr",
]

#: File capabilities (``setcap``).
CAPABILITY_XATTR = "security.capability"
#: POSIX ACLs (``setfacl``): the access ACL, and a directory's default ACL.
ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")
#: Every name in this namespace is measured (the LSM labels, IMA/EVM).
SECURITY_PREFIX = "security."
#: The names with a dedicated decoder; with :data:`SECURITY_PREFIX`, what is measured.
SECURITY_XATTRS = (CAPABILITY_XATTR, *ACL_XATTRS)

# linux/capability.h, struct vfs_cap_data / vfs_ns_cap_data (little-endian)
_REVISION_MASK = 0xFF000000
_FLAG_EFFECTIVE = 0x000001
_REVISIONS = {0x01000000: (1, 12), 0x02000000: (2, 20), 0x03000000: (3, 24)}  # magic -> (version, size)

#: Capability names by bit number (linux/capability.h, CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40).
_CAP_NAMES = (
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
)

# linux/posix_acl_xattr.h
_ACL_VERSION = 2
_ACL_TAGS = {0x01: "user", 0x02: "user", 0x04: "group", 0x08: "group", 0x10: "mask", 0x20: "other"}
_ACL_QUALIFIED = {0x02, 0x08}  # ACL_USER, ACL_GROUP carry an id

# Printable ASCII without the separators of describe_xattrs' output, so that
# the output is injective: no label or name can imitate a second attribute.
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c;")
_NAME_CHARS = _PRINTABLE - frozenset(" =")


def is_security_xattr(name: str) -> bool:
    """Whether the extended attribute ``name`` is measured (see the module docstring)."""
    return name.startswith(SECURITY_PREFIX) or name in ACL_XATTRS


def describe_xattrs(values: Mapping[str, bytes]) -> str | None:
    """The ``xattrs`` attribute of a file with extended attributes ``values``.

    Args:
        values: attribute name -> raw value, as read from the file; names that
            are not security-relevant are ignored, so a caller may pass all.

    Returns:
        ``name=decoded`` for every security-relevant attribute, sorted by name
        and joined by ``"; "`` (a name with a space, ``=``, ``;`` or a byte that
        is not printable ASCII is shown as ``name-hex:<hex>``, so the text is
        injective); ``None`` when there is none (the attribute is
        then left out, so baselines made before xattrs were measured stay valid).
    """
    parts = [
        f"{_show_name(name)}={_decode(name, value)}"
        for name, value in sorted(values.items())
        if is_security_xattr(name)
    ]
    return "; ".join(parts) if parts else None


def _decode(name: str, value: bytes) -> str:
    if name == CAPABILITY_XATTR:
        return decode_capability(value)
    if name in ACL_XATTRS:
        return decode_acl(value)
    return _label(value)


def decode_capability(value: bytes) -> str:
    """A ``security.capability`` value as text, e.g. ``cap_net_raw,cap_setuid+ep``.

    Capabilities that share the same flags form one clause; clauses are joined
    by a space in a fixed order. A value with no capability at all is ``=``
    (``=e`` if only the effective flag is set). Version 3 (namespaced) values
    end with `` rootid=N``.

    Returns:
        The text, or ``unparsed:<hex>`` when the value is not a valid
        version 1, 2 or 3 capability set of its exact size.
    """
    if len(value) < 4:
        return _unparsed(value)
    (magic,) = struct.unpack_from("<I", value)
    revision = _REVISIONS.get(magic & _REVISION_MASK)
    if revision is None or len(value) != revision[1] or magic & ~(_REVISION_MASK | _FLAG_EFFECTIVE):
        return _unparsed(value)
    version, _ = revision
    words = 1 if version == 1 else 2
    fields = struct.unpack_from(f"<{2 * words}I", value, 4)  # permitted, inheritable per 32-bit word
    permitted = sum(fields[2 * w] << (32 * w) for w in range(words))
    inheritable = sum(fields[2 * w + 1] << (32 * w) for w in range(words))
    effective = bool(magic & _FLAG_EFFECTIVE)

    clauses: dict[str, list[str]] = {}
    for bit in range(32 * words):
        in_p, in_i = bool(permitted >> bit & 1), bool(inheritable >> bit & 1)
        if not (in_p or in_i):
            continue
        # The file's effective flag raises every permitted or inheritable capability.
        flags = ("e" if effective else "") + ("i" if in_i else "") + ("p" if in_p else "")
        clauses.setdefault(flags, []).append(_cap_name(bit))
    text = " ".join(f"{','.join(caps)}+{flags}" for flags, caps in sorted(clauses.items()))
    if not text:
        text = "=e" if effective else "="
    if version == 3:
        (rootid,) = struct.unpack_from("<I", value, 20)
        text += f" rootid={rootid}"
    return text


def decode_acl(value: bytes) -> str:
    """A ``system.posix_acl_*`` value in ``getfacl``'s short text form.

    Entries keep their stored order (the kernel stores them sorted), e.g.
    ``user::rwx,user:1000:r-x,group::r-x,mask::r-x,other::r-x``.

    Returns:
        The text, or ``unparsed:<hex>`` when the value is not a version 2 ACL
        of whole entries with known tags and permission bits.
    """
    if len(value) < 4 or (len(value) - 4) % 8:
        return _unparsed(value)
    (version,) = struct.unpack_from("<I", value)
    if version != _ACL_VERSION:
        return _unparsed(value)
    entries = []
    for tag, perm, qualifier in struct.iter_unpack("<HHI", value[4:]):
        kind = _ACL_TAGS.get(tag)
        if kind is None or perm & ~0o7:
            return _unparsed(value)
        who = str(qualifier) if tag in _ACL_QUALIFIED else ""
        bits = ("r" if perm & 4 else "-") + ("w" if perm & 2 else "-") + ("x" if perm & 1 else "-")
        entries.append(f"{kind}:{who}:{bits}")
    return ",".join(entries)


def _label(value: bytes) -> str:
    # LSM labels are NUL-terminated text by convention; anything else is shown exactly.
    text = value[:-1] if value.endswith(b"\x00") else value
    decoded = text.decode("ascii", errors="replace")
    if text and set(decoded) <= _PRINTABLE and not decoded.startswith(("hex:", "unparsed:")):
        return decoded
    return "hex:" + value.hex()


def _show_name(name: str) -> str:
    if name and set(name) <= _NAME_CHARS:
        return name
    return "name-hex:" + name.encode("utf-8", "surrogateescape").hex()


def _cap_name(bit: int) -> str:
    return f"cap_{_CAP_NAMES[bit]}" if bit < len(_CAP_NAMES) else f"cap_{bit}"


def _unparsed(value: bytes) -> str:
    return "unparsed:" + value.hex()
