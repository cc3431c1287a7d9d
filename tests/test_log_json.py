"""Issue 10 item 11: ``attest log verify --json`` and ``attest log verify-proof --json``.

One JSON object on stdout (the fields docs/log.md names), the exit code of the
text output unchanged: 0 intact / valid, 1 not intact / invalid, 2 usage (no
JSON: the error line on stderr).
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from _logkit import ORIGIN, build_log, entry, make_key, vkey_of
from conftest import Run

from attest.log import Log
from attest.signing import load_private_key

N = 9
VERIFY_FIELDS = {
    "intact", "status", "directory", "vkey", "origin", "size", "root", "entries_checked", "old_checkpoint",
    "first_bad_index", "problem_count", "problems", "notes",
}  # fmt: skip


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("json")
    key_path, key = make_key(root / "keys")
    build_log(root / "log", key, N).close()
    return root / "log", key_path, str(vkey_of(key))


def _one_object(r: Run) -> dict[str, object]:
    """stdout is exactly one JSON object and a newline."""
    assert r.out.endswith("\n") and r.out.count("\n") == 1, r.out
    obj = json.loads(r.out)
    assert isinstance(obj, dict)
    return obj


def test_verify_json_intact(attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path) -> None:
    d, _, vkey = logdir
    text = attest("log", "verify", "--log", d, "--vkey", vkey)
    old = tmp_path / "old.checkpoint"
    shutil.copy(d / "checkpoint", old)
    r = attest("log", "verify", "--log", d, "--vkey", vkey, "--json", "--checkpoint", old)
    assert r.code == text.code == 0, r.out + r.err
    obj = _one_object(r)
    assert set(obj) == VERIFY_FIELDS
    assert (obj["intact"], obj["status"], obj["origin"], obj["size"], obj["entries_checked"]) == (
        True, "ok", ORIGIN, N, N,
    )  # fmt: skip
    assert f"root {obj['root']}" in text.out  # the same root the text prints, in hex
    assert obj["vkey"] == "+".join(vkey.split("+")[:2])
    assert obj["old_checkpoint"] == {"size": N, "root": obj["root"]}
    assert (obj["first_bad_index"], obj["problem_count"], obj["problems"]) == (None, 0, [])
    assert obj["directory"] == str(d)


def test_verify_json_tampered_keeps_exit_1_and_names_the_first_bad_index(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path
) -> None:
    d, _, vkey = logdir
    copy = tmp_path / "tampered"
    shutil.copytree(d, copy)
    raw = (copy / "entries.idx").read_bytes()
    start = struct.unpack(">Q", raw[4 * 8 : 5 * 8])[0]  # where entry 5 begins
    data = bytearray((copy / "entries").read_bytes())
    data[start + 60] ^= 0x04
    (copy / "entries").write_bytes(bytes(data))
    r = attest("log", "verify", "--log", copy, "--vkey", vkey, "--json")
    assert r.code == 1, r.out + r.err
    obj = _one_object(r)
    assert (obj["intact"], obj["status"], obj["first_bad_index"]) == (False, "tampered", 5)
    problems = obj["problems"]
    assert isinstance(problems, list) and problems and obj["problem_count"] == len(problems)
    assert any(p["index"] == 5 for p in problems)


def test_verify_json_with_another_key_is_not_signed_by_this_key(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path
) -> None:
    other = str(vkey_of(make_key(tmp_path / "other")[1]))
    r = attest("log", "verify", "--log", logdir[0], "--vkey", other, "--json")
    assert r.code == 1, r.out + r.err
    obj = _one_object(r)
    assert (obj["intact"], obj["status"], obj["origin"], obj["size"]) == (False, "not_signed_by_this_key", None, None)


def test_verify_json_of_a_rolled_back_copy(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path
) -> None:
    d, key_path, vkey = logdir
    newer = tmp_path / "newer"
    shutil.copytree(d, newer)
    key = load_private_key(key_path)
    with Log.open(newer) as log:
        log.append(entry(N, key), key=key)
    r = attest("log", "verify", "--log", d, "--vkey", vkey, "--checkpoint", newer / "checkpoint", "--json")
    assert r.code == 1
    obj = _one_object(r)
    assert (obj["status"], obj["first_bad_index"]) == ("tampered", N)
    assert obj["old_checkpoint"] == {"size": N + 1, "root": obj["old_checkpoint"]["root"]}  # type: ignore[index]


def test_verify_proof_json_valid_and_invalid(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path
) -> None:
    d, _, vkey = logdir
    proof = tmp_path / "r4.tlog-proof"
    assert attest("log", "proof", "4", "--log", d, "--out", proof).code == 0
    r = attest("log", "verify-proof", proof, "--vkey", vkey, "--json")
    assert r.code == 0, r.out + r.err
    obj = _one_object(r)
    assert (obj["valid"], obj["index"], obj["origin"], obj["size"], obj["message"]) == (True, 4, ORIGIN, N, None)
    assert obj["kind"] == "https://drone-attest.dev/result/v1"
    shown = attest("log", "show", "--log", d, "--json").json()[4]
    assert obj["entry"] == shown  # the entry as `log show --json` prints it
    verified = attest("log", "verify", "--log", d, "--vkey", vkey, "--json").json()
    assert obj["root"] == verified["root"]

    lines = proof.read_bytes().split(b"\n")
    hashes = [i for i, line in enumerate(lines) if len(line) == 44 and i > 2]
    lines[hashes[0]] = (b"B" if lines[hashes[0]][:1] != b"B" else b"C") + lines[hashes[0]][1:]
    bad = tmp_path / "bad.tlog-proof"
    bad.write_bytes(b"\n".join(lines))
    r = attest("log", "verify-proof", bad, "--vkey", vkey, "--json")
    assert r.code == 1, r.out + r.err
    obj = _one_object(r)
    assert obj["valid"] is False and obj["index"] == 4 and "bad.tlog-proof" in str(obj["message"])

    bad.write_bytes(b"not a proof")
    r = attest("log", "verify-proof", bad, "--vkey", vkey, "--json")
    assert r.code == 1
    assert _one_object(r) == {"valid": False, "index": None, "message": f"{bad}: no empty line before the checkpoint"}

    other = str(vkey_of(make_key(tmp_path / "other")[1]))
    r = attest("log", "verify-proof", proof, "--vkey", other, "--json")
    assert r.code == 1 and _one_object(r)["valid"] is False


@pytest.mark.parametrize("command", ["verify", "verify-proof"])
def test_usage_errors_keep_exit_2_and_print_no_json(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], command: str
) -> None:
    where = ["--log", str(logdir[0])] if command == "verify" else ["/nonexistent.tlog-proof"]
    r = attest("log", command, *where, "--vkey", "not-a-vkey", "--json")
    assert (r.code, r.out) == (2, "")
    assert "attest: error:" in r.err
