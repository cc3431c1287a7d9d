"""The extended-attribute decoder: crafted blobs, real ``setcap``/``setfacl`` values, hostile input."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attest.xattrs import (
    SECURITY_XATTRS,
    decode_acl,
    decode_capability,
    describe_xattrs,
    is_security_xattr,
)

SETUID, NET_RAW, NET_BIND, CHECKPOINT_RESTORE = 7, 13, 10, 40


def caps(version: int, permitted: int, inheritable: int = 0, *, effective: bool = True, rootid: int = 0) -> bytes:
    """A ``security.capability`` blob as the kernel stores it (linux/capability.h)."""
    magic = {1: 0x01000000, 2: 0x02000000, 3: 0x03000000}[version] | (1 if effective else 0)
    if version == 1:
        return struct.pack("<III", magic, permitted, inheritable)
    blob = struct.pack(
        "<IIIII", magic, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF, permitted >> 32, inheritable >> 32
    )
    return blob + struct.pack("<I", rootid) if version == 3 else blob


def acl(*entries: tuple[int, int, int]) -> bytes:
    """A ``system.posix_acl_*`` blob: version 2, then (tag, perm, id) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


UNDEF = 0xFFFFFFFF
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def test_capability_v2_names_every_capability_with_its_flags() -> None:
    assert decode_capability(caps(2, 1 << SETUID | 1 << NET_RAW)) == "cap_setuid,cap_net_raw+ep"
    assert decode_capability(caps(2, 1 << SETUID, effective=False)) == "cap_setuid+p"
    # Different flags per capability: one clause per flag set, in a fixed order.
    mixed = decode_capability(caps(2, 1 << SETUID | 1 << NET_RAW, 1 << NET_RAW | 1 << NET_BIND, effective=False))
    assert mixed == "cap_net_bind_service+i cap_net_raw+ip cap_setuid+p"
    # Bits in the second 32-bit word, named and unnamed.
    assert decode_capability(caps(2, 1 << CHECKPOINT_RESTORE | 1 << 45)) == "cap_checkpoint_restore,cap_45+ep"


def test_capability_v3_shows_the_namespace_root() -> None:
    assert decode_capability(caps(3, 1 << SETUID, rootid=100000)) == "cap_setuid+ep rootid=100000"


def test_capability_v1_and_empty_sets() -> None:
    assert decode_capability(caps(1, 1 << NET_RAW)) == "cap_net_raw+ep"
    assert decode_capability(caps(2, 0, effective=False)) == "="
    assert decode_capability(caps(2, 0)) == "=e"


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x00\x00\x00\x02",  # v2 magic, nothing else
        caps(2, 1 << SETUID)[:-1],  # one byte short
        caps(2, 1 << SETUID) + b"\x00",  # one byte long
        caps(3, 1 << SETUID)[:20],  # v3 without its rootid
        caps(1, 1) + b"\x00" * 8,  # v1 magic, v2 size
        struct.pack("<IIIII", 0x04000001, 1, 0, 0, 0),  # unknown revision
        struct.pack("<IIIII", 0x02000003, 1, 0, 0, 0),  # unknown flag bit
    ],
)
def test_malformed_capability_is_unparsed_hex_never_an_exception(blob: bytes) -> None:
    assert decode_capability(blob) == "unparsed:" + blob.hex()


def test_acl_short_text_form() -> None:
    value = acl((USER_OBJ, 7, UNDEF), (USER, 5, 1000), (GROUP_OBJ, 5, UNDEF), (MASK, 5, UNDEF), (OTHER, 5, UNDEF))
    assert decode_acl(value) == "user::rwx,user:1000:r-x,group::r-x,mask::r-x,other::r-x"
    assert decode_acl(acl((GROUP, 6, 50))) == "group:50:rw-"


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        struct.pack("<I", 1) + struct.pack("<HHI", USER_OBJ, 7, UNDEF),  # version 1
        acl((USER_OBJ, 7, UNDEF)) + b"\x00",  # not whole entries
        acl((0x40, 7, 0)),  # unknown tag
        acl((USER_OBJ, 8, UNDEF)),  # unknown permission bit
    ],
)
def test_malformed_acl_is_unparsed_hex(blob: bytes) -> None:
    assert decode_acl(blob) == "unparsed:" + blob.hex()


