"""``attest log ...`` end to end through real subprocesses: every command, flag and exit code of the contract."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from _logkit import ORIGIN, build_log, make_key, vkey_of
from conftest import Run

from attest.signing import load_private_key

CHROMIUM = Path("/usr/bin/chromium")
N = 12


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A 12-entry log of three drones (drift every fifth result), its dock key file and vkey."""
    root = tmp_path_factory.mktemp("cli")
    key_path, key = make_key(root / "keys")
    build_log(root / "log", key, N).close()
    return root / "log", key_path, str(vkey_of(key))


@pytest.fixture
def tampered(logdir: tuple[Path, Path, str], tmp_path: Path) -> Path:
    """A copy of the log with one byte of entry 7 flipped."""
    d = tmp_path / "tampered"
    shutil.copytree(logdir[0], d)
    raw = (d / "entries.idx").read_bytes()
    start = struct.unpack(">Q", raw[6 * 8 : 7 * 8])[0]
    data = bytearray((d / "entries").read_bytes())
    data[start + 60] ^= 0x04
    (d / "entries").write_bytes(bytes(data))
    return d


def test_key_prints_the_vkey(attest: Callable[..., Run], logdir: tuple[Path, Path, str]) -> None:
    d, key_path, vkey = logdir
    r = attest("log", "key", "--dock-key", key_path, "--origin", ORIGIN)
    assert (r.code, r.out) == (0, vkey + "\n")
    r = attest("log", "key", "--dock-key", key_path, "--log", d)
    assert (r.code, r.out) == (0, vkey + "\n")
    assert vkey.startswith(ORIGIN + "+")


@pytest.mark.parametrize(
    "args",
    [
        ["log", "key", "--dock-key", "K"],  # neither --origin nor --log
        ["log", "key", "--dock-key", "K", "--origin", "a", "--log", "b"],  # both
        ["log", "key", "--dock-key", "K", "--origin", "has space"],
        ["log", "key", "--dock-key", "missing.key", "--origin", "dock.example"],
        ["log", "show", "--log", "LOG", "--since", "yesterday"],
        ["log", "show", "--log", "LOG", "--verdict", "maybe"],
        ["log", "show", "--log", "/nonexistent"],
        ["log", "verify", "--log", "LOG", "--vkey", "not-a-vkey"],
        ["log", "verify", "--log", "/nonexistent", "--vkey", "VKEY"],
        ["log", "verify", "--log", "LOG", "--vkey", "VKEY", "--checkpoint", "/nonexistent"],
        ["log", "proof", "99", "--log", "LOG", "--out", "p"],
        ["log", "proof", "-1", "--log", "LOG", "--out", "p"],
        ["log", "verify-proof", "/nonexistent", "--vkey", "VKEY"],
        ["log", "export", "--log", "LOG"],  # no --html
    ],
)
def test_usage_and_configuration_errors_exit_2(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path, args: list[str]
) -> None:
    d, key_path, vkey = logdir
    subst = {"K": str(key_path), "LOG": str(d), "VKEY": vkey, "p": str(tmp_path / "p")}
    r = attest(*[subst.get(a, a) for a in args], cwd=tmp_path)
    assert r.code == 2, (r.out, r.err)
    assert "Traceback" not in r.err


def test_show_table_and_filters(attest: Callable[..., Run], logdir: tuple[Path, Path, str]) -> None:
    d = logdir[0]
    r = attest("log", "show", "--log", d)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["TIME", "DEVICE", "BASELINE", "VERDICT", "FINDINGS", "INDEX"]
    assert len(lines) == N + 1
    assert lines[4].split() == ["2027-01-01T00:03:00Z", "drone-0", "companion", "v3", "drift", "2", "3"]
    r = attest("log", "show", "--log", d, "--device", "drone-0", "--verdict", "drift")
    assert [line.split()[-1] for line in r.out.splitlines()[1:]] == ["3"]
    r = attest("log", "show", "--log", d, "--since", "2027-01-01T00:10:00Z")
    assert [line.split()[-1] for line in r.out.splitlines()[1:]] == ["10", "11"]


def test_show_json(attest: Callable[..., Run], logdir: tuple[Path, Path, str]) -> None:
    r = attest("log", "show", "--log", logdir[0], "--json", "--verdict", "drift")
    assert r.code == 0, r.err
    rows = r.json()
    assert [x["index"] for x in rows] == [3, 8]  # oldest first
    first = rows[0]
    assert {"time", "device", "baseline", "verdict", "finding_count", "findings", "index"} <= first.keys()
    assert first["device"] == "drone-0"
    assert first["baseline"] == {"name": "companion", "version": 3, "digest": "ee" * 32}
    assert first["finding_count"] == len(first["findings"]) == 2
    assert first["findings"][0]["component"] == "usr/bin/px4"
    assert attest("log", "show", "--log", logdir[0], "--json", "--device", "nobody").json() == []


