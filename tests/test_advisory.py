"""Issue 12, part 4: advisory findings.

A signed baseline may mark components advisory (``advisory`` globs over
component names). A difference there is a finding of severity ``advisory``
that does not block: the verdict is ``pass`` (exit 0), the findings are
listed, signed and logged. Everything else blocks: any other finding,
``unreadable``, ``device_lied``, a broken rule, and ``fc/params`` unless
every per-parameter difference under it is advisory. The marks live only in
the signed payload: there is no dock-side way to add one.

The verifier's cases run on hand-made evidence against really signed and
trusted baselines; the rest are real CLI runs on ``attest sim tree``
directories and ``attest sim fc`` controllers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from conftest import Fleet, Run, make_fleet, run_attest
from dock_fixture import Dock, Drone

from attest.baseline import PAYLOAD_TYPE, Baseline
from attest.errors import BaselineError
from attest.model import Component, DeviceIdentity, Evidence, Finding, FindingKind, Method, Severity, Verdict
from attest.rules import Rule
from attest.signing import Envelope, generate_key_files, load_private_key
from attest.trust import RollbackState, TrustedBaseline, TrustPolicy, trust_baseline
from attest.verifier import verify

pytest_plugins = ["fc_fixture"]

SMALL_FLASH = ("--flash-size", "256")
D1, D2 = "1" * 64, "2" * 64
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# -- the verifier (pure) on hand-made evidence ---------------------------------------------------


def _file(name: str, digest: str = D1, mode: str = "0644") -> Component:
    return Component(name, "file", digest, {"mode": mode, "uid": 0, "gid": 0})


def _param(name: str, value: str) -> Component:
    return Component(f"param/{name}", "parameter", None, {"type": "int16", "value": value}, Method.DEVICE_REPORTED)


def _params_set(digest: str) -> Component:
    return Component("fc/params", "parameters", digest, {"count": 2}, Method.DEVICE_REPORTED)


def _trusted(tmp_path: Path, baseline: Baseline) -> TrustedBaseline:
    """``baseline`` signed by a fresh key and trusted the only way there is (:func:`trust_baseline`)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    priv, pub = generate_key_files(tmp_path / "v.key")
    pol = tmp_path / "t.toml"
    pol.write_text(f'threshold = 1\n[[keys]]\nid = "v"\npublic_key = "{pub.name}"\n')
    env = Envelope(baseline.to_payload(), PAYLOAD_TYPE).signed_by(load_private_key(priv))
    return trust_baseline(env.to_bytes(), policy=TrustPolicy.from_file(pol), state=RollbackState(tmp_path / "st"))


def _baseline(*components: Component, kind: str = "directory", **fields: Any) -> Baseline:
    return Baseline(
        name="b",
        version=1,
        created=T0,
        expires=None,
        device_kind=kind,
        device_match={},
        collection={"selection": {"include": ["**"], "exclude": []}},
        components={c.name: c for c in components},
        **fields,
    )


def _evidence(*components: Component, kind: str = "directory", **fields: Any) -> Evidence:
    return Evidence(DeviceIdentity(kind, "dev", "dev"), {c.name: c for c in components}, "00", T0, **fields)


def _severities(findings: tuple[Finding, ...]) -> dict[tuple[str, str], str]:
    return {(f.component, f.kind.value): f.severity.value for f in findings}


def test_every_difference_of_an_advisory_component_is_advisory_and_passes(tmp_path: Path) -> None:
    """modified, attributes, missing and unexpected below an advisory glob: all advisory, verdict pass."""
    b = _baseline(
        _file("etc/app.conf"),
        _file("var/cache/a", D1),
        _file("var/cache/b", D1),
        _file("var/cache/c", D1),
        advisory=("var/cache/**",),
    )
    ev = _evidence(
        _file("etc/app.conf"),
        _file("var/cache/a", D2),  # modified
        _file("var/cache/b", D1, mode="4755"),  # attributes (a setuid bit: the signers' call)
        _file("var/cache/new", D1),  # unexpected; var/cache/c is missing
    )
    result = verify(ev, _trusted(tmp_path, b))
    assert result.verdict is Verdict.PASS
    assert _severities(result.findings) == {
        ("var/cache/a", "modified"): "advisory",
        ("var/cache/b", "attributes"): "advisory",
        ("var/cache/c", "missing"): "advisory",
        ("var/cache/new", "unexpected"): "advisory",
    }
    # Without the marks the very same evidence drifts, with the usual severities.
    plain = verify(ev, _trusted(tmp_path / "plain", _baseline(*b.components.values())))
    assert plain.verdict is Verdict.DRIFT
    assert Severity.ADVISORY not in {f.severity for f in plain.findings}


