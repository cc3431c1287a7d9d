"""Issue 9 on SSH targets: the device's PATH, its SFTP server, its stat, listing-to-reading races, downgrades.

Each test sets up a compromised or changing companion on a real sshd and
checks that it cannot pass: a program earlier in PATH is never run, every file
is checked over two ways into the device (so one lie among 5,000 files is
caught, not sampled), a file that changed after it was listed is an error,
device numbers that contradict the kernel are ``device_lied``, a baseline
made in pull mode cannot be verified in remote mode unless it says so, and
extended attributes are measured by the device's getfattr or recorded as not
measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from conftest import make_fleet, run_attest
from sshd_fixture import SFTP_SERVER, Sshd

from attest.collectors import DirectoryCollector
from attest.collectors.ssh import SshCollector, audit_sample
from attest.collectors.ssh.xattrs import parse_getfattr
from attest.errors import CollectionError
from attest.model import FindingKind, Method
from attest.names import encode_name
from attest.transports.ssh import HostKeyPins, SshConnection, SshTarget, load_known_hosts

ALL = {"selection": {"include": ["**"], "exclude": []}}
NONCE = "00" * 32


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Collectors log; a test that ran the CLI in-process may have left structlog writing to a closed stream."""
    structlog.reset_defaults()


def collector(sshd: Sshd, root: Path, **kw: object) -> SshCollector:
    return SshCollector(
        sshd.target(root),
        identity=sshd.client_key,
        known_hosts=sshd.known_hosts,
        **{"timeout": 10.0, **kw},  # type: ignore[arg-type]
    )


def many_files(root: Path, count: int) -> list[str]:
    """``count`` small distinct files in 50 directories; returns their names, sorted."""
    names = []
    for i in range(count):
        name = f"d{i % 50:02d}/f{i:05d}.conf"
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"setting=%d\n" % i * (1 + i % 7))
        names.append(name)
    return sorted(names)


def substitute(root: Path, name: str, stash: Path) -> bytes:
    """Keep ``name``'s approved bytes in ``stash``, modify the file in place (same size); returns the new bytes."""
    path = root / name
    stash.write_bytes(path.read_bytes())
    modified = path.read_bytes().upper()
    assert len(modified) == len(stash.read_bytes())
    assert modified != stash.read_bytes()
    path.write_bytes(modified)
    return modified


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- item 2: the device's PATH, and one lie among 5,000 files -------------------------------------------------------


def test_a_cat_first_in_path_cannot_hide_one_file_among_5000(tmp_path: Path) -> None:
    """A cat and sha256sum earlier in PATH serve the approved copy of one same-size modified file.

    The file is one the old nonce-chosen sample (100 of 5,000) would not have re-read. Pull mode
    reads every file over SFTP and runs its programs by absolute path, so the fakes never run and
    the file's digest is the modified bytes', dock-read.
    """
    root = tmp_path / "root"
    names = many_files(root, 5000)
    victim = next(n for n in names if n not in set(audit_sample(names, NONCE)))
    stash = tmp_path / "approved.conf"
    modified = substitute(root, victim, stash)
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    victim_path = root / victim
    for tool, real in (("cat", "/bin/cat --"), ("sha256sum", "/usr/bin/sha256sum -z --")):
        (fakebin / tool).write_text(
            "#!/bin/sh\n# Serve the approved copy of one file, everything else as it is.\n"
            'while [ "$1" != "--" ]; do shift; done; shift\n'
            f'for f in "$@"; do if [ "$f" = "{victim_path}" ]; then g="{stash}"; else g="$f"; fi\n'
            + (
                f'{real} "$g"; done\n'
                if tool == "cat"
                else f'h=$({real} "$g" | /usr/bin/head -c 64); printf "%s  %s\\0" "$h" "$f"; done\n'
            )
        )
        (fakebin / tool).chmod(0o755)
    with Sshd.running(tmp_path / "sshd", env={"PATH": f"{fakebin}:/usr/bin:/bin"}) as sshd:
        ev = collector(sshd, root).collect(ALL, nonce=NONCE)
    c = ev.components[victim]
    assert c.digest == sha(modified)
    assert c.method is Method.DOCK_READ
    assert not ev.findings  # the fakes never ran, so nothing disagreed
    # Pull mode's cross-check runs openssl where the tool directories hold it (it hashes faster), else sha256sum.
    by = "openssl" if any(os.access(f"{d}/openssl", os.X_OK) for d in ("/usr/bin", "/bin")) else "sha256sum"
    assert ev.notes["cross_check"] == {
        "by": f"the device's {by}",
        "files": 5000,
        "disagreements": [],
        "not_cross_checked": [],
    }
    assert ev.notes["tools"]["sha256sum"]["path"] in ("/usr/bin/sha256sum", "/bin/sha256sum")


