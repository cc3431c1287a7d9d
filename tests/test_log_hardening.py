"""Hostile log copies: FIFOs, sparse files, entries the dock key signed that are not results,
terminal escapes, a wrong verifier key, an incomplete log, one damaged entry among good ones.

Everything is real: log directories on disk (written by ``Log.append``, or by ``forge_log`` as a
dock with a stolen key would write them), real FIFOs and sparse files, the real CLI in a subprocess.
A test that would hang on a blocking open is bounded by the subprocess timeout (a hang guard,
not a timing assertion).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import struct
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from _logkit import ORIGIN, T0, build_log, entry, forge_log, make_key, make_result, vkey_of
from conftest import Run, run_attest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.log import Log, audit_log
from attest.model import BaselineRef, DeviceIdentity, Finding, FindingKind, Severity, Verdict
from attest.signing import Envelope, result_statement, sign_result
from attest.signing.results import PAYLOAD_TYPE

N = 300  # two hash levels: hashes.1 is a real file
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HANG_GUARD = 60  # seconds; a blocking open would wait forever
#: Run the CLI with at most 1 GiB of address space: reading a 3 GB sparse file whole cannot fit.
_SET_LIMIT = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
AS_LIMIT = [sys.executable, "-c", _SET_LIMIT]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ed25519PrivateKey]:
    """A real 300-entry log, appended through ``Log.append_many``."""
    root = tmp_path_factory.mktemp("hardening")
    _, key = make_key(root / "keys")
    build_log(root / "log", key, N, batch=100).close()
    return root / "log", key


@pytest.fixture
def copy(pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(pristine[0], dest)
    return dest


def _cli(*args: str | os.PathLike[str], prefix: list[str] | None = None) -> Run:
    return run_attest(args, timeout=HANG_GUARD, prefix=prefix or [])


def _fifo_in_place_of(d: Path, name: str) -> None:
    (d / name).unlink()
    os.mkfifo(d / name)


# -- item 7: FIFOs ------------------------------------------------------------------------------

#: file -> commands that read it (the others need not notice a FIFO they never open)
READERS = {
    "lock": {"verify", "show", "proof", "export"},
    "format": {"verify", "show", "proof", "export"},
    "origin": {"verify", "show", "proof", "export"},
    "checkpoint": {"verify", "show", "proof", "export"},
    "entries": {"verify", "show", "proof", "export"},
    "entries.idx": {"verify", "show", "proof", "export"},
    "hashes.0": {"verify", "proof"},
    "hashes.1": {"verify", "proof"},
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_fifo_in_a_log_copy_is_named_never_waited_on(
    copy: Path, pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path, name: str
) -> None:
    """rsync copies FIFOs: every command returns at once and names the FIFO (the lock included)."""
    _fifo_in_place_of(copy, name)
    vkey = str(vkey_of(pristine[1]))
    runs = {
        "verify": _cli("log", "verify", "--log", copy, "--vkey", vkey),
        "show": _cli("log", "show", "--log", copy),
        "proof": _cli("log", "proof", "299", "--log", copy, "--out", tmp_path / "p"),  # its path uses hashes.1
        "export": _cli("log", "export", "--log", copy, "--html", tmp_path / "r.html"),
    }
    for command, r in runs.items():
        assert "Traceback" not in r.err, (command, r.err)
        if command in READERS[name]:
            assert r.code == 1, (command, r.out, r.err)
            assert f"{name}: a FIFO, not a regular file" in r.out + r.err, (command, r.out, r.err)
        else:
            assert r.code == 0, (command, r.out, r.err)


def test_fifos_given_as_proof_checkpoint_or_vkey_file_are_refused(
    pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path
) -> None:
    """A FIFO named on the command line is a usage error (exit 2), not a hang."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    d, vkey = pristine[0], str(vkey_of(pristine[1]))
    for args in (
        ["log", "verify-proof", fifo, "--vkey", vkey],
        ["log", "verify", "--log", d, "--vkey", vkey, "--checkpoint", fifo],
        ["log", "verify", "--log", d, "--vkey", fifo],
    ):
        r = _cli(*args)
        assert r.code == 2, (args, r.out, r.err)
        assert "a FIFO, not a regular file" in r.err, (args, r.err)


