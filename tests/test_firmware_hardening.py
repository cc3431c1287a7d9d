"""Issue 9, flight-controller firmware: a stashed approved copy, CRC-only baselines, hostile release files.

Every test goes through the real CLI (``attest baseline create``, ``sign``,
``verify``) against ``attest sim fc`` on a real pty, except where it says why.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest

from attest.firmware import raw_crc32

pytest_plugins = ["fc_fixture"]

SMALL_FLASH = ("--flash-size", "256")
BL = ("--bootloader", "--timeout", "4")


def _release(fc_bench, tmp_path: Path, name: str, *args: str) -> Path:
    path = tmp_path / name
    r = fc_bench.attest("sim", "firmware", "--out", path, *SMALL_FLASH, *args)
    assert r.code == 0, r.err
    return path


def _image_baseline(fc_bench, image: Path) -> Path:
    out = image.with_suffix(".baseline.json")
    r = fc_bench.attest("baseline", "create", "--firmware", image, "--name", "release", "--version", "1", "--out", out)
    assert r.code == 0, r.err
    r = fc_bench.attest("baseline", "sign", out, "--key", fc_bench.fleet.keys[0])
    assert r.code == 0, r.err
    return out


def _findings(run) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in run.json()["findings"]:
        out.setdefault(f["component"], set()).add(f["kind"])
    return out


# -- item 11: an approved image stashed away from the boot address -----------------------------


def test_stashed_approved_copy_is_drift_against_an_image_baseline(sim_fc, fc_bench, tmp_path):
    """Other code at the boot address, the approved image higher in flash: drift, not pass.

    Before the fix the dock took the first application whose descriptor verified, wherever it was,
    so this passed on fc/firmware and fc/app-crc.
    """
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "ArduCopter.apj"))
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--stash-approved").path, baseline)
    assert r.code == 1, r.out + r.err
    assert _findings(r) == {"fc/firmware": {"modified"}, "fc/app-crc": {"modified"}}


def test_stashed_approved_copy_is_drift_against_a_device_baseline(sim_fc, fc_bench):
    """The same attack against a baseline made from an honest controller (whole-flash hash excluded).

    Boards that keep parameters in flash must exclude fc/flash; then fc/firmware alone decides.
    """
    baseline = fc_bench.create(sim_fc(*SMALL_FLASH).path, "--exclude", "fc/flash")
    honest = fc_bench.verify(sim_fc(*SMALL_FLASH).path, baseline)
    assert honest.code == 0, honest.out + honest.err
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--stash-approved").path, baseline)
    assert r.code == 1, r.out + r.err
    assert _findings(r) == {"fc/firmware": {"modified"}}
    assert "linked to run at 0x20000" in r.json()["notes"]["flash_app"]


def test_stashed_approved_copy_is_drift_through_the_bootloader(sim_fc, fc_bench, tmp_path):
    """READ_MULTI reads from the boot address: the stashed copy is never what is hashed."""
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "ArduCopter.apj"))
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--stash-approved").path, baseline, *BL)
    assert r.code == 1, r.out + r.err
    assert "fc/firmware" in _findings(r)


def test_the_image_records_its_boot_address(fc_bench, tmp_path):
    """An .apj baseline records where the bootloader starts the image (from its AP_FWVersion pointers)."""
    baseline = _image_baseline(fc_bench, _release(fc_bench, tmp_path, "ArduCopter.apj"))
    predicate = json.loads(base64.b64decode(json.loads(baseline.read_text())["payload"]))["predicate"]
    assert predicate["collection"]["firmware"]["app_start"] == 128 * 1024
    assert predicate["components"]["fc/firmware"]["attributes"]["app_start"] == 128 * 1024


def test_sim_refuses_stash_with_another_flash(fc_bench, tmp_path):
    """--stash-approved builds its own flash: combined with --flash it is a usage error, not a silent choice."""
    apj = _release(fc_bench, tmp_path, "ArduCopter.apj")
    r = fc_bench.attest("sim", "fc", "--stash-approved", "--flash", apj, timeout=30)
    assert r.code == 2
    assert "--stash-approved" in r.err


# -- item 13: a firmware pinned only by its CRC-32 ----------------------------------------------


def _forge_crc(data: bytes, at: int, target: int) -> bytes:
    """``data`` with the 4 bytes at ``at`` chosen so that its raw CRC-32 is ``target``.

    raw_crc32 (init 0, no final XOR) is linear over GF(2), and leading zeros leave it at 0, so the
    patch's 32 bits each flip a fixed 32-bit column: solve 32 equations.
    """
    zeroed = bytearray(data)
    zeroed[at : at + 4] = bytes(4)
    need = raw_crc32(bytes(zeroed)) ^ target
    tail = bytes(len(data) - at - 4)
    pivots: list[tuple[int, int, int]] = []  # (pivot bit, column, which patch bits make it)
    for j in range(32):
        col, made = raw_crc32((1 << j).to_bytes(4, "little") + tail), 1 << j
        for bit, pcol, pmade in pivots:
            if col >> bit & 1:
                col, made = col ^ pcol, made ^ pmade
        if col:
            pivots.append((col.bit_length() - 1, col, made))
    patch = 0
    for bit, pcol, pmade in pivots:
        if need >> bit & 1:
            need, patch = need ^ pcol, patch ^ pmade
    assert need == 0, "32 consecutive bits always reach every CRC"
    zeroed[at : at + 4] = patch.to_bytes(4, "little")
    return bytes(zeroed)


def _forged_release(tmp_path: Path, good: Path, autopilot: str, name: str) -> Path:
    """``good`` with 64 bytes of its code replaced and 4 more chosen so that its CRC-32 is unchanged."""
    from attest.firmware import decode_image
    from attest.sim import board_for, release_file_bytes

    image = decode_image(good.read_bytes()).image
    evil = bytearray(image)
    evil[0x2000:0x2040] = b"\xde\xad\xbe\xef" * 16  # "other code"
    forged = _forge_crc(bytes(evil), 0x3000, raw_crc32(image))
    assert forged != image and raw_crc32(forged) == raw_crc32(image) and len(forged) == len(image)
    fmt = "px4" if autopilot == "px4" else "apj"
    path = tmp_path / name
    path.write_bytes(release_file_bytes(board_for(autopilot, flash_kb=256), forged, fmt=fmt))
    return path


def test_forged_px4_with_the_same_crc_does_not_pass_a_px4_baseline(sim_fc, fc_bench, tmp_path):
    """A .px4 baseline now pins the bytes: a forged image with the approved CRC-32 is never a pass.

    Before the fix a .px4 baseline pinned only the CRC, so this forged image passed (exit 0).
    PX4-Bootloader cannot serve the bytes, so the honest answer is exit 3, saying why.
    """
    good = _release(fc_bench, tmp_path, "px4_fmu-v6x.px4", "--autopilot", "px4")
    baseline = _image_baseline(fc_bench, good)
    forged = _forged_release(tmp_path, good, "px4", "forged.px4")
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--flash", str(forged)).path, baseline, *BL)
    assert r.code == 3, r.out + r.err
    assert "fc/firmware" in r.json()["message"]
    assert "CRC-32" in r.json()["message"]


def test_a_crc_only_baseline_without_signed_acceptance_is_not_a_pass(sim_fc, fc_bench, tmp_path):
    """A CRC-only baseline as the old code wrote it (no crc_only acceptance) is unreadable, never a pass."""
    from attest.baseline import Baseline
    from attest.collectors import FirmwareImageCollector
    from attest.firmware import accept_crc_only_firmware
    from attest.selection import Selection

    good = _release(fc_bench, tmp_path, "px4_fmu-v6x.px4", "--autopilot", "px4")
    collector = FirmwareImageCollector(good)
    legacy = {"selection": Selection().to_json(), "measure": ["app-crc"], "firmware": {"image_size": 1}}
    legacy["firmware"]["image_size"] = len(collector.image.image)
    evidence = collector.collect(accept_crc_only_firmware(legacy), nonce="00")
    old = Baseline.from_evidence(evidence, name="legacy", version=1, collection=legacy, device_match={"board_id": "53"})
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(old.to_statement()))
    assert fc_bench.attest("baseline", "sign", path, "--key", fc_bench.fleet.keys[0]).code == 0
    forged = _forged_release(tmp_path, good, "px4", "forged.px4")
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--flash", str(forged)).path, path, *BL)
    assert r.code == 3, r.out + r.err
    assert "does not record that its signers accepted" in r.json()["message"]


def test_accepted_crc_only_baseline_cannot_tell_a_forged_image_and_says_so(sim_fc, fc_bench, tmp_path):
    """The accepted residual risk, stated: a forged image with the approved CRC passes, labelled CRC only."""
    good = _release(fc_bench, tmp_path, "px4_fmu-v6x.px4", "--autopilot", "px4")
    baseline = fc_bench.create_crc_only(good)
    predicate = json.loads(base64.b64decode(json.loads(baseline.read_text())["payload"]))["predicate"]
    assert predicate["collection"]["firmware"]["crc_only"] is True
    assert predicate["components"]["fc/app-crc"]["attributes"]["evidence"] == "CRC only"
    assert "fc/firmware" not in predicate["components"]
    forged = _forged_release(tmp_path, good, "px4", "forged.px4")
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--flash", str(forged)).path, baseline, *BL)
    assert r.code == 0, r.out + r.err
    assert r.json()["notes"]["firmware_evidence"].startswith("CRC only")


def test_image_baseline_refuses_to_be_crc_only_without_acceptance(fc_bench, tmp_path):
    """Selecting the CRC alone from a release file is refused (exit 2) unless accepted."""
    good = _release(fc_bench, tmp_path, "ArduCopter.apj")
    r = fc_bench.attest(
        "baseline", "create", "--firmware", good, "--name", "r", "--version", "1", "--out", tmp_path / "o.json",
        "--exclude", "fc/firmware",
    )  # fmt: skip
    assert r.code == 2, r.err
    assert "--accept-crc-only-firmware" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("via", ["flash", "bootloader"])
def test_forged_ardupilot_image_with_the_same_crc_is_caught_by_the_hash(sim_fc, fc_bench, tmp_path, via):
    """The CRC is forged to match; the SHA-256 of the bytes the dock read is what catches it."""
    good = _release(fc_bench, tmp_path, "ArduCopter.apj")
    baseline = _image_baseline(fc_bench, good)
    forged = _forged_release(tmp_path, good, "ardupilot", "forged.apj")
    extra = BL if via == "bootloader" else ()
    r = fc_bench.verify(sim_fc(*SMALL_FLASH, "--flash", str(forged)).path, baseline, *extra)
    assert r.code == 1, r.out + r.err
    assert _findings(r) == {"fc/firmware": {"modified"}}  # fc/app-crc matched: the forgery worked


# -- item 6: hostile release files ----------------------------------------------------------------


def _apj(**over) -> bytes:
    image = bytes(range(256)) * 16
    obj = {"magic": "APJFWv1", "board_id": 140, "image_size": len(image), "flash_total": 8192,
           "image": base64.b64encode(zlib.compress(image, 9)).decode()}  # fmt: skip
    obj.update(over)
    return json.dumps(obj).encode()


def _bomb(size: int) -> str:
    """base64 zlib of ``size`` zero bytes, made in pieces (1 GiB of zeros is ~1 MiB compressed)."""
    z = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    packed = b"".join(z.compress(chunk) for _ in range(size >> 20)) + z.flush()
    return base64.b64encode(packed).decode()


_GOOD_ZLIB = zlib.compress(bytes(range(256)) * 16, 9)
HOSTILE = {
    "huge-int": b'{"magic": "APJFWv1", "board_id": 1' + b"0" * 5000 + b"}",
    "deep-nesting": b'{"magic": "APJFWv1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "duplicate-key": b'{"magic": "APJFWv1", "magic": "PX4FWv1"}',
    "not-utf8": b'{"magic": "APJFWv1\xff"}',
    "nan": _apj(image_size=float("nan")),
    "truncated-base64": _apj(image=base64.b64encode(_GOOD_ZLIB).decode()[:-3]),
    "non-ascii-base64": _apj(image="ü" * 8),
    "truncated-zlib": _apj(image=base64.b64encode(_GOOD_ZLIB[: len(_GOOD_ZLIB) // 2]).decode()),
    "trailing-data": _apj(image=base64.b64encode(_GOOD_ZLIB + b"more").decode()),
    "zip-bomb": _apj(image_size=4096, image=_bomb(1 << 30)),
    "zip-bomb-at-the-size-limit": _apj(image_size=16 << 20, flash_total=None, image=_bomb(256 << 20)),
    "image-size-too-small": _apj(image_size=100),
    "image-size-too-large": _apj(image_size=5000),
    "image-size-negative": _apj(image_size=-1),
    "image-size-huge": _apj(image_size=2**53 - 1),
    "flash-total-below-image": _apj(flash_total=100),
    "board-id-out-of-range": _apj(board_id=70_000),
    "not-an-object": b"[1, 2, 3]",
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_release_file_is_exit_2_with_one_line(fc_bench, tmp_path, case):
    """Every hostile .apj ends in exit 2 (usage/config) and one line naming the file: no traceback."""
    path = tmp_path / f"{case}.apj"
    path.write_bytes(HOSTILE[case])
    r = fc_bench.attest("baseline", "create", "--firmware", path, "--name", "r", "--version", "1",
                        "--out", tmp_path / "o.json", timeout=60)  # fmt: skip
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attest: error: ") and path.name in lines[0], r.err
    assert not (tmp_path / "o.json").exists()


def test_release_file_larger_than_the_limit_is_refused_unread(fc_bench, tmp_path):
    """A file over MAX_RELEASE_FILE (sparse: costs no disk) is refused after reading one byte past the limit."""
    from attest.firmware import MAX_RELEASE_FILE

    path = tmp_path / "huge.apj"
    with path.open("wb") as f:
        f.truncate(MAX_RELEASE_FILE + 1)
    r = fc_bench.attest("baseline", "create", "--firmware", path, "--name", "r", "--version", "1",
                        "--out", tmp_path / "o.json")  # fmt: skip
    assert r.code == 2, r.err
    assert "too large" in r.err and len(r.err.strip().splitlines()) == 1