def test_tools_are_found_by_absolute_path_and_measured(tmp_path: Path) -> None:
    """The evidence records each program the dock may run: where, what it really is, and its SFTP digest."""
    root = tmp_path / "root"
    many_files(root, 3)
    with Sshd.running(tmp_path / "sshd", env={"PATH": "/nonexistent"}) as sshd:
        ev = collector(sshd, root).collect(ALL, nonce=NONCE)
    tools = ev.notes["tools"]
    assert set(tools) >= {"env", "xargs", "sha256sum", "cat"}
    for info in tools.values():
        real = Path(info["real_path"])
        assert real == Path(info["path"]).resolve()
        assert info["sha256"] == sha(real.read_bytes())


def unshare_works() -> bool:
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return os.geteuid() == 0 and r.returncode == 0


def test_an_sftp_server_that_lies_about_one_file_is_caught_by_the_device_hash(tmp_path: Path) -> None:
    """The SFTP server sees the approved copy of one modified file (a bind mount only it can see): device_lied.

    A real sftp-server in a private mount namespace is the SFTP path lying; the device's
    sha256sum, started outside it, sees the file on disk. Every file is compared, so the one
    lie is caught whichever file it is.
    """
    if not unshare_works():
        pytest.skip("needs root and unshare -m to give the SFTP server its own view of one file")
    root = tmp_path / "root"
    names = many_files(root, 500)
    victim = names[len(names) // 2]
    stash = tmp_path / "approved.conf"
    modified = substitute(root, victim, stash)
    wrapper = tmp_path / "lying-sftp-server"
    wrapper.write_text(
        f"#!/bin/sh\nexec /usr/bin/unshare -m /bin/sh -c 'mount --bind {stash} {root / victim} && exec {SFTP_SERVER}'\n"
    )
    wrapper.chmod(0o755)
    with Sshd.running(tmp_path / "sshd", sftp_server=str(wrapper)) as sshd:
        ev = collector(sshd, root).collect(ALL, nonce=NONCE)
    assert [(f.component, f.kind) for f in ev.findings] == [(victim, FindingKind.DEVICE_LIED)]
    lie = ev.findings[0]
    assert lie.expected == f"sha256:{sha(stash.read_bytes())}"  # what the SFTP server served
    assert lie.actual == f"sha256:{sha(modified)}"  # what the device's sha256sum read
    assert ev.notes["cross_check"]["disagreements"] == [victim]


def test_remote_mode_always_audits_the_programs_it_ran(tmp_path: Path) -> None:
    """A sha256sum inside the measured tree would report its own digest: the dock reads it over SFTP, always."""
    root = tmp_path / "root"
    many_files(root, 20)
    (root / "bin").mkdir()
    for tool in ("sha256sum", "xargs"):
        shutil.copy2(f"/usr/bin/{tool}", root / "bin" / tool)
    with Sshd.running(tmp_path / "sshd") as sshd:
        c = collector(sshd, root, method="remote", audit_sample=0, tool_dirs=(os.fsencode(root / "bin"), b"/usr/bin"))
        ev = c.collect(ALL, nonce=NONCE)
    assert ev.notes["audit"]["sample"] == []
    assert ev.notes["audit"]["tools"] == ["bin/sha256sum", "bin/xargs"]
    for tool in ("bin/sha256sum", "bin/xargs"):
        assert ev.components[tool].method is Method.DOCK_READ
    assert ev.components["d00/f00000.conf"].method is Method.DEVICE_REPORTED


# -- item 3: time of check, time of use --------------------------------------------------------------------------


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with Sshd.running(tmp_path / "sshd") as s:
        yield s


def test_a_file_changed_between_listing_and_reading_is_an_error(sshd: Sshd, tmp_path: Path) -> None:
    """Listed, then rewritten (same size, new mtime), chmod-ed or grown before the read: errors, not digests."""
    root = tmp_path / "root"
    root.mkdir()
    files = {name: root / name for name in ("same-size", "chmod", "grown", "untouched")}
    for p in files.values():
        p.write_bytes(b"approved contents\n")
    target = SshTarget.parse(sshd.target(root))
    pins = HostKeyPins(known_hosts=load_known_hosts(sshd.known_hosts, target))
    with SshConnection.open(target, pins=pins, identity=sshd.client_key, timeout=10) as conn:
        sftp = conn.sftp()
        paths = {name: os.fsencode(p) for name, p in files.items()}
        listed = sftp.stat_paths(list(paths.values()))
        st = files["same-size"].stat()
        files["same-size"].write_bytes(b"APPROVED CONTENTS\n")
        os.utime(files["same-size"], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        files["chmod"].chmod(0o4755)
        before = files["grown"].stat()
        files["grown"].write_bytes(b"approved contents\nand more\n")
        os.utime(files["grown"], ns=(before.st_atime_ns, before.st_mtime_ns))  # only the size tells
        results = sftp.hash_files(
            [(p, 18) for p in paths.values()],
            listed={p: a for p, a in listed.items() if not isinstance(a, str)},
        )
    mtime = int(st.st_mtime)
    assert results[paths["same-size"]] == (
        f"cannot read: it changed between listing and reading (mtime {mtime} -> {mtime + 5})"
    )
    assert results[paths["chmod"]] == "cannot read: it changed between listing and reading (mode 100644 -> 104755)"
    assert results[paths["grown"]] == "cannot read: it changed between listing and reading (size 18 -> 27)"
    assert results[paths["untouched"]] == sha(b"approved contents\n")


# -- item 12: a partition's identity --------------------------------------------------------------------------------


@pytest.fixture
def loop_devices(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two read-only loop devices of 3 MiB and 2 MiB (root only)."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup (util-linux) to make block devices")
    devs: list[Path] = []
    try:
        for i, size in enumerate((3, 2)):
            backing = tmp_path / f"part{i}.img"
            backing.write_bytes(os.urandom(size * 1024 * 1024))
            r = subprocess.run(
                ["losetup", "-r", "-f", "--show", str(backing)], capture_output=True, text=True, check=False
            )
            if r.returncode != 0:
                pytest.skip(f"cannot attach a loop device here: {r.stderr.strip()}")
            devs.append(Path(r.stdout.strip()))
        yield devs[0], devs[1]
    finally:
        for dev in devs:
            subprocess.run(["losetup", "-d", str(dev)], check=False)


def lying_stat(bin_dir: Path, numbers: tuple[int, int]) -> Path:
    """A stat that prints ``numbers`` (as stat -c '%t %T' does) for every path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "stat"
    script.write_text(f"#!/bin/sh\nprintf '%x %x\\n' {numbers[0]} {numbers[1]}\n")
    script.chmod(0o755)
    return bin_dir


def _devroot(tmp_path: Path, device: Path) -> Path:
    """A measured root whose ``dev/mmcblk0p1`` is a real node of ``device`` (a loop device)."""
    root = tmp_path / "devroot"
    (root / "dev").mkdir(parents=True)
    os.mknod(root / "dev/mmcblk0p1", 0o600 | stat.S_IFBLK, device.stat().st_rdev)
    return root


def test_device_numbers_are_labelled_device_reported_and_checked_against_sysfs(
    sshd: Sshd, tmp_path: Path, loop_devices: tuple[Path, Path]
) -> None:
    """Honest numbers pass the sysfs check and are labelled as the device's stat's word."""
    big, _ = loop_devices
    root = _devroot(tmp_path, big)
    for method in ("pull", "remote"):
        ev = collector(sshd, root, method=method).collect(ALL, nonce=NONCE)
        assert not ev.findings, method
        assert ev.notes["device_reported_attributes"] == {
            "attributes": ["major", "minor"],
            "by": "the device's stat",
            "components": ["dev/mmcblk0p1"],
        }
        assert ev.notes["block_devices"]["checked"] == ["dev/mmcblk0p1"]


def test_a_stat_that_names_another_partition_is_caught_by_its_size(
    sshd: Sshd, tmp_path: Path, loop_devices: tuple[Path, Path]
) -> None:
    """The node opens the 3 MiB device; the device's stat names the 2 MiB one: device_lied (pull mode reads it all)."""
    big, small = loop_devices
    root = _devroot(tmp_path, big)
    claimed = (os.major(small.stat().st_rdev), os.minor(small.stat().st_rdev))
    bin_dir = lying_stat(tmp_path / "fakebin", claimed)
    c = collector(sshd, root, tool_dirs=(os.fsencode(bin_dir), b"/usr/bin", b"/bin"))
    ev = c.collect(ALL, nonce=NONCE)
    node = ev.components["dev/mmcblk0p1"]
    assert (node.attributes["major"], node.attributes["minor"]) == claimed
    assert [(f.component, f.kind) for f in ev.findings] == [("dev/mmcblk0p1", FindingKind.DEVICE_LIED)]
    assert f"holds {2 * 1024 * 1024}" in (ev.findings[0].actual or "")


def test_a_stat_that_names_no_device_is_caught_in_both_methods(
    sshd: Sshd, tmp_path: Path, loop_devices: tuple[Path, Path]
) -> None:
    """Numbers the kernel has no block device for: device_lied, whatever the method."""
    big, _ = loop_devices
    root = _devroot(tmp_path, big)
    bin_dir = lying_stat(tmp_path / "fakebin", (7, 0xFFFFF))
    for method in ("pull", "remote"):
        c = collector(sshd, root, method=method, tool_dirs=(os.fsencode(bin_dir), b"/usr/bin", b"/bin"))
        ev = c.collect(ALL, nonce=NONCE)
        assert [(f.component, f.kind) for f in ev.findings] == [("dev/mmcblk0p1", FindingKind.DEVICE_LIED)], method
        assert "the kernel has no block device 7:1048575" in (ev.findings[0].actual or "")


# -- item 10b: no silent downgrade ----------------------------------------------------------------------------------


def test_a_pull_baseline_refuses_remote_mode_unless_it_allows_it(sshd: Sshd, tmp_path: Path) -> None:
    """The method is in the signed collection settings; a weaker one is exit 2 unless allow_methods names it."""
    fleet = make_fleet(tmp_path / "fleet")
    root = tmp_path / "root"
    many_files(root, 5)
    env = {"ATTEST_STATE_DIR": str(tmp_path / "state")}

    def baseline(name: str, method: str, allow: object = None) -> Path:
        out = tmp_path / f"{name}.json"
        r = run_attest(
            ["baseline", "create", "--device", sshd.target(root), "--name", name, "--version", "1",
             "--out", out, "--method", method, *sshd.transport_args()],
            env=env,
        )  # fmt: skip
        assert r.code == 0, r.err
        statement = json.loads(out.read_text())
        assert statement["predicate"]["collection"]["method"] == method
        if allow is not None:
            statement["predicate"]["collection"]["allow_methods"] = allow
            out.write_text(json.dumps(statement))
        assert run_attest(["baseline", "sign", out, "--key", fleet.keys[0]], env=env).code == 0
        return out

    def verify(path: Path, method: str) -> tuple[int, str]:
        r = run_attest(
            ["verify", "--device", sshd.target(root), "--baseline", path, "--trust", fleet.trust,
             "--method", method, *sshd.transport_args()],
            env=env,
        )  # fmt: skip
        return r.code, r.out + r.err

    strict = baseline("strict", "pull")
    code, err = verify(strict, "remote")
    assert code == 2
    assert "the baseline was made with --method pull and does not allow remote" in err
    assert verify(strict, "pull")[0] == 0
    assert verify(baseline("allows", "pull", ["remote"]), "remote")[0] == 0
    assert verify(baseline("made-remote", "remote"), "pull")[0] == 0  # stronger is always fine
    code, err = verify(baseline("malformed", "pull", "remote"), "remote")
    assert code == 4
    assert "baseline allow_methods 'remote': expected a list" in err, err


# -- item 1: extended attributes ------------------------------------------------------------------------------------


def test_xattrs_are_measured_by_getfattr_as_the_directory_collector_measures_them(sshd: Sshd, tmp_path: Path) -> None:
    """A file capability, an ACL and an LSM-style label under hostile names: the same xattrs as a local walk."""
    if os.geteuid() != 0 or not (shutil.which("setcap") and shutil.which("setfacl") and shutil.which("getfattr")):
        pytest.skip("needs root, setcap, setfacl and getfattr (packages libcap2-bin, acl, attr)")
    root = tmp_path / "root"
    root.mkdir()
    for name in (b"ping", b"new\nline", b"back\\slash", b"\xff\xfe", b"plain"):
        (root / os.fsdecode(name)).write_bytes(b"x")
    subprocess.run(["setcap", "cap_net_raw+ep", root / "ping"], check=True)
    subprocess.run(["setfacl", "-m", "u:1000:r", root / "new\nline"], check=True)
    os.setxattr(root / "back\\slash", "security.test", b"label\0")
    os.setxattr(root / os.fsdecode(b"\xff\xfe"), "user.ignored", b"v")
    ev = collector(sshd, root).collect(ALL, nonce=NONCE)
    local = DirectoryCollector(root).collect(ALL, nonce=NONCE)
    assert ev.components == local.components
    assert ev.components["ping"].attributes["xattrs"] == "security.capability=cap_net_raw+ep"
    assert "xattrs" not in ev.components["plain"].attributes
    assert "xattrs" not in ev.components[encode_name(b"\xff\xfe")].attributes
    assert ev.notes["xattrs"].startswith("measured by the device's getfattr (device-reported")


def test_without_getfattr_xattrs_are_recorded_as_not_measured(sshd: Sshd, tmp_path: Path) -> None:
    """A device without getfattr: the run says so in its notes, and no component claims to have none measured."""
    root = tmp_path / "root"
    many_files(root, 3)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("env", "xargs", "sha256sum"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    ev = collector(sshd, root, tool_dirs=(os.fsencode(bin_dir),)).collect(ALL, nonce=NONCE)
    assert ev.notes["xattrs"].startswith("not measured on this target: no getfattr")
    assert "getfattr" in ev.notes["tools"]["missing"]


@pytest.mark.parametrize(
    ("out", "match"),
    [
        (b"# file: /etc/shadow\nsecurity.x=0x00\n\n", "reported '/etc/shadow', which was not asked for once"),
        (b"# file: /a\nsecurity.x=0x00\n\n# file: /a\nsecurity.x=0x00\n\n", "which was not asked for once"),
        (b"# file: /a\nsecurity.x=not-hex\n\n", "printed 'security.x=not-hex'"),
        (b"security.x=0x00\n", "printed 'security.x=0x00'"),
        (b"# file: /a\nsecurity.x=0x0\n\n", "printed"),
    ],
    ids=["unasked", "twice", "not-hex", "no-file", "odd-hex"],
)
def test_getfattr_output_is_parsed_strictly(out: bytes, match: str) -> None:
    """Whatever a device's getfattr prints, it parses exactly or raises."""
    with pytest.raises(CollectionError, match=match):
        parse_getfattr(out, [b"/a"], label="dev")


def test_getfattr_quoting_is_undone() -> None:
    """getfattr writes a backslash as \\134 and a newline as \\012; the dock reads the exact path back."""
    out = b"# file: /d/back\\134slash\nsecurity.a=0x01\n\n# file: /d/new\\012line\nsystem.posix_acl_access=0x02\n\n"
    assert parse_getfattr(out, [b"/d/back\\slash", b"/d/new\nline"], label="dev") == {
        b"/d/back\\slash": {"security.a": b"\x01"},
        b"/d/new\nline": {"system.posix_acl_access": b"\x02"},
    }
