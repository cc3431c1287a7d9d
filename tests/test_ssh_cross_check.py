"""Pull mode's cross-check by the device's openssl: its output parsed by position, a lie caught, failures closed.

Where the tool directories hold ``openssl``, the device hashes every file with
``openssl dgst -sha256 -r`` instead of ``sha256sum -z`` (the same SHA-256, on
the CPU's SHA instructions). Its output has no unambiguous framing, so it is
accepted only as one record per path in the order asked, from a run that
succeeded for every path; anything else is an error, or (a failed run) the
device's ``sha256sum`` hashes everything again. Real sshd, real tools; the
lying and failing programs are scripts first in the collector's tool directories.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from sshd_fixture import HOSTILE_NAMES, Sshd, hostile_tree

from attest.collectors.ssh import SshCollector
from attest.collectors.ssh.devicehash import parse_openssl_dgst
from attest.collectors.ssh.tools import DeviceTools
from attest.errors import CollectionError

pytest_plugins = ["sshd_fixture"]  # small_tree

ALL = {"selection": {"include": ["**"], "exclude": []}}
OPENSSL = next((p for p in ("/usr/bin/openssl", "/bin/openssl") if os.access(p, os.X_OK)), None)
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs the Debian package openssl")
SKIP_TO_NAMES = 'while [ "$1" != "--" ]; do shift; done; shift'


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Collectors log; a test that ran the CLI in-process may have left structlog writing to a closed stream."""
    structlog.reset_defaults()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the parser -------------------------------------------------------------------------------------------------

A, B, C = "a" * 64, "b" * 64, "c" * 64


def openssl3(path: bytes, hexdigest: str) -> bytes:
    """A record as OpenSSL 3 writes it: a name with a newline escaped on a line starting with a backslash."""
    if b"\n" in path:
        return b"\\" + hexdigest.encode() + b" *" + path.replace(b"\n", b"\\n") + b"\n"
    return hexdigest.encode() + b" *" + path + b"\n"


def openssl1(path: bytes, hexdigest: str) -> bytes:
    """A record as OpenSSL 1.1 writes it: the name as it is, newlines included."""
    return hexdigest.encode() + b" *" + path + b"\n"


def coreutils_style(path: bytes, hexdigest: str) -> bytes:
    """A record with both newlines and backslashes escaped (coreutils' style)."""
    if b"\n" in path or b"\\" in path:
        name = path.replace(b"\\", b"\\\\").replace(b"\n", b"\\n")
        return b"\\" + hexdigest.encode() + b" *" + name + b"\n"
    return hexdigest.encode() + b" *" + path + b"\n"


def test_each_record_belongs_to_the_path_at_its_position_in_every_form_openssl_writes() -> None:
    """OpenSSL 3 writes '/t/<newline><newline>' and '/t/<newline>\\n' alike; the position says which is which."""
    paths = [b"/t/\n\n", b"/t/\n\\n", b"/t/x\\ny", b"/t/plain", b"/t/back\\slash"]
    digests = [A, B, C, A, B]
    for render in (openssl3, openssl1, coreutils_style):
        out = b"".join(render(p, d) for p, d in zip(paths, digests, strict=True))
        assert parse_openssl_dgst(out, paths, label="t") == dict(zip(paths, digests, strict=True))
    # The same bytes with the two ambiguous paths asked in the other order: attributed by position.
    out = openssl3(paths[0], A) + openssl3(paths[1], B)
    assert out == openssl3(paths[1], A) + openssl3(paths[0], B)
    assert parse_openssl_dgst(out, [paths[1], paths[0]], label="t") == {paths[1]: A, paths[0]: B}