def test_describe_measures_security_names_only_sorted_and_none_when_empty() -> None:
    values = {
        "user.comment": b"ignored",
        "trusted.overlay.opaque": b"y",
        "system.posix_acl_access": acl((USER_OBJ, 6, UNDEF), (GROUP_OBJ, 4, UNDEF), (OTHER, 4, UNDEF)),
        "security.selinux": b"system_u:object_r:bin_t:s0\x00",
        "security.capability": caps(2, 1 << SETUID),
        "security.ima": b"\x04\x04\xab\xcd",
    }
    assert describe_xattrs(values) == (
        "security.capability=cap_setuid+ep; security.ima=hex:0404abcd; "
        "security.selinux=system_u:object_r:bin_t:s0; system.posix_acl_access=user::rw-,group::r--,other::r--"
    )
    assert describe_xattrs({"user.x": b"1"}) is None
    assert describe_xattrs({}) is None
    assert all(is_security_xattr(n) for n in SECURITY_XATTRS)


def test_labels_cannot_imitate_another_attribute() -> None:
    """A label holding the separator, or a name with '=' or ';', is shown in hex: the text is unambiguous."""
    forged = describe_xattrs({"security.selinux": b"x; security.capability=cap_setuid+ep"})
    assert forged == "security.selinux=hex:" + b"x; security.capability=cap_setuid+ep".hex()
    assert describe_xattrs({"security.a=b": b"c"}) == "name-hex:" + b"security.a=b".hex() + "=c"
    assert describe_xattrs({"security.x": b"hex:00"}) == "security.x=hex:" + b"hex:00".hex()


@given(st.dictionaries(st.text(max_size=30), st.binary(max_size=64), max_size=6))
def test_describe_never_raises(values: dict[str, bytes]) -> None:
    text = describe_xattrs({**values, "security.capability": next(iter(values.values()), b"")})
    assert text is not None and text.startswith("security.")


@given(st.binary(max_size=64))
def test_decoders_never_raise(blob: bytes) -> None:
    assert decode_capability(blob)
    assert decode_acl(blob) or blob == struct.pack("<I", 2)  # an ACL with no entries is empty text


@pytest.mark.skipif(shutil.which("setcap") is None, reason="setcap missing: apt-get install libcap2-bin")
def test_real_setcap_values_decode_like_getcap(tmp_path: Path) -> None:
    f = tmp_path / "px4"
    f.write_bytes(b"\x7fELF")
    subprocess.run(["setcap", "cap_net_raw,cap_setuid+ep", str(f)], check=True)
    assert decode_capability(os.getxattr(f, "security.capability")) == "cap_setuid,cap_net_raw+ep"
    subprocess.run(["setcap", "cap_net_admin+i cap_sys_time+p", str(f)], check=True)
    assert decode_capability(os.getxattr(f, "security.capability")) == "cap_net_admin+i cap_sys_time+p"


@pytest.mark.skipif(shutil.which("setfacl") is None, reason="setfacl missing: apt-get install acl")
def test_real_setfacl_values_decode_like_getfacl(tmp_path: Path) -> None:
    f = tmp_path / "conf"
    f.write_text("x")
    f.chmod(0o640)
    subprocess.run(["setfacl", "-m", "u:1000:rx,g:50:r", str(f)], check=True)
    getfacl = subprocess.run(
        ["getfacl", "--omit-header", "--numeric", "--no-effective", str(f)], capture_output=True, text=True, check=True
    )
    assert decode_acl(os.getxattr(f, "system.posix_acl_access")) == ",".join(getfacl.stdout.split())
    d = tmp_path / "dir"
    d.mkdir()
    subprocess.run(["setfacl", "-d", "-m", "u:1000:rwx", str(d)], check=True)
    assert decode_acl(os.getxattr(d, "system.posix_acl_default")).startswith("user::rwx,user:1000:rwx,")
