"""The command line end to end, through real subprocesses: every exit code of the contract."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run, make_fleet, run_attest

from attest._cli import main


def _tree(root: Path) -> Path:
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/px4").write_bytes(bytes(range(256)) * 4096)
    (root / "usr/bin/px4").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/app.conf").write_text("upload=false\n")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/boot.log").write_text("noise")
    os.symlink("px4", root / "usr/bin/autopilot")
    return root


def _signed(
    attest: Callable[..., Run],
    fleet: Fleet,
    tmp: Path,
    *,
    version: int = 1,
    expires: str = "2099-01-01T00:00:00Z",
    keys: list[Path] | None = None,
    name: str = "companion",
) -> Path:
    device = tmp / "golden"
    if not device.exists():
        _tree(device)
    unsigned = tmp / f"{name}-v{version}.json"
    r = attest(
        "baseline",
        "create",
        "--device",
        device,
        "--name",
        name,
        "--version",
        str(version),
        "--expires",
        expires,
        "--exclude",
        "var/log/**",
        "--out",
        unsigned,
        "--force",
    )
    assert r.code == 0, r.err
    signed = tmp / f"{name}-v{version}.signed.json"
    for key in keys or fleet.keys[:1]:
        r = attest("baseline", "sign", unsigned if not signed.exists() else signed, "--key", key, "--out", signed)
        assert r.code == 0, r.err
    return signed


@pytest.fixture
def signed(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> Path:
    return _signed(attest, fleet, tmp_path)


def verify(attest: Callable[..., Run], fleet: Fleet, baseline: Path, device: Path, *extra: str, **kw: object) -> Run:
    return attest("verify", "--device", device, "--baseline", baseline, "--trust", fleet.trust, "--json", *extra, **kw)


# -- keys --------------------------------------------------------------------------------------------


def test_key_generate_and_refuse_overwrite(tmp_path: Path) -> None:
    r = run_attest(["key", "generate", "--out", tmp_path / "dock"])
    assert r.code == 0, r.err
    assert stat.S_IMODE((tmp_path / "dock").stat().st_mode) == 0o600
    assert (tmp_path / "dock.pub").exists()
    again = run_attest(["key", "generate", "--out", tmp_path / "dock"])
    assert again.code == 2
    assert "already exists" in again.err and "Traceback" not in again.err


# -- pass and drift ----------------------------------------------------------------------------------


def test_pass_then_drift(attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path) -> None:
    device = tmp_path / "golden"
    ok = verify(attest, fleet, signed, device)
    assert ok.code == 0, ok.err
    obj = ok.json()
    assert obj["verdict"] == "pass" and obj["findings"] == [] and obj["log_index"] is None
    assert obj["baseline"]["name"] == "companion" and obj["baseline"]["version"] == 1
    assert len(obj["baseline"]["digest"]) == 64
    assert "message" not in obj
    # Quiet by default: warnings and errors only; here the one warning that a plain TOML policy cannot rotate.
    assert ok.err.startswith("attest: warning:") and "cannot rotate" in ok.err and len(ok.err.splitlines()) == 1
    ok = verify(attest, fleet, signed, device, "-v")
    # With -v, the summary event is one JSON line on stderr (not a terminal here).
    events = [json.loads(line) for line in ok.err.splitlines() if not line.startswith("attest: warning:")]
    assert [e["event"] for e in events] == ["verification"] and events[0]["verdict"] == "pass"

    (device / "var/log/boot.log").write_text("excluded noise changes nothing")
    assert verify(attest, fleet, signed, device).code == 0

    (device / "etc/app.conf").write_text("upload=true\n")
    drift = verify(attest, fleet, signed, device)
    assert drift.code == 1
    d = drift.json()
    assert d["verdict"] == "drift"
    assert [(f["component"], f["kind"], f["severity"]) for f in d["findings"]] == [
        ("etc/app.conf", "modified", "critical")
    ]
    assert d["findings"][0]["expected"].startswith("sha256:")


def test_human_output_is_a_short_table(attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path) -> None:
    (tmp_path / "golden/usr/bin/px4").chmod(0o777)
    r = attest("verify", "--device", tmp_path / "golden", "--baseline", signed, "--trust", fleet.trust)
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0].startswith("DRIFT: ")
    assert "KIND" in lines[1] and "attributes" in lines[2] and "mode=0755" in lines[2]
    assert "\x1b" not in r.out  # nothing decorative when stdout is not a terminal


# -- exit 2: usage and configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        "threshold = 0\n[[keys]]\nid = 'a'\npublic_key = 'fleet1.pub'\n",
        "threshold = 2\n[[keys]]\nid = 'a'\npublic_key = 'fleet1.pub'\n",
        "threshold = 1\n[[keys]]\nid = 'a'\npublic_key = 'nope.pub'\n",
        "this is not toml",
    ],
)
def test_bad_trust_policy_is_exit_2(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path, policy: str
) -> None:
    (fleet.dir / "bad.toml").write_text(policy)
    r = attest("verify", "--device", tmp_path / "golden", "--baseline", signed, "--trust", fleet.dir / "bad.toml")
    assert r.code == 2
    assert "bad.toml" in r.err and "Traceback" not in r.err
    assert r.out == ""


@pytest.mark.parametrize(
    "args",
    [
        ["verify"],
        ["verify", "--device", "x", "--baseline", "b", "--trust", "t", "--timeout", "-1"],
        ["baseline", "create", "--device", ".", "--name", "n", "--version", "0", "--out", "x"],
        ["baseline", "create", "--device", ".", "--name", "n", "--version", "1", "--expires", "tomorrow", "--out", "x"],
        ["baseline", "create", "--device", ".", "--name", "n", "--version", "1", "--include", "/abs", "--out", "x"],
        ["baseline", "create", "--device", ".", "--name", "n", "--version", "1", "--rule", "FENCE", "--out", "x"],
        ["baseline", "create", "--device", ".", "--name", "n", "--version", "1", "--include", "[z-a]", "--out", "x"],
        [
            "baseline",
            "create",
            "--device",
            ".",
            "--name",
            "n",
            "--version",
            "1",
            "--expires",
            "0001-01-01T00:00:00+01:00",
            "--out",
            "x",
        ],
        ["nonsense"],
    ],
)
def test_bad_command_lines_are_exit_2(tmp_path: Path, args: list[str]) -> None:
    r = run_attest(args, cwd=tmp_path)
    assert r.code == 2, r.err
    assert "Traceback" not in r.err
    assert not (tmp_path / "x").exists()


# -- exit 3: could not attest ------------------------------------------------------------------------


def test_missing_device_is_exit_3(attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path) -> None:
    r = verify(attest, fleet, signed, tmp_path / "no-such-dir")
    assert r.code == 3
    obj = r.json()
    assert obj["verdict"] == "error" and "does not exist" in obj["message"]


def _without_dac_override() -> list[str]:
    """A command prefix under which file permissions apply to this process, root or not."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: cannot make a file unreadable to root")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_unreadable_file_is_exit_3_never_pass(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "golden/etc/app.conf"
    secret.chmod(0o000)
    try:
        r = verify(attest, fleet, signed, tmp_path / "golden", prefix=_without_dac_override())
    finally:
        secret.chmod(0o644)
    assert r.code == 3, r.err
    obj = r.json()
    assert obj["verdict"] == "error"
    assert [(f["component"], f["kind"]) for f in obj["findings"]] == [("etc/app.conf", "unreadable")]
    assert "could not be read" in obj["message"]


# -- exit 4: untrusted baseline ----------------------------------------------------------------------


def _untrusted(r: Run) -> str:
    assert r.code == 4, (r.code, r.out, r.err)
    obj = r.json()
    assert obj["verdict"] == "untrusted" and obj["findings"] == []
    assert "Traceback" not in r.err
    return str(obj["message"])


def test_unsigned_statement_is_untrusted(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    msg = _untrusted(verify(attest, fleet, tmp_path / "companion-v1.json", tmp_path / "golden"))
    assert "unsigned Statement" in msg and "companion-v1.json" in msg


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not json", "not JSON"), (b"[]", "not a DSSE envelope"), (b"", "not JSON")],
)
def test_garbage_baseline_is_untrusted(
    attest: Callable[..., Run], fleet: Fleet, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    (tmp_path / "dev").mkdir()
    assert message in _untrusted(verify(attest, fleet, bad, tmp_path / "dev"))


def test_missing_baseline_file_is_a_usage_error(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> None:
    """A path that names no file is the caller's mistake (exit 2), not an untrusted baseline (issue 10)."""
    r = verify(attest, fleet, tmp_path / "none.json", tmp_path)
    assert r.code == 2 and r.out == ""
    assert f"{tmp_path / 'none.json'}: cannot read baseline: No such file or directory" in r.err


def test_wrong_payload_type_is_untrusted(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    env = json.loads(signed.read_text())
    env["payloadType"] = "application/json"
    signed.write_text(json.dumps(env))
    assert "payloadType" in _untrusted(verify(attest, fleet, signed, tmp_path / "golden"))


def test_signer_not_in_policy_is_untrusted(attest: Callable[..., Run], tmp_path: Path) -> None:
    a, b = make_fleet(tmp_path / "a"), make_fleet(tmp_path / "b")
    signed = _signed(attest, a, tmp_path)
    assert "0 valid signature" in _untrusted(verify(attest, b, signed, tmp_path / "golden"))


def test_threshold_needs_distinct_signers(attest: Callable[..., Run], tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path / "f", n=3, threshold=2)
    one = _signed(attest, fleet, tmp_path, keys=fleet.keys[:1])
    assert "1 valid signature" in _untrusted(verify(attest, fleet, one, tmp_path / "golden"))
    # Signing twice with the same key still counts once.
    r = attest("baseline", "sign", one, "--key", fleet.keys[0])
    assert r.code == 0 and r.out.startswith(f"signed {one}: 1 signature")
    _untrusted(verify(attest, fleet, one, tmp_path / "golden"))
    r = attest("baseline", "sign", one, "--key", fleet.keys[2])
    assert "2 signature(s)" in r.out
    assert verify(attest, fleet, one, tmp_path / "golden").code == 0


def test_sign_with_several_keys_at_once(attest: Callable[..., Run], tmp_path: Path) -> None:
    """``--key A --key B`` adds both signatures (a second --key used to replace the first, silently)."""
    fleet = make_fleet(tmp_path / "f", n=2, threshold=2)
    one = _signed(attest, fleet, tmp_path, keys=fleet.keys[:1])
    before = one.read_bytes()
    # A bad key anywhere in the list: an error before anything is written.
    junk = tmp_path / "junk.key"
    junk.write_text("not a key\n")
    r = attest("baseline", "sign", one, "--key", fleet.keys[1], "--key", junk)
    assert r.code == 2 and "junk.key" in r.err
    assert one.read_bytes() == before
    r = attest("baseline", "sign", one, "--key", fleet.keys[0], "--key", fleet.keys[1])
    assert r.code == 0 and "2 signature(s)" in r.out, r.out + r.err
    assert verify(attest, fleet, one, tmp_path / "golden").code == 0


def test_expired_baseline(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> None:
    _tree(tmp_path / "golden")
    r = attest(
        "baseline",
        "create",
        "--device",
        tmp_path / "golden",
        "--name",
        "old",
        "--version",
        "1",
        "--expires",
        "2020-01-01T00:00:00Z",
        "--out",
        tmp_path / "old.json",
    )
    assert r.code == 0 and "in the past" in r.err
    assert attest("baseline", "sign", tmp_path / "old.json", "--key", fleet.keys[0]).code == 0
    assert "expired at 2020-01-01T00:00:00Z" in _untrusted(
        verify(attest, fleet, tmp_path / "old.json", tmp_path / "golden")
    )


def test_rollback_to_a_lower_version(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> None:
    v2 = _signed(attest, fleet, tmp_path, version=2)
    v1 = _signed(attest, fleet, tmp_path, version=1)
    (tmp_path / "golden/etc/app.conf").write_text("drifted\n")
    # v2 is accepted even though the device drifted (a version counts once trusted).
    assert verify(attest, fleet, v2, tmp_path / "golden").code == 1
    assert "rollback" in _untrusted(verify(attest, fleet, v1, tmp_path / "golden"))
    # Another state directory has no memory of v2.
    other = attest(
        "verify",
        "--device",
        tmp_path / "golden",
        "--baseline",
        v1,
        "--trust",
        fleet.trust,
        "--json",
        "--state-dir",
        tmp_path / "other-state",
    )
    assert other.code == 1


def _flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def test_flipping_any_byte_of_a_signed_baseline_is_untrusted(
    fleet: Fleet, signed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flip one bit at ~400 positions spread over the whole file: every one must be exit 4."""
    original = signed.read_bytes()
    env = json.loads(original)
    sig_at = original.index(env["signatures"][0]["sig"].encode())
    positions = sorted(
        set(range(0, len(original), max(1, len(original) // 300)))
        | set(range(sig_at, sig_at + len(env["signatures"][0]["sig"])))
    )
    tampered = tmp_path / "tampered.json"
    state = tmp_path / "flip-state"
    args = ["verify", "--device", str(tmp_path / "golden"), "--baseline", str(tampered)]
    args += ["--trust", str(fleet.trust), "--state-dir", str(state)]
    for pos in positions:
        tampered.write_bytes(_flip(original, pos))
        code = main([*args, "--json"])
        out = capsys.readouterr().out
        assert code == 4, f"flip at byte {pos} was not caught: {out}"
    tampered.write_bytes(original)
    assert main(args) == 0  # the untouched file still passes: the flips, not the set-up, failed


def test_flipped_bytes_through_the_real_cli(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    original = signed.read_bytes()
    for pos in (40, len(original) // 3, len(original) // 2, len(original) - 30):
        signed.write_bytes(_flip(original, pos))
        _untrusted(verify(attest, fleet, signed, tmp_path / "golden"))


# -- baseline show -----------------------------------------------------------------------------------


def test_baseline_show(attest: Callable[..., Run], tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path / "f", n=2, threshold=1)
    other = make_fleet(tmp_path / "o")
    signed = _signed(attest, fleet, tmp_path, keys=[fleet.keys[0], other.keys[0]])
    r = attest("baseline", "show", signed, "--trust", fleet.trust)
    assert r.code == 0, r.err
    assert "name:       companion" in r.out and "version:    1" in r.out
    assert "expires:    2099-01-01T00:00:00Z" in r.out
    assert "valid (key fleet-1)" in r.out
    assert "not by a key in the trust policy" in r.out
    assert "signatures: 2" in r.out
    unchecked = attest("baseline", "show", signed)
    assert unchecked.out.count("not checked (no --trust)") == 2


def test_sign_refuses_garbage_and_keeps_the_file(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text('{"_type": "https://in-toto.io/Statement/v1", "subject": []}')
    r = attest("baseline", "sign", bad, "--key", fleet.keys[0])
    assert r.code == 4 and "Traceback" not in r.err
    assert bad.read_text().startswith('{"_type"')


def test_create_refuses_to_overwrite_without_force(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    before = signed.read_bytes()
    r = attest("baseline", "create", "--device", tmp_path / "golden", "--name", "x", "--version", "1", "--out", signed)
    assert r.code == 2 and "--force" in r.err
    assert signed.read_bytes() == before


@pytest.mark.parametrize("ptype", ["application/json", "\ud800"])
def test_show_refuses_what_verify_refuses(attest: Callable[..., Run], signed: Path, ptype: str) -> None:
    """`show` must not call signatures valid on an envelope `verify` would reject."""
    env = json.loads(signed.read_text())
    env["payloadType"] = ptype
    signed.write_text(json.dumps(env))  # json.dumps escapes the lone surrogate as \ud800
    r = attest("baseline", "show", signed)
    assert r.code == 4
    assert "payloadType" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sim", "fc", "--drip", "x"), "'x' is not a number"),
        (("sim", "fc", "--volatile-period", "0.01"), "'0.01' must be between 0.1 and 3600 seconds"),
        (("sim", "android", "--rate", "0"), "'0' must be a positive number"),
        (("sim", "android", "--rate", "inf"), "'inf' must be a positive number"),
        (("sim", "dji", "--drip", "nan"), "'nan' must be between 0 and 3600 seconds"),
        (("sim", "dji", "--garbage", "2"), "'2' must be a probability between 0 and 1"),
    ],
)
def test_simulator_numbers_are_checked(attest: Callable[..., Run], args: tuple[str, ...], message: str) -> None:
    """Out-of-range, non-finite or non-numeric simulator settings: exit 2 naming the value, no simulator started."""
    r = attest(*args)
    assert r.code == 2 and message in r.err, (r.out, r.err)
    assert r.out == ""