@pytest.mark.parametrize(
    ("out", "match"),
    [
        (openssl3(b"/t/2", B) + openssl3(b"/t/1", A), "did not report '/t/1' where it was asked for"),
        (openssl3(b"/t/1", A), "printed ''"),
        (openssl3(b"/t/1", A) + openssl3(b"/t/2", B) + openssl3(b"/t/2", B), "more than one record per path"),
        (openssl3(b"/t/1", A) + openssl3(b"/t/2", B)[:-1], "did not report '/t/2'"),
        (openssl3(b"/t/1", A.upper()) + openssl3(b"/t/2", B), "printed 'AAAA"),
        (openssl3(b"/t/1", A) + openssl3(b"/t/other", B), "did not report '/t/2'"),
        (openssl3(b"/t/1", A) + b"SHA2-256(/t/2)= " + B.encode() + b"\n", "printed 'SHA2-256"),
        (openssl3(b"/t/1", A) + b"\\" + openssl3(b"/t/2", B), "did not report '/t/2'"),
    ],
    ids=["order", "missing", "extra", "cut-off", "upper-case", "other-file", "other-format", "escaped-wrongly"],
)
def test_openssl_output_that_is_not_one_record_per_path_in_order_is_refused(out: bytes, match: str) -> None:
    with pytest.raises(CollectionError, match=match):
        parse_openssl_dgst(out, [b"/t/1", b"/t/2"], label="t")


paths_strategy = st.lists(
    st.binary(min_size=1, max_size=12).map(lambda b: b"/" + b.replace(b"\0", b"")), min_size=1, max_size=6, unique=True
)


@settings(max_examples=300, deadline=None)
@given(paths=paths_strategy, data=st.data())
def test_every_rendering_parses_back_and_any_other_bytes_are_refused(paths: list[bytes], data: st.DataObject) -> None:
    """Round trip in all three forms; arbitrary output is either exactly those records or a CollectionError."""
    digests = [digest(p) for p in paths]
    for render in (openssl3, openssl1, coreutils_style):
        out = b"".join(render(p, d) for p, d in zip(paths, digests, strict=True))
        assert parse_openssl_dgst(out, paths, label="t") == dict(zip(paths, digests, strict=True))
    noise = data.draw(st.binary(max_size=400))
    try:
        parsed = parse_openssl_dgst(noise, paths, label="t")
    except CollectionError:
        return
    assert parsed.keys() == set(paths)


def test_the_earliest_tool_directory_decides_which_program_hashes() -> None:
    """A sha256sum in a directory before openssl's is used, as PATH would; in one directory, openssl first."""
    found = {"openssl": b"/usr/bin/openssl", "sha256sum": b"/opt/fake/sha256sum"}
    tools = DeviceTools(found, [], rank={"openssl": 1, "sha256sum": 0})
    assert tools.first("openssl", "sha256sum") == "sha256sum"
    tools = DeviceTools(found, [], rank={"openssl": 0, "sha256sum": 0})
    assert tools.first("openssl", "sha256sum") == "openssl"
    assert DeviceTools({}, ["openssl"]).first("openssl", "sha256sum") is None


# -- on a real sshd ---------------------------------------------------------------------------------------------


def collector(sshd: Sshd, root: Path, **kw: object) -> SshCollector:
    return SshCollector(sshd.target(root), identity=sshd.client_key, known_hosts=sshd.known_hosts, timeout=10.0, **kw)  # type: ignore[arg-type]


