"""The log directory: create, append, read, proofs from stored hashes, crash repair, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from _logkit import ORIGIN, build_log, entry, make_key, vkey_of
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import ConfigError, LogError, LogWriteError
from attest.log import Log, audit_log
from attest.log import store as store_module
from attest.log.checkpoint import open_checkpoint
from attest.log.merkle import EMPTY_ROOT, leaf_hash, root_of, verify_consistency, verify_inclusion
from attest.log.note import Note


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return make_key(tmp_path / "keys")[1]


def test_append_returns_indexes_and_commits_a_signed_checkpoint(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Each append returns its 0-based index; the checkpoint is one C2SP note whose key name is the origin."""
    log = Log.open(tmp_path / "log", origin=ORIGIN, create=True)
    assert log.size == 0
    assert log.checkpoint_note is None
    assert [log.append(entry(i, key), key=key) for i in range(5)] == [0, 1, 2, 3, 4]
    note = (tmp_path / "log" / "checkpoint").read_bytes()
    assert note == log.checkpoint_note
    sigs = Note.parse(note).signatures
    assert len(sigs) == 1
    assert sigs[0].name == ORIGIN
    cp = open_checkpoint(note, vkey_of(key))
    assert (cp.origin, cp.size) == (ORIGIN, 5)
    assert cp.root == root_of([leaf_hash(entry(i, key)) for i in range(5)])
    assert [e for _, e in log.entries()] == [entry(i, key) for i in range(5)]
    log.close()


def test_origin_is_fixed_at_creation(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """A later open with another origin still signs under the stored one."""
    build_log(tmp_path / "log", key, 2).close()
    with Log.open(tmp_path / "log", origin="other.example/log", create=True) as log:
        assert log.origin == ORIGIN
        log.append(entry(2, key), key=key)
        assert log.checkpoint is not None
        assert log.checkpoint.origin == ORIGIN
    assert (tmp_path / "log" / "origin").read_text() == ORIGIN + "\n"


def test_bad_directories_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an attestation log"):
        Log.open(tmp_path / "plain")
    with pytest.raises(ConfigError, match="not empty"):
        Log.open(tmp_path / "plain", origin=ORIGIN, create=True)
    with pytest.raises(ConfigError, match="needs an origin"):
        Log.open(tmp_path / "new", create=True)
    with pytest.raises(ConfigError, match="cannot be a log origin"):
        Log.open(tmp_path / "new2", origin="has space", create=True)
    with pytest.raises(ConfigError, match="no such log directory"):
        Log.read(tmp_path / "missing")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError):
        Log.open(tmp_path / "afile" / "log", origin=ORIGIN, create=True)