def test_a_reader_does_not_wait_for_a_lock_someone_holds_forever(
    copy: Path, pristine: tuple[Path, Ed25519PrivateKey]
) -> None:
    """Any local user who can read `lock` can hold it; readers go on without it and say so."""
    fd = os.open(copy / "lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        show = _cli("log", "show", "--log", copy)
        verify = _cli("log", "verify", "--log", copy, "--vkey", str(vkey_of(pristine[1])))
    finally:
        os.close(fd)
    assert show.code == 0, show.err
    assert len(show.out.splitlines()) == N + 1
    assert verify.code == 0, verify.out + verify.err
    assert "checked without it" in verify.out


def test_a_read_only_log_is_read_without_its_lock(copy: Path, pristine: tuple[Path, Ed25519PrivateKey]) -> None:
    """A copy with no lock file, in a directory nobody may write, verifies."""
    (copy / "lock").unlink()
    copy.chmod(0o555)
    try:
        with Log.read(copy) as log:
            assert not log.lockable
            assert log.size == N
        assert audit_log(copy, vkey_of(pristine[1]), workers=1)
    finally:
        copy.chmod(0o755)


# -- item 8: bounded memory ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("hashes.1", "hashes.1: 3221225440 bytes past the 1 hashes a tree of 300 entries has"),
        ("hashes.0", "hashes.0: 3221215872 bytes past the 300 hashes"),
        ("entries.idx", "entries past the checkpoint's size 300"),
        ("entries", "bytes after the last indexed entry"),
    ],
)
def test_a_sparse_3gb_file_is_reported_within_1gib(copy: Path, pristine: tuple[Path, Ed25519PrivateKey], name: str,
                                                    message: str) -> None:  # fmt: skip
    """A longer file is damage, named; its excess is never read (the CLI runs with RLIMIT_AS = 1 GiB)."""
    os.truncate(copy / name, 3 << 30)
    r = _cli("log", "verify", "--log", copy, "--vkey", str(vkey_of(pristine[1])), prefix=AS_LIMIT)
    assert "Traceback" not in r.err, r.err[-2000:]
    assert "MemoryError" not in r.err
    assert r.code == 1, r.out + r.err
    assert message in r.out


def test_an_unsigned_size_claim_over_a_sparse_index_is_bounded(
    copy: Path, pristine: tuple[Path, Ed25519PrivateKey]
) -> None:
    """A checkpoint edited to claim 2**40 entries over a 3 GB index of zeros: verify and show stay bounded."""
    note = (copy / "checkpoint").read_bytes()
    (copy / "checkpoint").write_bytes(note.replace(b"\n300\n", b"\n1099511627776\n", 1))
    os.truncate(copy / "entries.idx", 3 << 30)
    verify = _cli("log", "verify", "--log", copy, "--vkey", str(vkey_of(pristine[1])), prefix=AS_LIMIT)
    assert verify.code == 1, verify.out + verify.err
    assert "Traceback" not in verify.err
    assert "signature by dock1.fleet.example/attest" in verify.out  # the checkpoint alone is blamed for the size
    assert "entry 300: entries.idx gives an impossible offset" in verify.out
    assert "only the first 1048576 of 402653184 stored entries were checked" in verify.out
    show = _cli("log", "show", "--log", copy, prefix=AS_LIMIT)
    assert show.code == 1, show.err
    assert "Traceback" not in show.err
    rows = show.out.splitlines()[1:]
    assert len([r for r in rows if "DAMAGED" not in r]) == N, "every good entry is still shown"
    assert len([r for r in rows if "DAMAGED" in r]) == 1001, "at most 1000 damaged rows, and one saying it stopped"
    assert "reading stopped after 1000 damaged entries" in show.err


# -- items 16 and 6: signed entries that are not results ---------------------------------------


