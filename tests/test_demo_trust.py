"""``make demo``'s trust story (scripts/demo_trust.sh) and the test Sigstore instance it uses (``attest sim sigstore``).

The script runs whole, with this venv's bin and an output directory of its own; each step's exit codes and
the lines that tell the story are checked. ``attest sim sigstore`` makes a test instance: its bundles count
through ``attest verify --bundle`` under a policy pinning its root, and under no other root.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Run

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "demo_trust.sh"
ALICE = "alice@force.example"
ISSUER = "https://accounts.google.com"


def sim_sigstore(*args: str | os.PathLike[str]) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "attest", "sim", "sigstore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


# --- the demo script -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo-out")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env |= {"DEMO_BIN": str(Path(sys.executable).parent), "DEMO_OUT": str(out)}
    proc = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return proc, out / "trust"


def _steps(stdout: str) -> dict[int, str]:
    """The text of each numbered step (``== N. title``)."""
    parts = re.split(r"^\x1b\[1m== (\d+)\. ", stdout, flags=re.MULTILINE)
    return {int(n): text for n, text in zip(parts[1::2], parts[2::2], strict=True)}


def _exits(text: str) -> list[int]:
    return [int(c) for c in re.findall(r"^\(exit (\d+)\)$", text, flags=re.MULTILINE)]


def test_the_demo_runs_each_step_to_its_expected_exit(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = demo
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = _steps(proc.stdout)
    assert {n: _exits(t) for n, t in steps.items()} == {
        1: [0, 0, 0, 0],  # sim sigstore root, trust init, trust update, trust show
        2: [0, 0, 0],  # baseline sign (Bob), sim sigstore sign (Alice), verify with the bundle
        3: [4],  # verify without the bundle
        4: [0],  # trust update v2
        5: [0, 0],  # trust init v3, trust update v3
        6: [4],  # Bob's revoked key + Alice
        7: [0],  # Ann + Alice
        8: [4, 0],  # trust update v1, trust show
    }


def test_the_demo_tells_the_story(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = demo
    steps = _steps(proc.stdout)
    # A 2-of-3 policy, one signer a Sigstore identity under the (test) root it pins.
    assert "threshold:   2 of 3 signers approve a baseline" in steps[1]
    assert f"alice  {ALICE} (issuer {ISSUER}; root trusted_root.json, sha256 " in steps[1]
    assert "own keys:    2 valid of 2 required (met)" in steps[1]
    assert "PASS: " in steps[2]
    assert "1 valid signature(s) from trusted signers, 2 required by trust policy version 1" in steps[3]
    assert "accepted trust policy version 2 (was 1)" in steps[4]
    assert "accepted trust policy version 3 (was 2)" in steps[5]
    assert re.search(
        r"required by trust policy version 3 .*; key bob \([0-9a-f]+\.\.\.\) is revoked: laptop stolen", steps[6]
    )
    assert "PASS: " in steps[7]
    assert "trust policy version 1 is older than version 3 accepted on this dock" in steps[8]
    assert "this dock:   accepted version 3" in steps[8]
    assert re.search(r"^  bob: key [0-9a-f]{64}: laptop stolen$", steps[8], flags=re.MULTILINE)


def test_the_demo_writes_only_under_its_output_directory(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = demo
    # The test instance's private keys are private; the policy, its root and the dock's state are all there.
    for key in (out / "test-sigstore").glob("*.TEST-ONLY.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(list((out / "test-sigstore").glob("*.TEST-ONLY.key"))) == 3
    assert (out / "state" / "trust-policy.json").is_file()
    assert (out / "alice.sigstore.json").is_file()
    assert not (out / ".err").exists()


# --- attest sim sigstore -------------------------------------------------------------------------------------------


@pytest.fixture
def signed(attest: Callable[..., Run], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A sim tree, its baseline signed by one key, and a 2-of-2 policy: that key and alice under a test root."""
    tree, baseline = tmp_path / "tree", tmp_path / "b.json"
    assert attest("sim", "tree", "--out", tree).code == 0
    assert attest("key", "generate", "--out", tmp_path / "ann.key").code == 0
    r = attest("baseline", "create", "--device", tree, "--name", "c", "--version", "1", "--out", baseline)
    assert r.code == 0, r.err
    assert attest("baseline", "sign", baseline, "--key", tmp_path / "ann.key").code == 0
    r = sim_sigstore("root", "--out", tmp_path / "instance")
    assert r.code == 0, r.err
    (tmp_path / "trusted_root.json").write_bytes((tmp_path / "instance" / "trusted_root.json").read_bytes())
    (tmp_path / "trust.toml").write_text(
        'threshold = 2\n[[keys]]\nid = "ann"\npublic_key = "ann.pub"\n'
        f'[[sigstore]]\nid = "alice"\nidentity = "{ALICE}"\nissuer = "{ISSUER}"\ntrusted_root = "trusted_root.json"\n'
    )
    return tree, baseline, tmp_path / "trust.toml"