def fake_openssl(bin_dir: Path, body: str) -> Path:
    """A tool directory holding only an ``openssl`` script (the rest comes from /usr/bin and /bin)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "openssl"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return bin_dir


def with_bin(sshd: Sshd, root: Path, bin_dir: Path) -> SshCollector:
    return collector(sshd, root, tool_dirs=(os.fsencode(bin_dir), b"/usr/bin", b"/bin"))


@needs_openssl
def test_pull_mode_cross_checks_every_file_with_openssl_hostile_names_included(tmp_path: Path) -> None:
    """Names with newlines, backslashes, quotes and invalid UTF-8: every file cross-checked by openssl, no error."""
    root = hostile_tree(tmp_path / "root")
    (root / "data/odd/x\\ny").write_bytes(b"backslash and n")  # written by OpenSSL 3 as 'new\nline' is
    with Sshd.running(tmp_path / "sshd") as sshd:
        ev = collector(sshd, root).collect(ALL, nonce="00")
    files = {n: c for n, c in ev.components.items() if c.kind == "file"}
    on_disk = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(files) == len(on_disk) > len(HOSTILE_NAMES)
    assert all(c.error is None and c.digest for c in files.values()), files
    assert not ev.findings
    assert ev.notes["cross_check"]["by"] == "the device's openssl"
    assert ev.notes["cross_check"]["files"] == len(files)
    assert ev.notes["cross_check"]["not_cross_checked"] == []
    assert ev.notes["tools"]["openssl"]["path"] == OPENSSL


@needs_openssl
def test_a_lying_openssl_is_caught(tmp_path: Path, small_tree: Path) -> None:
    """A replaced openssl that reports a modified file's approved digest disagrees with SFTP: device_lied."""
    golden = tmp_path / "golden"
    shutil.copytree(small_tree, golden)
    px4 = small_tree / "usr/bin/px4"
    px4.write_bytes(px4.read_bytes().upper())
    approved = f'case "$f" in {small_tree}/*) g="{golden}${{f#{small_tree}}}";; *) g="$f";; esac'
    bin_dir = fake_openssl(
        tmp_path / "fakebin",
        SKIP_TO_NAMES + f'\nfor f in "$@"; do {approved}; h=$({OPENSSL} dgst -sha256 -r -- "$g" | '
        '/usr/bin/head -c 64); printf "%s *%s\\n" "$h" "$f"; done',
    )
    with Sshd.running(tmp_path / "sshd") as sshd:
        ev = with_bin(sshd, small_tree, bin_dir).collect(ALL, nonce="00")
    assert [(f.component, f.kind.value, f.severity.value) for f in ev.findings] == [
        ("usr/bin/px4", "device_lied", "critical")
    ]
    lie = ev.findings[0]
    assert lie.expected == f"sha256:{digest(px4.read_bytes())}"  # what the dock read over SFTP
    assert lie.actual == f"sha256:{digest((golden / 'usr/bin/px4').read_bytes())}"  # what openssl claimed
    assert ev.notes["cross_check"]["by"] == "the device's openssl"
    assert ev.notes["tools"]["openssl"]["path"] == str(bin_dir / "openssl")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("printf 'not a digest\\n'", "the device's openssl printed 'not a digest"),
        (
            SKIP_TO_NAMES + '\nfor f in "$@"; do printf "%064d *%s\\n" 0 "$f"; done; printf "%064d */etc/shadow\\n" 0',
            "more than one record per path",
        ),
        (
            SKIP_TO_NAMES + '\nfor f in "$@"; do printf "%064d *%s\\n" 0 /etc/shadow; done',
            "did not report '/dev/null' where it was asked for",
        ),
    ],
    ids=["garbage", "extra-record", "other-path"],
)
def test_an_openssl_that_prints_what_it_was_not_asked_fails_closed(
    tmp_path: Path, small_tree: Path, body: str, match: str
) -> None:
    """Output that is not one record per path, in order, from a run that succeeded: exit 3, never evidence."""
    bin_dir = fake_openssl(tmp_path / "fakebin", body)
    with Sshd.running(tmp_path / "sshd") as sshd, pytest.raises(CollectionError, match=match):
        with_bin(sshd, small_tree, bin_dir).collect(ALL, nonce="00")


@pytest.mark.parametrize(
    "body",
    ["exit 1", SKIP_TO_NAMES + '\nfor f in "$@"; do printf "%064d *%s\\n" 0 "$f"; done; exit 1'],
    ids=["fails", "prints-then-fails"],
)
def test_a_failing_openssl_hands_the_cross_check_to_sha256sum(tmp_path: Path, small_tree: Path, body: str) -> None:
    """A run that failed for any path cannot be attributed (even if it printed records): sha256sum hashes all again."""
    bin_dir = fake_openssl(tmp_path / "fakebin", body)
    with Sshd.running(tmp_path / "sshd") as sshd:
        ev = with_bin(sshd, small_tree, bin_dir).collect(ALL, nonce="00")
    assert not ev.findings
    assert all(c.error is None for c in ev.components.values())
    assert ev.components["usr/bin/px4"].digest == digest(b"px4 firmware")
    assert ev.notes["cross_check"]["by"] == "the device's sha256sum"
    assert ev.notes["cross_check"]["files"] == 2
    assert ev.notes["tools"]["openssl"]["path"] == str(bin_dir / "openssl")


# -- imports ----------------------------------------------------------------------------------------------------


def test_the_ssh_transport_does_not_import_invoke_and_leaves_it_importable() -> None:
    """paramiko imports invoke (35 ms) only for ssh_config's Match exec, which the dock never reads."""
    code = (
        "import sys, attest.transports.ssh, paramiko\n"
        "assert 'invoke' not in sys.modules, 'invoke was imported'\n"
        "import invoke\n"
        "print(invoke.__name__)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "invoke"
