"""The start-up and per-run shortcuts of ``attest verify`` keep its behaviour (bench/bench_verify.py times them).

* the command line imports and builds only the command it runs, with the same
  parse and the same help as the full parser;
* a run pauses the cyclic garbage collector and restores it as it was;
* the directory walk builds names per directory, so names below a directory
  whose name is not UTF-8 are encoded as the whole path is;
* the verifier's equal-component shortcut still reports a file it did not hash;
* the canonical-JSON fast path, which range-checks integers after parsing rather
  than per integer, refuses and accepts exactly the integers the full checks do.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run

from attest._cli import build_parser
from attest.attestation import Attestation, run_attestation
from attest.collectors.directory import DirectoryCollector
from attest.jsonutil import MAX_SAFE_INTEGER, JSONFormatError, loads_canonical
from attest.model import Component, FindingKind
from attest.names import encode_name
from attest.progress import NullProgress
from attest.trust import RollbackState, TrustPolicy
from attest.verifier import compare_components

VERIFY_ARGS = ["verify", "--device", "d", "--baseline", "b.json", "--trust", "t.toml", "--json", "-v"]


def test_a_command_line_imports_only_its_own_command() -> None:
    code = (
        "import sys; from attest._cli import build_parser; build_parser(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.startswith('attest._cli.') and not m.startswith('attest._cli._')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *VERIFY_ARGS], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "['attest._cli.verify']"


def _signed_tree(attest: Callable[..., Run], fleet: Fleet, tmp_path: Path) -> tuple[Path, Path]:
    """A one-file tree and its baseline, signed by the fleet's first key."""
    tree, baseline = tmp_path / "tree", tmp_path / "b.json"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("drone\n")
    assert attest("baseline", "create", "--device", tree, "--name", "b", "--version", "1", "--out", baseline).code == 0
    assert attest("baseline", "sign", baseline, "--key", fleet.keys[0]).code == 0
    return tree, baseline


def test_a_plain_verify_loads_no_sigstore_and_no_result_signing(
    attest: Callable[..., Run], fleet: Fleet, tmp_path: Path
) -> None:
    tree, baseline = _signed_tree(attest, fleet, tmp_path)
    args = ["verify", "--device", str(tree), "--baseline", str(baseline), "--trust", str(fleet.trust), "-q"]
    args += ["--state-dir", str(tmp_path / "state")]
    code = (
        "import sys; from attest._cli import main; code = main(sys.argv[1:]); "
        "print(code, sorted(m for m in ('attest.trust.sigstore', 'attest.signing.results') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.splitlines()[-1] == "0 []"  # old code: both, at import


def test_the_one_command_parser_parses_and_helps_as_the_full_one() -> None:
    full, one = build_parser(), build_parser(VERIFY_ARGS)
    assert vars(one.parse_args(VERIFY_ARGS)) == vars(full.parse_args(VERIFY_ARGS))

    def verify_help(parser: object) -> str:
        sub = next(a for a in parser._actions if a.dest == "command")  # type: ignore[attr-defined]
        return str(sub.choices["verify"].format_help())

    assert verify_help(one) == verify_help(full)


def test_every_command_module_registers_its_own_name() -> None:
    full = next(a for a in build_parser()._actions if a.dest == "command")
    for name in full.choices:  # type: ignore[attr-defined]
        one = next(a for a in build_parser([name])._actions if a.dest == "command")
        assert list(one.choices) == [name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [[], ["--help"], ["-v", "verify"], ["verif"], ["bogus", "verify"]])
def test_anything_but_a_leading_command_gets_every_command(argv: list[str]) -> None:
    sub = next(a for a in build_parser(argv)._actions if a.dest == "command")
    assert set(sub.choices) >= {"baseline", "dock", "gate", "key", "log", "trust", "verify"}  # type: ignore[attr-defined]


class _GcWatch(NullProgress):
    """Records whether the cyclic collector ran while the collector measured."""

    def __init__(self) -> None:
        self.enabled: list[bool] = []

    def start(self, total: int | None, label: str) -> None:
        del total, label
        self.enabled.append(gc.isenabled())


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_pauses_the_cyclic_collector_and_restores_it(
    attest: Callable[..., Run], fleet: Fleet, tmp_path: Path, enabled: bool
) -> None:
    tree, baseline = _signed_tree(attest, fleet, tmp_path)
    job = Attestation(
        target=str(tree),
        baseline=baseline,
        policy=TrustPolicy.from_file(fleet.trust),
        state=RollbackState(tmp_path / "state"),
        nonce="00",
    )
    watch = _GcWatch()
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        result = run_attestation(job, progress=watch)
        after = gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
    assert result.verdict.value == "pass", result.message
    assert watch.enabled == [False]  # old code: [True], the collector could stop the hashing threads
    assert after is enabled


def test_names_below_a_non_utf8_directory_encode_the_whole_path(tmp_path: Path) -> None:
    root = tmp_path / "t"
    raw_dir = os.fsencode(str(root)) + b"/a\\b\xff\xe2\x82"
    os.makedirs(raw_dir + b"/sub\xfe")
    with open(raw_dir + b"/sub\xfe/f\\x41", "wb") as f:
        f.write(b"x")
    ev = DirectoryCollector(str(root), workers=2).collect({"selection": {"include": ["**"]}}, nonce="00")
    want = [b"a\\b\xff\xe2\x82", b"a\\b\xff\xe2\x82/sub\xfe", b"a\\b\xff\xe2\x82/sub\xfe/f\\x41"]
    assert sorted(ev.components) == sorted(encode_name(w) for w in want)
    assert ev.components[encode_name(want[2])].digest is not None


def test_an_equal_component_that_was_not_hashed_is_still_modified() -> None:
    # A component equal in every field, not_hashed included, must not take the equality shortcut.
    c = Component(name="f", kind="file", attributes={"size": 1}, not_hashed="size differs")
    findings = compare_components({"f": c}, {"f": c})
    assert [f.kind for f in findings] == [FindingKind.MODIFIED]
    assert json.dumps(findings[0].actual) == '"not hashed: size differs"'


@pytest.mark.parametrize(
    "data",
    [
        str(MAX_SAFE_INTEGER + 1).encode(),
        str(-MAX_SAFE_INTEGER - 1).encode(),
        b'[1,[2,{"a":' + str(MAX_SAFE_INTEGER + 1).encode() + b"}]]",
        b'{"a":[' + b"9" * 5000 + b"]}",
        b'{"a":' + b"9" * 17 + b"}",
    ],
)
def test_the_canonical_fast_path_refuses_integers_beyond_the_exact_range(data: bytes) -> None:
    with pytest.raises(JSONFormatError, match="outside the exact range"):
        loads_canonical(data)


def test_the_canonical_fast_path_keeps_the_range_inclusive_and_booleans_apart() -> None:
    data = b'{"a":[' + str(MAX_SAFE_INTEGER).encode() + b"," + str(-MAX_SAFE_INTEGER).encode() + b",true,false]}"
    assert loads_canonical(data) == {"a": [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, True, False]}
    assert loads_canonical(str(MAX_SAFE_INTEGER).encode()) == MAX_SAFE_INTEGER
