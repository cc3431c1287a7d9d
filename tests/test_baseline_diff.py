"""``attest baseline diff`` and ``attest baseline propose``: the pure diff, and both commands end to end.

The commands run in real subprocesses. Until ``attest baseline``'s register
adds them (one call to ``register_diff_and_propose``), the subprocess adds
them itself (``_BOOT``); once wired, the boot code changes nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Fleet, Run, make_fleet, run_attest

from attest.baseline import Baseline
from attest.baseline_diff import Side, diff_baselines, render_text
from attest.model import Component, Method
from attest.rules import Rule

pytest_plugins = ["fc_fixture"]

# -- the pure diff ---------------------------------------------------------------------------------

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 2, 1, tzinfo=UTC)
D1, D2 = "1" * 64, "2" * 64


def _file(name: str, digest: str = D1, **attrs: Any) -> Component:
    return Component(name, "file", digest, {"mode": "0644", "uid": 0, "gid": 0, **attrs})


def _param(name: str, value: str) -> Component:
    """A parameter as its own component (the per-parameter baseline format), value in its attributes."""
    return Component(f"param/{name}", "parameter", None, {"value": value}, Method.DEVICE_REPORTED)


def _baseline(*components: Component, **fields: Any) -> Baseline:
    defaults: dict[str, Any] = {
        "name": "companion",
        "version": 1,
        "created": T1,
        "expires": None,
        "device_kind": "directory",
        "device_match": {},
        "collection": {"selection": {"include": ["**"], "exclude": []}},
        "components": {c.name: c for c in components},
        "rules": {},
        "compare_owner": True,
    }
    return Baseline(**{**defaults, **fields})


def _side(b: Baseline, file: str = "x.json", digest: str | None = None) -> Side:
    return Side(file, b, digest or hashlib.sha256(b.to_payload()).hexdigest(), signed=False)


def _text(a: Baseline, b: Baseline) -> str:
    out = io.StringIO()
    render_text(diff_baselines(_side(a, "a.json"), _side(b, "b.json")), out)
    return out.getvalue()


def test_the_same_baseline_has_no_differences() -> None:
    b = _baseline(_file("etc/x"))
    d = diff_baselines(_side(b), _side(b))
    assert d.same and not d.unexplained and d.warnings == []
    obj = d.to_json()
    assert obj["components"] == {"added": [], "removed": [], "changed": [], "count": {"old": 1, "new": 1}}
    assert "no differences: the same payload" in _text(b, b)


def test_components_added_removed_and_changed() -> None:
    """Digest and attribute changes are named per component; new files show every attribute."""
    a = _baseline(_file("etc/keep"), _file("etc/gone"), _file("usr/bin/px4"), _file("usr/bin/sh", mode="0755"))
    b = _baseline(
        _file("etc/keep"),
        _file("etc/new", D2, mode="4755"),
        _file("usr/bin/px4", D2),
        _file("usr/bin/sh", mode="4755"),
        version=2,
    )
    obj = diff_baselines(_side(a), _side(b)).to_json()
    comps = obj["components"]
    assert [c["name"] for c in comps["added"]] == ["etc/new"]
    assert comps["added"][0]["value"]["digest"] == {"sha256": D2}
    assert [c["name"] for c in comps["removed"]] == ["etc/gone"]
    assert [c["name"] for c in comps["changed"]] == ["usr/bin/px4", "usr/bin/sh"]
    px4 = comps["changed"][0]
    assert px4["old"]["digest"] == {"sha256": D1} and px4["new"]["digest"] == {"sha256": D2}  # full in JSON
    text = _text(a, b)
    assert "components: 1 added, 1 removed, 2 changed (4 → 4 components)" in text
    assert "  etc/new added: file sha256:222222222222… gid=0 mode=4755 uid=0\n" in text  # a new setuid file shows
    assert "  etc/gone removed: file sha256:111111111111…" in text
    assert "  usr/bin/px4 changed sha256:111111111111… → sha256:222222222222…\n" in text  # shortened in text
    assert "  usr/bin/sh changed mode 0755 → 4755\n" in text
    assert "etc/keep" not in text


def test_a_changed_parameter_reads_with_both_values() -> None:
    """Per-parameter components: ``param/RTL_ALT changed 1500 → 2345``; added and removed ones too."""
    a = _baseline(_param("RTL_ALT", "1500"), _param("OLD", "1"), device_kind="mavlink")
    b = _baseline(_param("RTL_ALT", "2345"), _param("NEW", "0.25"), device_kind="mavlink", version=2)
    text = _text(a, b)
    assert "  param/RTL_ALT changed 1500 → 2345\n" in text
    assert "  param/NEW added: parameter value=0.25 (device-reported)\n" in text
    assert "  param/OLD removed: parameter value=1 (device-reported)\n" in text
    changed = diff_baselines(_side(a), _side(b)).to_json()["components"]["changed"]
    assert changed == [
        {
            "name": "param/RTL_ALT",
            "old": {"kind": "parameter", "method": "device-reported", "attributes": {"value": "1500"}},
            "new": {"kind": "parameter", "method": "device-reported", "attributes": {"value": "2345"}},
        }
    ]


def test_the_parameter_set_digest_of_older_baselines_is_a_change_too() -> None:
    """One ``fc/params`` digest over all parameters (today's format): the change shows, with what it cannot say."""

    def params(digest: str, count: int) -> Component:
        attrs = {"count": count, "total": count, "source": "ftp:@PARAM/param.pck"}
        return Component("fc/params", "parameters", digest, attrs, Method.DEVICE_REPORTED)

    text = _text(_baseline(params(D1, 10), device_kind="mavlink"), _baseline(params(D2, 11), device_kind="mavlink"))
    assert "fc/params changed sha256:111111111111… → sha256:222222222222…; count 10 → 11; total 10 → 11" in text
    assert "one digest over the parameters, not each value" in text


def test_true_is_not_1_and_digests_alike_in_short_form_print_in_full() -> None:
    """JSON types count (Python's True == 1 would hide this), and a digest change never reads as no change."""
    x, y = "ab" * 6 + "0" * 52, "ab" * 6 + "f" * 52  # the same first 12 hex digits
    a = _baseline(Component("fc/x", "blob", x, {"flag": 1}))
    b = _baseline(Component("fc/x", "blob", y, {"flag": True}))
    d = diff_baselines(_side(a), _side(b))
    assert [c["name"] for c in d.to_json()["components"]["changed"]] == ["fc/x"]
    text = _text(a, b)
    assert f"fc/x changed sha256:{x} → sha256:{y}; flag 1 → true" in text


def test_version_expiry_rules_selector_collection_and_owner() -> None:
    a = _baseline(
        _file("etc/x"),
        expires=datetime(2030, 1, 1, tzinfo=UTC),
        device_match={"board_id": "140", "gone": "1"},
        collection={"selection": {"include": ["**"], "exclude": ["var/log/**"]}, "measure": ["params"]},
        rules={
            "param/RTL_ALT": Rule("param/RTL_ALT", minimum=1000, maximum=2000),
            "param/X": Rule("param/X", equals=1),
        },
    )
    b = _baseline(
        _file("etc/x"),
        version=2,
        created=T2,
        device_match={"board_id": "141", "uid": "00aa"},
        collection={"selection": {"include": ["etc/**", "usr/**"], "exclude": []}, "measure": ["params", "flash"]},
        rules={
            "param/RTL_ALT": Rule("param/RTL_ALT", minimum=1000, maximum=3000),
            "param/FENCE_ENABLE": Rule("param/FENCE_ENABLE", equals=1),
        },
        compare_owner=False,
    )
    obj = diff_baselines(_side(a), _side(b)).to_json()
    assert obj["version"] == {"old": 1, "new": 2}
    assert obj["expires"] == {"old": "2030-01-01T00:00:00Z", "new": None}
    assert obj["created"] == {"old": "2026-01-01T00:00:00Z", "new": "2026-02-01T00:00:00Z"}
    assert obj["device"]["match"] == {
        "added": [{"name": "uid", "value": "00aa"}],
        "removed": [{"name": "gone", "value": "1"}],
        "changed": [{"name": "board_id", "old": "140", "new": "141"}],
    }
    assert obj["collection"]["include"] == {"added": ["etc/**", "usr/**"], "removed": ["**"]}
    assert obj["collection"]["exclude"] == {"added": [], "removed": ["var/log/**"]}
    assert obj["collection"]["settings"]["changed"] == [
        {"name": "measure", "old": ["params"], "new": ["params", "flash"]}
    ]
    assert obj["compare"]["owner"] == {"old": True, "new": False}
    assert obj["rules"] == {
        "added": [{"name": "param/FENCE_ENABLE", "value": {"equals": 1}}],
        "removed": [{"name": "param/X", "value": {"equals": 1}}],
        "changed": [{"name": "param/RTL_ALT", "old": {"min": 1000, "max": 2000}, "new": {"min": 1000, "max": 3000}}],
    }
    assert obj["components"]["changed"] == []
    text = _text(a, b)
    for line in (
        "version:    1 → 2",
        "created:    2026-01-01T00:00:00Z → 2026-02-01T00:00:00Z",
        "expires:    2030-01-01T00:00:00Z → never",
        "device:     uid=00aa added; gone=1 removed; board_id 140 → 141",
        "  include:  +etc/** +usr/** -**",
        "  exclude:  -var/log/**",
        '  measure ["params"] → ["params","flash"]',
        "owner:      true (uid/gid compared) → false (uid/gid NOT compared)",
        "rules: 1 added, 1 removed, 1 changed",
        "  param/FENCE_ENABLE added: 1",
        "  param/X removed: 1",
        "  param/RTL_ALT changed 1000..2000 → 1000..3000",
    ):
        assert line + "\n" in text, (line, text)


def test_include_order_is_not_a_change() -> None:
    """Include and exclude are sets: reordering them selects the same paths."""
    a = _baseline(_file("x"), collection={"selection": {"include": ["a/**", "b/**"], "exclude": []}})
    b = _baseline(_file("x"), collection={"selection": {"include": ["b/**", "a/**"], "exclude": []}})
    d = diff_baselines(_side(a), _side(b))
    assert not d.include and not d.exclude and not d.settings


def test_other_names_kinds_and_versions_are_warned_about() -> None:
    a = _baseline(_file("x"), version=3)
    other = diff_baselines(_side(a), _side(_baseline(_file("x"), name="fc", device_kind="mavlink", version=4)))
    assert other.warnings[0].startswith("different baselines: name companion → fc")
    assert other.warnings[1] == "different device kinds: directory → mavlink"
    down = diff_baselines(_side(a), _side(_baseline(_file("x", D2), version=2)))
    assert down.warnings == ["the version goes down (3 → 2): a dock that accepted A refuses B as a rollback"]
    level = diff_baselines(_side(a), _side(_baseline(_file("x", D2), version=3)))
    assert "same version 3 with different contents" in level.warnings[0]
    assert "WARNING: same version 3" in _text(a, _baseline(_file("x", D2), version=3))


def test_a_payload_difference_nothing_explains_is_never_no_change() -> None:
    """Equal fields but other payload digests: the bytes differ where this diff does not read (exit 1 too)."""
    b = _baseline(_file("x"))
    d = diff_baselines(_side(b, digest="a" * 64), _side(b, digest="b" * 64))
    assert not d.same and d.unexplained
    assert any("does not read" in w for w in d.warnings)


def test_a_predicate_field_without_a_section_is_diffed_under_other() -> None:
    """The seam for later fields: a predicate key this version has no section for is shown, not dropped."""

    @dataclasses.dataclass(frozen=True)
    class WithLater(Baseline):
        later: tuple[str, ...] = ()

        def to_statement(self) -> dict[str, Any]:
            s = super().to_statement()
            s["predicate"]["later"] = list(self.later)
            return s

    fields = dataclasses.asdict(_baseline(_file("x")))
    fields["components"] = {"x": _file("x")}
    a = WithLater(**fields, later=("param/STAT_*",))
    b = WithLater(**fields, later=("param/STAT_*", "ftp/logs/**"))
    d = diff_baselines(_side(a), _side(b))
    assert d.to_json()["other"]["changed"] == [
        {"name": "later", "old": ["param/STAT_*"], "new": ["param/STAT_*", "ftp/logs/**"]}
    ]
    assert not d.unexplained
    assert '  later changed ["param/STAT_*"] → ["param/STAT_*","ftp/logs/**"]' in _text(a, b)


def test_advisory_globs_have_a_section_of_their_own() -> None:
    """Advisory globs compare as a set (order is no change); added and removed globs show, never under other."""
    a = _baseline(_file("x"), advisory=("param/STAT_*", "var/cache/**"))
    b = _baseline(_file("x"), advisory=("var/cache/**", "ftp/logs/**"))
    d = diff_baselines(_side(a), _side(b))
    obj = d.to_json()
    assert obj["advisory"] == {"added": ["ftp/logs/**"], "removed": ["param/STAT_*"]}
    assert obj["other"] == {"added": [], "removed": [], "changed": []}
    assert not d.unexplained
    assert "advisory:   +ftp/logs/** -param/STAT_* (differences there do not block)" in _text(a, b)
    # A first advisory glob on a baseline that had none is a change a reviewer sees.
    none = _baseline(_file("x"))
    assert diff_baselines(_side(none), _side(a)).to_json()["advisory"]["added"] == ["param/STAT_*", "var/cache/**"]
    reordered = diff_baselines(_side(a), _side(_baseline(_file("x"), advisory=("var/cache/**", "param/STAT_*"))))
    assert not reordered.advisory  # a set, as include and exclude are


def test_text_escapes_control_and_format_characters() -> None:
    """A name or value from a device cannot rewrite the reviewer's terminal."""
    a = _baseline(_file("etc/x"))
    b = _baseline(_file("etc/x"), _file("etc/\x1b[2Jevil\u202e", target="a\x07b"))
    text = _text(a, b)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "etc/\\x1b[2Jevil\\u202e added:" in text and "target=a\\x07b" in text


# -- the commands ----------------------------------------------------------------------------------

#: Runs ``attest`` with ``diff`` and ``propose`` added to ``attest baseline`` if its register does not add them yet.
_BOOT = """
import argparse, sys
import attest._cli.baseline as baseline
from attest._cli import main
from attest._cli._baseline_promote import register_diff_and_propose

_register = baseline.register

def register(sub):
    _register(sub)
    (actions,) = [a for a in sub.choices["baseline"]._actions if isinstance(a, argparse._SubParsersAction)]
    if "diff" not in actions.choices:
        register_diff_and_propose(actions)

baseline.register = register
sys.exit(main(sys.argv[1:]))
"""


def _run(*args: str | os.PathLike[str], prefix: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", _BOOT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def _create(device: Path, out: Path, *extra: str, version: int = 1) -> Path:
    r = run_attest(
        ["baseline", "create", "--device", device, "--name", "companion", "--version", str(version), "--out", out,
         "--exclude", "var/log/**", "--force", *extra]
    )  # fmt: skip
    assert r.code == 0, r.err
    return out


def _sign(path: Path, key: Path, out: Path) -> Path:
    r = run_attest(["baseline", "sign", path, "--key", key, "--out", out])
    assert r.code == 0, r.err
    return out


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    r = run_attest(["sim", "tree", "--out", tmp_path / "golden"])
    assert r.code == 0, r.err
    return tmp_path / "golden"


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return make_fleet(tmp_path / "fleet")


def test_diff_exit_codes_and_json(golden: Path, fleet: Fleet, tmp_path: Path) -> None:
    """0 the same payload (unsigned vs signed), 1 different, 2 a path that cannot be read, 4 not a baseline."""
    v1 = _create(golden, tmp_path / "v1.json", "--expires", "2030-01-01")
    signed = _sign(v1, fleet.keys[0], tmp_path / "v1.signed.json")
    same = _run("baseline", "diff", v1, signed)
    assert same.code == 0, same.err
    assert "no differences: the same payload" in same.out
    assert "signatures: not checked" in same.out

    (golden / "etc/hostname").write_text("other\n")
    v2 = _create(golden, tmp_path / "v2.json", version=2)
    r = _run("baseline", "diff", signed, v2, "--json")
    assert r.code == 1, r.err
    assert r.out.count("\n") == 1
    obj = r.json()
    payload = base64.b64decode(json.loads(signed.read_text())["payload"])
    assert obj["a"]["digest"] == hashlib.sha256(payload).hexdigest()  # the signed payload's, not the file's
    assert obj["a"]["signed"] is True and obj["b"]["signed"] is False
    assert obj["a"]["name"] == "companion" and (obj["a"]["version"], obj["b"]["version"]) == (1, 2)
    assert obj["signatures_checked"] is False and obj["same"] is False
    assert obj["expires"] == {"old": "2030-01-01T00:00:00Z", "new": None}
    assert [c["name"] for c in obj["components"]["changed"]] == ["etc/hostname"]
    assert set(obj) >= {"device", "collection", "compare", "rules", "other", "warnings", "unexplained", "created"}

    missing = _run("baseline", "diff", v1, tmp_path / "none.json")
    assert missing.code == 2 and "cannot read baseline" in missing.err
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"a": 1, "a": 2}')
    bad = _run("baseline", "diff", v1, garbage)
    assert bad.code == 4 and "Traceback" not in bad.err


def test_diff_of_two_signed_baselines_shows_a_payload_difference_it_cannot_read(
    golden: Path, fleet: Fleet, tmp_path: Path
) -> None:
    """A signed payload with a predicate field attest does not read differs: exit 1 and a warning, never "same"."""
    import rfc8785

    from attest.baseline import PAYLOAD_TYPE
    from attest.signing import Envelope, load_private_key

    v1 = _create(golden, tmp_path / "v1.json")
    signed = _sign(v1, fleet.keys[0], tmp_path / "v1.signed.json")
    statement = json.loads(base64.b64decode(json.loads(signed.read_text())["payload"]))
    statement["predicate"]["later"] = ["etc/**"]  # a field a later format may add
    env = Envelope(payload=bytes(rfc8785.dumps(statement)), payload_type=PAYLOAD_TYPE)
    extra = tmp_path / "extra.signed.json"
    extra.write_bytes(env.signed_by(load_private_key(fleet.keys[0])).to_bytes(indent=2))
    r = _run("baseline", "diff", signed, extra)
    assert r.code == 1, r.out + r.err
    assert "WARNING: the payloads differ in a field this version of attest does not read" in r.out


def test_propose_measures_with_currents_settings_and_the_result_verifies(
    golden: Path, fleet: Fleet, tmp_path: Path
) -> None:
    """NEXT keeps CURRENT's name, selection, rules and owner setting; signed, it passes on the updated drone."""
    v1 = _create(golden, tmp_path / "v1.json", "--expires", "2030-01-01", "--ignore-owner")
    current = _sign(v1, fleet.keys[0], tmp_path / "v1.signed.json")
    (golden / "etc/hostname").write_text("updated\n")  # the approved update
    (golden / "etc/new.conf").write_text("x=1\n")
    (golden / "var/log").mkdir(parents=True, exist_ok=True)
    (golden / "var/log/noise").write_text("excluded by CURRENT\n")
    nxt = tmp_path / "v2.json"
    r = _run("baseline", "propose", "--device", golden, "--from", current, "--version", "2", "--out", nxt)
    assert r.code == 0, r.err
    assert "unsigned: nothing trusts it until a threshold of signers signs it" in r.out
    assert "a (CURRENT): signatures not checked (no --trust)" in r.out
    assert "  etc/new.conf added: file" in r.out and "  etc/hostname changed sha256:" in r.out
    assert "expires:    2030-01-01T00:00:00Z → never" in r.out
    assert "the proposal never expires" in r.err

    old, new = json.loads(v1.read_text())["predicate"], json.loads(nxt.read_text())["predicate"]
    assert (new["name"], new["version"], new["expires"]) == ("companion", 2, None)
    assert new["collection"] == old["collection"] and new["compare"] == {"owner": False}
    assert new["device"] == old["device"] and new["rules"] == old["rules"]
    assert "etc/new.conf" in new["components"] and not any(c.startswith("var/log/") for c in new["components"])

    state = {"ATTEST_STATE_DIR": str(tmp_path / "state")}
    signed = _sign(nxt, fleet.keys[0], tmp_path / "v2.signed.json")
    after = run_attest(["verify", "--device", golden, "--baseline", signed, "--trust", fleet.trust], env=state)
    assert after.code == 0, after.out + after.err
    before = run_attest(["verify", "--device", golden, "--baseline", current, "--trust", fleet.trust], env=state)
    assert before.code == 4  # v1 after v2 was accepted: a rollback


def test_propose_with_trust_checks_currents_signatures(golden: Path, fleet: Fleet, tmp_path: Path) -> None:
    """--trust: CURRENT must be signed by the threshold (exit 4 otherwise), and the output says it was checked."""
    v1 = _create(golden, tmp_path / "v1.json")
    stranger = make_fleet(tmp_path / "stranger")
    args = ["--device", golden, "--version", "2", "--trust", fleet.trust, "--force"]
    unsigned = _run("baseline", "propose", "--from", v1, "--out", tmp_path / "a.json", *args)
    assert unsigned.code == 4 and "unsigned" in unsigned.err
    by_stranger = _sign(v1, stranger.keys[0], tmp_path / "stranger.json")
    r = _run("baseline", "propose", "--from", by_stranger, "--out", tmp_path / "b.json", *args)
    assert r.code == 4 and "1 required" in r.err
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
    good = _sign(v1, fleet.keys[0], tmp_path / "good.json")
    ok = _run("baseline", "propose", "--from", good, "--out", tmp_path / "c.json", *args)
    assert ok.code == 0, ok.err
    assert "a (CURRENT): signatures checked against" in ok.out and "1 valid (fleet-1), 1 required" in ok.out


def test_propose_refusals_write_nothing(golden: Path, tmp_path: Path) -> None:
    """Version not higher, --out existing or --from itself, another device kind: exit 2 before measuring."""
    v3 = _create(golden, tmp_path / "v3.json", version=3)
    out = tmp_path / "next.json"
    base = ["baseline", "propose", "--device", golden, "--from", v3]
    for version in ("3", "2"):
        r = _run(*base, "--version", version, "--out", out)
        assert r.code == 2 and "must be higher than" in r.err and "version 3" in r.err
    assert not out.exists()
    out.write_text("keep")
    r = _run(*base, "--version", "4", "--out", out)
    assert r.code == 2 and "--force" in r.err and out.read_text() == "keep"
    r = _run(*base, "--version", "4", "--out", v3, "--force")
    assert r.code == 2 and "is --from itself" in r.err
    missing = _run("baseline", "propose", "--device", golden, "--from", tmp_path / "no.json", "--version", "2",
                   "--out", tmp_path / "n.json")  # fmt: skip
    assert missing.code == 2 and "cannot read baseline" in missing.err

    statement = json.loads(v3.read_text())
    statement["predicate"]["device"] = {"kind": "mavlink", "match": {"board_id": "140"}}
    fc = tmp_path / "fc.json"
    fc.write_text(json.dumps(statement))
    r = _run("baseline", "propose", "--device", golden, "--from", fc, "--version", "4", "--out", tmp_path / "m.json")
    assert r.code == 2 and "is a mavlink baseline" in r.err and "directory target" in r.err
    assert not (tmp_path / "m.json").exists()


def _without_dac_override() -> tuple[str, ...]:
    """A command prefix under which file permissions apply to this process, root or not."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: cannot make a file unreadable to root")
    caps = "-dac_override,-dac_read_search"
    return (setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}")


def test_propose_refuses_a_drone_with_an_unreadable_component(golden: Path, tmp_path: Path) -> None:
    """Like create: a baseline must be complete (exit 3, nothing written)."""
    v1 = _create(golden, tmp_path / "v1.json")
    secret = golden / "etc/hostname"
    secret.chmod(0o000)
    try:
        r = _run("baseline", "propose", "--device", golden, "--from", v1, "--version", "2", "--out",
                 tmp_path / "v2.json", prefix=_without_dac_override())  # fmt: skip
    finally:
        secret.chmod(0o644)
    assert r.code == 3, r.out + r.err
    assert "could not be read" in r.err and "etc/hostname" in r.err
    assert not (tmp_path / "v2.json").exists()


# -- against the simulated flight controller --------------------------------------------------------

SMALL_FLASH = ("--flash-size", "256")


def test_propose_from_a_flight_controller_baseline(sim_fc: Any, fc_bench: Any, tmp_path: Path) -> None:
    """An updated controller: NEXT keeps the board selector and rules, the parameter change is in the diff."""
    current = fc_bench.create(sim_fc(*SMALL_FLASH).path, "--rule", "param/RTL_ALT=1000..3000")
    updated = sim_fc(*SMALL_FLASH, "--param", "RTL_ALT=2345").path
    nxt = tmp_path / "fc2.json"
    r = _run("baseline", "propose", "--device", updated, "--from", current, "--version", "2", "--out", nxt,
             "--timeout", "5", "--trust", fc_bench.fleet.trust)  # fmt: skip
    assert r.code == 0, r.out + r.err
    assert "signatures checked against" in r.out
    # Either format: one component per parameter, or the one digest over all of them.
    assert "param/RTL_ALT changed 1500 → 2345" in r.out or "fc/params changed sha256:" in r.out, r.out
    predicate = json.loads(nxt.read_text())["predicate"]
    assert predicate["device"] == {"kind": "mavlink", "match": {"board_id": "140"}}
    assert predicate["rules"] == {"param/RTL_ALT": {"min": 1000, "max": 3000}}
    signed = _sign(nxt, fc_bench.fleet.keys[0], tmp_path / "fc2.signed.json")
    assert fc_bench.verify(updated, signed).code == 0


def test_propose_refuses_another_board(sim_fc: Any, fc_bench: Any, tmp_path: Path) -> None:
    """CURRENT's selector (board 140) says nothing about a PX4 board 53: exit 4, as verify, nothing written."""
    current = fc_bench.create(sim_fc(*SMALL_FLASH).path)
    other = sim_fc("--autopilot", "px4", *SMALL_FLASH).path
    r = _run("baseline", "propose", "--device", other, "--from", current, "--version", "2", "--out",
             tmp_path / "x.json", "--timeout", "5")  # fmt: skip
    assert r.code == 4, r.out + r.err
    assert "board_id is '53', baseline requires '140'" in r.err and "nothing written" in r.err
    assert not (tmp_path / "x.json").exists()
