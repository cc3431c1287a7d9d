"""docs/trust.md's lifecycle for a fleet, run as its commands are written there, and the dock's store under root.

Real keys, files and the real CLI. The walk follows docs/trust.md "Lifecycle for a
fleet" step by step (first set-up, adding a manager, a lost key, a compromised
key, a manager who leaves); /etc/attest is a directory of the test, the state
directory is ATTEST_STATE_DIR. The store tests run only as root (with setpriv):
they are about root installing a policy that the dock's own user must read.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import Run, run_attest

from attest.trust import RollbackState, TrustStore

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
as_root = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv (util-linux) to act as the dock's user"
)


class Fleet:
    """Managers' machines (keys, drafts, documents) in ``dir``; one dock with /etc/attest in ``etc``."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.etc = root / "etc-attest"
        self.etc.mkdir()
        self.state = root / "state"

    def attest(self, *args: str | os.PathLike[str]) -> Run:
        return run_attest(args, cwd=self.dir, env={"ATTEST_STATE_DIR": str(self.state)})

    def ok(self, *args: str | os.PathLike[str]) -> str:
        r = self.attest(*args)
        assert r.code == 0, (args, r.out, r.err)
        return r.out

    def draft(self, name: str, keys: Sequence[str], revoked: Sequence[tuple[str, str]] = ()) -> None:
        text = "threshold = 2\npolicy_threshold = 2\n"
        for k in keys:
            text += f'\n[[keys]]\nid = "{k}"\npublic_key = "{k}.pub"\n'
        for k, reason in revoked:
            text += f'\n[[revoked]]\npublic_key = "{k}.pub"\nid = "{k}"\nreason = "{reason}"\n'
        (self.dir / name).write_text(text)

    def verify(self) -> Run:
        return self.attest(
            "verify", "--device", "golden", "--baseline", "companion.json", "--trust", self.etc / "trust.json"
        )


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