def test_read_only_open_changes_nothing(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Log.read works on a read-only copy without a lock file, and refuses to append."""
    build_log(tmp_path / "log", key, 3).close()
    (tmp_path / "log" / "lock").unlink()
    before = sorted(p.name for p in (tmp_path / "log").iterdir())
    os.chmod(tmp_path / "log", 0o500)
    try:
        with Log.read(tmp_path / "log") as log:
            assert log.size == 3
            assert log.entry(1) == entry(1, key)
            with pytest.raises(RuntimeError, match="read-only"):
                log.append(entry(3, key), key=key)
    finally:
        os.chmod(tmp_path / "log", 0o700)
    assert sorted(p.name for p in (tmp_path / "log").iterdir()) == before


def test_append_refuses_entries_not_signed_by_the_key(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    log = Log.open(tmp_path / "log", origin=ORIGIN, create=True)
    with pytest.raises(ValueError, match="no valid signature"):
        log.append(entry(0, Ed25519PrivateKey.generate()), key=key)
    with pytest.raises(ValueError, match="not JSON"):
        log.append(b"hello", key=key)
    with pytest.raises(TypeError):
        log.append("text", key=key)  # type: ignore[arg-type]
    assert log.size == 0


def test_a_log_keeps_one_key(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Appending with another key is a configuration error, not a silent fork."""
    build_log(tmp_path / "log", key, 1).close()
    other = Ed25519PrivateKey.generate()
    with Log.open(tmp_path / "log") as log, pytest.raises(ConfigError, match="another key"):
        log.append(entry(1, other), key=other)


def test_entry_size_limit(tmp_path: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_ENTRY_BYTES", 100)
    with Log.open(tmp_path / "log", origin=ORIGIN, create=True) as log, pytest.raises(LogWriteError, match="larger"):
        log.append(entry(0, key), key=key)


def test_batch_and_single_appends_store_identical_bytes(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """append_many is only a faster path: every stored file is byte-identical to one-by-one appends."""
    n = 600  # crosses two level-1 tile boundaries
    build_log(tmp_path / "one", key, n).close()
    build_log(tmp_path / "many", key, n, batch=256).close()
    for name in ("entries", "entries.idx", "hashes.0", "hashes.1", "checkpoint"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name
    assert (tmp_path / "one" / "hashes.1").stat().st_size == 2 * 32


def test_proofs_from_stored_hashes(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Inclusion and consistency proofs made from hashes.L verify against naive roots."""
    n = 531
    log = build_log(tmp_path / "log", key, n, batch=100)
    leaves = [leaf_hash(entry(i, key)) for i in range(n)]
    root = root_of(leaves)
    assert log.root() == root
    for i in (0, 1, 255, 256, 257, 511, 512, 530):
        verify_inclusion(i, n, leaves[i], log.inclusion_proof(i), root)
        proof = log.prove(i)
        assert proof.extra == entry(i, key)
        assert proof.verify(vkey_of(key))[1] == entry(i, key)
    for old in (1, 2, 255, 256, 300, 512, 530, 531):
        verify_consistency(old, n, root_of(leaves[:old]), root, log.consistency_proof(old))
    assert log.root(0) == EMPTY_ROOT
    log.close()


def test_torn_tail_is_cut_and_kept_aside(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Bytes past the checkpoint (a crashed append) are removed on open, saved under uncommitted/."""
    d = tmp_path / "log"
    build_log(d, key, 300).close()
    committed = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file() and p.name != "lock"}
    with (d / "entries").open("ab") as f:
        f.write(b'\x00\x00\x10\x00{"payload":')  # half an entry
    with (d / "entries.idx").open("ab") as f:
        f.write(b"\x00\x00\x00")
    with (d / "hashes.0").open("ab") as f:
        f.write(os.urandom(40))
    (d / "hashes.2").write_bytes(os.urandom(32))
    (d / ".checkpoint.4242.tmp").write_bytes(b"half a checkpoint")
    with Log.open(d) as log:
        assert log.size == 300
        for name, data in committed.items():
            assert (d / name).read_bytes() == data, name
        assert not (d / "hashes.2").exists()
        assert not (d / ".checkpoint.4242.tmp").exists()
        saved = list((d / "uncommitted").iterdir())
        assert len(saved) == 1
        assert saved[0].read_bytes().startswith(b"\x00\x00\x10\x00")
        assert audit_log(d, vkey_of(key))
        assert log.append(entry(300, key), key=key) == 300
    assert audit_log(d, vkey_of(key))


@pytest.mark.parametrize("fail_at", range(1, 8))
def test_crash_at_every_fsync_loses_nothing_committed(
    tmp_path: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """An I/O error at any step of an append leaves a repairable log and an honest error.

    fsyncs 1-6 (entries, index, hashes.0, hashes.1, the directory holding the new hashes.1, the new
    checkpoint's data) come before the commit point; 7 (the directory, after the rename) after it: the
    entry is then visible but maybe not durable, and the error says so.
    """
    d = tmp_path / "log"
    build_log(d, key, 255).close()  # the next append completes a tile: every step runs
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    log = Log.open(d)
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(LogWriteError, match="nothing was committed" if fail_at < 7 else "power loss"):
        log.append(entry(255, key), key=key)
    monkeypatch.setattr(os, "fsync", real_fsync)
    log.close()
    with Log.open(d) as again:
        assert again.size == (255 if fail_at < 7 else 256)
        assert audit_log(d, vkey_of(key))
        if fail_at < 7:
            assert again.append(entry(255, key), key=key) == 255
    assert audit_log(d, vkey_of(key))


def test_repair_refuses_to_destroy_committed_data(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Missing committed bytes, or entries without a checkpoint, are damage: open refuses to 'repair'."""
    d = tmp_path / "log"
    build_log(d, key, 10).close()
    data = (d / "entries").read_bytes()
    (d / "entries").write_bytes(data[:-5])
    with pytest.raises(LogError, match="shorter"):
        Log.open(d)
    (d / "entries").write_bytes(data)
    (d / "checkpoint").unlink()
    with pytest.raises(LogError, match="checkpoint is missing"):
        Log.open(d)
    assert (d / "entries").read_bytes() == data


def test_append_refuses_to_extend_a_damaged_tree(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """If the stored hashes no longer lead to the checkpoint's root, no new checkpoint is signed."""
    d = tmp_path / "log"
    build_log(d, key, 20).close()
    raw = bytearray((d / "hashes.0").read_bytes())
    raw[19 * 32] ^= 1
    (d / "hashes.0").write_bytes(bytes(raw))
    before = (d / "checkpoint").read_bytes()
    with Log.open(d) as log, pytest.raises(LogError, match="root"):
        log.append(entry(20, key), key=key)
    assert (d / "checkpoint").read_bytes() == before


def _writer(directory: str, key_path: str, worker: int, count: int) -> None:
    from attest.signing import load_private_key

    k = load_private_key(Path(key_path))
    with Log.open(Path(directory)) as log:
        for j in range(count):
            log.append(entry(1000 * worker + j, k), key=k)


def test_concurrent_writers_are_serialised(tmp_path: Path) -> None:
    """Four processes appending at once: every entry lands exactly once and the log verifies."""
    key_path, key = make_key(tmp_path / "keys")
    d = tmp_path / "log"
    Log.open(d, origin=ORIGIN, create=True).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(d), str(key_path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    report = audit_log(d, vkey_of(key))
    assert report, report.problems
    with Log.read(d) as log:
        got = sorted(e for _, e in log.entries())
    assert got == sorted(entry(1000 * w + j, key) for w in range(4) for j in range(40))


def test_verify_a_live_log_while_a_writer_appends(tmp_path: Path) -> None:
    """The audit snapshots under the lock: a dock appending meanwhile never makes it report tampering."""
    key_path, key = make_key(tmp_path / "keys")
    d = tmp_path / "log"
    build_log(d, key, 50).close()
    ctx = multiprocessing.get_context("fork")
    writer = ctx.Process(target=_writer, args=(str(d), str(key_path), 1, 150))
    writer.start()
    sizes = []
    while writer.is_alive() or not sizes:
        report = audit_log(d, vkey_of(key), workers=1)
        assert report, report.problems
        assert report.checkpoint is not None
        sizes.append(report.checkpoint.size)
    writer.join(60)
    assert writer.exitcode == 0
    assert audit_log(d, vkey_of(key)).entries == 200
    assert len(sizes) >= 2


def test_nested_shared_locks_keep_holding_off_appenders(tmp_path: Path) -> None:
    """flock is not counted: an inner release must not drop the outer hold (refresh() inside a snapshot)."""
    import fcntl

    _, key = make_key(tmp_path / "keys")
    build_log(tmp_path / "log", key, 3).close()
    with Log.read(tmp_path / "log") as log, log.shared_lock():
        log.refresh()  # takes and releases the shared lock itself
        other = os.open(tmp_path / "log" / "lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
