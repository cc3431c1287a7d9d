"""The dock's ADB client: key format, AUTH signatures, message checks, shell v2, sync, and every bound.

Everything that talks goes to a real ``attest sim android`` subprocess over
loopback TCP (tests/adb_fixture.py); the key format is cross-checked against
Debian's ``adb keygen``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest
from adb_fixture import connect, dock_key, sim_android  # noqa: F401 - fixtures
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import attest.transports.adb as wire
from attest.errors import ConfigError, TransportError
from attest.sim.android_shell import split_command
from attest.transports.adb import (
    AdbTarget,
    DockAdbKey,
    ShellDecoder,
    SyncSession,
    command_line,
    decode_android_pubkey,
    encode_android_pubkey,
    parse_pubkey_line,
    sign_token,
    verify_token,
)

HOSTILE = [
    "com.evil;reboot",
    "com.evil$(id)",
    "com.evil`id`",
    "com.evil'quote",
    'com.evil"dq',
    "com.evil name",
    "com.evil\x1b[2Jclear",
    "com.evil\nfake.line versionCode:1",
    "-rf",
    "*",
    "~root",
    "a\\b",
    "#comment",
    "",
]

# -- keys ----------------------------------------------------------------------------------------


def test_android_pubkey_struct_carries_n0inv_and_rr() -> None:
    """The 524-byte struct: 64 words, n0inv = -1/n mod 2^32, little-endian n, rr = 2^4096 mod n, e."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    blob = encode_android_pubkey(key)
    n = key.public_numbers().n
    assert len(blob) == 524
    words, n0inv = struct.unpack_from("<II", blob)
    assert words == 64
    assert (n0inv * n) % 2**32 == 2**32 - 1
    assert int.from_bytes(blob[8:264], "little") == n
    assert int.from_bytes(blob[264:520], "little") == pow(2, 4096, n)
    assert struct.unpack_from("<I", blob, 520) == (65537,)
    assert decode_android_pubkey(blob).public_numbers() == key.public_numbers()


def test_android_pubkey_refuses_other_sizes() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - the size refused
    with pytest.raises(ValueError, match="2048"):
        encode_android_pubkey(small)
    with pytest.raises(ValueError, match="524"):
        decode_android_pubkey(b"\0" * 523)
    with pytest.raises(ValueError, match="base64"):
        parse_pubkey_line(b"not*base64 user@host")


@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian adb not installed (make system-deps)")
def test_public_key_matches_debian_adb_keygen(tmp_path: Path) -> None:
    """Our public-key encoding of adb's own private key is byte for byte what adb writes to adbkey.pub."""
    subprocess.run(["adb", "keygen", str(tmp_path / "adbkey")], check=True, capture_output=True, timeout=60)
    private = serialization.load_pem_private_key((tmp_path / "adbkey").read_bytes(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    theirs = (tmp_path / "adbkey.pub").read_bytes().split()[0]
    assert base64.b64encode(encode_android_pubkey(private.public_key())) == theirs
    assert parse_pubkey_line((tmp_path / "adbkey.pub").read_bytes()).public_numbers() == (
        private.public_key().public_numbers()
    )


def test_auth_signature_is_pkcs1_over_the_token_itself() -> None:
    """RSA_sign(NID_sha1, token): the token is put in the SHA-1 DigestInfo as is, never hashed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = os.urandom(20)
    sig = sign_token(key, token)
    pub = key.public_key().public_numbers()
    em = pow(int.from_bytes(sig, "big"), pub.e, pub.n).to_bytes(256, "big")
    digest_info = bytes.fromhex("3021300906052b0e03021a05000414") + token
    assert em == b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info
    assert verify_token(key.public_key(), token, sig)
    assert not verify_token(key.public_key(), os.urandom(20), sig)
    with pytest.raises(ValueError, match="20 bytes"):
        sign_token(key, b"x" * 21)


def test_dock_key_created_once_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = DockAdbKey.load_or_create(state)
    assert stat.S_IMODE((state / "adbkey").stat().st_mode) == 0o600
    again = DockAdbKey.load_or_create(state)
    assert again.private.private_numbers() == first.private.private_numbers()
    assert parse_pubkey_line((state / "adbkey.pub").read_bytes()).public_numbers() == (
        first.private.public_key().public_numbers()
    )
    assert len(first.fingerprint.split(":")) == 16


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: root making the key in the dock user's directory")
def test_dock_key_made_by_root_belongs_to_the_state_directory_owner(tmp_path: Path) -> None:
    """``sudo attest verify --device adb://...`` on a dock: the key must be the dock's user's, who reads it."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    DockAdbKey.load_or_create(state)
    for name, mode in (("adbkey", 0o600), ("adbkey.pub", 0o644)):
        st = (state / name).lstat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, mode), name


def test_dock_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    DockAdbKey.load_or_create(tmp_path)
    (tmp_path / "adbkey").chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        DockAdbKey.load_or_create(tmp_path)


# -- targets, messages, shell framing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adb://R5CT1234ABC", AdbTarget(serial="R5CT1234ABC")),
        ("adb+tcp://192.168.4.2:5555", AdbTarget(host="192.168.4.2", port=5555)),
        ("adb+tcp://controller.local", AdbTarget(host="controller.local", port=5555)),
        ("adb+tcp://[::1]:6000", AdbTarget(host="::1", port=6000)),
    ],
)
def test_targets(text: str, expected: AdbTarget) -> None:
    assert AdbTarget.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["adb://", "adb://a b", "adb://x;reboot", "adb+tcp://", "adb+tcp://host:0", "adb+tcp://host:99999", "ssh://x"],
)
def test_bad_targets(text: str) -> None:
    with pytest.raises(ConfigError):
        AdbTarget.parse(text)


