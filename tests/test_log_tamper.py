"""The tamper matrix: every edit to a log's bytes is caught, and the first bad index is named.

Real files, real signatures: a 300-entry log (two hash levels) is copied per case and real bytes
are flipped, deleted, swapped, duplicated or truncated.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from _logkit import build_log, entry, make_key, vkey_of
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.log import AuditReport, Checkpoint, Log, audit_log
from attest.log.merkle import leaf_hash
from attest.log.tiles import reduce_pairs

N = 300


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ed25519PrivateKey]:
    root = tmp_path_factory.mktemp("pristine")
    _, key = make_key(root / "keys")
    build_log(root / "log", key, N, batch=100).close()
    return root / "log", key


@pytest.fixture
def copy(pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path) -> Callable[[], Path]:
    def make() -> Path:
        dest = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(pristine[0], dest)
        return dest

    return make


def _audit(d: Path, key: Ed25519PrivateKey, **kw: bytes) -> AuditReport:
    return audit_log(d, vkey_of(key), old_checkpoint=kw.get("old"), workers=1)


def _ends(d: Path) -> list[int]:
    raw = (d / "entries.idx").read_bytes()
    return [0, *struct.unpack(f">{len(raw) // 8}Q", raw)]


def _flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def _rewrite(d: Path, entries: list[bytes]) -> None:
    """Rewrite the entries and index consistently (an editor who knows the format), keep the hashes."""
    ends, off, out = [], 0, bytearray()
    for e in entries:
        out += len(e).to_bytes(4, "big") + e
        off += 4 + len(e)
        ends.append(off)
    (d / "entries").write_bytes(bytes(out))
    (d / "entries.idx").write_bytes(b"".join(x.to_bytes(8, "big") for x in ends))


def _entries(d: Path) -> list[bytes]:
    with Log.read(d) as log:
        return [e for _, e in log.entries()]


def test_pristine_copy_verifies(pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    report = _audit(*pristine)
    assert report, report.problems
    assert report.entries == N


@pytest.mark.parametrize("index", [0, 1, 150, 255, 256, 299])
@pytest.mark.parametrize("where", ["length", "payload", "signature", "last"])
def test_flipped_entry_byte(
    copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], index: int, where: str
) -> None:
    d = copy()
    ends = _ends(d)
    start, end = ends[index], ends[index + 1]
    offset = {"length": start + 3, "payload": start + 40, "signature": end - 30, "last": end - 1}[where]
    _flip(d / "entries", offset)
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index == index, report.problems


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_anywhere(
    copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], data: st.DataObject
) -> None:
    """One flipped bit in any stored file is caught, blamed on the entry that byte belongs to."""
    d = copy()
    name = data.draw(st.sampled_from(["entries", "entries.idx", "hashes.0", "hashes.1", "checkpoint"]))
    size = (d / name).stat().st_size
    offset = data.draw(st.integers(0, size - 1))
    mask = 1 << data.draw(st.integers(0, 7))
    _flip(d / name, offset, mask)
    report = _audit(d, pristine[1])
    assert not report, (name, offset, mask)
    ends = _ends(pristine[0])
    expected = {
        "entries": next((i for i in range(N) if ends[i] <= offset < ends[i + 1]), None),
        "entries.idx": offset // 8,
        "hashes.0": offset // 32,
        "hashes.1": offset // 32 * 256,
        "checkpoint": None,
    }[name]
    assert report.first_bad_index == expected, report.problems


def test_deleted_entry(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    d = copy()
    es = _entries(d)
    _rewrite(d, es[:120] + es[121:])
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index == 120, report.problems


def test_swapped_entries(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    """Both entries keep valid signatures; the stored leaf hashes give them away."""
    d = copy()
    es = _entries(d)
    es[40], es[41] = es[41], es[40]
    _rewrite(d, es)
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index == 40, report.problems


@pytest.mark.parametrize("at", [0, 77, N])
def test_duplicated_entry(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], at: int) -> None:
    d = copy()
    es = _entries(d)
    _rewrite(d, [*es[:at], es[max(at - 1, 0)], *es[at:]])
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index == (max(at, 1) if at < N else N), report.problems


def test_inserted_forged_entry(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    """An entry signed by another key is caught even where the stored hashes were updated to match it."""
    d = copy()
    es = _entries(d)
    forged = entry(9999, Ed25519PrivateKey.generate())
    es[200] = forged
    _rewrite(d, es)
    raw = bytearray((d / "hashes.0").read_bytes())
    raw[200 * 32 : 201 * 32] = leaf_hash(forged)
    (d / "hashes.0").write_bytes(bytes(raw))
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index == 200, report.problems


@pytest.mark.parametrize("cut", [1, 100, 5000])
def test_truncated_entries_file(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], cut: int) -> None:
    d = copy()
    data = (d / "entries").read_bytes()
    (d / "entries").write_bytes(data[:-cut])
    ends = _ends(d)
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index == next(i for i in range(N) if ends[i + 1] > len(data) - cut)


@pytest.mark.parametrize("name", ["entries.idx", "hashes.0", "hashes.1", "checkpoint"])
def test_truncated_other_files(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], name: str) -> None:
    d = copy()
    data = (d / name).read_bytes()
    (d / name).write_bytes(data[:-1])
    assert not _audit(d, pristine[1])
    (d / name).unlink()
    assert not _audit(d, pristine[1])


def test_rebuilt_log_without_the_key_is_caught(
    copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey]
) -> None:
    """An attacker who drops an entry and rebuilds every hash still cannot sign the new root."""
    d = copy()
    es = _entries(d)
    edited = es[:50] + es[51:] + [es[0]]  # same count, every signature valid, entry 50 gone
    _rewrite(d, edited)
    leaves = b"".join(leaf_hash(e) for e in edited)
    (d / "hashes.0").write_bytes(leaves)
    (d / "hashes.1").write_bytes(reduce_pairs(leaves[:8192]))
    report = _audit(d, pristine[1])
    assert not report
    assert report.first_bad_index is None  # not knowable: no wrong byte points anywhere
    assert any("rebuilt" in p.message and "0 and 299 are identical" in p.message for p in report.problems)
    with_old = _audit(d, pristine[1], old=_first_checkpoint(pristine))
    assert not with_old


def _first_checkpoint(pristine: tuple[Path, Ed25519PrivateKey]) -> bytes:
    """The genuine checkpoint of the first 100 entries (the log was built in batches of 100)."""
    with Log.read(pristine[0]) as log:
        root = log.root(100)
    return Checkpoint(log.origin, 100, root).sign(pristine[1])


def test_checkpoint_that_went_back(copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    """A manager's newer checkpoint exposes a log rolled back to an older, genuinely signed state."""
    d = copy()
    key = pristine[1]
    newer = (d / "checkpoint").read_bytes()
    old_dir = copy()
    with Log.open(d) as log:
        log.append(entry(N, key), key=key)
    newest = (d / "checkpoint").read_bytes()
    report = _audit(old_dir, key, old=newest)
    assert not report
    assert report.first_bad_index == N
    assert any("went back" in p.message for p in report.problems)
    ok = _audit(d, key, old=newer)
    assert ok, ok.problems
    assert any("consistent with the older checkpoint" in n for n in ok.notes)