def test_sim_sigstore_root_keeps_the_instance_with_private_keys(tmp_path: Path) -> None:
    r = sim_sigstore("root", "--out", tmp_path / "i")
    assert r.code == 0, r.err
    assert "TEST ONLY" in r.out
    names = {p.name for p in (tmp_path / "i").iterdir()}
    assert names == {
        "trusted_root.json",
        "ca.pem",
        "ca.TEST-ONLY.key",
        "ctlog.TEST-ONLY.key",
        "tlog.TEST-ONLY.key",
        "TEST-ONLY.txt",
    }
    for name in names:
        mode = stat.S_IMODE((tmp_path / "i" / name).stat().st_mode)
        assert mode == (0o600 if name.endswith(".key") else 0o644), name
    assert stat.S_IMODE((tmp_path / "i").stat().st_mode) == 0o700
    # Never replaces an instance (its root may already be pinned somewhere).
    before = (tmp_path / "i" / "trusted_root.json").read_bytes()
    again = sim_sigstore("root", "--out", tmp_path / "i")
    assert again.code == 2 and "already holds" in again.err
    assert (tmp_path / "i" / "trusted_root.json").read_bytes() == before


def test_a_bundle_from_sim_sigstore_counts_through_verify_bundle(
    attest: Callable[..., Run], signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    tree, baseline, policy = signed
    bundle = tmp_path / "alice.sigstore.json"
    r = sim_sigstore("sign", baseline, "--root", tmp_path / "instance", "--identity", ALICE, "--out", bundle)
    assert r.code == 0, r.err
    common = ("verify", "--device", tree, "--baseline", baseline, "--trust", policy, "--json")
    both = attest(*common, "--bundle", bundle)
    assert both.code == 0, (both.out, both.err)
    assert both.json()["verdict"] == "pass"
    alone = attest(*common)
    assert alone.code == 4
    assert "1 valid signature(s)" in alone.json()["message"]
    # The bundle is written once: another --out is needed for another bundle.
    again = sim_sigstore("sign", baseline, "--root", tmp_path / "instance", "--identity", ALICE, "--out", bundle)
    assert again.code == 2 and "already exists" in again.err


@pytest.mark.parametrize("case", ["other-identity", "other-issuer", "other-instance"])
def test_a_sim_sigstore_bundle_counts_only_for_its_identity_under_its_pinned_root(
    attest: Callable[..., Run], signed: tuple[Path, Path, Path], tmp_path: Path, case: str
) -> None:
    tree, baseline, policy = signed
    instance, args, why = tmp_path / "instance", ["--identity", ALICE], ""
    if case == "other-identity":
        args, why = ["--identity", "bob@force.example"], "bob@force.example"
    elif case == "other-issuer":
        args, why = [*args, "--issuer", "https://issuer.other.example"], "https://issuer.other.example"
    else:
        instance, why = tmp_path / "other", "not issued by the pinned root"
        assert sim_sigstore("root", "--out", instance, "--name", "other").code == 0
    bundle = tmp_path / "b.sigstore.json"
    r = sim_sigstore("sign", baseline, "--root", instance, *args, "--out", bundle)
    assert r.code == 0, r.err
    v = attest("verify", "--device", tree, "--baseline", baseline, "--trust", policy, "--bundle", bundle, "--json")
    assert v.code == 4, (v.out, v.err)
    assert why in v.json()["message"]


def test_sim_sigstore_sign_refuses_what_it_cannot_use(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, baseline, _ = signed
    out = tmp_path / "x.sigstore.json"
    not_baseline = tmp_path / "trust.toml"
    r = sim_sigstore("sign", not_baseline, "--root", tmp_path / "instance", "--identity", ALICE, "--out", out)
    assert r.code == 2, r.err
    r = sim_sigstore("sign", baseline, "--root", tmp_path, "--identity", ALICE, "--out", out)  # not an instance
    assert r.code == 2 and "TEST-ONLY.key" in r.err
    assert not out.exists()


def test_the_kit_the_tests_import_is_the_simulator() -> None:
    import sigstore_kit

    from attest.sim import TestRoot

    assert sigstore_kit.TestRoot is TestRoot
