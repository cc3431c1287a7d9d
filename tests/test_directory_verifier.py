"""The directory collector and the pure verifier: every finding kind, on real files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run

from attest.baseline import Baseline
from attest.collectors.directory import DirectoryCollector
from attest.errors import TransportError
from attest.hashing import hash_files, sha256_file
from attest.model import Component, DeviceIdentity, Evidence, FindingKind, Verdict
from attest.rules import Rule
from attest.trust import RollbackState, TrustPolicy, trust_baseline
from attest.verifier import compare_components, device_mismatch, verify

SEL = {"selection": {"include": ["**"], "exclude": ["skip/**"]}}


def collect(root: Path, settings: dict[str, object] = SEL) -> Evidence:
    return DirectoryCollector(str(root), workers=2).collect(settings, nonce="ab")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/px4").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (root / "usr/bin/tool").write_bytes(b"#!/bin/sh\n")
    (root / "usr/bin/tool").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/empty").write_bytes(b"")
    os.symlink("../usr/bin/px4", root / "etc/px4-link")
    os.symlink("/nonexistent/target", root / "etc/dangling")
    os.mkfifo(root / "etc/fifo")
    (root / "skip").mkdir()
    (root / "skip/noise.log").write_text("changes all the time")
    weird = os.fsencode(str(root / "etc")) + b"/we ird\n$(rm -rf)\xff-name"
    with open(weird, "wb") as f:
        f.write(b"weird")
    return root


def test_collects_every_kind_without_following_links(tree: Path) -> None:
    ev = collect(tree)
    c = ev.components
    assert c["usr/bin/px4"].digest == sha256_file(tree / "usr/bin/px4")
    assert c["usr/bin/px4"].attributes["size"] == 3 * 1024 * 1024 + 7
    assert c["usr/bin/tool"].attributes["mode"] == "0755"
    assert c["etc/empty"].digest == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert c["etc/px4-link"].kind == "symlink" and c["etc/px4-link"].digest is None
    assert c["etc/px4-link"].attributes["target"] == "../usr/bin/px4"
    assert c["etc/dangling"].attributes["target"] == "/nonexistent/target"
    assert c["etc/fifo"].kind == "fifo"
    assert c["etc/we ird\n$(rm -rf)\\xff-name"].digest == sha256_file(
        os.fsencode(str(tree / "etc")) + b"/we ird\n$(rm -rf)\xff-name"
    )
    assert c["usr"].kind == "directory"
    assert "skip/noise.log" not in c and "skip" in c  # excluded content, directory itself kept
    assert all(comp.error is None for comp in c.values())


def test_parallel_hashing_matches_serial(tree: Path) -> None:
    files = [(p, str(p)) for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    serial = dict(hash_files(files, workers=1))
    parallel = dict(hash_files(files, workers=4))
    assert serial == parallel
    assert all(isinstance(v, str) for v in serial.values())


def test_missing_root_is_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="does not exist"):
        collect(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(TransportError, match="not a directory"):
        collect(tmp_path / "file")


def _trusted(tmp_path: Path, baseline: Baseline):  # type: ignore[no-untyped-def]
    from attest.signing import Envelope, generate_key_files, load_private_key

    tmp_path.mkdir(parents=True, exist_ok=True)
    priv, pub = generate_key_files(tmp_path / "v.key")
    pol = tmp_path / "t.toml"
    pol.write_text(f'threshold = 1\n[[keys]]\nid = "v"\npublic_key = "{pub.name}"\n')
    env = Envelope(baseline.to_payload(), "application/vnd.in-toto+json").signed_by(load_private_key(priv))
    return trust_baseline(env.to_bytes(), policy=TrustPolicy.from_file(pol), state=RollbackState(tmp_path / "st"))


def test_unchanged_tree_passes(tmp_path: Path, tree: Path) -> None:
    b = Baseline.from_evidence(collect(tree), name="t", version=1, collection=SEL)
    result = verify(collect(tree), _trusted(tmp_path, b))
    assert result.verdict is Verdict.PASS and result.findings == ()


def test_every_finding_kind(tmp_path: Path, tree: Path) -> None:
    b = Baseline.from_evidence(collect(tree), name="t", version=1, collection=SEL)
    trusted = _trusted(tmp_path, b)
    # Flip one real byte in the middle of a large file.
    with open(tree / "usr/bin/px4", "r+b") as f:
        f.seek(2_000_000)
        byte = f.read(1)
        f.seek(2_000_000)
        f.write(bytes([byte[0] ^ 1]))
    (tree / "etc/empty").unlink()
    (tree / "etc/new").write_text("planted")
    (tree / "usr/bin/tool").chmod(0o4755)
    (tree / "etc/px4-link").unlink()
    os.symlink("/tmp/evil", tree / "etc/px4-link")
    (tree / "etc/fifo").unlink()
    (tree / "etc/fifo").write_text("now a file")
    (tree / "skip/noise.log").write_text("excluded: no finding")
    result = verify(collect(tree), trusted)
    got = {(f.component, f.kind) for f in result.findings}
    assert got == {
        ("usr/bin/px4", FindingKind.MODIFIED),
        ("etc/empty", FindingKind.MISSING),
        ("etc/new", FindingKind.UNEXPECTED),
        ("usr/bin/tool", FindingKind.ATTRIBUTES),
        ("etc/px4-link", FindingKind.ATTRIBUTES),
        ("etc/fifo", FindingKind.ATTRIBUTES),
    }
    assert result.verdict is Verdict.DRIFT
    tool = next(f for f in result.findings if f.component == "usr/bin/tool")
    assert (tool.expected, tool.actual) == ({"mode": "0755"}, {"mode": "4755"})
    link = next(f for f in result.findings if f.component == "etc/px4-link")
    assert link.actual == {"target": "/tmp/evil"}


def test_unreadable_component_is_error_never_pass() -> None:
    exp = {"a": Component("a", "file", digest="0" * 64)}
    act = {"a": Component("a", "file", error="cannot read: Permission denied")}
    findings = compare_components(exp, act)
    assert [f.kind for f in findings] == [FindingKind.UNREADABLE]


def test_owner_comparison_can_be_switched_off() -> None:
    exp = {"a": Component("a", "file", digest="0" * 64, attributes={"mode": "0644", "uid": 0, "gid": 0})}
    act = {"a": Component("a", "file", digest="0" * 64, attributes={"mode": "0644", "uid": 1000, "gid": 1000})}
    assert [f.kind for f in compare_components(exp, act)] == [FindingKind.ATTRIBUTES]
    assert compare_components(exp, act, compare_owner=False) == []


def test_rules_and_device_selector(tmp_path: Path, tree: Path) -> None:
    ev = collect(tree)
    ev = Evidence(
        DeviceIdentity("directory", "x", "x", {"board_id": "9"}),
        ev.components,
        ev.nonce,
        ev.collected_at,
        values={"param/FENCE_ENABLE": 0, "param/RTL_ALT": 1500},
    )
    b = Baseline.from_evidence(
        ev,
        name="r",
        version=1,
        collection=SEL,
        device_match={"board_id": "9"},
        rules={
            "param/FENCE_ENABLE": Rule.parse("param/FENCE_ENABLE=1"),
            "param/RTL_ALT": Rule.parse("param/RTL_ALT=1500..12000"),
            "param/GONE": Rule.parse("param/GONE=1"),
        },
    )
    result = verify(ev, _trusted(tmp_path, b))
    kinds = {(f.component, f.kind, f.expected, f.actual) for f in result.findings}
    assert kinds == {
        ("param/FENCE_ENABLE", FindingKind.OUT_OF_RANGE, "1", 0),
        ("param/GONE", FindingKind.MISSING, "1", None),
    }
    other = Evidence(
        DeviceIdentity("directory", "x", "x", {"board_id": "140"}),
        ev.components,
        ev.nonce,
        ev.collected_at,
        values=ev.values,
    )
    assert device_mismatch(other, b) == "wrong baseline for this device: board_id is '140', baseline requires '9'"
    assert verify(other, _trusted(tmp_path / "2", b)).verdict is Verdict.UNTRUSTED


def test_map_parallel_keeps_order_and_reraises_a_workers_exception() -> None:
    from attest.hashing import map_parallel

    ran: list[int] = []

    def work(i: int, buffer: bytearray) -> int:
        assert len(buffer) == 1 << 20
        ran.append(i)
        return i * i

    assert map_parallel(work, list(range(200)), workers=3, meanwhile=lambda: ran.append(-1)) == [
        i * i for i in range(200)
    ]
    assert -1 in ran

    def boom(i: int, buffer: bytearray) -> int:
        del buffer
        if i == 5:
            raise RuntimeError("defect")
        return i

    with pytest.raises(RuntimeError, match="defect"):
        map_parallel(boom, list(range(50)), workers=2)


def test_sha256_fd_reads_at_most_its_limit(tmp_path: Path) -> None:
    from attest.hashing import sha256_fd

    f = tmp_path / "f"
    f.write_bytes(b"a" * (3 << 20))
    fd = os.open(f, os.O_RDONLY)
    try:
        digest, n = sha256_fd(fd, limit=5)
        assert (digest, n) == (sha256_file_of(b"aaaaa"), 5)
    finally:
        os.close(fd)


def sha256_file_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _without_dac_override() -> list[str]:
    """A command prefix under which file permissions apply to this process, root or not."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: cannot make a directory unlistable to root")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_a_directory_that_cannot_be_listed_is_an_error_not_a_measured_directory(
    attest: Callable[..., Run], fleet: Fleet, tmp_path: Path
) -> None:
    """What is below an unlistable directory is unknown: its component keeps the error (exit 3), never
    a clean directory entry whose only difference is its mode."""
    golden = tmp_path / "golden"
    (golden / "etc/sudoers.d").mkdir(parents=True)
    (golden / "etc/hostname").write_text("drone\n")
    baseline = tmp_path / "b.json"
    assert (
        attest("baseline", "create", "--device", golden, "--name", "b", "--version", "1", "--out", baseline).code == 0
    )
    assert attest("baseline", "sign", baseline, "--key", fleet.keys[0]).code == 0
    (golden / "etc/sudoers.d/planted").write_text("ALL ALL=(ALL) NOPASSWD: ALL\n")
    (golden / "etc/sudoers.d").chmod(0o000)
    try:
        r = attest(
            "verify", "--device", golden, "--baseline", baseline, "--trust", fleet.trust, "--json",
            prefix=_without_dac_override(),
        )  # fmt: skip
    finally:
        (golden / "etc/sudoers.d").chmod(0o755)
    assert r.code == 3, r.out + r.err  # old code: 1, the directory measured as if listed
    kinds = {(f["component"], f["kind"]) for f in r.json()["findings"]}
    assert ("etc/sudoers.d", "unreadable") in kinds