def test_the_documented_lifecycle_works_as_written(fleet: Fleet) -> None:
    f = fleet
    # First set-up. 1: each manager makes a key; 2: the draft; 3: init, show, sign until met.
    for name in ("alice", "bob", "carol"):
        assert "key id:" in f.ok("key", "generate", "--out", f"{name}.key")
    f.draft("trust.toml", ["alice", "bob", "carol"])
    f.ok("trust", "init", "trust.toml", "--out", "trust.json", "--key", "alice.key")
    assert "payload:     sha256 " in f.ok("trust", "show", "trust.json")
    assert "own keys: 2 of 2 required (met)" in f.ok("trust", "sign", "trust.json", "--key", "bob.key")
    # 4: on the dock: /etc/attest/trust.json, then `attest trust update`; `trust show` says version 1.
    shutil.copy(f.dir / "trust.json", f.etc / "trust.json")
    f.ok("trust", "update", f.etc / "trust.json")
    assert "this dock:   accepted version 1" in f.ok("trust", "show")

    f.ok("sim", "tree", "--out", "golden")
    f.ok("baseline", "create", "--device", "golden", "--name", "companion", "--version", "1", "--out", "companion.json")
    for k in ("alice", "bob"):
        f.ok("baseline", "sign", "companion.json", "--key", f"{k}.key")
    assert f.verify().code == 0

    # Adding a manager: copy the draft to trust-v2.toml, add dave, init version 2, collect signatures.
    f.ok("key", "generate", "--out", "dave.key")
    f.draft("trust-v2.toml", ["alice", "bob", "carol", "dave"])
    f.ok("trust", "init", "trust-v2.toml", "--version", "2", "--out", "trust-v2.json")
    # Two managers at one desk sign in one command (each key named in what it prints).
    signed = f.ok("trust", "sign", "trust-v2.json", "--key", "alice.key", "--key", "bob.key")
    assert "key:    alice" in signed and "key:    bob" in signed, signed
    # Installed, but the file `trust =` names not replaced: the dock refuses the older version 1 in it.
    f.ok("trust", "update", "trust-v2.json")
    stale = f.verify()
    assert stale.code == 4 and "version 1 is older than version 2 accepted" in stale.err
    # ... so step 4 replaces /etc/attest/trust.json; then the same baseline passes.
    shutil.copy(f.dir / "trust-v2.json", f.etc / "trust.json")
    f.ok("trust", "update", f.etc / "trust.json")
    assert f.verify().code == 0

    # A lost key (carol): version 3 without it, revoked; signed by the remaining keys; checked baselines.
    f.draft("trust-v3.toml", ["alice", "bob", "dave"], [("carol", "lost 2026-05-02")])
    f.ok("trust", "init", "trust-v3.toml", "--version", "3", "--out", "trust-v3.json", "--key", "alice.key")
    f.ok("trust", "sign", "trust-v3.json", "--key", "dave.key")
    assert "threshold:  2 valid of 2 required" in f.ok("baseline", "show", "companion.json", "--trust", "trust-v3.json")
    shutil.copy(f.dir / "trust-v3.json", f.etc / "trust.json")
    f.ok("trust", "update", f.etc / "trust.json")

    # A compromised key (bob): version 4 revokes it, signed by the other managers only; re-sign baselines.
    f.draft("trust-v4.toml", ["alice", "dave"], [("carol", "lost 2026-05-02"), ("bob", "key compromised 2026-05-30")])
    f.ok("trust", "init", "trust-v4.toml", "--version", "4", "--out", "trust-v4.json", "--key", "alice.key")
    f.ok("trust", "sign", "trust-v4.json", "--key", "dave.key")
    shutil.copy(f.dir / "trust-v4.json", f.etc / "trust.json")
    f.ok("trust", "update", f.etc / "trust.json")
    refused = f.verify()
    assert refused.code == 4 and "is revoked: key compromised 2026-05-30" in refused.out
    f.ok("baseline", "sign", "companion.json", "--key", "dave.key")
    assert f.verify().code == 0

    # A manager who leaves (dave), revoked; a draft that forgets the older revocations is refused.
    f.ok("key", "generate", "--out", "erin.key")
    f.draft("forgetful.toml", ["alice", "erin"], [("dave", "left the company 2026-04-30")])
    f.ok("trust", "init", "forgetful.toml", "--version", "5", "--out", "bad.json", "--key", "alice.key")
    for k in ("dave", "erin"):
        f.ok("trust", "sign", "bad.json", "--key", f"{k}.key")
    bad = f.attest("trust", "update", "bad.json")
    assert bad.code == 4 and "drops 2 revocations that version 4 lists: key carol" in bad.err
    revoked = [("carol", "lost 2026-05-02"), ("bob", "key compromised 2026-05-30")]
    f.draft("trust-v5.toml", ["alice", "erin"], [*revoked, ("dave", "left the company 2026-04-30")])
    f.ok("trust", "init", "trust-v5.toml", "--version", "5", "--out", "trust-v5.json", "--key", "alice.key")
    for k in ("dave", "erin"):
        f.ok("trust", "sign", "trust-v5.json", "--key", f"{k}.key")
    shutil.copy(f.dir / "trust-v5.json", f.etc / "trust.json")
    assert "accepted trust policy version 5 (was 4)" in f.ok("trust", "update", f.etc / "trust.json")
    refused = f.verify()  # alice + dave: dave left
    assert refused.code == 4 and "is revoked: left the company 2026-04-30" in refused.out


# -- root installs, the dock's user reads ------------------------------------------------------------------------


