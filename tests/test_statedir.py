"""The state directory against its own user: links planted in place of files and directories, FIFOs, root's files.

The dock's user owns its state directory; root (a technician's sudo) may run
commands there. Nothing that user plants may redirect root's writes or make
it hang, and what root creates there must stay usable by that user. The
attacks run here as the test's own user where they need no privilege; the
ownership tests need root.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from attest.errors import ConfigError
from attest.statedir import PrivateDir, read_state_file
from attest.trust import RollbackState

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files root makes in another user's directory")


def test_a_directory_swapped_for_a_link_after_opening_is_not_followed(tmp_path: Path) -> None:
    """The directory is opened once; a link put at its name afterwards (to /etc, say) changes nothing."""
    state = tmp_path / "state"
    victim = tmp_path / "victim"
    victim.mkdir()
    with PrivateDir.open(state / "gate") as gate:
        fd = gate.lock_file("state.lock")
        os.close(fd)
        (state / "gate").rename(state / "gate.moved")
        (state / "gate").symlink_to(victim)
        gate.write("state.json", b"{}")
        assert gate.read("state.json", 100, what="gate state") == b"{}"
    assert sorted(p.name for p in victim.iterdir()) == []
    assert sorted(p.name for p in (state / "gate.moved").iterdir()) == ["state.json", "state.lock"]


def test_a_link_at_the_directory_name_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (state / "gate").symlink_to(victim)
    with pytest.raises(ConfigError, match="not a directory"):
        PrivateDir.open(state / "gate")
    assert list(victim.iterdir()) == []


def test_a_link_in_place_of_a_file_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_bytes(b"untouched")
    with PrivateDir.open(tmp_path / "state" / "gate") as gate:
        (gate.path / "state.json").symlink_to(victim)
        with pytest.raises(ConfigError, match="symbolic link"):
            gate.read("state.json", 100, what="gate state")
        (gate.path / "state.lock").symlink_to(victim)
        with pytest.raises(ConfigError, match="cannot open the lock"):
            gate.lock_file("state.lock")
        gate.write("state.json", b"new")
    assert victim.read_bytes() == b"untouched"
    assert not (tmp_path / "state/gate/state.json").is_symlink()


def test_a_fifo_as_a_state_file_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO where the rollback state belongs: an error at once (a blocking open would wait for a writer)."""
    state = tmp_path / "state"
    state.mkdir()
    os.mkfifo(state / RollbackState.FILE)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            RollbackState(state).check_and_accept("companion", 1)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the rollback state's read waited on a FIFO"
    assert isinstance(outcome[0], ConfigError) and "not a regular file" in str(outcome[0])
    assert read_state_file(state / "absent", 10, what="x") is None


@as_root
def test_root_gives_a_new_subdirectory_and_its_files_to_the_state_directorys_owner(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    with PrivateDir.open(state / "gate") as gate:
        os.close(gate.lock_file("state.lock"))
        gate.write("state.json", b"{}")
    for path in (state / "gate", state / "gate/state.lock", state / "gate/state.json"):
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), path
    assert stat.S_IMODE((state / "gate/state.json").lstat().st_mode) == 0o600


@as_root
def test_root_hands_over_a_rollback_state_an_older_release_left_as_roots(tmp_path: Path) -> None:
    """A dock already locked out by root's file: the next root run gives it back (same version, rewritten)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    (state / RollbackState.FILE).write_text('{\n  "companion": 3\n}\n')
    (state / RollbackState.FILE).chmod(0o600)
    RollbackState(state).check_and_accept("companion", 3)
    st = (state / RollbackState.FILE).lstat()
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    assert RollbackState(state).highest("companion") == 3