def test_header_checks() -> None:
    good = wire.encode_message(wire.A_WRTE, 1, 2, b"abc")
    h = wire.decode_header(good[:24], max_payload=10, label="t")
    assert (h.name, h.arg0, h.arg1, h.length, h.check) == ("WRTE", 1, 2, 3, sum(b"abc"))
    bad_magic = good[:20] + b"\0\0\0\0"
    with pytest.raises(TransportError, match="magic"):
        wire.decode_header(bad_magic, max_payload=10, label="t")
    with pytest.raises(TransportError, match="exceeds"):
        wire.decode_header(good[:24], max_payload=2, label="t")
    unknown = wire.HEADER.pack(0x41414141, 0, 0, 0, 0, 0x41414141 ^ 0xFFFFFFFF)
    with pytest.raises(TransportError, match="unknown"):
        wire.decode_header(unknown, max_payload=10, label="t")
    with pytest.raises(TransportError, match="corrupt"):
        wire.check_payload(h, b"abd", version=wire.VERSION_MIN, label="t")
    wire.check_payload(h, b"abd", version=wire.VERSION_SKIP_CHECKSUM, label="t")  # sum not used any more


def test_shell_v2_decoder_at_every_cut() -> None:
    stream = struct.pack("<BI", 1, 5) + b"hello" + struct.pack("<BI", 2, 3) + b"err" + struct.pack("<BIB", 3, 1, 42)
    for cut in range(len(stream) + 1):
        d = ShellDecoder("t")
        d.feed(stream[:cut])
        d.feed(stream[cut:])
        r = d.finish()
        assert (r.status, r.stdout, r.stderr) == (42, b"hello", b"err")


def test_shell_v2_decoder_refuses_bad_streams() -> None:
    d = ShellDecoder("t")
    d.feed(struct.pack("<BI", 1, 2) + b"hi")
    with pytest.raises(TransportError, match="without an exit status"):
        d.finish()
    with pytest.raises(TransportError, match="packet id 9"):
        ShellDecoder("t").feed(struct.pack("<BI", 9, 0))
    with pytest.raises(TransportError, match="after the exit"):
        ShellDecoder("t").feed(struct.pack("<BIB", 3, 1, 0) + struct.pack("<BI", 1, 0))


def test_command_line_quotes_every_hostile_argument_for_a_real_shell() -> None:
    """/bin/sh receives each hostile name as exactly one literal argument."""
    line = command_line(["printf", "%s\\0", *HOSTILE])
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, check=True, timeout=30).stdout
    assert out.split(b"\0")[:-1] == [h.encode() for h in HOSTILE]
    assert split_command(line) == ["printf", "%s\\0", *HOSTILE]  # and so does the simulator's shell


def test_command_line_refuses_nul() -> None:
    with pytest.raises(TransportError, match="NUL"):
        command_line(["pm", "path", "a\0b"])


# -- against the simulated controller ------------------------------------------------------------