def test_a_blocking_finding_next_to_advisory_ones_is_drift(tmp_path: Path) -> None:
    b = _baseline(_file("etc/app.conf"), _file("var/cache/a"), advisory=("var/cache/**",))
    result = verify(_evidence(_file("etc/app.conf", D2), _file("var/cache/a", D2)), _trusted(tmp_path, b))
    assert result.verdict is Verdict.DRIFT
    assert _severities(result.findings) == {
        ("etc/app.conf", "modified"): "critical",
        ("var/cache/a", "modified"): "advisory",
    }


def test_unreadable_and_device_lied_never_become_advisory(tmp_path: Path) -> None:
    """An advisory path the dock could not read is still an error; a lying device still blocks."""
    b = _baseline(_file("etc/app.conf"), _file("var/cache/a"), advisory=("var/cache/**",))
    trusted = _trusted(tmp_path, b)
    unreadable = Component("var/cache/a", "file", error="permission denied")
    result = verify(_evidence(_file("etc/app.conf"), unreadable), trusted)
    assert result.verdict is Verdict.ERROR
    assert _severities(result.findings) == {("var/cache/a", "unreadable"): "critical"}

    lie = Finding("var/cache/a", FindingKind.DEVICE_LIED, Severity.CRITICAL, "sha256:x", "sha256:y", "lied")
    result = verify(_evidence(_file("etc/app.conf"), _file("var/cache/a"), findings=(lie,)), trusted)
    assert result.verdict is Verdict.DRIFT
    assert _severities(result.findings) == {("var/cache/a", "device_lied"): "critical"}


def test_a_directory_is_judged_by_its_own_name(tmp_path: Path) -> None:
    """``var/cache/**`` covers what lies below var/cache, not the directory's own mode."""
    cache = Component("var/cache", "directory", None, {"mode": "0755", "uid": 0, "gid": 0})
    b = _baseline(_file("etc/app.conf"), cache, advisory=("var/cache/**",))
    opened = Component("var/cache", "directory", None, {"mode": "0777", "uid": 0, "gid": 0})
    result = verify(_evidence(_file("etc/app.conf"), opened), _trusted(tmp_path, b))
    assert result.verdict is Verdict.DRIFT
    assert _severities(result.findings) == {("var/cache", "attributes"): "high"}


def test_a_broken_rule_on_an_advisory_parameter_blocks(tmp_path: Path) -> None:
    """The value change is advisory, the rule it breaks is not; a value a rule needs missing blocks too."""
    b = _baseline(
        _params_set(D1),
        _param("RTL_ALT", "1500"),
        _param("FENCE_ENABLE", "1"),
        kind="mavlink",
        rules={"param/RTL_ALT": Rule.parse("param/RTL_ALT=1000..3000"), "param/GONE": Rule.parse("param/GONE=1")},
        advisory=("param/*",),
    )
    ev = _evidence(
        _params_set(D2), _param("RTL_ALT", "200"), _param("FENCE_ENABLE", "1"), kind="mavlink",
        values={"param/RTL_ALT": 200, "param/FENCE_ENABLE": 1},
    )  # fmt: skip
    result = verify(ev, _trusted(tmp_path, b))
    assert result.verdict is Verdict.DRIFT
    assert _severities(result.findings) == {
        ("fc/params", "modified"): "advisory",
        ("param/RTL_ALT", "modified"): "advisory",
        ("param/RTL_ALT", "out_of_range"): "critical",
        ("param/GONE", "missing"): "critical",
    }