@pytest.fixture
def dock_dir() -> Iterator[Path]:
    """A directory the unprivileged dock user can reach (pytest's tmp_path is root's, 0700)."""
    d = Path(tempfile.mkdtemp(prefix="attest-dock-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def _as_nobody(*args: str | os.PathLike[str]) -> Run:
    assert SETPRIV is not None
    return run_attest(args, prefix=[SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"])


def _dock(dock_dir: Path, fleet: Fleet) -> tuple[Path, Path]:
    """A signed version 1 readable by all, and a state directory owned by the dock's user (as tmpfiles makes it)."""
    for name in ("alice", "bob"):
        fleet.ok("key", "generate", "--out", f"{name}.key")
    fleet.draft("trust.toml", ["alice", "bob"])
    fleet.ok("trust", "init", "trust.toml", "--out", "trust.json", "--key", "alice.key", "--key", "bob.key")
    policy = dock_dir / "trust.json"
    shutil.copy(fleet.dir / "trust.json", policy)
    policy.chmod(0o644)
    state = dock_dir / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    return policy, state


@as_root
def test_root_running_trust_update_leaves_the_policy_readable_by_the_dock(dock_dir: Path, fleet: Fleet) -> None:
    """First set-up step 4 as root: the stored policy and lock were root's 0600 files, so the dock's service
    (user attest) could no longer read its policy (exit 2, every drone blocked). Now they are the state
    directory owner's."""
    policy, state = _dock(dock_dir, fleet)
    r = run_attest(["trust", "update", policy, "--state-dir", state])
    assert r.code == 0, r.err
    for name in (TrustStore.FILE, TrustStore.LOCK):
        st = (state / name).lstat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o600), name
    shown = _as_nobody("trust", "show", "--state-dir", state)
    assert shown.code == 0 and "this dock:   accepted version 1" in shown.out, shown.err
    again = _as_nobody("trust", "update", policy, "--state-dir", state)  # takes the lock, reads the store
    assert again.code == 0 and "already accepted" in again.out, again.err


@as_root
def test_root_never_chowns_a_file_planted_as_the_lock(dock_dir: Path, fleet: Fleet) -> None:
    """The dock's user owns the state directory: a hard link it plants under the lock's name must not make
    root hand it the linked file (a guard for the ownership hand-over above)."""
    policy, state = _dock(dock_dir, fleet)
    victim = dock_dir / "root-only"
    victim.write_text("secret\n")
    victim.chmod(0o600)
    os.link(victim, state / TrustStore.LOCK)
    r = run_attest(["trust", "update", policy, "--state-dir", state])
    assert r.code == 2 and "hard link" in r.err, (r.out, r.err)
    assert victim.stat().st_uid == 0
    assert not (state / TrustStore.FILE).exists()


def _verify_args(dock_dir: Path, fleet: Fleet, policy: Path, state: Path) -> tuple[str | os.PathLike[str], ...]:
    """``attest verify`` of a directory the dock's user can read, against a baseline signed by alice and bob."""
    golden = dock_dir / "golden"
    (golden / "etc").mkdir(parents=True)
    (golden / "etc/app.conf").write_text("ok\n")
    fleet.ok("baseline", "create", "--device", golden, "--name", "companion", "--version", "1",
             "--out", "companion.json")  # fmt: skip
    fleet.ok("baseline", "sign", "companion.json", "--key", "alice.key", "--key", "bob.key")
    baseline = dock_dir / "companion.json"
    shutil.copy(fleet.dir / "companion.json", baseline)
    baseline.chmod(0o644)
    return ("verify", "--device", golden, "--baseline", baseline, "--trust", policy, "--state-dir", state)


@as_root
def test_root_running_verify_leaves_the_rollback_state_to_the_dock(dock_dir: Path, fleet: Fleet) -> None:
    """A technician's ``sudo attest verify`` on a dock: the rollback state and its lock were root's 0600 files,
    and the dock's user then could not verify anything (exit 2, every drone blocked). Now they are the
    state directory owner's, and the dock's user verifies after root as before."""
    policy, state = _dock(dock_dir, fleet)
    args = _verify_args(dock_dir, fleet, policy, state)
    r = run_attest(args)
    assert r.code == 0, r.err
    for name in (RollbackState.FILE, ".lock"):
        st = (state / name).lstat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o600), name
    again = _as_nobody(*args)
    assert again.code == 0, again.err


@as_root
def test_root_never_chowns_a_file_planted_as_the_rollback_lock(dock_dir: Path, fleet: Fleet) -> None:
    """The same guard for the rollback state's lock: a planted hard link is refused (exit 2), never chowned."""
    policy, state = _dock(dock_dir, fleet)
    args = _verify_args(dock_dir, fleet, policy, state)
    victim = dock_dir / "root-only"
    victim.write_text("secret\n")
    victim.chmod(0o600)
    os.link(victim, state / ".lock")
    r = run_attest(args)
    assert r.code == 2 and "hard link" in r.err, (r.out, r.err)
    assert victim.stat().st_uid == 0
    assert not (state / RollbackState.FILE).exists()


@as_root
def test_root_never_writes_the_dock_users_log(dock_dir: Path, fleet: Fleet) -> None:
    """Root appending to (or creating) the log in the dock user's state directory would leave root's files
    there and lock the dock out of its own log: refused (exit 2) with the command to use, nothing created."""
    policy, state = _dock(dock_dir, fleet)
    args = _verify_args(dock_dir, fleet, policy, state)
    fleet.ok("key", "generate", "--out", "dock.key")
    r = run_attest([*args, "--dock-key", fleet.dir / "dock.key"])
    assert r.code == 2 and "sudo -u nobody" in r.err and "--state-dir" in r.err, (r.out, r.err)
    assert not (state / "log").exists()
