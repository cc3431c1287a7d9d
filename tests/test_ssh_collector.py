"""The SSH collector against a real OpenSSH sshd: same measurements as a local directory, both methods."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sshd_fixture import HOSTILE_NAMES, Sshd, free_port, hostile_tree

from attest.collectors.directory import DirectoryCollector
from attest.collectors.ssh import SshCollector, audit_sample
from attest.collectors.ssh.listing import literal_heads as _literal_heads
from attest.errors import CollectionError, ConfigError, TransportError
from attest.model import Evidence, Method
from attest.names import encode_name
from attest.selection import Selection
from attest.transports.ssh import SftpLimits

ALL = {"selection": {"include": ["**"], "exclude": []}}


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Collectors log; a test that ran the CLI in-process may have left structlog writing to a closed stream."""
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with Sshd.running(tmp_path_factory.mktemp("sshd")) as s:
        yield s


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = hostile_tree(tmp_path_factory.mktemp("companion") / "root")
    if os.geteuid() == 0:
        os.mknod(root / "data/null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    return root


def collector(sshd: Sshd, root: Path | str, **kw: object) -> SshCollector:
    return SshCollector(
        sshd.target(root),
        identity=sshd.client_key,
        known_hosts=sshd.known_hosts,
        timeout=5,
        **kw,  # type: ignore[arg-type]
    )


def local(root: Path, settings: dict[str, object] = ALL) -> Evidence:
    return DirectoryCollector(str(root)).collect(settings, nonce="00")


def test_pull_measures_exactly_what_the_directory_collector_measures(sshd: Sshd, tree: Path) -> None:
    """Same names, kinds, digests, attributes and errors; every component dock-read."""
    ev = collector(sshd, tree).collect(ALL, nonce="00")
    assert ev.components == local(tree).components
    assert {c.method for c in ev.components.values()} == {Method.DOCK_READ}
    assert ev.device.kind == "ssh"
    assert ev.device.facts["host_key_type"] == "ssh-ed25519"
    assert ev.notes["method"] == "pull"


def test_hostile_names_are_measured_as_bytes_and_never_run(sshd: Sshd, tree: Path) -> None:
    """Quotes, newlines, $(...), leading dashes and non-UTF-8 bytes are names, in both methods."""
    for method in ("pull", "remote"):
        ev = collector(sshd, tree, method=method, audit_sample=0).collect(ALL, nonce="01")
        for i, raw in enumerate(HOSTILE_NAMES):
            component = ev.components[encode_name(b"data/odd/" + raw)]
            assert component.digest == hashlib.sha256(raw * (i + 1)).hexdigest(), (method, raw)
        assert "data/odd/\\xff\\xfe" in ev.components
        assert ev.components["data/odd/link-to-\\xff"].attributes["target"] == "\\xff-target"
    home = Path(os.path.expanduser("~"))
    for d in (tree, tree / "data/odd", home, Path("/")):
        assert not list(d.glob("PWNED*")), d


def test_remote_mode_reports_device_hashes_and_audits_a_sample(sshd: Sshd, tree: Path) -> None:
    """Digests equal pull mode's; the sample is dock-read, the rest device-reported, all of it noted."""
    pull = collector(sshd, tree).collect(ALL, nonce="02")
    ev = collector(sshd, tree, method="remote", audit_sample=3).collect(ALL, nonce="02")
    assert {n: c.digest for n, c in ev.components.items()} == {n: c.digest for n, c in pull.components.items()}
    audit = ev.notes["audit"]
    hashed = [n for n, c in ev.components.items() if c.digest]
    assert audit["sample"] == audit_sample(hashed, "02", 3)
    assert audit["sample_size"] == 3
    assert audit["device_reported"] == len(hashed) - 3
    assert audit["disagreements"] == []
    assert not ev.findings
    for name in hashed:
        want = Method.DOCK_READ if name in audit["sample"] else Method.DEVICE_REPORTED
        assert ev.components[name].method is want, name


def test_audit_sample_is_max_8_or_2_percent_and_follows_the_nonce() -> None:
    """The default size, the override, and unpredictability without the nonce."""
    names = [f"f{i:04d}" for i in range(1000)]
    assert len(audit_sample(names, "aa")) == 20
    assert len(audit_sample(names[:100], "aa")) == 8
    assert len(audit_sample(names[:5], "aa")) == 5
    assert len(audit_sample(names, "aa", 50)) == 50
    assert audit_sample(names, "aa") == audit_sample(list(reversed(names)), "aa")
    assert audit_sample(names, "aa") != audit_sample(names, "ab")


def test_selection_globs_and_pruning(sshd: Sshd, tree: Path) -> None:
    """Include/exclude select the same set as locally; directories no include can reach are not listed."""
    settings = {"selection": {"include": ["usr/bin/**", "etc/*/voxl-*.conf"], "exclude": ["usr/bin/dangling"]}}
    ev = collector(sshd, tree).collect(settings, nonce="03")
    assert ev.components == local(tree, settings).components
    assert set(ev.components) == {"usr/bin/px4", "usr/bin/autopilot", "etc/modalai/voxl-px4.conf"}


def test_literal_heads_bound_the_walk() -> None:
    """Every match of a pattern starts with its glob-free leading segments."""
    sel = Selection(include=("usr/bin/**", "etc/*.conf", "boot/cmdline.txt", "**/x"))
    assert _literal_heads(sel) == [("usr", "bin"), ("etc",), ("boot", "cmdline.txt"), ()]


def test_large_files_span_many_reads(sshd: Sshd, tmp_path: Path) -> None:
    """Files larger than one SFTP read, exactly one read, and empty, hash like hashlib."""
    root = tmp_path / "big"
    root.mkdir()
    blobs = {"zero": b"", "one-read": os.urandom(261120), "many": os.urandom(5 * 1024 * 1024 + 7)}
    for name, data in blobs.items():
        (root / name).write_bytes(data)
    ev = collector(sshd, root).collect(ALL, nonce="04")
    assert {n: c.digest for n, c in ev.components.items()} == {
        n: hashlib.sha256(d).hexdigest() for n, d in blobs.items()
    }


def test_limits_reach_the_listing_and_the_reads(sshd: Sshd, tmp_path: Path) -> None:
    """SshCollector(limits=...): a file listed past max_file_bytes is an error in both methods, never hashed;
    a tree deeper than max_depth stops the walk (exit 3)."""
    root = tmp_path / "limits"
    (root / "a/b/c").mkdir(parents=True)
    (root / "big.img").write_bytes(b"x" * 4096)
    (root / "small").write_bytes(b"ok")
    limits = SftpLimits(max_file_bytes=1024)
    for method in ("pull", "remote"):
        ev = collector(sshd, root, method=method, limits=limits).collect(ALL, nonce="08")
        big = ev.components["big.img"]
        assert (big.digest, big.error) == (None, "cannot read: listed as 4096 bytes, more than the 1024-byte limit")
        assert ev.components["small"].digest == hashlib.sha256(b"ok").hexdigest()
    with pytest.raises(CollectionError, match=r"stopped at 'a/b': 2 levels deep \(the limit\)"):
        collector(sshd, root, limits=SftpLimits(max_depth=2)).collect(ALL, nonce="08")


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Path]:
    """A read-only loop device over 3 MiB of random bytes (root only)."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup (util-linux) to make a block device")
    backing = tmp_path / "partition.img"
    backing.write_bytes(os.urandom(3 * 1024 * 1024))
    r = subprocess.run(["losetup", "-r", "-f", "--show", str(backing)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot attach a loop device here: {r.stderr.strip()}")
    dev = Path(r.stdout.strip())
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", str(dev)], check=False)


def test_block_devices_are_hashed_in_full(sshd: Sshd, tmp_path: Path, loop_device: Path) -> None:
    """A partition node is read to its end by the dock (pull) or the device (remote), with its numbers."""
    root = tmp_path / "devroot"
    (root / "dev").mkdir(parents=True)
    st = loop_device.stat()
    os.mknod(root / "dev/mmcblk0p1", 0o600 | stat.S_IFBLK, st.st_rdev)
    want = hashlib.sha256((tmp_path / "partition.img").read_bytes()).hexdigest()
    for method in ("pull", "remote"):
        ev = collector(sshd, root, method=method).collect(ALL, nonce="05")
        part = ev.components["dev/mmcblk0p1"]
        assert part.kind == "block-device"
        assert part.digest == want, method
        assert part.attributes["major"] == os.major(st.st_rdev)
        assert part.attributes["minor"] == os.minor(st.st_rdev)


def test_keys_in_an_ssh_agent_are_used_without_identity(
    sshd: Sshd, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --identity: the ssh-agent's key logs in (and no key file is read)."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("needs ssh-agent and ssh-add (Debian package openssh-client)")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        c = SshCollector(sshd.target(tree), known_hosts=sshd.known_hosts, timeout=5)
        ev = c.collect(ALL, nonce="06")
        assert ev.components["usr/bin/px4"].digest is not None
    finally:
        agent.kill()
        agent.wait()


def test_walking_proc_or_sys_at_the_root_is_refused_before_connecting(sshd: Sshd) -> None:
    """At /, '**' would read kernel state (/proc/kcore ...): a configuration error, no network needed."""
    c = SshCollector(f"ssh://root@127.0.0.1:{free_port()}/", identity=sshd.client_key, timeout=1)
    for selection in ({"include": ["**"]}, {"include": ["*/bin/**"], "exclude": ["proc/**"]}):
        with pytest.raises(ConfigError, match=r"would walk /(proc|sys)"):
            c.collect({"selection": selection}, nonce="07")
    with pytest.raises(TransportError):  # allowed: it got as far as connecting
        c.collect({"selection": {"include": ["**"], "exclude": ["proc/**", "sys/**"]}}, nonce="07")
