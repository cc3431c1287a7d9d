"""Pure parts of the SSH transport: targets, known_hosts, host key pins, SFTP parsing, connecting. No sshd."""

from __future__ import annotations

import base64
import re
import socket
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sshd_fixture import SSH_KEYGEN, keygen, require_openssh

from attest.errors import ConfigError, TransportError, UntrustedBaselineError
from attest.transports.ssh import (
    HostKeyPins,
    SftpProtocolError,
    SshConnection,
    SshTarget,
    fingerprint,
    hostkeys,
    load_known_hosts,
    printable,
)
from attest.transports.ssh.sftp.wire import read_attrs as _attrs
from attest.transports.ssh.sftp.wire import read_string as _string

TARGET = SshTarget(user="px4", host="10.41.1.1", port=2222)


# -- targets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("ssh://px4@10.41.1.1", SshTarget("px4", "10.41.1.1", 22, b"/")),
        ("ssh://px4@10.41.1.1:2222", SshTarget("px4", "10.41.1.1", 2222, b"/")),
        ("ssh://root@voxl2:22/data/APM", SshTarget("root", "voxl2", 22, b"/data/APM")),
        ("ssh://root@[::1]:2222/srv/img%20a/%FF", SshTarget("root", "::1", 2222, b"/srv/img a/\xff")),
    ],
)
def test_targets_parse(text: str, want: SshTarget) -> None:
    assert SshTarget.parse(text) == want


@pytest.mark.parametrize(
    "text",
    ["ssh://10.41.1.1", "sftp://px4@host", "ssh://px4@host:99999", "ssh://px4@host/?x=1", "ssh://px4@/path"],
)
def test_malformed_targets_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="expected ssh://USER@HOST"):
        SshTarget.parse(text)


def test_a_password_in_the_target_is_refused_and_never_echoed() -> None:
    """Passwords are not accepted, and the message must not repeat one."""
    with pytest.raises(ConfigError, match="passwords are not accepted") as e:
        SshTarget.parse("ssh://px4:s3cret@10.41.1.1:2222/")
    assert "s3cret" not in str(e.value)
    assert "px4:***@" in str(e.value)


def test_known_hosts_names_use_brackets_off_port_22() -> None:
    assert SshTarget("u", "h").known_hosts_name == "h"
    assert TARGET.known_hosts_name == "[10.41.1.1]:2222"


# -- known_hosts and pins ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    require_openssh()
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("drone", "other", "revoked"):
        kind, blob64 = Path(f"{keygen(d / name)}.pub").read_text().split()[:2]
        out[name] = (kind, base64.b64decode(blob64))
    return out


def line(hosts: str, key: tuple[str, bytes], marker: str = "") -> str:
    return f"{marker} {hosts} {key[0]} {base64.b64encode(key[1]).decode()} comment".strip()


