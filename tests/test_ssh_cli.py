"""``attest baseline create`` and ``attest verify`` on ``ssh://`` targets, end to end against a real sshd.

Every exit code here is a promise of issue 4: 0 pass, 1 drift (including a
device that lied), 2 configuration, 3 could not attest, 4 not trusted
(including an unknown or changed host key, refused before anything is read).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import Fleet, Run, make_fleet, run_attest
from sshd_fixture import SSH_KEYGEN, Sshd, StallingPeer, free_port, hostile_tree, keygen, lying_sha256sum


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with Sshd.running(tmp_path_factory.mktemp("sshd")) as s:
        yield s


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_tree(tmp_path_factory.mktemp("companion") / "root")


def attest(state: Path, *args: str | os.PathLike[str], **kw: Any) -> Run:
    return run_attest(args, env={"ATTEST_STATE_DIR": str(state), **kw.pop("env", {})}, **kw)


def create(sshd: Sshd, root: Path, out: Path, *extra: str) -> Run:
    return attest(
        out.parent / "state",
        "baseline", "create", "--device", sshd.target(root), "--name", "voxl2", "--version", "1",
        "--exclude", "var/log/**", "--out", out, "--force", "--timeout", "5", *extra,
    )  # fmt: skip


def signed_baseline(
    sshd: Sshd, fleet: Fleet, root: Path, out: Path, *extra: str, allow_methods: Sequence[str] = ()
) -> Path:
    """A baseline made in pull mode (or as ``extra`` says), signed; ``allow_methods`` is added before signing."""
    out.parent.mkdir(parents=True, exist_ok=True)
    r = create(sshd, root, out, *sshd.transport_args(), *extra)
    assert r.code == 0, r.err
    if allow_methods:  # what the signers write into the collection settings they approve
        statement = json.loads(out.read_text())
        statement["predicate"]["collection"]["allow_methods"] = list(allow_methods)
        out.write_text(json.dumps(statement))
    r = attest(out.parent / "state", "baseline", "sign", out, "--key", fleet.keys[0])
    assert r.code == 0, r.err
    return out


def verify(state: Path, target: str, baseline: Path, fleet: Fleet, *extra: str, **kw: Any) -> Run:
    return attest(
        state, "verify", "--device", target, "--baseline", baseline, "--trust", fleet.trust, "--json", *extra, **kw
    )


@pytest.fixture(scope="module")
def baseline(sshd: Sshd, fleet: Fleet, tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signed_baseline(
        sshd, fleet, tree, tmp_path_factory.mktemp("baseline") / "voxl2.json", allow_methods=["remote"]
    )


def host_fingerprint(sshd: Sshd) -> str:
    out = subprocess.run([SSH_KEYGEN, "-l", "-f", f"{sshd.host_key}.pub"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def new_log(sshd: Sshd, since: int) -> str:
    return sshd.log_text()[since:]


# -- the happy path -----------------------------------------------------------------------------------------


def test_baseline_pins_the_host_key_ssh_keygen_prints(sshd: Sshd, baseline: Path) -> None:
    """The device selector is the host key's SHA-256 fingerprint (as ssh-keygen -l shows it) and type."""
    payload = json.loads(baseline.read_text())["payload"]
    statement = json.loads(base64.b64decode(payload))
    device = statement["predicate"]["device"]
    assert device == {
        "kind": "ssh",
        "match": {"host_key_sha256": host_fingerprint(sshd), "host_key_type": "ssh-ed25519"},
    }
    methods = {c["method"] for c in statement["predicate"]["components"].values()}
    assert methods == {"dock-read"}