def test_shell_and_sync_against_the_simulator(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android()
    with connect(sim, dock_key) as conn:
        assert conn.banner.state == "device"
        assert "shell_v2" in conn.banner.features
        r = conn.shell(["getprop", "ro.boot.verifiedbootstate"])
        assert (r.status, r.stdout) == (0, b"green\n")
        assert conn.shell(["false"]).status == 1
        paths = [p.removeprefix(b"package:") for p in conn.shell(["pm", "path", "com.example.flight"]).stdout.split()]
        assert len(paths) == 2  # base and split
        reported = conn.shell(["sha256sum", *(p.decode() for p in paths)]).stdout.decode().splitlines()
        with SyncSession.open(conn) as sync:
            for path, line in zip(paths, reported, strict=True):
                info = sync.stat(path)
                h = hashlib.sha256()
                n = sync.recv(path, h.update, limit=info.size)
                assert n == info.size
                assert line == f"{h.hexdigest()}  {path.decode()}"
            assert not sync.stat(b"/data/app/nothing.apk").exists
            with pytest.raises(TransportError, match="No such file"):
                sync.recv(b"/data/app/nothing.apk", h.update, limit=1000)
            names = [e.name for e in sync.list(b"/system/app", max_entries=10)]
            assert b"Bluetooth" in names
            with pytest.raises(TransportError, match="more than 1 entries"):
                sync.list(b"/system/app", max_entries=1)


def test_a_pre_authorised_key_passes_the_signature_check(sim_android, dock_key, tmp_path: Path) -> None:  # noqa: F811
    """With --unauthorised no prompt is ever answered: only a verified AUTH signature gets in."""
    keys = tmp_path / "adb_keys"
    keys.write_bytes(dock_key.public_line + b"\n")
    sim = sim_android("--unauthorised", "--adb-keys", str(keys))
    with connect(sim, dock_key) as conn:
        assert conn.shell(["true"]).status == 0
    other = DockAdbKey.load_or_create(tmp_path / "other")
    with pytest.raises(TransportError, match="has not authorised"):
        connect(sim, other, auth_wait=1.0)


def test_unauthorised_dock_is_exit_3_and_says_how_to_authorise(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android("--unauthorised")
    with pytest.raises(TransportError) as info:
        connect(sim, dock_key, auth_wait=1.0)
    assert info.value.exit_code == 3
    message = str(info.value)
    assert dock_key.fingerprint in message
    assert "Allow USB debugging?" in message
    assert "Always allow from this computer" in message


def test_hostile_names_reach_the_device_as_one_argument(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android("--hostile-names")
    with connect(sim, dock_key) as conn:
        listing = conn.shell(["pm", "list", "packages", "-3"]).stdout
        assert b"package:com.evil;reboot\n" in listing
        for name in ("com.evil;reboot", "com.evil$(id)", "com.evil`id`", "com.evil'quote", "-rf"):
            r = conn.shell(["pm", "path", name])
            assert r.status == 0, (name, r)
            assert r.stdout.startswith(b"package:/data/app/")
        # Control: the same name unquoted is shell syntax to the device.
        with conn.open_stream("shell,v2,raw:pm path com.evil;reboot") as stream:
            d = ShellDecoder("raw")
            while (data := stream.read()) is not None:
                d.feed(data)
        assert d.finish().status == 2


def test_shell_v1_device_gives_no_status(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android("--no-shell-v2")
    with connect(sim, dock_key) as conn:
        r = conn.shell(["getprop", "ro.serialno"])
        assert (r.status, r.stdout) == (None, b"RCPRO0000001\n")


def test_ten_thousand_packages_are_bounded_by_max_output(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android("--packages", "10000")
    with connect(sim, dock_key) as conn:
        with pytest.raises(TransportError, match="more than 65536 bytes"):
            conn.shell(["pm", "list", "packages", "-f"], max_output=65536)
        full = conn.shell(["pm", "list", "packages"])  # within the default cap: complete
        assert full.stdout.count(b"\n") == 10000


def test_a_10_gib_apk_is_bounded_by_the_pull_limit(sim_android, dock_key) -> None:  # noqa: F811
    sim = sim_android("--huge-apk", "com.example.flight")
    with connect(sim, dock_key) as conn:
        path = conn.shell(["pm", "path", "com.example.flight"]).stdout.split()[0].removeprefix(b"package:")
        got = bytearray()
        with SyncSession.open(conn) as sync, pytest.raises(TransportError, match="larger than the 1048576 bytes"):
            sync.recv(path, got.extend, limit=1 << 20)
        assert len(got) <= 1 << 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stall-after", "6"), "timed out"),
        (("--stall-after", "6", "--keepalive"), "timed out"),  # empty writes are not progress
        (("--drop-after", "6"), "closed the connection"),
        (("--garbage-after", "6"), "not an ADB message"),
    ],
)
def test_faults_mid_transfer_end_in_a_bounded_error(sim_android, dock_key, args, message) -> None:  # noqa: F811
    """The handshake and pm path use 5 device messages; the fault hits the pull that follows."""
    sim = sim_android(*args)
    with connect(sim, dock_key, timeout=1.0) as conn:
        path = conn.shell(["pm", "path", "com.example.flight"]).stdout.split()[0].removeprefix(b"package:")
        with pytest.raises(TransportError, match=message), SyncSession.open(conn) as sync:
            sync.recv(path, lambda _b: None, limit=1 << 30)


def test_a_dripping_device_falls_below_the_floor_rate(sim_android, dock_key) -> None:  # noqa: F811
    """16 bytes every 0.2 s keeps each wait alive, but not the transfer's floor rate."""
    sim = sim_android("--drip", "0.2")
    with (
        connect(sim, dock_key, timeout=1.0, floor_rate=1000.0) as conn,
        pytest.raises(TransportError, match="too slow"),
    ):
        conn.shell(["getprop"])