def test_verify_intact_log(attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path) -> None:
    d, _, vkey = logdir
    r = attest("log", "verify", "--log", d, "--vkey", vkey)
    assert r.code == 0, r.out + r.err
    assert r.out.startswith(f"OK: {ORIGIN}: {N} entries")
    vkey_file = tmp_path / "dock.vkey"
    vkey_file.write_text(vkey + "\n")
    old = tmp_path / "old.checkpoint"
    shutil.copy(d / "checkpoint", old)
    r = attest("log", "verify", "--log", d, "--vkey", vkey_file, "--checkpoint", old)
    assert r.code == 0, r.out + r.err
    assert "consistent with the older checkpoint" in r.out


def test_verify_tampered_log_names_the_first_bad_index(
    attest: Callable[..., Run], tampered: Path, logdir: tuple[Path, Path, str]
) -> None:
    r = attest("log", "verify", "--log", tampered, "--vkey", logdir[2])
    assert r.code == 1, r.out + r.err
    assert "TAMPERED" in r.out
    assert "first bad index 7" in r.out
    assert "Traceback" not in r.err


def test_verify_checkpoint_that_went_back(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """A manager's newer checkpoint exposes a log copy that was rolled back."""
    d, key_path, vkey = logdir
    newer = tmp_path / "newer"
    shutil.copytree(d, newer)
    key = load_private_key(key_path)
    from _logkit import entry

    from attest.log import Log

    with Log.open(newer) as log:
        log.append(entry(N, key), key=key)
    r = attest("log", "verify", "--log", d, "--vkey", vkey, "--checkpoint", newer / "checkpoint")
    assert r.code == 1
    assert f"first bad index {N}" in r.out
    assert "went back" in r.out


def test_proof_and_verify_proof(attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path) -> None:
    d, _, vkey = logdir
    out = tmp_path / "r5.tlog-proof"
    r = attest("log", "proof", "5", "--log", d, "--out", out)
    assert r.code == 0, r.err
    text = out.read_bytes()
    assert text.startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    assert b"\nindex 5\n" in text
    assert text.endswith((d / "checkpoint").read_bytes())
    r = attest("log", "verify-proof", out, "--vkey", vkey)
    assert r.code == 0, r.out + r.err
    assert "entry 5" in r.out
    assert "drone-2" in r.out
    # Tampered proofs: a changed entry byte (in extra), a changed hash, another key.
    lines = text.split(b"\n")
    extra = bytearray(lines[1])
    extra[40] = ord("A") if extra[40] != ord("A") else ord("B")
    bad = tmp_path / "bad.tlog-proof"
    bad.write_bytes(b"\n".join([lines[0], bytes(extra), *lines[2:]]))
    assert attest("log", "verify-proof", bad, "--vkey", vkey).code == 1
    hashes = [i for i, line in enumerate(lines) if len(line) == 44 and i > 2]
    flipped = list(lines)
    flipped[hashes[0]] = (b"B" if lines[hashes[0]][:1] != b"B" else b"C") + lines[hashes[0]][1:]
    bad.write_bytes(b"\n".join(flipped))
    r = attest("log", "verify-proof", bad, "--vkey", vkey)
    assert r.code == 1, r.out + r.err
    other = str(vkey_of(make_key(tmp_path / "other")[1]))
    assert attest("log", "verify-proof", out, "--vkey", other).code == 1
    bad.write_bytes(b"not a proof")
    assert attest("log", "verify-proof", bad, "--vkey", vkey).code == 1


def test_export_html(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tampered: Path, tmp_path: Path
) -> None:
    d, _, vkey = logdir
    page = tmp_path / "report.html"
    r = attest("log", "export", "--log", d, "--html", page, "--vkey", vkey)
    assert r.code == 0, r.err
    html = page.read_text()
    for text in ("Fleet summary", "Drones", "Drifts and failures", "Checkpoint and how to verify it", "drone-2",
                 "usr/bin/px4", "attest log verify", "Verified"):  # fmt: skip
        assert text in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html  # self-contained: nothing to fetch
    bad = tmp_path / "bad.html"
    r = attest("log", "export", "--log", tampered, "--html", bad, "--vkey", vkey)
    assert r.code == 1
    assert not bad.exists()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium (apt-get install chromium; make system-deps)")
def test_html_report_renders_in_headless_chromium(
    attest: Callable[..., Run], logdir: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """The page renders in a real browser: the DOM has every section, the screenshot is a real page."""
    page = tmp_path / "report.html"
    assert attest("log", "export", "--log", logdir[0], "--html", page).code == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [str(CHROMIUM), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in ("Fleet summary", "drone-0", "drone-1", "drone-2", "Drifts and failures", ORIGIN):
        assert text in dom.stdout
    shot = tmp_path / "shot.png"
    r = subprocess.run(
        [str(CHROMIUM), *flags, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 1600)
    pixels = _png_pixels(png)
    assert len(set(pixels)) > 50, "a blank page has a handful of byte values"
    assert pixels.count(0xFF) < len(pixels) * 0.9, "mostly white: nothing was drawn"


def _png_pixels(png: bytes) -> bytes:
    """The decompressed image data of a PNG (filter bytes included: enough to tell blank from drawn)."""
    pos, idat = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_log_help_lists_every_action(attest: Callable[..., Run]) -> None:
    r = attest("log", "--help")
    assert r.code == 0
    for action in ("key", "show", "verify", "proof", "verify-proof", "export"):
        assert action in r.out