def test_the_parameter_set_digest_follows_its_per_parameter_findings(tmp_path: Path) -> None:
    """fc/params is advisory only when every per-parameter difference is; else, or with none, it blocks."""
    b = _baseline(
        _params_set(D1), _param("SR0_RAW_SENS", "4"), _param("RTL_ALT", "1500"), kind="mavlink",
        advisory=("param/SR0_*",),
    )  # fmt: skip
    trusted = _trusted(tmp_path, b)
    rates = verify(_evidence(_params_set(D2), _param("SR0_RAW_SENS", "10"), _param("RTL_ALT", "1500"),
                             kind="mavlink"), trusted)  # fmt: skip
    assert rates.verdict is Verdict.PASS
    assert _severities(rates.findings) == {
        ("fc/params", "modified"): "advisory",
        ("param/SR0_RAW_SENS", "modified"): "advisory",
    }
    both = verify(_evidence(_params_set(D2), _param("SR0_RAW_SENS", "10"), _param("RTL_ALT", "200"),
                            kind="mavlink"), trusted)  # fmt: skip
    assert both.verdict is Verdict.DRIFT
    assert _severities(both.findings)[("fc/params", "modified")] == "critical"
    # The set digest changed but no parameter did: nothing explains it, so it blocks.
    unexplained = verify(_evidence(_params_set(D2), _param("SR0_RAW_SENS", "4"), _param("RTL_ALT", "1500"),
                                   kind="mavlink"), trusted)  # fmt: skip
    assert unexplained.verdict is Verdict.DRIFT
    assert _severities(unexplained.findings) == {("fc/params", "modified"): "critical"}


def test_without_per_parameter_components_the_set_digest_blocks(tmp_path: Path) -> None:
    """A baseline from before per-parameter components: fc/params is all there is, so it fails closed."""
    b = _baseline(_params_set(D1), kind="mavlink", advisory=("param/*",))
    result = verify(_evidence(_params_set(D2), kind="mavlink"), _trusted(tmp_path, b))
    assert result.verdict is Verdict.DRIFT
    assert _severities(result.findings) == {("fc/params", "modified"): "critical"}


# -- the baseline field: strict, canonical, absent when empty ----------------------------------------


def _statement(**predicate: Any) -> dict[str, Any]:
    stmt = _baseline(_file("etc/app.conf")).to_statement()
    stmt["predicate"].update(predicate)
    return stmt


def test_advisory_round_trips_and_is_absent_when_there_is_none() -> None:
    b = _baseline(_file("etc/app.conf"), advisory=("var/cache/**", "param/SR?_*"))
    again = Baseline.from_payload(b.to_payload())
    assert again.advisory == ("var/cache/**", "param/SR?_*")
    assert again.to_payload() == b.to_payload()
    plain = _baseline(_file("etc/app.conf")).to_statement()
    assert "advisory" not in plain["predicate"]  # an old baseline keeps its one byte form


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ([], "non-empty list"),
        ("var/**", "non-empty list"),
        ([1], "non-empty list"),
        ([""], "non-empty list"),
        ({"var/**": True}, "non-empty list"),
        (["var/**", "var/**"], "listed twice"),
        (["/etc/**"], "relative"),
        (["var/[abc"], "unclosed"),
        (["var/a**"], "whole path segment"),
    ],
)
def test_a_malformed_advisory_field_is_refused(value: Any, why: str) -> None:
    with pytest.raises(BaselineError, match=why):
        Baseline.from_statement(_statement(advisory=value))


# -- real CLI runs on a directory -----------------------------------------------------------------


@pytest.fixture
def bench(tmp_path: Path) -> Callable[..., Run]:
    def run(*args: str | Path) -> Run:
        return run_attest(list(args), env={"ATTEST_STATE_DIR": str(tmp_path / "state")})

    return run


def _make(bench: Callable[..., Run], tree: Path, out: Path, fleet: Fleet, *extra: str) -> Path:
    r = bench("baseline", "create", "--device", tree, "--name", "companion", "--version", "1", "--out", out, *extra)
    assert r.code == 0, r.err
    r = bench("baseline", "sign", out, "--key", fleet.keys[0])
    assert r.code == 0, r.err
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    path = tmp_path / "companion"
    assert run_attest(["sim", "tree", "--out", path]).code == 0
    return path