def test_verify_passes_in_both_methods_with_the_pin_from_the_baseline(
    sshd: Sshd, fleet: Fleet, baseline: Path, tree: Path, tmp_path: Path
) -> None:
    """No --known-hosts needed at verify time: the signed baseline pins the key."""
    key = ["--identity", str(sshd.client_key)]
    r = verify(tmp_path, sshd.target(tree), baseline, fleet, *key)
    assert r.code == 0, r.out + r.err
    assert r.json()["verdict"] == "pass"
    assert r.json()["methods"] == ["dock-read"]
    r = verify(tmp_path, sshd.target(tree), baseline, fleet, *key, "--method", "remote", "--audit-sample", "4", "-v")
    assert r.code == 0, r.out + r.err
    assert r.json()["methods"] == ["device-reported", "dock-read"]
    audit = [json.loads(line) for line in r.err.splitlines() if '"ssh_audit_sample"' in line]
    assert len(audit) == 1
    assert audit[0]["sample_size"] == 4
    assert audit[0]["nonce"] == r.json()["nonce"]


def test_tampered_firmware_is_drift(sshd: Sshd, fleet: Fleet, tmp_path: Path) -> None:
    """One changed byte in a binary is a modified finding in both methods."""
    root = hostile_tree(tmp_path / "root")
    baseline = signed_baseline(sshd, fleet, root, tmp_path / "b" / "voxl2.json", allow_methods=["remote"])
    px4 = root / "usr/bin/px4"
    data = bytearray(px4.read_bytes())
    data[1000] ^= 1
    px4.write_bytes(bytes(data))
    for method in ("pull", "remote"):
        r = verify(tmp_path, sshd.target(root), baseline, fleet, *sshd.transport_args(), "--method", method)
        assert r.code == 1, r.out + r.err
        kinds = {(f["component"], f["kind"]) for f in r.json()["findings"]}
        assert ("usr/bin/px4", "modified") in kinds


# -- trusting the link ---------------------------------------------------------------------------------------


def test_create_without_a_pinned_key_is_refused_before_login(sshd: Sshd, tree: Path, tmp_path: Path) -> None:
    """Exit 4 naming the offered fingerprint; the dock never authenticated, so nothing was read."""
    since = len(sshd.log_text())
    r = create(sshd, tree, tmp_path / "b.json", "--identity", str(sshd.client_key))
    assert r.code == 4, r.err
    assert host_fingerprint(sshd) in r.err
    assert "not pinned" in r.err
    assert not (tmp_path / "b.json").exists()
    assert "Accepted publickey" not in new_log(sshd, since)


def test_known_hosts_listing_another_key_is_refused(sshd: Sshd, fleet: Fleet, baseline: Path, tree: Path) -> None:
    """A --known-hosts file that disagrees with the device is exit 4, even if the baseline's pin matches."""
    other = keygen(sshd.dir / "other_host_key")
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    known = sshd.dir / "other_known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    r = verify(
        sshd.dir / "state-kh", sshd.target(tree), baseline, fleet, "--identity", str(sshd.client_key),
        "--known-hosts", str(known),
    )  # fmt: skip
    assert r.code == 4, r.out + r.err
    assert "host key changed" in r.json()["message"]


def test_swapped_host_key_is_exit_4_before_anything_is_read(fleet: Fleet, tree: Path, tmp_path: Path) -> None:
    """A device whose host key changed since the baseline: untrusted, no login, no SFTP, no command."""
    with Sshd.running(tmp_path / "sshd") as sshd:
        baseline = signed_baseline(sshd, fleet, tree, tmp_path / "b" / "voxl2.json")
        sshd.restart(new_host_key=True)
        since = len(sshd.log_text())
        r = verify(tmp_path, sshd.target(tree), baseline, fleet, "--identity", str(sshd.client_key))
        assert r.code == 4, r.out + r.err
        message = r.json()["message"]
        assert "the baseline pins" in message
        assert host_fingerprint(sshd) in message
        log = new_log(sshd, since)
        assert "Accepted publickey" not in log
        assert "Starting session" not in log


# -- unreachable and hung devices -------------------------------------------------------------------------------


def test_closed_port_is_exit_3_within_the_timeout(sshd: Sshd, fleet: Fleet, baseline: Path, tmp_path: Path) -> None:
    """Nothing listens: could not attest (refused at once: the message says so, not a timeout)."""
    target = f"ssh://root@127.0.0.1:{free_port()}/srv"
    r = verify(tmp_path, target, baseline, fleet, "--timeout", "2", "--identity", str(sshd.client_key))
    assert r.code == 3, r.out + r.err
    assert "cannot connect: Connection refused" in r.json()["message"]


