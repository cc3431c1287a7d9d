"""The directory target under attack: file capabilities and ACLs, rename-swaps, huge sparse files.

Everything runs on real files with the real tools (``setcap``, ``setfacl``,
``truncate``); the swap attack runs in a separate process, truly concurrent
with the collector.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run

from attest.collectors.directory import DirectoryCollector
from attest.model import Component, Evidence, FindingKind
from attest.verifier import compare_components

needs_setcap = pytest.mark.skipif(shutil.which("setcap") is None, reason="setcap missing: apt-get install libcap2-bin")
needs_setfacl = pytest.mark.skipif(shutil.which("setfacl") is None, reason="setfacl missing: apt-get install acl")

APPROVED = b"\x7fELF approved px4 build" * 100


def _tree(root: Path) -> Path:
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/px4").write_bytes(APPROVED)
    (root / "usr/bin/px4").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/app.conf").write_text("upload=false\n")
    return root


def _collect(root: Path, expected: dict[str, Component] | None = None) -> Evidence:
    return DirectoryCollector(str(root), workers=2).collect({}, nonce="00", expected=expected)


def _signed_baseline(attest: Callable[..., Run], fleet: Fleet, device: Path, out: Path) -> Path:
    r = attest("baseline", "create", "--device", device, "--name", "companion", "--version", "1", "--out", out)
    assert r.code == 0, r.err
    r = attest("baseline", "sign", out, "--key", fleet.keys[0])
    assert r.code == 0, r.err
    return out


# --- item 1: privilege-granting extended attributes ---------------------------------------------


@needs_setcap
def test_setcap_on_a_binary_is_drift_showing_the_capability(
    tmp_path: Path, attest: Callable[..., Run], fleet: Fleet
) -> None:
    """`setcap cap_setuid+ep usr/bin/px4` grants root like setuid does: drift, with the readable value."""
    device = _tree(tmp_path / "rootfs")
    baseline = _signed_baseline(attest, fleet, device, tmp_path / "b.json")
    subprocess.run(["setcap", "cap_setuid+ep", str(device / "usr/bin/px4")], check=True)

    r = attest("verify", "--device", device, "--baseline", baseline, "--trust", fleet.trust, "--json")
    assert r.code == 1, r.err
    findings = r.json()["findings"]
    assert findings == [
        {
            "component": "usr/bin/px4",
            "kind": "attributes",
            "severity": "high",
            "expected": {"xattrs": None},
            "actual": {"xattrs": "security.capability=cap_setuid+ep"},
        }
    ]
    text = attest("verify", "--device", device, "--baseline", baseline, "--trust", fleet.trust)
    assert text.code == 1 and "cap_setuid+ep" in text.out


@needs_setcap
def test_a_baseline_records_capabilities_and_their_removal_or_change_is_drift(tmp_path: Path) -> None:
    device = _tree(tmp_path / "rootfs")
    px4 = str(device / "usr/bin/px4")
    subprocess.run(["setcap", "cap_net_raw+ep", px4], check=True)
    golden = _collect(device)
    assert golden.components["usr/bin/px4"].attributes["xattrs"] == "security.capability=cap_net_raw+ep"
    assert "xattrs" not in golden.components["etc/app.conf"].attributes  # absent, not empty: old baselines hold
    assert compare_components(golden.components, _collect(device, golden.components).components) == []

    subprocess.run(["setcap", "cap_net_raw,cap_sys_admin+ep", px4], check=True)
    [widened] = compare_components(golden.components, _collect(device, golden.components).components)
    assert widened.kind is FindingKind.ATTRIBUTES
    assert widened.actual == {"xattrs": "security.capability=cap_net_raw,cap_sys_admin+ep"}
    subprocess.run(["setcap", "-r", px4], check=True)
    [removed] = compare_components(golden.components, _collect(device, golden.components).components)
    assert removed.actual == {"xattrs": None}


@needs_setfacl
def test_posix_acls_on_files_and_default_acls_on_directories_are_drift(tmp_path: Path) -> None:
    device = _tree(tmp_path / "rootfs")
    golden = _collect(device)
    subprocess.run(["setfacl", "-m", "u:1000:rwx", str(device / "etc/app.conf")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "g:1000:rwx", str(device / "etc")], check=True)
    findings = {f.component: f.actual for f in compare_components(golden.components, _collect(device).components)}
    assert findings["etc/app.conf"] == {
        "mode": "0674",  # the group bits show the ACL mask
        "xattrs": "system.posix_acl_access=user::rw-,user:1000:rwx,group::r--,mask::rwx,other::r--",
    }
    assert findings["etc"] == {
        "xattrs": "system.posix_acl_default=user::rwx,group::r-x,group:1000:rwx,mask::rwx,other::r-x"
    }


def test_security_labels_on_symlinks_and_fifos_are_measured_without_opening_them(tmp_path: Path) -> None:
    device = _tree(tmp_path / "rootfs")
    os.symlink("px4", device / "usr/bin/autopilot")
    os.mkfifo(device / "etc/pipe")
    golden = _collect(device)
    os.setxattr(
        device / "usr/bin/autopilot", "security.selinux", b"system_u:object_r:bin_t:s0\x00", follow_symlinks=False
    )
    os.setxattr(device / "etc/pipe", "security.ima", b"\x03\x02\x01")
    findings = {f.component: f.actual for f in compare_components(golden.components, _collect(device).components)}
    assert findings == {
        "usr/bin/autopilot": {"xattrs": "security.selinux=system_u:object_r:bin_t:s0"},
        "etc/pipe": {"xattrs": "security.ima=hex:030201"},
    }


# --- item 3: time of check / time of use ---------------------------------------------------------

SWAPPER = textwrap.dedent(
    """
    import os, sys
    a, b, tmp, target = sys.argv[1:]
    ready = False
    while True:
        for version in (a, b):
            os.link(version, tmp)
            os.rename(tmp, target)  # atomic: the name always exists
            if not ready:  # the approved original is gone: every state from now on is a bad one
                print("ready", flush=True)
                ready = True
    """
)


def test_rename_swapping_two_bad_versions_never_passes(tmp_path: Path) -> None:
    """One version has the approved bytes and a wrong mode, the other the approved mode and other bytes.

    With attributes from the walk and bytes from a later open, a run that saw
    one version's mode and read the other's bytes passed (about one run in six).
    """
    device = _tree(tmp_path / "rootfs")
    golden = _collect(device).components
    stage = tmp_path / "stage"  # outside the measured tree, on the same filesystem
    stage.mkdir()
    (stage / "a").write_bytes(APPROVED)
    (stage / "a").chmod(0o4755)  # approved bytes, setuid
    (stage / "b").write_bytes(APPROVED.replace(b"approved", b"backdoor"))
    (stage / "b").chmod(0o755)  # approved mode, other bytes
    for version in ("a", "b"):  # each version alone is caught
        shutil.copy2(stage / version, device / "usr/bin/px4")
        assert compare_components(golden, _collect(device, golden).components) != []

    target = device / "usr/bin/px4"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(stage / "a"), str(stage / "b"), str(stage / "tmp"), str(target)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        outcomes = []
        for _ in range(100):
            findings = compare_components(golden, _collect(device, golden).components)
            assert findings, "a run passed while two unapproved versions were being swapped"
            outcomes.append({f.kind for f in findings})
        assert swapper.poll() is None  # the attack ran for the whole test
    finally:
        swapper.kill()
        swapper.wait()
    assert all(kinds for kinds in outcomes)


class _TamperOnFirstChunk:
    """A progress sink that changes the file being hashed after its first chunk: a write during the read."""

    def __init__(self, tamper: Callable[[], None]) -> None:
        self.tamper: Callable[[], None] | None = tamper

    def start(self, total: int | None, label: str) -> None:
        pass

    def advance(self, n: int) -> None:
        del n
        if self.tamper is not None:
            tamper, self.tamper = self.tamper, None
            tamper()

    def finish(self) -> None:
        pass


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (lambda p: p.chmod(0o4755), "modified while it was read"),
        (lambda p: p.open("ab").write(b"more"), "3145728 bytes at open, 3145729 read"),
        (lambda p: os.truncate(p, 1 << 20), "3145728 bytes at open, 1048576 read"),
        (lambda p: p.open("r+b").write(b"X"), "modified while it was read"),
    ],
    ids=["chmod", "append", "truncate", "overwrite"],
)
def test_a_file_changed_while_it_is_hashed_is_an_error(
    tmp_path: Path, tamper: Callable[[Path], object], why: str
) -> None:
    device = tmp_path / "rootfs"
    device.mkdir()
    big = device / "big.img"
    big.write_bytes(os.urandom(3 << 20))  # three 1 MiB chunks: the tamper lands mid-read
    evidence = DirectoryCollector(str(device), workers=1).collect(
        {}, nonce="00", progress=_TamperOnFirstChunk(lambda: tamper(big))
    )
    comp = evidence.components["big.img"]
    assert comp.digest is None and comp.error is not None
    assert comp.error.startswith("changed while it was measured") and why in comp.error


# --- item 8: bounded reads ------------------------------------------------------------------------

SPARSE = textwrap.dedent(
    """
    import json, os, sys
    from attest.collectors.directory import DirectoryCollector
    from attest.verifier import compare_components
    root = sys.argv[1]
    golden = DirectoryCollector(root).collect({}, nonce="00").components
    for name in ("data/huge.img", "usr/bin/px4"):  # an unexpected file, a known file grown huge
        with open(os.path.join(root, name), "ab") as f:
            f.truncate(8 << 40)
    got = DirectoryCollector(root).collect({}, nonce="00", expected=golden).components
    findings = compare_components(golden, got)
    print(json.dumps([[f.component, f.kind.value, f.actual] for f in findings]))
    """
)


def test_an_8_tib_sparse_file_is_a_finding_without_being_read(tmp_path: Path) -> None:
    """Hashing 8 TiB of holes takes over an hour; with the baseline's sizes it is never read."""
    device = _tree(tmp_path / "rootfs")
    (device / "data").mkdir()
    probe = tmp_path / "probe"
    try:
        with probe.open("wb") as f:
            f.truncate(8 << 40)
    except OSError as e:  # pragma: no cover - a filesystem with smaller files
        pytest.skip(f"this filesystem cannot hold an 8 TiB sparse file: {e.strerror}")
    probe.unlink()
    proc = subprocess.run(
        [sys.executable, "-c", SPARSE, str(device)],
        capture_output=True,
        text=True,
        timeout=300,  # hashing 8 TiB would take over an hour on any dock
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        ["data/huge.img", "unexpected", "file (not hashed: not in baseline)"],
        ["usr/bin/px4", "modified", f"not hashed: size differs ({8 << 40} bytes, baseline {len(APPROVED)})"],
    ]