def test_split_view_is_caught(
    copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path
) -> None:
    """Two trees signed by the same key that disagree below the older size are inconsistent."""
    key = pristine[1]
    fork = tmp_path / "fork"
    build_log(fork, key, 10).close()
    with Log.open(fork) as log:
        log.append(entry(5000, key), key=key)
    report = _audit(pristine[0], key, old=(fork / "checkpoint").read_bytes())
    assert not report
    assert any("older checkpoint" in p.message for p in report.problems)


def test_wrong_vkey(pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    report = audit_log(pristine[0], vkey_of(Ed25519PrivateKey.generate()), workers=1)
    assert not report
    assert any("not signed by a known key" in p.message for p in report.problems)


@pytest.mark.parametrize("name", ["entries", "entries.idx", "hashes.0", "checkpoint"])
def test_special_files_are_not_followed(
    copy: Callable[[], Path], pristine: tuple[Path, Ed25519PrivateKey], name: str
) -> None:
    """A copied log is untrusted: a file swapped for a symlink, a FIFO or nothing fails, never hangs or escapes."""
    for kind in ("symlink", "fifo", "missing"):
        d = copy()
        target = d / name
        real = target.read_bytes()
        target.unlink()
        if kind == "symlink":
            (d / "elsewhere").write_bytes(real)
            target.symlink_to(d / "elsewhere")
        elif kind == "fifo":
            os.mkfifo(target)
        report = _audit(d, pristine[1])
        assert not report, (name, kind)