def test_fingerprint_matches_ssh_keygen(keys: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    pub = tmp_path / "k.pub"
    pub.write_text(line("", keys["drone"]) + "\n")
    out = subprocess.run([SSH_KEYGEN, "-l", "-f", str(pub)], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == fingerprint(keys["drone"][1])


def test_known_hosts_entries_that_apply(keys: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    """Plain, bracketed, wildcard and negated patterns; comments, markers and garbage handled like OpenSSH."""
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "\n".join(
            [
                "# the dock's pinned companions",
                line("10.41.1.1", keys["other"]),  # port 22 entry: not ours
                line("[10.41.1.1]:2222,voxl2", keys["drone"]),
                line("[10.41.1.*]:2222,![10.41.1.1]:2222", keys["other"]),  # negated for our host
                line("[10.41.1.1]:2222", keys["other"], "@cert-authority"),
                line("*", keys["revoked"], "@revoked"),
                "[10.41.1.1]:2222 ssh-ed25519 !!!not-base64!!!",
                "garbage",
                "",
            ]
        )
    )
    known = load_known_hosts(kh, TARGET)
    assert known.keys == (keys["drone"],)
    assert known.revoked == {keys["revoked"][1]}


def test_hashed_known_hosts_entries_match(keys: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    """Entries hashed by ``ssh-keygen -H`` still pin the host."""
    kh = tmp_path / "known_hosts"
    kh.write_text(line("[10.41.1.1]:2222", keys["drone"]) + "\n")
    subprocess.run([SSH_KEYGEN, "-H", "-f", str(kh)], capture_output=True, check=True)
    assert "|1|" in kh.read_text()
    assert load_known_hosts(kh, TARGET).keys == (keys["drone"],)
    assert load_known_hosts(kh, SshTarget("px4", "10.41.1.2", 2222)).keys == ()


def test_unreadable_known_hosts_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read known_hosts file: No such file"):
        load_known_hosts(tmp_path / "missing", TARGET)


def test_an_oversized_known_hosts_is_refused_by_the_shared_bounded_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """known_hosts is read with fsutil.read_bounded, like keys and trust policies: refused past the limit."""
    monkeypatch.setattr(hostkeys, "MAX_KNOWN_HOSTS", 100)
    kh = tmp_path / "known_hosts"
    kh.write_text("# x\n" * 25)
    assert load_known_hosts(kh, TARGET).keys == ()
    kh.write_text("# x\n" * 26)
    with pytest.raises(ConfigError, match=re.escape(f"{kh}: too large to be a known_hosts file (over 100 bytes)")):
        load_known_hosts(kh, TARGET)


def test_pins_accept_only_the_pinned_key(keys: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    """Each source given must agree; no source at all is a refusal that shows the offered fingerprint."""
    kind, blob = keys["drone"]
    fp = fingerprint(blob)
    HostKeyPins(fingerprint=fp, key_type=kind).check(TARGET, kind, blob)

    with pytest.raises(UntrustedBaselineError, match=re.escape(f"not pinned (it offered ssh-ed25519 {fp})")):
        HostKeyPins().check(TARGET, kind, blob)
    with pytest.raises(UntrustedBaselineError, match="the baseline pins"):
        HostKeyPins(fingerprint=fingerprint(keys["other"][1]), key_type=kind).check(TARGET, kind, blob)
    with pytest.raises(UntrustedBaselineError, match="the baseline pins"):
        HostKeyPins(fingerprint=fp, key_type="ecdsa-sha2-nistp256").check(TARGET, kind, blob)

    kh = tmp_path / "known_hosts"
    kh.write_text(line("[10.41.1.1]:2222", keys["other"]) + "\n" + line("x", keys["drone"], "@revoked") + "\n")
    with pytest.raises(UntrustedBaselineError, match="@revoked"):
        HostKeyPins(fingerprint=fp, known_hosts=load_known_hosts(kh, TARGET)).check(TARGET, kind, blob)
    kh.write_text(line("[10.41.1.1]:2222", keys["other"]) + "\n")
    with pytest.raises(UntrustedBaselineError, match="the host key changed"):
        HostKeyPins(fingerprint=fp, known_hosts=load_known_hosts(kh, TARGET)).check(TARGET, kind, blob)
    kh.write_text(line("elsewhere", keys["drone"]) + "\n")
    with pytest.raises(UntrustedBaselineError, match="is unknown"):
        HostKeyPins(known_hosts=load_known_hosts(kh, TARGET)).check(TARGET, kind, blob)
    kh.write_text(line("[10.41.1.1]:2222", keys["drone"]) + "\n")
    HostKeyPins(known_hosts=load_known_hosts(kh, TARGET)).check(TARGET, kind, blob)


def test_pins_negotiate_the_pinned_key_type(keys: dict[str, tuple[str, bytes]]) -> None:
    assert HostKeyPins(fingerprint="SHA256:x", key_type="ssh-rsa").key_types() == ["ssh-rsa"]
    assert HostKeyPins().key_types() == []


# -- SFTP parsing ---------------------------------------------------------------------------------------------


def test_attrs_parse_every_field() -> None:
    flags = 0x1 | 0x2 | 0x4 | 0x8 | 0x80000000
    ext = struct.pack(">I", 1) + struct.pack(">I", 3) + b"key" + struct.pack(">I", 1) + b"v"
    data = struct.pack(">IQIIIII", flags, 1234, 1000, 1001, 0o100755, 1, 2) + ext + b"rest"
    attrs, pos = _attrs(data, 0)
    assert (attrs.size, attrs.uid, attrs.gid, attrs.mode) == (1234, 1000, 1001, 0o100755)
    assert data[pos:] == b"rest"


@given(st.binary(max_size=200))
def test_malformed_sftp_data_only_raises_protocol_errors(data: bytes) -> None:
    """Whatever a device sends, parsing either succeeds or raises SftpProtocolError (a CollectionError)."""
    for parse in (_attrs, _string):
        try:
            parse(data, 0)
        except SftpProtocolError:
            pass


def test_device_text_is_shown_safely() -> None:
    """Control characters from a device are escaped and long text is cut."""
    assert printable(b"bad\x1b[2Jname\n") == "bad\\x1b[2Jname"
    assert printable(b"\xff") == "\ufffd"
    assert len(printable("x" * 500)) == 200


# -- connecting -----------------------------------------------------------------------------------------------


@pytest.fixture
def identity(tmp_path: Path) -> Path:
    require_openssh()
    return keygen(tmp_path / "dock")


def test_a_host_name_lookup_is_bounded_by_the_timeout(identity: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout of its own (a dead DNS server holds it for minutes); --timeout bounds it."""
    release = threading.Event()
    real = socket.getaddrinfo

    def dead_dns(host: str, *args: Any, **kw: Any) -> Any:
        if host != "voxl2.invalid":
            return real(host, *args, **kw)
        release.wait(5)  # this test's own bound, if the lookup is not bounded
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", dead_dns)
    try:
        # The lookup never returns before `release`: only a bounded wait gives this message (an unbounded
        # one waits out the 5 s and reports the resolver's failure instead). No wall-clock assertion.
        with pytest.raises(
            TransportError,
            match=r"voxl2.invalid:22: timed out after 0.5 s waiting for the host name 'voxl2.invalid' to resolve",
        ):
            SshConnection.open(SshTarget("root", "voxl2.invalid"), pins=HostKeyPins(), identity=identity, timeout=0.5)
    finally:
        release.set()
    with pytest.raises(TransportError, match=r"voxl2\.invalid:22: cannot resolve the host name: Temporary failure"):
        SshConnection.open(SshTarget("root", "voxl2.invalid"), pins=HostKeyPins(), identity=identity, timeout=0.5)


def test_every_address_of_a_name_is_tried(identity: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like socket.create_connection: a refused first address, then the next one (which never speaks)."""
    with socket.socket() as closed, socket.socket() as silent:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the TCP connection, never says a word
        addresses = [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sock.getsockname())
            for sock in (closed, silent)
        ]

        def scripted(*args: Any, **kw: Any) -> list[Any]:
            del args, kw
            return addresses

        monkeypatch.setattr(socket, "getaddrinfo", scripted)
        target = SshTarget("root", "voxl2.invalid")
        with pytest.raises(TransportError, match=r"timed out after 0\.5 s waiting for the SSH banner"):
            SshConnection.open(target, pins=HostKeyPins(), identity=identity, timeout=0.5)
        addresses.pop()
        with pytest.raises(TransportError, match=r"voxl2\.invalid:22: cannot connect: Connection refused"):
            SshConnection.open(target, pins=HostKeyPins(), identity=identity, timeout=0.5)