def test_advisory_change_passes_and_is_logged(bench: Callable[..., Run], tree: Path, fleet: Fleet, tmp_path: Path):
    """Exit 0, verdict pass, both findings advisory in --json, in the human headline, and in the signed log."""
    baseline = _make(bench, tree, tmp_path / "b.json", fleet, "--advisory", "data/missions/**")
    (tree / "data/missions/README").write_text("mission notes changed\n")
    (tree / "data/missions/survey.plan").write_text("{}\n")
    assert bench("key", "generate", "--out", tmp_path / "dock.key").code == 0
    log = tmp_path / "log"
    r = bench("verify", "--device", tree, "--baseline", baseline, "--trust", fleet.trust, "--json",
              "--dock-key", tmp_path / "dock.key", "--log", log)  # fmt: skip
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["verdict"] == "pass" and out["log_index"] == 0
    assert {(f["component"], f["kind"], f["severity"]) for f in out["findings"]} == {
        ("data/missions/README", "modified", "advisory"),
        ("data/missions/survey.plan", "unexpected", "advisory"),
    }
    rows = json.loads(bench("log", "show", "--log", log, "--json").out)
    assert [r["verdict"] for r in rows] == ["pass"]
    assert sorted((f["component"], f["severity"]) for f in rows[0]["findings"]) == [
        ("data/missions/README", "advisory"),
        ("data/missions/survey.plan", "advisory"),
    ]
    table = bench("log", "show", "--log", log).out
    assert "2 (2 advisory)" in table
    vkey = bench("log", "key", "--dock-key", tmp_path / "dock.key", "--log", log).out.strip()
    assert bench("log", "verify", "--log", log, "--vkey", vkey).code == 0

    human = bench("verify", "--device", tree, "--baseline", baseline, "--trust", fleet.trust)
    assert human.code == 0
    assert human.out.startswith("PASS (2 advisory findings): ")
    assert "advisory  data/missions/README" in human.out


def test_a_change_next_to_an_advisory_one_drifts(bench: Callable[..., Run], tree: Path, fleet: Fleet, tmp_path: Path):
    baseline = _make(bench, tree, tmp_path / "b.json", fleet, "--advisory", "data/missions/**")
    (tree / "data/missions/README").write_text("mission notes changed\n")
    (tree / "etc/hostname").write_text("tampered\n")
    r = bench("verify", "--device", tree, "--baseline", baseline, "--trust", fleet.trust, "--json")
    assert r.code == 1, r.out + r.err
    sev = {f["component"]: f["severity"] for f in r.json()["findings"]}
    assert sev == {"data/missions/README": "advisory", "etc/hostname": "critical"}
    human = bench("verify", "--device", tree, "--baseline", baseline, "--trust", fleet.trust)
    assert human.out.startswith("DRIFT: ") and "2 findings, 1 advisory)" in human.out


def test_create_refuses_bad_advisory_globs(bench: Callable[..., Run], tree: Path, tmp_path: Path) -> None:
    for globs, why in ((["/etc/**"], "relative"), (["a/**", "a/**"], "given twice"), (["x[y"], "unclosed")):
        args = [a for g in globs for a in ("--advisory", g)]
        r = bench("baseline", "create", "--device", tree, "--name", "c", "--version", "1", "--out",
                  tmp_path / "x.json", *args)  # fmt: skip
        assert r.code == 2 and why in r.err, r.err
        assert not (tmp_path / "x.json").exists()


def test_show_and_propose_keep_the_marks(bench: Callable[..., Run], tree: Path, fleet: Fleet, tmp_path: Path):
    """show (text and --json) lists the globs; propose carries them to the next version; diff names a change."""
    baseline = _make(bench, tree, tmp_path / "b.json", fleet, "--advisory", "data/missions/**", "--advisory",
                     "opt/flightapp/*.log")  # fmt: skip
    shown = bench("baseline", "show", baseline)
    assert "advisory:   data/missions/**, opt/flightapp/*.log (differences there do not block" in shown.out
    assert json.loads(bench("baseline", "show", baseline, "--json").out)["advisory"] == [
        "data/missions/**",
        "opt/flightapp/*.log",
    ]
    plain = _make(bench, tree, tmp_path / "plain.json", fleet)
    assert json.loads(bench("baseline", "show", plain, "--json").out)["advisory"] == []
    assert "advisory:   (none: every difference blocks)" in bench("baseline", "show", plain).out

    nxt = tmp_path / "next.json"
    r = bench("baseline", "propose", "--device", tree, "--from", baseline, "--version", "2", "--out", nxt)
    assert r.code == 0, r.err
    assert json.loads(nxt.read_text())["predicate"]["advisory"] == ["data/missions/**", "opt/flightapp/*.log"]

    d = bench("baseline", "diff", plain, baseline, "--json")
    assert d.code == 1
    obj = d.json()
    assert obj["advisory"] == {"added": ["data/missions/**", "opt/flightapp/*.log"], "removed": []}
    assert obj["other"] == {"added": [], "removed": [], "changed": []}
    text = bench("baseline", "diff", plain, baseline).out
    assert "advisory:   +data/missions/** +opt/flightapp/*.log (differences there do not block)" in text