def test_stalled_peer_is_exit_3_bounded_by_the_timeout(
    sshd: Sshd, fleet: Fleet, baseline: Path, tmp_path: Path
) -> None:
    """A peer that accepts and never speaks: exit 3 after --timeout, naming what was awaited."""
    with StallingPeer() as peer:
        started = time.monotonic()
        r = verify(
            tmp_path, f"ssh://root@127.0.0.1:{peer.port}/srv", baseline, fleet, "--timeout", "1",
            "--identity", str(sshd.client_key),
        )  # fmt: skip
        took = time.monotonic() - started
    assert r.code == 3, r.out + r.err
    # The bound that ended it is --timeout's (named in the message), not an error or a hang;
    # it waited the timeout out (a lower bound: a loaded machine only makes it later).
    assert "timed out after 1 s waiting for the SSH banner" in r.json()["message"]
    assert took >= 1


def test_unknown_client_key_is_exit_3(sshd: Sshd, fleet: Fleet, baseline: Path, tree: Path, tmp_path: Path) -> None:
    """The device refuses a key it does not know: could not attest."""
    stranger = keygen(tmp_path / "stranger")
    r = verify(tmp_path, sshd.target(tree), baseline, fleet, "--identity", str(stranger))
    assert r.code == 3, r.out + r.err
    assert "refused our key" in r.json()["message"]


# -- configuration -------------------------------------------------------------------------------------------


def test_passwords_and_missing_identities_are_configuration_errors(
    sshd: Sshd, fleet: Fleet, baseline: Path, tree: Path, tmp_path: Path
) -> None:
    """A password in the target, no key at all, or a world-readable key: exit 2."""
    r = verify(tmp_path, f"ssh://root:hunter2@127.0.0.1:{sshd.port}/", baseline, fleet)
    assert r.code == 2
    assert "passwords are not accepted" in r.err
    assert "hunter2" not in r.err
    r = verify(tmp_path, sshd.target(tree), baseline, fleet, env={"SSH_AUTH_SOCK": ""})
    assert r.code == 2, r.err
    assert "ssh-agent" in r.err
    loose = tmp_path / "loose_key"
    shutil.copy(sshd.client_key, loose)
    loose.chmod(0o644)
    r = verify(tmp_path, sshd.target(tree), baseline, fleet, "--identity", str(loose))
    assert r.code == 2
    assert "chmod 600" in r.err


# -- a compromised companion ---------------------------------------------------------------------------------------


def test_a_sha256sum_first_in_path_is_never_run(fleet: Fleet, tmp_path: Path) -> None:
    """The drone's PATH leads to a sha256sum that reports approved digests for a modified binary.

    The dock names every program by absolute path, so that sha256sum never runs: in both methods
    the modified binary is plain drift (before, remote mode ran it and only its audit caught it).
    """
    golden = hostile_tree(tmp_path / "golden")
    root = hostile_tree(tmp_path / "root")
    fake = lying_sha256sum(tmp_path / "fakebin", real_tree=root, approved_tree=golden)
    with Sshd.running(tmp_path / "sshd", env={"PATH": f"{fake.parent}:/usr/bin:/bin"}) as sshd:
        baseline = signed_baseline(sshd, fleet, root, tmp_path / "b" / "voxl2.json", allow_methods=["remote"])
        px4 = root / "usr/bin/px4"
        px4.write_bytes(px4.read_bytes().replace(b"end", b"pwn"))
        for method in ("remote", "pull"):
            r = verify(
                tmp_path, sshd.target(root), baseline, fleet, *sshd.transport_args(), "--method", method,
                "--audit-sample", "1",
            )  # fmt: skip
            assert r.code == 1, r.out + r.err
            kinds = {(f["component"], f["kind"]) for f in r.json()["findings"]}
            assert kinds == {("usr/bin/px4", "modified")}, method
