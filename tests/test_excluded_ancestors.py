"""Issue 10 item 12: directories that only lead to excluded subtrees are not findings.

With ``--exclude 'var/log/**'``, a ``var/log`` (and a ``var`` holding nothing
else) that appear on the device are not ``unexpected``; a new file directly in
``var`` still is, and so is ``var`` then. A baseline measures ``var/log`` when
it is there (it is selected), and a verification compares it as usual. Checked
on the pure rule, on the directory collector, and on both SSH methods against
a real sshd.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet, run_attest
from sshd_fixture import Sshd

from attest.collectors.directory import DirectoryCollector
from attest.model import Component, Evidence
from attest.selection import Selection

EXCLUDE_LOGS = Selection(exclude=("var/log/**",))
SETTINGS = {"selection": EXCLUDE_LOGS.to_json()}


def _never(_: str) -> bool:
    return False


# -- the rule ------------------------------------------------------------------------------------------


def test_a_pruned_directory_and_an_ancestor_holding_only_it_are_lead_ins() -> None:
    listed = [("var", True), ("var/log", True)]
    assert EXCLUDE_LOGS.lead_ins(listed, keep=_never) == {"var", "var/log"}


def test_a_pruned_directory_is_a_lead_in_even_when_empty() -> None:
    """'var/log/**' excludes whatever var/log holds: its being empty changes nothing."""
    assert EXCLUDE_LOGS.lead_ins([("var/log", True)], keep=_never) == {"var/log"}


def test_a_new_file_directly_in_var_keeps_var_reported() -> None:
    """Fail closed: var leads to something measured, so var is reported with it; var/log is still not."""
    listed = [("var", True), ("var/log", True), ("var/planted", False)]
    assert EXCLUDE_LOGS.lead_ins(listed, keep=_never) == {"var/log"}


def test_an_empty_new_directory_is_reported() -> None:
    sel = Selection(exclude=("**/*.log",))
    assert sel.lead_ins([("var", True), ("var/empty", True)], keep=_never) == set()


def test_a_directory_holding_only_excluded_files_is_a_lead_in() -> None:
    sel = Selection(exclude=("**/*.log",))
    listed = [("var", True), ("var/log", True), ("var/log/a.log", False), ("var/log/b.log", False)]
    assert sel.lead_ins(listed, keep=_never) == {"var", "var/log"}
    listed.append(("var/log/c.txt", False))
    assert sel.lead_ins(listed, keep=_never) == set()


def test_names_the_baseline_holds_or_errors_are_never_lead_ins_and_keep_their_ancestors() -> None:
    listed = [("var", True), ("var/log", True)]
    assert EXCLUDE_LOGS.lead_ins(listed, keep=lambda n: n == "var/log") == set()
    assert EXCLUDE_LOGS.lead_ins(listed, keep=lambda n: n == "var") == {"var/log"}


def test_an_entry_outside_every_include_is_not_an_excluded_subtree() -> None:
    """Only excludes hush a directory: one holding an entry no include selects is reported as before."""
    sel = Selection(include=("var", "var/log", "var/lib/**"), exclude=("var/log/**",))
    listed = [("var", True), ("var/log", True), ("var/other", False)]
    assert sel.lead_ins(listed, keep=_never) == {"var/log"}


def test_an_excluded_directory_with_selected_content_keeps_its_parent_reported() -> None:
    sel = Selection(exclude=("var/cache",))  # the directory itself only: what is below it is selected
    listed = [("var", True), ("var/cache", True), ("var/cache/x", False)]
    assert sel.lead_ins(listed, keep=_never) == set()


def test_without_excludes_nothing_is_a_lead_in() -> None:
    assert Selection().lead_ins([("var", True), ("var/log", True)], keep=_never) == set()


# -- the directory collector ------------------------------------------------------------------------


def _tree(root: Path) -> Path:
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/px4").write_bytes(b"approved")
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("drone\n")
    return root


def _collect(root: Path, expected: dict[str, Component] | None = None) -> Evidence:
    return DirectoryCollector(str(root), workers=2).collect(SETTINGS, nonce="00", expected=expected)


def _logs(root: Path) -> None:
    (root / "var/log/journal").mkdir(parents=True)
    (root / "var/log/syslog").write_text("noise\n")
    (root / "var/log/journal/x.journal").write_bytes(b"\0" * 64)


def test_new_log_directories_are_not_components_of_a_verification(tmp_path: Path) -> None:
    golden = _tree(tmp_path / "golden")
    expected = dict(_collect(golden).components)
    assert not any(n.startswith("var") for n in expected)
    _logs(golden)
    names = set(_collect(golden, expected).components)
    assert names == set(expected)  # old code: var and var/log, each unexpected


def test_a_new_file_directly_in_var_is_still_measured_with_var(tmp_path: Path) -> None:
    golden = _tree(tmp_path / "golden")
    expected = dict(_collect(golden).components)
    _logs(golden)
    (golden / "var/planted").write_text("payload\n")
    names = set(_collect(golden, expected).components)
    assert names - set(expected) == {"var", "var/planted"}


def test_a_baseline_measures_var_log_when_it_is_there_and_compares_it(tmp_path: Path) -> None:
    """Consistent between create and verify: a selected directory in the baseline is compared, not hidden."""
    golden = _tree(tmp_path / "golden")
    _logs(golden)
    expected = dict(_collect(golden).components)
    assert {"var", "var/log"} <= set(expected) and "var/log/syslog" not in expected
    assert set(_collect(golden, expected).components) == set(expected)
    os.chmod(golden / "var/log", 0o700)
    assert _collect(golden, expected).components["var/log"].attributes["mode"] == "0700"


def test_making_a_baseline_keeps_every_selected_directory(tmp_path: Path) -> None:
    golden = _tree(tmp_path / "golden")
    _logs(golden)
    assert {"var", "var/log"} <= set(_collect(golden).components)


# -- end to end: the CLI, directory and SSH targets ---------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with Sshd.running(tmp_path_factory.mktemp("sshd")) as s:
        yield s


@pytest.fixture(scope="module")
def fleet_keys(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


def _baseline(fleet: Fleet, device: str, out: Path, *extra: str) -> Path:
    state = {"ATTEST_STATE_DIR": str(out.parent / "state")}
    r = run_attest(
        ["baseline", "create", "--device", device, "--name", "c", "--version", "1", "--exclude", "var/log/**",
         "--out", out, "--force", "--timeout", "5", *extra],
        env=state,
    )  # fmt: skip
    assert r.code == 0, r.err
    r = run_attest(["baseline", "sign", out, "--key", fleet.keys[0]], env=state)
    assert r.code == 0, r.err
    return out


def _verify(fleet: Fleet, device: str, baseline: Path, state: Path, *extra: str) -> tuple[int, list[tuple[str, str]]]:
    r = run_attest(
        ["verify", "--device", device, "--baseline", baseline, "--trust", fleet.trust, "--json", *extra],
        env={"ATTEST_STATE_DIR": str(state)},
    )
    assert r.code in (0, 1), r.out + r.err
    return r.code, sorted((f["component"], f["kind"]) for f in r.json()["findings"])


@pytest.mark.parametrize("kind", ["directory", "ssh-pull", "ssh-remote"])
def test_appearing_log_directories_pass_and_a_planted_file_drifts(
    kind: str, tmp_path: Path, fleet_keys: Fleet, request: pytest.FixtureRequest
) -> None:
    golden = _tree(tmp_path / "golden")
    extra: list[str] = []
    device = str(golden)
    if kind != "directory":
        sshd: Sshd = request.getfixturevalue("sshd")
        device = sshd.target(golden)
        extra = ["--identity", str(sshd.client_key), "--method", kind.removeprefix("ssh-")]
        baseline = _baseline(fleet_keys, device, tmp_path / "b.json", *sshd.transport_args(), *extra[2:])
    else:
        baseline = _baseline(fleet_keys, device, tmp_path / "b.json")
    state = tmp_path / "state"

    _logs(golden)
    assert _verify(fleet_keys, device, baseline, state, *extra) == (0, [])  # old code: drift, var and var/log
    (golden / "var/planted").write_text("payload\n")
    assert _verify(fleet_keys, device, baseline, state, *extra) == (
        1,
        [("var", "unexpected"), ("var/planted", "unexpected")],
    )