# -- the marks exist only in the signed payload -------------------------------------------------------


def _payload(envelope: Path) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(base64.b64decode(json.loads(envelope.read_text())["payload"]))
    return obj


def _sign_raw(statement: dict[str, Any], key: Path, out: Path) -> Path:
    env = Envelope(bytes(rfc8785.dumps(statement)), PAYLOAD_TYPE).signed_by(load_private_key(key))
    out.write_bytes(env.to_bytes(indent=2))
    return out


def test_marks_cannot_be_added_on_the_dock(bench: Callable[..., Run], tree: Path, fleet: Fleet, tmp_path: Path):
    """Attack matrix: every way to make an advisory mark count without the signers is refused or ignored."""
    baseline = _make(bench, tree, tmp_path / "b.json", fleet)
    (tree / "data/missions/README").write_text("changed\n")
    stmt = _payload(baseline)
    stmt["predicate"]["advisory"] = ["data/missions/**"]

    def verify_json(b: Path, *extra: str) -> Run:
        return bench("verify", "--device", tree, "--baseline", b, "--trust", fleet.trust, "--json", *extra)

    # 1. the payload edited in place, the old signature kept: the signature no longer holds.
    env = json.loads(baseline.read_text())
    env["payload"] = base64.b64encode(rfc8785.dumps(stmt)).decode()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(env))
    r = verify_json(edited)
    assert r.code == 4 and r.json()["verdict"] == "untrusted"
    # 2. re-signed by a key the trust policy does not list: untrusted (marks or not).
    stranger = make_fleet(tmp_path / "stranger")
    r = verify_json(_sign_raw(stmt, stranger.keys[0], tmp_path / "stranger.json"))
    assert r.code == 4 and r.json()["verdict"] == "untrusted"
    # 3. the field put beside the payload, in the envelope: not signed, so never read.
    beside = json.loads(baseline.read_text())
    beside["advisory"] = ["data/missions/**"]
    (tmp_path / "beside.json").write_text(json.dumps(beside))
    r = verify_json(tmp_path / "beside.json")
    assert r.code != 0 and r.json()["verdict"] != "pass"
    # 4. verify takes no such flag (exit 2, nothing measured).
    r = verify_json(baseline, "--advisory", "data/missions/**")
    assert r.code == 2 and "--advisory" in r.err
    # ...and the baseline the signers did sign still drifts.
    r = verify_json(baseline)
    assert r.code == 1 and r.json()["findings"][0]["severity"] == "critical"
    # 5. a malformed field, though properly signed, makes the baseline untrusted (exit 4).
    bad = _payload(baseline)
    bad["predicate"]["advisory"] = []
    r = verify_json(_sign_raw(bad, fleet.keys[0], tmp_path / "bad.json"))
    assert r.code == 4 and "advisory must be a non-empty list" in r.json()["message"]


def test_a_dock_event_with_only_advisory_findings_opens_the_gate(tmp_path: Path, fleet: Fleet) -> None:
    """attest dock exits 0 and logs the advisory findings; attest gate check clears the drone."""
    dock = Dock(tmp_path / "dock", fleet)
    path = dock.companion_tree("UAV-07-companion")
    file = dock.baseline(str(path), "UAV-07-companion", "--advisory", "data/missions/**")
    dock.drones.append(Drone("UAV-07", {"companion": {"target": path.name, "baseline": file}}))
    dock.write()
    (path / "data/missions/README").write_text("changed\n")
    r = dock.attest("dock", "--drone", "UAV-07")
    assert r.code == 0, r.out + r.err
    gate = dock.attest("gate", "check", "UAV-07")
    assert gate.code == 0, gate.out + gate.err
    rows = json.loads(dock.attest("log", "show", "--log", dock.log, "--json").out)
    assert rows[-1]["verdict"] == "pass"
    assert [(f["component"], f["severity"]) for f in rows[-1]["findings"]] == [
        ("companion:data/missions/README", "advisory")
    ]
    (path / "etc/hostname").write_text("tampered\n")
    assert dock.attest("dock", "--drone", "UAV-07").code == 1
    assert dock.attest("gate", "check", "UAV-07").code == 1