def test_with_a_baseline_equal_sizes_are_still_hashed_and_compared(tmp_path: Path) -> None:
    device = _tree(tmp_path / "rootfs")
    golden = _collect(device).components
    (device / "usr/bin/px4").write_bytes(APPROVED.replace(b"approved", b"backdoor"))  # same size
    [finding] = compare_components(golden, _collect(device, golden).components)
    assert finding.kind is FindingKind.MODIFIED
    assert isinstance(finding.actual, str) and finding.actual.startswith("sha256:")


def test_not_hashed_is_never_a_match_even_against_a_digestless_entry() -> None:
    """Fail closed in the verifier: a component that was not hashed cannot pass."""
    exp = {"a": Component("a", "file", attributes={"size": 1})}
    act = {"a": Component("a", "file", attributes={"size": 1}, not_hashed="size differs")}
    [finding] = compare_components(exp, act)
    assert finding.kind is FindingKind.MODIFIED


def test_verify_through_the_cli_does_not_read_an_unexpected_8_tib_sparse_file(
    tmp_path: Path, attest: Callable[..., Run], fleet: Fleet
) -> None:
    """The trusted baseline's components reach the collector (attestation -> Collector.collect(expected=))."""
    device = tmp_path / "rootfs"
    (device / "usr/bin").mkdir(parents=True)
    (device / "usr/bin/px4").write_bytes(b"approved" * 100)
    b = tmp_path / "b.json"
    assert attest("baseline", "create", "--device", device, "--name", "c", "--version", "1", "--out", b).code == 0
    assert attest("baseline", "sign", b, "--key", fleet.keys[0]).code == 0
    with (device / "huge.img").open("wb") as f:
        f.truncate(8 << 40)
    r = attest("verify", "--device", device, "--baseline", b, "--trust", fleet.trust, "--json", timeout=120)
    assert r.code == 1, r.err
    assert [(f["component"], f["actual"]) for f in r.json()["findings"]] == [
        ("huge.img", "file (not hashed: not in baseline)")
    ]
