"""Paths on the command line (issue 10, items 10 and 11): a path that names no readable file is a usage error.

A baseline, ticket, key or trust path that does not exist, is a directory or
cannot be read is exit 2 with one line naming it, before anything is measured,
logged or written; a file that exists but holds something bad keeps its own
code. ``baseline sign --out`` never replaces another file without ``--force``;
``--expires`` takes a date; ``key generate --json`` prints one object.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run, run_attest

from attest.signing import key_id, load_public_key


def _tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/app.conf").write_text("upload=false\n")
    return root


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    return _tree(tmp_path / "golden")


@pytest.fixture
def signed(attest: Callable[..., Run], fleet: Fleet, golden: Path, tmp_path: Path) -> Path:
    out = tmp_path / "b.json"
    r = attest("baseline", "create", "--device", golden, "--name", "b", "--version", "1", "--out", out)
    assert r.code == 0, r.err
    assert attest("baseline", "sign", out, "--key", fleet.keys[0]).code == 0
    return out


def _usage_error(r: Run, path: Path | str) -> str:
    """Exit 2, nothing on stdout, and an error line that names the path."""
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == ""
    assert "Traceback" not in r.err
    errors = [line for line in r.err.splitlines() if line.startswith("attest: error: ")]
    assert len(errors) == 1, r.err
    assert str(path) in errors[0], errors[0]
    return errors[0]


def _commands(fleet: Fleet, signed: Path, golden: Path, bad: Path) -> dict[str, list[str | Path]]:
    verify = ["verify", "--device", golden, "--trust", fleet.trust, "--json"]
    return {
        "verify --baseline": [*verify, "--baseline", bad],
        "verify --baseline with --dock-key": [*verify, "--baseline", bad, "--dock-key", fleet.dir / "dock.key"],
        "verify --trust": ["verify", "--device", golden, "--baseline", signed, "--trust", bad, "--json"],
        "verify --dock-key": [*verify, "--baseline", signed, "--dock-key", bad],
        "baseline show": ["baseline", "show", bad],
        "baseline show --trust": ["baseline", "show", signed, "--trust", bad],
        "baseline sign": ["baseline", "sign", bad, "--key", fleet.keys[0]],
        "baseline sign --key": ["baseline", "sign", signed, "--key", bad],
        "gate verify-ticket": ["gate", "verify-ticket", bad, "--vkey", "dock+0a1b2c3d+" + "A" * 44],
    }


COMMANDS = [
    "verify --baseline",
    "verify --baseline with --dock-key",
    "verify --trust",
    "verify --dock-key",
    "baseline show",
    "baseline show --trust",
    "baseline sign",
    "baseline sign --key",
    "gate verify-ticket",
]


@pytest.fixture
def dock_key(fleet: Fleet) -> Path:
    key = fleet.dir / "dock.key"
    assert run_attest(["key", "generate", "--out", key]).code == 0
    return key


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_path_that_names_no_readable_file_is_exit_2(  # noqa: PLR0917 (pytest parameters)
    attest: Callable[..., Run],
    fleet: Fleet,
    signed: Path,
    golden: Path,
    dock_key: Path,
    tmp_path: Path,
    command: str,
    kind: str,
) -> None:
    """Before the fix a missing or directory baseline was exit 4 (untrusted) and a missing ticket exit 1."""
    del dock_key
    bad = tmp_path / "nothing-here.json"
    if kind == "directory":
        bad.mkdir()
    before = signed.read_bytes()
    r = attest(*_commands(fleet, signed, golden, bad)[command])
    _usage_error(r, bad)
    assert signed.read_bytes() == before  # nothing signed or rewritten
    assert not (tmp_path / "state" / "log").exists()


def _without_dac_override() -> list[str]:
    """A command prefix under which file permissions apply to this process, root or not."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: cannot make a file unreadable to root")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


@pytest.mark.parametrize("command", ["verify --baseline", "baseline show", "baseline sign", "gate verify-ticket"])
def test_a_file_without_read_permission_is_exit_2(  # noqa: PLR0917 (pytest parameters)
    attest: Callable[..., Run],
    fleet: Fleet,
    signed: Path,
    golden: Path,
    dock_key: Path,
    tmp_path: Path,
    command: str,
) -> None:
    del dock_key
    bad = tmp_path / "locked.json"
    bad.write_bytes(signed.read_bytes())
    bad.chmod(0o000)
    r = attest(*_commands(fleet, signed, golden, bad)[command], prefix=_without_dac_override())
    assert "Permission denied" in _usage_error(r, bad)