def _payload_entry(payload: bytes, key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    return Envelope(payload, payload_type).signed_by(key).to_bytes()


def _statement(i: int) -> dict[str, object]:
    return result_statement(make_result(i), dock_id="dock1", now=T0)


def _hostile(kind: str, key: Ed25519PrivateKey) -> bytes:  # noqa: PLR0911 (one case each)
    """Entry 2 of a forged log: validly signed by the dock key, but not a result the log may hold."""
    good = json.dumps(_statement(2), sort_keys=True, separators=(",", ":")).encode()
    if kind == "baseline statement":
        st = _statement(2)
        st["predicateType"] = "https://drone-attest.dev/baseline/v1"
        return _payload_entry(json.dumps(st).encode(), key)
    if kind == "other payloadType":
        return _payload_entry(good, key, "text/plain")
    if kind == "5000-digit integer":
        return _payload_entry(good.replace(b'"version":3', b'"version":' + b"7" * 5000), key)
    if kind == "duplicate key":
        return _payload_entry(good.replace(b'"verdict":"pass"', b'"verdict":"pass","verdict":"drift"'), key)
    if kind == "deep nesting":
        return _payload_entry(good.replace(b'"message":null', b'"message":' + b"[" * 10000 + b"]" * 10000), key)
    if kind == "unknown verdict":
        return _payload_entry(good.replace(b'"verdict":"pass"', b'"verdict":"fine"'), key)
    if kind == "5000-digit integer outside the signature":
        return entry(2, key)[:-1] + b',"x":' + b"9" * 5000 + b"}"
    if kind == "non-canonical base64":
        env = json.loads(entry(2, key))
        sig = env["signatures"][0]["sig"]  # 64 bytes: 86 symbols and "==", so 4 unused bits
        env["signatures"][0]["sig"] = sig[:-3] + B64[B64.index(sig[-3]) | 1] + "=="
        assert base64.b64decode(env["signatures"][0]["sig"]) == base64.b64decode(sig), "same bytes: still valid"
        return json.dumps(env, separators=(",", ":")).encode()
    raise AssertionError(kind)


HOSTILE = [
    "baseline statement",
    "other payloadType",
    "5000-digit integer",
    "duplicate key",
    "deep nesting",
    "unknown verdict",
    "5000-digit integer outside the signature",
    "non-canonical base64",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_signed_entry_that_is_not_a_result_is_named_by_every_command(kind: str, tmp_path: Path) -> None:
    """verify names the entry (exit 1, no traceback); show and export mark it and show the rest."""
    _, key = make_key(tmp_path / "keys")
    d = tmp_path / "log"
    forge_log(d, key, [entry(0, key), entry(1, key), _hostile(kind, key), entry(3, key), entry(4, key)])
    vkey = str(vkey_of(key))
    verify = _cli("log", "verify", "--log", d, "--vkey", vkey)
    assert verify.code == 1, verify.out + verify.err
    assert "Traceback" not in verify.err
    assert "TAMPERED" in verify.out
    assert "first bad index 2" in verify.out
    assert "  entry 2: " in verify.out

    show = _cli("log", "show", "--log", d)
    assert show.code == 1, show.out + show.err
    assert "Traceback" not in show.err
    rows = [line.split() for line in show.out.splitlines()[1:]]
    assert [row[-1] for row in rows] == ["0", "1", "2", "3", "4"]
    assert rows[2][:5] == ["-", "-", "-", "DAMAGED", "-"]
    assert "entry 2 is damaged" in show.err
    as_json = _cli("log", "show", "--log", d, "--json")
    assert as_json.code == 1
    assert [x.get("damaged") is not None for x in as_json.json()] == [False, False, True, False, False]

    page = tmp_path / "r.html"
    export = _cli("log", "export", "--log", d, "--html", page)
    assert export.code == 1, export.out + export.err
    html = page.read_text()
    assert "Damaged entries (1)" in html
    assert "<td>#2</td>" in html
    assert "drone-1" in html
    refused = _cli("log", "export", "--log", d, "--html", tmp_path / "v.html", "--vkey", vkey)
    assert refused.code == 1
    assert not (tmp_path / "v.html").exists()


def test_a_proof_of_a_signed_non_result_is_refused(tmp_path: Path) -> None:
    """verify-proof applies the same rules: an included, signed, non-result entry is exit 1."""
    _, key = make_key(tmp_path / "keys")
    d = tmp_path / "log"
    forge_log(d, key, [entry(0, key), _hostile("duplicate key", key), entry(2, key)])
    assert _cli("log", "proof", "1", "--log", d, "--out", tmp_path / "p").code == 0
    r = _cli("log", "verify-proof", tmp_path / "p", "--vkey", str(vkey_of(key)))
    assert r.code == 1, r.out + r.err
    assert "entry 1 is in the log, but signed by the log's key, but" in r.err
    assert "duplicate key" in r.err


# -- item 9: terminal escapes --------------------------------------------------------------------

EVIL = "drone\x1b[2J\x1b]0;owned\x07\u202eevil\x9b"


def test_terminal_escapes_from_the_log_are_shown_escaped(tmp_path: Path) -> None:
    """Device ids, baseline names, findings and dock ids print escaped in show, verify-proof and HTML."""
    _, key = make_key(tmp_path / "keys")
    device = DeviceIdentity("directory", EVIL, "/srv/x", {})
    evil = replace(
        make_result(0),
        verdict=Verdict.DRIFT,
        device=device,
        baseline=BaselineRef(EVIL, 1, "ee" * 32),
        findings=(Finding(EVIL, FindingKind.UNEXPECTED, Severity.HIGH, None, EVIL),),
        message=EVIL,
    )
    d = tmp_path / "log"
    with Log.open(d, origin=ORIGIN, create=True) as log:
        log.append(sign_result(evil, key, dock_id=EVIL, now=T0), key=key)
    show = _cli("log", "show", "--log", d)
    assert show.code == 0, show.err
    for raw in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert raw not in show.out
    assert "drone\\x1b[2J\\x1b]0;owned\\x07\\u202eevil\\x9b" in show.out
    assert _cli("log", "proof", "0", "--log", d, "--out", tmp_path / "p").code == 0
    proof = _cli("log", "verify-proof", tmp_path / "p", "--vkey", str(vkey_of(key)))
    assert proof.code == 0, proof.err
    assert "\x1b" not in proof.out
    assert "\u202e" not in proof.out
    assert "drone\\x1b[2J" in proof.out
    page = tmp_path / "r.html"
    assert _cli("log", "export", "--log", d, "--html", page).code == 0
    html = page.read_text()
    for raw in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert raw not in html
    assert "drone\\x1b[2J\\x1b]0;owned\\x07\\u202eevil\\x9b" in html


# -- issue 10 item 8: say what is true ---------------------------------------------------------


def test_a_wrong_vkey_is_not_called_tampering(copy: Path, tmp_path: Path) -> None:
    other = vkey_of(make_key(tmp_path / "other")[1])
    r = _cli("log", "verify", "--log", copy, "--vkey", str(other))
    assert r.code == 1
    assert r.out.startswith(f"NOT SIGNED BY THIS KEY: {copy}: the checkpoint is not signed by {other.name}+")
    assert "(wrong --vkey?)" in r.out
    assert "and neither is entry 0" in r.out
    assert "TAMPERED" not in r.out
    assert "first bad index" not in r.out


def test_a_checkpoint_replaced_under_the_right_key_is_still_tampering(
    copy: Path, pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path
) -> None:
    """Entries signed by the vkey, checkpoint by another key: the checkpoint was replaced."""
    with Log.read(copy) as log:
        head = log.checkpoint
    assert head is not None
    (copy / "checkpoint").write_bytes(head.sign(make_key(tmp_path / "other")[1]))
    r = _cli("log", "verify", "--log", copy, "--vkey", str(vkey_of(pristine[1])))
    assert r.code == 1
    assert r.out.startswith("TAMPERED")
    assert "not signed by a known key" in r.out


def test_a_log_interrupted_before_its_first_checkpoint_is_incomplete(
    tmp_path: Path, pristine: tuple[Path, Ed25519PrivateKey]
) -> None:
    d = tmp_path / "new"
    Log.open(d, origin=ORIGIN, create=True).close()  # created; the first append never came
    r = _cli("log", "verify", "--log", d, "--vkey", str(vkey_of(pristine[1])))
    assert r.code == 1
    assert r.out.startswith(f"INCOMPLETE: {d}: no checkpoint yet")
    assert "TAMPERED" not in r.out


def test_one_entry_with_broken_framing_does_not_hide_the_rest(copy: Path, tmp_path: Path) -> None:
    """A flipped length prefix: show and export (no --vkey) show the other 299 and mark entry 7."""
    start = struct.unpack(">Q", (copy / "entries.idx").read_bytes()[6 * 8 : 7 * 8])[0]
    data = bytearray((copy / "entries").read_bytes())
    data[start + 1] ^= 0x40
    (copy / "entries").write_bytes(bytes(data))
    show = _cli("log", "show", "--log", copy)
    assert show.code == 1
    rows = show.out.splitlines()[1:]
    assert len(rows) == N
    assert rows[7].split() == ["-", "-", "-", "DAMAGED", "-", "7"]
    assert "entry 7 is damaged: its length prefix disagrees with entries.idx" in show.err
    page = tmp_path / "r.html"
    export = _cli("log", "export", "--log", copy, "--html", page)
    assert export.code == 1
    assert f"{N - 1} results, 1 damaged entries marked" in export.out
    assert "Damaged entries (1)" in page.read_text()


# -- item 10a: canonical base64; the shared key check ---------------------------------------------


def test_a_proof_with_non_canonical_base64_is_refused(pristine: tuple[Path, Ed25519PrivateKey], tmp_path: Path) -> None:
    """Set padding bits in one proof hash: the same bytes, another text, refused."""
    out = tmp_path / "p"
    assert _cli("log", "proof", "5", "--log", pristine[0], "--out", out).code == 0
    lines = out.read_bytes().split(b"\n")
    k = next(i for i, line in enumerate(lines) if len(line) == 44 and line.endswith(b"=") and i > 2)
    lines[k] = lines[k][:-2] + B64[B64.index(lines[k][-2:-1].decode()) | 1].encode() + b"="
    assert base64.b64decode(lines[k]) == base64.b64decode(out.read_bytes().split(b"\n")[k])
    out.write_bytes(b"\n".join(lines))
    r = _cli("log", "verify-proof", out, "--vkey", str(vkey_of(pristine[1])))
    assert r.code == 1, r.out + r.err
    assert "not canonical base64" in r.err


def test_a_small_order_verifier_key_is_refused(tmp_path: Path) -> None:
    """The identity point verifies forged signatures under OpenSSL; the vkey parser refuses it (exit 2)."""
    from attest.log.note import note_key_id

    raw = b"\x01" + (1).to_bytes(32, "little")  # type 0x01, then the identity point 01 00..00
    vkey = f"{ORIGIN}+{note_key_id(ORIGIN, 1, raw[1:]).hex()}+{base64.b64encode(raw).decode()}"
    d = tmp_path / "log"
    forge_log(d, Ed25519PrivateKey.generate(), [])
    r = _cli("log", "verify", "--log", d, "--vkey", vkey)
    assert r.code == 2, r.out + r.err
    assert "verifier key" in r.err
    assert "small-order" in r.err


def test_append_refuses_a_signed_entry_that_is_not_a_result(tmp_path: Path) -> None:
    """The writer applies the reader's rules: nothing verify would reject gets into a log."""
    _, key = make_key(tmp_path / "keys")
    with Log.open(tmp_path / "log", origin=ORIGIN, create=True) as log:
        with pytest.raises(ValueError, match="not a log entry: signed by the log's key, but not a drone-attest"):
            log.append(_hostile("baseline statement", key), key=key)
        assert log.append(entry(0, key), key=key) == 0


# -- entry kinds: the dock's events share the log with results ----------------------------------


def _dock_event(key: Ed25519PrivateKey, drone: str = "UAV-07") -> bytes:
    """A real dock-event entry, as ``attest dock`` signs it (an unknown device: no parts)."""
    from datetime import UTC, datetime

    from attest.dock import DockEvent, sign_event

    now = datetime(2027, 1, 2, tzinfo=UTC)
    event = DockEvent(drone, Verdict.UNTRUSTED, "unknown device", now, now, {"drone": drone}, None, (), "dock1", ORIGIN)
    return sign_event(event, key)


def test_the_log_holds_dock_events_only_when_told_to(tmp_path: Path) -> None:
    """Results are always allowed; another kind only when the caller names it with its reader."""
    from attest.dock import EVENT_PREDICATE_TYPE, read_event

    _, key = make_key(tmp_path / "keys")
    kinds = {EVENT_PREDICATE_TYPE: read_event}
    refused = re.escape("predicateType is 'https://drone-attest.dev/dock-event/v1'")
    with Log.open(tmp_path / "plain", origin=ORIGIN, create=True) as log, pytest.raises(ValueError, match=refused):
        log.append(_dock_event(key), key=key)
    with Log.open(tmp_path / "dock", origin=ORIGIN, create=True, kinds=kinds) as log:
        assert log.append_many([entry(0, key), _dock_event(key), entry(1, key)], key=key) == range(3)
    assert audit_log(tmp_path / "dock", vkey_of(key), workers=1, kinds=kinds)
    plain = audit_log(tmp_path / "dock", vkey_of(key), workers=1)
    assert plain.first_bad_index == 1, "without the kind, an event is not a result"


def test_verify_show_and_export_accept_the_dock_events_they_can_read(tmp_path: Path) -> None:
    """The log commands read dock events with the dock's reader: one row each, like a result."""
    _, key = make_key(tmp_path / "keys")
    d = tmp_path / "log"
    forge_log(d, key, [entry(0, key), _dock_event(key), entry(2, key)])
    vkey = str(vkey_of(key))
    verify = _cli("log", "verify", "--log", d, "--vkey", vkey)
    assert verify.code == 0, verify.out + verify.err
    show = _cli("log", "show", "--log", d)
    assert show.code == 0, show.err
    assert [line.split() for line in show.out.splitlines()[1:]][1] == [
        "2027-01-02T00:00:00Z", "UAV-07", "-", "untrusted", "0", "1",
    ]  # fmt: skip
    only = _cli("log", "show", "--log", d, "--device", "UAV-07", "--json")
    assert [(r["index"], r["message"]) for r in json.loads(only.out)] == [(1, "unknown device")]
    page = tmp_path / "r.html"
    assert _cli("log", "export", "--log", d, "--html", page, "--vkey", vkey).code == 0
    assert "UAV-07" in page.read_text()
    assert _cli("log", "proof", "1", "--log", d, "--out", tmp_path / "p").code == 0
    proof = _cli("log", "verify-proof", tmp_path / "p", "--vkey", vkey)
    assert proof.code == 0, proof.err
    assert "UAV-07 untrusted" in proof.out

    # A signed event whose drone is not text: damaged for every reader.
    env = json.loads(_dock_event(key))
    payload = base64.b64decode(env["payload"]).replace(b'"drone":"UAV-07"', b'"drone":7', 1)
    broken = tmp_path / "broken"
    forge_log(broken, key, [entry(0, key), _payload_entry(payload, key), entry(2, key)])
    verify = _cli("log", "verify", "--log", broken, "--vkey", vkey)
    assert verify.code == 1, verify.out
    assert "first bad index 1" in verify.out
    show = _cli("log", "show", "--log", broken)
    assert show.code == 1
    assert show.out.splitlines()[2].split() == ["-", "-", "-", "DAMAGED", "-", "1"]