# -- real CLI runs on a simulated flight controller ------------------------------------------------


def test_fc_stream_rate_change_is_advisory_and_a_safety_change_drifts(sim_fc: Any, fc_bench: Any) -> None:
    """SR0_* advisory: a changed rate passes (fc/params follows it); RTL_ALT drifts, fc/params blocking."""
    good = sim_fc(*SMALL_FLASH)
    baseline = fc_bench.create(good.path, "--include", "param/SR0_*", "--advisory", "param/SR0_*")
    rates = sim_fc(*SMALL_FLASH, "--param", "SR0_RAW_SENS=10")
    r = fc_bench.verify(rates.path, baseline)
    assert r.code == 0, r.out + r.err
    assert {(f["component"], f["kind"], f["severity"]) for f in r.json()["findings"]} == {
        ("fc/params", "modified", "advisory"),
        ("param/SR0_RAW_SENS", "modified", "advisory"),
    }
    safety = sim_fc(*SMALL_FLASH, "--param", "RTL_ALT=200")
    r = fc_bench.verify(safety.path, baseline)
    assert r.code == 1, r.out + r.err
    assert {(f["component"], f["severity"]) for f in r.json()["findings"]} == {
        ("fc/params", "critical"),
        ("param/RTL_ALT", "critical"),
    }


def test_fc_rule_on_an_advisory_parameter_still_blocks(sim_fc: Any, fc_bench: Any) -> None:
    good = sim_fc(*SMALL_FLASH)
    baseline = fc_bench.create(good.path, "--advisory", "param/RTL_*", "--rule", "param/RTL_ALT=1000..3000")
    bad = sim_fc(*SMALL_FLASH, "--param", "RTL_ALT=200")
    r = fc_bench.verify(bad.path, baseline)
    assert r.code == 1, r.out + r.err
    assert {(f["component"], f["kind"], f["severity"]) for f in r.json()["findings"]} == {
        ("fc/params", "modified", "advisory"),
        ("param/RTL_ALT", "modified", "advisory"),
        ("param/RTL_ALT", "out_of_range", "critical"),
    }
    # Within the rule's range, the same advisory change passes.
    fine = sim_fc(*SMALL_FLASH, "--param", "RTL_ALT=2000")
    assert fc_bench.verify(fine.path, baseline).code == 0


def test_fc_old_baseline_without_per_parameter_components_blocks(sim_fc: Any, fc_bench: Any, tmp_path: Path) -> None:
    """A baseline measuring only the set digest (no param-values): an advisory param/* cannot excuse it."""
    good = sim_fc(*SMALL_FLASH)
    path = tmp_path / "old.json"
    r = fc_bench.attest("baseline", "create", "--device", good.path, "--name", "fc", "--version", "1", "--out", path,
                        "--timeout", "5", "--include", "param/SR0_*", "--advisory", "param/*")  # fmt: skip
    assert r.code == 0, r.err
    stmt = json.loads(path.read_text())
    pred = stmt["predicate"]
    pred["collection"]["measure"].remove("param-values")
    pred["components"] = {n: c for n, c in pred["components"].items() if not n.startswith("param/")}
    path.write_text(json.dumps(stmt))
    assert fc_bench.attest("baseline", "sign", path, "--key", fc_bench.fleet.keys[0]).code == 0
    rates = sim_fc(*SMALL_FLASH, "--param", "SR0_RAW_SENS=10")
    r = fc_bench.verify(rates.path, path)
    assert r.code == 1, r.out + r.err
    assert [(f["component"], f["severity"]) for f in r.json()["findings"]] == [("fc/params", "critical")]