def test_a_missing_baseline_with_a_dock_key_logs_nothing(  # noqa: PLR0917 (pytest fixtures)
    attest: Callable[..., Run], fleet: Fleet, signed: Path, golden: Path, dock_key: Path, tmp_path: Path
) -> None:
    """A usage error is not a result about a device: no entry, and no log created for it."""
    log = tmp_path / "log"
    args = ["verify", "--device", golden, "--trust", fleet.trust, "--json", "--dock-key", dock_key, "--log", log]
    _usage_error(attest(*args, "--baseline", tmp_path / "missing.json"), tmp_path / "missing.json")
    assert not log.exists()
    first = attest(*args, "--baseline", signed)
    assert first.code == 0 and first.json()["log_index"] == 0
    _usage_error(attest(*args, "--baseline", tmp_path / "missing.json"), tmp_path / "missing.json")
    rows = json.loads(attest("log", "show", "--log", log, "--json").out)
    assert [r["verdict"] for r in rows] == ["pass"]


@pytest.mark.parametrize("content", [b"not json", b""])
def test_a_readable_file_with_bad_content_keeps_exit_4(
    attest: Callable[..., Run], fleet: Fleet, golden: Path, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    verify = attest("verify", "--device", golden, "--baseline", bad, "--trust", fleet.trust, "--json")
    assert verify.code == 4 and verify.json()["verdict"] == "untrusted"
    assert attest("baseline", "show", bad).code == 4
    assert attest("baseline", "sign", bad, "--key", fleet.keys[0]).code == 4


# -- baseline sign --out ------------------------------------------------------------------------------


def test_sign_refuses_to_replace_another_file_without_force(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    """Before the fix `--out trust.toml` replaced the trust policy with a baseline."""
    policy = fleet.trust.read_bytes()
    r = attest("baseline", "sign", signed, "--key", fleet.keys[0], "--out", fleet.trust)
    assert r.code == 2 and "--force" in r.err and str(fleet.trust) in r.err
    assert fleet.trust.read_bytes() == policy

    dangling = tmp_path / "link.json"
    dangling.symlink_to(tmp_path / "nowhere")
    assert attest("baseline", "sign", signed, "--key", fleet.keys[0], "--out", dangling).code == 2
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()

    other = tmp_path / "other.json"
    other.write_text("old\n")
    r = attest("baseline", "sign", signed, "--key", fleet.keys[0], "--out", other, "--force")
    assert r.code == 0, r.err
    assert json.loads(other.read_text())["signatures"]


def test_sign_writes_a_new_out_or_in_place(
    attest: Callable[..., Run], fleet: Fleet, signed: Path, tmp_path: Path
) -> None:
    new = tmp_path / "new.json"
    assert attest("baseline", "sign", signed, "--key", fleet.keys[0], "--out", new).code == 0
    assert new.read_bytes() == signed.read_bytes()  # re-signing with the same key replaces its signature
    # --out naming FILE itself is signing in place, as without --out.
    assert attest("baseline", "sign", signed, "--key", fleet.keys[0], "--out", signed).code == 0
    assert attest("baseline", "sign", signed, "--key", fleet.keys[0]).code == 0


# -- --expires DATE -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("2027-01-31", "2027-01-31T00:00:00Z"), ("2027-01-31T01:00:00+01:00", "2027-01-31T00:00:00Z")],
)
def test_expires_takes_a_date_as_midnight_utc(
    attest: Callable[..., Run], golden: Path, tmp_path: Path, given: str, stored: str
) -> None:
    out = tmp_path / "b.json"
    r = attest(
        "baseline", "create", "--device", golden, "--name", "b", "--version", "1", "--expires", given, "--out", out
    )
    assert r.code == 0, r.err
    assert json.loads(out.read_text())["predicate"]["expires"] == stored


@pytest.mark.parametrize("given", ["2027-02-30", "2027-01-31T00:00:00", "31.01.2027"])
def test_expires_refuses_what_is_not_a_date_or_a_zoned_time(
    attest: Callable[..., Run], golden: Path, tmp_path: Path, given: str
) -> None:
    out = tmp_path / "b.json"
    r = attest(
        "baseline", "create", "--device", golden, "--name", "b", "--version", "1", "--expires", given, "--out", out
    )
    assert r.code == 2 and "--expires" in r.err and len(r.err.splitlines()) == 1, r.err
    assert not out.exists()


# -- key generate --json -----------------------------------------------------------------------------


def test_key_generate_json_is_one_object(tmp_path: Path) -> None:
    r = run_attest(["key", "generate", "--out", tmp_path / "dock.key", "--json"])
    assert r.code == 0, r.err
    assert len(r.out.splitlines()) == 1
    obj = json.loads(r.out)
    assert set(obj) == {"private_key_path", "public_key_path", "public_key", "key_id"}
    assert obj["private_key_path"] == str(tmp_path / "dock.key")
    assert obj["public_key_path"] == str(tmp_path / "dock.pub")
    assert obj["public_key"] == (tmp_path / "dock.pub").read_text()
    public = load_public_key(tmp_path / "dock.pub")
    assert obj["key_id"] == key_id(public)
    again = run_attest(["key", "generate", "--out", tmp_path / "dock.key", "--json"])
    assert again.code == 2 and again.out == "" and "already exists" in again.err
